"""Docs that run: the ``>>>`` examples of every module in our packages, and the README's front door.

Modules are found, not listed: any module under :data:`PACKAGES` whose source contains ``>>>`` gets
a test that imports it (an import error fails the test) and runs its examples with :mod:`doctest`.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("fabric", "dpu", "optical", "labs", "p4")


def modules_with_examples() -> list[str]:
    """Dotted names of the modules under :data:`PACKAGES` whose source has a ``>>>`` example."""
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if ">>>" not in path.read_text(encoding="utf-8"):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.append(".".join(parts))
    return out


MODULES = modules_with_examples()


def test_examples_are_found():
    assert len(MODULES) >= 10 and "fabric.topology" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    for test in finder.find(mod, module):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{module} has '>>>' in its source but no docstring example doctest can find"
    assert results.failed == 0, "".join(report)


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == ["pip install -e . && fabricctl demo", "pip install -e '.[test]' && pytest"]


def test_readme_yaml_examples_load(tmp_path):
    from fabric.io.yamlio import load_yaml

    text = (ROOT / "README.md").read_text()
    # every plain ```yaml block is a topology file; other YAML files are fenced with their name
    # (```yaml prometheus.yml)
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        p = tmp_path / f"ex{i}.yaml"
        p.write_text(block)
        fab = load_yaml(p)
        assert len(fab) > 0 and fab.validate() == [], block
