"""OCS circuit allocation between aggregation blocks (direct connect, as in Google's Jupiter).

Aggregation blocks have uplinks wired to optical circuit switches (OCS); an OCS cross-connects pairs
of its ports, so each cross-connect is one circuit of ``circuit_gbps`` (each direction) between the
two blocks whose ports it joins. Given a block-to-block demand matrix (Gb/s), the planner:

1. **LP bound** (GLOP): circuits ``n[i,j]`` continuous, traffic on direct and one-transit paths
   (``i->j`` or ``i->m->j``), block degree ``sum_j n[i,j] <= uplinks[i]``; maximise the scale
   ``theta`` such that ``theta x demand`` is carried. Solved by column generation (transit paths
   priced with the duals). Every integer, per-OCS-realisable allocation is feasible here, so
   ``lp_bound`` is an upper bound on the throughput scale.
2. **Integer circuits** (CP-SAT) around the LP solution: keep its integer part and its block degrees
   (soft), fill free ports (largest fractional part first) and, when a full mesh fits in every
   block's ports, hedge with at least one circuit per pair (so every block reaches every other
   directly or through one transit). Small instances (pairs x OCS <= :data:`optical.ocs.mapping.JOINT_MAX_VARS`) are
   solved jointly with the per-OCS split; up to :data:`optical.ocs.mapping.IMPROVE_MAX_PAIRS` block pairs an LP-guided
   local search (moves inside one OCS) improves the result.
3. **Physical mapping** (larger instances): recursive bisection of the OCS set, an Euler split when
   both halves are wired alike, otherwise CP-SAT. Each OCS connects each port to at most one other
   port, and only ports of blocks wired to it. Circuits that cannot be placed are dropped and
   counted (``dropped``).
4. **Throughput** of the placed circuits, always carried by an explicit routing over direct and
   one-transit paths: up to :data:`AUTO_LP_MAX_PAIRS` block pairs the same LP with
   ``n`` fixed (exact; if cut by its time limit, the best routing found and
   ``solver.evaluate.converged`` is false), above that flow deviation in numba
   (:mod:`optical.ocs.route`: a feasible routing within ~0.03 % of the LP optimum on the 64 x 64
   benchmark in about a second, where the LP takes over a minute; ``evaluator="lp"`` forces the LP).
   ``gap = (lp_bound - throughput_scale) / lp_bound``.

**Reconfiguration** (``current=``), lexicographic and warm from the current circuits: the target is
``min(throughput of the from-scratch plan, (1 - tolerance) x lp_bound)`` (within ``tolerance`` of the
optimum's upper bound; the cap keeps an unchanged demand from changing the circuits that plan gave).
When the current circuits carry the target nothing changes. Otherwise an LP finds the continuous
circuits closest (L1) to the current ones that carry it (starting from the bound's path columns),
CP-SAT rounds them near the current ones (additions rounded up, decreases down; jointly with the
per-OCS split on small instances), and :func:`optical.ocs.mapping.map_incremental` keeps the
current per-OCS split elsewhere; if the rounded circuits fall short the LP's goal rises by the
shortfall (up to :data:`RECONFIGURE_ATTEMPTS`, within ``time_limit_s``). Of the incremental and the
from-scratch circuits (current cross-connects reused), the one that changes fewer cross-connects and
carries the target is kept (``solver.reconfigure`` says which; ``solver.incremental`` has both
churns and the attempts).

Plan section ``ocs`` data::

    {"throughput_scale": float, "lp_bound": float, "gap": float, "mlu": float (1 / throughput_scale),
     "circuits": {ocs: [[port_a, port_b], ...]}, "logical": [{"a", "b", "circuits"}],
     "wiring": {ocs: {block: [port, ...]}}, "circuit_gbps": float, "direct_share": float,
     "dropped": int,
     "changed": {"from_current": bool, "kept": int, "added": int, "removed": int,
                 "per_ocs": {ocs: {"added": [[a, b]], "removed": [[a, b]]}}}}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from fabric.errors import ConfigError, InfeasibleError
from fabric.plan import OcsSection, Plan, Provenance, Section
from optical import constants as C
from optical.ocs.lp import ThroughputLp
from optical.ocs.mapping import (
    IMPROVE_MAX_PAIRS,
    improve_mapping,
    map_incremental,
    map_to_ocs,
    port_pairs,
    round_circuits,
    sum_per_ocs,
)
from optical.ocs.spec import (
    DEFAULT_CIRCUIT_GBPS,
    DEFAULT_OCS_PORTS,
    OcsSpec,
    Pair,
    load_block_demand,
    load_blocks,
    logical_from_ports,
    make_spec,
    random_demand,
)
from optical.solved import SolvedSection

__all__ = ["DEFAULT_CIRCUIT_GBPS", "evaluate_circuits", "sum_per_ocs", "DEFAULT_OCS_PORTS", "Current", "OcsResult", "OcsSpec", "Pair", "ThroughputLp",
           "AUTO_LP_MAX_PAIRS", "circuits_from_plan", "load_block_demand", "load_blocks", "logical_from_ports",
           "make_spec", "map_to_ocs", "plan_ocs", "port_pairs", "random_demand"]


@dataclass
class Current:
    circuits: dict[str, list[list[int]]]
    total: dict[Pair, int]
    per_ocs: list[dict[Pair, int]]


def circuits_from_plan(plan: Plan, spec: OcsSpec, *, file: str | None = None) -> Current:
    """The current circuits from a plan's ``ocs`` section (checked against the wiring)."""
    sec = plan.ocs
    if sec is None:
        raise ConfigError("the plan has no ocs section with circuits", file=file, where="sections.ocs")
    total, per = logical_from_ports(spec, sec.circuits, file=file)
    return Current(sec.circuits, total, per)


