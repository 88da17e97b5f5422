"""Load-balancing weights: the min-MLU LP, WCMP groups with integer weights, and the ECMP baseline.

Model
-----
Demand is routed per destination key D (a leaf for single-homed endpoints, see :mod:`fabric.paths`)
over the candidate DAG towards D. The LP (OR-Tools GLOP; PDLP for large instances) has one flow
variable f[D, u→v] per DAG edge reachable from D's sources, flow conservation at every node, and

    minimise U   subject to   Σ_D f[D, u→v] ≤ U · capacity(u→v)   for every directed bundle u→v

so U is the minimum max link utilisation (MLU) over the links routing controls (switch links, and
the links of multi-homed endpoints). A single-homed endpoint's own access link carries a fixed load
whatever the routing; its utilisation is reported apart as ``mlu_access``.
A per-destination flow is realised exactly by splitting at each node in proportion to its outgoing
flow (the DAG has no cycles), so the LP value is achievable with per-(switch, destination) groups.

Components: destinations that share no directed link have independent LPs, and the optimum is the
largest component optimum, so each component is solved on its own. Before building a component's LP
the ECMP split is checked against a single-node cut lower bound (traffic injected at a node must
leave over its candidate links; traffic to a destination must enter over its candidate links); when
ECMP meets the bound it is proven optimal and no LP is needed (solver ``cut-bound``; ``certify=False``
always runs the LP).

A second LP phase (``balance``) keeps U within 1e-7 of the optimum and minimises the L1 distance of
every split from the ECMP split, so among the optimal solutions the one closest to ECMP is chosen:
a symmetric fabric gets exactly ECMP, an asymmetric one deviates only where it must (fewer entries).

WCMP (Zhou et al., EuroSys 2014; REFERENCE.md)
--------------------------------------------
Each group's real split p is turned into integer weights w' (one member per physical port) by
:func:`reduce_group`: for table sizes T = 1, 2, ... it water-fills T entries to minimise the
oversubscription δ = max_i (w'_i/Σw') / p_i and returns the smallest T with δ ≤ θ (or the best δ
within the limits). Per switch, θ starts at ``theta0`` and is relaxed stepwise until the switch's
table fits. Groups with equal members and weights on one switch share one table group (as switch
SDKs do), so ``entries_used`` is the total weight of the distinct groups per switch, summed.
After quantisation the demand is pushed hop by hop through the integer groups; that MLU is
``mlu_wcmp``. The same is done with equal splits over the same DAG for ``mlu_ecmp``.

Plan section ``wcmp`` data shape (contract)::

    {"groups": [{"switch": str, "dst": str, "next_hops": [{"node": str, "port": str, "weight": int}],
                 "delta": float}],
     "mlu_lp": float, "mlu_wcmp": float, "mlu_ecmp": float, "entries_used": int, "max_delta": float,
     "mlu_access": float, "demand": str, "failed_links": [str], "limits": {...}}
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numba import njit
from ortools.linear_solver import pywraplp

from fabric.errors import ConfigError, InfeasibleError
from fabric.paths import Network
from fabric.plan import Provenance
from fabric.topology import Fabric, Link
from fabric.traffic import Demand

#: Switch limits (REFERENCE.md "Switch limits seen in practice"): 256 members per ECMP group and 16K
#: entries per switch (Tomahawk-2 class); 3,968 WCMP groups and 256 max group weight on ToRs (SONiC
#: PINS SAI-P4; 512 on other switches, we use the stricter ToR value everywhere by default).
DEFAULT_MAX_MEMBERS = 256
DEFAULT_TABLE_SIZE = 16_384
DEFAULT_MAX_GROUPS = 3_968
DEFAULT_MAX_GROUP_WEIGHT = 256
#: θ schedule for fitting a switch's table: start exact, relax multiplicatively by 2% per step
#: (*assumption*: Zhou et al. relax θ stepwise without fixing the step).
DEFAULT_THETA0 = 1.0
DEFAULT_THETA_STEP = 0.02
#: Above this many LP variables the automatic choice is PDLP instead of GLOP (*assumption*: where
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


@dataclass(frozen=True)
class Limits:
    """Switch limits and the θ schedule; every field is a CLI option."""

    max_members: int = DEFAULT_MAX_MEMBERS
    max_group_weight: int = DEFAULT_MAX_GROUP_WEIGHT
    table_size: int = DEFAULT_TABLE_SIZE
    max_groups: int = DEFAULT_MAX_GROUPS
    theta0: float = DEFAULT_THETA0
    theta_step: float = DEFAULT_THETA_STEP

    def check(self) -> None:
        for name in ("max_members", "max_group_weight", "table_size", "max_groups"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.theta0 >= 1.0:
            raise ConfigError(f"theta0 must be >= 1, got {self.theta0}")
        if not self.theta_step > 0:
            raise ConfigError(f"theta_step must be > 0, got {self.theta_step}")


# ============================================================================ group reduction
@njit(cache=True)
def _fill(p: np.ndarray, total: int) -> np.ndarray:
    """Water-fill ``total`` integer entries over shares ``p`` minimising max_i w_i / p_i."""
    n = p.shape[0]
    w = np.floor(p * total).astype(np.int64)
    rest = total - w.sum()
    for _ in range(rest):
        best = -1
        best_key = np.inf
        for i in range(n):
            if p[i] <= 0:
                continue
            key = (w[i] + 1) / p[i]
            if key < best_key:
                best_key = key
                best = i
        w[best] += 1
    return w


@njit(cache=True)
def _delta(p: np.ndarray, w: np.ndarray) -> float:
    tot = w.sum()
    d = 0.0
    for i in range(p.shape[0]):
        if w[i] > 0:
            r = (w[i] / tot) / p[i]
            if r > d:
                d = r
    return d


@njit(cache=True)
def _reduce(p: np.ndarray, theta: float, max_weight: int) -> tuple[np.ndarray, float]:
    best_w = _fill(p, 1)
    best_d = _delta(p, best_w)
    if best_d <= theta:
        return best_w, best_d
    for total in range(2, max_weight + 1):
        w = _fill(p, total)
        d = _delta(p, w)
        if d <= theta:
            return w, d
        if d < best_d - 1e-12:
            best_d = d
            best_w = w
    return best_w, best_d


def reduce_group(shares: Sequence[float], theta: float = DEFAULT_THETA0, *,
                 max_weight: int = DEFAULT_MAX_GROUP_WEIGHT,
                 max_members: int = DEFAULT_MAX_MEMBERS) -> tuple[list[int], float]:
    """Integer weights for a split ``shares`` (non-negative, any scale) and their δ.

    Returns the smallest group (total weight) whose oversubscription δ = max_i (w_i/Σw)/p_i is at
    most ``theta``; if none fits in ``max_weight``, the one with the least δ. At most ``max_members``
    weights are non-zero (the largest shares are kept). Weights are divided by their gcd.

    >>> reduce_group([0.5, 0.25, 0.25])
    ([2, 1, 1], 1.0)
    >>> reduce_group([0.5, 0.3, 0.2], theta=1.3, max_weight=10)
    ([2, 1, 1], 1.25)
    >>> reduce_group([0.5, 0.3, 0.2], theta=1.1, max_weight=10)
    ([5, 3, 2], 1.0)
    """
    p = np.asarray(shares, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not np.all(np.isfinite(p)) or p.sum() <= 0:
        raise ConfigError(f"group shares must be non-negative with a positive sum, got {list(shares)}")
    p = p / p.sum()
    keep = p
    if np.count_nonzero(p) > max_members:
        order = np.argsort(-p, kind="stable")
        keep = np.zeros_like(p)
        keep[order[:max_members]] = p[order[:max_members]]
        keep = keep / keep.sum()
    w, _ = _reduce(keep, float(theta), int(max_weight))
    g = int(np.gcd.reduce(w[w > 0])) if np.any(w > 0) else 1
    w = w // max(g, 1)
    return [int(x) for x in w], float(_delta(p, w))


# ============================================================================ results
@dataclass
class SolverInfo:
    name: str
    status: str
    objective: float
    bound: float
    gap: float
    seconds: float
    warm: bool = False
    variables: int = 0
    constraints: int = 0


@dataclass
class WcmpResult:
    """What :func:`solve` returns. ``loads_*`` map directed member links (u, v, key) to Gb/s."""

    groups: list[dict[str, Any]]
    mlu_lp: float
    mlu_wcmp: float
    mlu_ecmp: float
    mlu_access: float
    entries_used: int
    max_delta: float
    solver: SolverInfo
    seconds_total: float
    demand: str
    failed_links: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    theta_by_switch: dict[str, float] = field(default_factory=dict)
    util_wcmp: dict[tuple[str, str, int], float] = field(default_factory=dict)
    util_ecmp: dict[tuple[str, str, int], float] = field(default_factory=dict)
    mlu_lp_fluid: float = 0.0
    notes: list[str] = field(default_factory=list)

    def section(self) -> dict[str, Any]:
        """The Plan ``wcmp`` section data (shape in the module docstring)."""
        return {"groups": self.groups, "mlu_lp": self.mlu_lp, "mlu_wcmp": self.mlu_wcmp,
                "mlu_ecmp": self.mlu_ecmp, "entries_used": self.entries_used, "max_delta": self.max_delta,
                "mlu_access": self.mlu_access, "demand": self.demand, "failed_links": self.failed_links,
                "limits": asdict(self.limits)}

    def provenance(self) -> Provenance:
        s = self.solver
        return Provenance(solver=s.name, status=s.status, objective=s.objective, bound=s.bound, gap=s.gap,
                          seconds=round(self.seconds_total, 6),
                          params={"lp_seconds": round(s.seconds, 6), "warm_start": s.warm,
                                  "variables": s.variables, "constraints": s.constraints,
                                  **asdict(self.limits)})

    def summary(self) -> dict[str, Any]:
        """The ``plan wcmp --json`` document (without groups)."""
        return {"mlu_lp": self.mlu_lp, "mlu_wcmp": self.mlu_wcmp, "mlu_ecmp": self.mlu_ecmp,
                "mlu_access": self.mlu_access, "entries_used": self.entries_used,
                "max_delta": self.max_delta, "groups_count": len(self.groups),
                "ratio_wcmp_lp": _ratio(self.mlu_wcmp, self.mlu_lp),
                "ratio_ecmp_lp": _ratio(self.mlu_ecmp, self.mlu_lp),
                "solver": {"name": self.solver.name, "status": self.solver.status,
                           "seconds": self.solver.seconds, "gap": self.solver.gap,
                           "objective": self.solver.objective, "bound": self.solver.bound,
                           "warm_start": self.solver.warm, "variables": self.solver.variables,
                           "constraints": self.solver.constraints},
                "seconds_total": self.seconds_total, "demand": self.demand,
                "failed_links": self.failed_links, "notes": self.notes}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


# ============================================================================ problem
Edge = tuple[str, str]
Weights = dict[tuple[str, str], list[tuple[str, int, float]]]  # (u, D) -> [(v, member key, share)]
Loads = dict[tuple[str, str, int], float]                      # directed member link -> Gb/s


@dataclass
class _Dest:
    """Everything about one destination key D: its sources, region, DAG edges and order."""

    key: str
    inj: dict[str, float]
    nodes: set[str]
    edges: list[Edge]
    order: list[str]

    @property
    def bundles(self) -> set[Edge]:
        return set(self.edges)


def _demand_by_key(net: Network, demand: Demand) -> tuple[dict[str, dict[str, float]], dict[Edge, float]]:
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


def _dest(net: Network, key: str, inj: dict[str, float], demand: Demand) -> _Dest:
    for u in inj:
        if not net.reachable(u, key):
            s, d = _pair_for(net, demand, u, key)
            raise InfeasibleError(f"no path from {s} to {d} over the links that are up (unreachable pair)",
                                  where="demand")
    region = net.region(key, set(inj))
    order = net.order(key, region)
    edges = [(u, v) for u in order if u != key for v in net.successors(u, key)]
    return _Dest(key, inj, region, edges, order)


def _pair_for(net: Network, demand: Demand, start: str, key: str) -> tuple[str, str]:
    for f in demand.flows:
        if net.inject(f.src) == start and net.dst_key(f.dst) == key:
            return f.src, f.dst
    return start, key  # pragma: no cover


def _ecmp_share(net: Network, u: str, succ: Sequence[str]) -> dict[str, float]:
    counts = {v: len(net.members(u, v)) for v in succ}
    tot = sum(counts.values())
    return {v: c / tot for v, c in counts.items()}


def _succ_by_u(dest: _Dest) -> dict[str, list[str]]:
    by_u: dict[str, list[str]] = defaultdict(list)
    for u, v in dest.edges:
        by_u[u].append(v)
    return by_u


# ============================================================================ LP per component
_STATUS = {pywraplp.Solver.OPTIMAL: "OPTIMAL", pywraplp.Solver.FEASIBLE: "FEASIBLE",
           pywraplp.Solver.INFEASIBLE: "INFEASIBLE", pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
           pywraplp.Solver.ABNORMAL: "ABNORMAL", pywraplp.Solver.NOT_SOLVED: "NOT_SOLVED"}


class _LP:
    """Min-MLU LP of one component (destinations that share links), kept for warm re-solves."""

    def __init__(self, net: Network, dests: list[_Dest], solver: str, time_limit_s: float) -> None:
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
            for u, succ in _succ_by_u(d).items():
                if len(succ) < 2:
                    continue
                share = _ecmp_share(self._net, u, succ)
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

    def restrict(self, net: Network, dests: list[_Dest]) -> None:
        """Warm re-solve set-up after a failure: edges that are gone get upper bound 0, capacities change."""
        keep = {(d.key, u, v) for d in dests for u, v in d.edges}
        inf = self.s.infinity()
        self._no_presolve()
        for k, x in self.f.items():
            x.SetUb(inf if k in keep else 0.0)
        for (u, v), row in self.cap_rows.items():
            row.SetCoefficient(self.U, -net.capacity_gbps(u, v))
        self._net = net

    def _no_presolve(self) -> None:
        """Re-solves start from the previous basis; GLOP's presolve would discard it (measured: a warm
        re-solve of a 21K-variable component takes 1.0 s without presolve, 5 s with it)."""
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

    def flows(self, dests: list[_Dest]) -> dict[tuple[str, str, str], float]:
        return {(d.key, u, v): max(self.f[(d.key, u, v)].solution_value(), 0.0) for d in dests for u, v in d.edges}


def _cut_bound(net: Network, dests: list[_Dest]) -> float:
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
def _weights_for(net: Network, dest: _Dest, flows: dict[tuple[str, str, str], float] | None) -> Weights:
    """Member-level splits of one destination: from bundle flows (None: ECMP, equal per member port)."""
    out: Weights = {}
    for u, succ in _succ_by_u(dest).items():
        total = sum(flows[(dest.key, u, v)] for v in succ) if flows is not None else 0.0
        entries: list[tuple[str, int, float]] = []
        for v in succ:
            mem = net.members(u, v)
            if flows is not None and total > 1e-9 * max(1.0, sum(dest.inj.values())):
                share_v = flows[(dest.key, u, v)] / total
                cap = sum(m.capacity_gbps for m in mem)
                entries += [(v, m.key, share_v * m.capacity_gbps / cap) for m in mem]
            else:
                entries += [(v, m.key, 1.0) for m in mem]
        tot = sum(e[2] for e in entries)
        out[(u, dest.key)] = [(v, k, w / tot) for v, k, w in entries]
    return out


def _loads_for(dest: _Dest, weights: Weights) -> Loads:
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


def _bundle_flows(key: str, loads: Loads) -> dict[tuple[str, str, str], float]:
    out: dict[tuple[str, str, str], float] = defaultdict(float)
    for (u, v, _k), x in loads.items():
        out[(key, u, v)] += x
    return out


def _member_caps(net: Network) -> dict[tuple[str, str, int], float]:
    return {(u, v, m.key): m.capacity_gbps for u in net.adj for v, ms in net.adj[u].items() for m in ms}


def _max_util(total: Loads, caps: dict[tuple[str, str, int], float]) -> float:
    return max((x / caps[k] for k, x in total.items() if x > 1e-12), default=0.0)


# ============================================================================ quantisation
class _Reducer:
    """Memoised :func:`reduce_group` (many groups repeat the same split)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.memo: dict[tuple[Any, ...], tuple[list[int], float]] = {}

    def __call__(self, shares: Sequence[float], theta: float) -> tuple[list[int], float]:
        k = (tuple(round(x, 12) for x in shares), theta)
        got = self.memo.get(k)
        if got is None:
            if len(shares) == 1:
                got = ([1], 1.0)
            else:
                got = reduce_group(shares, theta, max_weight=self.limits.max_group_weight,
                                   max_members=self.limits.max_members)
            self.memo[k] = got
        return got


