"""Routing and wavelength assignment (RWA) between centres, with wavelength continuity.

Input: a fibre graph (a Fabric's ``wdm`` links, collapsed to sites by :func:`optical.fibre.wdm_site_graph`;
parallel links between two sites are parallel fibres), demands in Tb/s between sites, one
:class:`~optical.catalog.Transceiver` (rate, channel width, reach) and the usable spectrum per fibre.
A demand of ``tbps`` needs ``ceil(tbps * 1000 / rate_gbps)`` lightpaths; with 1+1 protection each
lightpath also gets a protection lightpath on a link-disjoint route.

Candidate routes are the ``k`` shortest (km) simple routes; a route longer than the reach gets
regeneration sites (:func:`optical.budget.place_regenerators`) or, with ``regen=False``, is not used;
a route whose one-way latency (the :mod:`optical.budget` model) exceeds the demand's
``max_latency_ms`` is not used. Wavelength continuity holds end to end, through regenerators too
(conservative: a regenerator could also convert).

Solvers (``solver=``): ``"first-fit"`` (the baseline: demands in file order, each lightpath on the
candidate route and lowest wavelength index that is free on every fibre of the route), and
``"cp-sat"`` (OR-Tools CP-SAT, time-limited, hinted with first-fit; lexicographic objective: fewest
blocked lightpaths, then fewest wavelengths, then fewest wavelength-links). ``lower_bound`` is
``ceil`` of the LP (GLOP) minimum of the max fibre load over the same candidate routes for the
lightpaths that were served: no assignment of them can use fewer wavelengths.

Plan section ``wdm`` data::

    {"lightpaths": [{"src", "dst", "route": [site], "wavelength": int, "rate_gbps": float,
                     "protection": bool (True: the protection leg of a 1+1 pair), "demand": int,
                     "km": float, "latency_us": float, "regenerators": [str]}],
     "wavelengths_used": int, "lower_bound": int, "max_fiber_load": int, "channels": int,
     "blocked": [{"src", "dst", "demand": int, "lightpaths": int, "tbps": float, "reason": str}],
     "fibres": [{"a", "b", "fibres": int, "km": float, "load": int, "wavelengths": [int]}]}
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar

import networkx as nx

from fabric.errors import ConfigError
from fabric.plan import Provenance, Section, WdmSection
from fabric.topology import Fabric
from optical.budget import BudgetModel, run_latency_us
from optical.catalog import Transceiver, channels
from optical.constants import C_BAND_GHZ, WDM_K_PATHS, WDM_SOLVER, WDM_TIME_LIMIT_S
from optical.fibre import number, read_endpoint_records, site_of, wdm_site_graph
from optical.solved import SolvedSection


@dataclass(frozen=True)
class Demand:
    src: str
    dst: str
    tbps: float
    protect: bool = False
    max_latency_ms: float | None = None


@dataclass
class Route:
    nodes: list[str]
    km: float
    latency_us: float
    regenerators: list[str]
    edges: list[int]  # indices into the edge list


@dataclass
class _Item:
    """One demand, prepared: units to carry and its options (1 route, or 2 disjoint routes)."""

    index: int
    demand: Demand
    units: int
    options: list[list[Route]] = field(default_factory=list)
    reason: str = ""


@dataclass
class WdmResult(SolvedSection):
    """What the planner returns; ``.section`` is the Plan's typed ``wdm`` section."""

    SECTION: ClassVar[type[Section]] = WdmSection


def load_demands(path: str | os.PathLike[str], *, protect_default: bool = False) -> list[Demand]:
    """Read a demand file: ``demands: [{src, dst, tbps, protect?, max_latency_ms?}]`` (YAML or JSON)."""
    f = str(path)
    out = []
    for w, it in read_endpoint_records(path, "demands", {"src", "dst", "tbps", "protect", "max_latency_ms"},
                                       "{src, dst, tbps}", "site or node name"):
        if it["src"] == it["dst"]:
            raise ConfigError("src and dst are the same", file=f, where=w)
        if "tbps" not in it:
            raise ConfigError("missing 'tbps'", file=f, where=w)
        tbps = number(it["tbps"], file=f, where=f"{w}.tbps", strict=True)
        prot = it.get("protect", protect_default)
        if not isinstance(prot, bool):
            raise ConfigError(f"'protect' must be true or false, got {prot!r}", file=f, where=f"{w}.protect")
        cap = it.get("max_latency_ms")
        cap_ms = None if cap is None else number(cap, file=f, where=f"{w}.max_latency_ms", strict=True)
        out.append(Demand(it["src"], it["dst"], tbps, prot or protect_default, cap_ms))
    return out


