"""Pure lab layout: names, addresses and routes derived from a Fabric and a Plan (no kernel access).

Addressing is "unnumbered" like BGP-unnumbered fabrics: every node has one /32 (on ``lo``), every
link is a veth pair without addresses, a neighbour is reached by a ``/32 scope link`` route on the
link's interface, and everything further away by routes ``via <neighbour> onlink``. Endpoints
(gpu/nic/host) never carry transit traffic.

Routes: for each node and destination node, the next hops are the ECMP groups of the load-balancing
planner (:func:`fabric.wcmp.ecmp_groups`: every member link of the candidate DAG towards the
destination, weight 1; min-hop up-down paths on Clos fabrics); a Plan's ``wcmp`` groups replace that
with the planned next hops and integer weights. Link delays come from :mod:`labs.linkdelay` (the
plan's ``budgets`` model when it has one). Per node, the most common next-hop set becomes the default
route so a 100-node lab does not need 10,000 routes.

``wcmp`` shape (see the brief): ``{"groups": [{"switch", "dst", "next_hops": [{"node", "port",
"weight"}], "delta"}], ...}``; ``dst`` is a leaf/ToR or endpoint node. A group for a leaf applies to
the leaf itself and to every endpoint attached only to that leaf; a group for an endpoint wins over
its leaf's group.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fabric.errors import ConfigError, FabricError, LabError
from fabric.plan import Plan
from fabric.topology import ENDPOINT_ROLES, Fabric
from labs.constants import IFNAME_MAX, KERNEL_MAX_NEXTHOP_WEIGHT, LAB_BASE_ADDRESS, LAB_MAX_NODES
from labs.linkdelay import delay_source, link_delay_us

if TYPE_CHECKING:
    from fabric.wcmp.paths import Network

_IFNAME_OK = re.compile(rf"[A-Za-z0-9_.-]{{1,{IFNAME_MAX}}}")
_LAB_NAME_OK = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")

#: A next hop: (interface on this node, neighbour node, weight).
NextHop = tuple[str, str, int]


def check_lab_name(name: str) -> str:
    if not _LAB_NAME_OK.fullmatch(name):
        raise ConfigError("lab name must be 1-24 characters of a-z, 0-9 and '-', starting with a letter "
                          "or digit", where=f"--name {name!r}")
    return name


def lab_prefix(name: str) -> str:
    """Prefix of every namespace of lab ``name`` (``ip netns list | grep '^NAME\\.'``)."""
    return f"{name}."


def ns_name(prefix: str, node: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", node)
    return prefix + safe


def relay_ns_name(prefix: str) -> str:
    """The middle namespace of the delay relay ('@' never appears in a node's namespace name)."""
    return prefix + "@relay"


def netem_probe_ns_name(prefix: str) -> str:
    """The scratch namespace ``up`` probes the kernel for sch_netem in (``@``: never a node's)."""
    return prefix + "@netem-probe"


def ifname_for(port: str, used: set[str], n: int) -> str:
    """The fabric's port name if the kernel accepts it, otherwise ``pN``."""
    name = port if _IFNAME_OK.fullmatch(port) and port != "lo" else f"p{n}"
    while name in used:
        n += 1
        name = f"p{n}"
    used.add(name)
    return name


@dataclass
class LinkPlan:
    """One fabric link as the lab builds it."""

    id: int
    a: str
    b: str
    key: int
    if_a: str
    if_b: str
    capacity_gbps: float
    delay_us: float
    up: bool
    delay_model: str = "fibre"
    #: the fabric's names of the two ports (the interface names may differ: :func:`ifname_for`)
    port_a: str = ""
    port_b: str = ""

    @property
    def label(self) -> str:
        return f"{self.a}:{self.if_a}--{self.b}:{self.if_b}"


@dataclass
class Layout:
    """Everything the lab needs to build itself: nodes, addresses, links, routes."""

    nodes: list[str]
    address: dict[str, str]
    links: list[LinkPlan]
    #: node -> list of (destination CIDR, next hops)
    routes: dict[str, list[tuple[str, list[NextHop]]]] = field(default_factory=dict)
    #: node -> neighbour -> interfaces (neighbour /32 routes)
    neighbours: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wcmp_groups_applied: int = 0
    #: where the link delays come from: ``"plan"`` (the plan's budgets model) or ``"default"``
    delay_source: str = "default"
    #: the latency model's parameters (``BudgetModel.as_dict()``; ``None``: fibre only)
    delay_model: dict[str, Any] | None = None


def node_address(i: int) -> str:
    if i >= LAB_MAX_NODES:
        raise LabError(f"a lab holds at most {LAB_MAX_NODES} nodes")
    return str(ipaddress.IPv4Address(LAB_BASE_ADDRESS) + i + 1)


def layout(fabric: Fabric, plan: Plan | None = None, *, plan_file: str | None = None,
           endpoint_addresses: str = "lab") -> Layout:
    """Derive the lab's layout from a Fabric and an optional Plan (its ``wcmp`` section gives the
    routes and failed links, its ``budgets`` section the latency model of the link delays).

    ``endpoint_addresses``: ``"lab"`` numbers every node from :data:`LAB_BASE_ADDRESS`; ``"fabric"``
    gives endpoints the address the P4 entries route (:func:`fabric.traffic.endpoint_ip`) and numbers
    the switches only (a P4 lab: its switches route the plan's endpoint prefixes)."""
    from fabric.wcmp.paths import Network

    nodes = list(fabric.nodes())
    address = {n: node_address(i) for i, n in enumerate(nodes)}
    if endpoint_addresses == "fabric":
        address = _fabric_addresses(fabric, nodes)
    elif endpoint_addresses != "lab":
        raise LabError(f"endpoint addressing must be 'lab' or 'fabric', got {endpoint_addresses!r}")
    used: dict[str, set[str]] = {n: set() for n in nodes}
    links: list[LinkPlan] = []
    port_if: dict[tuple[str, str], str] = {}
    wcmp = plan.section_data("wcmp") if plan is not None else None
    failed = _plan_failed_links(fabric, wcmp, plan_file)
    src = delay_source(plan, plan_file)
    for i, lk in enumerate(fabric.links()):
        if (lk.a, lk.b, lk.key) in failed:
            lk = replace(lk, up=False)
        ia = ifname_for(lk.port_a, used[lk.a], len(used[lk.a]) + 1)
        ib = ifname_for(lk.port_b, used[lk.b], len(used[lk.b]) + 1)
        port_if[(lk.a, lk.port_a)] = ia
        port_if[(lk.b, lk.port_b)] = ib
        delay, model = link_delay_us(lk.length_km, lk.kind, src, lk.a, lk.b)
        links.append(LinkPlan(i, lk.a, lk.b, lk.key, ia, ib, lk.capacity_gbps, delay, lk.up, model,
                              lk.port_a, lk.port_b))
    lay = Layout(nodes, address, links, delay_source=src.source, delay_model=src.as_dict())
    lay.neighbours = {n: {} for n in nodes}
    if failed:
        lay.notes.append(f"{len(failed)} link(s) down as the plan's wcmp section failed them")
    for lp in links:
        if lp.up:
            lay.neighbours[lp.a].setdefault(lp.b, []).append(lp.if_a)
            lay.neighbours[lp.b].setdefault(lp.a, []).append(lp.if_b)
    net = Network(fabric)
    if failed:
        net = net.without([lk for lk in fabric.links() if (lk.a, lk.b, lk.key) in failed])
    hops = _ecmp_hops(fabric, net, port_if, lay)
    if wcmp is not None:
        endpoint = {n: fabric.role(n) in ENDPOINT_ROLES for n in nodes}
        _apply_wcmp(fabric, wcmp, hops, port_if, lay, endpoint, plan_file)
    for n in nodes:
        lay.routes[n] = _compress(hops[n], address)
    return lay


def _fabric_addresses(fabric: Fabric, nodes: list[str]) -> dict[str, str]:
    """Endpoints at :func:`fabric.traffic.endpoint_ip`, switches numbered from :data:`LAB_BASE_ADDRESS`
    skipping those addresses; two endpoints on one address is a :class:`LabError`."""
    from fabric.traffic import endpoint_ip

    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for n in nodes:
        if fabric.role(n) in ENDPOINT_ROLES:
            a = str(ipaddress.IPv4Address(endpoint_ip(n)))
            if a in owner:
                raise LabError(f"endpoints {owner[a]!r} and {n!r} have the same address {a} "
                               "(fabric.traffic.endpoint_ip); rename one")
            out[n], owner[a] = a, n
    i = 0
    for n in nodes:
        if n not in out:
            while node_address(i) in owner:
                i += 1
            out[n] = node_address(i)
            owner[out[n]] = n
            i += 1
    return out


def _ecmp_hops(fabric: Fabric, net: Network, port_if: dict[tuple[str, str], str],
               lay: Layout) -> dict[str, dict[str, list[NextHop]]]:
    """ECMP next hops per (node, destination node): :func:`fabric.wcmp.ecmp_groups` (the planner's
    own candidate DAGs, weight 1 per member link) at switches; at endpoints (never transit) the
    planner's source successors. A destination endpoint is matched by its destination key (the
    leaf of a single-homed endpoint); neighbours are reached by their scope-link /32 instead."""
    from fabric.wcmp import ecmp_groups

    key = {d: net.dst_key(d) if net.is_endpoint[d] else d for d in lay.nodes}
    groups = ecmp_groups(fabric, list(dict.fromkeys(key.values())), net=net)
    by_key: dict[tuple[str, str], list[NextHop]] = {}
    for g in groups:
        sw = g["switch"]
        by_key[(sw, g["dst"])] = [(port_if[(sw, h["port"])], h["node"], h["weight"]) for h in g["next_hops"]]
    for e in lay.nodes:
        if net.is_endpoint[e]:
            for k in dict.fromkeys(key.values()):
                nh = [(port_if[(e, m.port)], v, 1) for v in net.successors(e, k) for m in net.members(e, v)]
                if nh:
                    by_key[(e, k)] = nh
    hops: dict[str, dict[str, list[NextHop]]] = {n: {} for n in lay.nodes}
    for n in lay.nodes:
        for d in lay.nodes:
            if d == n or d in lay.neighbours[n]:
                continue
            group = by_key.get((n, key[d]))
            if group:
                hops[n][d] = group
    return hops


def _plan_failed_links(fabric: Fabric, wcmp: dict[str, Any] | None, plan_file: str | None) -> set[tuple[str, str, int]]:
    """Links the plan was computed without (``wcmp.failed_links``): the lab brings them up down."""
    names = (wcmp.get("failed_links") or []) if wcmp is not None else []
    out = set()
    for i, name in enumerate(names):
        try:
            lk = fabric.find_link(str(name))
        except FabricError as exc:
            raise ConfigError(exc.reason, file=plan_file, where=f"wcmp.failed_links[{i}]") from None
        out.add((lk.a, lk.b, lk.key))
    return out


def _apply_wcmp(fabric: Fabric, data: dict[str, Any], hops: dict[str, dict[str, list[NextHop]]],
                port_if: dict[tuple[str, str], str], lay: Layout, endpoint: dict[str, bool],
                plan_file: str | None) -> None:
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise ConfigError("wcmp section has no list 'groups'", file=plan_file, where="wcmp.groups")
    # leaf groups first, endpoint groups after so they win
    order = sorted(range(len(groups)), key=lambda i: bool(endpoint.get(str(groups[i].get("dst")), False)))
    for gi in order:
        g = groups[gi]
        where = f"wcmp.groups[{gi}]"
        sw, dst = g.get("switch"), g.get("dst")
        if sw not in hops or dst not in hops:
            raise ConfigError(f"switch {sw!r} or dst {dst!r} is not a node of the fabric", file=plan_file, where=where)
        nh: list[NextHop] = []
        for j, h in enumerate(g.get("next_hops") or []):
            node, port, w = h.get("node"), h.get("port"), h.get("weight")
            if not isinstance(w, int) or w < 1:
                raise ConfigError(f"weight must be a positive integer, got {w!r}", file=plan_file,
                                  where=f"{where}.next_hops[{j}]")
            ifn = port_if.get((sw, port))
            if ifn is None or ifn not in lay.neighbours[sw].get(node, []):
                raise ConfigError(f"next hop {node!r} port {port!r} is not an up link of {sw!r}",
                                  file=plan_file, where=f"{where}.next_hops[{j}]")
            nh.append((ifn, node, w))
        if not nh:
            continue
        nh = _fit_weights(nh, lay, where)
        targets = [dst] + [e for e in fabric.graph.neighbors(dst)
                           if endpoint[e] and set(fabric.graph.neighbors(e)) == {dst}]
        for t in targets:
            # a neighbour is reached by its own scope-link /32 (over every parallel link); a plan
            # group for it would install the same prefix twice
            if t != sw and t not in lay.neighbours[sw]:
                hops[sw][t] = nh
        lay.wcmp_groups_applied += 1


def _fit_weights(nh: list[NextHop], lay: Layout, where: str) -> list[NextHop]:
    """Scale weights into the kernel's 1..256 range (noted when it changes them)."""
    top = max(w for _, _, w in nh)
    if top <= KERNEL_MAX_NEXTHOP_WEIGHT:
        return nh
    f = KERNEL_MAX_NEXTHOP_WEIGHT / top
    out = [(i, m, max(1, round(w * f))) for i, m, w in nh]
    lay.notes.append(f"{where}: weights scaled by {f:.4f} to fit the kernel's 256 limit")
    return out


def _compress(per_dst: dict[str, list[NextHop]], address: dict[str, str]) -> list[tuple[str, list[NextHop]]]:
    """Routes for one node: the most common next-hop set as default route, the rest as /32s."""
    if not per_dst:
        return []
    keyed = {d: tuple(sorted(nh)) for d, nh in per_dst.items()}
    common, _ = Counter(keyed.values()).most_common(1)[0]
    out: list[tuple[str, list[NextHop]]] = [("0.0.0.0/0", list(common))]
    for d, k in keyed.items():
        if k != common:
            out.append((f"{address[d]}/32", list(k)))
    return out


def resolve_routes(lay: Layout, node: str) -> dict[str, list[NextHop]]:
    """Next hops of ``node`` per destination node after compression (what the kernel will use)."""
    table = dict(lay.routes[node])
    default = table.get("0.0.0.0/0", [])
    out = {}
    for d in lay.nodes:
        if d == node:
            continue
        if d in lay.neighbours[node]:
            out[d] = [(i, d, 1) for i in lay.neighbours[node][d]]
        else:
            out[d] = table.get(f"{lay.address[d]}/32", default)
    return out
