"""Shared fixtures: a Typer CLI runner and small fabrics."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from fabric.cli.main import app

# CI runs the same hypothesis examples every time (a red CI then means a change broke something, not a
# lucky draw); developers' runs keep exploring new examples (set HYPOTHESIS_PROFILE=ci to reproduce CI).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
    settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    """Skip needs_root tests off-root, saying why (CI runs as root, so they run there)."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: creates network namespaces and veth pairs (CI runs as root)")
    for item in items:
        if "needs_root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cli():
    """Invoke the fabricctl CLI in-process: ``cli(["topo", "show", "example"])``."""
    runner = CliRunner()

    def invoke(args, **kw):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)

    return invoke
