"""Published DCQCN experiments re-run with the packet model, next to what the publication states.

:func:`paper_fairness` is the DCQCN paper's convergence and fairness experiment (Zhu et al., SIGCOMM
2015, §5–6): N long flows share one 40 Gb/s bottleneck with the paper's parameters (the ``paper``
profile: Kmin 5 KB, Kmax 200 KB, Pmax 1 %, g 1/256, 55 µs timers, 10 MB byte counter, REFERENCE.md),
a new flow joining every ``stagger_s``. The paper's result is that the flows converge to the fair
share C/N with a small, stable queue and no PFC pauses; its own fluid model (its equations, in
:mod:`fabric.ccsim.fluid`) predicts the steady queue, which is the number we compare against.

Measured, per run: the time after the last flow joined until every flow's 1 ms mean throughput stays
within ``tolerance`` of C/N for ``hold_s`` (the convergence time), Jain's index and the mean and
max bottleneck queue over the last ``window_s``, PFC pauses; and the fluid model's steady queue and
Jain's index for the same N.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fabric.cc import dcqcn_params, ecn_params
from fabric.ccsim import scenarios
from fabric.ccsim.fluid import FluidParams, fluid_run
from fabric.ccsim.metrics import jain
from fabric.ccsim.packet import PacketConfig, build_network, simulate

#: The paper's testbed line rate, Gb/s (Zhu et al. 2015: 40 Gb/s ConnectX-3 Pro NICs and switches).
PAPER_GBPS = 40.0
#: Packet size of the reproduction, bytes (*assumption*: 1000 B, the fluid model's packet).
PAPER_PACKET_BYTES = 1000
#: Convergence criterion: every flow's 1 ms mean within 10 % of C/N (*assumption*: our threshold).
CONVERGED_TOLERANCE = 0.10
CONVERGED_AVERAGE_S = 1e-3


def _converged_after(thr_gbps: np.ndarray, dt: float, start_i: int, fair: float, tol: float) -> float | None:
    """Seconds after sample ``start_i`` until every flow's running 1 ms mean is within ``tol`` of ``fair``."""
    k = max(1, int(round(CONVERGED_AVERAGE_S / dt)))
    csum = np.cumsum(np.vstack([np.zeros(thr_gbps.shape[1]), thr_gbps]), axis=0)
    for i in range(start_i, len(thr_gbps) - k):
        m = (csum[i + k] - csum[i]) / k
        if np.all(np.abs(m - fair) <= tol * fair):
            return (i - start_i) * dt
    return None


def paper_fairness(n: int = 2, *, profile: str = "paper", gbps: float = PAPER_GBPS, stagger_s: float = 10e-3,
                   settle_s: float = 30e-3, window_s: float = 10e-3, seed: int = 1) -> dict[str, Any]:
    """N flows joining a ``gbps`` bottleneck one every ``stagger_s``; run ``settle_s`` past the last join."""
    t_end = (n - 1) * stagger_s + settle_s
    sc = scenarios.bottleneck(n, gbps=gbps, t_end_s=t_end, stagger_s=stagger_s)
    dt = 50e-6
    cfg = PacketConfig(cc="dcqcn", profile=profile, t_end_s=t_end, mtu_bytes=PAPER_PACKET_BYTES,
                       max_packets=1 << 16, samples=int(round(t_end / dt)), seed=seed)
    r = simulate(sc.fabric, sc.flows, cfg)
    dt = float(r.t_s[1] - r.t_s[0])
    b = int(np.argmax(r.max_queue_bytes))
    thr = np.diff(r.rcv_bytes, axis=0) / dt * 8 / 1e9
    fair = gbps / n
    conv = _converged_after(thr, dt, int(round((n - 1) * stagger_s / dt)), fair, CONVERGED_TOLERANCE)
    w = int(round(window_s / dt))
    rates = thr[-w:].mean(axis=0)
    q = r.queue_bytes[-w:, b]
    _arrays, meta = build_network(sc.fabric, sc.flows, cfg)
    fp = FluidParams.from_dcqcn(dcqcn_params(profile, gbps), ecn_params(profile, gbps),
                                packet_bytes=PAPER_PACKET_BYTES, feedback_delay_s=meta["params"]["base_rtt_s"],
                                t_end_s=settle_s)
    fl = fluid_run(fp, n).steady(0.5)
    return {"flows": n, "gbps": gbps, "profile": profile, "stagger_ms": stagger_s * 1e3,
            "converged_ms": None if conv is None else round(conv * 1e3, 2),
            "rates_gbps": [round(float(x), 2) for x in rates], "fair_gbps": fair, "jain": round(float(jain(rates)), 4),
            "queue_mean_kb": round(float(q.mean()) / 1e3, 1), "queue_max_kb": round(float(q.max()) / 1e3, 1),
            "pfc_pause_frames": int(r.pause_frames.sum()),
            "fluid_queue_mean_kb": round(fl["queue_mean_bytes"] / 1e3, 1), "fluid_jain": round(fl["jain"], 4),
            "wall_s": round(r.wall_s, 3)}