# ----------------------------------------------------------------------------- the planner
@dataclass
class OcsResult(SolvedSection):
    """What the planner returns; ``.section`` is the Plan's typed ``ocs`` section."""

    SECTION: ClassVar[type[Section]] = OcsSection


def plan_ocs(spec: OcsSpec, demand: dict[tuple[int, int], float], *, current: Current | None = None,
             tolerance: float = C.OCS_TOLERANCE, time_limit_s: float = C.OCS_TIME_LIMIT_S,
             eval_time_limit_s: float = C.OCS_EVAL_TIME_LIMIT_S,
             workers: int = 2, evaluator: str = C.OCS_EVALUATOR) -> OcsResult:
    """Allocate circuits (see the module docstring for the method and the output shape).

    ``time_limit_s`` bounds the CP-SAT phases and the local search; ``eval_time_limit_s`` bounds the
    LP evaluation of the placed circuits (each evaluation; if it is cut, ``throughput_scale`` is
    what the routing found so far carries and ``solver.evaluate.converged`` is false). ``workers``:
    CP-SAT threads of the per-OCS split; the rounding runs one worker with a deterministic-time
    limit (reproducible circuits). ``evaluator``: ``"lp"`` (exact), ``"flow"`` (flow deviation) or
    ``"auto"`` (the LP up to :data:`AUTO_LP_MAX_PAIRS` block pairs, flow deviation above).
    """
    t0 = time.perf_counter()
    if not demand:
        raise ConfigError("the demand is empty")
    if evaluator not in EVALUATORS:
        raise ConfigError(f"unknown evaluator {evaluator!r} (one of {', '.join(EVALUATORS)})", where="evaluator")
    lp = ThroughputLp(spec, demand)
    bound = lp.bound()
    if bound["status"] != "OPTIMAL":
        raise InfeasibleError(f"throughput LP ended {bound['status']}")
    lp_bound = bound["theta"]
    if lp_bound <= 0:
        raise InfeasibleError("some demand has no direct or one-transit path between blocks wired to a common OCS")
    n_int, joint, r_info = round_circuits(spec, lp.pairs, bound["n"], min(5.0, time_limit_s / 2), workers=workers,
                                          demand_pairs=list(demand))
    if joint is None:
        per_ocs, dropped, m_info = map_to_ocs(spec, n_int, time_limit_s=time_limit_s / 3, workers=workers)
    else:
        per_ocs, dropped, m_info = joint, 0, {"name": "CP-SAT (joint with the circuits)", "status": r_info["status"]}
    use_lp = evaluator == "lp" or (evaluator == "auto" and len(lp.pairs) <= AUTO_LP_MAX_PAIRS)

    def evaluate(circuits: dict[Pair, int]) -> dict[str, Any]:
        if use_lp:
            return {"name": "GLOP", **lp.evaluate(circuits, stop_at=lp_bound, time_limit_s=eval_time_limit_s)}
        return evaluate_circuits(spec, demand, circuits, lp_bound, eval_time_limit_s)

    moves = 0
    if len(lp.pairs) <= IMPROVE_MAX_PAIRS:
        ev0 = lp.evaluate(sum_per_ocs(per_ocs), stop_at=lp_bound, time_limit_s=eval_time_limit_s)
        per_ocs, _ev, moves = improve_mapping(spec, lp, per_ocs, ev0, t0 + time_limit_s / 2)
    r_info["improving_moves"] = moves
    placed = sum_per_ocs(per_ocs)
    ev = evaluate(placed)
    theta, dshare = ev["theta"], ev["direct_share"]
    info: dict[str, Any] = {"lp": {"name": "GLOP", "status": bound["status"], "seconds": bound["seconds"],
                                   "pairs": len(lp.pairs), "rounds": bound["rounds"], "columns": bound.get("columns")},
                            "integer": r_info, "mapping": m_info,
                            "evaluate": {k: ev[k] for k in ("name", "status", "seconds", "rounds", "sweeps",
                                                            "converged", "upper", "stopped") if k in ev}}
    changed: dict[str, Any] = {"from_current": False, "kept": 0, "added": int(sum(placed.values())), "removed": 0,
                               "per_ocs": {}}
    keep_ports = None
    if current is not None:
        # Within ``tolerance`` of the optimum's upper bound, or what the from-scratch plan carries
        # when that is less (so the same demand never changes the circuits that plan gave).
        target = min(theta, (1.0 - tolerance) * lp_bound)
        cur_eval = evaluate(current.total)
        info["current"] = {"throughput_scale": cur_eval["theta"], "target": target}
        if cur_eval["theta"] >= target - 1e-9:
            per_ocs, placed, dropped = current.per_ocs, dict(current.total), 0
            theta, dshare = cur_eval["theta"], cur_eval["direct_share"]
            keep_ports = current.circuits
            info["reconfigure"] = "current circuits already within tolerance: nothing changes"
        else:
            scratch = (theta, dshare, per_ocs, placed, dropped)
            inc, info["incremental"] = _incremental(spec, demand, lp, current, target, lp_bound, evaluate,
                                                      time_limit_s, workers)
            keep_ports = current.circuits
            pick = scratch
            info["reconfigure"] = "from-scratch circuits (fewer changes than the incremental ones)"
            if inc is not None:
                churn_inc = _churn(current.circuits, port_pairs(spec, inc[2], keep=keep_ports))
                churn_scratch = _churn(current.circuits, port_pairs(spec, per_ocs, keep=keep_ports))
                info["incremental"].update(churn=churn_inc, scratch_churn=churn_scratch)
                if churn_inc <= churn_scratch:
                    pick = inc
                    info["reconfigure"] = ("incremental: the fewest changed circuits (L1 LP, then CP-SAT) "
                                           "carrying the target")
            else:
                info["reconfigure"] = "incremental plan missed the target: from-scratch circuits"
            theta, dshare, per_ocs, placed, dropped = pick
    circuits = port_pairs(spec, per_ocs, keep=keep_ports)
    if current is not None:
        changed = _diff(current.circuits, circuits)
    gap = max(0.0, (lp_bound - theta) / lp_bound) if lp_bound > 0 else 0.0  # theta <= bound up to rounding
    logical = [{"a": spec.blocks[i], "b": spec.blocks[j], "circuits": c} for (i, j), c in sorted(placed.items()) if c]
    data = {"throughput_scale": theta, "lp_bound": lp_bound, "gap": gap,
            "mlu": 1.0 / theta if theta > 0 else None, "circuits": circuits, "logical": logical,
            "wiring": {o: {spec.blocks[b]: spec.port_ids[k][b] for b in range(len(spec.blocks))
                           if spec.port_ids[k][b]} for k, o in enumerate(spec.ocs)},
            "circuit_gbps": spec.circuit_gbps, "direct_share": dshare, "dropped": int(dropped),
            "changed": changed}
    secs = time.perf_counter() - t0
    info["seconds"] = secs
    info["name"] = "GLOP + CP-SAT" + ("" if use_lp else " + flow deviation")
    prov = Provenance(solver="GLOP (bound) + CP-SAT (circuits, mapping)"
                      + ("" if use_lp else " + flow deviation (throughput)"), status=r_info["status"],
                      objective=theta, bound=lp_bound, gap=gap, seconds=round(secs, 4),
                      params={"blocks": len(spec.blocks), "ocs": len(spec.ocs), "ports": spec.ports,
                              "circuit_gbps": spec.circuit_gbps, "tolerance": tolerance,
                              "time_limit_s": time_limit_s, "evaluator": "lp" if use_lp else "flow"})
    return OcsResult(data, prov, info)


