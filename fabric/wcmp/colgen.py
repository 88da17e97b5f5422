"""The min-MLU LP by column generation over paths, started from a routing: the previous one after a
failure (warm recompute), ECMP on a cold solve.

After a failure the arc LP of a touched component (:class:`fabric.wcmp.lp.ComponentLP`) is as large as
the cold one, and GLOP warm-started from the old basis is no faster than a cold solve (measured on the
8,192-GPU rail fabric with shuffled rings: 21.5K variables, 2.3 s cold, 4.0 s warm primal, 9.1 s warm
dual). This module solves the same LP in its path form instead:

    minimise U   subject to   Σ_c x_c,j = 1 for every commodity c (a source node s and destination key D),
                              Σ_c,j r_c a_c,j(u→v) x_c,j ≤ U · capacity(u→v)   for every directed bundle,

where a column j of commodity c is a unit flow from s to D in D's candidate DAG (a_c,j(e) the share of
it on e). The first column of every commodity is its *previous* routing (the old per-node splits of D,
renormalised over the arcs that are still up; equal splits where a node has none of its old arcs left),
so the restricted master starts next to the old solution. Pricing is a shortest path towards D over
the DAG with arc costs from the capacity rows' duals (one dynamic programme per destination, all its
sources at once); a column with negative reduced cost is added, the master re-solved (GLOP, warm), and
this repeats until no column prices out (the path LP optimum = the arc LP optimum: every arc flow of
a DAG decomposes into paths) or until U reaches a proven lower bound (the cut bound of the failed
fabric, or the previous optimum when the DAGs only shrank: taking links away never lowers the
optimum). A per-destination arc flow realises exactly as per-(switch, destination) splits, as in the
arc LP.

The master is kept small by writing it as *deviations* from the previous routing: the previous
routing (repaired as above) is a constant base load, and a column y_c,p moves a fraction of commodity
c from its base pattern onto path p (Σ_p y_c,p ≤ 1), so only commodities that actually move enter
the master (on the shuffled-ring benchmark: tens of columns instead of 21.5K arc variables).

The second phase keeps U within BALANCE_U_TOL of the optimum and minimises the traffic moved off the
starting routing (Σ r_c y_c,p, priced the same way): cold, the traffic moved off ECMP; after a
failure, off the previous routing, so a failure changes as few splits as it must and everything else
keeps its previous split. (The arc LP's balancing minimises the L1 distance of each split from ECMP
instead; both are optimal for U.) It runs within a time budget and is never skipped for size.
"""

from __future__ import annotations

import time
from collections import defaultdict
from functools import partial
from typing import Any

import numpy as np
from ortools.linear_solver import pywraplp

from fabric.errors import InfeasibleError
from fabric.wcmp.lp import BALANCE_U_TOL, Dest, Edge, ecmp_share, succ_by_u
from fabric.wcmp.paths import Network

#: Reduced-cost tolerance for adding a column (relative to a unit of U; *assumption*: GLOP's own
#: optimality tolerance is 1e-7, so cheaper columns than that are noise).
PRICE_TOL = 1e-7
#: Relative tolerance for stopping at a lower bound: U within this of a proven bound is optimal.
BOUND_TOL = 1e-9
#: Relative gap at which the Lagrangian bound ends phase 1 (*assumption*: 1e-9, below GLOP's own
#: feasibility tolerance of 1e-7, so the answer is as optimal as the arc LP's).
LAGRANGE_TOL = 1e-9
#: Time budget of the recompute's second phase: this many times the phase-1 time, at least
#: BALANCE_CG_MIN_S (*assumption*, as for the arc LP's balancing: a refinement must not cost more than
#: the answer; on the benchmark's shuffled rings it converges in about 40 rounds).
BALANCE_CG_FACTOR = 1.0
BALANCE_CG_MIN_S = 0.02
#: At most this many columns per commodity and round, through its cheapest first hops (*assumption*,
#: measured on the benchmark: two failures at once took 78 rounds with 1 column per commodity, 22 with
#: 8; one failure took 3 rounds with 1 and was slower with 8, hence the doubling schedule).
PATHS_PER_COMMODITY = 8
#: Column-generation rounds before giving up (the caller then solves the arc LP cold).
MAX_ROUNDS = 200

_OK = (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)
Commodity = tuple[str, str]  # (destination key D, injection node)


