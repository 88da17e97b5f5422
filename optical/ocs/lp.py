"""The throughput LP of OCS planning, solved by column generation with GLOP (see :mod:`optical.ocs`)."""

from __future__ import annotations

import time
from typing import Any

from optical.ocs.spec import OcsSpec, Pair

#: One-transit paths each demand starts with when circuits are evaluated.
SEED_TRANSIT = 4
#: Improving transit paths added per demand and round when circuits are evaluated. Measured on the
#: 64 x 64 benchmark: 8 takes the skewed evaluation from 6.0-7.2 s (3 per demand) to
#: 3.2-3.8 s; the random one converges in 3-4 rounds either way (59-69 s, load-dependent).
EVAL_PER_DEMAND = 8
#: Transit paths the bound's column generation adds per round, in total: ``max(3, this / demands)``
#: per demand (at most one per transit block). 3 per demand suits the dense 64-block demand (4,032
#: demands, 14 rounds, 3.4 s; 8 per demand: 3.5 s); sparse demands need more per demand or they
#: take ~100 rounds: pipeline jobs on 64 blocks (448 demands) 105 rounds 11.9 s with 3, 19 rounds
#: 2.7 s with 64; a permutation (64 demands) 97 rounds 4.0 s with 3, 11 rounds 0.8 s with 64.
BOUND_COLUMNS_PER_ROUND = 12_096


