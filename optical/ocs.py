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
   directly or through one transit). Small instances (pairs x OCS <= :data:`JOINT_MAX_VARS`) are
   solved jointly with the per-OCS split; up to :data:`IMPROVE_MAX_PAIRS` block pairs an LP-guided
   local search (moves inside one OCS) improves the result.
3. **Physical mapping** (larger instances): recursive bisection of the OCS set, an Euler split when
   both halves are wired alike, otherwise CP-SAT. Each OCS connects each port to at most one other
   port, and only ports of blocks wired to it. Circuits that cannot be placed are dropped and
   counted (``dropped``).
4. **Throughput** of the placed circuits: the same LP with ``n`` fixed gives ``throughput_scale``,
   always carried by an explicit routing (if the evaluation is cut by its time limit it is the best
   routing found, and ``solver.evaluate.converged`` is false);
   ``gap = (lp_bound - throughput_scale) / lp_bound``.

**Reconfiguration** (``current=``): when the current circuits already carry at least
``(1 - tolerance)`` x the best throughput found, nothing changes. Otherwise an LP finds circuits
closest (L1) to the current ones that carry that target, CP-SAT rounds them changing as few
circuits as possible, and the physical mapping keeps existing cross-connects where it can.

Plan section ``ocs`` data::

    {"throughput_scale": float, "lp_bound": float, "gap": float, "mlu": float (1 / throughput_scale),
     "circuits": {ocs: [[port_a, port_b], ...]}, "logical": [{"a", "b", "circuits"}],
     "wiring": {ocs: {block: [port, ...]}}, "circuit_gbps": float, "direct_share": float,
     "dropped": int,
     "changed": {"from_current": bool, "kept": int, "added": int, "removed": int,
                 "per_ocs": {ocs: {"added": [[a, b]], "removed": [[a, b]]}}}}
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fabric.errors import ConfigError, InfeasibleError
from fabric.plan import Plan, Provenance
from optical.fibre import number, read_data_file

#: Ports of one OCS (Google Palomar/Apollo: 136 x 136; REFERENCE.md).
DEFAULT_OCS_PORTS = 136
#: Capacity of one circuit (one block uplink), Gb/s each direction. *Assumption*: 400G optics.
DEFAULT_CIRCUIT_GBPS = 400.0

Pair = tuple[int, int]  # block indices, i < j
#: Local search on the integer circuits runs up to this many block pairs (it evaluates moves with the
#: LP; beyond this the rounding alone is used).
IMPROVE_MAX_PAIRS = 300
#: Integer circuits are solved jointly with their per-OCS split up to this many pair x OCS variables.
JOINT_MAX_VARS = 2_000
#: One-transit paths each demand starts with when circuits are evaluated.
SEED_TRANSIT = 4


