"""Latency budgets: one-way latency of a path, broken down per component, against a budget class.

The model (:class:`BudgetModel`; every default is in :mod:`optical.constants` with its source):

- **fibre**: length x 4.897 µs/km over every link of the path;
- **transponders**: one at each end of every optical run (consecutive ``wdm`` links) and two at each
  regeneration site (it terminates and relaunches the wavelength), ``transponder_us`` each;
- **fec**: one FEC decode per electrically terminated segment of an optical run, ``fec_us`` each;
- **regeneration**: ``regen_us`` per OEO site, placed greedily when a run exceeds the transceiver
  reach (at a node where possible, in-line on a link longer than the reach);
- **amplifiers**: ``ceil(length / amplifier_span_km) - 1`` in-line amplifiers per link, ``amplifier_us`` each;
- **roadm**: optical pass-through at each intermediate node of a run that is not regenerated;
- **switches**: each intermediate node outside optical runs (leaf, spine, DCI router), ``switch_us``;
  an ``ocs`` node adds ``ocs_us`` instead;
- **serialisation**: one frame of ``frame_bytes`` per electrical hop: at the link rate on ordinary
  links, at the line rate once per optical run.

Verdict: ``over`` when the total exceeds the budget of the pair's class (city 1 ms, regional 5 ms,
hub 20 ms) or when the path's fibre is longer than ``stretch_max`` x the great-circle distance
between its ends (the 1.5x rule; 0 disables it); ``reasons`` says which.

Plan section ``budgets`` data::

    {"paths": [{"src", "dst", "path": [node], "km", "components": [{"name", "us", "count"}],
                "total_us", "budget_us", "budget_class", "verdict": "ok"|"over", "reasons": [str],
                "great_circle_km", "stretch", "regenerators": [str]}],
     "over": int, "model": {parameter: value}}

>>> from fabric.topology import Fabric
>>> f = Fabric("line"); f.add_node("a", "dci"); f.add_node("b", "dci")
>>> _ = f.add_link("a", "b", 1600, length_km=100, kind="wdm")
>>> r = path_budget(f, ["a", "b"], BudgetModel(), budget_class="city")
>>> [(c["name"], round(c["us"], 4)) for c in r["components"]]
[('fibre', 489.7), ('transponders', 10.0), ('fec', 30.0), ('amplifiers', 0.1), ('serialisation', 0.0075)]
>>> r["verdict"], round(r["total_us"], 4)
('ok', 529.8075)
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx

from fabric.constants import great_circle_km
from fabric.errors import ConfigError, TopologyError
from fabric.plan import BudgetsSection, Provenance
from fabric.topology import Fabric
from optical import constants as C
from optical.fibre import node_graph, number, read_endpoint_records

#: Component names in report order.
COMPONENTS: tuple[str, ...] = ("fibre", "transponders", "fec", "regeneration", "amplifiers", "roadm",
                               "switches", "ocs", "serialisation")


@dataclass(frozen=True)
class BudgetModel:
    """Latency model parameters (defaults: :mod:`optical.constants`)."""

    us_per_km: float = C.FIBRE_US_PER_KM
    transponder_us: float = C.TRANSPONDER_US
    fec_us: float = C.FEC_US
    regen_us: float = C.REGEN_US
    amplifier_us: float = C.AMPLIFIER_US
    amplifier_span_km: float = C.AMPLIFIER_SPAN_KM
    roadm_us: float = C.ROADM_US
    switch_us: float = C.SWITCH_US
    ocs_us: float = C.OCS_US
    frame_bytes: int = C.FRAME_BYTES
    line_rate_gbps: float = 1600.0
    #: Unregenerated reach of the wavelength, km; ``None``: no regeneration is ever needed.
    reach_km: float | None = 700.0
    classes_ms: dict[str, float] = field(default_factory=lambda: dict(C.BUDGET_CLASSES_MS))
    stretch_max: float = C.STRETCH_MAX
    city_max_km: float = C.CITY_MAX_KM
    regional_max_km: float = C.REGIONAL_MAX_KM

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- regeneration
def place_regenerators(nodes: list[str], lengths_km: list[float], reach_km: float | None) -> list[str]:
    """Regeneration sites along an optical run so that no segment is longer than ``reach_km``.

    Greedy: go as far as the reach allows and regenerate at the last node before it is exceeded; a
    single link longer than the reach gets ``ceil(L / reach) - 1`` in-line sites named
    ``inline:u--v#i``. Returns site names in path order.

    >>> place_regenerators(["a", "b", "c", "d"], [400, 400, 400], 700)
    ['b', 'c']
    >>> place_regenerators(["a", "b"], [1500], 700)
    ['inline:a--b#1', 'inline:a--b#2']
    """
    if reach_km is None:
        return []
    out: list[str] = []
    acc = 0.0
    for i, length in enumerate(lengths_km):
        u, v = nodes[i], nodes[i + 1]
        if length > reach_km:
            if acc > 0:
                out.append(u)
            pieces = math.ceil(length / reach_km - 1e-9)
            out.extend(f"inline:{u}--{v}#{j}" for j in range(1, pieces))
            acc = length / pieces
        elif acc + length > reach_km + 1e-9:
            out.append(u)
            acc = length
        else:
            acc += length
    return out


def amplifiers_on(length_km: float, span_km: float) -> int:
    """In-line amplifiers on one link: one every ``span_km`` (none on a link shorter than a span)."""
    if length_km <= 0 or span_km <= 0:
        return 0
    return max(0, math.ceil(length_km / span_km - 1e-9) - 1)


def optical_run(nodes: list[str], lengths_km: list[float], m: BudgetModel) -> tuple[dict[str, int], list[str]]:
    """Component counts of one optical run (transponder to transponder) and its regeneration sites."""
    regens = place_regenerators(nodes, lengths_km, m.reach_km)
    at_nodes = sum(1 for r in regens if not r.startswith("inline:"))
    counts = {"fibre": len(lengths_km),
              "amplifiers": sum(amplifiers_on(x, m.amplifier_span_km) for x in lengths_km),
              "roadm": len(nodes) - 2 - at_nodes, "regeneration": len(regens),
              "transponders": 2 + 2 * len(regens), "fec": 1 + len(regens), "serialisation": 1}
    return counts, regens


def run_latency_us(nodes: list[str], lengths_km: list[float], m: BudgetModel) -> tuple[float, list[str]]:
    """One-way latency of one optical run (a lightpath) with the model's devices, and its regenerators."""
    c, regens = optical_run(nodes, lengths_km, m)
    total = (sum(lengths_km) * m.us_per_km + c["transponders"] * m.transponder_us + c["fec"] * m.fec_us
             + c["regeneration"] * m.regen_us + c["amplifiers"] * m.amplifier_us + c["roadm"] * m.roadm_us
             + m.frame_bytes * 8 / m.line_rate_gbps / 1000.0)
    return total, regens


