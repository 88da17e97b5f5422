"""Benchmark: build + validate fat_tree(64) and a 16,384-GPU rail-optimised fabric.

Prints JSON per case: seconds (build, validate, summary-free), peak memory of the process (RSS high
water mark, measured in a fresh child process per case so that cases do not inherit each other's peak),
and the baseline: building the same graph as a bare ``networkx.MultiGraph`` (no typing, no validation)
in the same run. Target (issue 2): each case under 10 s and 2 GiB.

    python bench/topology.py
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import sys
import time

TARGET_S = 10.0
TARGET_GIB = 2.0


def _fabric_case(name: str, q: mp.Queue) -> None:
    from fabric import builders

    t0 = time.perf_counter()
    if name == "fat_tree(64)":
        fab = builders.fat_tree(64)
    else:
        fab = builders.rail_optimized(2048, 8, servers_per_su=32, spines=32, uplinks_per_leaf=32)
    t1 = time.perf_counter()
    warnings = fab.validate()
    t2 = time.perf_counter()
    counts = fab.counts_by_role()
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    q.put({"case": name, "nodes": len(fab), "links": fab.graph.number_of_edges(), "nodes_by_role": counts,
           "build_s": round(t1 - t0, 3), "validate_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3),
           "peak_rss_gib": round(rss_gib, 3), "warnings": warnings})


def _baseline_case(name: str, q: mp.Queue) -> None:
    """The same edges into a bare networkx.MultiGraph with the same attribute dicts, no checks."""
    import networkx as nx

    t0 = time.perf_counter()
    g = nx.MultiGraph()
    if name == "fat_tree(64)":
        k, half = 64, 32
        for p in range(k):
            for e in range(half):
                for h in range(half):
                    g.add_edge(f"p{p}-e{e}-h{h}", f"p{p}-e{e}", capacity_gbps=400.0, length_km=0.0, kind="copper", up=True)
                for a in range(half):
                    g.add_edge(f"p{p}-e{e}", f"p{p}-a{a}", capacity_gbps=400.0, length_km=0.0, kind="copper", up=True)
            for a in range(half):
                for j in range(half):
                    g.add_edge(f"p{p}-a{a}", f"c{a}-{j}", capacity_gbps=400.0, length_km=0.0, kind="copper", up=True)
    else:
        for su in range(64):
            for srv in range(32):
                for r in range(8):
                    g.add_edge(f"s{su * 32 + srv}-g{r}", f"su{su}-rail{r}", capacity_gbps=400.0, length_km=0.0,
                               kind="copper", up=True)
            for r in range(8):
                for u in range(32):
                    g.add_edge(f"su{su}-rail{r}", f"spine{u}", capacity_gbps=400.0, length_km=0.0, kind="copper", up=True)
    t1 = time.perf_counter()
    q.put({"build_s": round(t1 - t0, 3), "links": g.number_of_edges(),
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)})


def _run(fn, name: str) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(name, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> int:
    results = []
    ok = True
    for name in ("fat_tree(64)", "rail_optimized(16384 GPUs)"):
        ours = _run(_fabric_case, name)
        base = _run(_baseline_case, name)
        ours["baseline_bare_networkx_build_s"] = base["build_s"]
        ours["ratio_vs_bare_networkx"] = round(ours["total_s"] / base["build_s"], 2)
        ours["meets_target"] = ours["total_s"] < TARGET_S and ours["peak_rss_gib"] < TARGET_GIB
        ok &= ours["meets_target"]
        results.append(ours)
        print(json.dumps(ours), flush=True)
    print(json.dumps({"benchmark": "topology", "target_s": TARGET_S, "target_gib": TARGET_GIB, "all_met": ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