# ----------------------------------------------------------------------------- candidates
def _routes(g: nx.Graph, eidx: dict[frozenset[str], int], src: str, dst: str, k: int, t: Transceiver,
            regen: bool, model: BudgetModel, cap_us: float | None) -> tuple[list[Route], str]:
    """Up to ``k`` usable shortest routes, and why none is usable when the list is empty."""
    try:
        paths = list(islice(nx.shortest_simple_paths(g, src, dst, weight="length_km"), k))
    except nx.NetworkXNoPath:
        return [], f"no fibre path between {src} and {dst}"
    return _filter(g, eidx, paths, t, regen, model, cap_us, src, dst)


def _filter(g: nx.Graph, eidx: dict[frozenset[str], int], paths: list[list[str]], t: Transceiver,
            regen: bool, model: BudgetModel, cap_us: float | None, src: str, dst: str) -> tuple[list[Route], str]:
    out: list[Route] = []
    why: list[str] = []
    for p in paths:
        lengths = [g.edges[u, v]["length_km"] for u, v in zip(p, p[1:], strict=False)]
        lat, regens = run_latency_us(p, lengths, model)
        if regens and not regen:
            why.append(f"route {'>'.join(p)} is {sum(lengths):.0f} km, over the {t.reach_km:g} km reach of "
                       f"{t.name}, and regeneration is off")
            continue
        if cap_us is not None and lat > cap_us:
            why.append(f"route {'>'.join(p)} takes {lat / 1000:.2f} ms, over the {cap_us / 1000:g} ms cap")
            continue
        out.append(Route(p, sum(lengths), lat, regens,
                         [eidx[frozenset((u, v))] for u, v in zip(p, p[1:], strict=False)]))
    reason = "" if out else ("no usable route between " + f"{src} and {dst}: " + "; ".join(why[:3]))
    return out, reason


def _prepare(g: nx.Graph, eidx: dict[frozenset[str], int], demands: list[Demand], t: Transceiver, k: int,
             regen: bool, model: BudgetModel) -> list[_Item]:
    items = []
    for i, d in enumerate(demands):
        units = math.ceil(d.tbps * 1000.0 / t.rate_gbps - 1e-9)
        it = _Item(i, d, units)
        cap = d.max_latency_ms * 1000.0 if d.max_latency_ms is not None else None
        routes, why = _routes(g, eidx, d.src, d.dst, k, t, regen, model, cap)
        if not routes:
            it.reason = why
        elif not d.protect:
            it.options = [[r] for r in routes]
        else:
            pairs = [(a, b) for ai, a in enumerate(routes) for b in routes[ai + 1:]
                     if not set(a.edges) & set(b.edges)]
            if not pairs:  # the k shortest may all share a link: ask max-flow for two disjoint routes
                try:
                    disjoint = list(islice(nx.edge_disjoint_paths(g, d.src, d.dst), 2))
                except nx.NetworkXNoPath:
                    disjoint = []
                if len(disjoint) == 2:
                    rs, _ = _filter(g, eidx, disjoint, t, regen, model, cap, d.src, d.dst)
                    if len(rs) == 2:
                        pairs = [(rs[0], rs[1])]
            pairs.sort(key=lambda ab: ab[0].km + ab[1].km)
            it.options = [[a, b] for a, b in pairs[:k]]
            if not it.options:
                it.reason = (f"no pair of link-disjoint usable routes between {d.src} and {d.dst} for 1+1 "
                             "protection")
        items.append(it)
    return items


# ----------------------------------------------------------------------------- solvers
Assignment = dict[int, list[tuple[int, list[int]]]]  # item index -> [(option index, [wavelength per leg])]