def _fit_switch(sw: str, keys: list[tuple[str, str]], ideal: Weights, reducer: _Reducer,
                limits: Limits) -> tuple[dict[tuple[str, str], tuple[list[int], float]], int, float]:
    """Reduce every group of one switch, relaxing θ until its distinct groups fit the table."""
    theta = limits.theta0
    while True:
        reduced = {gk: reducer([w for _v, _k, w in ideal[gk]], theta) for gk in keys}
        distinct: dict[tuple[Any, ...], int] = {}
        for gk, (w, _d) in reduced.items():
            sig = tuple((v, k, wi) for (v, k, _p), wi in zip(ideal[gk], w, strict=True) if wi > 0)
            distinct.setdefault(sig, sum(w))
        if len(distinct) > limits.max_groups:
            raise InfeasibleError(f"switch {sw} needs {len(distinct)} distinct groups, more than max_groups "
                                  f"{limits.max_groups}", where="wcmp")
        entries = sum(distinct.values())
        if entries <= limits.table_size:
            return reduced, entries, theta
        if all(sum(w) <= sum(1 for x in w if x) for w, _d in reduced.values()):
            raise InfeasibleError(f"switch {sw} needs {entries} entries even with one entry per member, "
                                  f"more than table_size {limits.table_size}", where="wcmp")
        theta *= 1 + limits.theta_step