# ----------------------------------------------------------------------------- one path
def _edge(g: nx.Graph, fabric: Fabric, u: str, v: str) -> dict[str, Any]:
    d = g.get_edge_data(u, v)
    if d is None:
        raise TopologyError(f"no usable link between {u!r} and {v!r} on the path", where=f"{u}--{v}")
    return d


def path_budget(fabric: Fabric, path: list[str], model: BudgetModel | None = None, *,
                budget_class: str | None = None, budget_us: float | None = None,
                graph: nx.Graph | None = None) -> dict[str, Any]:
    """Latency breakdown and verdict of one path (a list of node names).

    ``budget_class`` is ``city``/``regional``/``hub`` or ``None`` for automatic (great-circle distance
    between the ends: see :data:`optical.constants.CITY_MAX_KM`); ``budget_us`` overrides the class.
    """
    m = model or BudgetModel()
    g = graph if graph is not None else node_graph(fabric)
    if len(path) < 2:
        raise ConfigError("a path needs at least two nodes", where=" -> ".join(path))
    counts = dict.fromkeys(COMPONENTS, 0)
    us = dict.fromkeys(COMPONENTS, 0.0)
    km = 0.0
    regens: list[str] = []
    # Split the path into hops; consecutive wdm links form one optical run.
    hops = [(path[i], path[i + 1], _edge(g, fabric, path[i], path[i + 1])) for i in range(len(path) - 1)]
    i = 0
    while i < len(hops):
        u, v, d = hops[i]
        if d["kind"] != "wdm":
            km += d["length_km"]
            counts["fibre"] += 1
            us["fibre"] += d["length_km"] * m.us_per_km
            counts["serialisation"] += 1
            us["serialisation"] += m.frame_bytes * 8 / d["capacity_gbps"] / 1000.0
            i += 1
            continue
        j = i
        while j < len(hops) and hops[j][2]["kind"] == "wdm":
            j += 1
        run_nodes = [hops[i][0]] + [h[1] for h in hops[i:j]]
        lengths = [h[2]["length_km"] for h in hops[i:j]]
        rc, run_regens = optical_run(run_nodes, lengths, m)
        regens.extend(run_regens)
        for name, n in rc.items():
            counts[name] += n
        km += sum(lengths)
        us["fibre"] += sum(lengths) * m.us_per_km
        us["serialisation"] += m.frame_bytes * 8 / m.line_rate_gbps / 1000.0
        i = j
    # Devices at intermediate nodes that are not inside an optical run.
    for k in range(1, len(path) - 1):
        before, after = hops[k - 1][2]["kind"], hops[k][2]["kind"]
        if before == "wdm" and after == "wdm":
            continue  # ROADM or regenerator, counted with its run
        role = fabric.node(path[k]).get("role")
        if role == "ocs":
            counts["ocs"] += 1
        else:
            counts["switches"] += 1
    us["transponders"] = counts["transponders"] * m.transponder_us
    us["fec"] = counts["fec"] * m.fec_us
    us["regeneration"] = counts["regeneration"] * m.regen_us
    us["amplifiers"] = counts["amplifiers"] * m.amplifier_us
    us["roadm"] = counts["roadm"] * m.roadm_us
    us["switches"] = counts["switches"] * m.switch_us
    us["ocs"] = counts["ocs"] * m.ocs_us
    components: list[dict[str, Any]] = [{"name": c, "us": us[c], "count": counts[c]} for c in COMPONENTS
                                        if c == "fibre" or counts[c]]
    total = float(sum(us[c] for c in COMPONENTS if c == "fibre" or counts[c]))
    src, dst = path[0], path[-1]
    a, b = fabric.node(src), fabric.node(dst)
    gc = great_circle_km(a["lat"], a["lon"], b["lat"], b["lon"]) if "lat" in a and "lat" in b else None
    cls = budget_class or _auto_class(gc, a.get("site"), b.get("site"), m)
    if budget_us is None:
        if cls not in m.classes_ms:
            raise ConfigError(f"unknown budget class {cls!r} (expected {', '.join(m.classes_ms)})",
                              where=f"{src} -> {dst}")
        budget_us = m.classes_ms[cls] * 1000.0
    reasons: list[str] = []
    if total > budget_us:
        reasons.append(f"latency {total:.1f} us > budget {budget_us:.1f} us ({cls})")
    stretch = km / gc if gc and gc > 1e-6 else None
    if m.stretch_max and stretch is not None and stretch > m.stretch_max + 1e-12:
        reasons.append(f"fibre {km:.0f} km is {stretch:.2f}x the great circle {gc:.0f} km "
                       f"(> {m.stretch_max:g}x)")
    return {"src": src, "dst": dst, "path": list(path), "km": km, "components": components,
            "total_us": total, "budget_us": float(budget_us), "budget_class": cls,
            "verdict": "over" if reasons else "ok", "reasons": reasons, "great_circle_km": gc,
            "stretch": stretch, "regenerators": regens}


