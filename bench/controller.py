"""Benchmark: the controller's failure loop on the 8,192-GPU rail-optimised fabric, with one spawned
agent process serving all 288 switches as P4Runtime devices (control plane only: no dataplane).

    python bench/controller.py [--failures 20] [--servers 1024]   # one JSON document on stdout

For each scenario (bench/wcmp.py's A: ring per rail in rack order; B: the same ring with its ranks
shuffled) the controller (in-process, as ``fabricctl serve`` runs it, without the gRPC hop) computes
the plan, applies it from empty (entries/s), then takes ``--failures`` random leaf-spine links down one
at a time, each followed by its restore: link-down event -> all affected switches acknowledged, broken
into recompute (warm WCMP), diff (desired entries of the changed switches and their diffs) and push
(writes to every changed switch in parallel, until acknowledged); p50 and p99. ``acked_ms`` is the
figure (event -> every affected switch acknowledged); ``total_ms`` is the whole API call, which also
waits for plan N+1 to be in the store (written while the switches are pushed).

Baseline in the same run: recomputing and pushing the full plan instead of the diff: a cold solve of
the failed fabric (the planner from scratch), the full derivation of every switch's entries, and the
time to push every entry (the apply from empty measured above).

Target (issue 14): failure -> acknowledged p50 < 100 ms for scenario A.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# run as a script, bench/ is sys.path[0] and bench/p4.py would shadow the p4 package: use the repository root
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from fabric.builders import clos, rail_optimized  # noqa: E402
from fabric.server.desired import DesiredBuilder, managed_switches  # noqa: E402
from fabric.server.planning import FailurePlanner, FailureSet, link_spec, wcmp_demand  # noqa: E402
from fabric.server.service import Controller  # noqa: E402
from fabric.server.spawn import spawn_agents  # noqa: E402
from fabric.server.store import Store  # noqa: E402
from fabric.traffic import permutation  # noqa: E402
from fabric.wcmp import solve  # noqa: E402

SERVERS, GPUS_PER_SERVER = 1024, 8      # 8,192 GPUs: 256 rail leaves, 32 spines (bench/wcmp.py)
RATE_GBPS = 400.0
SHUFFLE_SEED = 7                        # bench/wcmp.py scenario B
APPLY_TIMEOUT_S = 600.0


def _pct(xs: list[float], q: int) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


def _scenario(name: str, fab, options: dict, agents, work: Path, failures: int, rng: random.Random) -> dict:
    db = work / f"{name[0]}.db"
    ctl = Controller(Store(db), agents.refs)
    ctl.start()
    try:
        ctl.submit_fabric(fab, who="bench")
        t0 = time.perf_counter()
        plan = ctl.compute_plan("wcmp", options=options, who="bench")
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = ctl.apply(plan["version"], who="bench", wait=True, timeout_s=APPLY_TIMEOUT_S)
        apply_s = time.perf_counter() - t0
        assert out["converged"], out
        leaf_spine = [(lk.a, lk.b) for lk in fab.links() if {fab.role(lk.a), fab.role(lk.b)} == {"leaf", "spine"}]
        rows = []
        for _ in range(failures):
            a, b = rng.choice(leaf_spine)
            down = ctl.report_event("link_down", a, b, who="bench", timeout_s=120)
            up = ctl.report_event("link_up", a, b, who="bench", timeout_s=120)
            # the next failure should find the planner warm again (it is re-solved after a restore)
            ctl.planner_pool.submit(lambda: None).result()
            rows.append({"link": f"{a}--{b}", "down": down, "up": up})
        assert ctl.wait_converged(plan["version"], 60)
        # baseline: the full plan instead of the diff, after the last failure's link
        a, b = rows[-1]["link"].split("--") if rows else leaf_spine[0]
        spec = link_spec(fab, a, b)
        t0 = time.perf_counter()
        fp = FailurePlanner(fab, wcmp_demand(fab, options, None), options)
        res = fp.solve(FailureSet(frozenset({spec})))
        full_recompute_s = time.perf_counter() - t0
        from fabric.plan import Plan

        p = Plan(fabric=fab.name, fabric_digest=fab.digest())
        p.add(res.section(), fabric=fab)
        t0 = time.perf_counter()
        DesiredBuilder(fab, {s: r.device_id for s, r in agents.refs.items()}).build(1, p)
        full_derive_s = time.perf_counter() - t0
    finally:
        ctl.stop()
        ctl.store.close()
    downs = [r["down"] for r in rows]
    col = {k: [d[k] for d in downs] for k in ("recompute_ms", "diff_ms", "push_ms", "acked_ms", "total_ms")}
    return {
        "scenario": name, "options": options, "cold_plan_s": round(cold_s, 3),
        "apply_from_empty": {"updates": out["updates"], "seconds": round(apply_s, 3),
                             "entries_per_s": round(out["updates"] / apply_s), "switches": out["switches_updated"]},
        "failures": len(rows),
        "link_down_to_acked_ms": {k: {"p50": round(_pct(v, 50), 2), "p99": round(_pct(v, 99), 2)}
                                  for k, v in col.items()},
        "switches_updated": {"p50": _pct([float(d["switches_updated"]) for d in downs], 50),
                             "max": max((d["switches_updated"] for d in downs), default=0)},
        "updates": {"p50": _pct([float(d["updates"]) for d in downs], 50),
                    "max": max((d["updates"] for d in downs), default=0)},
        "restore_total_ms_p50": round(_pct([r["up"]["total_ms"] for r in rows], 50), 2),
        "baseline_full_plan": {"cold_recompute_s": round(full_recompute_s, 3),
                               "derive_all_switches_s": round(full_derive_s, 3),
                               "push_all_entries_s": round(apply_s, 3),
                               "total_ms": round((full_recompute_s + full_derive_s + apply_s) * 1000, 1)},
        "ratio_full_over_diff_p50": round((full_recompute_s + full_derive_s + apply_s) * 1000
                                          / max(_pct(col["acked_ms"], 50), 1e-9), 1),
        "runs": [{"link": r["link"], **{k: round(r["down"][k], 2) for k in col},
                  "switches": r["down"]["switches_updated"], "updates": r["down"]["updates"]} for r in rows],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failures", type=int, default=20)
    ap.add_argument("--servers", type=int, default=SERVERS)
    ap.add_argument("--scenario", choices=("A", "B", "both"), default="both")
    args = ap.parse_args()
    small = clos(4, 2, 4)                                     # warm-up (numba cache, OR-Tools)
    solve(small, permutation(small, small.endpoints(), 100.0, seed=0))
    fab = rail_optimized(args.servers, GPUS_PER_SERVER)
    switches = managed_switches(fab)
    work = Path(tempfile.mkdtemp(prefix="fabricctl-bench-controller-"))
    t0 = time.perf_counter()
    agents = spawn_agents(switches, work / "agents")
    spawn_s = time.perf_counter() - t0
    rng = random.Random(1)
    base = {"demand": "ring", "rate_gbps": RATE_GBPS, "seed": 1}
    todo = [("A: ring per rail, ranks in rack order", base),
            ("B: ring per rail, ranks shuffled over the cluster", base | {"shuffle_seed": SHUFFLE_SEED})]
    if args.scenario != "both":
        todo = [t for t in todo if t[0].startswith(args.scenario)]
    try:
        results = []
        for name, opts in todo:
            print(f"scenario {name} ...", file=sys.stderr, flush=True)
            results.append(_scenario(name, fab, opts, agents, work, args.failures, rng))
    finally:
        agents.stop()
    a = results[0]
    out = {
        "benchmark": "controller",
        "fabric": f"rail_optimized({args.servers}, {GPUS_PER_SERVER}): {len(fab.nodes('gpu'))} GPUs, "
                  f"{len(switches)} switches on one agent process",
        "machine": platform.processor() or platform.machine(), "spawn_agents_s": round(spawn_s, 2),
        "figure": {"link_down_to_acked_p50_ms": a["link_down_to_acked_ms"]["acked_ms"]["p50"],
                   "link_down_to_acked_p99_ms": a["link_down_to_acked_ms"]["acked_ms"]["p99"],
                   "api_call_with_store_write_p50_ms": a["link_down_to_acked_ms"]["total_ms"]["p50"],
                   "apply_from_empty_entries_per_s": a["apply_from_empty"]["entries_per_s"],
                   "target_p50_ms": 100.0},
        "baseline": {"full_plan_recompute_and_push_ms": a["baseline_full_plan"]["total_ms"]},
        "ratio": {"full_over_diff_p50": a["ratio_full_over_diff_p50"]},
        "scenarios": results,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
