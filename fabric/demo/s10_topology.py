"""Demo stage: build the two-site rail-optimised example, summarise it, save YAML and a drawing."""

from __future__ import annotations

from fabric.builders import example_two_site
from fabric.demo import DemoContext
from fabric.io.yamlio import save_yaml
from fabric.report import draw_fabric, summary_table

TITLE = "topology: two-site rail-optimised example"


def run(ctx: DemoContext) -> None:
    fab = example_two_site()
    ctx.fabric = fab
    ctx.plan.fabric, ctx.plan.fabric_digest = fab.name, fab.digest()
    ctx.console.print(summary_table(fab.summary()))
    save_yaml(fab, ctx.artefact("topology.yaml"))
    draw_fabric(fab, ctx.artefact("topology.png"))
    s = fab.summary()
    ctx.results["topology"] = {k: s[k] for k in ("nodes_by_role", "links", "bisection_gbps")}
