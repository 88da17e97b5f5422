"""Integer circuits, local search and the per-OCS split of OCS planning (see :mod:`optical.ocs`)."""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

from fabric.errors import InfeasibleError
from optical.ocs.lp import ThroughputLp
from optical.ocs.spec import OcsSpec, Pair

#: Local search on the integer circuits runs up to this many block pairs (it evaluates moves with the
#: LP; beyond this the rounding alone is used).
IMPROVE_MAX_PAIRS = 300
#: Integer circuits are solved jointly with their per-OCS split up to this many pair x OCS variables.
JOINT_MAX_VARS = 2_000
#: Rounding objective: a pair below its LP floor costs SHORT_WEIGHT per circuit, a hedged pair with
#: no circuit HEDGE_WEIGHT. The hedge weighs less than two shortfalls, so it uses free ports or
#: one pair's circuit but never takes a circuit from a pair at each end. Measured on 64 x 64: at
#: 300,000 (above two shortfalls) the pipeline-jobs demand lost one circuit of two 64-circuit
#: pairs (gap 1.56 %); at 150,000 its gap is 0.002 % and the random / skewed demands are unchanged
#: (0.70 % / 0.009 %); at 50,000 the skewed one fell to 0.17 %.
SHORT_WEIGHT = 100_000
HEDGE_WEIGHT = 150_000
#: Rounding near the current circuits (reconfiguration): each changed circuit costs CHURN_WEIGHT, an
#: increase the LP wanted left below its ceiling ROUND_UP_WEIGHT per circuit (it weighs more, so the
#: rounding gives the target its capacity before it saves a change).
CHURN_WEIGHT = 1_000
ROUND_UP_WEIGHT = 10_000