def _auto_class(gc_km: float | None, site_a: Any, site_b: Any, m: BudgetModel) -> str:
    if gc_km is None:
        return "city" if site_a is not None and site_a == site_b else "hub"
    if gc_km <= m.city_max_km:
        return "city"
    if gc_km <= m.regional_max_km:
        return "regional"
    return "hub"


# ----------------------------------------------------------------------------- routing + many pairs
def shortest_path(fabric: Fabric, src: str, dst: str, graph: nx.Graph | None = None) -> list[str]:
    """Lowest-latency path by fibre km (fewest hops among equals) over usable links."""
    g = graph if graph is not None else node_graph(fabric)
    for n in (src, dst):
        if n not in g:
            raise ConfigError(f"unknown node {n!r}", where=f"{src} -> {dst}")
    try:
        return nx.dijkstra_path(g, src, dst, weight=lambda _u, _v, d: d["length_km"] + 1e-6)
    except nx.NetworkXNoPath:
        return []


@dataclass(frozen=True)
class PairSpec:
    src: str
    dst: str
    budget_class: str | None = None
    budget_us: float | None = None
    via: tuple[str, ...] = ()


def all_hubs_pairs(fabric: Fabric, hubs: tuple[str, ...] = C.HUB_CITIES) -> list[PairSpec]:
    """Every pair of the eight national hub cities, budget class ``hub``."""
    missing = [h for h in hubs if h not in fabric]
    if missing:
        raise ConfigError(f"all-hubs needs nodes {', '.join(missing)} (try zoo:Chinanet)", where="--pairs")
    return [PairSpec(a, b, "hub") for i, a in enumerate(hubs) for b in hubs[i + 1:]]


