"""containerlab topologies as namespace labs, and labs exported as containerlab topologies.

Supported: node kinds ``linux`` (a namespace; ``image`` is ignored with a note; ``exec`` lines run
inside the namespace with ``/bin/sh -c`` after the links are up, in file order) and ``bridge`` (a
namespace holding a Linux bridge ``bridge0`` that every interface of the node joins; containerlab
expects the user to create host bridges, we create them inside the lab). Links in both containerlab
forms: ``endpoints: ["a:eth1", "b:eth1"]`` and ``endpoints: [{node: a, interface: eth1}, ...]``.

Link impairments in the file (containerlab keeps them out of its topology, containerlab #1398):
``delay`` and ``jitter`` (durations: ``10ms``, ``250us``, ``1s``; a bare number is ms), ``loss``
(percent) and ``rate`` (``100mbit``, ``1gbit``, ``500kbit``; a bare number is Mb/s), per link,
applied in both directions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fabric.errors import ConfigError
from fabric.io.containerlab import DEFAULT_IMAGE
from fabric.io.reader import MAX_INPUT_BYTES, Dumper, head_lines
from fabric.plan import Plan
from fabric.topology import Fabric
from labs.constants import DEFAULT_DELAY_SCALE, DEFAULT_RATE_SCALE
from labs.linkops import LinkOps

SUPPORTED_KINDS = ("linux", "bridge")
BRIDGE_DEV = "bridge0"
_DUR = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|µs|ms|s)?\s*$")
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps)?\s*$", re.I)
_RATE_BPS = {"bit": 1, "bps": 1, "kbit": 1e3, "kbps": 1e3, "mbit": 1e6, "mbps": 1e6, "gbit": 1e9,
             "gbps": 1e9, "tbit": 1e12}
_DUR_US = {"us": 1.0, "µs": 1.0, "ms": 1000.0, "s": 1e6}


@dataclass
class ClabSpec:
    name: str
    nodes: dict[str, dict[str, Any]]
    links: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    file: str | None = None


def _duration_us(v: Any, file: str | None, where: str) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        us = float(v) * 1000.0
    else:
        m = _DUR.match(str(v))
        if not m:
            raise ConfigError(f"not a duration: {v!r} (write 10ms, 250us or 1s)", file=file, where=where)
        us = float(m.group(1)) * _DUR_US[m.group(2) or "ms"]
    if us < 0:
        raise ConfigError(f"duration must be >= 0, got {v!r}", file=file, where=where)
    return us


def _rate_bps(v: Any, file: str | None, where: str) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        bps = float(v) * 1e6
    else:
        m = _RATE.match(str(v))
        if not m:
            raise ConfigError(f"not a rate: {v!r} (write 100mbit, 1gbit or a number of Mb/s)", file=file, where=where)
        bps = float(m.group(1)) * _RATE_BPS[(m.group(2) or "mbit").lower()]
    if not bps > 0:
        raise ConfigError(f"rate must be positive, got {v!r}", file=file, where=where)
    return bps


def _endpoint(ep: Any, file: str | None, where: str) -> tuple[str, str]:
    if isinstance(ep, str) and ep.count(":") == 1:
        node, ifn = ep.split(":")
    elif isinstance(ep, dict) and isinstance(ep.get("node"), str) and isinstance(ep.get("interface"), str):
        node, ifn = ep["node"], ep["interface"]
    else:
        raise ConfigError(f"endpoint must be 'node:interface' or {{node, interface}}, got {ep!r}", file=file, where=where)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", ifn) or ifn == "lo":
        raise ConfigError(f"interface name {ifn!r} is not a valid Linux name (1-15 of A-Z a-z 0-9 _ . -)",
                          file=file, where=where)
    return node, ifn


def parse_clab(data: Any, file: str | None = None) -> ClabSpec:
    """Validate a containerlab topology (already loaded YAML) into a :class:`ClabSpec`."""
    if not isinstance(data, dict) or not isinstance(data.get("topology"), dict):
        raise ConfigError("not a containerlab topology: no 'topology' mapping", file=file, where="topology")
    topo = data["topology"]
    name = str(data.get("name") or "clab")
    spec = ClabSpec(name=name, nodes={}, links=[], file=file)
    kinds = topo.get("kinds") or {}
    defaults = topo.get("defaults") or {}
    raw_nodes = topo.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise ConfigError("topology.nodes must be a non-empty mapping", file=file, where="topology.nodes")
    images = False
    for n, nd in raw_nodes.items():
        nd = nd or {}
        where = f"topology.nodes.{n}"
        if not isinstance(nd, dict):
            raise ConfigError("a node must be a mapping", file=file, where=where)
        kind = nd.get("kind") or defaults.get("kind")
        if kind not in SUPPORTED_KINDS:
            raise ConfigError(f"kind {kind!r} cannot run as a namespace (supported: {', '.join(SUPPORTED_KINDS)})",
                              file=file, where=f"{where}.kind")
        execs = list((kinds.get(kind) or {}).get("exec") or []) + list(nd.get("exec") or [])
        if not all(isinstance(e, str) for e in execs):
            raise ConfigError("exec must be a list of strings", file=file, where=f"{where}.exec")
        images = images or bool(nd.get("image") or (kinds.get(kind) or {}).get("image"))
        spec.nodes[str(n)] = {"kind": kind, "exec": execs}
    if images:
        spec.notes.append("container images are ignored: nodes are network namespaces sharing this host's filesystem")
    if data.get("mgmt"):
        spec.notes.append("the mgmt network is ignored (no management bridge in a namespace lab)")
    used: set[tuple[str, str]] = set()
    for i, lk in enumerate(topo.get("links") or []):
        where = f"topology.links[{i}]"
        if not isinstance(lk, dict) or not isinstance(lk.get("endpoints"), list) or len(lk["endpoints"]) != 2:
            raise ConfigError("a link needs 'endpoints' with two entries", file=file, where=where)
        (a, ia), (b, ib) = (_endpoint(e, file, f"{where}.endpoints[{j}]") for j, e in enumerate(lk["endpoints"]))
        for node, ifn in ((a, ia), (b, ib)):
            if node not in spec.nodes:
                raise ConfigError(f"unknown node {node!r}", file=file, where=f"{where}.endpoints")
            if (node, ifn) in used:
                raise ConfigError(f"interface {node}:{ifn} is used by two links", file=file, where=f"{where}.endpoints")
            if spec.nodes[node]["kind"] == "bridge" and ifn == BRIDGE_DEV:
                raise ConfigError(f"{BRIDGE_DEV!r} is reserved on bridge nodes", file=file, where=f"{where}.endpoints")
            used.add((node, ifn))
        if a == b:
            raise ConfigError("a link cannot connect a node to itself", file=file, where=where)
        rec = {"id": i, "a": a, "b": b, "if_a": ia, "if_b": ib, "key": 0, "capacity_gbps": None, "up": True,
               "delay_us": _duration_us(lk.get("delay", 0), file, f"{where}.delay"),
               "jitter_us": _duration_us(lk.get("jitter", 0), file, f"{where}.jitter"),
               "loss_pct": 0.0, "rate_bps": None, "relayed": False}
        if "loss" in lk:
            loss = lk["loss"]
            if not isinstance(loss, int | float) or isinstance(loss, bool) or not 0 <= loss <= 100:
                raise ConfigError(f"loss is a percentage 0..100, got {loss!r}", file=file, where=f"{where}.loss")
            rec["loss_pct"] = float(loss)
        if "rate" in lk:
            rec["rate_bps"] = _rate_bps(lk["rate"], file, f"{where}.rate")
        rec["model_delay_us"] = rec["delay_us"]
        spec.links.append(rec)
    return spec


def load_clab(path: str | Path) -> ClabSpec:
    """Read and validate a containerlab file (through the one reader, :mod:`fabric.io.reader`)."""
    from fabric.io.containerlab import expand_env
    from fabric.io.reader import parse_yaml, read_text

    p = Path(path)
    # ${VAR:=default} and $VAR expanded before parsing, as containerlab does (and as `topo import` does)
    text = expand_env(read_text(p, what="containerlab file"), file=str(p))
    return parse_clab(parse_yaml(text, file=str(p)).data, str(p))


def is_clab_file(path: str | Path) -> bool:
    p = Path(path)
    if p.name.endswith((".clab.yml", ".clab.yaml")):
        return True
    if p.suffix in (".yml", ".yaml"):
        return any(line.startswith("topology:") for line in head_lines(p, MAX_INPUT_BYTES))
    return False


# ------------------------------------------------------------------------------------------ build
CLAB_SYSCTLS = {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"}


def build_clab(ops: LinkOps, spec: ClabSpec, names: dict[str, str]) -> None:
    """Build ``spec`` into the lab ``ops`` (called by :meth:`labs.lab.Lab.up`, which rolls back on error)."""
    from labs import netns
    from labs.nodes import Node
    from labs.routing import relay_ns_name

    ops.state["notes"] += spec.notes
    ops.state["clab_nodes"] = spec.nodes
    ns = ops.opened
    for n in spec.nodes:
        ns[n] = netns.Namespace.create(names[n])
        netns.write_sysctls(ns[n].fd, CLAB_SYSCTLS, names[n])
    relay = None
    if ops.state["backend"] == "relay":
        relay = netns.Namespace.create(relay_ns_name(ops.prefix))
        ns["@relay"] = relay
    for n, nd in spec.nodes.items():
        if nd["kind"] == "bridge":
            ns[n].add_bridge(BRIDGE_DEV)
    for rec in spec.links:
        rec = dict(rec)
        impaired = rec["delay_us"] > 0 or rec["jitter_us"] > 0 or rec["loss_pct"] > 0
        a, b = ns[rec["a"]], ns[rec["b"]]
        if relay is not None and impaired:
            rec["relayed"] = True
            rec["relay_if_a"], rec["relay_if_b"] = f"r{rec['id']}a", f"r{rec['id']}b"
            a.add_veth(rec["if_a"], relay, rec["relay_if_a"])
            b.add_veth(rec["if_b"], relay, rec["relay_if_b"])
            a.set_tx_checksum(rec["if_a"], False)
            b.set_tx_checksum(rec["if_b"], False)
        else:
            a.add_veth(rec["if_a"], b, rec["if_b"])
        ops.state["links"].append(rec)
    for n, nd in spec.nodes.items():
        ns[n].refresh_ifindex()
        if nd["kind"] == "bridge":
            for ifn in list(ns[n].ifindex):
                if ifn not in ("lo", BRIDGE_DEV):
                    ns[n].enslave(ifn, BRIDGE_DEV)
        ns[n].all_up()
    if relay is not None:
        relay.all_up()
    ops.delay.start()
    for rec in ops.state["links"]:
        ops.apply(rec)
        ops.verify(rec)
    ops.save_state()
    for n, nd in spec.nodes.items():
        for line in nd["exec"]:
            Node(ops, n).cmd(line, check=True)


# ------------------------------------------------------------------------------------------ export
def export_clab(state: dict[str, Any], *, image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    """A containerlab topology reproducing a lab: one ``linux`` node per lab node whose ``exec`` lines
    set the same sysctls, address and routes, links with our impairment keys (delay/jitter/loss/rate).
    ``state`` is a lab's state (``Lab.state``) or :func:`state_from_fabric`'s output."""
    nodes: dict[str, Any] = {}
    addr = {n: d.get("ip") for n, d in state["nodes"].items()}
    for n, d in state["nodes"].items():
        ex: list[str] = []
        if d.get("ip"):
            ex += ["sysctl -w net.ipv4.ip_forward=1", "sysctl -w net.ipv4.fib_multipath_hash_policy=1",
                   f"ip addr add {d['ip']}/32 dev lo"]
            for m, ifs in (state.get("neighbours") or {}).get(n, {}).items():
                hops = " ".join(f"nexthop dev {i}" for i in ifs) if len(ifs) > 1 else f"dev {ifs[0]}"
                ex.append(f"ip route add {addr[m]}/32 scope link {hops}")
            for dst, hops in (state.get("routes") or {}).get(n, []):
                if len(hops) == 1:
                    i, m, _w = hops[0]
                    ex.append(f"ip route add {dst} via {addr[m]} dev {i} onlink")
                else:
                    parts = " ".join(f"nexthop via {addr[m]} dev {i} weight {w} onlink" for i, m, w in hops)
                    ex.append(f"ip route add {dst} {parts}")
        orig = (state.get("clab_nodes") or {}).get(n)
        node: dict[str, Any] = {"kind": orig["kind"] if orig else "linux"}
        if node["kind"] == "linux":
            node["image"] = image
        ex += list(orig["exec"]) if orig else []
        if ex:
            node["exec"] = ex
        nodes[n] = node
    links = []
    for rec in state["links"]:
        lk: dict[str, Any] = {"endpoints": [f"{rec['a']}:{rec['if_a']}", f"{rec['b']}:{rec['if_b']}"]}
        if rec.get("delay_us"):
            lk["delay"] = f"{rec['delay_us']:.3f}us"
        if rec.get("jitter_us"):
            lk["jitter"] = f"{rec['jitter_us']:.3f}us"
        if rec.get("loss_pct"):
            lk["loss"] = rec["loss_pct"]
        if rec.get("rate_bps"):
            lk["rate"] = f"{rec['rate_bps'] / 1e6:g}mbit"
        links.append(lk)
    return {"name": state.get("name") or "fabric", "topology": {"nodes": nodes, "links": links}}


def state_from_fabric(fabric: Fabric, plan: Plan | None = None, *, name: str = "fabric",
                      rate_scale: float = DEFAULT_RATE_SCALE, delay_scale: float = DEFAULT_DELAY_SCALE) -> dict[str, Any]:
    """What a lab of ``fabric`` would hold (addresses, links, routes, where its delays come from)
    without building it."""
    from dataclasses import asdict

    from labs.routing import layout

    lay = layout(fabric, plan)
    links = []
    for lp in lay.links:
        d = asdict(lp)
        d["delay_us"] = lp.delay_us * delay_scale
        d["rate_bps"] = lp.capacity_gbps * 1e9 * rate_scale if rate_scale > 0 else None
        links.append(d)
    return {"name": name, "nodes": {n: {"ip": lay.address[n]} for n in lay.nodes}, "links": links,
            "routes": {n: [[d, [list(h) for h in hops]] for d, hops in lay.routes[n]] for n in lay.nodes},
            "neighbours": lay.neighbours, "delay_source": lay.delay_source, "delay_model": lay.delay_model}


def dump_clab(topo: dict[str, Any]) -> str:
    # our Dumper quotes strings that YAML 1.2 reads as numbers ('1e3'), as every YAML we write does
    return yaml.dump(topo, Dumper=Dumper, sort_keys=False, default_flow_style=None, width=200)