def round_circuits(spec: OcsSpec, pairs: list[Pair], n_star: dict[Pair, float], time_limit_s: float,
           current: dict[Pair, int] | None = None, workers: int = 2,
           current_per_ocs: list[dict[Pair, int]] | None = None,
           demand_pairs: list[tuple[int, int]] | None = None, deterministic: bool = True
           ) -> tuple[dict[Pair, int], list[dict[Pair, int]] | None, dict[str, Any]]:
    """CP-SAT: integer circuits near the LP solution ``n_star``.

    Small instances (pairs x OCS <= :data:`JOINT_MAX_VARS`) are solved jointly with the per-OCS
    split (variables ``m[pair, ocs]``, each OCS's ports per block respected), so the result is
    realisable as it stands; larger ones respect block degrees only and are split afterwards by
    :func:`map_to_ocs`. Without ``current``: keep at least the LP's integer part where possible,
    fill free ports (largest fractional part first). With ``current``: stay at or above the LP's
    integer part and change as few circuits as possible. Without ``current`` CP-SAT starts from
    :func:`greedy_round` (a complete feasible hint, also the fallback). ``deterministic`` (default)
    runs one worker with a deterministic-time limit, so results repeat run to run; otherwise
    ``workers`` threads with a wall-clock limit. Returns (n, per-OCS circuits or None, info).
    """
    from ortools.sat.python import cp_model

    K = len(spec.ocs)
    joint = len(pairs) * K <= JOINT_MAX_VARS
    # The hedge covers the block pairs with demand (either way): a pair nobody sends on needs no
    # circuit, and hedging it would take ports from the pairs that do (on a permutation-like demand
    # a full-mesh hedge cost 22-24 % of the throughput; bench/optical.py).
    hedged = hedge_pairs(pairs, demand_pairs)
    partners = [sum(1 for p in hedged if b in p) for b in range(len(spec.blocks))]
    mesh = current is None and all(partners[b] <= spec.uplinks[b] for b in range(len(spec.blocks)))
    greedy = greedy_round(spec, pairs, n_star, mesh, hedged) if current is None else None
    m = cp_model.CpModel()
    n: dict[Pair, Any] = {}
    obj = []
    for p in pairs:
        v = n_star.get(p, 0.0)
        lo = math.floor(v + 1e-6)
        cap = min(spec.uplinks[p[0]], spec.uplinks[p[1]])
        if current is not None:
            cur = current.get(p, 0)
            hi = max(math.ceil(v - 1e-6), cur)
            x = m.new_int_var(0 if joint else min(lo, cur), hi, "")
            dp = m.new_int_var(0, max(hi, cur), "")
            m.add(dp >= x - cur)
            m.add(dp >= cur - x)
            short = m.new_int_var(0, lo, "")
            m.add(short >= lo - x)  # keep the LP's integer part: the capacity the target needs
            obj.append(-1_000_000 * short - CHURN_WEIGHT * dp + x)
            up = math.ceil(v - 1e-6)
            if up > cur:
                # The LP adds circuits here: round the addition up (one more changed circuit at
                # most), so the rounded circuits carry at least what the LP's did where it wanted
                # more; decreases round down (ports freed) through the churn term.
                under = m.new_int_var(0, up - cur, "")
                m.add(under >= up - x)
                obj.append(-ROUND_UP_WEIGHT * under)
                m.add_hint(under, up - cur)
            # A complete hint: the current circuits (feasible; on the joint model the per-OCS
            # variables below are hinted with the current split too).
            m.add_hint(x, cur)
            m.add_hint(dp, 0)
            m.add_hint(short, max(0, lo - cur))
        else:
            hi = min(lo + 1, cap)
            x = m.new_int_var(0, max(lo, hi), "")
            frac = v - lo
            obj.append((1000 + int(round(1000 * frac))) * x)
            short = m.new_int_var(0, lo, "")
            m.add(short >= lo - x)
            obj.append(-SHORT_WEIGHT * short)
            g = greedy[p] if greedy is not None else lo
            m.add_hint(short, max(0, lo - g))
            if mesh and p in hedged:
                # Hedge: one circuit on every pair with demand when such a mesh fits in every
                # block's ports, so that every such pair is joined directly or through one transit.
                none = m.new_bool_var("")
                m.add(x >= 1).only_enforce_if(~none)
                obj.append(-HEDGE_WEIGHT * none)
                m.add_hint(none, g == 0)
            m.add_hint(x, g)
        n[p] = x
    has_demand = {b for st in demand_pairs for b in st} if demand_pairs is not None else set()
    for i in range(len(spec.blocks)):
        terms = [n[p] for p in pairs if i in p]
        if terms:
            m.add(sum(terms) <= spec.uplinks[i])
            # Keep each block's LP degree (and at least one circuit for a block with demand): a
            # block left with no circuits would make the throughput 0. Soft, so always feasible.
            target = max(1 if i in has_demand else 0,
                         math.floor(sum(n_star.get(p, 0.0) for p in pairs if i in p) + 1e-6))
            target = min(target, spec.uplinks[i])
            if target:
                deficit = m.new_int_var(0, target, "")
                m.add(deficit >= target - sum(terms))
                obj.append(-1_000_000 * deficit)
                start = greedy if greedy is not None else current
                if start is not None:
                    m.add_hint(deficit, max(0, target - sum(start.get(p, 0) for p in pairs if i in p)))
    mk: dict[tuple[Pair, int], Any] = {}
    if joint:
        for p in pairs:
            ks = [k for k in range(K) if spec.wiring[p[0]][k] and spec.wiring[p[1]][k]]
            for k in ks:
                mk[p, k] = m.new_int_var(0, min(spec.wiring[p[0]][k], spec.wiring[p[1]][k]), "")
                if current_per_ocs is not None:
                    want = current_per_ocs[k].get(p, 0)
                    dv = m.new_int_var(0, max(want, min(spec.wiring[p[0]][k], spec.wiring[p[1]][k])), "")
                    m.add(dv >= mk[p, k] - want)
                    m.add(dv >= want - mk[p, k])
                    obj.append(-10 * dv)
                    m.add_hint(mk[p, k], want)
                    m.add_hint(dv, 0)
            m.add(sum(mk[p, k] for k in ks) == n[p])
        for k in range(K):
            for b in range(len(spec.blocks)):
                terms = [mk[p, k] for p in pairs if b in p and (p, k) in mk]
                if terms:
                    m.add(sum(terms) <= spec.wiring[b][k])
    m.maximize(sum(obj))
    s = cp_model.CpSolver()
    if deterministic:
        # One worker and a deterministic-time limit: the same input gives the same circuits on any
        # machine load (a wall-clock limit cuts the search at a load-dependent point). The wall
        # limit stays as a safety net only.
        s.parameters.num_workers = 1
        s.parameters.random_seed = 0
        s.parameters.max_deterministic_time = float(time_limit_s)
        s.parameters.max_time_in_seconds = 4.0 * float(time_limit_s)
    else:
        s.parameters.max_time_in_seconds = float(time_limit_s)
        s.parameters.num_workers = workers
    t0 = time.perf_counter()
    status = s.solve(m)
    info: dict[str, Any] = {"name": "CP-SAT", "status": s.status_name(status), "seconds": time.perf_counter() - t0,
                            "joint_with_ocs": joint}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if joint:
            raise InfeasibleError(f"CP-SAT found no integer circuits in {time_limit_s:.1f} s (raise --time-limit)")
        if greedy is not None:
            info["note"] = "no CP-SAT solution in time: greedy rounding used"
            return dict(greedy), None, info
        # The floors alone satisfy the block degrees whenever the LP did: fall back to them.
        info["note"] = "no CP-SAT solution in time: LP floors used"
        return {p: math.floor(n_star.get(p, 0.0) + 1e-6) for p in pairs}, None, info
    info.update(objective=s.objective_value, bound=s.best_objective_bound)
    per_ocs: list[dict[Pair, int]] | None = None
    if joint:
        per_ocs = [{} for _ in range(K)]
        for (p, k), var in mk.items():
            if s.value(var):
                per_ocs[k][p] = int(s.value(var))
    return {p: int(s.value(x)) for p, x in n.items()}, per_ocs, info


