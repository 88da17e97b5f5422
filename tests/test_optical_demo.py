"""The optical demo stage runs on the demo fabric and fills its three plan sections."""

from __future__ import annotations

import time

from rich.console import Console

from fabric.builders import example_two_site
from fabric.demo import DemoContext


def test_demo_stage_fills_sections(tmp_path):
    import fabric.demo.s40_optical as stage

    ctx = DemoContext(out_dir=tmp_path, console=Console(file=open(tmp_path / "log.txt", "w")))  # noqa: SIM115
    ctx.fabric = example_two_site()
    t0 = time.perf_counter()
    stage.run(ctx)
    assert time.perf_counter() - t0 < 15
    assert set(ctx.plan.present()) == {"ocs", "wdm", "budgets"}
    r = ctx.results["optical"]
    assert r["budgets_over"] == 0 and r["wdm_wavelengths"] >= 1
    assert 9.0 < r["beijing_guangzhou_ms"] < 20.0
    assert (tmp_path / "budgets-chinanet-hubs.json").exists()
