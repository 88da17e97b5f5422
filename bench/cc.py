"""Benchmarks of the congestion-control simulators (run: ``python bench/cc.py``; prints JSON).

- packet model: events/s and wall time of a 16-to-1 incast at 400G for 10 ms of simulated time
  (flows large enough to stay active the whole 10 ms), compiled kernel, warm-up excluded;
- fluid model: wall time of a 1,000-set parameter sweep (4 flows, 10 ms each, dt 0.2 µs);
- baseline: the same kernels run as pure Python (``NUMBA_DISABLE_JIT=1``) on small cases, in a
  subprocess; ``ratio`` = numba speed / pure-Python speed on the same small case;
- model figures (``model``): the 16-to-1 incast's delivered Gb/s per profile with the ConnectX firmware
  RP, against the same run with the target clamped on every cut (``clamp_tgt_rate`` 1, the rule the
  model had before: the baseline); the DCQCN paper's fairness experiment (2 and 4 flows joining a 40G
  bottleneck, :func:`fabric.ccsim.reproduce.paper_fairness`); fluid vs packet queue and utilisation
  for 2, 4 and 16 long flows through one 400G port (20 ms) for every profile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SMALL_PACKET = """
import json, time
from fabric.ccsim import scenarios
from fabric.ccsim.packet import PacketConfig, simulate
sc = scenarios.incast(4, 4e6)
cfg = PacketConfig(cc="dcqcn", t_end_s=2e-3, samples=10, max_packets=1 << 14)
simulate(sc.fabric, sc.flows, cfg)            # warm-up (compile or cache load)
t = time.perf_counter(); r = simulate(sc.fabric, sc.flows, cfg); w = time.perf_counter() - t
print(json.dumps({"events": r.stats["events"], "wall_s": w}))
"""

SMALL_FLUID = """
import json, time
from fabric.ccsim.fluid import FluidParams, fluid_run
p = FluidParams(t_end_s=0.5e-3)
fluid_run(p, 4, samples=10)
t = time.perf_counter(); fluid_run(p, 4, samples=10); w = time.perf_counter() - t
print(json.dumps({"steps": int(p.t_end_s / p.dt_s), "wall_s": w}))
"""


def _sub(code: str, jit: bool) -> dict:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "0" if jit else "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _fluid_vs_packet(profile: str, n: int, t_end_s: float = 20e-3) -> dict:
    import numpy as np

    from fabric.cc import dcqcn_params, ecn_params
    from fabric.ccsim import scenarios
    from fabric.ccsim.fluid import FluidParams, fluid_run
    from fabric.ccsim.packet import PacketConfig, build_network, simulate

    sc = scenarios.bottleneck(n, t_end_s=t_end_s)
    cfg = PacketConfig(cc="dcqcn", profile=profile, t_end_s=t_end_s, mtu_bytes=1000, max_packets=1 << 16, samples=2000)
    r = simulate(sc.fabric, sc.flows, cfg)
    b = int(np.argmax(r.max_queue_bytes))
    h = len(r.t_s) // 2
    line = 400e9 / 8
    _a, meta = build_network(sc.fabric, sc.flows, cfg)
    fp = FluidParams.from_dcqcn(dcqcn_params(profile, 400), ecn_params(profile, 400), packet_bytes=1000,
                                feedback_delay_s=meta["params"]["base_rtt_s"], t_end_s=t_end_s)
    st = fluid_run(fp, n).steady(0.5)
    return {"profile": profile, "flows": n,
            "queue_kb_packet": round(float(r.queue_bytes[h:, b].mean()) / 1e3, 1),
            "queue_kb_fluid": round(st["queue_mean_bytes"] / 1e3, 1),
            "util_packet": round(float((r.rcv_bytes[-1] - r.rcv_bytes[h]).sum() / (r.t_s[-1] - r.t_s[h]) / line), 3),
            "util_fluid": round(st["utilisation"], 3)}


def model_figures() -> dict:
    """Delivered Gb/s of the 16-to-1 incast per profile (firmware RP vs target clamped on every cut),
    the paper's fairness experiment and the fluid-vs-packet table."""
    from fabric.ccsim import scenarios
    from fabric.ccsim.packet import PacketConfig, simulate
    from fabric.ccsim.reproduce import paper_fairness

    sc = scenarios.incast(16, 40e6, gbps=400.0, t_end_s=10e-3)
    incast = {}
    for prof in ("nvidia", "production", "paper"):
        row = {}
        for label, ov in (("firmware_rp", {}), ("baseline_clamp_every_cut", {"clamp_tgt_rate": True})):
            r = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", profile=prof, t_end_s=10e-3, samples=200,
                                                           dcqcn_override=ov))
            row[label + "_gbps"] = round(float(r.rcv_bytes[-1].sum()) * 8 / 1e9 / float(r.t_s[-1]), 1)
        row["ratio"] = round(row["firmware_rp_gbps"] / row["baseline_clamp_every_cut_gbps"], 2)
        incast[prof] = row
    paper = [paper_fairness(2), paper_fairness(4), paper_fairness(2, profile="nvidia")]
    fvp = [_fluid_vs_packet(p, n) for p in ("paper", "nvidia", "production") for n in (2, 4, 16)]
    return {"incast16_400g_10ms_delivered": incast, "dcqcn_paper_fairness": paper, "fluid_vs_packet_400g_20ms": fvp}


