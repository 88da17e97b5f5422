"""containerlab topology files (https://containerlab.dev/manual/topo-def-file/): import and export.

Import reads ``name``, ``topology.nodes`` (each with a ``kind``, or the kind from
``topology.defaults``/``topology.kinds``) and ``topology.links`` in both forms::

    links:
      - endpoints: ["leaf1:eth1", "spine1:eth1"]            # brief form
      - type: veth                                           # long form
        endpoints: [{node: leaf1, interface: eth2}, {node: spine2, interface: eth1}]
        vars: {capacity_gbps: 400, length_km: 0.1}

Roles come from the node label ``fabricctl.role`` when present, else from the kind: ``bridge`` and
network OS kinds (srl, ceos, sonic-vs, ...) are switches (``leaf``), ``linux`` is a ``host``.
Capacities and lengths come from link ``vars`` (``capacity_gbps``, ``length_km``, ``kind``), else the
default port speed. Our own attributes travel in node labels ``fabricctl.*`` so that an
export/import round trip keeps them.

Export writes kinds ``linux`` (every node; switches forward in the kernel) with one image for all,
interface names equal to our port names (``eth1``... : containerlab keeps ``eth0`` for management),
and link ``vars`` with capacity, length and kind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from fabric.builders import DEFAULT_PORT_GBPS
from fabric.errors import ConfigError, TopologyError
from fabric.io.atomic import write_text_atomic
from fabric.io.reader import fmt_path, read_document, where_in
from fabric.topology import ROLES, Fabric

#: Image used for every exported node (a small Linux with iproute2; any image with ip/ping works).
DEFAULT_IMAGE = "alpine:3.20"
LABEL_PREFIX = "fabricctl."
#: Linux interface names: at most 15 characters, no '/', ':' or whitespace (IFNAMSIZ - 1).
_IFNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")
_NODE_LABELS = {"role": str, "site": str, "lat": float, "lon": float, "asn": int, "loopback": str,
                "rail": int, "plane": str, "pod": int, "label": str}


def _role_for_kind(kind: str) -> str:
    return "host" if kind == "linux" else "leaf"


def load_clab(path: str | os.PathLike[str]) -> Fabric:
    """Import a containerlab topology file into a Fabric."""
    file = str(path)
    doc = read_document(path, what="containerlab file", formats=("yaml",))
    data, lines = doc.data, doc.lines
    if not isinstance(data, dict):
        raise ConfigError("a containerlab file must be a mapping with 'name' and 'topology'", file=file)
    for key in ("name", "topology"):
        if key not in data:
            raise ConfigError(f"missing required field {key!r}", file=file, where=where_in(lines, ()))
    topo = data["topology"]
    if not isinstance(topo, dict):
        raise ConfigError("'topology' must be a mapping", file=file, where=where_in(lines, ("topology",)))
    nodes = topo.get("nodes") or {}
    if not isinstance(nodes, dict):
        raise ConfigError("'topology.nodes' must be a mapping of node name to node", file=file,
                          where=where_in(lines, ("topology", "nodes")))
    defaults = topo.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError("'topology.defaults' must be a mapping", file=file,
                          where=where_in(lines, ("topology", "defaults")))
    default_kind = defaults.get("kind")
    links = topo.get("links") or []
    if not isinstance(links, list):
        raise ConfigError("'topology.links' must be a list", file=file, where=where_in(lines, ("topology", "links")))
    fab = Fabric(str(data["name"]))
    for name, nd in nodes.items():
        path_ = ("topology", "nodes", name)
        nd = nd or {}
        if not isinstance(nd, dict):
            raise ConfigError("a node must be a mapping", file=file, where=where_in(lines, path_))
        kind = nd.get("kind", default_kind)
        if not kind:
            raise ConfigError("node has no 'kind' (and topology.defaults has none)", file=file,
                              where=where_in(lines, path_))
        labels = nd.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError("'labels' must be a mapping", file=file, where=where_in(lines, path_ + ("labels",)))
        if not isinstance(nd.get("exec") or [], list):
            raise ConfigError("'exec' must be a list of commands", file=file, where=where_in(lines, path_ + ("exec",)))
        attrs: dict[str, Any] = {}
        for key, typ in _NODE_LABELS.items():
            raw = labels.get(LABEL_PREFIX + key)
            if raw is None:
                continue
            try:
                attrs[key] = typ(raw)
            except (TypeError, ValueError, OverflowError):
                raise ConfigError(f"label {LABEL_PREFIX + key} must be {typ.__name__}, got {raw!r}", file=file,
                                  where=where_in(lines, path_ + ("labels", LABEL_PREFIX + key))) from None
        role = attrs.pop("role", _role_for_kind(str(kind)))
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}", file=file, where=where_in(lines, path_ + ("labels",)))
        try:
            fab.add_node(str(name), role, **attrs)
        except TopologyError as exc:
            raise TopologyError(exc.reason, file=file, where=where_in(lines, path_)) from None
    fab.meta["clab_kinds"] = {str(n): (nd or {}).get("kind", default_kind) for n, nd in nodes.items()}
    fab.meta["clab_exec"] = {str(n): list((nd or {}).get("exec") or []) for n, nd in nodes.items()}
    for i, lk in enumerate(links):
        path_ = ("topology", "links", i)
        if not isinstance(lk, dict) or "endpoints" not in lk:
            raise ConfigError("a link needs 'endpoints'", file=file, where=where_in(lines, path_))
        eps = lk["endpoints"]
        if not isinstance(eps, list) or len(eps) != 2:
            raise ConfigError("a link needs exactly two endpoints", file=file, where=where_in(lines, path_ + ("endpoints",)))
        ends = []
        for j, ep in enumerate(eps):
            where = where_in(lines, path_ + ("endpoints", j))
            if isinstance(ep, str):
                if ":" not in ep:
                    raise ConfigError(f"endpoint {ep!r} must be 'node:interface'", file=file, where=where)
                node, iface = ep.split(":", 1)
            elif isinstance(ep, dict) and "node" in ep and "interface" in ep:
                node, iface = str(ep["node"]), str(ep["interface"])
            else:
                raise ConfigError("endpoint must be 'node:interface' or {node, interface}", file=file, where=where)
            if node not in fab:
                raise TopologyError(f"unknown node {node!r}", file=file, where=where)
            ends.append((node, iface))
        vars_ = lk.get("vars") or {}
        if not isinstance(vars_, dict):
            raise ConfigError("'vars' must be a mapping", file=file, where=where_in(lines, path_ + ("vars",)))
        try:
            cap = float(vars_.get("capacity_gbps", DEFAULT_PORT_GBPS))
            length = float(vars_.get("length_km", 0.0))
        except (TypeError, ValueError):
            raise ConfigError("vars.capacity_gbps and vars.length_km must be numbers", file=file,
                              where=where_in(lines, path_ + ("vars",))) from None
        kind = str(vars_.get("kind", "copper"))
        try:
            fab.add_link(ends[0][0], ends[1][0], cap, length_km=length, kind=kind, port_a=ends[0][1],
                         port_b=ends[1][1], up=bool(vars_.get("up", True)))
        except TopologyError as exc:
            raise TopologyError(exc.reason, file=file, where=where_in(lines, path_)) from None
    fab.meta["impairments"] = {i: lk["vars"] for i, lk in enumerate(links)
                               if isinstance(lk, dict) and isinstance(lk.get("vars"), dict)}
    return fab


def fabric_to_clab(fab: Fabric, *, image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    """The containerlab topology of a Fabric (kinds ``linux``; one image for all nodes)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", fab.name) or "fabric"
    nodes: dict[str, Any] = {}
    for n, d in fab.graph.nodes(data=True):
        labels = {LABEL_PREFIX + k: str(d[k]) for k in _NODE_LABELS if k in d}
        nodes[n] = {"kind": "linux", "labels": labels}
    links = []
    for lk in fab.links():
        for node, port in ((lk.a, lk.port_a), (lk.b, lk.port_b)):
            if not _IFNAME.match(port) or port == "eth0":
                raise TopologyError(f"port {port!r} of {node!r} is not usable as a containerlab interface "
                                    "(1-15 characters, no ':' or '/', eth0 is reserved for management)")
        links.append({"endpoints": [f"{lk.a}:{lk.port_a}", f"{lk.b}:{lk.port_b}"], "vars": lk.attributes()})
    return {"name": name, "topology": {"kinds": {"linux": {"image": image}}, "nodes": nodes, "links": links}}


