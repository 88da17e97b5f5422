"""Demo stage: the two-site fabric as a lab in network namespaces (root only), probed and torn down."""

from __future__ import annotations

import os

from fabric.demo import DemoContext

TITLE = "lab: two-site fabric in network namespaces"
#: Probes per measurement in the demo (keeps the stage to a few seconds).
DEMO_PROBES = 20


def run(ctx: DemoContext) -> None:
    if os.geteuid() != 0:
        ctx.skip("needs root to create network namespaces (run `sudo fabricctl demo`, CI runs as root)")
    from fabric.builders import example_two_site
    from fabric.errors import ConfigError
    from labs import probe
    from labs.budget import check
    from labs.lab import Lab

    fab = ctx.fabric or example_two_site()
    plan = ctx.plan if ctx.plan.wcmp is not None else None
    name = f"demo-{os.getpid() % 100000}"
    try:
        lab = Lab(fab, plan, name=name)
        lab.up()
    except ConfigError as exc:  # a plan for another fabric: run with shortest-path routes instead
        ctx.console.print(f"note: plan not applied ({exc}); using ECMP over shortest paths")
        lab = Lab(fab, None, name=name)
        lab.up()
    try:
        st = lab.state
        wan = [r for r in st["links"] if r["delay_us"] > 0]
        wan_text = (f"WAN one way {wan[0]['delay_us'] / 1000:.3f} ms from the {wan[0]['delay_model']} model"
                    if wan else "no WAN")
        ctx.console.print(f"lab {name}: {len(st['nodes'])} namespaces, {len(st['links'])} veth links in "
                          f"{lab.timings['up_s']:.2f} s; delay backend {st['backend']}; rate scale "
                          f"{st['rate_scale']} (1.6T -> {1600 * st['rate_scale']:g} Gb/s); delay scale "
                          f"{st['delay_scale']} ({wan_text})")
        eps = fab.endpoints()
        src = next(e for e in eps if fab.node(e).get("site") == fab.sites()[0])
        dst = next(e for e in reversed(eps) if fab.node(e).get("site") == fab.sites()[-1])
        r = probe.latency(lab, src, dst, count=DEMO_PROBES)
        ctx.console.print(f"{src} -> {dst}: RTT mean {r['rtt_ms']['mean']:.3f} ms (min {r['rtt_ms']['min']:.3f}, "
                          f"p99 {r['rtt_ms']['p99']:.3f}); one way mean {r['one_way_ms']['mean']:.3f} ms")
        result = {"nodes": len(st["nodes"]), "up_s": round(lab.timings["up_s"], 3), "backend": st["backend"],
                  "rate_scale": st["rate_scale"], "delay_scale": st["delay_scale"],
                  "rtt_ms": r["rtt_ms"], "one_way_ms": r["one_way_ms"]}
        if ctx.plan.budgets is not None:
            from labs.budget import validate_budgets

            try:
                res = check(lab, validate_budgets(ctx.plan.section_data("budgets")), count=5)
            except ConfigError as exc:
                ctx.console.print(f"note: budgets not checked ({exc})")
            else:
                ctx.console.print(f"budgets: {res['checked']} paths measured, {res['violations']} over budget")
                result["budget_violations"] = res["violations"]
        ctx.results["lab"] = result
    finally:
        lab.down()
