"""Reliability counts on real-world files nobody on the project wrote (issue 16).

For each corpus, every file is read the way the CLI reads it (in this process, so a crash shows as a
Python exception, not as the CLI's exit 3): containerlab files with ``topo import --from clab``'s loader,
Topology Zoo GML files with ``topo import --from gml``'s, captures with ``dpu parse``'s reader and parser.
Each file ends in one of three ways:

- ``imported``: loaded (containerlab: with the skipped links counted as warnings);
- ``refused``: a FabricError whose message is one line naming the file (exit 2 in the CLI);
- ``traceback``: any other exception (a bug: the CLI would print "internal error", exit 3).

Corpora: the files the tests ship (``tests/data/realworld``, ``fabric/data/topologyzoo``,
``tests/data/pcap``) always; the full sets in ``../shared/data/realworld`` (the containerlab
repository's 99 lab files, the whole Topology Zoo, 226 public captures) when that folder exists, or any
folder given with ``--root``. Prints a table and, with ``--json``, one JSON object per corpus.

    python bench/realworld.py [--root DIR] [--json] [--list-refused]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "realworld"
# run as a script, bench/ is sys.path[0] and bench/dpu.py would shadow the dpu package: use the repository root
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))


def _clab(path: Path) -> int:
    from fabric.io.containerlab import ClabImportWarning, load_clab

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_clab(path)
    return sum(1 for w in caught if issubclass(w.category, ClabImportWarning))


def _gml(path: Path) -> int:
    from fabric.io.gml import load_gml

    load_gml(path)
    return 0


def _capture(path: Path) -> int:
    from dpu.packets import read_pcap
    from dpu.parse import parse

    parse(read_pcap(path))
    return 0


def run_corpus(name: str, files: list[Path], load: Callable[[Path], int]) -> dict[str, Any]:
    """Load every file; counts and the refused files with their one-line reasons."""
    from fabric.errors import FabricError

    out: dict[str, Any] = {"corpus": name, "files": len(files), "imported": 0, "refused": 0, "tracebacks": 0,
                           "warnings": 0, "refused_files": {}, "traceback_files": {}}
    t0 = time.perf_counter()
    for p in files:
        try:
            out["warnings"] += load(p)
            out["imported"] += 1
        except FabricError as exc:
            msg = str(exc)
            clean = "\n" not in msg and str(p) in msg
            out["refused" if clean else "tracebacks"] += 1
            (out["refused_files"] if clean else out["traceback_files"])[p.name] = msg
        except Exception as exc:  # noqa: BLE001 - counting crashes is the point
            out["tracebacks"] += 1
            out["traceback_files"][p.name] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))


def corpora(root: Path | None) -> list[tuple[str, list[Path], Callable[[Path], int]]]:
    shipped = REPO / "tests" / "data"
    sets: list[tuple[str, list[Path], Callable[[Path], int]]] = [
        ("containerlab (shipped)", sorted((shipped / "realworld").glob("*.clab.y*ml")) + [shipped / "srl02.clab.yml"],
         _clab),
        ("Topology Zoo (shipped)", sorted((REPO / "fabric" / "data" / "topologyzoo").glob("*.gml"))
         + sorted((shipped / "realworld").glob("*.gml")), _gml),
        ("captures (shipped)", _captures(shipped / "pcap"), _capture),
    ]
    full = root if root is not None else SHARED
    if full.is_dir():
        sets += [
            (f"containerlab ({full.name}/containerlab)", sorted((full / "containerlab").glob("*")), _clab),
            (f"Topology Zoo ({full.name}/topologyzoo-all)", sorted((full / "topologyzoo-all").glob("*.gml")), _gml),
            (f"captures ({full.name}/pcap)", _captures(full / "pcap"), _capture),
        ]
    return [s for s in sets if s[1]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None, help=f"folder with containerlab/, topologyzoo-all/, pcap/ "
                                                             f"(default {SHARED} when present)")
    ap.add_argument("--json", action="store_true", help="one JSON object per corpus")
    ap.add_argument("--list-refused", action="store_true", help="print each refused file and its reason")
    args = ap.parse_args(argv)
    results = [run_corpus(name, files, load) for name, files, load in corpora(args.root)]
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print(f"{'corpus':44} {'files':>6} {'imported':>9} {'refused':>8} {'tracebacks':>11} {'warnings':>9} {'s':>6}")
        for r in results:
            print(f"{r['corpus']:44} {r['files']:6} {r['imported']:9} {r['refused']:8} {r['tracebacks']:11} "
                  f"{r['warnings']:9} {r['seconds']:6}")
        for r in results:
            for f, msg in r["traceback_files"].items():
                print(f"TRACEBACK {r['corpus']}: {f}: {msg}")
            if args.list_refused:
                for msg in r["refused_files"].values():
                    print(f"refused {r['corpus']}: {msg}")
    return 1 if any(r["tracebacks"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