def first_fit(items: list[_Item], fibres: list[int], n_channels: int) -> Assignment:
    """KSP first-fit: in order, each lightpath takes the (route, lowest free wavelength) with the lowest
    wavelength index (shorter route on a tie); legs of a protected pair each take their own."""
    occ = [[0] * n_channels for _ in fibres]
    out: Assignment = {}
    for it in items:
        got: list[tuple[int, list[int]]] = []
        for _unit in range(it.units):
            best: tuple[int, int, list[int]] | None = None
            for oi, legs in enumerate(it.options):
                ws: list[int] = []
                taken: list[tuple[int, int]] = []
                for leg in legs:
                    w = next((w for w in range(n_channels)
                              if all(occ[e][w] + sum(1 for x in taken if x == (e, w)) < fibres[e] for e in leg.edges)),
                             None)
                    if w is None:
                        break
                    ws.append(w)
                    taken.extend((e, w) for e in leg.edges)
                if len(ws) == len(legs) and (best is None or max(ws) < max(best[2])):
                    best = (oi, 0, ws)
            if best is None:
                break
            oi, _, ws = best
            for leg, w in zip(it.options[oi], ws, strict=True):
                for e in leg.edges:
                    occ[e][w] += 1
            got.append((oi, ws))
        out[it.index] = got
    return out


def _wavelengths_used(assign: Assignment) -> int:
    ws = {w for got in assign.values() for _oi, wl in got for w in wl}
    return len(ws)


def cp_sat(items: list[_Item], fibres: list[int], n_channels: int, hint: Assignment, time_limit_s: float,
           workers: int = 2, seed: int = 0) -> tuple[Assignment, dict[str, Any]]:
    """Exact RWA over the candidate routes with OR-Tools CP-SAT (time-limited; returns the best found)."""
    from ortools.sat.python import cp_model

    hint_served = sum(len(g) for g in hint.values())
    total_units = sum(it.units for it in items if it.options)
    # Never more wavelengths than first-fit when first-fit served everything.
    W = max(1, _wavelengths_used(hint)) if hint_served == total_units else n_channels
    m = cp_model.CpModel()
    used = [m.new_bool_var(f"used{w}") for w in range(W)]
    for w in range(W - 1):
        m.add(used[w] >= used[w + 1])
    per_ew: dict[tuple[int, int], list[Any]] = {}
    z: dict[tuple[int, int], Any] = {}
    a: dict[tuple[int, int, int, int], Any] = {}
    served_terms = []
    hop_terms = []
    max_hops = 0
    for it in items:
        if not it.options:
            continue
        zs = []
        for oi, legs in enumerate(it.options):
            zv = m.new_int_var(0, it.units, f"z{it.index}_{oi}")
            z[it.index, oi] = zv
            zs.append(zv)
            for gi, leg in enumerate(legs):
                ub = min([it.units] + [fibres[e] for e in leg.edges])
                vs = []
                for w in range(W):
                    v = m.new_int_var(0, ub, f"a{it.index}_{oi}_{gi}_{w}")
                    a[it.index, oi, gi, w] = v
                    vs.append(v)
                    m.add(v <= ub * used[w])
                    for e in leg.edges:
                        per_ew.setdefault((e, w), []).append(v)
                    hop_terms.append(len(leg.edges) * v)
                    max_hops += len(leg.edges) * ub
                m.add(sum(vs) == zv)
        m.add(sum(zs) <= it.units)
        served_terms.extend(zs)
    for (e, _w), vs in per_ew.items():
        if len(vs) > 1 or fibres[e] < 1:
            m.add(sum(vs) <= fibres[e])
    m2 = max_hops + 1
    m1 = m2 * (W + 1)
    m.minimize(m1 * (total_units - sum(served_terms)) + m2 * sum(used) + sum(hop_terms))
    # Hint: first-fit's assignment (wavelength indices are below W by construction).
    counts: dict[tuple[int, int, int, int], int] = {}
    zc: dict[tuple[int, int], int] = {}
    for idx, got in hint.items():
        for oi, ws in got:
            zc[idx, oi] = zc.get((idx, oi), 0) + 1
            for gi, w in enumerate(ws):
                if w < W:
                    counts[idx, oi, gi, w] = counts.get((idx, oi, gi, w), 0) + 1
    for akey, v in a.items():
        m.add_hint(v, counts.get(akey, 0))
    for zkey, v in z.items():
        m.add_hint(v, zc.get(zkey, 0))
    for w in range(W):
        m.add_hint(used[w], w < _wavelengths_used(hint))
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = float(time_limit_s)
    s.parameters.num_workers = max(1, workers)
    s.parameters.random_seed = seed
    t0 = time.perf_counter()
    status = s.solve(m)
    secs = time.perf_counter() - t0
    info: dict[str, Any] = {"name": "CP-SAT", "status": s.status_name(status), "seconds": secs,
                            "channels_modelled": W}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        info.update(objective=None, bound=None, gap=None, note="no solution within the time limit: first-fit kept")
        return hint, info
    obj, bound = s.objective_value, s.best_objective_bound
    info.update(objective=obj, bound=bound, gap=(obj - bound) / max(abs(obj), 1e-9))
    out: Assignment = {}
    for it in items:
        got = []
        for oi, legs in enumerate(it.options):
            n = s.value(z[it.index, oi])
            per_leg = []
            for gi in range(len(legs)):
                ws = [w for w in range(W) for _ in range(s.value(a[it.index, oi, gi, w]))]
                per_leg.append(ws)
            for u in range(n):
                got.append((oi, [per_leg[gi][u] for gi in range(len(legs))]))
        out[it.index] = got
    return out, info


