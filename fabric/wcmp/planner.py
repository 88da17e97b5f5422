"""Load-balancing weights: the min-MLU LP, WCMP groups with integer weights, and the ECMP baseline.

Model
-----
Demand is routed per destination key D (a leaf for single-homed endpoints, see :mod:`fabric.wcmp.paths`)
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

A second LP phase (``balance``) keeps U within 1e-7 of the optimum and stays close to ECMP, so among
the optimal solutions one near ECMP is chosen: a symmetric fabric gets exactly ECMP, an asymmetric
one deviates only where it must (fewer entries). By column generation (the default, see
:mod:`fabric.wcmp.colgen`) it minimises the traffic moved off ECMP (cold) or off the previous routing
(after a failure), within a time budget; on the arc LP (PDLP, fallback) it minimises the L1 distance
of every split from the ECMP split, skipped above BALANCE_MAX_VARS variables.

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

Code layout: the LP, its cut bound and the hop-by-hop evaluation are in :mod:`fabric.wcmp.lp`, the
group reduction and switch limits in :mod:`fabric.wcmp.reduce`; this module holds the planner.

Plan section ``wcmp`` data shape (contract)::

    {"groups": [{"switch": str, "dst": str, "next_hops": [{"node": str, "port": str, "weight": int}],
                 "delta": float}],
     "mlu_lp": float, "mlu_wcmp": float, "mlu_ecmp": float, "entries_used": int, "max_delta": float,
     "mlu_access": float, "demand": str, "failed_links": [str], "limits": {...}}
"""

from __future__ import annotations

import gc
import math
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from fabric.plan import Provenance, WcmpSection
from fabric.topology import Fabric, Link
from fabric.traffic import Demand
from fabric.wcmp.colgen import PathLP
from fabric.wcmp.lp import (
    BALANCE_MAX_VARS,
    BALANCE_U_TOL,
    ComponentLP,
    Loads,
    bundle_flows,
    components,
    cut_bound,
    demand_by_key,
    loads_for,
    make_dest,
    max_util,
    succ_by_u,
    weights_for,
)
from fabric.wcmp.paths import Network
from fabric.wcmp.reduce import Limits, Reducer, Weights, fit_switch, reduce_group

#: LP time limit per component, s (the CLI's ``--time-limit``).
DEFAULT_LP_TIME_LIMIT_S = 60.0

__all__ = ["DEFAULT_LP_TIME_LIMIT_S", "Limits", "SolverInfo", "WcmpPlanner", "WcmpResult", "ecmp_groups", "fail_fabric", "reduce_group",
           "solve"]


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

    def section(self) -> WcmpSection:
        """The Plan ``wcmp`` section (:class:`fabric.plan.WcmpSection`), with its provenance."""
        return WcmpSection.from_dict(self.section_data(), provenance=self.provenance())

    def section_data(self) -> dict[str, Any]:
        """The ``wcmp`` section's data as plain JSON (shape in the module docstring)."""
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