def hedge_pairs(pairs: list[Pair], demand_pairs: list[tuple[int, int]] | None) -> set[Pair]:
    """The block pairs the rounding hedges with one circuit: those with demand either way (all
    ``pairs`` when the demand is not given)."""
    if demand_pairs is None:
        return set(pairs)
    two = {(min(s, t), max(s, t)) for s, t in demand_pairs}
    return {p for p in pairs if p in two}


def greedy_round(spec: OcsSpec, pairs: list[Pair], n_star: dict[Pair, float], mesh: bool,
                 hedged: set[Pair] | None = None) -> dict[Pair, int]:
    """Integer circuits near ``n_star`` within the block degrees, in the bounds of :func:`round_circuits`'s model.

    The LP's floors (feasible whenever the LP is), then with ``mesh`` one circuit on each empty pair
    (of ``hedged``, default all), then +1 on pairs by largest fractional part, then +1 on any pair whose two blocks still have free
    ports (largest LP value first); each pair gets at most floor + 1 (or 1 when the floor is 0).
    """
    nb = len(spec.blocks)
    lo = {p: math.floor(n_star.get(p, 0.0) + 1e-6) for p in pairs}
    n = dict(lo)
    free = list(spec.uplinks[:nb])
    for (i, j), c in n.items():
        free[i] -= c
        free[j] -= c

    def bump(p: Pair) -> None:
        i, j = p
        if n[p] == lo[p] and free[i] > 0 and free[j] > 0 and n[p] < min(spec.uplinks[i], spec.uplinks[j]):
            n[p] += 1
            free[i] -= 1
            free[j] -= 1

    by_value = sorted(pairs, key=lambda p: (-n_star.get(p, 0.0), p))
    if mesh:
        for p in by_value:
            if lo[p] == 0 and (hedged is None or p in hedged):
                bump(p)
    for p in sorted(pairs, key=lambda p: (-(n_star.get(p, 0.0) - lo[p]), p)):
        if n_star.get(p, 0.0) - lo[p] > 1e-6:
            bump(p)
    for p in by_value:
        bump(p)
    return n


def _pair_value(val: dict[Pair, float], a: int, b: int) -> float:
    return val.get((min(a, b), max(a, b)), -1e18) if a != b else -1e18


def _offer(moves: dict[tuple[tuple[Pair, ...], tuple[Pair, ...]], tuple[float, int]], est: float, k: int,
           rem: list[Pair], add: list[tuple[int, int]]) -> None:
    key = (tuple(sorted(rem)), tuple(sorted((min(a, b), max(a, b)) for a, b in add)))
    if est > 1e-12 and key not in moves:
        moves[key] = (est, k)


