"""Docs that run: the examples in the foundation modules' docstrings, and the README's front door."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["fabric.constants", "fabric.topology", "fabric.builders", "fabric.plan"])
def test_docstring_examples(module):
    mod = importlib.import_module(module)
    failures, tried = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_readme_starts_with_the_two_commands():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == ["pip install -e . && fabricctl demo", "pip install -e '.[test]' && pytest"]


def test_readme_yaml_examples_load(tmp_path):
    from fabric.io.yamlio import load_yaml

    text = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        p = tmp_path / f"ex{i}.yaml"
        p.write_text(block)
        fab = load_yaml(p)
        assert len(fab) > 0 and fab.validate() == [], block
