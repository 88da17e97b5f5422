"""DCQCN fluid model (Zhu et al., SIGCOMM 2015, equations 5-9, plus the RP's hyper-increase stage) for N flows through one bottleneck.

State per flow i: current rate R_C, target rate R_T, congestion estimate α; shared queue q. With
p(t) the RED/ECN marking probability of the queue (0 below Kmin, linear to Pmax at Kmax, 1 above)
and every feedback term delayed by τ* (the control loop delay)::

    dq/dt   = Σ R_C − C                                   (q ≥ 0)
    dα/dt   = g/τ' · [(1 − (1 − p*)^(τ'·R_C*)) − α]
    dR_T/dt = −(R_T − R_C)/τ · (1 − (1 − p*)^(τ·R_C*))
              + I · [R_C*·p* / ((1 − p*)^(−B) − 1) + R_C*·p* / ((1 − p*)^(−T·R_C*) − 1)]
    I       = R_AI·(max(P_B, P_T) − min(P_B, P_T)) + R_HAI·max(1, k − F + 1)·min(P_B, P_T)
    P_B     = (1 − p*)^(F·B),  P_T = (1 − p*)^(F·T·R_C*)
    dk/dt   = R_C*/max(B, T·R_C*) − k·(1 − (1 − p*)^(τ·R_C*))/τ
    dR_C/dt = −R_C·α/(2τ) · (1 − (1 − p*)^(τ·R_C*))
              + (R_T − R_C)/2 · R_C*·p* / ((1 − p*)^(−B) − 1)
              + (R_T − R_C)/2 · R_C*·p* / ((1 − p*)^(−T·R_C*) − 1)

with x* = x(t − τ*), rates in packets/s, B in packets, τ the CNP interval, τ' the alpha timer and
T the rate-increase timer. As p → 0 the event-rate terms tend to R_C/B and 1/T (taken exactly).

Rate increase (I): the paper's fluid model has additive increase only, each counter's AI weighted
by that counter being past F stages. DCQCN's RP (the paper's Algorithm, and the packet model in
:mod:`.kernel`) has three stages per increase event (byte counter or timer): fast recovery while both
counters are below F (R_T unchanged, R_C halfway to R_T: the (R_T − R_C)/2 term), additive increase
(R_T += R_AI) when one counter has reached F, hyper increase (R_T += i·R_HAI, i = min(counters) − F + 1)
when both have. A counter is past F when no CNP came in its last F steps, so with independent
marks P_B and P_T above are the chances and both-past-F is min(P_B, P_T). The hyper step i uses k,
a mean-field count of the lagging counter's steps since the last cut (it grows one per
max(B, T·R_C) packets and is reset at the CNP rate) — a model *assumption* that keeps i bounded and
makes R_T grow quadratically while unmarked, as in the RP.
ConnectX firmware RP knobs (:class:`fabric.cc.Profile`): τ is max(CNP interval, rate-reduce period);
a cut removes min(α·2^(10−rpg_gd), max cut) of R_C (the paper: α/2); α starts at initial_alpha; when
α is updated more often than CNPs can come (τ' < τ) only τ'/τ of its periods can see one, so the
α input is (τ'/τ)·(1 − (1 − p*)^(τ·R_C*)); R_T's pull towards R_C on a cut is multiplied by the
probability that the target is clamped: 1 with clamp_tgt_rate, else 1 − (1 − (1−p*)^B)·(1 − c·(1−p*)^(T·R_C*))
(a byte-counter step, or with c = clamp_tgt_rate_after_time_inc a timer step, since the last cut);
rate_to_set_on_first_cnp sets R_C = R_T when a flow first sees marking. The release at line rate (a
later first CNP re-initialises α) is not in the fluid model.
Rates are clipped to [min rate, line rate]. Integration: explicit Euler, step ``dt_s``.

Everything is in SI units at the interface (bytes, bytes/s, seconds); the kernel converts to
packets of ``packet_bytes``. ``fluid_run`` returns time series; ``fluid_sweep`` runs many parameter
sets in one compiled loop and returns summary statistics per set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numba import njit, prange

#: Layout of one parameter row (the kernel's input); names are the FluidParams fields below.
PARAM_NAMES = ("line_rate_Bps", "capacity_Bps", "kmin_bytes", "kmax_bytes", "pmax", "g", "alpha_timer_s",
               "cnp_interval_s", "rate_timer_s", "byte_counter_bytes", "fast_recovery_steps", "rai_Bps",
               "min_rate_Bps", "feedback_delay_s", "packet_bytes", "dt_s", "t_end_s", "rhai_Bps",
               "clamp_tgt", "clamp_tgt_after_time_inc", "initial_alpha", "gd_scale", "max_cut",
               "rate_reduce_s", "rate_first_cnp_Bps")
# indices into a parameter row (entry ``P_<NAME>`` is ``name``); numba compiles them in as constants
(P_LINE_RATE_BPS, P_CAPACITY_BPS, P_KMIN_BYTES, P_KMAX_BYTES, P_PMAX, P_G, P_ALPHA_TIMER_S, P_CNP_INTERVAL_S,
 P_RATE_TIMER_S, P_BYTE_COUNTER_BYTES, P_FAST_RECOVERY_STEPS, P_RAI_BPS, P_MIN_RATE_BPS, P_FEEDBACK_DELAY_S,
 P_PACKET_BYTES, P_DT_S, P_T_END_S, P_RHAI_BPS, P_CLAMP_TGT, P_CLAMP_TGT_AFTER_TIME_INC, P_INITIAL_ALPHA,
 P_GD_SCALE, P_MAX_CUT, P_RATE_REDUCE_S, P_RATE_FIRST_CNP_BPS, N_PARAMS) = range(26)
assert len(PARAM_NAMES) == N_PARAMS and all(globals()["P_" + n.upper()] == i for i, n in enumerate(PARAM_NAMES))


@dataclass(frozen=True)
class FluidParams:
    """One fluid-model run. Defaults: 400G, DCQCN paper values scaled to 400G (REFERENCE.md)."""

    line_rate_Bps: float = 400e9 / 8
    capacity_Bps: float = 400e9 / 8
    kmin_bytes: float = 50_000
    kmax_bytes: float = 2_000_000
    pmax: float = 0.01
    g: float = 1 / 256
    alpha_timer_s: float = 55e-6
    cnp_interval_s: float = 50e-6
    rate_timer_s: float = 55e-6
    byte_counter_bytes: float = 100e6
    fast_recovery_steps: float = 5
    rai_Bps: float = 400e6 / 8
    min_rate_Bps: float = 400e6 / 8
    feedback_delay_s: float = 4e-6
    packet_bytes: float = 1000
    dt_s: float = 0.2e-6
    t_end_s: float = 0.02
    rhai_Bps: float = 4000e6 / 8      # 10 x R_AI (the NVIDIA ratio; the paper gives no value)
    # ConnectX firmware RP knobs (fabric.cc.Profile); defaults are the paper's RP
    clamp_tgt: float = 1.0            # clamp_tgt_rate: R_T <- R_C on every cut
    clamp_tgt_after_time_inc: float = 1.0
    initial_alpha: float = 1.0        # initial_alpha_value / 1024
    gd_scale: float = 0.5             # 2^(10 - rpg_gd): a cut is R_C x min(alpha x gd_scale, max_cut)
    max_cut: float = 0.5              # 1 - rpg_min_dec_fac / 100
    rate_reduce_s: float = 0.0        # rate_reduce_monitor_period: at most one cut per max(tau, this)
    rate_first_cnp_Bps: float = 0.0   # rate_to_set_on_first_cnp (0: off)

    def row(self) -> np.ndarray:
        return np.array([getattr(self, n) for n in PARAM_NAMES], dtype=np.float64)

    @classmethod
    def from_dcqcn(cls, dcqcn: dict[str, Any], ecn: dict[str, Any], **kw: Any) -> FluidParams:
        """From a plan port group's ``dcqcn`` and ``ecn`` dicts (fabric.cc)."""
        rate = dcqcn["line_rate_gbps"] * 1e9 / 8
        base = dict(line_rate_Bps=rate, capacity_Bps=rate, kmin_bytes=ecn["kmin_bytes"],
                    kmax_bytes=ecn["kmax_bytes"], pmax=ecn["pmax"], g=dcqcn["g"],
                    alpha_timer_s=dcqcn["alpha_timer_us"] * 1e-6, cnp_interval_s=dcqcn["cnp_interval_us"] * 1e-6,
                    rate_timer_s=dcqcn["rate_increase_timer_us"] * 1e-6,
                    byte_counter_bytes=dcqcn["byte_counter_bytes"],
                    fast_recovery_steps=dcqcn["fast_recovery_steps"], rai_Bps=dcqcn["rai_mbps"] * 1e6 / 8,
                    min_rate_Bps=dcqcn["min_rate_mbps"] * 1e6 / 8, rhai_Bps=dcqcn["rhai_mbps"] * 1e6 / 8,
                    clamp_tgt=float(bool(dcqcn.get("clamp_tgt_rate", True))),
                    clamp_tgt_after_time_inc=float(bool(dcqcn.get("clamp_tgt_rate_after_time_inc", True))),
                    initial_alpha=dcqcn.get("initial_alpha", 1.0), gd_scale=2.0 ** (10 - dcqcn.get("rpg_gd", 11)),
                    max_cut=dcqcn.get("max_cut_fraction", 0.5),
                    rate_reduce_s=dcqcn.get("rate_reduce_period_us", 0.0) * 1e-6,
                    rate_first_cnp_Bps=dcqcn.get("rate_to_set_on_first_cnp_mbps", 0.0) * 1e6 / 8)
        base.update(kw)
        return cls(**base)


