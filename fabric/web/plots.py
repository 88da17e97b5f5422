"""The last congestion-control simulation plots: PNGs that ``fabricctl sim cc --out-dir DIR`` wrote.

The controller keeps no simulation runs; ``serve --plots-dir DIR`` (and ``report --plots-dir DIR``)
names the folder the simulations write to, and the web view lists its newest PNGs. Only plain file
names of PNG files directly in that folder are served: no ``..``, no slashes, no hidden files, no link
that leads out of the folder, and the file must start with the PNG signature.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

from fabric.errors import ConfigError

#: Most plots listed (newest first): a page of plots, not a folder browser.
MAX_PLOTS = 12
#: Longest file name accepted in /api/cc/plots/NAME (ext4's limit on one name, NAME_MAX).
MAX_NAME_CHARS = 255
#: Largest plot served or embedded; ``sim cc`` writes about 130 KB (9x6 in at 90 dpi).
MAX_PLOT_BYTES = 16 * 2**20
#: The eight bytes every PNG file begins with (PNG specification, section 5.2).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUFFIX = ".png"


def _inside(folder: Path, path: Path) -> Path | None:
    """``path`` with links resolved when it is a regular file directly in ``folder``, else None."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real.parent != folder.resolve() or not real.is_file():
        return None
    return real


def _is_png(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    except OSError:
        return False


def list_plots(folder: str | os.PathLike[str] | None, limit: int = MAX_PLOTS) -> dict[str, Any]:
    """``{"folder", "plots": [{"name", "mtime", "modified", "bytes"}], "note"}``, newest first."""
    if folder is None:
        return {"folder": None, "plots": [],
                "note": "no plots folder (--plots-dir DIR; fabricctl sim cc SCENARIO --out-dir DIR writes the plots)"}
    d = Path(folder)
    if not d.is_dir():
        return {"folder": str(d), "plots": [], "note": f"{d}: no such folder"}
    found: list[tuple[float, str, int]] = []
    for entry in os.scandir(d):
        if not entry.name.lower().endswith(SUFFIX) or entry.name.startswith("."):
            continue
        real = _inside(d, Path(entry.path))
        if real is None:
            continue
        st = real.stat()
        found.append((st.st_mtime, entry.name, st.st_size))
    found.sort(key=lambda x: (-x[0], x[1]))
    plots: list[dict[str, Any]] = []
    for mtime, name, size in found:
        if len(plots) >= limit:
            break
        if size <= MAX_PLOT_BYTES and _is_png(d / name):
            plots.append({"name": name, "mtime": mtime, "bytes": size,
                          "modified": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mtime)) + " UTC"})
    note = None if plots else f"no PNG plots in {d} yet: run fabricctl sim cc SCENARIO --out-dir {d}"
    return {"folder": str(d), "plots": plots, "note": note}


def plot_bytes(folder: str | os.PathLike[str] | None, name: str) -> bytes | None:
    """The PNG ``name`` in ``folder``; None when there is no such file. A name that is not a plain
    PNG file name in the folder raises :class:`ConfigError`."""
    where = "plot name"
    if folder is None:
        return None
    if not name or len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"a plot name is 1 to {MAX_NAME_CHARS} characters", where=where)
    if "/" in name or "\\" in name or "\x00" in name or name in (".", "..") or name.startswith("."):
        raise ConfigError(f"{name[:60]!r} is not a plain file name (no slashes, no leading dot)", where=where)
    if not name.lower().endswith(SUFFIX):
        raise ConfigError(f"{name[:60]!r} is not a PNG (only *.png plots are served)", where=where)
    d = Path(folder)
    path = d / name
    if not path.exists() and not path.is_symlink():
        return None
    real = _inside(d, path)
    if real is None:
        raise ConfigError(f"{name[:60]!r} is not a file directly in the plots folder (a link out of it?)", where=where)
    if real.stat().st_size > MAX_PLOT_BYTES:
        raise ConfigError(f"{name[:60]!r} is larger than {MAX_PLOT_BYTES:,} bytes", where=where)
    data = real.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ConfigError(f"{name[:60]!r} does not start with the PNG signature", where=where)
    return data


def embedded_plots(folder: str | os.PathLike[str] | None, limit: int = MAX_PLOTS) -> dict[str, Any]:
    """:func:`list_plots` with each plot's bytes as a ``data:image/png;base64,`` URI in ``src``
    (for the self-contained report)."""
    doc = list_plots(folder, limit)
    kept = []
    for p in doc["plots"]:
        data = plot_bytes(folder, p["name"])
        if data is not None:        # None: removed since it was listed
            kept.append(p | {"src": "data:image/png;base64," + base64.b64encode(data).decode("ascii")})
    return doc | {"plots": kept}
