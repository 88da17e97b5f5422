"""Shared fixtures: a Typer CLI runner and small fabrics."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from fabric.cli.main import app


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