# ============================================================================ entry points
def fail_fabric(fabric: Fabric, links: Sequence[str] = (), nodes: Sequence[str] = ()) -> tuple[Fabric, list[Link]]:
    """A copy of ``fabric`` with the named links (``a--b``, ``a--b#key``, ``a:p--b:p``) and every link
    of the named nodes down; returns the copy and the links taken down."""
    fab = fabric.copy()
    down = _resolve_down(fab, links, nodes)
    for lk in down:
        fab.set_link_up(lk.a, lk.b, lk.key, False)
    return fab, down


def _resolve_down(fabric: Fabric, links: Sequence[str], nodes: Sequence[str]) -> list[Link]:
    down = [fabric.find_link(spec) for spec in links]
    for n in nodes:
        fabric.node(n)  # raises on an unknown node
        for v in list(fabric.graph.neighbors(n)):
            down += fabric.links_between(n, v)
    return down


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


def _components(dests: dict[str, _Dest]) -> list[list[str]]:
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


class WcmpPlanner:
    """Solve once, then recompute after failures reusing the previous solution (warm start).

    The LP decomposes exactly into components of destinations that share no link (the optimum is
    the largest component optimum). A failure re-solves only the components whose links it touches;
    a component whose candidate edges only shrank is re-solved from its previous LP and basis
    (variables of lost edges bounded to 0, capacities changed in place); every other component,
    its flows, groups and loads are reused.

    >>> from fabric.builders import clos
    >>> from fabric.traffic import permutation
    >>> fab = clos(2, 2, 2, 2)
    >>> r = WcmpPlanner(fab, permutation(fab, fab.endpoints(), 100, seed=1)).solve()
    >>> (r.solver.status, round(r.mlu_lp, 4), r.mlu_wcmp == r.mlu_ecmp)
    ('OPTIMAL', 0.125, True)
    """

    def __init__(self, fabric: Fabric, demand: Demand, *, limits: Limits | None = None, solver: str = "auto",
                 time_limit_s: float = 60.0, balance: bool = True, certify: bool = True) -> None:
        self.fabric = fabric
        self.certify = certify
        self.demand = demand
        self.limits = limits or Limits()
        self.limits.check()
        self.solver = solver
        self.time_limit_s = time_limit_s
        self.balance = balance
        self._reducer = _Reducer(self.limits)
        self._solved = False

    # ------------------------------------------------------------------ cold
    def solve(self) -> WcmpResult:
        """Cold solve on the fabric as it is."""
        t0 = time.perf_counter()
        net = Network(self.fabric)
        inj, access = _demand_by_key(net, self.demand)
        self.net, self.access, self.inj = net, access, inj
        self.dests = {k: _dest(net, k, v, self.demand) for k, v in inj.items()}
        self.failed: list[Link] = []
        self.comp_u: dict[str, float] = {}
        self.comp_lp: dict[str, _LP] = {}
        self.comp_of: dict[str, str] = {}
        self.flows: dict[str, dict[tuple[str, str, str], float]] = {}
        self.ideal: dict[str, Weights] = {}
        self.ecmp: dict[str, Weights] = {}
        self.loads: dict[str, dict[str, Loads]] = {}
        self.lp_seconds = 0.0
        self.comp_status: dict[str, str] = {}
        self.comp_bound: dict[str, float] = {}
        self.comp_solver: dict[str, str] = {}
        self.notes: list[str] = []
        comps = _components(self.dests)
        self._changed_ideal: set[tuple[str, str]] = set()
        self._solve_components(comps, warm_from={})
        self.groups: dict[str, dict[tuple[str, str], tuple[list[int], float]]] = {}
        self.plan_groups: dict[str, list[dict[str, Any]]] = {}
        self.entries: dict[str, int] = {}
        self.thetas: dict[str, float] = {}
        self._requantise({u for d in self.dests.values() for u in _succ_by_u(d)})
        self._keep_better(comps)
        self.totals = {kind: self._sum_loads(kind) for kind in ("lp", "wcmp", "ecmp")}
        self.mlu_access = self._access_mlu()
        self._solved = True
        return self._result(t0, warm=False)

    def _solve_components(self, comps: list[list[str]], warm_from: dict[str, _LP]) -> None:
        """Solve each component (warm from an old LP where given), then derive weights and loads."""
        net = self.net
        t0 = time.perf_counter()
        for keys in comps:
            dests = [self.dests[k] for k in keys]
            cid = keys[0]
            ecmp_w = {k: _weights_for(net, self.dests[k], None) for k in keys}
            ecmp_l = {k: _loads_for(self.dests[k], ecmp_w[k]) for k in keys}
            caps = {}
            tot: Loads = defaultdict(float)
            for k in keys:
                for lk, x in ecmp_l[k].items():
                    caps[lk] = next(m.capacity_gbps for m in net.members(lk[0], lk[1]) if m.key == lk[2])
                    tot[lk] += x
            ecmp_u = _max_util(tot, caps)
            lower = _cut_bound(net, dests)
            lp: _LP | None = None
            if self.certify and ecmp_u <= lower * (1 + BALANCE_U_TOL) + 1e-12:
                # ECMP meets a cut lower bound: it is optimal (and closest to ECMP); no LP needed
                status, u_star, bound, name = "OPTIMAL", ecmp_u, lower, "cut-bound"
                use_ecmp = True
            else:
                lp = warm_from.get(cid)
                if lp is not None:
                    lp.restrict(net, dests)
                else:
                    lp = _LP(net, dests, self.solver, self.time_limit_s)
                status, u_star, bound = lp.solve_min()
                name = lp.name
                use_ecmp = self.balance and ecmp_u <= u_star * (1 + BALANCE_U_TOL) + 1e-12
            if use_ecmp:
                flows: dict[tuple[str, str, str], float] = {}
                for k in keys:
                    flows.update(_bundle_flows(k, ecmp_l[k]))
                    for u, v in self.dests[k].edges:
                        flows.setdefault((k, u, v), 0.0)
            else:
                assert lp is not None
                flows = lp.flows(dests)
                if self.balance and len(lp.f) > BALANCE_MAX_VARS:
                    self.notes.append(f"component {cid}: balancing skipped ({len(lp.f)} flow variables > "
                                      f"{BALANCE_MAX_VARS}); phase-1 split kept")
                elif self.balance and not lp.solve_balance(u_star):
                    status = f"{status} (balancing phase not solved in time: phase-1 split kept)"
                    self.notes.append(f"component {cid}: balancing LP not solved within the time limit")
                else:
                    flows = lp.flows(dests)
            for k in keys:
                d = self.dests[k]
                self.comp_of[k] = cid
                self.flows[k] = {(k, u, v): flows[(k, u, v)] for u, v in d.edges}
                new_ideal = _weights_for(net, d, self.flows[k])
                old_ideal = self.ideal.get(k, {})
                self._changed_ideal.update(gk for gk, m in new_ideal.items() if old_ideal.get(gk) != m)
                self.ideal[k] = new_ideal
                self.ecmp[k] = ecmp_w[k]
                self.loads[k] = {"lp": _loads_for(d, self.ideal[k]), "ecmp": ecmp_l[k],
                                 "wcmp": self.loads.get(k, {}).get("wcmp", {})}
            self.comp_u[cid] = u_star
            if lp is not None:
                self.comp_lp[cid] = lp
            else:
                self.comp_lp.pop(cid, None)
            self.comp_solver[cid] = name
            self.comp_status[cid] = status
            self.comp_bound[cid] = bound
        self.lp_seconds += time.perf_counter() - t0

    def _requantise(self, switches: set[str]) -> None:
        """Re-fit the tables of ``switches`` and refresh the realised loads of their destinations."""
        by_switch: dict[str, list[tuple[str, str]]] = defaultdict(list)
        ideal_all: Weights = {}
        for w in self.ideal.values():
            for gk, members in w.items():
                if gk[0] in switches:
                    by_switch[gk[0]].append(gk)
                    ideal_all[gk] = members
        touched_dests: set[str] = set()
        net = self.net
        for sw in switches:
            old = self.groups.pop(sw, {})
            self.entries.pop(sw, None)
            self.thetas.pop(sw, None)
            self.plan_groups.pop(sw, None)
            keys = by_switch.get(sw, [])
            if not keys:
                continue
            reduced, entries, theta = _fit_switch(sw, keys, ideal_all, self._reducer, self.limits)
            self.groups[sw] = reduced
            out = []
            for gk in sorted(reduced):
                w, delta = reduced[gk]
                hops = [{"node": v, "port": net.port(sw, v, k), "weight": int(wi)}
                        for (v, k, _p), wi in zip(ideal_all[gk], w, strict=True) if wi > 0]
                out.append({"switch": sw, "dst": gk[1], "next_hops": hops, "delta": round(float(delta), 9)})
            self.plan_groups[sw] = out
            self.entries[sw], self.thetas[sw] = entries, theta
            touched_dests.update(gk[1] for gk, val in reduced.items()
                                 if old.get(gk) != val or self._ideal_changed(gk))
        for k in touched_dests:
            d = self.dests[k]
            realised: Weights = {}
            for gk, members in self.ideal[k].items():
                ws, _delta = self.groups[gk[0]][gk]
                tot = sum(ws)
                realised[gk] = [(v, key, wi / tot) for (v, key, _p), wi in zip(members, ws, strict=True)]
            self.loads[k]["wcmp"] = _loads_for(d, realised)

    def _keep_better(self, comps: list[list[str]]) -> None:
        """Never install groups worse than ECMP: components share no links, so for each one compare the
        MLU of its quantised WCMP groups with ECMP's on its own links and fall back to ECMP where
        integer weights lose more than the LP split gains."""
        caps = self.net.member_caps()
        back: list[str] = []
        for keys in comps:
            per = {}
            for kind in ("wcmp", "ecmp"):
                tot: Loads = defaultdict(float)
                for k in keys:
                    for lk, x in self.loads[k][kind].items():
                        tot[lk] += x
                per[kind] = _max_util(tot, caps)
            if per["wcmp"] > per["ecmp"] * (1 + 1e-9):
                back += keys
                self.notes.append(f"component {keys[0]}: ECMP groups kept (quantised WCMP MLU "
                                  f"{per['wcmp']:.4f} > ECMP {per['ecmp']:.4f})")
        if not back:
            return
        self._changed_ideal = set()
        for k in back:
            self._changed_ideal.update(self.ecmp[k])
            self.ideal[k] = self.ecmp[k]
        self._requantise({u for k in back for u in _succ_by_u(self.dests[k])})

    def _ideal_changed(self, gk: tuple[str, str]) -> bool:
        return gk in self._changed_ideal

    def _sum_loads(self, kind: str) -> Loads:
        tot: Loads = defaultdict(float)
        for per in self.loads.values():
            for lk, x in per[kind].items():
                tot[lk] += x
        return tot

    # ------------------------------------------------------------------ warm
    def fail(self, links: Sequence[str] = (), nodes: Sequence[str] = ()) -> WcmpResult:
        """Take links/nodes down (on a copy; cumulative with earlier calls) and recompute warm."""
        if not self._solved:
            self.solve()
        t0 = time.perf_counter()
        down = list(self.failed) + _resolve_down(self.fabric, links, nodes)
        net = self.net.without(down)
        dead = {(lk.a, lk.b) for lk in down} | {(lk.b, lk.a) for lk in down}
        affected = {k for k, d in self.dests.items() if any(e in dead for e in d.edges)}
        old_comps: dict[str, list[str]] = defaultdict(list)
        for k, c in self.comp_of.items():
            old_comps[c].append(k)
        touched = {self.comp_of[k] for k in affected}
        redo_keys = [k for c in touched for k in old_comps[c]]
        old_edges = {k: set(self.dests[k].edges) for k in redo_keys}
        self.net = net
        for k in redo_keys:
            self.dests[k] = _dest(net, k, self.inj[k], self.demand)
        # components among the recomputed destinations; new edges may join other components
        grown = any(not set(self.dests[k].edges) <= old_edges[k] for k in redo_keys)
        if grown:
            comps = _components(self.dests)
            redo = {k for k in redo_keys}
            comps = [c for c in comps if redo & set(c)]
            warm_from: dict[str, _LP] = {}
        else:
            comps = [old_comps[c] for c in touched]
            warm_from = {c: self.comp_lp[c] for c in touched if c in self.comp_lp}
        for comp in comps:
            for k in comp:
                old_c = self.comp_of.get(k)
                if old_c is not None and old_c not in warm_from:
                    for table in (self.comp_u, self.comp_lp, self.comp_status, self.comp_bound, self.comp_solver):
                        table.pop(old_c, None)  # type: ignore[attr-defined]
        self._changed_ideal = set()
        redone = {k for c in comps for k in c}
        self.notes = [n for n in self.notes if n.split(":")[0].removeprefix("component ") not in redone]
        old_switches = {u for k in redone for u in _succ_by_u_cached(self.ideal.get(k, {}))}
        self._solve_components(comps, warm_from)
        new_switches = {u for c in comps for k in c for u in _succ_by_u(self.dests[k])}
        self._requantise(old_switches | new_switches)
        self._keep_better(comps)
        self.failed = down
        self.totals = {kind: self._sum_loads(kind) for kind in ("lp", "wcmp", "ecmp")}
        if any(net.is_endpoint.get(lk.a) or net.is_endpoint.get(lk.b) for lk in down):
            self.mlu_access = self._access_mlu()
        return self._result(t0, warm=not grown)

    def _access_mlu(self) -> float:
        net = self.net
        return max((x / net.capacity_gbps(a, b) if net.capacity_gbps(a, b) > 0 else math.inf
                    for (a, b), x in self.access.items()), default=0.0)

    # ------------------------------------------------------------------ result
    def _result(self, t0: float, *, warm: bool) -> WcmpResult:
        net = self.net
        caps = net.member_caps()
        u_star = max(self.comp_u.values(), default=0.0)
        status = "OPTIMAL" if all(s.startswith("OPTIMAL") for s in self.comp_status.values()) else "FEASIBLE"
        bound = max(self.comp_bound.values(), default=0.0)
        groups = [g for sw in sorted(self.plan_groups) for g in self.plan_groups[sw]]
        max_delta = max((d for per in self.groups.values() for _w, d in per.values()), default=1.0)
        nvars = sum(lp.s.NumVariables() for lp in self.comp_lp.values())
        ncons = sum(lp.s.NumConstraints() for lp in self.comp_lp.values())
        names = set(self.comp_solver.values()) or {"GLOP"}
        info = SolverInfo("+".join(sorted(names)), status, u_star, bound,
                          abs(u_star - bound) / max(abs(u_star), 1e-12), self.lp_seconds, warm, nvars, ncons)
        self.lp_seconds = 0.0
        u_w = {k: x / caps[k] for k, x in self.totals["wcmp"].items() if x > 1e-12}
        u_e = {k: x / caps[k] for k, x in self.totals["ecmp"].items() if x > 1e-12}
        notes = list(self.notes)
        if max(u_w.values(), default=0.0) > max(u_e.values(), default=0.0) * (1 + 1e-9):
            notes.append("the quantised WCMP MLU is above ECMP's: integer weights lose more than the LP gains "
                         "here; keep ECMP groups or allow more weight per group (--max-weight)")
        return WcmpResult(
            groups=groups, mlu_lp=u_star, mlu_wcmp=max(u_w.values(), default=0.0),
            mlu_ecmp=max(u_e.values(), default=0.0),
            mlu_access=self.mlu_access, entries_used=sum(self.entries.values()),
            max_delta=round(float(max_delta), 9), solver=info,
            seconds_total=time.perf_counter() - t0, demand=self.demand.name,
            failed_links=[lk.name for lk in self.failed], limits=self.limits, theta_by_switch=dict(self.thetas),
            util_wcmp=u_w, util_ecmp=u_e, mlu_lp_fluid=_max_util(self.totals["lp"], caps), notes=notes)