class WcmpPlanner:
    """Solve once, then recompute after failures reusing the previous solution (warm start).

    The LP decomposes exactly into components of destinations that share no link (the optimum is
    the largest component optimum). A component ECMP does not certify is solved by column generation
    over paths (:mod:`fabric.wcmp.colgen`): cold from the ECMP flows, after a failure from its previous
    flows, stopping as soon as U meets a proven bound (the cut bound; after a failure that only took
    candidate edges away, also the previous optimum). A failure re-solves only the components whose
    links it touches; every other component, its flows, groups and loads are reused, and so are the
    weights of destinations whose DAG and flows did not change.

    >>> from fabric.builders import clos
    >>> from fabric.traffic import permutation
    >>> fab = clos(2, 2, 2, 2)
    >>> r = WcmpPlanner(fab, permutation(fab, fab.endpoints(), 100, seed=1)).solve()
    >>> (r.solver.status, round(r.mlu_lp, 4), r.mlu_wcmp == r.mlu_ecmp)
    ('OPTIMAL', 0.125, True)
    """

    def __init__(self, fabric: Fabric, demand: Demand, *, limits: Limits | None = None, solver: str = "auto",
                 time_limit_s: float = DEFAULT_LP_TIME_LIMIT_S, balance: bool = True, certify: bool = True) -> None:
        self.fabric = fabric
        self.certify = certify
        self.demand = demand
        self.limits = limits or Limits()
        self.limits.check()
        self.solver = solver
        self.time_limit_s = time_limit_s
        self.balance = balance
        self._reducer = Reducer(self.limits)
        self._solved = False

    # ------------------------------------------------------------------ cold
    def solve(self) -> WcmpResult:
        """Cold solve on the fabric as it is."""
        with _no_cyclic_gc():
            return self._solve()

    def _solve(self) -> WcmpResult:
        t0 = time.perf_counter()
        net = Network(self.fabric)
        inj, access = demand_by_key(net, self.demand)
        self.net, self.access, self.inj = net, access, inj
        self.dests = {k: make_dest(net, k, v, self.demand) for k, v in inj.items()}
        self.failed: list[Link] = []
        self.comp_u: dict[str, float] = {}
        self.comp_lp: dict[str, ComponentLP | PathLP] = {}
        self.comp_of: dict[str, str] = {}
        self.flows: dict[str, dict[tuple[str, str, str], float]] = {}
        self.ideal: dict[str, Weights] = {}
        self.ecmp: dict[str, Weights] = {}
        self.loads: dict[str, dict[str, Loads]] = {}
        self._old_loads: dict[tuple[str, str], Loads] = {}
        self.totals: dict[str, Loads] = {kind: defaultdict(float) for kind in ("lp", "wcmp", "ecmp")}
        self.lp_seconds = 0.0
        self.comp_status: dict[str, str] = {}
        self.comp_bound: dict[str, float] = {}
        self.comp_solver: dict[str, str] = {}
        self.notes: list[str] = []
        comps = components(self.dests)
        self._changed_ideal: set[tuple[str, str]] = set()
        self._solve_components(comps)
        self.groups: dict[str, dict[tuple[str, str], tuple[list[int], float]]] = {}
        self.plan_groups: dict[str, list[dict[str, Any]]] = {}
        self.entries: dict[str, int] = {}
        self.thetas: dict[str, float] = {}
        self._requantise({u for d in self.dests.values() for u in succ_by_u(d)})
        self._keep_better(comps)
        self._update_totals()
        self.mlu_access = self._access_mlu()
        self._solved = True
        return self._result(t0, warm=False)

    def _solve_components(self, comps: list[list[str]], lower_from: dict[str, float] | None = None,
                          same_dag: frozenset[str] = frozenset()) -> None:
        """Solve each component, then derive weights and loads. ``lower_from`` (a recompute after a
        failure) maps a component to a proven lower bound on its new optimum (its previous optimum when
        its DAGs only shrank, else 0): such components are re-solved by column generation from their
        previous flows (:mod:`fabric.wcmp.colgen`), falling back to the arc LP if that does not finish.
        Destinations in ``same_dag`` have the DAG and members they had: their ECMP split is reused, and
        so are their LP weights and loads where their flows did not change."""
        net = self.net
        t0 = time.perf_counter()
        for keys in comps:
            dests = [self.dests[k] for k in keys]
            cid = keys[0]
            ecmp_w = {k: self.ecmp[k] if k in same_dag else weights_for(net, self.dests[k], None) for k in keys}
            ecmp_l = {k: self.loads[k]["ecmp"] if k in same_dag else loads_for(self.dests[k], ecmp_w[k])
                      for k in keys}
            caps = net.member_caps()
            tot: Loads = defaultdict(float)
            for k in keys:
                for lk, x in ecmp_l[k].items():
                    tot[lk] += x
            ecmp_u = max_util(tot, caps)
            lower = cut_bound(net, dests)
            lp: ComponentLP | PathLP | None = None
            if self.certify and ecmp_u <= lower * (1 + BALANCE_U_TOL) + 1e-12:
                # ECMP meets a cut lower bound: it is optimal (and closest to ECMP); no LP needed
                status, u_star, bound, name = "OPTIMAL", ecmp_u, lower, "cut-bound"
                use_ecmp = True
            else:
                status = ""
                if self.solver.upper() in ("AUTO", "GLOP"):
                    # column generation from the previous flows (a recompute) or from ECMP (cold)
                    if lower_from is not None and all(k in self.flows for k in keys):
                        start = {fk: x for k in keys for fk, x in self.flows[k].items()}
                        lower = max(lower, lower_from.get(cid, 0.0))
                        origin = "the previous routing"
                    else:
                        start = {fk: x for k in keys for fk, x in bundle_flows(k, ecmp_l[k]).items()}
                        origin = "ECMP"
                    lp = PathLP(net, dests, start, self.time_limit_s)
                    status, u_star, bound = lp.solve_min(lower)
                    if status != "OPTIMAL":
                        self.notes.append(f"component {cid}: column generation did not converge; arc LP solved")
                if status != "OPTIMAL":
                    lp = ComponentLP(net, dests, self.solver, self.time_limit_s)
                    status, u_star, bound = lp.solve_min()
                assert lp is not None
                name = lp.name
                use_ecmp = self.balance and ecmp_u <= u_star * (1 + BALANCE_U_TOL) + 1e-12
            if use_ecmp:
                flows: dict[tuple[str, str, str], float] = {}
                for k in keys:
                    flows.update(bundle_flows(k, ecmp_l[k]))
                    for u, v in self.dests[k].edges:
                        flows.setdefault((k, u, v), 0.0)
            else:
                assert lp is not None
                if isinstance(lp, PathLP):
                    if self.balance and not lp.solve_balance(u_star):
                        self.notes.append(f"component {cid}: balancing (least traffic moved off {origin}) stopped "
                                          "at its time budget; its best split so far kept")
                    flows = lp.flows()
                else:
                    flows = lp.flows(dests)
                    if self.balance and len(lp.f) > BALANCE_MAX_VARS:
                        self.notes.append(f"component {cid}: balancing skipped ({len(lp.f)} flow variables > "
                                          f"{BALANCE_MAX_VARS}); phase-1 split kept")
                    elif self.balance and not lp.solve_balance(u_star):
                        status = f"{status} (balancing phase not solved in time: phase-1 split kept)"
                        self.notes.append(f"component {cid}: balancing LP not solved within the time limit")
                    elif self.balance:
                        flows = lp.flows(dests)
            for k in keys:
                d = self.dests[k]
                self.comp_of[k] = cid
                new_flows = {(k, u, v): flows[(k, u, v)] for u, v in d.edges}
                if k in same_dag and new_flows == self.flows.get(k):
                    self.comp_of[k] = cid
                    continue  # same DAG, same flows: same weights and loads
                self.flows[k] = new_flows
                new_ideal = ecmp_w[k] if use_ecmp else weights_for(net, d, self.flows[k])
                old_ideal = self.ideal.get(k, {})
                self._changed_ideal.update(gk for gk, m in new_ideal.items() if old_ideal.get(gk) != m)
                self.ideal[k] = new_ideal
                self.ecmp[k] = ecmp_w[k]
                self._set_loads(k, "lp", ecmp_l[k] if use_ecmp else loads_for(d, self.ideal[k]))
                self._set_loads(k, "ecmp", ecmp_l[k])
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
        changed_sw = {gk[0] for gk in self._changed_ideal}
        for sw in switches:
            if sw not in changed_sw and set(by_switch.get(sw, ())) == set(self.groups.get(sw, {})):
                continue  # same groups, same splits: the previous reduction stands
            old = self.groups.pop(sw, {})
            self.entries.pop(sw, None)
            self.thetas.pop(sw, None)
            self.plan_groups.pop(sw, None)
            keys = by_switch.get(sw, [])
            if not keys:
                continue
            reduced, entries, theta = fit_switch(sw, keys, ideal_all, self._reducer, self.limits)
            self.groups[sw] = reduced
            out = []
            # groups towards many destinations often have the same members and weights: build each
            # distinct next-hop list once (the lists are shared between groups and only read)
            made: dict[tuple[tuple[tuple[str, int], ...], tuple[int, ...]], list[dict[str, Any]]] = {}
            for gk in sorted(reduced):
                ws, delta = reduced[gk]
                members = ideal_all[gk]
                sig = (tuple((v, k) for v, k, _p in members), tuple(int(wi) for wi in ws))
                hops = made.get(sig)
                if hops is None:
                    hops = made[sig] = [{"node": v, "port": net.port(sw, v, k), "weight": wi}
                                        for (v, k), wi in zip(sig[0], sig[1], strict=True) if wi > 0]
                out.append({"switch": sw, "dst": gk[1], "next_hops": hops, "delta": round(float(delta), 9)})
            self.plan_groups[sw] = out
            self.entries[sw], self.thetas[sw] = entries, theta
            touched_dests.update(gk[1] for gk, val in reduced.items()
                                 if old.get(gk) != val or self._ideal_changed(gk))
        for k in touched_dests:
            d = self.dests[k]
            realised: Weights = {}
            equal = self.ideal[k] is self.ecmp.get(k)
            for gk, members in self.ideal[k].items():
                ws, _delta = self.groups[gk[0]][gk]
                tot = sum(ws)
                equal = equal and min(ws) == max(ws)
                realised[gk] = [(v, key, wi / tot) for (v, key, _p), wi in zip(members, ws, strict=True)]
            # ECMP groups quantised to equal weights are ECMP: its loads stand (one propagation saved)
            self._set_loads(k, "wcmp", self.loads[k]["ecmp"] if equal else loads_for(d, realised))

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
                per[kind] = max_util(tot, caps)
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
        self._requantise({u for k in back for u in succ_by_u(self.dests[k])})

    def _ideal_changed(self, gk: tuple[str, str]) -> bool:
        return gk in self._changed_ideal

    def _set_loads(self, k: str, kind: str, loads: Loads) -> None:
        """Replace one destination's loads of one kind, keeping the first replaced value for
        :meth:`_update_totals` (the totals are then updated by difference, not summed again)."""
        per = self.loads.setdefault(k, {})
        self._old_loads.setdefault((k, kind), per.get(kind, {}))
        per[kind] = loads

    def _update_totals(self) -> None:
        for (k, kind), old in self._old_loads.items():
            tot = self.totals[kind]
            for lk, x in old.items():
                tot[lk] -= x
            for lk, x in self.loads[k][kind].items():
                tot[lk] += x
        self._old_loads = {}

    # ------------------------------------------------------------------ warm
    def fail(self, links: Sequence[str] = (), nodes: Sequence[str] = ()) -> WcmpResult:
        """Take links/nodes down (on a copy; cumulative with earlier calls) and recompute warm."""
        if not self._solved:
            self.solve()
        with _no_cyclic_gc():
            return self._fail(links, nodes)

    def _fail(self, links: Sequence[str], nodes: Sequence[str]) -> WcmpResult:
        t0 = time.perf_counter()
        down = list(self.failed) + _resolve_down(self.fabric, links, nodes)
        net = self.net.without(down)
        dead = {(lk.a, lk.b) for lk in down} | {(lk.b, lk.a) for lk in down}
        old_net = self.net
        # (a, b) is an edge of D's DAG iff a is in D's region and b a successor of a towards D
        affected = {k for k, d in self.dests.items()
                    if any(a in d.nodes and a != k and b in old_net.successors(a, k) for a, b in dead)}
        old_comps: dict[str, list[str]] = defaultdict(list)
        for k, c in self.comp_of.items():
            old_comps[c].append(k)
        touched = {self.comp_of[k] for k in affected}
        redo_keys = [k for c in touched for k in old_comps[c]]
        old_edges = {k: set(self.dests[k].edges) for k in redo_keys}
        self.net = net
        for k in redo_keys:
            self.dests[k] = make_dest(net, k, self.inj[k], self.demand)
        # components among the recomputed destinations; new edges may join other components
        grown = any(not set(self.dests[k].edges) <= old_edges[k] for k in redo_keys)
        if grown:
            comps = components(self.dests)
            redo = set(redo_keys)
            comps = [c for c in comps if redo & set(c)]
            lower_from: dict[str, float] = {}  # longer paths: the old optimum bounds nothing
        else:
            comps = [old_comps[c] for c in touched]
            # fewer candidate edges, less capacity, same demand: the old optimum is a lower bound
            lower_from = {c: self.comp_u[c] for c in touched if c in self.comp_u}
        for comp in comps:
            for k in comp:
                old_c = self.comp_of.get(k)
                if old_c is not None:
                    for table in (self.comp_u, self.comp_lp, self.comp_status, self.comp_bound, self.comp_solver):
                        table.pop(old_c, None)  # type: ignore[attr-defined]
        self._changed_ideal = set()
        redone = {k for c in comps for k in c}
        self.notes = [n for n in self.notes if n.split(":")[0].removeprefix("component ") not in redone]
        old_switches = {u for k in redone for u in _succ_by_u_cached(self.ideal.get(k, {}))}
        self._solve_components(comps, lower_from, frozenset(k for c in comps for k in c if k not in affected))
        new_switches = {u for c in comps for k in c for u in succ_by_u(self.dests[k])}
        self._requantise(old_switches | new_switches)
        self._keep_better(comps)
        self.failed = down
        self._update_totals()
        if any(net.is_endpoint.get(lk.a) or net.is_endpoint.get(lk.b) for lk in down):
            self.mlu_access = self._access_mlu()
        return self._result(t0, warm=True)

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
        # totals are kept by difference: a link taken down can keep a rounding residue, links up never lose one
        u_w = {k: x / caps[k] for k, x in self.totals["wcmp"].items() if x > 1e-9 and k in caps}
        u_e = {k: x / caps[k] for k, x in self.totals["ecmp"].items() if x > 1e-9 and k in caps}
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
            util_wcmp=u_w, util_ecmp=u_e, mlu_lp_fluid=max_util(self.totals["lp"], caps), notes=notes)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cyclic collector off while planning: the planner allocates millions of small acyclic
    objects (flows, weights, loads), and full collections triggered by allocation counts scan them all
    (measured with gc.callbacks on the benchmark's shuffled rings: 2-3 full collections, 0.20-0.28 s, in
    a 1.2-1.6 s cold solve; 14-17 ms in a recompute). Reference counting still frees everything; the
    collector is restored (and runs as usual) afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _succ_by_u_cached(w: Weights) -> set[str]:
    return {u for (u, _k) in w}


def solve(fabric: Fabric, demand: Demand, *, limits: Limits | None = None, solver: str = "auto",
          time_limit_s: float = DEFAULT_LP_TIME_LIMIT_S, balance: bool = True, certify: bool = True) -> WcmpResult:
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
