"""Demo stage: WCMP weights vs ECMP for ring all-reduce on the two-site example, a failed leaf-spine link
recomputed warm, a per-link utilisation plot, and QP source ports placed against CRC32 hashing."""

from __future__ import annotations

from fabric.demo import DemoContext
from fabric.hashing import HashConfig
from fabric.qp_ports import place_ports
from fabric.traffic import ring_allreduce
from fabric.wcmp import WcmpPlanner, fail_fabric
from fabric.wcmp.report import plot_utilisation, wcmp_table

TITLE = "load balancing: WCMP vs ECMP, failure recompute, QP source ports"
#: The link the demo fails: one of Beijing's rail-0 leaf uplinks.
DEMO_FAILED_LINK = "beijing-su1-rail0--beijing-spine1"
#: Per-GPU send rate of the demo's ring all-reduce, Gb/s (half of a 400G NIC: an *assumption*).
DEMO_RATE_GBPS = 200.0
#: Source ports tried per QP in the demo (fewer than the CLI default: the demo should be quick).
DEMO_PORT_CANDIDATES = 128


def run(ctx: DemoContext) -> None:
    fab = ctx.fabric
    if fab is None:
        ctx.skip("no fabric (the topology stage did not run)")
        return
    demand = ring_allreduce(fab, fab.nodes("gpu"), DEMO_RATE_GBPS, seed=1, qps_per_pair=2)
    planner = WcmpPlanner(fab, demand)
    base = planner.solve()
    res = planner.fail([DEMO_FAILED_LINK])
    summary = res.summary()
    ctx.console.print(wcmp_table(summary))
    ctx.console.print(f"before the failure: MLU LP {base.mlu_lp:.4f}, ECMP {base.mlu_ecmp:.4f}; "
                      f"cold solve {base.seconds_total * 1000:.0f} ms, warm recompute {res.seconds_total * 1000:.0f} ms")
    plot_utilisation(res, ctx.artefact("wcmp-util.png"))
    ctx.add(res.section(), fab)
    cfg = HashConfig(kind="crc32", seed=1)
    pr = place_ports(fail_fabric(fab, res.failed_links)[0], demand, res.groups, cfg,
                     candidates=DEMO_PORT_CANDIDATES, seed=1)
    ctx.add(pr.section(), fab)
    ctx.console.print(f"QP ports ({len(pr.flows)} QPs, crc32): max load / ideal random {pr.max_load_random:.2f} "
                      f"-> placed {pr.max_load_placed:.2f}; collisions {pr.collisions_random} -> {pr.collisions_placed}")
    ctx.results["wcmp"] = {"mlu_lp": round(res.mlu_lp, 4), "mlu_wcmp": round(res.mlu_wcmp, 4),
                           "mlu_ecmp": round(res.mlu_ecmp, 4), "recompute_ms": round(res.seconds_total * 1000, 1),
                           "ports_max_load": [pr.max_load_random, pr.max_load_placed]}