def improve_mapping(spec: OcsSpec, lp: ThroughputLp, per_ocs: list[dict[Pair, int]], ev: dict[str, Any], deadline: float,
             max_tries: int = 4) -> tuple[list[dict[Pair, int]], dict[str, Any], int]:
    """Local search on the per-OCS circuits, guided by the LP's marginal value of one more circuit
    per block pair. Moves stay inside one OCS, so every result remains a valid set of
    cross-connects: add a circuit between two blocks with free ports on that OCS, move one end of a
    circuit to a block with a free port there, or swap the ends of two circuits
    ((a,b),(c,d) -> (a,c),(b,d)). The moves with the best estimated gain are evaluated exactly and
    the first that raises the throughput is kept. Returns circuits, evaluation, accepted moves."""
    nb = len(spec.blocks)
    K = len(spec.ocs)
    accepted = 0
    while time.perf_counter() < deadline:
        val = ev.get("value", {})

        moves: dict[tuple[tuple[Pair, ...], tuple[Pair, ...]], tuple[float, int]] = {}
        v = partial(_pair_value, val)
        offer = partial(_offer, moves)

        for k in range(K):
            free = [spec.wiring[b][k] - sum(c for p, c in per_ocs[k].items() if b in p) for b in range(nb)]
            fb = [b for b in range(nb) if free[b] > 0]
            for i, a in enumerate(fb):
                for b in fb[i + 1:]:
                    offer(v(a, b), k, [], [(a, b)])
            used = [p for p, c in per_ocs[k].items() if c > 0]
            for a, b in used:
                for x, y in ((a, b), (b, a)):
                    for c in fb:
                        if c not in (x, y):
                            offer(v(x, c) - v(a, b), k, [(a, b)], [(x, c)])
            for i, (a, b) in enumerate(used):
                for c, d in used[i + 1:]:
                    if len({a, b, c, d}) == 4:
                        for e, f in (((a, c), (b, d)), ((a, d), (b, c))):
                            offer(v(*e) + v(*f) - v(a, b) - v(c, d), k, [(a, b), (c, d)], [e, f])
        better = None
        for (rem, add), (_est, k) in sorted(moves.items(), key=lambda kv: -kv[1][0])[:max_tries]:
            if time.perf_counter() >= deadline:
                break
            trial = [dict(d) for d in per_ocs]
            for p in rem:
                trial[k][p] -= 1
                if not trial[k][p]:
                    del trial[k][p]
            for p in add:
                trial[k][p] = trial[k].get(p, 0) + 1
            e2 = lp.evaluate(sum_per_ocs(trial), time_limit_s=max(0.5, deadline - time.perf_counter()))
            if e2["status"] == "OPTIMAL" and e2["theta"] > ev["theta"] * (1 + 1e-9) + 1e-12:
                better = (trial, e2)
                break
        if better is None:
            break
        per_ocs, ev = better
        accepted += 1
    return per_ocs, ev, accepted


def _euler_split(circ: dict[Pair, int], slack: dict[int, bool]) -> tuple[dict[Pair, int], dict[Pair, int]]:
    """Split a multigraph's edges in two so that every vertex gets floor or ceil of half its degree.

    Odd-degree vertices are joined to a dummy vertex; edges of an Euler circuit of each component are
    coloured alternately (Petersen's argument). The circuit starts at the dummy vertex, else at a
    vertex with ``slack`` (its degree below twice a side's capacity), so that the one vertex that may
    end up with one edge too many on side A can take it.
    """
    import networkx as nx

    g = nx.MultiGraph()
    for (i, j), c in circ.items():
        for _ in range(c):
            g.add_edge(i, j)
    dummy = -1
    for v in [v for v, d in g.degree() if d % 2]:
        g.add_edge(dummy, v)
    a: dict[Pair, int] = {}
    b: dict[Pair, int] = {}
    for comp in nx.connected_components(g):
        sub = g.subgraph(comp)
        if dummy in comp:
            start = dummy
        else:
            start = next((v for v in comp if slack.get(v, False)), next(iter(comp)))
        for k, (u, v) in enumerate(nx.eulerian_circuit(sub, source=start)):
            if u == dummy or v == dummy:
                continue
            p = (min(u, v), max(u, v))
            side = a if k % 2 == 0 else b
            side[p] = side.get(p, 0) + 1
    return a, b


