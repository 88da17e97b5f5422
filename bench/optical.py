"""Optical planning benchmarks (issue 5). Prints one JSON document: a list of figures, each with
``figure``, ``value``, ``baseline``, ``ratio`` and details.

- OCS: 64 aggregation blocks x 64 OCS (128 uplinks per block, 2 ports on each OCS, 128 of 136 ports
  used), 400G circuits, all-pairs random (uniform in 0.5-1.5 x mean) and skewed. Figure: throughput
  scale of the integer circuits vs the LP bound (target: within 1 % in under 10 s); baseline: the
  demand-oblivious uniform mesh (circuits spread evenly) evaluated the same way (flow deviation at
  this size). ``--exact`` also solves the exact LP for our circuits (over a minute at 64 x 64) and
  prints how far the flow-deviation routing is from it. The numba kernels are compiled (or loaded
  from numba's cache) before the clock starts.
- WDM: Chinanet, all 28 pairs of the eight hub cities at 3.2 Tb/s (two 1.6T wavelengths each), C band:
  wavelengths used by CP-SAT vs KSP first-fit, against the load lower bound, with and without 1+1.

Usage: ``python bench/optical.py [--quick] [--exact] [--ocs-time-limit S]``.
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
    out = []
    for name, skew in (("random", 0.0), ("skewed", 1.0)):
        demand = random_demand(nb, seed=1, skew=skew)
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
    a = ap.parse_args()
    nb = 32 if a.quick else 64
    figures = bench_wdm(a.wdm_time_limit) + bench_ocs(nb, nb, 2 * nb, a.ocs_time_limit, a.ocs_eval_time_limit,
                                                      a.exact)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
