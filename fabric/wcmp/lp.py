"""The min-MLU LP per component of destinations, its cut lower bound, and hop-by-hop evaluation.

Demand is grouped by destination key D (see :mod:`fabric.wcmp.paths`); each D has a region (nodes its
sources reach in the candidate DAG), edges and an order. Destinations that share no directed link
form independent components (:func:`components`); :class:`ComponentLP` is the arc-based LP of one
component (OR-Tools GLOP or PDLP). The planner solves components by column generation over paths
(:mod:`fabric.wcmp.colgen`) and uses this arc LP for PDLP, as the fallback, and as a test oracle.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from ortools.linear_solver import pywraplp

from fabric.errors import ConfigError, InfeasibleError
from fabric.traffic import Demand
from fabric.wcmp.paths import Network
from fabric.wcmp.reduce import Weights

#: simplex memory/time grows faster than first-order methods on our instances).
PDLP_AUTO_VARS = 400_000
#: Tolerance on U in the balancing phase (relative).
BALANCE_U_TOL = 1e-7
#: Time budget of the balancing phase: this many times the phase-1 solve time, at least
#: BALANCE_MIN_S (*assumption*: balancing is a refinement; on a time-out the phase-1 split is kept).
BALANCE_TIME_FACTOR = 2.0
BALANCE_MIN_S = 1.0
#: Components with more flow variables than this skip the balancing phase (*assumption* from our
#: measurements: on a 21K-variable component GLOP's balancing phase ran past 60 s).
BALANCE_MAX_VARS = 10_000



# ============================================================================ problem
Edge = tuple[str, str]
Loads = dict[tuple[str, str, int], float]  # directed member link (u, v, key) -> Gb/s


@dataclass
class Dest:
    """Everything about one destination key D: its sources, region, DAG edges and order."""

    key: str
    inj: dict[str, float]
    nodes: set[str]
    edges: list[Edge]
    order: list[str]

    @property
    def bundles(self) -> set[Edge]:
        return set(self.edges)


def demand_by_key(net: Network, demand: Demand) -> tuple[dict[str, dict[str, float]], dict[Edge, float]]:
    if not demand.flows:
        raise ConfigError("the demand has no flows")
    inj: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    access: dict[Edge, float] = defaultdict(float)
    for (s, d), rate in demand.matrix().items():
        for e in (s, d):
            if e not in net.fabric:
                raise ConfigError(f"demand names unknown endpoint {e!r}")
        for a in (net.access(s, outbound=True), net.access(d, outbound=False)):
            if a is not None:
                access[a] += rate
        start, key = net.inject(s), net.dst_key(d)
        if start != key:
            inj[key][start] += rate
    return {k: dict(v) for k, v in inj.items()}, dict(access)


def make_dest(net: Network, key: str, inj: dict[str, float], demand: Demand) -> Dest:
    for u in inj:
        if not net.reachable(u, key):
            s, d = _pair_for(net, demand, u, key)
            raise InfeasibleError(f"no path from {s} to {d} over the links that are up (unreachable pair)",
                                  where="demand")
    region = net.region(key, set(inj))
    order = net.order(key, region)
    edges = [(u, v) for u in order if u != key for v in net.successors(u, key)]
    return Dest(key, inj, region, edges, order)


def _pair_for(net: Network, demand: Demand, start: str, key: str) -> tuple[str, str]:
    for f in demand.flows:
        if net.inject(f.src) == start and net.dst_key(f.dst) == key:
            return f.src, f.dst
    return start, key  # pragma: no cover


def ecmp_share(net: Network, u: str, succ: Sequence[str]) -> dict[str, float]:
    counts = {v: len(net.members(u, v)) for v in succ}
    tot = sum(counts.values())
    return {v: c / tot for v, c in counts.items()}


def succ_by_u(dest: Dest) -> dict[str, list[str]]:
    by_u: dict[str, list[str]] = defaultdict(list)
    for u, v in dest.edges:
        by_u[u].append(v)
    return by_u


# ============================================================================ LP per component
_STATUS = {pywraplp.Solver.OPTIMAL: "OPTIMAL", pywraplp.Solver.FEASIBLE: "FEASIBLE",
           pywraplp.Solver.INFEASIBLE: "INFEASIBLE", pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
           pywraplp.Solver.ABNORMAL: "ABNORMAL", pywraplp.Solver.NOT_SOLVED: "NOT_SOLVED"}


class ComponentLP:
    """Min-MLU arc LP of one component (destinations that share links)."""

    def __init__(self, net: Network, dests: list[Dest], solver: str, time_limit_s: float) -> None:
        nvars = sum(len(d.edges) for d in dests)
        name = solver.upper()
        if name == "AUTO":
            name = "PDLP" if nvars > PDLP_AUTO_VARS else "GLOP"
        if name not in ("GLOP", "PDLP"):
            raise ConfigError(f"unknown LP solver {solver!r} (expected glop, pdlp or auto)")
        s = pywraplp.Solver.CreateSolver(name)
        if s is None:  # pragma: no cover - both ship with the ortools wheel
            raise InfeasibleError(f"OR-Tools has no {name} solver in this build")
        self.name, self.s, self.time_limit_s = name, s, time_limit_s
        self.keys = [d.key for d in dests]
        inf = s.infinity()
        self.U = s.NumVar(0.0, inf, "U")
        self.f: dict[tuple[str, str, str], Any] = {}
        self.cap_rows: dict[Edge, Any] = {}
        for d in dests:
            out_terms: dict[str, list[Any]] = defaultdict(list)
            in_terms: dict[str, list[Any]] = defaultdict(list)
            for u, v in d.edges:
                x = s.NumVar(0.0, inf, "")
                self.f[(d.key, u, v)] = x
                out_terms[u].append(x)
                in_terms[v].append(x)
                row = self.cap_rows.get((u, v))
                if row is None:
                    row = self.cap_rows[(u, v)] = s.Constraint(-inf, 0.0)
                    row.SetCoefficient(self.U, -net.capacity_gbps(u, v))
                row.SetCoefficient(x, 1.0)
            for u in d.nodes:
                if u == d.key:
                    continue
                b = d.inj.get(u, 0.0)
                c = s.Constraint(b, b)
                for x in out_terms[u]:
                    c.SetCoefficient(x, 1.0)
                for x in in_terms[u]:
                    c.SetCoefficient(x, -1.0)
        self.t: list[Any] = []
        self.phase1_s = 0.0
        self._balance_built = False
        self._dests = dests
        self._net = net

    def _build_balance(self) -> None:
        """t >= |f(u,v) - ecmp_share(u,v) * out(u)| for nodes with several successors."""
        s, inf = self.s, self.s.infinity()
        for d in self._dests:
            for u, succ in succ_by_u(d).items():
                if len(succ) < 2:
                    continue
                share = ecmp_share(self._net, u, succ)
                o = s.NumVar(0.0, inf, "")
                row = s.Constraint(0.0, 0.0)
                row.SetCoefficient(o, 1.0)
                for v in succ:
                    row.SetCoefficient(self.f[(d.key, u, v)], -1.0)
                for v in succ:
                    t = s.NumVar(0.0, inf, "")
                    self.t.append(t)
                    x = self.f[(d.key, u, v)]
                    for sign in (1.0, -1.0):
                        c = s.Constraint(-inf, 0.0)
                        c.SetCoefficient(t, -1.0)
                        c.SetCoefficient(x, sign)
                        c.SetCoefficient(o, -sign * share[v])
        self._balance_built = True

    def _no_presolve(self) -> None:
        """The balancing phase starts from phase 1's basis; GLOP's presolve would discard it."""
        if self.name == "GLOP":
            self.s.SetSolverSpecificParametersAsString("use_preprocessing: false")

    def solve_min(self) -> tuple[str, float, float]:
        s = self.s
        s.SetTimeLimit(max(1, int(self.time_limit_s * 1000)))
        self.U.SetUb(s.infinity())
        obj = s.Objective()
        obj.Clear()
        obj.SetCoefficient(self.U, 1.0)
        obj.SetMinimization()
        t0 = time.perf_counter()
        st = s.Solve()
        self.phase1_s = time.perf_counter() - t0
        status = _STATUS.get(st, str(st))
        if st not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            raise InfeasibleError(f"the LP ended with status {status} ({self.name}, time limit "
                                  f"{self.time_limit_s} s)", where="wcmp")
        u_star = self.U.solution_value()
        bound = u_star
        if st != pywraplp.Solver.OPTIMAL or self.name == "PDLP":  # PDLP is optimal only within tolerances
            try:
                b = obj.BestBound()
                bound = min(b, u_star) if math.isfinite(b) and b > 0 else u_star
            except Exception:  # pragma: no cover
                bound = 0.0
        return status, u_star, bound

    def solve_balance(self, u_star: float) -> bool:
        """Phase 2; False when it did not finish (the caller keeps the phase-1 flows)."""
        if not self._balance_built:
            self._build_balance()
        if not self.t:
            return True
        s = self.s
        self._no_presolve()
        budget = min(self.time_limit_s, max(BALANCE_MIN_S, BALANCE_TIME_FACTOR * self.phase1_s))
        s.SetTimeLimit(max(1, int(budget * 1000)))
        self.U.SetUb(u_star * (1 + BALANCE_U_TOL) + 1e-12)
        obj = s.Objective()
        obj.Clear()
        for t in self.t:
            obj.SetCoefficient(t, 1.0 / len(self.t))
        obj.SetMinimization()
        st = s.Solve()
        return st in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)

    def flows(self, dests: list[Dest]) -> dict[tuple[str, str, str], float]:
        return {(d.key, u, v): max(self.f[(d.key, u, v)].solution_value(), 0.0) for d in dests for u, v in d.edges}


def cut_bound(net: Network, dests: list[Dest]) -> float:
    """A lower bound on the min MLU of these destinations from single-node cuts: everything injected at a
    node must leave it over its candidate out-links, and everything sent to a destination must enter it
    over its candidate in-links."""
    injected: dict[str, float] = defaultdict(float)
    out_links: dict[str, set[str]] = defaultdict(set)
    best = 0.0
    for d in dests:
        total = 0.0
        for u, x in d.inj.items():
            injected[u] += x
            out_links[u].update(net.successors(u, d.key))
            total += x
        cap_in = sum(net.capacity_gbps(u, v) for u, v in d.edges if v == d.key)
        if cap_in > 0:
            best = max(best, total / cap_in)
    for u, x in injected.items():
        cap = sum(net.capacity_gbps(u, v) for v in out_links[u])
        if cap > 0:
            best = max(best, x / cap)
    return best


# ============================================================================ evaluation
def weights_for(net: Network, dest: Dest, flows: dict[tuple[str, str, str], float] | None) -> Weights:
    """Member-level splits of one destination: from bundle flows (None: ECMP, equal per member port)."""
    out: Weights = {}
    key = dest.key
    small = 1e-9 * max(1.0, sum(dest.inj.values()))
    adj = net.adj
    for u, group in groupby(dest.edges, key=itemgetter(0)):
        succ = [v for _u, v in group]
        nbrs = adj[u]
        entries: list[tuple[str, int, float]] = []
        if flows is not None:
            fl = [flows[(key, u, v)] for v in succ]
            total = sum(fl)
        if flows is not None and total > small:
            for v, f in zip(succ, fl, strict=True):
                mem = nbrs.get(v, [])
                share_v = f / total
                if len(mem) == 1:
                    entries.append((v, mem[0].key, share_v))
                else:
                    cap = sum(m.capacity_gbps for m in mem)
                    entries += [(v, m.key, share_v * m.capacity_gbps / cap) for m in mem]
        else:
            for v in succ:
                entries += [(v, m.key, 1.0) for m in nbrs.get(v, [])]
        tot = sum(e[2] for e in entries)
        out[(u, key)] = [(v, k, w / tot) for v, k, w in entries]
    return out


def loads_for(dest: Dest, weights: Weights) -> Loads:
    """Gb/s on every directed member link when each node splits ``dest``'s traffic by ``weights``."""
    load: Loads = defaultdict(float)
    thr: dict[str, float] = defaultdict(float)
    for u, r in dest.inj.items():
        thr[u] += r
    for u in dest.order:
        x = thr.get(u, 0.0)
        if u == dest.key or x <= 0:
            continue
        for v, k, share in weights[(u, dest.key)]:
            if share > 0:
                load[(u, v, k)] += x * share
                thr[v] += x * share
    return dict(load)


def bundle_flows(key: str, loads: Loads) -> dict[tuple[str, str, str], float]:
    out: dict[tuple[str, str, str], float] = defaultdict(float)
    for (u, v, _k), x in loads.items():
        out[(key, u, v)] += x
    return out


def max_util(total: Loads, caps: dict[tuple[str, str, int], float]) -> float:
    return max((x / caps[k] for k, x in total.items() if x > 1e-12), default=0.0)




class _UnionFind:
    def __init__(self) -> None:
        self.p: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.p.setdefault(x, x)
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.p[ra] = rb


def components(dests: dict[str, Dest]) -> list[list[str]]:
    """Destinations grouped so that no two groups share a directed link (their LPs are independent:
    min max-utilisation over all = max over groups of each group's minimum)."""
    uf = _UnionFind()
    owner: dict[Edge, str] = {}
    for key, d in dests.items():
        uf.find(key)
        for e in d.edges:
            o = owner.setdefault(e, key)
            if o != key:
                uf.union(o, key)
    groups: dict[str, list[str]] = defaultdict(list)
    for key in dests:
        groups[uf.find(key)].append(key)
    return list(groups.values())


