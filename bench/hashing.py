"""Benchmark: 1 million RoCE flows hashed hop by hop through a 3-tier fat-tree (k=16: 1,024 hosts,
320 switches) with numba, against the pure-Python reference timed on a sample in the same run.

    python bench/hashing.py         # prints one JSON document: figure, baseline, ratio

Target (issue): 1M flows in under 1 s. The figure is the numba kernel (compiled code cached and warmed
up first, as DESIGN.md asks); setting up the arrays is reported separately.
"""

from __future__ import annotations

import json
import time

import numpy as np

from fabric.builders import fat_tree
from fabric.hashing import HashConfig, Tables, simulate, simulate_indexed, simulate_reference
from fabric.traffic import Demand, Flow
from fabric.wcmp import ecmp_groups

K = 16
FLOWS = 1_000_000
SAMPLE = 10_000


def main() -> None:
    fab = fat_tree(K)
    hosts = fab.endpoints()
    t0 = time.perf_counter()
    groups = ecmp_groups(fab)
    groups_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    src = rng.integers(0, len(hosts), FLOWS)
    dst = (src + rng.integers(1, len(hosts), FLOWS)) % len(hosts)
    sport = rng.integers(0xC000, 0x10000, FLOWS)
    rate = np.full(FLOWS, 1.0)
    out = {"benchmark": "hashing", "fabric": f"fat_tree({K}): {len(hosts)} hosts, "
                                             f"{len(fab) - len(hosts)} switches, 3 tiers",
           "flows": FLOWS, "groups": len(groups), "groups_build_s": round(groups_s, 3), "hashes": {}}
    for kind in ("crc32", "toeplitz"):
        cfg = HashConfig(kind=kind, seed=1)
        t0 = time.perf_counter()
        t = Tables(fab, groups, cfg)
        tables_s = time.perf_counter() - t0
        simulate_indexed(t, hosts, src[:1000], dst[:1000], sport[:1000], rate[:1000])  # warm-up (JIT/cache)
        t0 = time.perf_counter()
        load, count, kernel_s = simulate_indexed(t, hosts, src, dst, sport, rate)
        total_s = time.perf_counter() - t0
        # pure-Python reference on a sample, same flows; loads must agree exactly
        sample = Demand([Flow(hosts[a], hosts[b], 1.0, int(p))
                         for a, b, p in zip(src[:SAMPLE], dst[:SAMPLE], sport[:SAMPLE], strict=True)])
        t0 = time.perf_counter()
        ref = simulate_reference(fab, sample, groups, cfg)
        ref_s = time.perf_counter() - t0
        fast = simulate(fab, sample, groups, cfg, tables=t, with_fluid=False).load
        agree = all(abs(fast[t.link_id[k]] - v) < 1e-9 for k, v in ref.items())
        ref_per_flow = ref_s / SAMPLE
        core = [i for i, (u, v, _k) in enumerate(t.links) if fab.role(u) == "spine" and fab.role(v) == "superspine"]
        pol = Tables(fab, groups, HashConfig(kind=kind, seed=1, polarize=True))
        pload, _c, _s = simulate_indexed(pol, hosts, src, dst, sport, rate)
        out["hashes"][kind] = {
            "kernel_s": round(kernel_s, 4), "end_to_end_s": round(total_s, 4), "tables_s": round(tables_s, 3),
            "flows_per_s": round(FLOWS / kernel_s), "python_reference_s_per_flow": ref_per_flow,
            "python_reference_s_for_1m_extrapolated": round(ref_per_flow * FLOWS, 1),
            "speedup": round(ref_per_flow * FLOWS / kernel_s, 1), "numba_equals_reference_on_sample": agree,
            "agg_core_max_over_mean": round(float(load[core].max() / load[core].mean()), 4),
            "agg_core_max_over_mean_polarised": round(float(pload[core].max() / pload[core].mean()), 4),
            "agg_core_links_idle_polarised": int(np.count_nonzero(pload[core] == 0)), "agg_core_links": len(core),
        }
    c = out["hashes"]["crc32"]
    out["figure"] = {"crc32_1m_flows_kernel_s": c["kernel_s"], "target_s": 1.0}
    out["baseline"] = {"python_reference_1m_flows_s_extrapolated": c["python_reference_s_for_1m_extrapolated"]}
    out["ratio"] = {"speedup_vs_python": c["speedup"]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
