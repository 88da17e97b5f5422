"""Progress for long-running commands: shown on a terminal, quiet otherwise (one helper for every command).

``with progress("solving the LP", quiet=json_out) as p: ...`` shows a Rich spinner with the message and
the elapsed time on stderr while the block runs, and ``p.update("next step", advance=1)`` changes the
message (and moves a bar when ``total`` was given). Nothing is shown, and nothing is written at all, when
``quiet`` (``--json``) is set or when stdout or stderr is not a terminal: a script, a pipe or a file sees
only the command's output. The display is transient: the line is removed when the block ends.

``FABRICCTL_PROGRESS=0`` turns it off on a terminal too (a terminal recording, a slow remote shell).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fabric.cli.common import console, err_console

#: Environment variable: 0 hides progress on a terminal as well.
PROGRESS_ENV = "FABRICCTL_PROGRESS"


def shown(quiet: bool = False) -> bool:
    """Whether progress is displayed: not ``quiet``, stdout and stderr are terminals, not turned off."""
    if quiet or os.environ.get(PROGRESS_ENV, "").strip() == "0":
        return False
    return console.is_terminal and err_console.is_terminal


class Progress:
    """What a ``with progress(...)`` block gets: ``update`` the message or advance a bar."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar, self._task = bar, task

    def update(self, message: str | None = None, *, advance: float = 0, total: float | None = None) -> None:
        if self._bar is None:
            return
        kw: dict[str, Any] = {}
        if message is not None:
            kw["description"] = message
        if total is not None:
            kw["total"] = total
        self._bar.update(self._task, advance=advance, **kw)

    @property
    def active(self) -> bool:
        return self._bar is not None


@contextmanager
def progress(message: str, *, quiet: bool = False, total: float | None = None) -> Iterator[Progress]:
    """Show ``message`` with a spinner (and a bar when ``total`` is given) while the block runs."""
    if not shown(quiet):
        yield Progress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with RichProgress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(message, total=total)
        yield Progress(bar, task)
