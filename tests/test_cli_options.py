"""Option values are checked the same way everywhere (issue 16): every int/float option of every command
goes through one of the callbacks in :mod:`fabric.cli.options`, or is listed here as exempt with a reason.

Read off the built app (what users get), then every checked option is given values its check must refuse
(negative, zero, NaN, infinite, just below the bound) through the real command line: exit 2, one line
``error: --option: must ...``.
"""

from __future__ import annotations

import math
import re
import typing
from types import SimpleNamespace

import pytest
from cli_tree import leaf_commands

from fabric.cli.options import CHECK_ATTR, at_least, in_range, non_negative, positive

#: Number options that have no check of ours, each with the reason. Keys are "command --option".
EXEMPT: dict[str, str] = {
    # plan versions are looked up by the controller: one that does not exist (0, -1, 99) is its NOT_FOUND,
    # one line and exit 2 like every failed call (tests/test_server_service.py)
    "ctl diff old": "a plan version: the controller answers NOT_FOUND for one it does not have",
    "ctl diff new": "a plan version: the controller answers NOT_FOUND for one it does not have",
    "ctl apply version": "a plan version: the controller answers NOT_FOUND for one it does not have",
}


def _kinds(annotation) -> set:
    args = typing.get_args(annotation)
    return {annotation} if not args else set().union(*(_kinds(a) for a in args))


def number_kind(param) -> type | None:
    """int or float for a number option (``int``, ``float | None``, ``list[int]``), else None."""
    td = getattr(param, "type_descriptor", None)  # typer >= 0.29
    if td is not None:
        k = _kinds(td.annotation) & {int, float}
        return (float if float in k else int) if k else None
    name = getattr(getattr(param, "type", None), "name", "")  # older typer: click's INT / FLOAT
    return {"integer": int, "float": float}.get(name)


def _long(param) -> str:
    return max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])


@pytest.fixture(scope="module")
def number_options():
    out = []
    for path, cmd in leaf_commands().items():
        for p in cmd.params:
            kind = number_kind(p)
            if kind is not None:
                out.append((path, p, kind))
    return out


def test_every_number_option_is_checked_or_exempt(number_options):
    assert len(number_options) > 50
    missing = [f"{path} {_long(p)}" for path, p, _k in number_options
               if getattr(p.callback, CHECK_ATTR, None) is None and f"{path} {_long(p)}" not in EXEMPT]
    assert not missing, ("number options without a check from fabric.cli.options (add callback=positive() "
                         "/ at_least(n) / non_negative() / in_range(..), or list it in EXEMPT with a reason):\n"
                         + "\n".join(missing))
    known = {f"{path} {_long(p)}" for path, p, _k in number_options}
    assert set(EXEMPT) <= known, f"stale exemptions: {sorted(set(EXEMPT) - known)}"


def test_every_default_passes_its_own_check(number_options):
    ctx = SimpleNamespace(resilient_parsing=False)
    for _path, p, _k in number_options:
        if getattr(p.callback, CHECK_ATTR, None) is not None:
            p.callback(ctx, p, p.default)  # raises if a default is out of range


def bad_values(accepts: str, kind: type) -> list[str]:
    """Values the check described by ``accepts`` must refuse."""
    out: list[str] = []
    if m := re.fullmatch(r"a finite number > 0( of .*)?", accepts):
        out = ["0", "-1"]
    elif m := re.fullmatch(r"a finite number >= (\S+)", accepts):
        lo = float(m.group(1))
        out = [str(int(lo) - 1)] if kind is int else [f"{lo - 0.5:g}", f"{lo - 1:g}"]
    elif m := re.fullmatch(r"a number in \[(\S+), (\S+)([\])])", accepts):
        lo, hi, right = float(m.group(1)), float(m.group(2)), m.group(3)
        out = [f"{lo - 0.5:g}", f"{hi + 0.5:g}"] + ([f"{hi:g}"] if right == ")" else [])
    else:
        raise AssertionError(f"no bad values for {accepts!r}")
    if kind is float:
        out += ["nan", "inf", "-inf"]
    return out


