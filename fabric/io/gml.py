"""Topology Zoo GML import (https://topology-zoo.org/, CC BY 4.0; see fabric/data/topologyzoo/SOURCE.md).

Nodes keep ``label``, ``lat``/``lon`` (from ``Latitude``/``Longitude``); links get ``length_km`` =
great-circle distance x ``route_factor`` (default :data:`fabric.constants.DEFAULT_ROUTE_FACTOR`), kind
``wdm`` and ``capacity_gbps`` (one 1.6 Tb/s wavelength unless given). Nodes without coordinates are
reported in ``fabric.meta["no_coordinates"]``, never guessed; their links get no length (0 km and
``fabric.meta["unknown_length_links"]``) unless ``require_lengths`` is set, which raises instead.
Some Zoo files repeat an edge without declaring ``multigraph 1``; that header is added on the fly.
Some copies of Zoo files carry unquoted words as values (``skip_geocode True`` in a mirror of
``Janetbackbone.gml``), which GML does not allow and networkx's reader rejects: before parsing,
``True``/``False`` (any case) become ``1``/``0`` and any other bare word becomes a quoted string.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import networkx as nx

from fabric.builders import WAVELENGTH_GBPS
from fabric.constants import DEFAULT_ROUTE_FACTOR, great_circle_km
from fabric.errors import ConfigError, TopologyError
from fabric.io.reader import read_text
from fabric.topology import Fabric

#: A quoted string (kept as is), or a key followed by a bare word as its value (GML wants a number,
#: a quoted string or '[' there).
_BARE_VALUE = re.compile(r'"[^"]*"|(?<![\w.+\-])([A-Za-z_][A-Za-z0-9_]*)(\s+)([A-Za-z_][A-Za-z0-9_]*)(?![\w.+\-])')
_GML_REALS = {"NAN", "INF"}


def _quote_bare_values(text: str) -> str:
    """``text`` with bare-word values made valid GML (booleans to 1/0, other words quoted)."""
    def fix(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)
        key, space, word = m.groups()
        if word in _GML_REALS:
            return m.group(0)
        low = word.lower()
        value = "1" if low == "true" else "0" if low == "false" else f'"{word}"'
        return f"{key}{space}{value}"

    return _BARE_VALUE.sub(fix, text)


def zoo_path(name: str) -> Path:
    """Path of a Topology Zoo file shipped with fabricctl, e.g. ``zoo_path("Chinanet")``."""
    base = Path(str(resources.files("fabric") / "data" / "topologyzoo"))
    shipped = {x.name[:-4]: x for x in base.glob("*.gml")}
    stem = name[:-4] if name.endswith(".gml") else name
    # only the names of the shipped files: "zoo:../../etc/x" must not read any .gml on the system
    if stem not in shipped:
        raise ConfigError(f"no built-in Topology Zoo file {name!r} (have: {', '.join(sorted(shipped))})")
    return shipped[stem]


def load_gml(path: str | os.PathLike[str], *, route_factor: float = DEFAULT_ROUTE_FACTOR,
             capacity_gbps: float = WAVELENGTH_GBPS, require_lengths: bool = False,
             role: str = "dci") -> Fabric:
    """Read a Topology Zoo GML file into a Fabric whose nodes are named by their ``label``.

    Duplicate labels get ``#id`` appended. ``role`` is given to every node (``dci``: each PoP is a
    site's gateway). Raises :class:`ConfigError` naming the file and line on a syntax error.
    """
    p = Path(path)
    text = read_text(p, what="GML file")
    if not re.search(r"^\s*multigraph\s+1", text, re.M):
        text = re.sub(r"graph\s*\[", "graph [\n  multigraph 1", text, count=1)
    text = _quote_bare_values(text)
    try:
        g = nx.parse_gml(text, label="id")
    except nx.NetworkXError as exc:
        raise ConfigError(f"not a valid GML file: {exc}", file=str(p)) from None
    labels: dict[object, str] = {}
    seen: dict[str, int] = {}
    for n, d in g.nodes(data=True):
        lab = str(d.get("label", n)).strip() or str(n)
        seen[lab] = seen.get(lab, 0) + 1
    for n, d in g.nodes(data=True):
        lab = str(d.get("label", n)).strip() or str(n)
        labels[n] = f"{lab}#{n}" if seen[lab] > 1 else lab
    f = Fabric(str(g.graph.get("label", p.stem)).strip() or p.stem)
    missing: list[str] = []
    for n, d in g.nodes(data=True):
        lat, lon = d.get("Latitude"), d.get("Longitude")
        if lat is None or lon is None:
            missing.append(labels[n])
            f.add_node(labels[n], role, site=labels[n])
        else:
            f.add_node(labels[n], role, site=labels[n], lat=float(lat), lon=float(lon))
    unknown: list[str] = []
    for u, v, _d in g.edges(data=True):
        if u == v:
            continue  # a self-loop carries nothing between sites
        a, b = labels[u], labels[v]
        na, nb = f.node(a), f.node(b)
        if "lat" in na and "lat" in nb:
            length = great_circle_km(na["lat"], na["lon"], nb["lat"], nb["lon"]) * route_factor
        else:
            if require_lengths:
                raise TopologyError(f"link {a}--{b} needs a length but {a if 'lat' not in na else b!r} has no "
                                    "Latitude/Longitude", file=str(p))
            length = 0.0
            unknown.append(f"{a}--{b}")
        f.add_link(a, b, capacity_gbps, length_km=length, kind="wdm")
    f.meta.update(source=str(p), route_factor=route_factor, no_coordinates=missing,
                  unknown_length_links=unknown)
    return f