def validate_clab_dict(data: dict[str, Any]) -> None:
    """Check what containerlab's own loader requires of a file (name, kinds, endpoints, unique interfaces)."""
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ConfigError("containerlab file needs a non-empty 'name'")
    topo = data.get("topology")
    if not isinstance(topo, dict) or not isinstance(topo.get("nodes"), dict):
        raise ConfigError("containerlab file needs 'topology.nodes'")
    used: set[tuple[str, str]] = set()
    for i, lk in enumerate(topo.get("links", [])):
        for ep in lk["endpoints"]:
            node, iface = ep.split(":", 1) if isinstance(ep, str) else (ep["node"], ep["interface"])
            if node not in topo["nodes"]:
                raise ConfigError(f"unknown node {node!r}", where=fmt_path(("topology", "links", i)))
            if (node, iface) in used:
                raise ConfigError(f"interface {node}:{iface} used twice", where=fmt_path(("topology", "links", i)))
            used.add((node, iface))
    for n, nd in topo["nodes"].items():
        if nd.get("kind", (topo.get("defaults") or {}).get("kind")) not in ("linux", "bridge") and "kind" not in nd:
            raise ConfigError("node has no kind", where=f"topology.nodes.{n}")


def save_clab(fab: Fabric, path: str | os.PathLike[str], *, image: str = DEFAULT_IMAGE) -> None:
    """Write a containerlab file atomically."""
    data = fabric_to_clab(fab, image=image)
    validate_clab_dict(data)
    text = f"# containerlab topology exported by fabricctl from {fab.name}\n"
    text += yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    write_text_atomic(Path(path), text)