#: How placed circuits are evaluated (see :func:`plan_ocs`).
EVALUATORS = ("auto", "lp", "flow")
#: ``evaluator="auto"`` uses the exact LP up to this many block pairs. Measured (full planner, random
#: demand, LP vs flow deviation evaluation): 32 blocks (496 pairs) 1.6 s vs 0.5 s, 0.74069 vs 0.73990;
#: 40 blocks 4.9 s vs 0.6 s, 0.74258 vs 0.74196; 48 blocks 12.5 s vs 0.7 s, 0.74487 vs 0.74486.
AUTO_LP_MAX_PAIRS = 500


def evaluate_circuits(spec: OcsSpec, demand: dict[tuple[int, int], float], circuits: dict[Pair, int], lp_bound: float,
           time_limit_s: float) -> dict[str, Any]:
    """Throughput of fixed circuits by flow deviation (a feasible routing; see :mod:`optical.ocs.route`)."""
    import numpy as np

    from optical.ocs.route import route_fixed

    nb = len(spec.blocks)
    cap = np.zeros((nb, nb))
    for (i, j), count in circuits.items():
        cap[i, j] = cap[j, i] = spec.circuit_gbps * count
    dem = np.zeros((nb, nb))
    for (s, t), gbps in demand.items():
        dem[s, t] = gbps
    r = route_fixed(cap, dem, time_limit_s=time_limit_s)
    # It meets the LP bound (an upper bound on any routing of any circuits): optimal.
    optimal = r.theta >= lp_bound * (1 - 1e-9)
    return {"name": "flow deviation (numba)", "status": "OPTIMAL" if optimal else "FEASIBLE",
            "theta": r.theta, "direct_share": r.direct_share, "seconds": r.seconds, "sweeps": r.sweeps,
            "converged": optimal, "upper": None, "stopped": r.stopped}


