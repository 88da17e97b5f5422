"""Benchmark: the Plan contract on an 8,192-GPU rail-optimised fabric: what typing and validating the
``wcmp`` section, the fabric digest, a plan's save/load round trip and ``Plan.diff`` cost, against the
untyped baseline measured in the same run (the same data through plain ``json.dumps``/``json.loads``,
and a direct dict comparison of the groups for the diff).

    python bench/plan.py            # prints one JSON document: figure, baseline, ratio

The controller diffs a plan after every failure, so the diff and the load must stay well below the
200 ms recompute budget of the WCMP planner.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from typing import Any

from fabric.builders import rail_optimized
from fabric.plan import Plan, WcmpSection
from fabric.plan.diff import diff
from fabric.traffic import ring_allreduce
from fabric.wcmp import WcmpPlanner

SERVERS, GPUS_PER_SERVER = 1024, 8
RATE_GBPS = 400.0
FAILED = "su1-rail0--spine1"
REPEATS = 5


def best(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time of REPEATS runs, and the last result."""
    times, out = [], None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def direct_group_diff(a: dict[str, Any], b: dict[str, Any]) -> int:
    ga = {(g["switch"], g["dst"]): {(h["node"], h["port"]): h["weight"] for h in g["next_hops"]} for g in a["groups"]}
    gb = {(g["switch"], g["dst"]): {(h["node"], h["port"]): h["weight"] for h in g["next_hops"]} for g in b["groups"]}
    return sum(1 for k in ga.keys() | gb.keys() if ga.get(k) != gb.get(k))


def main() -> None:
    fab = rail_optimized(SERVERS, GPUS_PER_SERVER)
    planner = WcmpPlanner(fab, ring_allreduce(fab, fab.nodes("gpu"), RATE_GBPS, seed=1))
    before_res = planner.solve()
    after_res = planner.fail([FAILED])
    data_before, data_after = before_res.section_data(), after_res.section_data()

    digest_s, _ = best(fab.digest)
    typed_s, sec_before = best(lambda: WcmpSection.from_dict(data_before))
    sec_after = WcmpSection.from_dict(data_after)
    p_before, p_after = Plan.new(fab), Plan.new(fab)
    p_before.add(sec_before, fabric=fab, created_unix=0.0)
    p_after.add(sec_after, fabric=fab, created_unix=0.0)
    dump_s, text = best(p_after.to_json)
    load_s, back = best(lambda: Plan.from_json(text))
    assert back == p_after
    diff_s, d = best(lambda: diff(p_before, p_after))
    w = d["sections"]["wcmp"]
    changed = len(w["groups_added"]) + len(w["groups_removed"]) + len(w["groups_reweighted"])

    raw = json.dumps({"sections": {"wcmp": {"data": data_after}}})
    base_dump_s, _ = best(lambda: json.dumps({"sections": {"wcmp": {"data": data_after}}}, indent=2))
    base_load_s, _ = best(lambda: json.loads(raw))
    base_diff_s, n_direct = best(lambda: direct_group_diff(data_before, data_after))
    assert n_direct == changed, (n_direct, changed)

    out = {
        "benchmark": "plan", "machine": platform.processor() or platform.machine(),
        "fabric": f"rail_optimized({SERVERS}, {GPUS_PER_SERVER}): {fab.graph.number_of_nodes()} nodes, "
                  f"{fab.graph.number_of_edges()} links", "wcmp_groups": len(data_after["groups"]),
        "plan_json_bytes": len(text), "groups_changed_by_failure": changed,
        "figure": {"fabric_digest_s": round(digest_s, 4), "typed_section_from_dict_s": round(typed_s, 4),
                   "plan_to_json_s": round(dump_s, 4), "plan_from_json_validated_s": round(load_s, 4),
                   "plan_diff_s": round(diff_s, 4)},
        "baseline": {"json_dumps_untyped_s": round(base_dump_s, 4), "json_loads_untyped_s": round(base_load_s, 4),
                     "direct_dict_group_diff_s": round(base_diff_s, 4)},
        "ratio": {"load_validated_over_json_loads": round(load_s / base_load_s, 1),
                  "to_json_over_json_dumps": round(dump_s / base_dump_s, 1),
                  "diff_over_direct_dict_diff": round(diff_s / base_diff_s, 1)},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
