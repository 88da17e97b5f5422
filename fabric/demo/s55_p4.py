"""Demo stage: the demo plan rendered for programmable switches: a P4_16 program and P4Info per switch
role, and every switch's P4Runtime WriteRequests (routes, WCMP one-shot action sets with the plan's
weights, next hops, ECN thresholds from the cc section), in ``fabricctl-out/p4/``."""

from __future__ import annotations

from fabric.demo import DemoContext

TITLE = "p4: P4_16 programs, P4Info and P4Runtime entries from the plan"


def run(ctx: DemoContext) -> None:
    from p4.render import render

    if ctx.fabric is None or ctx.plan.wcmp is None:
        ctx.skip("no fabric or no wcmp section (the topology or load-balancing stage did not run)")
    out = ctx.out_dir / "p4"
    doc = render(ctx.fabric, ctx.plan, out)
    for p in doc["programs"]:
        mine = [s for s in doc["switches"] if s["role"] == p["role"]]
        ctx.console.print(f"  {p['role']}: {p['p4']} ({p['tables']} tables, {p['actions']} actions), "
                          f"{len(mine)} switches, {sum(s['updates'] for s in mine)} updates")
    busiest = max(doc["switches"], key=lambda s: s["wcmp_groups"])
    ctx.console.print(f"  most WCMP groups: {busiest['name']} ({busiest['wcmp_groups']} groups, "
                      f"{busiest['routes']} routes) -> {busiest['file']}")
    ctx.artefacts.append(out)
    ctx.results["p4"] = {"programs": len(doc["programs"]), "switches": len(doc["switches"]),
                         "updates": sum(s["updates"] for s in doc["switches"])}
