"""The documents the web view draws, from a Fabric and a Plan (pure: no clock, no I/O).

- :func:`fabric_map`: node positions and links, geographic for several sites (each site's fabric in a
  box at its coordinates, WAN links labelled with km and one-way latency), layered (tiers as rows)
  for one site; above :data:`MAP_FULL_NODES` nodes the map is *aggregated*: nodes of one site, role
  and rail become one bucket (tiers without rails are cut into at most :data:`MAP_TIER_BUCKETS`
  buckets) and the links between two buckets one bundle.
- :func:`planned_utilisation`: per-link utilisation of a plan's WCMP groups (or ECMP groups on the
  same fabric) under its demand, from :func:`fabric.hashing.fluid` (the library's exact weighted-split
  evaluation; nothing is re-implemented here).
- :func:`budgets_view`, :func:`cc_view`: the plan's latency budgets and congestion-control groups.

Link ids are ``a--b#key`` (the Fabric's link order), bundle ids ``A==B`` (bucket ids).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from fabric.errors import ConfigError
from fabric.topology import ROLE_TIER, Fabric

#: Fabrics up to this many nodes are drawn node by node; larger ones are aggregated (assumption:
#: an SVG of a few thousand elements stays interactive in a browser; 16,384 GPUs would not).
MAP_FULL_NODES = 2000
#: At most this many buckets per tier of a site in the aggregated map (tiers without rails).
MAP_TIER_BUCKETS = 64
#: Size of one site's box in map units (the page scales the whole map to its width).
SITE_W, SITE_H = 1000.0, 560.0
#: Gap between site boxes in map units.
SITE_GAP = 220.0
#: Map levels the API accepts (auto: full up to MAP_FULL_NODES nodes, else aggregate).
LEVELS = ("auto", "full", "aggregate")
DEFAULT_LEVEL = "auto"
#: Utilisation modes the API accepts.
MODES = ("wcmp", "ecmp")
#: Busiest links listed by default.
DEFAULT_TOP = 20


def link_id(a: str, b: str, key: int) -> str:
    return f"{a}--{b}#{key}"


def _tier(fab: Fabric, n: str) -> int:
    role = fab.role(n)
    return 2 if role == "ocs" else max(ROLE_TIER[role], 0)


def _site_origins(fab: Fabric, sites: list[str]) -> tuple[dict[str, tuple[float, float]], str]:
    """Top-left corner of each site's box: by longitude/latitude when the sites have coordinates
    (order and relative distance kept, boxes never overlap), else in a row."""
    coords: dict[str, tuple[float, float]] = {}
    for _n, d in fab.graph.nodes(data=True):
        s = d.get("site") or ""
        if s in sites and s not in coords and d.get("lat") is not None and d.get("lon") is not None:
            coords[s] = (float(d["lon"]), float(d["lat"]))
    if len(sites) <= 1:
        return {s: (0.0, 0.0) for s in sites}, "layered"
    if len(coords) < len(sites):
        return {s: (i * (SITE_W + SITE_GAP), 0.0) for i, s in enumerate(sites)}, "geographic"
    lons = [c[0] for c in coords.values()]
    lats = [c[1] for c in coords.values()]
    span = max(max(lons) - min(lons), max(lats) - min(lats), 1e-9)
    # scale so the two closest sites along either axis do not overlap
    need = 0.0
    for i, a in enumerate(sites):
        for b in sites[i + 1:]:
            dx = abs(coords[a][0] - coords[b][0]) / span
            dy = abs(coords[a][1] - coords[b][1]) / span
            need = max(need, min((SITE_W + SITE_GAP) / dx if dx else math.inf,
                                 (SITE_H + SITE_GAP) / dy if dy else math.inf))
    scale = need if math.isfinite(need) else SITE_W + SITE_GAP
    return ({s: ((coords[s][0] - min(lons)) / span * scale, (max(lats) - coords[s][1]) / span * scale)
             for s in sites}, "geographic")


def _members_in_order(fab: Fabric, nodes: list[str]) -> dict[int, list[str]]:
    """Nodes of one site per tier; endpoints sorted under the switch they hang from."""
    tiers: dict[int, list[str]] = defaultdict(list)
    for n in nodes:
        tiers[_tier(fab, n)].append(n)
    upper = {n: i for t, ms in tiers.items() if t > 0 for i, n in enumerate(ms)}
    if 0 in tiers:
        def under(n: str) -> tuple[float, str]:
            idx = [upper[v] for v in fab.graph.adj[n] if v in upper]
            return (min(idx) if idx else math.inf, "")
        tiers[0] = sorted(tiers[0], key=under)
    return tiers


def _bucket_key(fab: Fabric, n: str) -> tuple[str, str, Any]:
    d = fab.graph.nodes[n]
    return (d.get("site") or "", d.get("role", ""), d.get("rail"))


def _group_id(fab: Fabric, g: list[str], i: int) -> str | None:
    if len(g) == 1:
        return None
    site, role, rail = _bucket_key(fab, g[0])
    return f"{site or '-'}/{role}/" + (f"rail{rail}" if rail is not None else f"{i}")


def _group_name(fab: Fabric, gid: str, g: list[str]) -> str:
    site, role, rail = _bucket_key(fab, g[0])
    under = gid.rsplit("/under:", 1)[1] if "/under:" in gid else None
    return (f"{site + ' ' if site else ''}{role}s" + (f" rail {rail}" if rail is not None else "")
            + (f" under {under}" if under else "") + f" ({len(g):,})")


def _expand(fab: Fabric, gid: str | None, g: list[str], want: set[str],
            used: set[str]) -> list[tuple[str | None, list[str]]]:
    """``[(group id or None for a single node, members)]`` for group ``gid``, finer where asked."""
    if gid is None or gid not in want:
        return [(gid, g)]
    used.add(gid)
    if len(g) <= MAP_TIER_BUCKETS:
        return [(None, [m]) for m in g]
    by: dict[str, list[str]] = defaultdict(list)
    for m in g:
        ups = sorted(v for v in fab.graph.adj[m] if _tier(fab, v) > _tier(fab, m))
        by[ups[0] if len(ups) == 1 else ""].append(m)
    if len(by) == 1 or "" in by:          # not one switch each: chunks in order
        size = math.ceil(len(g) / MAP_TIER_BUCKETS)
        parts = {f"part{k}": g[i:i + size] for k, i in enumerate(range(0, len(g), size))}
    else:
        parts = {f"under:{k}": v for k, v in by.items()}
    out: list[tuple[str | None, list[str]]] = []
    for key, sub in parts.items():
        out += _expand(fab, f"{gid}/{key}" if len(sub) > 1 else None, sub, want, used)
    return out


def fabric_map(fab: Fabric, level: str = "auto", *, down: Sequence[str] = (),
               expand: Sequence[str] = ()) -> dict[str, Any]:
    """The map document: ``layout``, ``level``, ``nodes`` (``id, name, role, site, x, y, count``),
    ``links`` (``id, a, b, capacity_gbps, up, kind, length_km, latency_us, count, members``, WAN
    links ``wan: true``), ``sites`` (boxes), ``width``/``height``, ``bucket_of`` (full node -> bucket
    id, aggregated maps only) and ``counts`` (nodes and links of the fabric).

    ``down``: link ids (``a--b#key``) shown down (the failures of the plan on show). ``expand``: group
    ids of the aggregated map drawn one level finer, in the group's place (a rail's endpoints by the
    switch they hang from, i.e. per scalable unit; a group of at most :data:`MAP_TIER_BUCKETS` nodes
    node by node); an unknown id is a ConfigError.

    >>> from fabric.builders import clos
    >>> m = fabric_map(clos(2, 2, 2))
    >>> m["layout"], m["level"], len(m["nodes"]), len(m["links"])
    ('layered', 'full', 8, 8)
    """
    if level not in LEVELS:
        raise ValueError(level)
    n_nodes = fab.graph.number_of_nodes()
    if level == "auto":
        level = "full" if n_nodes <= MAP_FULL_NODES else "aggregate"
    down_set = set(down)
    want, used = set(expand), set[str]()
    if want and level == "full":
        raise ConfigError("expand needs the aggregated map (level aggregate or auto on a large fabric)",
                          where="expand")
    sites = fab.sites() or [""]
    by_site: dict[str, list[str]] = defaultdict(list)
    for n, d in fab.graph.nodes(data=True):
        site = d.get("site") or ""
        by_site[site if site in sites else sites[0]].append(n)
    origin, layout = _site_origins(fab, sites)
    nodes: list[dict[str, Any]] = []
    bucket_of: dict[str, str] = {}
    for s in sites:
        ox, oy = origin[s]
        tiers = _members_in_order(fab, by_site[s])
        top = max(tiers) if tiers else 0
        for t, members in sorted(tiers.items()):
            y = oy + SITE_H - 40 - (SITE_H - 80) * (t / top if top else 0.5)
            if level == "full":
                groups = [[m] for m in members]
            else:
                keyed: dict[Any, list[str]] = defaultdict(list)
                for m in members:
                    keyed[_bucket_key(fab, m)].append(m)
                groups = []
                for k, ms in keyed.items():
                    if k[2] is None:           # no rail: at most MAP_TIER_BUCKETS buckets (single nodes if fewer)
                        size = math.ceil(len(ms) / MAP_TIER_BUCKETS)
                        groups += [ms[i:i + size] for i in range(0, len(ms), size)]
                    else:
                        groups.append(ms)
            w = len(groups)
            for i, g in enumerate(groups):
                left = ox + 30 + (SITE_W - 60) * (i / w)
                parts = _expand(fab, _group_id(fab, g, i), g, want, used)
                for j, (gid, sub) in enumerate(parts):
                    x = left + (SITE_W - 60) / w * ((j + 0.5) / len(parts))
                    first = sub[0]
                    d = fab.graph.nodes[first]
                    if gid is None:
                        nid, name = first, first
                    else:
                        nid, name = gid, _group_name(fab, gid, sub)
                        for m in sub:
                            bucket_of[m] = nid
                    nodes.append({"id": nid, "name": name, "role": d.get("role"), "site": s, "x": round(x, 2),
                                  "y": round(y, 2), "count": len(sub), "tier": t,
                                  **({"first": first, "last": sub[-1]} if len(sub) > 1 else {})})
    unknown = sorted(want - used)
    if unknown:
        raise ConfigError(f"no group {unknown[0]!r} on this map (groups are the ids of aggregated nodes)",
                          where="expand")
    links: list[dict[str, Any]] = []
    bundles: dict[tuple[str, str], dict[str, Any]] = {}
    for lk in fab.links():
        lid = link_id(lk.a, lk.b, lk.key)
        up = lk.up and lid not in down_set
        wan = bool(lk.length_km) and (fab.graph.nodes[lk.a].get("site") != fab.graph.nodes[lk.b].get("site"))
        if level == "full" or (lk.a not in bucket_of and lk.b not in bucket_of):
            links.append({"id": lid, "a": lk.a, "b": lk.b, "capacity_gbps": lk.capacity_gbps, "up": up,
                          "kind": lk.kind, "length_km": round(lk.length_km, 3),
                          "latency_us": round(lk.latency_us, 3), "count": 1, "wan": wan,
                          "name": lk.name})
            continue
        ba, bb = bucket_of.get(lk.a, lk.a), bucket_of.get(lk.b, lk.b)
        key = (ba, bb) if ba <= bb else (bb, ba)
        bd = bundles.get(key)
        if bd is None:
            bd = bundles[key] = {"id": f"{key[0]}=={key[1]}", "a": key[0], "b": key[1], "capacity_gbps": 0.0,
                                 "up": 0, "kind": lk.kind, "length_km": round(lk.length_km, 3),
                                 "latency_us": round(lk.latency_us, 3), "count": 0, "wan": wan}
        bd["capacity_gbps"] += lk.capacity_gbps
        bd["count"] += 1
        bd["up"] += int(up)
    for bd in bundles.values():
        bd["up"] = bd["up"] == bd["count"]
        links.append(bd)
    width = max((origin[s][0] for s in sites), default=0.0) + SITE_W
    height = max((origin[s][1] for s in sites), default=0.0) + SITE_H
    site_boxes = []
    for s in sites:
        attrs: dict[str, Any] = next((fab.graph.nodes[n] for n in by_site[s]), {})
        site_boxes.append({"name": s, "x": origin[s][0], "y": origin[s][1], "w": SITE_W, "h": SITE_H,
                           "lat": attrs.get("lat"), "lon": attrs.get("lon")})
    return {"fabric": fab.name, "layout": layout, "level": level, "nodes": nodes, "links": links,
            "sites": site_boxes, "width": round(width, 2), "height": round(height, 2),
            "bucket_of": bucket_of if level == "aggregate" else {},
            "counts": {"nodes": n_nodes, "links": fab.graph.number_of_edges()}}


def planned_utilisation(fab: Fabric, groups: Sequence[dict[str, Any]], demand: Any, *, mode: str = "wcmp",
                        failed_links: Sequence[str] = (), failed_nodes: Sequence[str] = ()) -> dict[str, float]:
    """Utilisation (load / capacity, the higher of the two directions) of every link that carries
    traffic, keyed by link id, when ``groups`` (``mode="wcmp"``) or ECMP groups towards the same
    destinations (``mode="ecmp"``, :func:`fabric.wcmp.ecmp_groups`) split ``demand`` exactly by
    weight (:func:`fabric.hashing.fluid`) on ``fab`` with the failures down.

    >>> from fabric.builders import clos
    >>> from fabric.traffic import permutation
    >>> from fabric.wcmp import solve
    >>> fab = clos(2, 4, 4, 4)
    >>> d = permutation(fab, fab.endpoints(), 100, seed=1)
    >>> r = solve(fab, d)
    >>> u = planned_utilisation(fab, r.groups, d)
    >>> abs(max(u.values()) - max(r.mlu_wcmp, r.mlu_access)) < 1e-6
    True
    """
    from fabric.hashing import HashConfig, Tables, fluid
    from fabric.wcmp import ecmp_groups, fail_fabric

    if mode not in MODES:
        raise ValueError(mode)
    f2 = fail_fabric(fab, list(failed_links), list(failed_nodes))[0] if failed_links or failed_nodes else fab
    gs = list(groups)
    if mode == "ecmp":
        gs = ecmp_groups(f2, sorted({g["dst"] for g in groups}))
    tables = Tables(f2, gs, HashConfig())
    load, _count = fluid(tables, demand.flows, gs)
    names: dict[tuple[str, str, int], str] = {}
    for lk in f2.links():
        names[(lk.a, lk.b, lk.key)] = names[(lk.b, lk.a, lk.key)] = link_id(lk.a, lk.b, lk.key)
    out: dict[str, float] = {}
    for i, (u, v, k) in enumerate(tables.links):
        if load[i] <= 0:
            continue
        lid = names[(u, v, k)]
        out[lid] = max(out.get(lid, 0.0), float(load[i] / tables.cap[i]))
    return out


def aggregate_utilisation(util: dict[str, float], fmap: dict[str, Any]) -> dict[str, float]:
    """Utilisation keyed by the map's link ids: a bundle shows its busiest member."""
    bucket_of = fmap.get("bucket_of") or {}
    if not bucket_of:
        return dict(util)
    out: dict[str, float] = {}
    for lid, u in util.items():
        a, rest = lid.split("--", 1)
        b = rest.rsplit("#", 1)[0]
        ba, bb = bucket_of.get(a, a), bucket_of.get(b, b)
        if ba == a and bb == b:
            key = lid
        else:
            key = f"{ba}=={bb}" if ba <= bb else f"{bb}=={ba}"
        out[key] = max(out.get(key, 0.0), u)
    return out


