"""One way to check option values and one meaning of the output options, for every command.

**Values.** Every ``int``/``float`` option goes through one of the callbacks here (``callback=positive()``
and so on), so a bad value gets the same one-line refusal everywhere: ``error: --time-limit: must be a
positive number, got nan`` and exit status 2. A float callback also refuses NaN and the infinities
(click parses ``nan`` and ``inf`` as floats). ``tests/test_cli_options.py`` walks the built app and fails
for any number option that has no check here and is not listed there as exempt, with a reason.

**Outputs** (README, "CLI conventions"):

- ``-o/--out FILE``: the one file a command writes (``topo build``, ``topo draw``, ``lab export``; for a
  planner, the plan file it writes). A command that writes a folder of artefacts has no ``-o``.
- ``--out-dir DIR``: the folder for several artefacts (``plan wcmp`` PNG, ``sim cc`` plot, ``dpu run``
  pcaps, ``p4 gen`` programs, ``demo``).
- ``--plan FILE``: a plan the command reads; a planner adds its section to it and writes it back there,
  or to ``-o/--out FILE`` when given.

``--out DIR`` used to name a folder in ``plan wcmp``, ``plan ports``, ``sim cc``, ``dpu run``, ``p4 gen`` and
``demo``; it keeps that meaning for one release with a deprecation warning on stderr
(:func:`legacy_out_dir`, :func:`planner_out`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from fabric.cli.common import DEFAULT_OUT_DIR, err_console
from fabric.errors import ConfigError

#: Attribute set on every checking callback (typer copies it onto its wrapper with ``update_wrapper``):
#: what the check accepts, in words. The option test reads it.
CHECK_ATTR = "fabric_check"

Check = Callable[[typer.Context, typer.CallbackParam, Any], Any]


def option_name(param: Any) -> str:
    """The option's long name (``--k-paths`` for ``-k/--k-paths``), for the one-line message."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or list(getattr(param, "opts", []))
    return max(opts, key=len) if opts else str(getattr(param, "name", "?"))


def _make(accepts: str, ok: Callable[[float], bool], message: Callable[[Any], str]) -> Check:
    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        for v in value if isinstance(value, list | tuple) else (value,):
            if isinstance(v, bool) or not isinstance(v, int | float) or not ok(v):
                raise ConfigError(message(v), where=option_name(param))
        return value

    setattr(check, CHECK_ATTR, accepts)
    return check


def _finite(v: float) -> bool:
    return not isinstance(v, float) or math.isfinite(v)


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def positive(unit: str | None = None) -> Check:
    """A finite number > 0 (time limits, rates, sizes, budgets, MLU caps)."""
    of = f" of {unit}" if unit else ""
    return _make(f"a finite number > 0{of}", lambda v: _finite(v) and v > 0,
                 lambda v: f"must be a positive number{of}, got {v}")


def at_least(lo: float) -> Check:
    """A finite number >= ``lo`` (counts: ``at_least(1)``; stretch and route factors: ``at_least(1.0)``)."""
    def msg(v: Any) -> str:
        if isinstance(v, float) and math.isinf(v):
            return f"must be a finite number >= {_num(lo)}, got {v}"
        return f"must be >= {_num(lo)}, got {v}"

    return _make(f"a finite number >= {_num(lo)}", lambda v: _finite(v) and v >= lo, msg)


def non_negative() -> Check:
    """A finite number >= 0 (seeds, limits, per-device delays; 0 means "none" or "off" where the help says so)."""
    return at_least(0)


def in_range(lo: float, hi: float, *, hi_open: bool = False) -> Check:
    """A number in [lo, hi] (or [lo, hi) with ``hi_open``): fractions, tolerances, loads."""
    right = ")" if hi_open else "]"
    span = f"[{_num(lo)}, {_num(hi)}{right}"
    return _make(f"a number in {span}", lambda v: _finite(v) and lo <= v and (v < hi if hi_open else v <= hi),
                 lambda v: f"must be in {span}, got {v}")


# ------------------------------------------------------------------------------ output options
OUT_DIR_HELP = f"Folder for the artefacts (default {DEFAULT_OUT_DIR}/)."
PLAN_OUT_HELP = "Plan file to write (default: the --plan file; its sections are kept)."


def deprecated(old: str, new: str, command: str, why: str = "") -> None:
    """One warning line on stderr for an old spelling that still works for one release."""
    err_console.print(f"warning: {old} is deprecated in 'fabricctl {command}'{why}; use {new} "
                      "(the old spelling goes in the next release)", markup=False, highlight=False)


def legacy_out_dir(out_dir: Path | None, legacy: Path | None, command: str, *, required: bool = False,
                   default: Path | None = DEFAULT_OUT_DIR) -> Path:
    """``--out-dir``, or the deprecated ``--out DIR`` of a command that writes a folder."""
    if legacy is not None:
        if out_dir is not None:
            raise ConfigError("give --out-dir DIR only (--out DIR is its deprecated spelling)", where="--out")
        deprecated("--out DIR", "--out-dir DIR", command)
        return legacy
    if out_dir is not None:
        return out_dir
    if required or default is None:
        raise ConfigError("missing: give the folder to write to", where="--out-dir")
    return default


def planner_out(out: Path | None, out_dir: Path | None, command: str) -> tuple[Path | None, Path]:
    """``(plan file to write or None, artefact folder)`` for ``plan wcmp``/``plan ports``, whose ``--out``
    named a folder before: a value that is an existing folder or does not end in ``.json`` is still read
    that way, with a deprecation warning."""
    if out is not None and (out.is_dir() or out.suffix.lower() != ".json"):
        if out_dir is not None:
            raise ConfigError(f"-o/--out names the plan file (*.json), got {str(out)!r}; the folder is "
                              "--out-dir", where="--out")
        deprecated("--out DIR", "--out-dir DIR", command,
                   " for a folder (-o/--out now names the plan file, *.json)")
        return None, out
    return out, out_dir if out_dir is not None else DEFAULT_OUT_DIR


def plan_files(plan: Path | None, out: Path | None, default: Path | None = None) -> tuple[Path | None, Path | None]:
    """``(read_from, write_to)`` of a planner: it writes ``-o/--out`` (else ``--plan``, else ``default``)
    and starts from ``--plan`` (else from the file it writes, when that exists)."""
    write = out or plan or default
    return plan or write, write