def test_every_checked_option_refuses_bad_values_with_one_line(cli, number_options):
    """The option alone on the command line (its check runs before the missing arguments are noticed)."""
    tried = 0
    for path, p, kind in number_options:
        accepts = getattr(p.callback, CHECK_ATTR, None)
        if accepts is None:
            continue
        opt = _long(p)
        for v in bad_values(accepts, kind):
            r = cli([*path.split(), f"{opt}={v}"])
            assert r.exit_code == 2, (path, opt, v, r.output)
            assert r.stderr.startswith(f"error: {opt}: must ") and r.stderr.count("\n") == 1, (path, opt, v, r.stderr)
            tried += 1
    assert tried > 150


@pytest.mark.parametrize("args, line", [
    (["plan", "wcmp", "example", "--time-limit", "0"], "error: --time-limit: must be a positive number of seconds, got 0.0"),
    (["plan", "wdm", "example", "--demand", "d.yaml", "--time-limit", "inf"], "error: --time-limit: must be a positive number of seconds, got inf"),
    (["plan", "ocs", "b.yaml", "--demand", "d.yaml", "--eval-time-limit", "nan"], "error: --eval-time-limit: must be a positive number of seconds, got nan"),
    (["plan", "wcmp", "example", "--max-mlu", "-0.5"], "error: --max-mlu: must be a positive number, got -0.5"),
    (["plan", "budget", "example", "--pairs", "p.yaml", "--stretch-max", "inf"], "error: --stretch-max: must be a finite number >= 0, got inf"),
    (["plan", "budget", "example", "--pairs", "p.yaml", "--stretch-max", "-1"], "error: --stretch-max: must be >= 0, got -1.0"),
    (["plan", "wcmp", "example", "--qps-per-pair", "0"], "error: --qps-per-pair: must be >= 1, got 0"),
    (["plan", "wdm", "example", "--demand", "d.yaml", "-k", "0"], "error: --k-paths: must be >= 1, got 0"),
    (["plan", "ocs", "b.yaml", "--demand", "d.yaml", "--tolerance", "1"], "error: --tolerance: must be in [0, 1), got 1.0"),
    (["topo", "build", "rail", "-o", "x.yaml", "--servers", "0"], "error: --servers: must be >= 1, got 0"),
    (["dpu", "check", "--packets", "-5"], "error: --packets: must be >= 1, got -5"),
    (["sim", "cc", "incast", "--t-end-us", "nan"], "error: --t-end-us: must be a positive number of microseconds, got nan"),
    (["plan", "cc", "example", "--switch-buffer", "inf"], "error: --switch-buffer: must be a positive number of MiB, got inf"),
])
def test_the_same_refusal_with_the_rest_of_the_command_line(cli, args, line, tmp_path):
    r = cli(args)
    assert r.exit_code == 2 and r.stderr == line + "\n", r.output
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("check, good, bad", [
    (positive(), [1e-9, 1, 2.5, 10**30], [0, -1, 0.0, -0.0, math.nan, math.inf, -math.inf, True]),
    (at_least(1), [1, 2, 10**30, 1.0], [0, -1, 0.999, math.nan, math.inf, False]),
    (non_negative(), [0, 0.0, 3], [-1, -1e-12, math.nan, math.inf]),
    (in_range(0, 1, hi_open=True), [0, 0.5, 0.999], [1, 1.0, -0.1, math.nan, math.inf]),
    (in_range(0, 1), [0, 1], [1.0001, -1]),
])
def test_the_callbacks(check, good, bad):
    from fabric.errors import ConfigError

    ctx, param = SimpleNamespace(resilient_parsing=False), SimpleNamespace(opts=["-x", "--xy"], name="xy")
    for v in good:
        assert check(ctx, param, v) == v
    for v in bad:
        with pytest.raises(ConfigError, match=r"^--xy: must "):
            check(ctx, param, v)
    assert check(ctx, param, None) is None  # an option not given
    assert check(ctx, param, [*good]) == [*good]  # a repeated option: every value
    with pytest.raises(ConfigError):
        check(ctx, param, [*good, bad[0]])
    assert check(SimpleNamespace(resilient_parsing=True), param, bad[0]) == bad[0]  # completion: no check