def load_pairs(path: str | os.PathLike[str], classes: tuple[str, ...] = tuple(C.BUDGET_CLASSES_MS)
               ) -> list[PairSpec]:
    """Read a pairs file (YAML or JSON): ``pairs: [{src, dst, class?, budget_ms?, via?}]``."""
    f = str(path)
    out = []
    for w, it in read_endpoint_records(path, "pairs", {"src", "dst", "class", "budget_ms", "via"},
                                       "{src, dst}", "node name"):
        cls = it.get("class")
        if cls is not None and cls not in classes:
            raise ConfigError(f"unknown class {cls!r} (expected {', '.join(classes)})", file=f, where=f"{w}.class")
        bms = it.get("budget_ms")
        b_us = None if bms is None else number(bms, file=f, where=f"{w}.budget_ms", strict=True) * 1000.0
        via = it.get("via", [])
        if not isinstance(via, list) or not all(isinstance(x, str) for x in via):
            raise ConfigError("'via' must be a list of node names", file=f, where=f"{w}.via")
        out.append(PairSpec(it["src"], it["dst"], cls, b_us, tuple(via)))
    return out


def budgets(fabric: Fabric, pairs: list[PairSpec], model: BudgetModel | None = None,
            *, file: str | None = None) -> dict[str, Any]:
    """The ``budgets`` plan section for ``pairs`` (see the module docstring for its shape).

    Each pair takes the lowest-latency path (through ``via`` nodes in order when given). A pair with
    no path gets an empty path, verdict ``over`` and reason ``no path``.
    """
    m = model or BudgetModel()
    g = node_graph(fabric)
    out = []
    for i, p in enumerate(pairs):
        for n in (p.src, p.dst, *p.via):
            if n not in fabric:
                raise ConfigError(f"unknown node {n!r}", file=file, where=f"pairs[{i}]")
        stops = [p.src, *p.via, p.dst]
        path: list[str] = []
        for a, b in zip(stops, stops[1:], strict=False):
            leg = shortest_path(fabric, a, b, g)
            if not leg:
                path = []
                break
            path = leg if not path else path + leg[1:]
        if not path:
            out.append({"src": p.src, "dst": p.dst, "path": [], "km": 0.0, "components": [],
                        "total_us": 0.0, "budget_us": p.budget_us if p.budget_us is not None else
                        m.classes_ms.get(p.budget_class or "hub", 0.0) * 1000.0,
                        "budget_class": p.budget_class or "hub", "verdict": "over", "reasons": ["no path"],
                        "great_circle_km": None, "stretch": None, "regenerators": []})
            continue
        out.append(path_budget(fabric, path, m, budget_class=p.budget_class, budget_us=p.budget_us, graph=g))
    return {"paths": out, "over": sum(r["verdict"] == "over" for r in out), "model": m.as_dict()}


#: Name of the budget planner in the section's provenance (a closed-form model, not a solver).
BUDGET_SOLVER = "budget-model"


def budgets_section(fabric: Fabric, pairs: list[PairSpec], model: BudgetModel | None = None, *,
                    file: str | None = None, params: dict[str, Any] | None = None) -> BudgetsSection:
    """:func:`budgets` as the Plan's typed ``budgets`` section, with its provenance: status ``OVER``
    when any path is over budget, objective the number of such paths."""
    import time

    t0 = time.perf_counter()
    data = budgets(fabric, pairs, model, file=file)
    prov = Provenance(solver=BUDGET_SOLVER, status="OVER" if data["over"] else "OK", objective=data["over"],
                      seconds=round(time.perf_counter() - t0, 6), params=dict(params or {}))
    return BudgetsSection.from_dict(data, provenance=prov)
