"""Fibre views of a Fabric shared by the optical planners.

Links whose length is unknown (a Topology Zoo node without coordinates gets 0 km and is listed in
``fabric.meta["unknown_length_links"]``) are left out: a 0 km stand-in would make a fake short cut.
Links that are down are left out too.
"""

from __future__ import annotations

import os
from typing import Any

import networkx as nx

from fabric.errors import ConfigError
from fabric.io.reader import read_document
from fabric.topology import Fabric


def unknown_length_pairs(fabric: Fabric) -> set[frozenset[str]]:
    out: set[frozenset[str]] = set()
    for name in fabric.meta.get("unknown_length_links", []) or []:
        a, _, b = str(name).partition("--")
        out.add(frozenset((a, b)))
    return out


def node_graph(fabric: Fabric) -> nx.Graph:
    """Simple graph of usable links; each edge keeps the shortest parallel link (``length_km``,
    ``kind``, ``capacity_gbps``) and ``links`` (how many parallel usable links there are)."""
    bad = unknown_length_pairs(fabric)
    g = nx.Graph()
    g.add_nodes_from(fabric.graph.nodes(data=True))
    for lk in fabric.links(up_only=True):
        if frozenset((lk.a, lk.b)) in bad:
            continue
        d = g.get_edge_data(lk.a, lk.b)
        if d is None or lk.length_km < d["length_km"]:
            g.add_edge(lk.a, lk.b, length_km=lk.length_km, kind=lk.kind, capacity_gbps=lk.capacity_gbps,
                       links=(d["links"] if d else 0) + 1)
        else:
            d["links"] += 1
    return g


def site_of(fabric: Fabric, node: str) -> str:
    return str(fabric.node(node).get("site") or node)


def wdm_site_graph(fabric: Fabric) -> nx.Graph:
    """Graph of sites joined by ``wdm`` links (the fibre plant between centres).

    A node's site is its ``site`` attribute (its own name when it has none, as in Topology Zoo files).
    Parallel wdm links between two sites become ``fibres`` (count) on one edge whose ``length_km``
    is the shortest of them. Each site keeps ``lat``/``lon`` when one of its nodes has them.
    """
    bad = unknown_length_pairs(fabric)
    g = nx.Graph()
    for lk in fabric.links(up_only=True):
        if lk.kind != "wdm" or frozenset((lk.a, lk.b)) in bad:
            continue
        sa, sb = site_of(fabric, lk.a), site_of(fabric, lk.b)
        if sa == sb:
            continue
        for s, n in ((sa, lk.a), (sb, lk.b)):
            if s not in g:
                nd = fabric.node(n)
                g.add_node(s, **({"lat": nd["lat"], "lon": nd["lon"]} if "lat" in nd else {}))
        d = g.get_edge_data(sa, sb)
        if d is None:
            g.add_edge(sa, sb, length_km=lk.length_km, fibres=1)
        else:
            d["fibres"] += 1
            d["length_km"] = min(d["length_km"], lk.length_km)
    return g


def read_data_file(path: str | os.PathLike[str], what: str = "input file") -> Any:
    """Read a YAML or JSON input file (JSON is YAML); one ConfigError naming the file, line and column
    on any problem (the one reader, :func:`fabric.io.reader.read_document`)."""
    return read_document(path, what=what, formats=("yaml",)).data


def number(value: Any, *, file: str | None, where: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite number >= minimum (> minimum when ``strict``), else a ConfigError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"expected a number, got {value!r}", file=file, where=where)
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")) or v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise ConfigError(f"must be finite and {op} {minimum:g}, got {value!r}", file=file, where=where)
    return v


def read_endpoint_records(path: str | os.PathLike[str], key: str, allowed: set[str], what: str,
                          node_word: str) -> list[tuple[str, dict[str, Any]]]:
    """Read ``{key: [{src, dst, ...}]}`` (or a bare list) and check the shape every record shares.

    Returns ``(where, record)`` pairs, ``where`` being ``key[i]`` for error messages. Refuses unknown
    top-level keys, an empty or missing list, a record that is not a mapping, keys outside
    ``allowed`` and a ``src``/``dst`` that is not a non-empty string; callers check the rest.
    """
    f = str(path)
    obj = read_data_file(path, f"{key} file")
    if isinstance(obj, dict) and set(obj) - {key}:
        raise ConfigError(f"unknown key(s) {sorted(set(obj) - {key})}", file=f)
    items = obj.get(key) if isinstance(obj, dict) else obj
    if not isinstance(items, list) or not items:
        raise ConfigError(f"expected a non-empty list '{key}' of {what}", file=f, where=key)
    out = []
    for i, it in enumerate(items):
        w = f"{key}[{i}]"
        if not isinstance(it, dict):
            raise ConfigError(f"each entry of '{key}' must be a mapping {what}", file=f, where=w)
        unknown = set(it) - allowed
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=f, where=w)
        for k in ("src", "dst"):
            if not isinstance(it.get(k), str) or not it[k]:
                raise ConfigError(f"'{k}' must be a {node_word}", file=f, where=f"{w}.{k}")
        out.append((w, it))
    return out