def load_lower_bound(items: list[_Item], served: dict[int, int], fibres: list[int]) -> tuple[int, float]:
    """ceil(LP minimum of the max per-fibre load) over the candidate routes for the served lightpaths."""
    from ortools.linear_solver import pywraplp

    lp = pywraplp.Solver.CreateSolver("GLOP")
    L = lp.NumVar(0, lp.infinity(), "L")
    load: dict[int, list[Any]] = {}
    any_var = False
    for it in items:
        n = served.get(it.index, 0)
        if n == 0:
            continue
        xs = []
        for oi, legs in enumerate(it.options):
            x = lp.NumVar(0, n, f"x{it.index}_{oi}")
            xs.append(x)
            any_var = True
            for leg in legs:
                for e in leg.edges:
                    load.setdefault(e, []).append(x)
        lp.Add(sum(xs) == n)
    if not any_var:
        return 0, 0.0
    for e, xs in load.items():
        lp.Add(sum(xs) <= L * fibres[e])
    lp.Minimize(L)
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return 0, 0.0
    v = L.solution_value()
    return math.ceil(v - 1e-6), v


# ----------------------------------------------------------------------------- the planner
def plan_wdm(fabric: Fabric | nx.Graph, demands: list[Demand], t: Transceiver, *,
             spectrum_ghz: float = C_BAND_GHZ, k: int = WDM_K_PATHS, regen: bool = True, solver: str = WDM_SOLVER,
             time_limit_s: float = WDM_TIME_LIMIT_S, workers: int = 2, seed: int = 0, model: BudgetModel | None = None,
             file: str | None = None) -> WdmResult:
    """Route and assign wavelengths to ``demands``; see the module docstring for the output shape.

    ``fabric`` is a Fabric (its wdm links are used, grouped by site) or an already built site graph
    (``networkx.Graph`` with ``length_km`` and ``fibres`` on each edge).
    """
    t0 = time.perf_counter()
    if isinstance(fabric, Fabric):
        g = wdm_site_graph(fabric)
        resolve = {n: site_of(fabric, n) for n in fabric.nodes()}
    else:
        g = fabric
        resolve = {n: n for n in g.nodes}
    resolve.update({s: s for s in g.nodes})
    n_channels = channels(spectrum_ghz, t)
    if n_channels < 1:
        raise ConfigError(f"{spectrum_ghz:g} GHz holds no {t.channel_ghz:g} GHz channel", where="band")
    mdl = model or BudgetModel(line_rate_gbps=t.rate_gbps, reach_km=t.reach_km)
    ds = []
    for i, d in enumerate(demands):
        for key in ("src", "dst"):
            name = getattr(d, key)
            if name not in resolve:
                raise ConfigError(f"unknown site or node {name!r}", file=file, where=f"demands[{i}].{key}")
        src, dst = resolve[d.src], resolve[d.dst]
        for name in (src, dst):
            if name not in g:
                raise ConfigError(f"site {name!r} has no wdm fibre", file=file, where=f"demands[{i}]")
        if src == dst:
            raise ConfigError(f"src and dst are both in site {src!r}", file=file, where=f"demands[{i}]")
        ds.append(Demand(src, dst, d.tbps, d.protect, d.max_latency_ms))
    edges = [tuple(sorted((u, v))) for u, v in g.edges]
    eidx = {frozenset(e): i for i, e in enumerate(edges)}
    fibres = [int(g.edges[u, v].get("fibres", 1)) for u, v in edges]
    items = _prepare(g, eidx, ds, t, k, regen, mdl)
    ff = first_fit(items, fibres, n_channels)
    ff_used = _wavelengths_used(ff)
    info: dict[str, Any]
    if solver == "first-fit":
        assign = ff
        info = {"name": "first-fit", "status": "HEURISTIC", "objective": None, "bound": None, "gap": None,
                "seconds": time.perf_counter() - t0}
    elif solver == "cp-sat":
        assign, info = cp_sat(items, fibres, n_channels, ff, time_limit_s, workers, seed)
    else:
        raise ConfigError(f"unknown solver {solver!r} (expected cp-sat or first-fit)", where="solver")
    info["first_fit_wavelengths"] = ff_used
    info["first_fit_blocked_lightpaths"] = sum(it.units for it in items) - sum(len(v) for v in ff.values())
    data = _report(items, assign, edges, g, fibres, n_channels, t)
    served = {it.index: len(assign.get(it.index, [])) for it in items}
    lb, lb_lp = load_lower_bound(items, served, fibres)
    data["lower_bound"] = lb
    info["lower_bound_lp"] = lb_lp
    info["seconds"] = time.perf_counter() - t0
    prov = Provenance(solver=info["name"], status=info["status"], objective=data["wavelengths_used"],
                      bound=lb, gap=(data["wavelengths_used"] - lb) / max(data["wavelengths_used"], 1),
                      seconds=round(info["seconds"], 4),
                      params={"rate_gbps": t.rate_gbps, "transceiver": t.name, "spectrum_ghz": spectrum_ghz,
                              "channels": n_channels, "k": k, "regen": regen, "time_limit_s": time_limit_s})
    return WdmResult(data, prov, info)


