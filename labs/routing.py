"""Pure lab layout: names, addresses and routes derived from a Fabric and a Plan (no kernel access).

Addressing is "unnumbered" like BGP-unnumbered fabrics: every node has one /32 (on ``lo``), every
link is a veth pair without addresses, a neighbour is reached by a ``/32 scope link`` route on the
link's interface, and everything further away by routes ``via <neighbour> onlink``. Endpoints
(gpu/nic/host) never carry transit traffic.

Routes: for each node and destination node, the next hops are the links towards neighbours one hop
closer to the destination (ECMP over shortest paths); a Plan's ``wcmp`` groups replace that with the
planned next hops and integer weights. Per node, the most common next-hop set becomes the default
route so a 100-node lab does not need 10,000 routes.

``wcmp`` shape (see the brief): ``{"groups": [{"switch", "dst", "next_hops": [{"node", "port",
"weight"}], "delta"}], ...}``; ``dst`` is a leaf/ToR or endpoint node. A group for a leaf applies to
the leaf itself and to every endpoint attached only to that leaf; a group for an endpoint wins over
its leaf's group.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any

from fabric.errors import ConfigError, FabricError, LabError
from fabric.topology import ENDPOINT_ROLES, Fabric
from labs.constants import IFNAME_MAX, KERNEL_MAX_NEXTHOP_WEIGHT, LAB_BASE_ADDRESS, LAB_MAX_NODES

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


def node_address(i: int) -> str:
    if i >= LAB_MAX_NODES:
        raise LabError(f"a lab holds at most {LAB_MAX_NODES} nodes")
    return str(ipaddress.IPv4Address(LAB_BASE_ADDRESS) + i + 1)


def link_delay_us(fabric: Fabric, a: str, b: str, length_km: float, kind: str) -> tuple[float, str]:
    """One-way delay of a link from the latency model, and which model gave it.

    WAN links (kind ``wdm``) use the optical budget model when :mod:`optical.budget` is installed
    (fibre plus transponders, FEC, amplifiers, regeneration, serialisation of one lightpath over the
    link); every other link, and WAN links without it, use fibre propagation over ``length_km`` at
    4.897 µs/km (fabric.constants.FIBRE_US_PER_KM)."""
    from fabric.constants import FIBRE_US_PER_KM

    fibre = float(length_km) * FIBRE_US_PER_KM
    if kind == "wdm" and length_km > 0:
        try:
            from optical.budget import BudgetModel, run_latency_us
        except ImportError:
            return fibre, "fibre"
        us, _regens = run_latency_us([a, b], [float(length_km)], BudgetModel())
        return float(us), "optical.budget"
    return fibre, "fibre"


def layout(fabric: Fabric, plan: Any = None, *, plan_file: str | None = None) -> Layout:
    """Derive the lab's layout from a Fabric and an optional Plan (only its ``wcmp`` section is used)."""
    nodes = list(fabric.nodes())
    address = {n: node_address(i) for i, n in enumerate(nodes)}
    used: dict[str, set[str]] = {n: set() for n in nodes}
    links: list[LinkPlan] = []
    port_if: dict[tuple[str, str], str] = {}
    failed = _plan_failed_links(fabric, plan, plan_file)
    for i, lk in enumerate(fabric.links()):
        if (lk.a, lk.b, lk.key) in failed:
            lk = replace(lk, up=False)
        ia = ifname_for(lk.port_a, used[lk.a], len(used[lk.a]) + 1)
        ib = ifname_for(lk.port_b, used[lk.b], len(used[lk.b]) + 1)
        port_if[(lk.a, lk.port_a)] = ia
        port_if[(lk.b, lk.port_b)] = ib
        delay, model = link_delay_us(fabric, lk.a, lk.b, lk.length_km, lk.kind)
        links.append(LinkPlan(i, lk.a, lk.b, lk.key, ia, ib, lk.capacity_gbps, delay, lk.up, model))
    lay = Layout(nodes, address, links)
    if failed:
        lay.notes.append(f"{len(failed)} link(s) down as the plan's wcmp section failed them")
    # adjacency over up links: node -> list of (neighbour, my ifname)
    adj: dict[str, list[tuple[str, str]]] = {n: [] for n in nodes}
    for lp in links:
        if lp.up:
            adj[lp.a].append((lp.b, lp.if_a))
            adj[lp.b].append((lp.a, lp.if_b))
    for n in nodes:
        nb: dict[str, list[str]] = {}
        for m, ifn in adj[n]:
            nb.setdefault(m, []).append(ifn)
        lay.neighbours[n] = nb
    endpoint = {n: fabric.role(n) in ENDPOINT_ROLES for n in nodes}
    # ECMP next hops per (node, dst) over shortest paths; endpoints are never transit.
    hops: dict[str, dict[str, list[NextHop]]] = {n: {} for n in nodes}
    for d in nodes:
        dist = {d: 0}
        q = deque([d])
        while q:
            x = q.popleft()
            if x != d and endpoint[x]:
                continue
            for y, _ in adj[x]:
                if y not in dist:
                    dist[y] = dist[x] + 1
                    q.append(y)
        for n, dn in dist.items():
            if n == d or n in lay.neighbours[d] and dn == 1:
                continue  # neighbours reach d by its /32 scope-link route
            nh = [(ifn, m, 1) for m, ifn in adj[n] if dist.get(m, math.inf) == dn - 1]
            if nh:
                hops[n][d] = nh
    if plan is not None and getattr(plan, "wcmp", None) is not None:
        _apply_wcmp(fabric, plan.wcmp.data, hops, port_if, lay, endpoint, plan_file)
    for n in nodes:
        lay.routes[n] = _compress(hops[n], address)
    return lay


def _plan_failed_links(fabric: Fabric, plan: Any, plan_file: str | None) -> set[tuple[str, str, int]]:
    """Links the plan was computed without (``wcmp.failed_links``): the lab brings them up down."""
    sec = getattr(plan, "wcmp", None) if plan is not None else None
    names = (sec.data.get("failed_links") or []) if sec is not None else []
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
