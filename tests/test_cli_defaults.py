"""CLI defaults come from the library's named constants, never repeated literals (issue 11).

Two checks: on the source (no ``typer.Option``/``typer.Argument`` in ``fabric/cli`` has a number or a
string literal as its default, nor ``Path("literal")``), and on the built app (the defaults the CLI
shows are the library's: the constants, and the defaults of the functions the commands call).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import typer.main

CLI_DIR = Path(__file__).resolve().parent.parent / "fabric" / "cli"
ALLOWED = (None, True, False, Ellipsis)


def _literal(node: ast.expr) -> bool:
    """A number or string literal (also ``-1``), or ``Path("literal")``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _literal(node.operand)
    if isinstance(node, ast.Constant):
        return not any(node.value is a for a in ALLOWED)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Path":
        return any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    return False


def literal_defaults(source: str, filename: str = "<string>") -> list[str]:
    """``file:line: typer.X(default)`` for every Option/Argument whose default is a literal."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("Option", "Argument")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "typer"):
            continue
        default = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "default"), None)
        if default is not None and _literal(default):
            found.append(f"{filename}:{node.lineno}: typer.{node.func.attr}({ast.unparse(default)}, ...)")
    return found


def test_the_checker_sees_literals_and_lets_names_through():
    src = """
import typer
def f(a=typer.Option(400.0, "--gbps"), b=typer.Option("nvidia"), c=typer.Argument(-1),
      d=typer.Option(default=4), e=typer.Option(Path("x"), "--out"),
      ok1=typer.Option(None), ok2=typer.Option(True, "--x/--no-x"), ok3=typer.Argument(...),
      ok4=typer.Option(DEFAULT_PROFILE, "--profile"), ok5=typer.Option(C.WDM_K_PATHS), ok6=typer.Option(Path(X))):
    pass
"""
    found = literal_defaults(src)
    assert [f.split(": ", 1)[1] for f in found] == [
        "typer.Option(400.0, ...)", "typer.Option('nvidia', ...)", "typer.Argument(-1, ...)",
        "typer.Option(4, ...)", "typer.Option(Path('x'), ...)"]


def test_no_cli_default_is_a_literal():
    files = sorted(CLI_DIR.glob("*.py"))
    assert len(files) > 5
    found = [f for p in files for f in literal_defaults(p.read_text(encoding="utf-8"), p.name)]
    assert not found, "CLI defaults must be the library's named constants:\n" + "\n".join(found)


# ------------------------------------------------------------------------------ the built app
@pytest.fixture(scope="module")
def commands():
    """The app's command tree (a click group: ``.commands`` by name, ``.params`` with ``.default``)."""
    from fabric.cli.main import app

    return typer.main.get_command(app)


def _param(group, path: str, param: str):
    cmd = group
    for name in path.split():
        cmd = getattr(cmd, "commands", {}).get(name)
        assert cmd is not None, f"no command {path!r}"
    for p in cmd.params:
        if p.name == param:
            return p
    raise AssertionError(f"{path}: no parameter {param!r}")


def _default(group, path: str, param: str):
    return _param(group, path, param).default


