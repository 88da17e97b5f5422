"""containerlab topology files (https://containerlab.dev/manual/topo-def-file/): import and export.

Import reads ``name``, ``topology.nodes`` and ``topology.links`` in both forms::

    links:
      - endpoints: ["leaf1:eth1", "spine1:eth1"]            # brief form
      - type: veth                                           # long form
        endpoints: [{node: leaf1, interface: eth2}, {node: spine2, interface: eth1}]
        vars: {capacity_gbps: 400, length_km: 0.1}

A node's ``kind``, ``labels`` and ``exec`` follow containerlab's inheritance order, node > group >
kind > defaults: the node's own value, else its group's (``group:`` on the node, else
``topology.defaults.group``; groups are ``topology.groups``), else the per-kind settings in
``topology.kinds`` (which cannot set the kind itself), else ``topology.defaults``. Labels are merged
in that order (the node's win); ``exec`` is taken whole from the first level that has one.

Links to containerlab's special endpoints are *skipped with a warning naming them* (the fabric has no
node for them): the brief-form names ``host:IF`` (the container host's namespace), ``macvlan:IF``
(a host interface) and ``mgmt-net:IF`` (the management bridge) when no node of that name is defined,
and the single-ended long forms ``type: host | mgmt-net | macvlan | vxlan | vxlan-stitch | dummy``
(``endpoint:``). Nodes of kind ``bridge`` and ``ovs-bridge`` are named nodes in the file, so links to
them import: such a node becomes a switch (``leaf``) of the fabric. A link between two interfaces of
the same node (a loopback cable) cannot be represented (a Fabric link joins two distinct nodes, and a
self-loop carries nothing between them): it is skipped with a warning too. Each warning is issued as
a :class:`ClabImportWarning` and kept in ``fabric.meta["import_warnings"]``.

Files with Go template directives (containerlab expands ``{{ ... }}`` at deploy time from its
variables) are rendered with no variable set when they use only ``if .NAME``/``else``/``end`` (every
condition false: the file as deployed without variables), with a warning; any other directive is
refused (render the file first).

Roles come from the node label ``fabricctl.role`` when present, else from the kind: ``bridge``,
``ovs-bridge`` and network OS kinds (srl, ceos, sonic-vs, ...) are switches (``leaf``), ``linux`` and
``host`` are ``host``.
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
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fabric.builders import DEFAULT_PORT_GBPS
from fabric.errors import ConfigError, TopologyError
from fabric.io.atomic import write_text_atomic
from fabric.io.reader import Dumper, fmt_path, parse_yaml, read_text, where_in
from fabric.topology import ROLES, Fabric

#: Image used for every exported node (a small Linux with iproute2; any image with ip/ping works).
DEFAULT_IMAGE = "alpine:3.20"
LABEL_PREFIX = "fabricctl."
#: Linux interface names: at most 15 characters, no '/', ':' or whitespace (IFNAMSIZ - 1).
_IFNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")
_NODE_LABELS = {"role": str, "site": str, "lat": float, "lon": float, "asn": int, "loopback": str,
                "rail": int, "plane": str, "pod": int, "label": str}
#: Brief-form endpoint names that containerlab resolves to something outside the lab's nodes.
SPECIAL_ENDPOINTS = {"host": "the container host's network namespace",
                     "macvlan": "a macvlan interface on a host interface",
                     "mgmt-net": "the management network bridge"}
#: Long-form link types with a single ``endpoint`` (the other end is outside the lab's nodes).
SINGLE_ENDED_TYPES = {"host": "a host interface", "mgmt-net": "the management network bridge",
                      "macvlan": "a macvlan interface on a host interface", "vxlan": "a VxLAN tunnel",
                      "vxlan-stitch": "a VxLAN tunnel stitched to a veth", "dummy": "a dummy interface"}
_DIRECTIVE = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_IF_VAR = re.compile(r"^if\s+\.[A-Za-z_][A-Za-z0-9_]*$")


class ClabImportWarning(UserWarning):
    """Part of a containerlab file that the import skips (a special endpoint, a loopback cable)."""


#: containerlab's node kinds, each with the names that can be used for it interchangeably (its
#: ``kindNames`` in ``nodes/*/*.go`` of srl-labs/containerlab at 39ff2b7, August 2026; the kinds
#: manual's "Short/Long kind name" column). The first name of each is the one we report.
CLAB_KINDS: tuple[tuple[str, ...], ...] = (
    ("nokia_srlinux", "srl"), ("arista_ceos", "ceos"), ("juniper_crpd", "crpd"), ("cumulus_cvx", "cvx"),
    ("cisco_xrd", "xrd"), ("cisco_c8000", "c8000"), ("juniper_cjunosevolved", "cjunosevolved"),
    ("ciena_saos", "vr-ciena_saos"), ("nokia_sros", "vr-sros", "vr-nokia_sros"), ("nokia_srsim",),
    ("aruba_aoscx", "vr-aoscx", "vr-aruba_aoscx"), ("cisco_csr1000v", "vr-csr", "vr-cisco_csr1000v"),
    ("dell_ftosv", "vr-ftosv", "vr-dell_ftosv"), ("cisco_n9kv", "vr-n9kv", "vr-cisco_n9kv"),
    ("paloalto_panos", "vr-pan", "vr-paloalto_panos"), ("mikrotik_ros", "vr-ros", "vr-mikrotik_ros"),
    ("arista_veos", "vr-veos", "vr-arista_veos"), ("juniper_vmx", "vr-vmx", "vr-juniper_vmx"),
    ("juniper_vqfx", "vr-vqfx", "vr-juniper_vqfx"), ("juniper_vsrx", "vr-vsrx", "vr-juniper_vsrx"),
    ("cisco_xrv", "vr-xrv", "vr-cisco_xrv"), ("cisco_xrv9k", "vr-xrv9k", "vr-cisco_xrv9k"),
    ("juniper_vjunosrouter",), ("juniper_vjunosswitch",), ("juniper_vjunosevolved",), ("juniper_csrx",),
    ("linux",), ("bridge",), ("ovs-bridge",), ("host",), ("ext-container",), ("k8s-kind",),
    ("generic_vm",), ("freebsd",), ("openbsd",), ("openwrt",), ("sonic-vs",), ("sonic-vm",), ("dell_sonic",),
    ("plvision_sonic",), ("nvidia_cumulusvx",), ("6wind_vsr",), ("arrcus_arcos",), ("checkpoint_cloudguard",),
    ("cisco_asav",), ("cisco_sdwan",), ("cisco_vios",), ("cisco_xrd_vrouter",), ("cisco_iol",),
    ("cisco_c8000v",), ("cisco_cat9kv",), ("cisco_ftdv",), ("f5_bigip-ve",), ("fdio_vpp",),
    ("fortinet_fortigate",), ("huawei_vrp",), ("ipinfusion_ocnos",), ("keysight_ixia-c-one",), ("rare",),
    ("spirent_stc",), ("veesix_osvbng",), ("vyosnetworks_vyos",),
)
_CANONICAL_KIND = {name: names[0] for names in CLAB_KINDS for name in names}
#: Kinds whose nodes are endpoints (role ``host``): Linux containers and VMs, the host's namespace,
#: Kubernetes-in-docker clusters and traffic generators. Every other kind is a network OS or a
#: bridge, i.e. a switch (``leaf``).
HOST_KINDS = frozenset({"linux", "host", "ext-container", "k8s-kind", "generic_vm", "freebsd", "openbsd",
                        "keysight_ixia-c-one", "spirent_stc"})


def canonical_kind(kind: Any) -> str | None:
    """The name we report for a containerlab kind or alias (``srl`` -> ``nokia_srlinux``); None if unknown.

    >>> canonical_kind("ceos"), canonical_kind("arista_ceos"), canonical_kind("vr-n9kv"), canonical_kind("x")
    ('arista_ceos', 'arista_ceos', 'cisco_n9kv', None)
    """
    return _CANONICAL_KIND.get(str(kind).lower())  # containerlab lower-cases kinds (core/config.go)


def _role_for_kind(kind: str) -> str:
    return "host" if canonical_kind(kind) in HOST_KINDS else "leaf"


#: ``$NAME``, ``${NAME}``, ``${NAME:=default}`` (``:-``, ``=``, ``-``, ``:+``, ``+``) and ``$$``, as
#: containerlab expands them before parsing (core/file.go: hellt/envsubst, restricted "no replace").
_ENV_REF = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=+])([^}\n]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_env(text: str, env: Mapping[str, str] | None = None, *, file: str | None = None) -> str:
    """Environment variables in a containerlab file, expanded as containerlab does before parsing it.

    With containerlab's restrictions (hellt/envsubst, ``BytesRestrictedNoReplace``): a variable that is
    unset or empty is left as ``$NAME`` (so shell commands in ``exec`` keep theirs), ``${NAME:=x}`` and
    ``${NAME:-x}`` give ``x`` unless NAME is set and not empty, ``${NAME=x}``/``${NAME-x}`` give ``x``
    unless NAME is set, ``${NAME:+x}``/``${NAME+x}`` give ``x`` when NAME is set, ``$$`` is ``$``, and a
    name starting with a digit (``$1``) is not a variable. A ``${`` without its ``}`` on the line is an
    error, as in containerlab.

    >>> expand_env("image: ${IMG:=alpine}, cmd: echo $HOME$$ ${UNSET}", {"HOME": "/root"})
    'image: alpine, cmd: echo /root$ $UNSET'
    """
    env = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        value = env.get(name, "")
        shown = value if value else f"${name}"
        op, default = m.group(3), m.group(4)
        if op is None:
            return shown
        default = expand_env(default, env, file=file)
        if op in (":-", ":="):
            return value if value else default
        if op in ("-", "="):
            return default if name not in env else shown
        return default if name in env else ""  # + and :+

    out = _ENV_REF.sub(sub, text)
    for lineno, line in enumerate(out.splitlines(), 1):
        at = line.find("${")
        if at >= 0 and "}" not in line[at:] and _ENV_OPEN.match(line[at:]):
            raise ConfigError("closing brace expected for ${...} (containerlab's variable expansion)", file=file,
                              where=f"line {lineno}, column {at + 1}")
    return out


_ENV_OPEN = re.compile(r"^\$\{[A-Za-z_]")


def _mapping(value: Any, what: str, file: str, lines: Any, path: tuple[Any, ...]) -> dict[Any, Any]:
    value = value if value is not None else {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping", file=file, where=where_in(lines, path))
    return value


def _render_template(text: str, file: str) -> str | None:
    """``text`` with its Go template conditionals taken as false; None when it has no directive.

    What is removed (directives, branches not taken, whitespace trimmed by ``{{-``/``-}}``) is replaced
    by its newlines only, so that line numbers in messages stay those of the file.
    """
    if "{{" not in text:
        return None
    out: list[str] = []

    def drop(piece: str) -> None:
        out.append("\n" * piece.count("\n"))

    def keep(piece: str, lead: bool, trail: bool) -> None:
        body = piece
        if lead:
            body = body.lstrip()
            drop(piece[:len(piece) - len(body)])
        if trail:
            stripped = body.rstrip()
            out.append(stripped)
            drop(body[len(stripped):])
        else:
            out.append(body)

    active = [True]  # one entry per open 'if': whether its current branch is output
    pos = 0
    trim_next = False
    for m in _DIRECTIVE.finditer(text):
        chunk = text[pos:m.start()]
        if all(active):
            keep(chunk, trim_next, bool(m.group(1)))
        else:
            drop(chunk)
        drop(m.group(0))
        word = m.group(2)
        if _IF_VAR.match(word):
            active.append(False)
        elif word == "else" and len(active) > 1:
            active[-1] = not active[-1]
        elif word == "end" and len(active) > 1:
            active.pop()
        else:
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"Go template directive {m.group(0)!r} (containerlab expands it at deploy time): "
                              "render the file first, then import the result", file=file, where=f"line {line}")
        trim_next = bool(m.group(3))
        pos = m.end()
    if len(active) > 1:
        raise ConfigError("Go template 'if' without 'end': render the file first", file=file)
    keep(text[pos:], trim_next, False)
    return "".join(out)


def load_clab(path: str | os.PathLike[str]) -> Fabric:
    """Import a containerlab topology file into a Fabric."""
    file = str(path)
    text = read_text(path, what="containerlab file")
    rendered = _render_template(text, file)
    doc = parse_yaml(expand_env(text if rendered is None else rendered, file=file), file=file)
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
    defaults = _mapping(topo.get("defaults"), "'topology.defaults'", file, lines, ("topology", "defaults"))
    kinds = _mapping(topo.get("kinds"), "'topology.kinds'", file, lines, ("topology", "kinds"))
    groups = _mapping(topo.get("groups"), "'topology.groups'", file, lines, ("topology", "groups"))
    for section, table in (("kinds", kinds), ("groups", groups)):
        for key, val in table.items():
            _mapping(val, f"topology.{section}.{key}", file, lines, ("topology", section, key))
    links = topo.get("links") or []
    if not isinstance(links, list):
        raise ConfigError("'topology.links' must be a list", file=file, where=where_in(lines, ("topology", "links")))
    fab = Fabric(str(data["name"]))
    skipped: list[str] = []

    def skip(path_: tuple[Any, ...], reason: str) -> None:
        msg = f"{file}: {where_in(lines, path_)}: skipped {reason}"
        skipped.append(msg)
        warnings.warn(msg, ClabImportWarning, stacklevel=3)

    if rendered is not None:
        msg = (f"{file}: rendered its Go template directives with no variable set (every 'if .NAME' false); "
               "render the file yourself to import another variant")
        skipped.append(msg)
        warnings.warn(msg, ClabImportWarning, stacklevel=2)
    node_kinds: dict[str, Any] = {}
    node_exec: dict[str, list[Any]] = {}
    for name, nd in nodes.items():
        path_ = ("topology", "nodes", name)
        nd = nd if nd is not None else {}
        if not isinstance(nd, dict):
            raise ConfigError("a node must be a mapping", file=file, where=where_in(lines, path_))
        group_name = nd.get("group", defaults.get("group"))
        group: dict[Any, Any] = {}
        if group_name is not None:
            if group_name not in groups:
                raise ConfigError(f"group {group_name!r} is not defined in topology.groups", file=file,
                                  where=where_in(lines, path_ + ("group",) if "group" in nd else ("topology", "defaults", "group")))
            group = groups[group_name] or {}
        kind = nd.get("kind") or group.get("kind") or defaults.get("kind")
        if not kind:
            raise ConfigError("node has no 'kind' (nor has its group or topology.defaults)", file=file,
                              where=where_in(lines, path_))
        kind_cfg = kinds.get(kind) or {}
        levels = (nd, group, kind_cfg, defaults)  # containerlab's order: node > group > kind > defaults
        labels: dict[Any, Any] = {}
        for level in reversed(levels):
            lab = level.get("labels")
            if lab is None:
                continue
            if not isinstance(lab, dict):
                raise ConfigError("'labels' must be a mapping", file=file, where=where_in(lines, path_ + ("labels",)))
            labels.update(lab)
        exec_: Any = next((lv["exec"] for lv in levels if lv.get("exec") is not None), [])
        if not isinstance(exec_, list):
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
        if canonical_kind(kind) is None:
            skip(path_ + ("kind",), f"nothing: unknown containerlab kind {kind!r} (not one of containerlab's "
                 "kinds or aliases); the node is imported as a switch")
        role = attrs.pop("role", _role_for_kind(str(kind)))
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}", file=file, where=where_in(lines, path_ + ("labels",)))
        try:
            fab.add_node(str(name), role, **attrs)
        except TopologyError as exc:
            raise TopologyError(exc.reason, file=file, where=where_in(lines, path_)) from None
        node_kinds[str(name)] = kind
        node_exec[str(name)] = list(exec_)
    fab.meta["clab_kinds"] = node_kinds
    fab.meta["clab_exec"] = node_exec
    for i, lk in enumerate(links):
        path_ = ("topology", "links", i)
        if isinstance(lk, dict) and "endpoints" not in lk and "endpoint" in lk:
            ltype = str(lk.get("type", ""))
            ep = lk["endpoint"]
            if not isinstance(ep, dict) or "node" not in ep or "interface" not in ep:
                raise ConfigError("endpoint must be {node, interface}", file=file,
                                  where=where_in(lines, path_ + ("endpoint",)))
            if str(ep["node"]) not in fab:
                raise TopologyError(f"unknown node {str(ep['node'])!r}", file=file,
                                    where=where_in(lines, path_ + ("endpoint",)))
            what = SINGLE_ENDED_TYPES.get(ltype, f"an endpoint of link type {ltype!r}" if ltype else "an outside endpoint")
            skip(path_, f"{ltype or 'single-ended'} link from {ep['node']}:{ep['interface']}: its other end is "
                        f"{what}, not a node of the fabric")
            continue
        if not isinstance(lk, dict) or "endpoints" not in lk:
            raise ConfigError("a link needs 'endpoints' (or one 'endpoint' with a type)", file=file,
                              where=where_in(lines, path_))
        eps = lk["endpoints"]
        if not isinstance(eps, list) or len(eps) != 2:
            raise ConfigError("a link needs exactly two endpoints", file=file, where=where_in(lines, path_ + ("endpoints",)))
        ends = []
        special = None
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
                if node in SPECIAL_ENDPOINTS:
                    special = (node, iface)
                else:
                    raise TopologyError(f"unknown node {node!r}", file=file, where=where)
            ends.append((node, iface))
        text = f"{ends[0][0]}:{ends[0][1]} -- {ends[1][0]}:{ends[1][1]}"
        if special is not None:
            skip(path_, f"link {text}: {special[0]!r} is {SPECIAL_ENDPOINTS[special[0]]}, not a node of the fabric")
            continue
        if ends[0][0] == ends[1][0]:
            skip(path_, f"link {text}: a loopback cable between two interfaces of the same node "
                        "(a fabric link joins two distinct nodes)")
            continue
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
    if skipped:
        fab.meta["import_warnings"] = skipped
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
    text += yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=None, width=120)
    write_text_atomic(Path(path), text)