def busiest(util: dict[str, float], top: int = DEFAULT_TOP) -> list[dict[str, Any]]:
    """The ``top`` most utilised links, highest first."""
    rows = sorted(util.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"id": k, "utilisation": round(v, 6)} for k, v in rows]


def budgets_view(plan: Any) -> dict[str, Any]:
    """The plan's latency budgets: one row per path with its verdict; ``over`` counts violations."""
    sec = plan.budgets
    if sec is None:
        return {"present": False, "paths": [], "over": 0}
    rows = [{"src": p.src, "dst": p.dst, "path": list(p.path), "km": p.km, "total_us": p.total_us,
             "budget_us": p.budget_us, "budget_class": p.budget_class, "verdict": p.verdict,
             "reasons": list(p.reasons), "components": [{"name": c.name, "us": c.us, "count": c.count}
                                                        for c in p.components]} for p in sec.paths]
    return {"present": True, "paths": rows, "over": sec.over}


def cc_view(plan: Any) -> dict[str, Any]:
    """Congestion-control parameters per port group (PFC, ECN, DCQCN) and the buffer per switch."""
    sec = plan.cc
    if sec is None:
        return {"present": False, "port_groups": [], "buffer": []}
    groups = []
    for g in sec.port_groups:
        groups.append({"speed_gbps": g.speed_gbps, "cable_m": g.cable_m, "switch_model": g.switch_model,
                       "lossless": g.lossless, "ports": len(g.ports),
                       "xoff_bytes": g.pfc.xoff_bytes, "xon_bytes": g.pfc.xon_bytes,
                       "headroom_bytes": g.pfc.headroom_bytes, "kmin_bytes": g.ecn.kmin_bytes,
                       "kmax_bytes": g.ecn.kmax_bytes, "pmax": g.ecn.pmax,
                       "dcqcn_g": g.dcqcn.g, "rai_mbps": g.dcqcn.rai_mbps, "rhai_mbps": g.dcqcn.rhai_mbps,
                       "min_rate_mbps": g.dcqcn.min_rate_mbps})
    return {"present": True, "profile": sec.profile, "switch_model": sec.switch_model, "port_groups": groups,
            "buffer": [{"switch": b.switch, "headroom_bytes": b.headroom_bytes, "buffer_bytes": b.buffer_bytes,
                        "shared_bytes": b.shared_bytes, "lossless_ports": b.lossless_ports} for b in sec.buffer],
            "warnings": list(sec.warnings)}


def failed_link_ids(fab: Fabric, specs: Sequence[str], nodes: Sequence[str] = ()) -> list[str]:
    """Link ids of link specs (``a--b``, ``a:p--b:p`` ...) and of every link of ``nodes``; unknown ones skipped."""
    from fabric.errors import FabricError

    out = []
    for s in specs:
        try:
            lk = fab.find_link(s)
        except FabricError:
            continue
        out.append(link_id(lk.a, lk.b, lk.key))
    for n in nodes:
        if n in fab.graph:
            for v in fab.graph.adj[n]:
                out += [link_id(lk.a, lk.b, lk.key) for lk in fab.links_between(n, v)]
    return out
