"""Outputs of a packet run: FCT slowdown percentiles, Jain's index, PFC and drop counters, plots."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from fabric.io.atomic import write_bytes_atomic


def jain(x: np.ndarray) -> float:
    """Jain's fairness index (Σx)² / (n·Σx²): 1 when equal, 1/n when one flow takes everything.

    >>> jain(np.array([1.0, 1.0])), jain(np.array([1.0, 0.0]))
    (1.0, 0.5)
    """
    x = np.asarray(x, float)
    if len(x) == 0 or not np.any(x):
        return 0.0
    return float(x.sum() ** 2 / (len(x) * (x ** 2).sum()))


def flow_throughput_Bps(res: Any) -> np.ndarray:
    """Per-flow throughput: over the second half of the run for flows active then, else over its life."""
    t, rcv = res.t_s, res.rcv_bytes
    starts = np.array([f.start_s for f in res.flows])
    end = float(t[-1]) if len(t) else res.config.t_end_s
    out = np.zeros(len(res.flows))
    if len(t) >= 4:
        m = len(t) // 2
        tm = float(t[m])
        for i in range(len(res.flows)):
            if starts[i] <= tm and (res.finish_s[i] < 0 or res.finish_s[i] > end):
                out[i] = (rcv[-1, i] - rcv[m, i]) / max(end - tm, 1e-12)
    for i in range(len(res.flows)):
        if out[i] == 0:
            stop = res.finish_s[i] if res.finish_s[i] >= 0 else end
            out[i] = (res.sent_bytes[i] - res.lost_bytes[i]) / max(stop - starts[i], 1e-12)
    return out


def summarise(res: Any) -> dict[str, Any]:
    starts = np.array([f.start_s for f in res.flows])
    done = res.finish_s >= 0
    fct = res.finish_s[done] - starts[done]
    slow = fct / res.ideal_fct_s[done]
    pct = (lambda q: float(np.percentile(slow, q))) if len(slow) else (lambda q: None)
    thr = flow_throughput_Bps(res)
    b = int(np.argmax(res.max_queue_bytes))
    return {
        "flows": len(res.flows), "completed": int(done.sum()),
        "drops": res.stats["drops"], "lost_bytes": float(res.lost_bytes.sum()),
        "headroom_overflows": res.stats["headroom_overflows"],
        "pfc_pause_frames": res.stats["pause_frames"], "pfc_paused_s": float(res.paused_s.sum()),
        "pfc_paused_links": int((res.paused_s > 0).sum()),
        "ecn_marks": res.stats["ecn_marks"], "cnps": res.stats["cnps"],
        "fct_slowdown": {"p50": pct(50), "p95": pct(95), "p99": pct(99)},
        "fct_s_max": float(fct.max()) if len(fct) else None,
        "jain": jain(thr), "throughput_gbps": [round(x * 8 / 1e9, 3) for x in thr],
        "bottleneck": {"link": res.dl_names[b], "max_queue_bytes": float(res.max_queue_bytes[b]),
                       "mean_queue_bytes": float(res.queue_bytes[:, b].mean()) if len(res.t_s) else 0.0},
        "events": res.stats["events"], "wall_s": round(res.wall_s, 4),
        "events_per_s": round(res.stats["events"] / res.wall_s) if res.wall_s > 0 else None,
        "simulated_s": res.stats["end_ps"] * 1e-12,
    }


def plot(res: Any, path: str | os.PathLike[str], title: str = "") -> None:
    """PNG: queue depth of the busiest links and per-flow throughput over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    t_us = res.t_s * 1e6
    top = np.argsort(res.max_queue_bytes)[::-1][:4]
    for j in top:
        if res.max_queue_bytes[j] > 0:
            ax1.plot(t_us, res.queue_bytes[:, j] / 1e3, label=res.dl_names[j])
    ax1.set_ylabel("queue (KB)")
    ax1.legend(fontsize=7, loc="upper right")
    if len(t_us) > 1:
        dt = np.diff(res.t_s)
        thr = np.diff(res.rcv_bytes, axis=0) / dt[:, None] * 8 / 1e9
        for i in range(min(thr.shape[1], 16)):
            ax2.plot(t_us[1:], thr[:, i], lw=0.8)
    ax2.set_ylabel("flow throughput (Gb/s)")
    ax2.set_xlabel("time (us)")
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def series(res: Any, points: int = 100) -> dict[str, Any]:
    """Time series for JSON output: bottleneck queue and per-flow throughput, at most ``points`` samples."""
    n = len(res.t_s)
    if n < 2:
        return {"t_us": [], "bottleneck_queue_bytes": [], "flow_gbps": []}
    idx = np.unique(np.linspace(0, n - 1, min(points, n)).astype(int))
    b = int(np.argmax(res.max_queue_bytes))
    t = res.t_s[idx]
    rcv = res.rcv_bytes[idx]
    thr = np.diff(rcv, axis=0) / np.maximum(np.diff(t), 1e-15)[:, None] * 8 / 1e9
    return {"t_us": [round(float(x) * 1e6, 3) for x in t[1:]],
            "bottleneck_queue_bytes": [float(x) for x in res.queue_bytes[idx[1:], b]],
            "flow_gbps": [[round(float(x), 3) for x in row] for row in thr.T]}