class PathLP:
    """The min-MLU LP of one component in path form, as deviations from an old routing (see module doc)."""

    def __init__(self, net: Network, dests: list[Dest], old_flows: dict[tuple[str, str, str], float],
                 time_limit_s: float) -> None:
        self.net, self.dests, self.time_limit_s = net, dests, time_limit_s
        s = pywraplp.Solver.CreateSolver("GLOP")
        if s is None:  # pragma: no cover - GLOP ships with the ortools wheel
            raise InfeasibleError("OR-Tools has no GLOP solver in this build")
        s.SetSolverSpecificParametersAsString("use_preprocessing: false")
        self.s = s
        self.U = s.NumVar(0.0, s.infinity(), "U")
        self.name = "GLOP"  # the solver; the method (column generation) shows as type(planner.comp_lp[c])
        self.rounds = 0
        self.phase1_s = 0.0
        #: best Lagrangian lower bound seen while pricing phase 1
        self.lagrange_bound = 0.0
        self.split = {d.key: _old_split(net, d, old_flows) for d in dests}
        self.base: dict[tuple[str, str, str], float] = {}
        for d in dests:
            for (u, v), x in _propagate_many(d, d.inj, self.split[d.key]).items():
                self.base[(d.key, u, v)] = x
        load: dict[Edge, float] = defaultdict(float)
        for (_k, u, v), x in self.base.items():
            load[(u, v)] += x
        self.arcs = sorted({e for d in dests for e in d.edges})
        self.arc_index = {e: i for i, e in enumerate(self.arcs)}
        self.cap = {e: net.capacity_gbps(*e) for e in self.arcs}
        self._pricers = [_Pricer(d, self.split[d.key], self.arc_index) for d in dests]
        self.cap_rows: dict[Edge, Any] = {}
        for e, x in load.items():
            c = self.cap[e]
            row = self.cap_rows[e] = s.Constraint(-s.infinity(), -x / c)
            row.SetCoefficient(self.U, -1.0)
        self.conv: dict[Commodity, Any] = {}
        self.rate = {(d.key, src): r for d in dests for src, r in d.inj.items()}
        self.pattern: dict[Commodity, dict[Edge, float]] = {}
        self.cols: list[tuple[Any, Commodity, dict[Edge, float]]] = []
        self._moved_obj = False
        self._scale = 1.0 / max(sum(self.rate.values()), 1e-12)

    # ------------------------------------------------------------------ master
    def _cap_row(self, e: Edge) -> Any:
        row = self.cap_rows.get(e)
        if row is None:  # an arc no base flow uses
            row = self.cap_rows[e] = self.s.Constraint(-self.s.infinity(), 0.0)
            row.SetCoefficient(self.U, -1.0)
        return row

    def _add_column(self, c: Commodity, path: dict[Edge, float]) -> None:
        s = self.s
        pat = self.pattern.get(c)
        if pat is None:
            d = next(d for d in self.dests if d.key == c[0])
            pat = self.pattern[c] = _propagate_many(d, {c[1]: 1.0}, self.split[c[0]])
            self.conv[c] = s.Constraint(-s.infinity(), 1.0)
        delta = dict(path)
        for e, a in pat.items():
            delta[e] = delta.get(e, 0.0) - a
        x = s.NumVar(0.0, s.infinity(), "")
        self.conv[c].SetCoefficient(x, 1.0)
        r = self.rate[c]
        for e, a in delta.items():
            if a != 0.0:
                self._cap_row(e).SetCoefficient(x, r * a / self.cap[e])
        if self._moved_obj:
            s.Objective().SetCoefficient(x, r * self._scale)
        self.cols.append((x, c, delta))

    def _solve_master(self, deadline: float) -> int:
        left = deadline - time.perf_counter()
        self.s.SetTimeLimit(max(1, int(left * 1000)))
        return self.s.Solve()

    # ------------------------------------------------------------------ pricing
    def _price(self) -> int:
        """Add the cheapest path of every commodity whose column has a negative reduced cost; returns
        how many (duals are read first: OR-Tools drops the solution as soon as the model changes)."""
        w = np.zeros(len(self.arcs) + 1)  # the last slot: arcs without a row (dual 0)
        dual_sum = 0.0
        for e, row in self.cap_rows.items():
            y = max(0.0, -row.dual_value())
            dual_sum += y
            w[self.arc_index[e]] = y / self.cap[e]
        lagrange = 0.0
        k = min(PATHS_PER_COMMODITY, 1 << (self.rounds // 2))
        sigma = {c: row.dual_value() for c, row in self.conv.items()}
        new: list[tuple[Commodity, dict[Edge, float]]] = []
        for d, pr in zip(self.dests, self._pricers, strict=True):
            best = np.full(len(pr.nodes), np.inf)
            best[pr.root] = 0.0
            mean = np.zeros(len(pr.nodes))  # cost of following the base split
            for g in pr.levels:
                we = w[pr.arc[g]]
                np.minimum.at(best, pr.u[g], we + best[pr.v[g]])
                np.add.at(mean, pr.u[g], pr.p[g] * (we + mean[pr.v[g]]))
            lagrange += float(pr.rate @ best[pr.src])
            obj = self._scale if self._moved_obj else 0.0
            rc = pr.rate * (obj + best[pr.src] - mean[pr.src])
            for i in np.flatnonzero(rc < PRICE_TOL):
                c = (d.key, pr.nodes[pr.src[i]])
                floor = min(sigma.get(c, 0.0), 0.0)
                if rc[i] - floor >= -PRICE_TOL:
                    continue
                src, r = c[1], pr.rate[i]

                def cost(u: str, v: str, best: np.ndarray = best, pr: _Pricer = pr) -> float:
                    return float(w[self.arc_index.get((u, v), -1)] + best[pr.index[v]])

                # the cheapest path through each of the k cheapest first hops whose column prices out:
                # k doubles every two rounds up to PATHS_PER_COMMODITY (min-max LPs are degenerate, and
                # one path per round crawls when many commodities must move)
                firsts = sorted(self.net.successors(src, d.key), key=partial(cost, src))
                for v0 in firsts[:k]:
                    if r * (obj + cost(src, v0) - mean[pr.src[i]]) - floor >= -PRICE_TOL:
                        break
                    path: dict[Edge, float] = {(src, v0): 1.0}
                    u = v0
                    while u != d.key:
                        v = min(self.net.successors(u, d.key), key=partial(cost, u))
                        path[(u, v)] = 1.0
                        u = v
                    new.append((c, path))
        for c, path in new:
            self._add_column(c, path)
        if not self._moved_obj:
            # Lagrangian bound: for duals w >= 0 of the capacity rows summing to 1 (U's reduced cost is 0),
            # sum_c r_c * shortest_w(c) is a lower bound on the LP (weak duality)
            if dual_sum > 0:
                self.lagrange_bound = max(self.lagrange_bound, lagrange / dual_sum)
        return len(new)

    # ------------------------------------------------------------------ phases
    def solve_min(self, lower: float) -> tuple[str, float, float]:
        """Column generation until no column prices out or U reaches ``lower`` (a proven bound).
        Returns (status, U, bound); status FEASIBLE when it ran out of rounds or time."""
        t0 = time.perf_counter()
        deadline = t0 + self.time_limit_s
        obj = self.s.Objective()
        obj.SetCoefficient(self.U, 1.0)
        obj.SetMinimization()
        while True:
            st = self._solve_master(deadline)
            if st not in _OK:
                raise InfeasibleError(f"the path LP ended with status {st} (GLOP column generation)", where="wcmp")
            u = self.U.solution_value()
            self.phase1_s = time.perf_counter() - t0
            if u <= lower * (1 + BOUND_TOL) + 1e-12:
                return "OPTIMAL", u, min(lower, u)
            self.rounds += 1
            if self.rounds > MAX_ROUNDS or time.perf_counter() > deadline:
                return "FEASIBLE", u, max(lower, self.lagrange_bound)
            if self._price() == 0:
                return "OPTIMAL", u, u
            if u <= self.lagrange_bound * (1 + LAGRANGE_TOL):  # this master's U is within tolerance of a bound
                return "OPTIMAL", u, max(lower, self.lagrange_bound)

    def solve_balance(self, u_star: float) -> bool:
        """Phase 2: U kept, traffic moved off the previous routing minimised, first over the columns of
        phase 1, then with pricing for at most BALANCE_CG_FACTOR x the phase-1 time (at least
        BALANCE_CG_MIN_S). False when that budget ran out first: the best split found so far stands
        (every master solution keeps U, each one moves no more traffic than the one before)."""
        budget = min(self.time_limit_s, max(BALANCE_CG_MIN_S, BALANCE_CG_FACTOR * self.phase1_s))
        deadline = time.perf_counter() + budget
        self.U.SetUb(u_star * (1 + BALANCE_U_TOL) + 1e-12)
        obj = self.s.Objective()
        obj.Clear()
        self._moved_obj = True
        for x, c, _delta in self.cols:
            obj.SetCoefficient(x, self.rate[c] * self._scale)
        obj.SetMinimization()
        while True:
            # a solution of the previous master stays feasible, so this only fails on a time-out
            if self._solve_master(max(deadline, time.perf_counter() + 1.0)) not in _OK:
                raise InfeasibleError("the path LP's second phase found no solution in time", where="wcmp")
            self.rounds += 1
            if self.rounds > 2 * MAX_ROUNDS or time.perf_counter() > deadline:
                return False
            if self._price() == 0:
                return True
            if time.perf_counter() > deadline:  # re-solve once so that the new columns' solution counts
                if self._solve_master(time.perf_counter() + self.time_limit_s) not in _OK:
                    raise InfeasibleError("the path LP's second phase lost its solution", where="wcmp")
                return False

    # ------------------------------------------------------------------ result
    def flows(self) -> dict[tuple[str, str, str], float]:
        out = dict(self.base)
        for x, c, delta in self.cols:
            val = x.solution_value()
            if val > 0:
                r = self.rate[c] * val
                for (u, v), a in delta.items():
                    k = (c[0], u, v)
                    out[k] = out.get(k, 0.0) + r * a
        for d in self.dests:
            for u, v in d.edges:
                k = (d.key, u, v)
                out[k] = max(out.get(k, 0.0), 0.0)
        return out

    @property
    def variables(self) -> int:
        return int(self.s.NumVariables())

    @property
    def constraints(self) -> int:
        return int(self.s.NumConstraints())

    @property
    def columns(self) -> int:
        return len(self.cols)


class _Pricer:
    """One destination's DAG as arrays for vectorised pricing: edges grouped by the level of their tail
    (longest hop count to D), so that each group only reads nodes of lower levels."""

    def __init__(self, d: Dest, split: dict[str, list[tuple[str, float]]], arc_index: dict[Edge, int]) -> None:
        self.nodes = list(d.order)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.root = self.index[d.key]
        level = {d.key: 0}
        by_u = succ_by_u(d)
        for n in reversed(d.order):
            if n != d.key:
                level[n] = 1 + max((level[v] for v in by_u.get(n, ()) if v in level), default=0)
        edges = sorted(d.edges, key=lambda e: level[e[0]])
        share = {(u, v): p for u, vs in split.items() for v, p in vs}
        self.u = np.array([self.index[u] for u, _v in edges], dtype=np.int64)
        self.v = np.array([self.index[v] for _u, v in edges], dtype=np.int64)
        self.arc = np.array([arc_index[e] for e in edges], dtype=np.int64)
        self.p = np.array([share.get(e, 0.0) for e in edges])
        lv = np.array([level[u] for u, _v in edges], dtype=np.int64)
        self.levels = [np.flatnonzero(lv == k) for k in np.unique(lv)]
        srcs = list(d.inj)
        self.src = np.array([self.index[x] for x in srcs], dtype=np.int64)
        self.rate = np.array([d.inj[x] for x in srcs])


def _old_split(net: Network, d: Dest, old: dict[tuple[str, str, str], float]) -> dict[str, list[tuple[str, float]]]:
    """Per node of D's (new) DAG, the old split over the arcs still in it; equal splits where none is."""
    out: dict[str, list[tuple[str, float]]] = {}
    for u, succ in succ_by_u(d).items():
        w = [(v, old.get((d.key, u, v), 0.0)) for v in succ]
        tot = sum(x for _v, x in w)
        if tot > 1e-12:
            out[u] = [(v, x / tot) for v, x in w if x > 0]
        else:
            share = ecmp_share(net, u, succ)
            out[u] = [(v, share[v]) for v in succ]
    return out


def _propagate_many(d: Dest, inj: dict[str, float], split: dict[str, list[tuple[str, float]]]) -> dict[Edge, float]:
    """Arc flows towards D when ``inj`` enters and every node splits as ``split`` (DAG order)."""
    thr: dict[str, float] = dict(inj)
    arcs: dict[Edge, float] = {}
    for u in d.order:
        x = thr.get(u, 0.0)
        if x <= 0 or u == d.key:
            continue
        for v, p in split[u]:
            arcs[(u, v)] = arcs.get((u, v), 0.0) + x * p
            thr[v] = thr.get(v, 0.0) + x * p
    return arcs