def map_to_ocs(spec: OcsSpec, circuits: dict[Pair, int], *, time_limit_s: float = 10.0,
               prefer: list[dict[Pair, int]] | None = None, workers: int = 2
               ) -> tuple[list[dict[Pair, int]], int, dict[str, Any]]:
    """Split logical circuits over the OCS devices: ``per_ocs[k][pair]`` circuits on OCS k.

    Recursive bisection of the OCS set. Each split gives each side an integer share of every pair's
    circuits with no block using more ports on a side than it is wired to there. When both halves
    are wired identically (uniform spread) and no ``prefer`` is given, an Euler split does it in
    linear time; otherwise a small CP-SAT model (first without dropping anything, then minimising
    dropped circuits). ``prefer`` (current per-OCS circuits) keeps each split as close as possible
    to it. Returns per-OCS circuits, the number dropped and solver details.
    """
    t_start = time.perf_counter()
    K = len(spec.ocs)
    nb = len(spec.blocks)
    per_ocs: list[dict[Pair, int]] = [{} for _ in range(K)]
    dropped = 0
    statuses: list[str] = []
    n_euler = 0

    def cap(b: int, group: list[int]) -> int:
        return sum(spec.wiring[b][k] for k in group)

    stack: list[tuple[list[int], dict[Pair, int]]] = [(list(range(K)), {p: c for p, c in circuits.items() if c})]
    while stack:
        group, circ = stack.pop()
        if len(group) == 1:
            per_ocs[group[0]] = circ
            continue
        half = len(group) // 2
        ga, gb = group[:half], group[half:]
        ca = [cap(b, ga) for b in range(nb)]
        cb = [cap(b, gb) for b in range(nb)]
        deg = [0] * nb
        for (i, j), c in circ.items():
            deg[i] += c
            deg[j] += c
        if prefer is None and ca == cb and all(deg[b] <= ca[b] + cb[b] for b in range(nb)):
            xa, xb = _euler_split(circ, {b: deg[b] < ca[b] + cb[b] for b in range(nb)})
            over = [b for b in range(nb) if sum(c for p, c in xa.items() if b in p) > ca[b]]
            if not over:
                n_euler += 1
                stack.append((gb, xb))
                stack.append((ga, xa))
                continue
        remaining = max(0.2, time_limit_s - (time.perf_counter() - t_start))
        budget = max(0.2, remaining / max(1, len(stack) + 1))
        res = _split_cpsat(circ, ca, cb, prefer, ga, budget, workers, allow_drop=False)
        if res is None:
            res = _split_cpsat(circ, ca, cb, prefer, ga, budget, workers, allow_drop=True)
        if res is None:
            raise InfeasibleError(f"OCS mapping found no split of {len(circ)} block pairs over "
                                  f"{len(group)} OCS in {budget:.2f} s (raise --time-limit)")
        xa, xb, dr, st = res
        statuses.append(st)
        dropped += dr
        stack.append((gb, xb))
        stack.append((ga, xa))
    info = {"name": "Euler split + CP-SAT bisection", "euler_splits": n_euler, "cp_sat_splits": len(statuses),
            "status": "OPTIMAL" if all(x == "OPTIMAL" for x in statuses) else "FEASIBLE",
            "seconds": time.perf_counter() - t_start}
    return per_ocs, dropped, info