def main() -> None:
    import numpy as np

    from fabric.ccsim import scenarios
    from fabric.ccsim.fluid import FluidParams, fluid_sweep
    from fabric.ccsim.packet import PacketConfig, simulate

    # --- packet model: 16-to-1 incast at 400G, 10 ms
    sc = scenarios.incast(16, 40e6, gbps=400.0, t_end_s=10e-3)
    cfg = PacketConfig(cc="dcqcn", pfc=True, t_end_s=10e-3, samples=200)
    simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", t_end_s=50e-6))    # warm-up
    t = time.perf_counter()
    res = simulate(sc.fabric, sc.flows, cfg)
    wall = time.perf_counter() - t
    m = res.metrics()
    ev_s = res.stats["events"] / res.wall_s
    # --- fluid sweep of 1,000 parameter sets
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(1000):
        kmin = rng.uniform(10e3, 400e3)
        rows.append(FluidParams(kmin_bytes=kmin, kmax_bytes=kmin + rng.uniform(100e3, 4e6), pmax=rng.uniform(0.005, 0.5),
                                rate_timer_s=rng.uniform(20e-6, 300e-6), t_end_s=10e-3).row())
    rows = np.stack(rows)
    fluid_sweep(rows[:2], n_flows=4)                                        # warm-up
    t = time.perf_counter()
    fluid_sweep(rows, n_flows=4)
    sweep_s = time.perf_counter() - t
    steps_total = 1000 * int(10e-3 / 0.2e-6)
    # --- pure-Python baselines on small cases
    pk_jit, pk_py = _sub(SMALL_PACKET, True), _sub(SMALL_PACKET, False)
    fl_jit, fl_py = _sub(SMALL_FLUID, True), _sub(SMALL_FLUID, False)
    pk_ratio = (pk_jit["events"] / pk_jit["wall_s"]) / (pk_py["events"] / pk_py["wall_s"])
    fl_ratio = (fl_jit["steps"] / fl_jit["wall_s"]) / (fl_py["steps"] / fl_py["wall_s"])
    out = {
        "figure": {"packet_events_per_s": round(ev_s), "incast16_400g_10ms_wall_s": round(wall, 3),
                   "incast16_400g_10ms_kernel_s": round(res.wall_s, 3), "incast16_events": res.stats["events"],
                   "incast16_simulated_s": m["simulated_s"], "incast16_drops": m["drops"],
                   "incast16_pause_frames": m["pfc_pause_frames"],
                   "incast16_delivered_gbps": round(float(res.rcv_bytes[-1].sum()) * 8 / 1e9 / m["simulated_s"], 1),
                   "fluid_sweep_1000_sets_s": round(sweep_s, 3),
                   "fluid_steps_per_s": round(steps_total * 4 / sweep_s), "cpu_cores": os.cpu_count()},
        "baseline": {"pure_python_packet_events_per_s": round(pk_py["events"] / pk_py["wall_s"]),
                     "numba_packet_events_per_s_small": round(pk_jit["events"] / pk_jit["wall_s"]),
                     "small_packet_case": "4-to-1 incast of 4 MB, dcqcn, 2 ms",
                     "pure_python_fluid_flow_steps_per_s": round(fl_py["steps"] * 4 / fl_py["wall_s"]),
                     "numba_fluid_flow_steps_per_s_small": round(fl_jit["steps"] * 4 / fl_jit["wall_s"]),
                     "small_fluid_case": "4 flows, 0.5 ms"},
        "ratio": {"packet_numba_over_python": round(pk_ratio, 1), "fluid_numba_over_python": round(fl_ratio, 1)},
    }
    out["model"] = model_figures()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
