"""Routing fixed OCS circuits fast: flow deviation on an exponential potential (numba).

The exact evaluation of placed circuits is an LP (:meth:`optical.ocs.lp.ThroughputLp.evaluate`). On
64 blocks it has ~250K one-transit path columns and GLOP needs over a minute, so large instances
use this first-order method instead. It always returns an explicit routing over direct and
one-transit paths that fits the circuits; its throughput scale is therefore *carried* (a lower
bound on the LP optimum), never an estimate. How close it gets is measured against the LP in the
tests and in ``bench/optical.py``.

Method (Gallager's flow deviation with Newton-type line searches, as in Bertsekas & Gallager,
*Data Networks*, ch. 5, applied to the min-max problem through an exponential potential as in
Shahrokhi & Matula's max-concurrent-flow work): every demand is scaled so that the current maximum
utilisation is 1; the potential ``sum_a exp(alpha (u_a - 1))`` is minimised one demand at a time
(flow moves from each dearer path to the cheapest path until their marginal costs meet, found by a
safeguarded Newton/bisection line search), with ``alpha`` raised stage by stage
(:data:`ALPHA_STAGES`) so that the potential's minimiser approaches the minimum of the maximum
utilisation. No move pushes an arc above the current maximum by more than ``1/alpha``, so the
maximum never grows by more than that within a sweep, and the routing stays explicit throughout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit

#: Stages of the potential's steepness ``alpha`` (utilisation differences of ``1/alpha`` weigh a
#: factor e). Measured on the 64 x 64 benchmark's circuits (LP optimum 0.74132 random, 0.10462
#: skewed): these 11 stages reach 0.74123 / 0.10461 in 1.5 / 2.2 s; stopping at 6,400 with 10
#: sweeps per stage gave 0.74097 / 0.10447; starting steep stalls (no move takes an arc more than
#: ``1/alpha`` above the current maximum, so early steep stages crawl).
ALPHA_STAGES = (20.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0, 25600.0)
#: Sweeps (passes over every demand) per stage: at least SWEEPS_PER_STAGE, then until a sweep lowers
#: the maximum utilisation by less than STAGE_TOL / alpha, at most MAX_SWEEPS_PER_STAGE. Measured on
#: 30 dense 16-block instances (tests): STAGE_TOL 0.02 / 0.01 / 0.005 leave the worst instance 0.38 /
#: 0.24 / 0.16 % below the LP optimum; on 64 x 64 the evaluation takes 1.3 / 1.5 / 1.6 s (random).
#: Visiting demands in a random order instead was worse (worst 0.94 %) and slower (cache misses).
SWEEPS_PER_STAGE = 10
STAGE_TOL = 0.01
MAX_SWEEPS_PER_STAGE = 60
#: Times each demand moves flow to its cheapest path within one sweep (a demand much larger than
#: one path's spare capacity spreads over several paths per sweep instead of one).
PASSES_PER_DEMAND = 3
#: Exponents are clipped here (exp(700) is near the largest double).
_EXP_MAX = 700.0


@njit(cache=True)
def _arc_cost(load: np.ndarray, cap: np.ndarray, i: int, j: int, d: float, alpha: float) -> tuple[float, float]:
    """Marginal potential (divided by alpha) of arc i->j with ``d`` more flow, and its derivative."""
    x = alpha * ((load[i, j] + d) / cap[i, j] - 1.0)
    if x > _EXP_MAX:
        x = _EXP_MAX
    e = np.exp(x) / cap[i, j]
    return e, alpha * e / cap[i, j]


@njit(cache=True)
def _path_cost(load: np.ndarray, cap: np.ndarray, s: int, m: int, t: int, d: float,
               alpha: float) -> tuple[float, float]:
    if m == t:
        return _arc_cost(load, cap, s, t, d, alpha)
    g1, h1 = _arc_cost(load, cap, s, m, d, alpha)
    g2, h2 = _arc_cost(load, cap, m, t, d, alpha)
    return g1 + g2, h1 + h2


@njit(cache=True)
def _add(load: np.ndarray, s: int, m: int, t: int, d: float) -> None:
    if m == t:
        load[s, t] += d
    else:
        load[s, m] += d
        load[m, t] += d


@njit(cache=True)
def _refresh(load: np.ndarray, cap: np.ndarray, cost: np.ndarray, alpha: float) -> None:
    n = load.shape[0]
    for i in range(n):
        for j in range(n):
            if cap[i, j] > 0:
                cost[i, j] = _arc_cost(load, cap, i, j, 0.0, alpha)[0]


@njit(cache=True)
def _sweep(f: np.ndarray, load: np.ndarray, cap: np.ndarray, dem: np.ndarray, cost: np.ndarray,
           alpha: float, passes: int) -> None:
    """One pass over every demand; ``cost[i, j]``: cached marginal cost of arc i->j (kept current)."""
    n = load.shape[0]
    lim = 1.0 + 1.0 / alpha
    for s in range(n):
        for t in range(n):
            if s == t or dem[s, t] <= 0:
                continue
            for _ in range(passes):
                best = -1
                bc = np.inf
                for m in range(n):
                    if m == s:
                        continue
                    if m == t:
                        if cap[s, t] <= 0:
                            continue
                        g = cost[s, t]
                    else:
                        if cap[s, m] <= 0 or cap[m, t] <= 0:
                            continue
                        g = cost[s, m] + cost[m, t]
                    if g < bc:
                        bc = g
                        best = m
                if best < 0:
                    break
                moved = False
                for m in range(n):
                    if m == s or m == best or f[s, m, t] <= 0:
                        continue
                    g = cost[s, t] if m == t else cost[s, m] + cost[m, t]
                    if g <= bc * (1.0 + 1e-12):
                        continue
                    # the most that can move without the cheapest path's arcs passing lim
                    hi = f[s, m, t]
                    if best == t:
                        hi = min(hi, lim * cap[s, t] - load[s, t])
                    else:
                        hi = min(hi, lim * cap[s, best] - load[s, best], lim * cap[best, t] - load[best, t])
                    if hi <= 0:
                        continue
                    # phi(d) = cost of m after removing d - cost of best after adding d (decreasing)
                    gm, _hm = _path_cost(load, cap, s, m, t, -hi, alpha)
                    gb, _hb = _path_cost(load, cap, s, best, t, hi, alpha)
                    if gm >= gb:
                        d = hi
                    else:
                        lo, d = 0.0, 0.0
                        for _it in range(40):
                            gm, hm = _path_cost(load, cap, s, m, t, -d, alpha)
                            gb, hb = _path_cost(load, cap, s, best, t, d, alpha)
                            phi = gm - gb
                            if phi > 0:
                                lo = d
                            else:
                                hi = d
                            if abs(phi) <= 1e-6 * (gm + gb) or hi - lo <= 1e-12 * f[s, m, t]:
                                break
                            nd = d + phi / (hm + hb) if hm + hb > 0 else 0.5 * (lo + hi)
                            d = nd if lo < nd < hi else 0.5 * (lo + hi)
                    if d <= 0:
                        continue
                    f[s, m, t] -= d
                    f[s, best, t] += d
                    _add(load, s, m, t, -d)
                    _add(load, s, best, t, d)
                    moved = True
                    for a, b in ((s, m), (m, t), (s, best), (best, t)):
                        if a != b and cap[a, b] > 0:
                            cost[a, b] = _arc_cost(load, cap, a, b, 0.0, alpha)[0]
                    bc = cost[s, t] if best == t else cost[s, best] + cost[best, t]
                if not moved:
                    break


@njit(cache=True)
def _max_util(load: np.ndarray, cap: np.ndarray) -> float:
    n = load.shape[0]
    mx = 0.0
    for i in range(n):
        for j in range(n):
            if cap[i, j] > 0 and load[i, j] / cap[i, j] > mx:
                mx = load[i, j] / cap[i, j]
    return mx


@njit(cache=True)
def _initial(cap: np.ndarray, dem: np.ndarray, f: np.ndarray, load: np.ndarray) -> bool:
    """Direct path where there is a circuit, else the one-transit path of largest bottleneck."""
    n = cap.shape[0]
    for s in range(n):
        for t in range(n):
            if s == t or dem[s, t] <= 0:
                continue
            if cap[s, t] > 0:
                f[s, t, t] = dem[s, t]
                load[s, t] += dem[s, t]
                continue
            best, bb = -1, 0.0
            for m in range(n):
                if m != s and m != t and min(cap[s, m], cap[m, t]) > bb:
                    bb = min(cap[s, m], cap[m, t])
                    best = m
            if best < 0:
                return False
            f[s, best, t] = dem[s, t]
            load[s, best] += dem[s, t]
            load[best, t] += dem[s, t]
    return True


@dataclass
class Routing:
    """A routing of ``theta`` x demand over direct and one-transit paths that fits the circuits."""

    theta: float
    #: flow[s, m, t], Gb/s: demand s->t via transit m (m == t: the direct path). Scaled to ``theta``.
    flow: np.ndarray
    direct_share: float
    sweeps: int
    seconds: float
    stopped: str   # "stages done" | "time limit" | "no path" (some demand cannot be routed)


def route_fixed(cap_gbps: np.ndarray, demand_gbps: np.ndarray, *, time_limit_s: float = 10.0,
                alphas: tuple[float, ...] = ALPHA_STAGES, sweeps_per_stage: int = SWEEPS_PER_STAGE,
                max_sweeps_per_stage: int = MAX_SWEEPS_PER_STAGE, passes: int = PASSES_PER_DEMAND) -> Routing:
    """Largest ``theta`` found such that ``theta x demand`` fits ``cap_gbps`` (both n x n, Gb/s).

    ``cap_gbps[i, j]``: capacity of arc i->j (circuits x circuit rate); ``demand_gbps[s, t]``.
    Stops after the last stage or ``time_limit_s`` (checked between sweeps); either way the routing
    returned fits the capacities (checked here) and carries ``theta`` x every demand.
    """
    t0 = time.perf_counter()
    cap = np.ascontiguousarray(cap_gbps, dtype=np.float64)
    dem = np.ascontiguousarray(demand_gbps, dtype=np.float64).copy()
    n = cap.shape[0]
    np.fill_diagonal(dem, 0.0)
    f = np.zeros((n, n, n))
    load = np.zeros((n, n))
    if not dem.any():
        raise ValueError("the demand is all zero")
    if not _initial(cap, dem, f, load):
        return Routing(0.0, np.zeros((n, n, n)), 0.0, 0, time.perf_counter() - t0, "no path")
    # Work in units where the current maximum utilisation is 1: theta = scale / max utilisation.
    scale = 1.0
    cost = np.zeros((n, n))
    sweeps = 0
    stopped = "stages done"
    for alpha in alphas:
        prev = np.inf
        for k in range(max_sweeps_per_stage):
            if time.perf_counter() - t0 > time_limit_s:
                stopped = "time limit"
                break
            mu = _max_util(load, cap)
            # Next stage once a sweep gains less than STAGE_TOL / alpha (after the minimum sweeps).
            if k >= sweeps_per_stage and prev - mu < STAGE_TOL / alpha:
                break
            prev = 1.0   # units are rescaled below: the maximum utilisation is 1 after this
            f /= mu
            load /= mu
            dem /= mu
            scale /= mu
            _refresh(load, cap, cost, alpha)
            _sweep(f, load, cap, dem, cost, alpha, passes)
            sweeps += 1
        if stopped != "stages done":
            break
    mu = _max_util(load, cap)
    f /= mu
    scale /= mu
    # The routing fits (max utilisation 1 up to rounding) and carries scale x the original demand;
    # recount the loads from the path flows alone so that a kernel bug cannot pass as a result.
    loads = arc_loads(f)
    if (loads > cap * (1 + 1e-9) + 1e-9).any():
        raise RuntimeError("flow deviation produced a routing over capacity (a bug: please report)")
    direct = float(np.einsum("ii->", f.sum(axis=0)))
    total = float(f.sum())
    return Routing(scale, f, direct / total if total > 0 else 0.0, sweeps, time.perf_counter() - t0, stopped)


def arc_loads(flow: np.ndarray) -> np.ndarray:
    """Arc loads of a flow[s, m, t] array (independent of the kernels: numpy sums)."""
    n = flow.shape[0]
    idx = np.arange(n)
    direct = flow[:, idx, idx]                    # direct[s, t] = flow[s, t, t]
    transit = flow.copy()
    transit[:, idx, idx] = 0.0
    return direct + transit.sum(axis=2) + transit.sum(axis=0)   # first legs s->m, second legs m->t