#: Attempts of the incremental reconfiguration: each raises the min-change LP's goal by the shortfall
#: of the previous rounding.
RECONFIGURE_ATTEMPTS = 4


def _incremental(spec: OcsSpec, demand: dict[tuple[int, int], float], lp: ThroughputLp, current: Current,
                 target: float, lp_bound: float, evaluate: Any, time_limit_s: float, workers: int
                 ) -> tuple[tuple[float, float, list[dict[Pair, int]], dict[Pair, int], int] | None, dict[str, Any]]:
    """Circuits warm from ``current`` that carry ``target``, changing as few as possible.

    Lexicographic: the optimum's bound fixes the target; then the LP minimises the L1 change of the
    (continuous) circuits subject to carrying it, CP-SAT rounds that near the current circuits
    (additions rounded up, decreases down), and the per-OCS split keeps current cross-connects where it
    can. When the rounded circuits fall short, the LP's goal rises by the shortfall and it repeats.
    Returns (theta, direct share, per-OCS, circuits, dropped) or None, and solver details.
    """
    t0 = time.perf_counter()
    lp_mc = ThroughputLp(spec, demand)   # its own model: min_change switches the objective
    lp_mc.add_columns_of(lp)
    goal = target
    tries: list[dict[str, Any]] = []
    found = None
    for _attempt in range(RECONFIGURE_ATTEMPTS):
        left = time_limit_s - (time.perf_counter() - t0)
        if tries and left <= 0:
            break
        t1 = time.perf_counter()
        near = lp_mc.min_change(min(goal, lp_bound), current.total, time_limit_s=max(1.0, left / 2))
        if near["status"] != "OPTIMAL":
            tries.append({"goal": goal, "lp": near["status"]})
            break
        t2 = time.perf_counter()
        n_c, jo, _ = round_circuits(spec, lp.pairs, near["n"], time_limit_s / 6, current=current.total,
                                    workers=workers, current_per_ocs=current.per_ocs, demand_pairs=list(demand))
        t3 = time.perf_counter()
        if jo is None:
            po, dr, _ = map_incremental(spec, n_c, current.per_ocs)
        else:
            po, dr = jo, 0
        t4 = time.perf_counter()
        pl = sum_per_ocs(po)
        e2 = evaluate(pl)
        l1 = sum(abs(near["n"].get(p, 0.0) - current.total.get(p, 0)) for p in lp.pairs)
        tries.append({"goal": goal, "lp_l1_change": round(l1, 3), "throughput_scale": e2["theta"], "dropped": dr,
                      "seconds": {"lp": round(t2 - t1, 3), "round": round(t3 - t2, 3), "map": round(t4 - t3, 3),
                                  "evaluate": round(time.perf_counter() - t4, 3)}})
        if e2["theta"] >= target - 1e-9:
            found = (e2["theta"], e2["direct_share"], po, pl, dr)
            break
        goal = min(lp_bound, goal + (target - e2["theta"]) + 1e-6 * lp_bound)
    return found, {"target": target, "attempts": tries, "seconds": time.perf_counter() - t0}


def _churn(old: dict[str, list[list[int]]], new: dict[str, list[list[int]]]) -> int:
    """Cross-connects added plus removed."""
    d = _diff(old, new)
    return int(d["added"] + d["removed"])


def _diff(old: dict[str, list[list[int]]], new: dict[str, list[list[int]]]) -> dict[str, Any]:
    kept = added = removed = 0
    per: dict[str, Any] = {}
    for o in sorted(set(old) | set(new)):
        a = {tuple(sorted(x)) for x in old.get(o, [])}
        b = {tuple(sorted(x)) for x in new.get(o, [])}
        kept += len(a & b)
        add, rem = sorted(b - a), sorted(a - b)
        added += len(add)
        removed += len(rem)
        if add or rem:
            per[o] = {"added": [list(x) for x in add], "removed": [list(x) for x in rem]}
    return {"from_current": True, "kept": kept, "added": added, "removed": removed, "per_ocs": per}
