"""Helpers shared by the command modules: JSON output, consoles, option types."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleDimensions

#: Columns Rich lays tables out in when its stream is a pipe or a file, not a terminal: wide enough that no
#: table is cut ("ov..." for a verdict) or wrapped; a table is still only as wide as its cells. An explicit
#: ``COLUMNS`` in the environment wins.
PIPE_WIDTH = 10_000
#: Width of a rule (``console.rule``, a section line that fills the width) when not on a terminal: the
#: classic 80 columns (a rule across ``PIPE_WIDTH`` columns would be 10,000 dashes).
PIPE_RULE_WIDTH = 80


class FabricConsole(Console):
    """A Rich console that lays out at ``PIPE_WIDTH`` columns when its stream is not a terminal.

    Rich otherwise uses the width of whatever terminal stdin/stderr are on (or 80), so
    ``fabricctl plan budget ... | cat`` cut the verdict column to "ov...".
    """

    @property  # type: ignore[override]
    def size(self) -> ConsoleDimensions:
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def rule(self, title: Any = "", *, characters: str = "─", style: Any = "rule.line",
             align: Any = "center") -> None:
        if self._width is not None or self.is_terminal:
            return super().rule(title, characters=characters, style=style, align=align)
        from rich.rule import Rule

        self.print(Rule(title, characters=characters, style=style, align=align), width=PIPE_RULE_WIDTH)


#: Human output goes to stdout through Rich; progress and notes to stderr so that --json stays clean.
console = FabricConsole(highlight=False, soft_wrap=True)
err_console = FabricConsole(stderr=True, highlight=False, soft_wrap=True)


def emit_json(obj: Any) -> None:
    """Print machine output: one JSON document on stdout (stable keys, no NaN)."""
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False, default=_default) + "\n")


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, set | frozenset):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def add_section(plan_path: Any, section: Any, fabric: Any = None, *, read_from: Any = None) -> None:
    """Add ``section`` to the plan file at ``plan_path`` (or to the plan at ``read_from``, written to
    ``plan_path``; created when missing), stamped with the time now, and write it atomically. The plan
    refuses a section computed on another fabric."""
    import time

    from fabric.plan import Plan

    plan = Plan.load_or_new(read_from if read_from is not None else plan_path, fabric)
    if plan.created_unix is None:
        plan.created_unix = round(time.time(), 3)
    plan.add(section, fabric=fabric, created_unix=round(time.time(), 3))
    plan.save(plan_path)


JSON_HELP = "Machine output: one JSON document on stdout with stable keys."

#: Folder for artefacts (plans, P4, pcaps, PNG plots) when ``--out`` is not given (DESIGN.md "CLI shape":
#: ``fabricctl demo`` writes to ``./fabricctl-out/``; the planners write their plan there too).
DEFAULT_OUT_DIR = Path("fabricctl-out")
#: PNG file ``fabricctl topo draw`` writes when ``--out`` is not given (in the working directory).
DEFAULT_DRAW_FILE = Path("fabric.png")
