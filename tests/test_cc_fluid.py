"""DCQCN fluid model: convergence to C/N with the queue between Kmin and Kmax, checked against the
model's fixed point solved independently (scipy root finding on the steady-state equations)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from fabric.cc import dcqcn_params, ecn_params
from fabric.ccsim.fluid import SWEEP_COLUMNS, FluidParams, _event_rate, _mark, fluid_run, fluid_sweep


def fixed_point_queue(p: FluidParams, n: int) -> float:
    """Queue at the fixed point: R_C = C/N and dα = dR_T = dR_C = dk = 0 (the paper's steady state,
    with the RP's three increase stages: AI when one counter is past F, HAI when both are)."""
    P = p.packet_bytes
    R = p.capacity_Bps / P / n
    B, T, tau, ta, F, rai = (p.byte_counter_bytes / P, p.rate_timer_s, p.cnp_interval_s, p.alpha_timer_s,
                             p.fast_recovery_steps, p.rai_Bps / P)
    rhai = p.rhai_Bps / P

    def ev(pr, k):
        return pr / np.expm1(-k * np.log1p(-pr))

    def resid(lp):
        pr = np.exp(lp)
        a = -np.expm1(ta * R * np.log1p(-pr))
        cut = -np.expm1(tau * R * np.log1p(-pr))
        eb, et = R * ev(pr, B), R * ev(pr, T * R)
        delta = R * a / tau * cut / (eb + et)            # R_T − R_C from dR_C/dt = 0
        pb, pt = np.exp(F * B * np.log1p(-pr)), np.exp(F * T * R * np.log1p(-pr))
        k = R / max(B, T * R) / (cut / tau)               # hyper stage count from dk/dt = 0
        inc = rai * abs(pb - pt) + rhai * max(1.0, k - F + 1) * min(pb, pt)
        return -delta / tau * cut + inc * (eb + et)

    with np.errstate(over="ignore"):
        lp = brentq(resid, np.log(1e-12), np.log(p.pmax * (1 - 1e-9)), xtol=1e-14)
    return p.kmin_bytes + np.exp(lp) / p.pmax * (p.kmax_bytes - p.kmin_bytes)


@pytest.mark.parametrize("n", [2, 4])
def test_flows_converge_to_fair_share_and_queue_between_kmin_kmax(n):
    p = FluidParams.from_dcqcn(dcqcn_params("paper", 400), ecn_params("paper", 400), t_end_s=0.1)
    init = p.line_rate_Bps * (np.arange(n) + 1) / n           # unequal starting rates
    s = fluid_run(p, n, init).steady(0.25)
    for r in s["rate_mean_Bps"]:
        assert r == pytest.approx(p.capacity_Bps / n, rel=0.02)
    assert p.kmin_bytes < s["queue_min_bytes"] <= s["queue_max_bytes"] < p.kmax_bytes
    assert s["utilisation"] == pytest.approx(1.0, abs=1e-3)
    assert s["jain"] > 0.999
    # independent oracle: the steady-state equations solved by root finding
    assert s["queue_mean_bytes"] == pytest.approx(fixed_point_queue(p, n), rel=0.01)


def test_queue_grows_with_flow_count():
    p = FluidParams(t_end_s=0.05)
    q = [fluid_run(p, n).steady()["queue_mean_bytes"] for n in (2, 8)]
    assert q[0] < q[1]


def test_overload_without_marking_fills_queue_linearly():
    # Kmin above anything reachable: no feedback, two line-rate flows into C -> dq/dt = C exactly
    p = FluidParams(kmin_bytes=1e15, kmax_bytes=2e15, t_end_s=1e-3)
    r = fluid_run(p, 2)
    assert r.queue_bytes[-1] == pytest.approx(p.capacity_Bps * 1e-3, rel=1e-3)


def test_marking_and_event_rate_limits():
    assert _mark(10.0, 20.0, 100.0, 0.1) == 0.0
    assert _mark(60.0, 20.0, 100.0, 0.1) == pytest.approx(0.05)
    assert _mark(200.0, 20.0, 100.0, 0.1) == 1.0
    assert _event_rate(0.0, 50.0) == pytest.approx(1 / 50)
    assert _event_rate(1e-9, 50.0) == pytest.approx(1 / 50, rel=1e-6)
    assert _event_rate(1.0, 50.0) == 0.0


def test_sweep_matches_single_runs():
    base = FluidParams(t_end_s=0.01)
    rows = np.stack([base.row(), FluidParams(t_end_s=0.01, kmin_bytes=100_000).row()])
    out = fluid_sweep(rows, n_flows=2)
    assert out.shape == (2, len(SWEEP_COLUMNS))
    for j, prm in enumerate((base, FluidParams(t_end_s=0.01, kmin_bytes=100_000))):
        init = prm.line_rate_Bps * (np.arange(2) + 1) / 2
        s = fluid_run(prm, 2, init, samples=400).steady(0.5)
        assert out[j, 0] == pytest.approx(s["queue_mean_bytes"], rel=0.02)
        assert out[j, 3] == pytest.approx(s["utilisation"], rel=0.01)
    assert out[1, 0] > out[0, 0]     # higher Kmin, higher queue


def test_unmarked_recovery_follows_the_rp_stages():
    """No marking (Kmin out of reach): both counters pass F, so every increase event is a hyper increase
    of max(1, k − F + 1)·R_HAI; checked against the same ODE integrated by scipy (RK45)."""
    from scipy.integrate import solve_ivp

    p = FluidParams.from_dcqcn(dcqcn_params("nvidia", 400), ecn_params("nvidia", 400), kmin_bytes=1e15,
                               kmax_bytes=2e15, capacity_Bps=1e15, packet_bytes=1000, dt_s=0.05e-6, t_end_s=2e-3,
                               feedback_delay_s=0.05e-6)
    P = p.packet_bytes
    B, T, F, rhai, line = p.byte_counter_bytes / P, p.rate_timer_s, p.fast_recovery_steps, p.rhai_Bps / P, p.line_rate_Bps / P
    r0 = 1e9 / 8 / P                                             # start at 1 Gb/s

    def rhs(_t, y):
        rc, rt, k = y
        ev = rc / B + 1 / T
        return [(rt - rc) / 2 * ev, rhai * max(1.0, k - F + 1) * ev if rt < line else 0.0, rc / max(B, T * rc)]

    sol = solve_ivp(rhs, (0, p.t_end_s), [r0, r0, 0.0], rtol=1e-8, atol=1e-6, dense_output=True)
    r = fluid_run(p, 1, np.array([r0 * P]), samples=200)
    for j in (49, 99, 199):
        assert r.rates_Bps[j, 0] == pytest.approx(min(line, sol.sol(r.t_s[j])[0]) * P, rel=0.02)
    # and the hyper stage is what makes it fast: with R_HAI = R_AI recovery is slower
    slow = fluid_run(FluidParams(**{**p.__dict__, "rhai_Bps": p.rai_Bps}), 1, np.array([r0 * P]), samples=200)
    assert slow.rates_Bps[99, 0] < 0.5 * r.rates_Bps[99, 0]
