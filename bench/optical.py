"""Optical planning benchmarks (issue 5). Prints one JSON document: a list of figures, each with
``figure``, ``value``, ``baseline``, ``ratio`` and details.

- OCS: 64 aggregation blocks x 64 OCS (128 uplinks per block, 2 ports on each OCS, 128 of 136 ports
  used), 400G circuits, all-pairs random (uniform in 0.5-1.5 x mean) and skewed, and the demands of
  :mod:`optical.ocs.demands` that separate planners: heavy pairs (16 pairs, half of their blocks'
  traffic; an assumption after Jupiter Evolving, SIGCOMM 2022), a permutation (perfect matching) and
  pipeline jobs of 8 blocks. Figure: throughput
  scale of the integer circuits vs the LP bound (target: within 1 % in under 10 s); baseline: the
  demand-oblivious uniform mesh (circuits spread evenly) evaluated the same way (flow deviation at
  this size). ``--exact`` also solves the exact LP for our circuits (over a minute at 64 x 64) and
  prints how far the flow-deviation routing is from it. The numba kernels are compiled (or loaded
  from numba's cache) before the clock starts.
- WDM: Chinanet, all 28 pairs of the eight hub cities at 3.2 Tb/s (two 1.6T wavelengths each), C band:
  wavelengths used by CP-SAT vs KSP first-fit, against the load lower bound, with and without 1+1.

- Shift: circuits for heavy-pairs demand A, then 4 of its 16 heavy pairs move (demand B): churn
  (cross-connects added + removed) of the incremental reconfiguration against a from-scratch plan
  for B, both throughputs and the gap to the bound; also on 16 x 16 (1 of 4 heavy pairs moves).

Usage: ``python bench/optical.py [--quick] [--exact] [--only-ocs] [--ocs-time-limit S] [--shift-moved N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# This file is named like the package it measures: run as a script, its own folder would come first
# on sys.path and ``import optical`` would import this file. Put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))


def _uniform_mesh(spec):
    """Circuits spread as evenly as possible over all block pairs (the demand-oblivious baseline)."""
    from optical.ocs import map_to_ocs

    nb = len(spec.blocks)
    per_pair = spec.uplinks[0] // (nb - 1)
    circ = {(i, j): per_pair for i in range(nb) for j in range(i + 1, nb)}
    # leftover ports: a perfect matching per round (round-robin pairing) until ports run out
    left = spec.uplinks[0] - per_pair * (nb - 1)
    for r in range(left):
        for i in range(nb // 2):
            a, b = (r + i) % (nb - 1), (r - i) % (nb - 1) if i else nb - 1
            p = (min(a, b), max(a, b))
            if a != b:
                circ[p] += 1
    per_ocs, dropped, _ = map_to_ocs(spec, circ)
    return per_ocs, dropped


def bench_ocs(nb: int, k: int, uplinks: int, time_limit_s: float, eval_limit_s: float,
              exact: bool = False) -> list[dict]:
    import numpy as np

    from optical.ocs import (
        AUTO_LP_MAX_PAIRS,
        ThroughputLp,
        evaluate_circuits,
        make_spec,
        plan_ocs,
        random_demand,
        sum_per_ocs,
    )
    from optical.ocs.route import route_fixed

    route_fixed(np.ones((3, 3)), np.ones((3, 3)), alphas=(20.0,))     # compile / load the kernels
    spec = make_spec([uplinks] * nb, k)
    big = nb * (nb - 1) // 2 > AUTO_LP_MAX_PAIRS
    from optical.ocs.demands import heavy_pairs_demand, permutation_demand, pipeline_jobs_demand

    out = []
    demands = {"random": random_demand(nb, seed=1), "skewed": random_demand(nb, seed=1, skew=1.0),
               "heavy_pairs": heavy_pairs_demand(nb, seed=1, heavy_pairs=min(16, nb // 4)),
               "permutation": permutation_demand(nb, seed=1), "pipeline_jobs": pipeline_jobs_demand(nb, seed=1)}
    for name, demand in demands.items():
        t0 = time.perf_counter()
        r = plan_ocs(spec, demand, time_limit_s=time_limit_s, eval_time_limit_s=eval_limit_s)
        secs = time.perf_counter() - t0
        d = r.data
        per_ocs, dropped = _uniform_mesh(spec)
        if big:
            base = evaluate_circuits(spec, demand, sum_per_ocs(per_ocs), d["lp_bound"], eval_limit_s)
        else:
            base = ThroughputLp(spec, demand).evaluate(sum_per_ocs(per_ocs), time_limit_s=eval_limit_s)
        extra = {}
        if exact:
            placed = {(spec.blocks.index(r_["a"]), spec.blocks.index(r_["b"])): r_["circuits"] for r_ in d["logical"]}
            ex = ThroughputLp(spec, demand).evaluate(placed, stop_at=d["lp_bound"], time_limit_s=eval_limit_s)
            extra = {"lp_optimum_of_circuits": ex["theta"], "lp_converged": ex["converged"],
                     "lp_seconds": round(ex["seconds"], 1),
                     "below_lp_optimum": 1 - d["throughput_scale"] / ex["theta"] if ex["theta"] > 0 else None}
        out.append({
            "figure": f"ocs_{nb}x{k}_{name}_throughput_scale", "value": d["throughput_scale"],
            "lp_bound": d["lp_bound"], "gap": d["gap"], "seconds": round(secs, 2),
            "evaluate": r.solver_info["evaluate"]["name"], **extra,
            "evaluate_converged": r.solver_info["evaluate"]["converged"],
            "evaluate_upper": r.solver_info["evaluate"]["upper"],
            "integer_status": r.solver_info["integer"]["status"],
            "direct_share": d["direct_share"], "dropped": d["dropped"],
            "baseline": base["theta"], "baseline_name": "uniform mesh (demand-oblivious)",
            "baseline_converged": base["converged"],
            "ratio": d["throughput_scale"] / base["theta"] if base["theta"] > 0 else None,
            "target": "gap <= 1% in < 10 s", "met": d["gap"] <= 0.01 and secs < 10.0,
            "phases_s": {k2: round(v["seconds"], 2) for k2, v in r.solver_info.items()
                         if isinstance(v, dict) and "seconds" in v}})
    return out


def bench_shift(nb: int, k: int, uplinks: int, time_limit_s: float, eval_limit_s: float, moved: int, seed: int,
                tolerance: float) -> list[dict]:
    """A demand shift that forces reconfiguration: circuits planned for heavy-pairs demand A, then
    ``moved`` heavy pairs move to other blocks (demand B). The incremental plan (warm from A's
    circuits, fewest changes within ``tolerance`` of the optimum's bound) against a from-scratch plan
    for B, whose churn is counted with A's cross-connects reused wherever its per-OCS counts allow."""
    import numpy as np

    from optical.ocs import Current, logical_from_ports, make_spec, plan_ocs
    from optical.ocs.demands import shift_heavy_pairs
    from optical.ocs.mapping import port_pairs
    from optical.ocs.route import route_fixed

    route_fixed(np.ones((3, 3)), np.ones((3, 3)), alphas=(20.0,))
    spec = make_spec([uplinks] * nb, k)
    a, b = shift_heavy_pairs(nb, seed=seed, moved=moved, heavy_pairs=min(16, nb // 4))
    first = plan_ocs(spec, a, time_limit_s=time_limit_s, eval_time_limit_s=eval_limit_s)
    total, per = logical_from_ports(spec, first.data["circuits"])
    cur = Current(first.data["circuits"], total, per)

    def churn(new: dict) -> int:
        old = {(o, tuple(sorted(x))) for o, v in cur.circuits.items() for x in v}
        return len(old ^ {(o, tuple(sorted(x))) for o, v in new.items() for x in v})

    t0 = time.perf_counter()
    scratch = plan_ocs(spec, b, time_limit_s=time_limit_s, eval_time_limit_s=eval_limit_s)
    s_secs = time.perf_counter() - t0
    _t, s_per = logical_from_ports(spec, scratch.data["circuits"])
    s_churn = churn(port_pairs(spec, s_per, keep=cur.circuits))
    t0 = time.perf_counter()
    inc = plan_ocs(spec, b, current=cur, tolerance=tolerance, time_limit_s=time_limit_s,
                   eval_time_limit_s=eval_limit_s)
    i_secs = time.perf_counter() - t0
    i_churn = churn(inc.data["circuits"])
    info = inc.solver_info
    n_circ = sum(len(v) for v in cur.circuits.values())
    return [{
        "figure": f"ocs_{nb}x{k}_shift_{moved}_heavy_pairs_churn", "value": i_churn,
        "baseline": s_churn, "baseline_name": "from-scratch plan for the new demand (current ports reused)",
        "ratio": i_churn / s_churn if s_churn else None, "circuits": n_circ,
        "baseline_churn_ports_renumbered": churn(scratch.data["circuits"]),
        "current_on_new_demand": info["current"]["throughput_scale"], "target": info["current"]["target"],
        "incremental_throughput_scale": inc.data["throughput_scale"], "incremental_gap": inc.data["gap"],
        "incremental_seconds": round(i_secs, 2), "reconfigure": info.get("reconfigure"),
        "incremental_attempts": info.get("incremental", {}).get("attempts"),
        "scratch_throughput_scale": scratch.data["throughput_scale"], "scratch_gap": scratch.data["gap"],
        "scratch_seconds": round(s_secs, 2), "lp_bound": inc.data["lp_bound"], "tolerance": tolerance,
        "target_met": "churn <= from-scratch, gap <= tolerance, < 10 s",
        "met": i_churn <= s_churn and inc.data["gap"] <= tolerance + 1e-9 and i_secs < 10.0}]


def bench_wdm(time_limit_s: float) -> list[dict]:
    from fabric.io.gml import load_gml, zoo_path
    from optical.catalog import pick_transceiver
    from optical.constants import HUB_CITIES
    from optical.wdm import Demand, plan_wdm

    china = load_gml(zoo_path("Chinanet"))
    t = pick_transceiver("1.6T")
    out = []
    for protect in (False, True):
        demands = [Demand(a, b, 3.2, protect) for i, a in enumerate(HUB_CITIES) for b in HUB_CITIES[i + 1:]]
        res = {}
        for solver in ("first-fit", "cp-sat"):
            t0 = time.perf_counter()
            r = plan_wdm(china, demands, t, solver=solver, time_limit_s=time_limit_s, k=4)
            res[solver] = (r, time.perf_counter() - t0)
        cp, ff = res["cp-sat"], res["first-fit"]
        out.append({
            "figure": f"wdm_chinanet_hubs_all_pairs_3.2T{'_1+1' if protect else ''}_wavelengths",
            "value": cp[0].data["wavelengths_used"], "lower_bound": cp[0].data["lower_bound"],
            "max_fiber_load": cp[0].data["max_fiber_load"], "blocked": len(cp[0].data["blocked"]),
            "seconds": round(cp[1], 2), "status": cp[0].solver_info["status"],
            "baseline": ff[0].data["wavelengths_used"], "baseline_name": "first-fit on 4 shortest paths",
            "baseline_blocked": len(ff[0].data["blocked"]), "baseline_seconds": round(ff[1], 3),
            "ratio": cp[0].data["wavelengths_used"] / ff[0].data["wavelengths_used"],
            "lightpaths": len(cp[0].data["lightpaths"]), "channels": cp[0].data["channels"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="32 blocks x 32 OCS instead of 64 x 64")
    ap.add_argument("--ocs-time-limit", type=float, default=10.0)
    ap.add_argument("--wdm-time-limit", type=float, default=10.0)
    ap.add_argument("--ocs-eval-time-limit", type=float, default=120.0)
    ap.add_argument("--exact", action="store_true", help="also the exact LP throughput of our OCS circuits")
    ap.add_argument("--shift-moved", type=int, default=4, help="heavy pairs that move in the shift scenario")
    ap.add_argument("--shift-seed", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=0.01, help="reconfiguration: gap to the bound accepted")
    ap.add_argument("--only-ocs", action="store_true", help="skip the WDM figures")
    a = ap.parse_args()
    nb = 32 if a.quick else 64
    figures = [] if a.only_ocs else bench_wdm(a.wdm_time_limit)
    figures += bench_ocs(nb, nb, 2 * nb, a.ocs_time_limit, a.ocs_eval_time_limit, a.exact)
    # the shift on 16 x 16 too (1 of 4 heavy pairs moves), where the incremental split is joint CP-SAT
    figures += bench_shift(16, 16, 32, a.ocs_time_limit, a.ocs_eval_time_limit, 1, a.shift_seed, a.tolerance)
    figures += bench_shift(nb, nb, 2 * nb, a.ocs_time_limit, a.ocs_eval_time_limit, a.shift_moved, a.shift_seed,
                           a.tolerance)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