def _split_cpsat(circ: dict[Pair, int], ca: list[int], cb: list[int], prefer: list[dict[Pair, int]] | None,
                 ga: list[int], budget: float, workers: int, *, allow_drop: bool
                 ) -> tuple[dict[Pair, int], dict[Pair, int], int, str] | None:
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    xa: dict[Pair, Any] = {}
    xb: dict[Pair, Any] = {}
    drops = []
    for p, c in circ.items():
        i, j = p
        ub_a = c if (ca[i] and ca[j]) else 0
        ub_b = c if (cb[i] and cb[j]) else 0
        xa[p] = m.new_int_var(0, ub_a, "")
        xb[p] = m.new_int_var(0, ub_b, "")
        if allow_drop:
            d = m.new_int_var(0, c, "")
            m.add(xa[p] + xb[p] + d == c)
            drops.append(d)
        else:
            m.add(xa[p] + xb[p] == c)
        if prefer is None:
            m.add_hint(xa[p], min(ub_a, c // 2 if ub_b else c))
    for b in range(len(ca)):
        ta = [xa[p] for p in circ if b in p]
        if ta:
            m.add(sum(ta) <= ca[b])
            m.add(sum(xb[p] for p in circ if b in p) <= cb[b])
    dev = []
    if prefer is not None:
        for p in circ:
            want = sum(prefer[k].get(p, 0) for k in ga)
            dv = m.new_int_var(0, circ[p] + want, "")
            m.add(dv >= xa[p] - want)
            m.add(dv >= want - xa[p])
            dev.append(dv)
            m.add_hint(xa[p], min(want, circ[p]))
    big = 1 + sum(circ.values()) * 2
    if drops or dev:
        m.minimize(big * sum(drops) + sum(dev))
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = budget
    s.parameters.num_workers = workers
    status = s.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return ({p: s.value(v) for p, v in xa.items() if s.value(v)}, {p: s.value(v) for p, v in xb.items() if s.value(v)},
            sum(s.value(d) for d in drops), s.status_name(status))


def port_pairs(spec: OcsSpec, per_ocs: list[dict[Pair, int]],
               keep: dict[str, list[list[int]]] | None = None) -> dict[str, list[list[int]]]:
    """Number the cross-connects: for each OCS, ``[port_a, port_b]`` pairs (port_a on the lower block).

    ``keep`` (current cross-connects per OCS) are reused first where the pair still has circuits there.
    """
    out: dict[str, list[list[int]]] = {}
    for k, o in enumerate(spec.ocs):
        owner = {pt: b for b in range(len(spec.blocks)) for pt in spec.port_ids[k][b]}
        free = {b: list(spec.port_ids[k][b]) for b in range(len(spec.blocks))}
        need = dict(per_ocs[k])
        pairs_k: list[list[int]] = []
        for pa, pb in (keep or {}).get(o, []):
            bi, bj = owner.get(pa), owner.get(pb)
            if bi is None or bj is None:
                continue
            p = (min(bi, bj), max(bi, bj))
            if need.get(p, 0) > 0 and pa in free[bi] and pb in free[bj]:
                need[p] -= 1
                free[bi].remove(pa)
                free[bj].remove(pb)
                pairs_k.append([pa, pb] if bi <= bj else [pb, pa])
        for (i, j), c in sorted(need.items()):
            for _ in range(c):
                pairs_k.append([free[i].pop(0), free[j].pop(0)])
        out[o] = sorted(pairs_k)
    return out


def sum_per_ocs(per_ocs: list[dict[Pair, int]]) -> dict[Pair, int]:
    out: dict[Pair, int] = {}
    for d in per_ocs:
        for p, c in d.items():
            out[p] = out.get(p, 0) + c
    return out


def map_incremental(spec: OcsSpec, circuits: dict[Pair, int], current_per_ocs: list[dict[Pair, int]]
                    ) -> tuple[list[dict[Pair, int]], int, dict[str, Any]]:
    """Per-OCS circuits for ``circuits`` that keep the current per-OCS split wherever it can.

    Greedy, for reconfiguration (the CP-SAT bisection with a preference, :func:`map_to_ocs`, takes
    too long on 64 OCS). Pairs with fewer circuits lose them on the OCS whose freed ports most help
    the pairs that gain (their new partners have a free port there). Each added circuit ``(a, b)``
    goes on an OCS where both blocks have a free port; failing that, on an OCS where ``a`` has one,
    after one circuit ``(b, c)`` there moves to another OCS where ``b`` and ``c`` both have one (two
    more changed cross-connects), or the same with ``a`` and ``b`` swapped; failing that, with one
    more such move to make room for the moved circuit. Circuits placed nowhere are dropped and
    counted, and the ports they leave free are joined on each OCS where two blocks have one (``filled``
    in the details; those circuits are beyond ``circuits``). Returns per-OCS circuits, dropped, details.
    """
    t0 = time.perf_counter()
    K = len(spec.ocs)
    nb = len(spec.blocks)
    per = [dict(d) for d in current_per_ocs]
    free = [[spec.wiring[b][k] for k in range(K)] for b in range(nb)]
    for k in range(K):
        for (i, j), c in per[k].items():
            free[i][k] -= c
            free[j][k] -= c
    cur = sum_per_ocs(per)
    pairs = set(cur) | {p for p, c in circuits.items() if c}
    delta = {p: circuits.get(p, 0) - cur.get(p, 0) for p in pairs}
    gain_partners: dict[int, set[int]] = {b: set() for b in range(nb)}
    for (i, j), d in delta.items():
        if d > 0:
            gain_partners[i].add(j)
            gain_partners[j].add(i)

    def put(k: int, p: Pair, c: int) -> None:
        per[k][p] = per[k].get(p, 0) + c
        if not per[k][p]:
            del per[k][p]
        free[p[0]][k] -= c
        free[p[1]][k] -= c

    for p in sorted(p for p, d in delta.items() if d < 0):
        for _ in range(-delta[p]):
            ks = [k for k in range(K) if per[k].get(p, 0) > 0]
            k = max(ks, key=lambda k: (sum(free[w][k] > 0 for b in p for w in gain_partners[b]), per[k][p], -k))
            put(k, p, -1)
    moved = dropped = 0
    for p in sorted(p for p, d in delta.items() if d > 0):
        a, b = p
        for _ in range(delta[p]):
            both = next((k for k in range(K) if free[a][k] > 0 and free[b][k] > 0), None)
            if both is not None:
                put(both, p, 1)
                continue
            done = False
            for depth in (1, 2, 3):
                for x, y in ((a, b), (b, a)):   # x has a free port on k; y's circuit there moves away
                    for k in (k for k in range(K) if free[x][k] > 0):
                        if _room(spec, per, free, put, y, k, exclude=x, depth=depth):
                            put(k, p, 1)
                            moved += depth
                            done = True
                            break
                    if done:
                        break
                if done:
                    break
            if not done:
                dropped += 1
    # Ports left free by circuits placed nowhere: join them on each OCS, pairs that gained first (each
    # such circuit still adds capacity; the result then has more circuits on those pairs).
    filled = 0
    if dropped:
        for k in range(K):
            open_ = [b for b in range(nb) if free[b][k] > 0]
            for x, y in sorted(((x, y) for i, x in enumerate(open_) for y in open_[i + 1:]),
                               key=lambda q: (-max(0, delta.get(q, 0)), q)):
                while free[x][k] > 0 and free[y][k] > 0:
                    put(k, (x, y), 1)
                    filled += 1
    info = {"name": "incremental greedy (keep the current split, repair by moving circuits)", "moved": moved,
            "dropped": dropped, "filled": filled, "status": "FEASIBLE", "seconds": time.perf_counter() - t0}
    return per, dropped, info


def _room(spec: OcsSpec, per: list[dict[Pair, int]], free: list[list[int]], put: Any, y: int, k: int, *,
          exclude: int, depth: int) -> bool:
    """Free a port of block ``y`` on OCS ``k`` by moving one of its circuits ``(y, z)`` (``z`` not
    ``exclude``) to another OCS where ``y`` and ``z`` have free ports, making room for ``z`` there
    the same way when ``depth`` allows. Changes ``per``/``free`` only when it succeeds."""
    K = len(spec.ocs)
    for q in list(per[k]):
        if y not in q or exclude in q:
            continue
        z = q[0] if q[1] == y else q[1]
        for k2 in range(K):
            if k2 == k or free[y][k2] <= 0:
                continue
            if free[z][k2] > 0 or (depth > 1 and _room(spec, per, free, put, z, k2, exclude=y, depth=depth - 1)):
                put(k, q, -1)
                put(k2, q, 1)
                return True
    return False