assert tuple(f.name for f in fields(FluidParams)) == PARAM_NAMES


@njit(cache=True)
def _mark(q: float, kmin: float, kmax: float, pmax: float) -> float:
    if q <= kmin:
        return 0.0
    if q <= kmax:
        return pmax * (q - kmin) / (kmax - kmin)
    return 1.0


@njit(cache=True)
def _pow1m(p: float, n: float) -> float:
    """(1 − p)^n for n ≥ 0."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if n > 0 else 1.0
    return math.exp(n * math.log1p(-p))


@njit(cache=True)
def _event_rate(p: float, n: float) -> float:
    """p / ((1 − p)^(−n) − 1): the rate factor of 'n unmarked packets in a row' events; → 1/n as p → 0."""
    if n <= 0.0:
        return 0.0
    if p <= 1e-12:
        return 1.0 / n
    if p >= 1.0:
        return 0.0
    x = -n * math.log1p(-p)
    if x > 700.0:
        return 0.0
    return p / math.expm1(x)


@njit(cache=True)
def _event_rate_lp(p: float, lp: float, n: float) -> float:
    """:func:`_event_rate` for 0 < p < 1 with lp = log1p(−p) given."""
    if n <= 0.0:
        return 0.0
    if p <= 1e-12:
        return 1.0 / n
    x = -n * lp
    if x > 700.0:
        return 0.0
    return p / math.expm1(x)


@njit(cache=True)
def _simulate(prm: np.ndarray, init_rates_Bps: np.ndarray, record_every: int,
              out_q: np.ndarray, out_r: np.ndarray) -> None:
    """Integrate one run; write q (bytes) and R_C (bytes/s) every ``record_every`` steps."""
    line, cap = prm[P_LINE_RATE_BPS], prm[P_CAPACITY_BPS]
    kmin, kmax, pmax, g = prm[P_KMIN_BYTES], prm[P_KMAX_BYTES], prm[P_PMAX], prm[P_G]
    tau_a, tau, t_rate = prm[P_ALPHA_TIMER_S], prm[P_CNP_INTERVAL_S], prm[P_RATE_TIMER_S]
    bc_bytes, fsteps = prm[P_BYTE_COUNTER_BYTES], prm[P_FAST_RECOVERY_STEPS]
    rai_B, rmin_B, rhai_B = prm[P_RAI_BPS], prm[P_MIN_RATE_BPS], prm[P_RHAI_BPS]
    delay, pkt, dt, t_end = prm[P_FEEDBACK_DELAY_S], prm[P_PACKET_BYTES], prm[P_DT_S], prm[P_T_END_S]
    clamp_tgt, clamp_ti = prm[P_CLAMP_TGT] > 0.5, prm[P_CLAMP_TGT_AFTER_TIME_INC]
    gd_scale, max_cut = prm[P_GD_SCALE], prm[P_MAX_CUT]
    tau = max(tau, prm[P_RATE_REDUCE_S])     # cuts come at most once per CNP interval and RP period
    # fraction of alpha periods that can see a CNP: all when the alpha period spans a cut interval,
    # tau'/tau of them when CNPs are sparser than alpha updates (firmware: 1 µs alpha, 4 µs CNPs)
    a_frac = min(1.0, tau_a / tau)
    rfirst = prm[P_RATE_FIRST_CNP_BPS] / pkt
    n = init_rates_Bps.shape[0]
    steps = int(t_end / dt + 0.5)
    d = max(1, int(delay / dt + 0.5))
    # packets
    C = cap / pkt
    Rline = line / pkt
    Rmin = rmin_B / pkt
    Rai = rai_B / pkt
    Rhai = rhai_B / pkt
    B = bc_bytes / pkt
    rc = np.empty(n)
    rt = np.empty(n)
    al = np.full(n, prm[P_INITIAL_ALPHA])
    seen = np.zeros(n)   # 1 once flow i saw a mark (its first CNP)
    ks = np.zeros(n)     # mean-field count of the lagging stage counter since the last cut
    for i in range(n):
        rc[i] = min(Rline, max(Rmin, init_rates_Bps[i] / pkt))
        rt[i] = rc[i]
    hist_p = np.zeros(d)
    hist_r = np.empty((d, n))
    for k in range(d):
        for i in range(n):
            hist_r[k, i] = rc[i]
    q = 0.0  # packets
    rec = 0
    for s in range(steps):
        slot = s % d
        pd = hist_p[slot]                # p(t − τ*)
        mid = 0.0 < pd < 1.0
        lp = math.log1p(-pd) if mid else 0.0   # shared by every (1 − p)^n of this step
        total = 0.0
        for i in range(n):
            rd = hist_r[slot, i]         # R_C(t − τ*)
            if pd > 0.0 and seen[i] == 0.0:
                seen[i] = 1.0
                if rfirst > 0.0:         # rate_to_set_on_first_cnp: current and target rate
                    rc[i] = min(Rline, max(Rmin, rfirst))
                    rt[i] = rc[i]
            # increase stages (DCQCN RP): byte-counter stage >= F after F·B unmarked packets, timer
            # stage >= F after F·T·R_C unmarked packets; fast recovery below F on both, additive
            # increase at F on one, hyper increase at F on both
            if pd <= 0.0:                # no marking: the p → 0 limits, no transcendental calls
                cut = 0.0
                amark = 0.0
                ev_b = rd / B if B > 0.0 else 0.0
                ev_t = 1.0 / t_rate if t_rate * rd > 0.0 else 0.0
                p_b = 1.0
                p_t = 1.0
                p_b1 = 1.0
                p_t1 = 1.0
            elif mid:                    # same values as _pow1m/_event_rate, one log1p per step
                cut = -math.expm1(tau * rd * lp)
                amark = -math.expm1(tau_a * rd * lp)
                ev_b = rd * _event_rate_lp(pd, lp, B)
                ev_t = rd * _event_rate_lp(pd, lp, t_rate * rd)
                p_b = math.exp(fsteps * B * lp)
                p_t = math.exp(fsteps * t_rate * rd * lp)
                p_b1 = math.exp(B * lp)
                p_t1 = math.exp(t_rate * rd * lp)
            else:
                cut = 1.0 - _pow1m(pd, tau * rd)
                amark = 1.0 - _pow1m(pd, tau_a * rd)
                ev_b = rd * _event_rate(pd, B)
                ev_t = rd * _event_rate(pd, t_rate * rd)
                p_b = _pow1m(pd, fsteps * B)
                p_t = _pow1m(pd, fsteps * t_rate * rd)
                p_b1 = _pow1m(pd, B)
                p_t1 = _pow1m(pd, t_rate * rd)
            if tau_a < tau:
                amark = a_frac * cut
            # the target follows the current rate on a cut with clamp_tgt_rate, else only when an
            # increase came since the last cut: a byte-counter step (B unmarked packets, P = (1-p)^B)
            # or, with clamp_tgt_rate_after_time_inc, a timer step ((1-p)^(T·R_C))
            p_clamp = 1.0 if clamp_tgt else 1.0 - (1.0 - p_b1) * (1.0 - clamp_ti * p_t1)
            p_hi = min(p_b, p_t)
            p_ai = max(p_b, p_t) - p_hi
            m_pk = max(B, t_rate * rd)   # packets per step of the lagging counter
            hyper = max(1.0, ks[i] - fsteps + 1.0)
            inc = Rai * p_ai + Rhai * hyper * p_hi
            dal = g / tau_a * (amark - al[i])
            drt = -(rt[i] - rc[i]) / tau * cut * p_clamp + inc * (ev_b + ev_t)
            drc = -rc[i] * min(al[i] * gd_scale, max_cut) / tau * cut + (rt[i] - rc[i]) / 2.0 * (ev_b + ev_t)
            dks = (rd / m_pk if m_pk > 0.0 else 0.0) - ks[i] * cut / tau
            al[i] = min(1.0, max(0.0, al[i] + dal * dt))
            rt[i] = min(Rline, max(Rmin, rt[i] + drt * dt))
            rc[i] = min(Rline, max(Rmin, rc[i] + drc * dt))
            ks[i] = max(0.0, ks[i] + dks * dt)
            total += rc[i]
        q = max(0.0, q + (total - C) * dt)
        # the value written now is read d steps later
        hist_p[slot] = _mark(q * pkt, kmin, kmax, pmax)
        for i in range(n):
            hist_r[slot, i] = rc[i]
        if (s + 1) % record_every == 0 and rec < out_q.shape[0]:
            out_q[rec] = q * pkt
            for i in range(n):
                out_r[rec, i] = rc[i] * pkt
            rec += 1


@dataclass
class FluidResult:
    t_s: np.ndarray
    queue_bytes: np.ndarray
    rates_Bps: np.ndarray       # (samples, flows)
    params: FluidParams

    def steady(self, frac: float = 0.5) -> dict[str, Any]:
        """Statistics over the last ``frac`` of the run: queue mean/min/max, per-flow mean rate, Jain."""
        k = int(len(self.t_s) * (1 - frac))
        q = self.queue_bytes[k:]
        r = self.rates_Bps[k:].mean(axis=0)
        return {"queue_mean_bytes": float(q.mean()), "queue_min_bytes": float(q.min()),
                "queue_max_bytes": float(q.max()), "rate_mean_Bps": r.tolist(),
                "jain": float(r.sum() ** 2 / (len(r) * (r ** 2).sum())),
                "utilisation": float(r.sum() / self.params.capacity_Bps)}


def fluid_run(params: FluidParams, n_flows: int = 2, init_rates_Bps: np.ndarray | None = None,
              samples: int = 2000) -> FluidResult:
    """Run the fluid model; ``init_rates_Bps`` defaults to every flow at line rate."""
    init = (np.full(n_flows, params.line_rate_Bps) if init_rates_Bps is None
            else np.asarray(init_rates_Bps, dtype=np.float64))
    steps = int(params.t_end_s / params.dt_s + 0.5)
    every = max(1, steps // samples)
    m = steps // every
    out_q = np.zeros(m)
    out_r = np.zeros((m, len(init)))
    _simulate(params.row(), init, every, out_q, out_r)
    t = (np.arange(m) + 1) * every * params.dt_s
    return FluidResult(t, out_q, out_r, params)


@njit(cache=True, parallel=True)
def _sweep(rows: np.ndarray, n_flows: int, frac: float, out: np.ndarray) -> None:
    for j in prange(rows.shape[0]):
        prm = rows[j]
        steps = int(prm[P_T_END_S] / prm[P_DT_S] + 0.5)
        every = max(1, steps // 400)
        m = steps // every
        oq = np.zeros(m)
        orr = np.zeros((m, n_flows))
        init = np.empty(n_flows)
        for i in range(n_flows):
            init[i] = prm[P_LINE_RATE_BPS] * (i + 1) / n_flows
        _simulate(prm, init, every, oq, orr)
        k = int(m * (1 - frac))
        qs = oq[k:]
        tot = 0.0
        sq = 0.0
        for i in range(n_flows):
            ri = orr[k:, i].mean()
            tot += ri
            sq += ri * ri
        out[j, 0] = qs.mean()
        out[j, 1] = qs.max()
        out[j, 2] = qs.std()
        out[j, 3] = tot / prm[P_CAPACITY_BPS]
        out[j, 4] = tot * tot / (n_flows * sq) if sq > 0 else 0.0


SWEEP_COLUMNS = ("queue_mean_bytes", "queue_max_bytes", "queue_std_bytes", "utilisation", "jain")


def fluid_sweep(rows: np.ndarray, n_flows: int = 2, steady_frac: float = 0.5) -> np.ndarray:
    """Run every parameter row (see :data:`PARAM_NAMES`); flows start at (i+1)/N of line rate.

    Returns an array (rows, 5) with columns :data:`SWEEP_COLUMNS` over the last ``steady_frac``.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    out = np.zeros((rows.shape[0], len(SWEEP_COLUMNS)))
    _sweep(rows, n_flows, steady_frac, out)
    return out