class ThroughputLp:
    """Throughput LP over direct and one-transit paths (GLOP), solved by column generation.

    One model is kept: :meth:`bound` solves it with the circuits free, :meth:`evaluate` bounds the
    circuits to fixed values and re-solves from the previous basis, :meth:`min_change` switches to
    the L1-closest circuits that reach a throughput. Transit paths ``s->m->t`` are priced with the
    duals: a column's reduced cost is ``-(sigma_st + sum of its arc duals)``, and a path that would
    improve the objective is added until none does, so each result is the optimum over all
    one-transit paths (checked against a full LP in the tests).
    """

    def __init__(self, spec: OcsSpec, demand: dict[tuple[int, int], float]) -> None:
        from ortools.linear_solver import pywraplp

        self.spec = spec
        self.demand = demand
        nb = len(spec.blocks)
        self.nb = nb
        self.pairs: list[Pair] = [(i, j) for i in range(nb) for j in range(i + 1, nb) if spec.capable(i, j)]
        self.pair_set = set(self.pairs)
        self.pw = pywraplp
        lp = pywraplp.Solver.CreateSolver("GLOP")
        # Presolve off: re-solves after adding columns or changing bounds were 3-4x faster (measured).
        lp.SetSolverSpecificParametersAsString("use_preprocessing: false")
        self.lp = lp
        inf = lp.infinity()
        self.theta = lp.NumVar(0.0, inf, "theta")
        c = spec.circuit_gbps
        self.ub = {p: float(min(spec.uplinks[p[0]], spec.uplinks[p[1]])) for p in self.pairs}
        self.n: dict[Pair, Any] = {}
        self.arc_row: dict[tuple[int, int], Any] = {}
        for p in self.pairs:
            self.n[p] = lp.NumVar(0.0, self.ub[p], "")
            for i, j in (p, p[::-1]):
                row = lp.Constraint(-inf, 0.0)
                row.SetCoefficient(self.n[p], -c)
                self.arc_row[i, j] = row
        for i in range(nb):
            terms = [self.n[p] for p in self.pairs if i in p]
            if terms:
                lp.Add(lp.Sum(terms) <= spec.uplinks[i])
        self.dem_row: dict[tuple[int, int], Any] = {}
        self.z: dict[tuple[int, int], Any] = {}
        self.cols: dict[tuple[int, int], list[tuple[int, Any]]] = {}
        import numpy as np

        # has_col[s, m, t]: column s->m->t exists (m == t: the direct path s->t); direct_col: those.
        self.has_col = np.zeros((nb, nb, nb), dtype=bool)
        self.direct_col: dict[tuple[int, int], Any] = {}
        for (s, t), d in demand.items():
            row = lp.Constraint(0.0, 0.0)
            row.SetCoefficient(self.theta, -d)
            # Extra throughput of this demand beyond theta: off (bounds 0) except while spreading.
            zv = lp.NumVar(0.0, 0.0, "")
            row.SetCoefficient(zv, -d)
            self.z[s, t] = zv
            self.dem_row[s, t] = row
            self.cols[s, t] = []
            if self.has(s, t):
                self._add(s, t, -1)
            else:
                for mid in range(nb):
                    if mid not in (s, t) and self.has(s, mid) and self.has(mid, t):
                        self._add(s, t, mid)
        lp.Maximize(self.theta)
        self.minimising = False
        self.theta_min_row: Any = None

    def has(self, i: int, j: int) -> bool:
        return (min(i, j), max(i, j)) in self.pair_set

    def _add(self, s: int, t: int, mid: int) -> None:
        x = self.lp.NumVar(0.0, self.lp.infinity(), "")
        self.dem_row[s, t].SetCoefficient(x, 1.0)
        if mid < 0:
            self.arc_row[s, t].SetCoefficient(x, 1.0)
        else:
            self.arc_row[s, mid].SetCoefficient(x, 1.0)
            self.arc_row[mid, t].SetCoefficient(x, 1.0)
        self.cols[s, t].append((mid, x))
        if mid < 0:
            self.direct_col[s, t] = x
            self.has_col[s, t, t] = True
        else:
            self.has_col[s, mid, t] = True

    def add_columns_of(self, other: ThroughputLp) -> None:
        """Start with every path column ``other`` (the same spec and demand) has generated, so that a
        second model (:meth:`min_change`) skips the column generation the first one already did."""
        for (s, t), cl in other.cols.items():
            for mid, _x in cl:
                if not self.has_col[s, mid if mid >= 0 else t, t]:
                    self._add(s, t, mid)

    def bound(self) -> dict[str, Any]:
        """Circuits free within the block degrees: the LP bound on the throughput scale."""
        for p, v in self.n.items():
            v.SetBounds(0.0, self.ub[p])
        return self._run(per_demand=self._per_round())

    def _per_round(self) -> int:
        """Transit columns per demand and round while the circuits are free (BOUND_COLUMNS_PER_ROUND)."""
        return max(3, min(max(1, self.nb - 2), BOUND_COLUMNS_PER_ROUND // max(1, len(self.demand))))

    def evaluate(self, fixed: dict[Pair, int], *, stop_at: float | None = None,
                 time_limit_s: float | None = None) -> dict[str, Any]:
        """Throughput scale of fixed integer circuits (``stop_at``: a known upper bound).

        Max-concurrent-flow LPs are degenerate: only the bottleneck demands get non-zero duals, so
        plain column generation adds a handful of paths per round. Two things make it converge in
        few rounds: every demand starts with its direct path and its ``SEED_TRANSIT`` one-transit
        paths of largest fixed bottleneck, and a first phase also rewards each demand's throughput
        beyond theta (weight 1e-3 in total), which gives every demand a price; the second phase
        drops that reward and prices until theta is optimal.
        """
        t0 = time.perf_counter()
        for p, v in self.n.items():
            v.SetBounds(0.0, float(fixed.get(p, 0)))

        import numpy as np

        nb = self.nb
        capm = np.zeros((nb, nb))
        for (i, j), v in fixed.items():
            capm[i, j] = capm[j, i] = v
        # bott[s, m, t]: the fixed bottleneck of s->m->t (0: no such path)
        bott = np.minimum(capm[:, :, None], capm[None, :, :])
        idx = np.arange(nb)
        bott[idx, idx, :] = 0.0
        bott[:, idx, idx] = 0.0
        for (s, t), cl in self.cols.items():
            n_have = len(cl)
            if self.has(s, t) and not self.has_col[s, t, t]:
                self._add(s, t, -1)
            need = SEED_TRANSIT - n_have
            if need <= 0:
                continue
            b = np.where(self.has_col[s, :, t], 0.0, bott[s, :, t])
            b[t] = 0.0
            # largest bottleneck first, ties by the transit block's index (seeding with the cheapest
            # paths under the bound's arc duals instead was measured worse: 0.736 vs 0.741 in 60 s)
            for mid in np.argsort(-b, kind="stable")[:need]:
                if b[mid] > 0:
                    self._add(s, t, int(mid))
        c = self.spec.circuit_gbps
        caps = {(i, j): c * float(capm[i, j]) for (i, j) in self.arc_row}
        obj = self.lp.Objective()
        total = sum(self.demand.values())
        for key, zv in self.z.items():
            zv.SetBounds(0.0, self.lp.infinity())
            obj.SetCoefficient(zv, 1e-3 * self.demand[key] / total)
        half = None if time_limit_s is None else time_limit_s / 3
        r1 = self._run(time_limit_s=half, per_demand=EVAL_PER_DEMAND)
        for zv in self.z.values():
            zv.SetBounds(0.0, 0.0)
            obj.SetCoefficient(zv, 0.0)
        left = None if time_limit_s is None else max(1.0, time_limit_s - (time.perf_counter() - t0))
        r = self._run(stop_at=stop_at, time_limit_s=left, per_demand=EVAL_PER_DEMAND, caps=caps)
        if r["status"] != "OPTIMAL" or (r1["status"] == "OPTIMAL" and r1["theta"] > r["theta"]):
            # Phase 1's routing carries its theta too (every demand gets at least theta x demand).
            # (If phase 2 stopped within eps of its dual bound, phase 1's higher theta is too.)
            done = r["status"] == "OPTIMAL" and r["converged"]
            r = {**r1, "converged": done, "upper": r.get("upper")}
        if stop_at is not None and r["status"] == "OPTIMAL" and r["theta"] >= stop_at * (1 - 1e-9):
            r["converged"] = True   # it meets an upper bound: optimal
        r["n"] = dict(fixed)
        r["seconds"] = time.perf_counter() - t0
        return r

    def min_change(self, theta_min: float, current: dict[Pair, int], *,
                   time_limit_s: float | None = None) -> dict[str, Any]:
        """Circuits closest (L1) to ``current`` that carry ``theta_min`` x demand (``time_limit_s``:
        the column generation stops there with the closest circuits found so far, still carrying it)."""
        lp = self.lp
        inf = lp.infinity()
        for p, v in self.n.items():
            v.SetBounds(0.0, self.ub[p])
        if not self.minimising:
            self.theta_min_row = lp.Constraint(0.0, inf)
            self.theta_min_row.SetCoefficient(self.theta, 1.0)
            obj = lp.Objective()
            obj.Clear()
            for p in self.pairs:
                dv = lp.NumVar(0.0, inf, "")
                lo = lp.Constraint(-float(current.get(p, 0)), inf)   # dv - n >= -cur
                lo.SetCoefficient(dv, 1.0)
                lo.SetCoefficient(self.n[p], -1.0)
                hi = lp.Constraint(float(current.get(p, 0)), inf)    # dv + n >= cur
                hi.SetCoefficient(dv, 1.0)
                hi.SetCoefficient(self.n[p], 1.0)
                obj.SetCoefficient(dv, 1.0)
            obj.SetMinimization()
            self.minimising = True
        self.theta_min_row.SetLb(theta_min)
        return self._run(per_demand=self._per_round(), time_limit_s=time_limit_s)

    def _run(self, max_rounds: int = 1000, time_limit_s: float | None = None, stop_at: float | None = None,
             per_demand: int = 3, caps: dict[tuple[int, int], float] | None = None,
             eps: float = 1e-4) -> dict[str, Any]:
        """Solve, price, add up to ``per_demand`` improving transit paths per demand, repeat.

        Stops when nothing prices out (optimal), when theta reaches ``stop_at`` (an upper bound
        known from elsewhere: optimal too), or after ``time_limit_s`` (then theta is still carried by
        the routing found, just perhaps not the best one: ``converged`` is False).

        With fixed arc capacities ``caps`` every round also computes the max-concurrent-flow dual
        bound ``theta <= sum_a cap_a pi_a / sum_st D_st dist_pi(s, t)`` (valid for any arc prices
        pi >= 0; here the duals) and stops once theta is within ``eps`` of it.
        """
        import numpy as np

        pw = self.pw
        nb = self.nb
        names = {pw.Solver.OPTIMAL: "OPTIMAL", pw.Solver.FEASIBLE: "FEASIBLE",
                 pw.Solver.INFEASIBLE: "INFEASIBLE", pw.Solver.UNBOUNDED: "UNBOUNDED"}
        t0 = time.perf_counter()
        rounds = 0
        st = "NOT_SOLVED"
        converged = False
        upper = float("inf")
        sign = -1.0 if self.minimising else 1.0
        last: dict[str, Any] | None = None
        while True:
            if time_limit_s is not None:
                self.lp.SetTimeLimit(int(1000 * max(0.2, time_limit_s - (time.perf_counter() - t0))))
            status = self.lp.Solve()
            rounds += 1
            st = names.get(status, "NOT_SOLVED")
            if st != "OPTIMAL":
                if last is not None:   # cut by the time limit: the previous columns' optimum stands
                    st = "OPTIMAL"
                break
            last = self._snapshot()
            if stop_at is not None and not self.minimising and self.theta.solution_value() >= stop_at * (1 - 1e-9):
                converged = True
                break
            if rounds >= max_rounds or (time_limit_s is not None and time.perf_counter() - t0 > time_limit_s):
                break
            # Reduced cost of a path column (objective 0) is -(sigma_st + sum of its arc duals): it
            # improves a maximisation when positive, a minimisation when negative.
            P = np.full((nb, nb), np.inf)
            for (i, j), row in self.arc_row.items():
                P[i, j] = sign * row.dual_value()
            both = P[:, :, None] + P[None, :, :]          # both[s, m, t] = P[s, m] + P[m, t]
            if caps is not None and not self.minimising:
                dist = np.minimum(P, np.min(both, axis=1))
                alpha = sum(d * dist[s, t] for (s, t), d in self.demand.items())
                if alpha > 0 and np.isfinite(alpha):
                    ub = sum(cap * max(0.0, P[a]) for a, cap in caps.items()) / alpha
                    upper = min(upper, ub)
                    if self.theta.solution_value() >= upper * (1 - eps):
                        converged = True
                        break
            new = self._price(both, sign, per_demand)
            if not new:
                converged = True
                break
            for s, t, mid in new:   # the whole solution was read above: the model changes now
                self._add(s, t, mid)
        secs = time.perf_counter() - t0
        self.lp.SetTimeLimit(3_600_000)
        out: dict[str, Any] = {"status": st, "seconds": secs, "rounds": rounds, "converged": converged,
                               "upper": upper if np.isfinite(upper) else None,
                               "columns": sum(len(cl) for cl in self.cols.values())}
        if last is None:
            return {**out, "status": st if st != "OPTIMAL" else "NOT_SOLVED", "theta": 0.0, "n": {},
                    "direct_share": 0.0, "value": {}}
        return {**out, **last}

    def _price(self, both: Any, sign: float, per_demand: int) -> list[tuple[int, int, int]]:
        """Up to ``per_demand`` new transit columns per demand with positive reduced cost, best first."""
        import numpy as np

        nb = self.nb
        sig = np.full((nb, nb), np.nan)
        for (s, t), row in self.dem_row.items():
            sig[s, t] = sign * row.dual_value()
        score = -sig[:, None, :] - both                       # score[s, m, t]
        tol = 1e-9 * np.maximum(1.0, np.abs(sig))[:, None, :]
        ok = (score > tol) & ~self.has_col
        idx = np.arange(nb)
        ok[idx, idx, :] = False                                 # m == s
        ok[:, idx, idx] = False                                 # m == t (the direct slot)
        s_, m_, t_ = np.nonzero(ok)
        if s_.size == 0:
            return []
        sc = score[s_, m_, t_]
        order = np.lexsort((m_, -sc, t_, s_))                  # per demand: best score first
        s_, m_, t_ = s_[order], m_[order], t_[order]
        key = s_ * nb + t_
        first = np.r_[0, np.nonzero(np.diff(key))[0] + 1]
        rank = np.arange(key.size) - np.repeat(first, np.diff(np.r_[first, key.size]))
        keep = rank < per_demand
        return [(int(a), int(b), int(c)) for a, c, b in zip(s_[keep], m_[keep], t_[keep], strict=True)]

    def _snapshot(self) -> dict[str, Any]:
        """Everything read from the current solution (the model may change afterwards)."""
        sign = -1.0 if self.minimising else 1.0
        th = self.theta.solution_value()
        # Each demand row reads sum(paths) = D x (theta + z): the total without reading every column.
        total = sum(d * (th + self.z[k].solution_value()) for k, d in self.demand.items())
        direct = sum(x.solution_value() for x in self.direct_col.values())
        return {"theta": th, "direct_share": direct / total if total > 0 else 0.0,
                "n": {p: v.solution_value() for p, v in self.n.items()},
                "value": {p: max(0.0, sign * v.reduced_cost()) for p, v in self.n.items()}}