@dataclass
class OcsSpec:
    """Blocks, OCS devices and the wiring between them (ports per block per OCS)."""

    blocks: list[str]
    uplinks: list[int]
    ocs: list[str]
    #: wiring[b][k]: ports of block b on OCS k.
    wiring: list[list[int]]
    ports: int = DEFAULT_OCS_PORTS
    circuit_gbps: float = DEFAULT_CIRCUIT_GBPS
    name: str = "ocs"
    #: port_ids[k][b]: the port numbers of block b on OCS k (contiguous, in block order).
    port_ids: list[list[list[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.port_ids:
            self.port_ids = []
            for k in range(len(self.ocs)):
                nxt = 0
                per_block = []
                for b in range(len(self.blocks)):
                    per_block.append(list(range(nxt, nxt + self.wiring[b][k])))
                    nxt += self.wiring[b][k]
                self.port_ids.append(per_block)

    def capable(self, i: int, j: int) -> bool:
        """Whether some OCS is wired to both blocks."""
        return any(self.wiring[i][k] and self.wiring[j][k] for k in range(len(self.ocs)))


def make_spec(uplinks: dict[str, int] | list[int], n_ocs: int, *, ports: int = DEFAULT_OCS_PORTS,
              circuit_gbps: float = DEFAULT_CIRCUIT_GBPS, name: str = "ocs") -> OcsSpec:
    """Blocks with uplinks spread evenly over ``n_ocs`` OCS devices (remainders round robin)."""
    names = list(uplinks) if isinstance(uplinks, dict) else [f"b{i + 1}" for i in range(len(uplinks))]
    ups = [int(v) for v in (uplinks.values() if isinstance(uplinks, dict) else uplinks)]
    ocs = [f"ocs{k + 1}" for k in range(n_ocs)]
    wiring = [_even(u, n_ocs, b) for b, u in enumerate(ups)]
    spec = OcsSpec(names, ups, ocs, wiring, ports, circuit_gbps, name)
    _check_ports(spec, None)
    return spec


def _even(u: int, n: int, offset: int) -> list[int]:
    row = [u // n] * n
    for r in range(u % n):
        row[(offset + r) % n] += 1
    return row


def _check_ports(spec: OcsSpec, file: str | None) -> None:
    for k, o in enumerate(spec.ocs):
        used = sum(spec.wiring[b][k] for b in range(len(spec.blocks)))
        if used > spec.ports:
            raise ConfigError(f"OCS {o} is wired to {used} block ports but has {spec.ports}", file=file,
                              where=f"ocs {o}")


def load_blocks(path: str | os.PathLike[str]) -> OcsSpec:
    """Read a blocks file (YAML/JSON); see README "Optical planning" for the format."""
    f = str(path)
    obj = read_data_file(path)
    if not isinstance(obj, dict):
        raise ConfigError("expected a mapping with 'blocks' and 'ocs'", file=f)
    unknown = set(obj) - {"name", "ocs", "ocs_ports", "circuit_gbps", "blocks"}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=f)
    ports = int(number(obj.get("ocs_ports", DEFAULT_OCS_PORTS), file=f, where="ocs_ports", strict=True))
    cg = number(obj.get("circuit_gbps", DEFAULT_CIRCUIT_GBPS), file=f, where="circuit_gbps", strict=True)
    ocs_v = obj.get("ocs")
    if isinstance(ocs_v, int) and not isinstance(ocs_v, bool) and ocs_v > 0:
        ocs = [f"ocs{k + 1}" for k in range(ocs_v)]
    elif isinstance(ocs_v, list) and ocs_v and all(isinstance(x, str) and x for x in ocs_v):
        ocs = list(ocs_v)
        if len(set(ocs)) != len(ocs):
            raise ConfigError("duplicate OCS names", file=f, where="ocs")
    else:
        raise ConfigError("'ocs' must be a positive count or a list of names", file=f, where="ocs")
    items = obj.get("blocks")
    if not isinstance(items, list) or len(items) < 2:
        raise ConfigError("'blocks' must list at least two blocks", file=f, where="blocks")
    names: list[str] = []
    ups: list[int] = []
    wiring: list[list[int]] = []
    for b, it in enumerate(items):
        w = f"blocks[{b}]"
        if not isinstance(it, dict) or not isinstance(it.get("name"), str) or not it["name"]:
            raise ConfigError("each block needs a 'name'", file=f, where=w)
        if set(it) - {"name", "uplinks", "ocs"}:
            raise ConfigError(f"unknown key(s) {sorted(set(it) - {'name', 'uplinks', 'ocs'})}", file=f, where=w)
        if it["name"] in names:
            raise ConfigError(f"duplicate block name {it['name']!r}", file=f, where=w)
        names.append(it["name"])
        per = it.get("ocs")
        if per is None:
            u = it.get("uplinks")
            if isinstance(u, bool) or not isinstance(u, int) or u < 1:
                raise ConfigError(f"'uplinks' must be a positive integer, got {u!r}", file=f, where=f"{w}.uplinks")
            row = _even(u, len(ocs), b)
        else:
            if not isinstance(per, dict):
                raise ConfigError("'ocs' must map OCS name -> ports", file=f, where=f"{w}.ocs")
            row = [0] * len(ocs)
            for o, n in per.items():
                if o not in ocs:
                    raise ConfigError(f"unknown OCS {o!r}", file=f, where=f"{w}.ocs")
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ConfigError(f"ports must be a non-negative integer, got {n!r}", file=f,
                                      where=f"{w}.ocs.{o}")
                row[ocs.index(o)] = n
            u = sum(row)
            if "uplinks" in it and it["uplinks"] != u:
                raise ConfigError(f"uplinks {it['uplinks']!r} differs from the {u} ports wired in 'ocs'",
                                  file=f, where=f"{w}.uplinks")
            if u < 1:
                raise ConfigError("block is wired to no OCS port", file=f, where=w)
        ups.append(u)
        wiring.append(row)
    name = obj.get("name", os.path.splitext(os.path.basename(f))[0])
    spec = OcsSpec(names, ups, ocs, wiring, ports, cg, str(name))
    _check_ports(spec, f)
    return spec


def load_block_demand(path: str | os.PathLike[str], spec: OcsSpec) -> dict[Pair | tuple[int, int], float]:
    """Read a block demand file: ``matrix: {src: {dst: gbps}}`` or ``demands: [{src, dst, gbps}]``.

    Returns directed demands ``{(src index, dst index): gbps}``.
    """
    f = str(path)
    obj = read_data_file(path)
    if not isinstance(obj, dict) or not (set(obj) & {"matrix", "demands"}) or set(obj) - {"matrix", "demands"}:
        raise ConfigError("expected 'matrix: {src: {dst: gbps}}' or 'demands: [{src, dst, gbps}]'", file=f)
    idx = {b: i for i, b in enumerate(spec.blocks)}
    out: dict[tuple[int, int], float] = {}
    triples: list[tuple[Any, Any, Any, str]] = []
    if "matrix" in obj:
        m = obj["matrix"]
        if not isinstance(m, dict):
            raise ConfigError("'matrix' must map src -> {dst: gbps}", file=f, where="matrix")
        for s, row in m.items():
            if not isinstance(row, dict):
                raise ConfigError("each row must map dst -> gbps", file=f, where=f"matrix.{s}")
            triples.extend((s, t, v, f"matrix.{s}.{t}") for t, v in row.items())
    if "demands" in obj:
        ds = obj["demands"]
        if not isinstance(ds, list):
            raise ConfigError("'demands' must be a list", file=f, where="demands")
        for i, it in enumerate(ds):
            if not isinstance(it, dict) or set(it) != {"src", "dst", "gbps"}:
                raise ConfigError("each demand needs exactly src, dst, gbps", file=f, where=f"demands[{i}]")
            triples.append((it["src"], it["dst"], it["gbps"], f"demands[{i}]"))
    for s, t, v, w in triples:
        for b in (s, t):
            if b not in idx:
                raise ConfigError(f"unknown block {b!r}", file=f, where=w)
        if s == t:
            raise ConfigError("demand from a block to itself", file=f, where=w)
        g = number(v, file=f, where=w)
        if g > 0:
            out[idx[s], idx[t]] = out.get((idx[s], idx[t]), 0.0) + g
    if not out:
        raise ConfigError("the demand is empty (all zero)", file=f)
    return out


# ----------------------------------------------------------------------------- LP
def _bottleneck(cap: Any, s: int, t: int, m: int) -> int:
    """Sort key: larger bottleneck circuits on s->m->t first."""
    return -min(cap(s, m), cap(m, t))


class _Lp:
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

    def bound(self) -> dict[str, Any]:
        """Circuits free within the block degrees: the LP bound on the throughput scale."""
        for p, v in self.n.items():
            v.SetBounds(0.0, self.ub[p])
        return self._run()

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

        def cap(a: int, b: int) -> int:
            return fixed.get((min(a, b), max(a, b)), 0)

        for (s, t), cl in self.cols.items():
            have = {mid for mid, _x in cl}
            if self.has(s, t) and -1 not in have:
                self._add(s, t, -1)
            cand = [m for m in range(self.nb) if m not in (s, t) and m not in have and cap(s, m) and cap(m, t)]
            mids = sorted(cand, key=partial(_bottleneck, cap, s, t))
            for mid in mids[:max(0, SEED_TRANSIT - len(have))]:
                self._add(s, t, mid)
        c = self.spec.circuit_gbps
        caps = {(i, j): c * cap(i, j) for (i, j) in self.arc_row}
        obj = self.lp.Objective()
        total = sum(self.demand.values())
        for key, zv in self.z.items():
            zv.SetBounds(0.0, self.lp.infinity())
            obj.SetCoefficient(zv, 1e-3 * self.demand[key] / total)
        half = None if time_limit_s is None else time_limit_s / 3
        r1 = self._run(time_limit_s=half, per_demand=3)
        for zv in self.z.values():
            zv.SetBounds(0.0, 0.0)
            obj.SetCoefficient(zv, 0.0)
        left = None if time_limit_s is None else max(1.0, time_limit_s - (time.perf_counter() - t0))
        r = self._run(stop_at=stop_at, time_limit_s=left, per_demand=3, caps=caps)
        if r["status"] != "OPTIMAL" or (r1["status"] == "OPTIMAL" and r1["theta"] > r["theta"]):
            # Phase 1's routing carries its theta too (every demand gets at least theta x demand).
            r = {**r1, "converged": False, "upper": r.get("upper")}
        if stop_at is not None and r["status"] == "OPTIMAL" and r["theta"] >= stop_at * (1 - 1e-9):
            r["converged"] = True   # it meets an upper bound: optimal
        r["n"] = dict(fixed)
        r["seconds"] = time.perf_counter() - t0
        return r

    def min_change(self, theta_min: float, current: dict[Pair, int]) -> dict[str, Any]:
        """Circuits closest (L1) to ``current`` that carry ``theta_min`` x demand."""
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
        return self._run()

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
            new: list[tuple[int, int, int]] = []
            for (s, t), cl in self.cols.items():
                sigma = sign * self.dem_row[s, t].dual_value()
                score = -sigma - both[s, :, t]
                tol = 1e-9 * max(1.0, abs(sigma))
                cand = np.nonzero(score > tol)[0]
                if cand.size == 0:
                    continue
                have = {mid for mid, _x in cl}
                best = cand[np.argsort(-score[cand])]
                picked = 0
                for m_ in best:
                    mid = int(m_)
                    if mid in (s, t) or mid in have:
                        continue
                    new.append((s, t, mid))
                    picked += 1
                    if picked >= per_demand:
                        break
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

    def _snapshot(self) -> dict[str, Any]:
        """Everything read from the current solution (the model may change afterwards)."""
        sign = -1.0 if self.minimising else 1.0
        th = self.theta.solution_value()
        total = sum(x.solution_value() for cl in self.cols.values() for _mid, x in cl)
        direct = sum(x.solution_value() for cl in self.cols.values() for mid, x in cl if mid < 0)
        return {"theta": th, "direct_share": direct / total if total > 0 else 0.0,
                "n": {p: v.solution_value() for p, v in self.n.items()},
                "value": {p: max(0.0, sign * v.reduced_cost()) for p, v in self.n.items()}}


# ----------------------------------------------------------------------------- integer circuits
def _round(spec: OcsSpec, pairs: list[Pair], n_star: dict[Pair, float], time_limit_s: float,
           current: dict[Pair, int] | None = None, workers: int = 2,
           current_per_ocs: list[dict[Pair, int]] | None = None,
           demand_pairs: list[tuple[int, int]] | None = None
           ) -> tuple[dict[Pair, int], list[dict[Pair, int]] | None, dict[str, Any]]:
    """CP-SAT: integer circuits near the LP solution ``n_star``.

    Small instances (pairs x OCS <= :data:`JOINT_MAX_VARS`) are solved jointly with the per-OCS
    split (variables ``m[pair, ocs]``, each OCS's ports per block respected), so the result is
    realisable as it stands; larger ones respect block degrees only and are split afterwards by
    :func:`map_to_ocs`. Without ``current``: keep at least the LP's integer part where possible,
    fill free ports (largest fractional part first). With ``current``: stay at or above the LP's
    integer part and change as few circuits as possible. Returns (n, per-OCS circuits or None, info).
    """
    from ortools.sat.python import cp_model

    K = len(spec.ocs)
    joint = len(pairs) * K <= JOINT_MAX_VARS
    partners = [sum(1 for p in pairs if b in p) for b in range(len(spec.blocks))]
    mesh = current is None and all(partners[b] <= spec.uplinks[b] for b in range(len(spec.blocks)))
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
            obj.append(-1_000_000 * short - 1000 * dp + x)
            m.add_hint(x, cur)
        else:
            hi = min(lo + 1, cap)
            x = m.new_int_var(0, max(lo, hi), "")
            frac = v - lo
            obj.append((1000 + int(round(1000 * frac))) * x)
            short = m.new_int_var(0, lo, "")
            m.add(short >= lo - x)
            obj.append(-100_000 * short)
            if mesh:
                # Hedge: one circuit on every pair when a full mesh fits in every block's ports, so
                # that every block reaches every other directly or through one transit.
                none = m.new_bool_var("")
                m.add(x >= 1).only_enforce_if(~none)
                obj.append(-300_000 * none)
            m.add_hint(x, max(lo, 1) if mesh else lo)
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
            m.add(sum(mk[p, k] for k in ks) == n[p])
        for k in range(K):
            for b in range(len(spec.blocks)):
                terms = [mk[p, k] for p in pairs if b in p and (p, k) in mk]
                if terms:
                    m.add(sum(terms) <= spec.wiring[b][k])
    m.maximize(sum(obj))
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = float(time_limit_s)
    s.parameters.num_workers = workers
    t0 = time.perf_counter()
    status = s.solve(m)
    info: dict[str, Any] = {"name": "CP-SAT", "status": s.status_name(status), "seconds": time.perf_counter() - t0,
                            "joint_with_ocs": joint}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if joint:
            raise InfeasibleError(f"CP-SAT found no integer circuits in {time_limit_s:.1f} s (raise --time-limit)")
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


def _pair_value(val: dict[Pair, float], a: int, b: int) -> float:
    return val.get((min(a, b), max(a, b)), -1e18) if a != b else -1e18


def _offer(moves: dict[tuple[tuple[Pair, ...], tuple[Pair, ...]], tuple[float, int]], est: float, k: int,
           rem: list[Pair], add: list[tuple[int, int]]) -> None:
    key = (tuple(sorted(rem)), tuple(sorted((min(a, b), max(a, b)) for a, b in add)))
    if est > 1e-12 and key not in moves:
        moves[key] = (est, k)


def _improve(spec: OcsSpec, lp: _Lp, per_ocs: list[dict[Pair, int]], ev: dict[str, Any], deadline: float,
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
            e2 = lp.evaluate(_sum_per_ocs(trial), time_limit_s=max(0.5, deadline - time.perf_counter()))
            if e2["status"] == "OPTIMAL" and e2["theta"] > ev["theta"] * (1 + 1e-9) + 1e-12:
                better = (trial, e2)
                break
        if better is None:
            break
        per_ocs, ev = better
        accepted += 1
    return per_ocs, ev, accepted


# ----------------------------------------------------------------------------- physical mapping
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


def logical_from_ports(spec: OcsSpec, circuits: dict[str, list[list[int]]], *, file: str | None = None
                       ) -> tuple[dict[Pair, int], list[dict[Pair, int]]]:
    """Block-pair circuit counts (total and per OCS) of cross-connects; validates them."""
    total: dict[Pair, int] = {}
    per: list[dict[Pair, int]] = [{} for _ in spec.ocs]
    for o, pairs in circuits.items():
        if o not in spec.ocs:
            raise ConfigError(f"unknown OCS {o!r} in the current circuits", file=file, where=f"circuits.{o}")
        k = spec.ocs.index(o)
        owner = {pt: b for b in range(len(spec.blocks)) for pt in spec.port_ids[k][b]}
        seen: set[int] = set()
        for pr in pairs:
            if not (isinstance(pr, list | tuple) and len(pr) == 2 and all(isinstance(x, int) for x in pr)):
                raise ConfigError(f"a cross-connect must be [port_a, port_b], got {pr!r}", file=file,
                                  where=f"circuits.{o}")
            for x in pr:
                if x not in owner:
                    raise ConfigError(f"port {x} is not wired to a block", file=file, where=f"circuits.{o}")
                if x in seen:
                    raise ConfigError(f"port {x} is used twice", file=file, where=f"circuits.{o}")
                seen.add(x)
            bi, bj = owner[pr[0]], owner[pr[1]]
            if bi == bj:
                continue  # a loopback carries nothing between blocks
            p = (min(bi, bj), max(bi, bj))
            total[p] = total.get(p, 0) + 1
            per[k][p] = per[k].get(p, 0) + 1
    return total, per


@dataclass
class Current:
    circuits: dict[str, list[list[int]]]
    total: dict[Pair, int]
    per_ocs: list[dict[Pair, int]]


def circuits_from_plan(plan: Plan, spec: OcsSpec, *, file: str | None = None) -> Current:
    """The current circuits from a plan's ``ocs`` section (checked against the wiring)."""
    sec = plan.ocs
    if sec is None or not isinstance(sec.data.get("circuits"), dict):
        raise ConfigError("the plan has no ocs section with circuits", file=file, where="sections.ocs")
    total, per = logical_from_ports(spec, sec.data["circuits"], file=file)
    return Current(sec.data["circuits"], total, per)


# ----------------------------------------------------------------------------- the planner
@dataclass
class OcsResult:
    data: dict[str, Any]
    provenance: Provenance
    solver_info: dict[str, Any]


def plan_ocs(spec: OcsSpec, demand: dict[tuple[int, int], float], *, current: Current | None = None,
             tolerance: float = 0.01, time_limit_s: float = 10.0, eval_time_limit_s: float = 120.0,
             workers: int = 2) -> OcsResult:
    """Allocate circuits (see the module docstring for the method and the output shape).

    ``time_limit_s`` bounds the CP-SAT phases and the local search; ``eval_time_limit_s`` bounds the
    LP evaluation of the placed circuits (each evaluation; if it is cut, ``throughput_scale`` is
    what the routing found so far carries and ``solver.evaluate.converged`` is false).
    """
    t0 = time.perf_counter()
    if not demand:
        raise ConfigError("the demand is empty")
    lp = _Lp(spec, demand)
    bound = lp.bound()
    if bound["status"] != "OPTIMAL":
        raise InfeasibleError(f"throughput LP ended {bound['status']}")
    lp_bound = bound["theta"]
    if lp_bound <= 0:
        raise InfeasibleError("some demand has no direct or one-transit path between blocks wired to a common OCS")
    n_int, joint, r_info = _round(spec, lp.pairs, bound["n"], min(5.0, time_limit_s / 2), workers=workers,
                                  demand_pairs=list(demand))
    if joint is None:
        per_ocs, dropped, m_info = map_to_ocs(spec, n_int, time_limit_s=time_limit_s / 3, workers=workers)
    else:
        per_ocs, dropped, m_info = joint, 0, {"name": "CP-SAT (joint with the circuits)", "status": r_info["status"]}
    moves = 0
    if len(lp.pairs) <= IMPROVE_MAX_PAIRS:
        ev0 = lp.evaluate(_sum_per_ocs(per_ocs), stop_at=lp_bound, time_limit_s=eval_time_limit_s)
        per_ocs, _ev, moves = _improve(spec, lp, per_ocs, ev0, t0 + time_limit_s / 2)
    r_info["improving_moves"] = moves
    placed = _sum_per_ocs(per_ocs)
    ev = lp.evaluate(placed, stop_at=lp_bound, time_limit_s=eval_time_limit_s)
    theta, dshare = ev["theta"], ev["direct_share"]
    info: dict[str, Any] = {"lp": {"name": "GLOP", "status": bound["status"], "seconds": bound["seconds"],
                                   "pairs": len(lp.pairs), "rounds": bound["rounds"], "columns": bound.get("columns")},
                            "integer": r_info, "mapping": m_info,
                            "evaluate": {"name": "GLOP", "status": ev["status"], "seconds": ev["seconds"], "rounds": ev["rounds"],
                                         "converged": ev["converged"], "upper": ev["upper"]}}
    changed: dict[str, Any] = {"from_current": False, "kept": 0, "added": int(sum(placed.values())), "removed": 0,
                               "per_ocs": {}}
    keep_ports = None
    if current is not None:
        target = (1.0 - tolerance) * theta
        cur_eval = lp.evaluate(current.total, stop_at=lp_bound, time_limit_s=eval_time_limit_s)
        info["current"] = {"throughput_scale": cur_eval["theta"], "target": target}
        if cur_eval["theta"] >= target - 1e-9:
            per_ocs, placed, dropped = current.per_ocs, dict(current.total), 0
            theta, dshare = cur_eval["theta"], cur_eval["direct_share"]
            keep_ports = current.circuits
            info["reconfigure"] = "current circuits already within tolerance: nothing changes"
        else:
            best = (theta, dshare, per_ocs, placed, dropped)
            goal = target
            lp_mc = _Lp(spec, demand)  # its own model: min_change switches the objective
            for _attempt in range(3):
                near = lp_mc.min_change(min(goal, lp_bound), current.total)
                if near["status"] != "OPTIMAL":
                    break
                n_c, jo, _ = _round(spec, lp.pairs, near["n"], time_limit_s / 6, current=current.total,
                                    workers=workers, current_per_ocs=current.per_ocs, demand_pairs=list(demand))
                if jo is None:
                    po, dr, _ = map_to_ocs(spec, n_c, time_limit_s=time_limit_s / 6, prefer=current.per_ocs,
                                           workers=workers)
                else:
                    po, dr = jo, 0
                pl = _sum_per_ocs(po)
                e2 = lp.evaluate(pl, stop_at=lp_bound, time_limit_s=eval_time_limit_s)
                if e2["theta"] >= target - 1e-9:
                    best = (e2["theta"], e2["direct_share"], po, pl, dr)
                    break
                goal = min(lp_bound, goal + (target - e2["theta"]) + 1e-6 * lp_bound)
            theta, dshare, per_ocs, placed, dropped = best
            keep_ports = current.circuits
            info["reconfigure"] = "closest circuits (L1) carrying the target, rounded with CP-SAT"
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
    info["name"] = "GLOP + CP-SAT"
    prov = Provenance(solver="GLOP (bound) + CP-SAT (circuits, mapping)", status=r_info["status"],
                      objective=theta, bound=lp_bound, gap=gap, seconds=round(secs, 4),
                      params={"blocks": len(spec.blocks), "ocs": len(spec.ocs), "ports": spec.ports,
                              "circuit_gbps": spec.circuit_gbps, "tolerance": tolerance,
                              "time_limit_s": time_limit_s})
    return OcsResult(data, prov, info)


def _sum_per_ocs(per_ocs: list[dict[Pair, int]]) -> dict[Pair, int]:
    out: dict[Pair, int] = {}
    for d in per_ocs:
        for p, c in d.items():
            out[p] = out.get(p, 0) + c
    return out


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


# ----------------------------------------------------------------------------- generators
def random_demand(n_blocks: int, *, seed: int, skew: float = 0.0, mean_gbps: float = 1000.0
                  ) -> dict[tuple[int, int], float]:
    """All-pairs demand (seeded): uniform random in [0.5, 1.5] x ``mean_gbps``, or with ``skew`` > 0
    pair-skewed: the block pairs ranked in random order get Zipf weights ``1 / rank**skew`` (a few
    hot pairs, as when a training job spans two blocks), scaled to the same total."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 1.5, size=(n_blocks, n_blocks)) * mean_gbps
    keys = [(i, j) for i in range(n_blocks) for j in range(n_blocks) if i != j]
    if skew > 0:
        w = 1.0 / np.arange(1, len(keys) + 1) ** skew
        rng.shuffle(w)
        total = sum(d[i, j] for i, j in keys)
        w = w / w.sum() * total
        return {k: float(w[x]) for x, k in enumerate(keys)}
    return {(i, j): float(d[i, j]) for i, j in keys}
