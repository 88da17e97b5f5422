"""The house rules of DESIGN.md, checked on the source: no module imports another's ``_private`` names,
no import cycles between modules, dependencies point one way (planners and renderers never import the
CLI; planners never import labs)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("fabric", "dpu", "optical", "labs", "p4")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


MODULES = modules()


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import in the file, anywhere."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [a.name for a in node.names]
            # ``from pkg import submodule`` imports the submodule
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            out.append((base, [n for n in names if f"{base}.{n}" not in MODULES], node.lineno))
            out += [(s, [], node.lineno) for s in subs]
    return out


def test_no_module_imports_another_modules_private_names():
    bad = []
    for name, path in MODULES.items():
        for mod, names, line in imports(name, path):
            if mod in MODULES and mod != name:
                bad += [f"{path.relative_to(ROOT)}:{line}: {mod}.{n}" for n in names
                        if n.startswith("_") and not n.startswith("__")]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for name, path in MODULES.items():
        g.add_node(name)
        for mod, _names, _line in imports(name, path):
            if mod not in MODULES or mod == name:
                continue
            if path.name == "__init__.py" and mod.startswith(name + "."):
                continue  # a package re-exporting its own modules is not a dependency
            g.add_edge(name, mod)
    return g


def test_no_import_cycles_between_modules():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles)


@pytest.mark.parametrize("lower, upper", [
    ("fabric.wcmp", "fabric.cli"), ("fabric.plan", "fabric.cli"), ("optical", "fabric.cli"),
    ("dpu", "fabric.cli"), ("labs", "fabric.cli"), ("fabric.wcmp", "labs"), ("optical", "labs"),
    ("fabric.cc", "labs"), ("fabric.plan", "fabric.wcmp"), ("fabric.plan", "optical"),
])
def test_dependencies_point_one_way(lower, upper):
    g = import_graph()
    bad = [(a, b) for a, b in g.edges if (a == lower or a.startswith(lower + "."))
           and (b == upper or b.startswith(upper + "."))]
    assert not bad, f"{lower} must not import {upper}: {bad}"
