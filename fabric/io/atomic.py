"""Atomic file output: write to a temporary file in the same folder, then rename.

A reader never sees a half-written file, and a failed write leaves the old file (or none) in place.
The new file gets the mode a plain ``open(path, "w")`` would give it (0o666 less the user's umask), not
the 0o600 of a temporary file; a file that is replaced keeps its mode. A symlink is written through (the
file it points at is replaced, the link stays); a device, FIFO or socket (``-o /dev/null``) is refused,
never turned into a regular file. Temporary files are named ``.NAME.PID.XXXX.tmp``: one left behind by
a writer that was killed (``kill -9``) is removed by the next write to the same file.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fabric.errors import ConfigError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes only ('w' or 'wb')")
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    mode_bits = 0o666 & ~_umask()
    with contextlib.suppress(FileNotFoundError):
        st = target.stat()
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
            raise ConfigError(f"{kind}: refusing to replace it with a regular file", file=str(path))
        mode_bits = stat.S_IMODE(st.st_mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode_bits)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _remove_stale(target: Path) -> None:
    """Remove temporary siblings of ``target`` whose writing process no longer exists."""
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid_text = tmp.name[len(target.name) + 2:].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except PermissionError:
            pass  # alive, someone else's


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def announce(doc: dict[str, Any], port_file: str | os.PathLike[str] | None) -> None:
    """Say where a server listens: one JSON line on stdout and, atomically, in ``port_file`` (what the
    P4Runtime agent and ``fabricctl serve`` print once bound; tests and labs wait for the file)."""
    import json
    import sys

    line = json.dumps(doc)
    if port_file is not None:
        write_text_atomic(port_file, line + "\n")
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