def _report(items: list[_Item], assign: Assignment, edges: list[tuple[str, ...]], g: nx.Graph,
            fibres: list[int], n_channels: int, t: Transceiver) -> dict[str, Any]:
    lightpaths = []
    blocked = []
    per_edge: list[list[int]] = [[] for _ in edges]
    for it in items:
        got = assign.get(it.index, [])
        for oi, ws in got:
            for gi, (leg, w) in enumerate(zip(it.options[oi], ws, strict=True)):
                lightpaths.append({"src": it.demand.src, "dst": it.demand.dst, "route": list(leg.nodes),
                                   "wavelength": int(w), "rate_gbps": t.rate_gbps, "protection": gi == 1,
                                   "demand": it.index, "km": leg.km, "latency_us": leg.latency_us,
                                   "regenerators": list(leg.regenerators)})
                for e in leg.edges:
                    per_edge[e].append(int(w))
        missing = it.units - len(got)
        if missing > 0:
            reason = it.reason or (f"no wavelength free on every fibre of any of the {len(it.options)} candidate "
                                   f"route(s) ({n_channels} channels of {t.channel_ghz:g} GHz per fibre)")
            blocked.append({"src": it.demand.src, "dst": it.demand.dst, "demand": it.index, "lightpaths": missing,
                            "tbps": min(it.demand.tbps, missing * t.rate_gbps / 1000.0), "reason": reason})
    fib = []
    max_load = 0
    for i, (u, v) in enumerate(edges):
        load = math.ceil(len(per_edge[i]) / fibres[i]) if fibres[i] else 0
        max_load = max(max_load, load)
        fib.append({"a": u, "b": v, "fibres": fibres[i], "km": g.edges[u, v]["length_km"],
                    "load": len(per_edge[i]), "wavelengths": sorted(set(per_edge[i]))})
    used = len({lp["wavelength"] for lp in lightpaths})
    return {"lightpaths": lightpaths, "wavelengths_used": used, "lower_bound": 0, "max_fiber_load": max_load,
            "channels": n_channels, "blocked": blocked, "fibres": fib}
