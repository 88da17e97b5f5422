"""The labs package's structure (DESIGN.md module map): no import circle between labs modules (not even
one hidden behind TYPE_CHECKING or inside a function), no module reaching into another's
``_private`` names, typed constructors, and every module importable on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import networkx as nx

LABS = Path(__file__).resolve().parent.parent / "labs"
MODULES = {f"labs.{p.stem}": p for p in sorted(LABS.glob("*.py")) if p.stem != "__init__"}


def _tree(mod: str) -> ast.Module:
    return ast.parse(MODULES[mod].read_text(), filename=str(MODULES[mod]))


def _imports(mod: str) -> list[tuple[str, list[str], int]]:
    """Every import in the module, wherever it stands: (module, names, line)."""
    out = []
    for node in ast.walk(_tree(mod)):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            out.append((node.module, names, node.lineno))
            if node.module == "labs":  # from labs import netns
                out += [(f"labs.{n}", [], node.lineno) for n in names]
    return out


def test_no_import_circle_between_labs_modules():
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    for mod in MODULES:
        for target, _names, _line in _imports(mod):
            if target in MODULES and target != mod:
                g.add_edge(mod, target)
    assert list(nx.simple_cycles(g)) == []


def test_no_module_imports_another_modules_private_names():
    bad = [(mod, line, target, n) for mod in MODULES for target, names, line in _imports(mod)
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert bad == []


def test_no_module_reaches_into_another_objects_private_attributes():
    """``x._name`` only on ``self``/``cls`` (a class's own), never on a lab, a module or a handle."""
    bad = []
    for mod in MODULES:
        for node in ast.walk(_tree(mod)):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                bad.append((mod, node.lineno, ast.unparse(node)))
    assert bad == []


def test_every_labs_module_imports_first_in_a_fresh_interpreter():
    code = ("import subprocess, sys\n"
            "for m in sys.argv[1:]:\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True)\n"
            "    assert r.returncode == 0, (m, r.stderr[-400:])\n")
    r = subprocess.run([sys.executable, "-c", code, *MODULES], capture_output=True, text=True,
                       cwd=LABS.parent, timeout=120)
    assert r.returncode == 0, r.stderr[-800:]


def test_constructors_take_a_typed_fabric_and_plan():
    from fabric.plan import Plan
    from fabric.topology import Fabric
    from labs.clab import state_from_fabric
    from labs.lab import Lab
    from labs.routing import layout

    for fn in (Lab.__init__, layout, state_from_fabric):
        hints = typing.get_type_hints(fn)
        assert hints["plan"] == Plan | None, fn
        assert hints["fabric"] in (Fabric, Fabric | None), fn


def test_handles_module_is_named_for_what_it_holds():
    assert "labs.handles" not in MODULES
    from labs.nodes import LinkHandle, Node

    assert Node.__module__ == LinkHandle.__module__ == "labs.nodes"
    assert sys.modules["labs.nodes"]