def _sig(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def _field(cls, name: str):
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def test_sim_defaults_are_the_packet_model_and_tune_defaults(commands):
    from fabric.cc import DEFAULT_PROFILE
    from fabric.ccsim import scenarios
    from fabric.ccsim.packet import DEFAULT_CC, DEFAULT_SEED, PacketConfig
    from fabric.ccsim.tune import DEFAULT_VERIFY, tune

    assert _default(commands, "sim cc", "cc") == DEFAULT_CC == _field(PacketConfig, "cc") == _sig(tune, "cc")
    assert _default(commands, "sim cc", "profile") == DEFAULT_PROFILE == _field(PacketConfig, "profile")
    assert _default(commands, "sim cc-tune", "profile") == DEFAULT_PROFILE == _sig(tune, "profile")
    assert _default(commands, "sim cc", "seed") == DEFAULT_SEED == _field(PacketConfig, "seed") == _sig(tune, "seed")
    assert _default(commands, "sim cc-tune", "verify") == DEFAULT_VERIFY == _sig(tune, "verify")
    assert _default(commands, "sim cc-tune", "scenario") == scenarios.DEFAULT_TUNE_SCENARIO in scenarios.SCENARIOS
    for name, fn in scenarios.SCENARIOS.items():
        assert _sig(fn, "gbps") == scenarios.DEFAULT_GBPS, name
    for path in ("sim cc", "sim cc-tune"):
        assert _default(commands, path, "gbps") == scenarios.DEFAULT_GBPS


def test_plan_and_topo_defaults_are_the_library_defaults(commands):
    from fabric import builders
    from fabric.cc import DEFAULT_PROFILE, DEFAULT_SWITCH_MODEL, CcOptions
    from fabric.cli.common import DEFAULT_OUT_DIR
    from optical import constants as C
    from optical.ocs import plan_ocs
    from optical.wdm import plan_wdm

    assert _default(commands, "plan cc", "profile") == DEFAULT_PROFILE == _field(CcOptions, "profile")
    assert _default(commands, "plan cc", "switch_model") == DEFAULT_SWITCH_MODEL == _field(CcOptions, "switch_model")
    assert _default(commands, "plan wdm", "solver") == C.WDM_SOLVER == _sig(plan_wdm, "solver")
    assert _default(commands, "plan wdm", "k") == C.WDM_K_PATHS == _sig(plan_wdm, "k")
    assert _default(commands, "plan ocs", "evaluate") == C.OCS_EVALUATOR == _sig(plan_ocs, "evaluator")
    assert _default(commands, "plan ocs", "tolerance") == _sig(plan_ocs, "tolerance")
    assert _default(commands, "topo build", "gpus_per_server") == _sig(builders.rail_optimized, "gpus_per_server")
    assert _default(commands, "topo build", "servers") == _sig(builders.example_two_site, "servers_per_site")
    assert _default(commands, "topo build", "host_gbps") == _sig(builders.clos, "host_gbps")
    assert _default(commands, "topo build", "k") == builders.DEFAULT_FAT_TREE_K
    # the artefact folder is --out-dir (None on the command line: the resolver's default is the constant)
    from fabric.cli.options import legacy_out_dir

    assert _sig(legacy_out_dir, "default") == DEFAULT_OUT_DIR
    for path in ("plan wcmp", "plan ports", "demo"):
        assert _default(commands, path, "out_dir") is None
        assert str(DEFAULT_OUT_DIR) in _param(commands, path, "out_dir").help


def test_dpu_and_lab_defaults_are_the_library_defaults(commands):
    from dpu.spec import BUILTIN, DEFAULT_SPEC
    from dpu.timing import DEFAULT_ARRIVALS, PROFILES, check
    from labs.budget import check as budget_check
    from labs.clab import export_clab
    from labs.lab import Lab
    from labs.probe import flow_split, latency

    assert _default(commands, "dpu check", "spec") == DEFAULT_SPEC in BUILTIN
    assert _default(commands, "dpu check", "profile") in PROFILES
    assert _default(commands, "dpu check", "packets") == _sig(check, "packets")
    assert _default(commands, "dpu check", "flows") == _sig(check, "flows")
    assert _default(commands, "dpu check", "seed") == _sig(check, "seed")
    assert (_default(commands, "dpu check", "arrivals") == DEFAULT_ARRIVALS) == _sig(check, "poisson")
    assert _default(commands, "lab up", "name") == _sig(Lab.__init__, "name")
    assert _default(commands, "lab down", "name") == _sig(Lab.__init__, "name")
    assert _default(commands, "lab up", "delay_scale") == _sig(Lab.__init__, "delay_scale")
    assert _default(commands, "lab up", "delay_backend") == _sig(Lab.__init__, "delay_backend")
    assert _default(commands, "lab up", "rate_scale") == _sig(Lab.__init__, "rate_scale")
    assert _default(commands, "lab probe", "count") == _sig(latency, "count")
    assert _default(commands, "lab check", "count") == _sig(budget_check, "count")
    assert _default(commands, "lab split", "flows") == _sig(flow_split, "flows")
    assert _default(commands, "lab export", "image") == _sig(export_clab, "image")


def test_help_states_the_default_from_the_constant(cli):
    from fabric.builders import DEFAULT_CLOS_SPINES
    from fabric.cc import DEFAULT_PROFILE
    from fabric.wcmp.reduce import DEFAULT_MAX_GROUPS

    r = cli(["plan", "cc", "--help"])
    assert r.exit_code == 0 and f"default: {DEFAULT_PROFILE}" in r.output
    r = cli(["plan", "wcmp", "--help"])
    assert r.exit_code == 0 and f"default {DEFAULT_MAX_GROUPS:,}" in r.output
    r = cli(["topo", "build", "--help"])
    assert r.exit_code == 0 and f"clos default {DEFAULT_CLOS_SPINES}" in r.output