def _succ_by_u_cached(w: Weights) -> set[str]:
    return {u for (u, _k) in w}


def solve(fabric: Fabric, demand: Demand, *, limits: Limits | None = None, solver: str = "auto",
          time_limit_s: float = 60.0, balance: bool = True, certify: bool = True) -> WcmpResult:
    """Cold solve: LP, WCMP quantisation and the ECMP baseline (see :class:`WcmpPlanner`)."""
    return WcmpPlanner(fabric, demand, limits=limits, solver=solver, time_limit_s=time_limit_s,
                       balance=balance, certify=certify).solve()


def ecmp_groups(fabric: Fabric, dsts: Sequence[str] | None = None, *, net: Network | None = None) -> list[dict[str, Any]]:
    """Plan-shaped ECMP groups (weight 1 per member port) at every switch towards every destination key
    in ``dsts`` (default: the destination key of every endpoint). Useful as a baseline table and
    wherever a demand does not say which destinations matter (hash benchmarks)."""
    net = net or Network(fabric)
    keys = list(dict.fromkeys(dsts if dsts is not None else (net.dst_key(e) for e in fabric.endpoints())))
    groups = []
    for key in keys:
        for u in net.switches:
            if u == key:
                continue
            hops = [{"node": v, "port": m.port, "weight": 1} for v in net.successors(u, key) for m in net.members(u, v)]
            if hops:
                groups.append({"switch": u, "dst": key, "next_hops": hops, "delta": 1.0})
    return groups
