"""Helpers shared by the command modules: JSON output, consoles, option types."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

#: Human output goes to stdout through Rich; progress and notes to stderr so that --json stays clean.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


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
