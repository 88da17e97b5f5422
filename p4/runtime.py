"""Plan -> P4Runtime: one switch's entries derived from the typed Plan, and the ``WriteRequest``\\ s that
install them, in dependency order.

Three steps, each a pure function (no I/O but :func:`write_entries`):

1. :func:`switch_entries` derives a :class:`p4.entries.SwitchEntries` from the Plan's ``wcmp`` (and
   ``cc``) sections on the fabric;
2. :func:`canonical` turns it into canonical entries: a dict from an entity's key (table, match,
   priority, or register and index) to its value (action and parameters, a one-shot action set, or
   a register value), with integers, not bytes: what :mod:`p4.diff` compares;
3. :func:`to_write_requests` writes them as ``p4.v1.WriteRequest`` protobufs (finsy's protos), one per
   dependency level: (a) next hops, port admission, DSCP -> traffic class, ACL and the ECN registers,
   (b) WCMP groups, (c) routes; a switch never holds a route to a group or a next hop it does not
   have yet.

Derivation (every rule here is an *assumption* a deployment may change, stated once):

- **Port numbers**: ``ethN`` is port ``N``; any other name gets the lowest number not used by an
  ``ethN`` port of the node, in natural name order. A number at or above the CPU port
  (:data:`p4.programs.CPU_PORT`) is refused.
- **Next hops**: one per (neighbour, local port), with id ``port + 1`` (0 means "none" in the program):
  stable across plans, so a failed link removes one next hop and renumbers nothing. MACs are derived
  from ``(node, port)`` (:func:`port_mac`): locally administered unicast (first octet ``0x02``) plus 40
  bits of BLAKE2b of ``node:port``; the source MAC is the switch's port, the destination MAC the
  neighbour's port on that link.
- **WCMP groups**: a plan group's members with weight > 0 (weight 0 is never written). Groups with the
  same ``(members, weights)`` share one group id, as switch SDKs do; the id is a CRC-32 of the members
  in ``[1, 65535]``, probed linearly on a collision (in sorted member order), so an unchanged group
  keeps its id when others change. A group with *one* member is not written: its routes point
  straight at the next hop (the weight of a lone member changes nothing). A group with more members
  than the selector's ``max_group_size`` or a member weight over its ``max_member_weight`` is refused,
  naming the switch and the group's destination.
- **Routes**: for each group's ``dst`` (a leaf: the endpoints single-homed to it; a multi-homed
  endpoint: itself, see :mod:`fabric.wcmp.paths`) the ``/32`` of each endpoint
  (:func:`fabric.traffic.endpoint_ip`, IPv4 only) to the group; endpoints attached to the switch
  itself to the next hop of their lowest-numbered up link. Links listed in the plan's
  ``wcmp.failed_links`` are down.
- **Port admission**: every port of the switch is admitted (priority :data:`ADMIT_PRIORITY` where
  the table has a ternary VLAN key; VLAN left as don't-care).
- **DSCP -> traffic class** (when the plan has ``cc``): the class-selector rule, priority =
  ``DSCP >> 3`` (RFC 2474/4594 class selectors; NVIDIA Cumulus's default "trust L3" map), written
  for the DSCPs of the lossless priorities only: priority 3 gets DSCP 24-31 (RoCEv2's usual DSCP 26,
  AF31, included), priority 4 DSCP 32-39; every other DSCP misses and keeps class 0.
- **ECN** (when the plan has ``cc``): the egress registers ``ecn_kmin``/``ecn_kmax``/``ecn_slope`` at
  index = port number, from the ``cc`` port group listing ``switch:port``. The program compares them
  with ``enq_qdepth``, which counts *packets* in BMv2, so byte thresholds become packets of the cc
  section's ``port_mtu_bytes``, rounded up (``kmax`` at least 1: 0 disables marking in the program);
  ``slope = round(pmax * 2^16 / (kmax - kmin))`` (0 when ``kmax == kmin``: marking is then a step).
- **ACL**: punt LLDP (EtherType 0x88cc) to the CPU, priority :data:`ACL_LLDP_PRIORITY`.

>>> from fabric.builders import clos
>>> port_numbers(clos(2, 2, 2, 2), "leaf1")["eth3"]
3
>>> hex(port_mac("leaf1", "eth1") >> 40)
'0x2'
>>> encode(0), encode(0x88CC), encode(1 << 16)
(b'\\x00', b'\\x88\\xcc', b'\\x01\\x00\\x00')
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import socket
import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fabric.errors import ConfigError
from p4.entries import AclEntry, EcnThresholds, Nexthop, Route, SwitchEntries, WcmpGroup
from p4.programs import CPU_PORT

# The canonical form and the wire encoders live in p4.wire; re-exported here for callers of p4.runtime.
from p4.wire import (
    ADMIT_PRIORITY,
    LEVELS,
    T_ACL,
    Canonical,
    Encoder,
    JsonEncoder,
    canonical,
    encode,
    entries_text,
    level_of,
    parse_prefix,
    read_entries,
    requests_json,
    to_write_requests,
    write_entries,
)

if TYPE_CHECKING:

    from fabric.plan import Plan
    from fabric.plan.sections import EcnParams, WcmpSection
    from fabric.topology import Fabric
    from p4.ir import ActionSelector, Program
    from p4.programs import ProgramOptions

#: Priority of the LLDP punt entry in the ACL (room above and below for operator entries).
ACL_LLDP_PRIORITY = 100
LLDP_ETHERTYPE = 0x88CC
#: Scale of the ECN slope register: the program draws 16 random bits (``p4.programs.ECN_RANDOM_BITS``).
ECN_SLOPE_SCALE = 1 << 16
#: Group ids are 16-bit (``p4.programs.ID_BITS``); 0 means "none".
MAX_GROUP_ID = (1 << 16) - 1

_ETH = re.compile(r"^eth(\d+)$")
_NAT = re.compile(r"(\d+)")


# ============================================================================ small helpers
def port_mac(node: str, port: str) -> int:
    """The MAC of ``node``'s ``port``: ``02:xx:xx:xx:xx:xx``, 40 bits of BLAKE2b of ``node:port``
    (locally administered, unicast; the same name always gives the same address)."""
    h = int.from_bytes(hashlib.blake2b(f"{node}:{port}".encode(), digest_size=5).digest(), "big")
    return (0x02 << 40) | h


def _natkey(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in _NAT.split(name))


def port_numbers(fabric: Fabric, node: str) -> dict[str, int]:
    """Port name -> P4 port number of every port ``node`` has in ``fabric`` (rule in the module
    docstring); a number at or above the CPU port is a :class:`ConfigError`."""
    names = {lk.port_a if lk.a == node else lk.port_b
             for v in fabric.graph.neighbors(node) for lk in fabric.links_between(node, v)}
    return _number_ports(node, names)


def _number_ports(node: str, names: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    others = []
    for n in names:
        m = _ETH.match(n)
        if m:
            out[n] = int(m.group(1))
        else:
            others.append(n)
    used = set(out.values())
    nxt = 1
    for n in sorted(others, key=_natkey):
        while nxt in used:
            nxt += 1
        out[n] = nxt
        used.add(nxt)
    for n, num in out.items():
        if num >= CPU_PORT:
            raise ConfigError(f"port {n!r} is P4 port {num}, not below the CPU port {CPU_PORT} "
                              "(p4.programs.CPU_PORT)", where=f"switch {node}")
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


def ecn_thresholds(port: int, params: EcnParams, mtu_bytes: int) -> EcnThresholds:
    """Byte thresholds -> packets of ``mtu_bytes`` (ceil) and the slope register (module docstring).

    >>> from fabric.plan.sections import EcnParams
    >>> ecn_thresholds(7, EcnParams(600_000, 6_000_000, 1.0), 9100)
    EcnThresholds(port=7, kmin=66, kmax=660, slope=110)
    """
    kmin = math.ceil(params.kmin_bytes / mtu_bytes)
    kmax = max(1, math.ceil(params.kmax_bytes / mtu_bytes))
    slope = round(params.pmax * ECN_SLOPE_SCALE / (kmax - kmin)) if kmax > kmin else 0
    return EcnThresholds(port, kmin, kmax, min(slope, (1 << 32) - 1))


def dscp_map(lossless_priorities: Sequence[int]) -> dict[int, int]:
    """DSCP -> traffic class for the lossless priorities (class selectors: priority = DSCP >> 3).

    >>> dscp_map([3])[26]
    3
    """
    return {d: p for p in sorted(lossless_priorities) for d in range(8 * p, 8 * p + 8)}


def group_ids(member_sets: Iterable[tuple[tuple[int, int], ...]]) -> dict[tuple[tuple[int, int], ...], int]:
    """A stable id in ``[1, 65535]`` for each distinct member tuple (CRC-32, linear probing in sorted
    order)."""
    out: dict[tuple[tuple[int, int], ...], int] = {}
    taken: set[int] = set()
    for ms in sorted(set(member_sets)):
        if len(taken) >= MAX_GROUP_ID:
            raise ConfigError(f"more than {MAX_GROUP_ID} distinct WCMP groups")
        h = zlib.crc32(",".join(f"{n}:{w}" for n, w in ms).encode()) % MAX_GROUP_ID + 1
        while h in taken:
            h = h % MAX_GROUP_ID + 1
        taken.add(h)
        out[ms] = h
    return out


def program_options(plan: Plan, *, hash_qp: bool = False) -> ProgramOptions:
    """Program options carrying the plan's switch limits (``wcmp.limits`` -> the WCMP selector's
    ``max_group_size``/``max_member_weight``, its size and the group table's size)."""
    from p4.programs import ProgramOptions, with_limits

    if plan.wcmp is None:
        raise ConfigError("the plan has no 'wcmp' section: run 'fabricctl plan wcmp' first", where="sections.wcmp")
    lim = plan.wcmp.limits
    return with_limits(ProgramOptions(hash_qp=hash_qp), max_members=lim.max_members,
                       max_group_weight=lim.max_group_weight, table_size=lim.table_size, max_groups=lim.max_groups)


# ============================================================================ the fabric side
class FabricView:
    """What :func:`switch_entries` reads from a fabric and a plan, computed per switch when first asked
    (build one to derive many switches: the benchmark derives 288; nothing is copied).

    A link is up when the fabric says so and the plan's ``wcmp.failed_links`` do not name it. An
    endpoint's destination key is the rule of :meth:`fabric.wcmp.paths.Network.dst_key` (its only
    switch over up links, else itself), evaluated locally: the endpoints behind a leaf are its
    up neighbours whose only up switch neighbour it is.
    """

    def __init__(self, fabric: Fabric, plan: Plan) -> None:
        from fabric.topology import ENDPOINT_ROLES

        if plan.wcmp is None:
            raise ConfigError("the plan has no 'wcmp' section: run 'fabricctl plan wcmp' first", where="sections.wcmp")
        self.fabric = fabric
        self.plan = plan
        self.wcmp: WcmpSection = plan.wcmp
        self.down = {(lk.a, lk.b, lk.key) for lk in map(fabric.find_link, self.wcmp.failed_links)}
        self.groups = self.wcmp.by_switch()
        self._roles = fabric.graph.nodes
        self._endpoint_roles = ENDPOINT_ROLES
        self._links: dict[str, dict[str, tuple[str, str, bool]]] = {}
        self._switch_nbrs: dict[str, set[str]] = {}
        self._ips: dict[str, int] = {}
        self._is_ep: dict[str, bool] = {}
        self._behind: dict[str, list[str]] = {}
        self._prefixes: dict[int, str] = {}
        cc = plan.cc
        self.ecn: dict[str, EcnParams] = {}
        self.dscp: dict[int, int] = {}
        self.mtu = 0
        if cc is not None:
            self.mtu = cc.port_mtu_bytes
            self.dscp = dscp_map(cc.lossless_priorities)
            for g in cc.port_groups:
                for p in g.ports:
                    self.ecn.setdefault(p, g.ecn)

    def derive(self, plan: Plan) -> FabricView:
        """The view of the same fabric under another plan, keeping what the change cannot touch: the
        endpoint addresses, and the links and neighbours of every node away from the links whose
        up/down state differs between the plans (the controller's warm path after a failure)."""
        new = FabricView(self.fabric, plan)
        new._ips, new._prefixes, new._is_ep = self._ips, self._prefixes, self._is_ep
        flipped = {n for a, b, _k in self.down ^ new.down for n in (a, b)}
        # endpoints_of(d) reads d's up links and each endpoint neighbour's switch neighbours: it changes
        # for a node with a flipped link and for the switches next to an endpoint with one (a leaf-spine
        # failure keeps every other leaf's endpoints; a GPU-leaf failure re-derives the GPU's switches)
        near = set(flipped)
        for n in flipped:
            if self.is_endpoint(n):
                near.update(self.fabric.graph.adj[n])
        new._links = {n: x for n, x in self._links.items() if n not in flipped}
        new._switch_nbrs = {n: x for n, x in self._switch_nbrs.items() if n not in flipped}
        new._behind = {n: x for n, x in self._behind.items() if n not in near}
        return new

    def ip(self, endpoint: str) -> int:
        """The endpoint's IPv4 address (:func:`fabric.traffic.endpoint_ip`), cached."""
        a = self._ips.get(endpoint)
        if a is None:
            from fabric.traffic import endpoint_ip

            a = self._ips[endpoint] = endpoint_ip(endpoint)
        return a

    def host_prefix(self, ip: int) -> str:
        """``a.b.c.d/32``, cached."""
        p = self._prefixes.get(ip)
        if p is None:
            p = self._prefixes[ip] = f"{socket.inet_ntoa(ip.to_bytes(4, 'big'))}/32"
        return p

    def is_endpoint(self, node: str) -> bool:
        e = self._is_ep.get(node)
        if e is None:
            e = self._is_ep[node] = self._roles[node]["role"] in self._endpoint_roles
        return e

    def links(self, node: str) -> dict[str, tuple[str, str, bool]]:
        """``node``'s port -> (neighbour, neighbour's port, up)."""
        out = self._links.get(node)
        if out is None:
            out = {}
            down = self.down
            for nb, keyed in self.fabric.graph.adj[node].items():
                for key, d in keyed.items():
                    up = d["up"] and (d["a"], d["b"], key) not in down
                    if d["a"] == node:
                        out[d["port_a"]] = (nb, d["port_b"], up)
                    else:
                        out[d["port_b"]] = (nb, d["port_a"], up)
            self._links[node] = out
        return out

    def switch_neighbours(self, node: str) -> set[str]:
        """Switches ``node`` has an up link to."""
        out = self._switch_nbrs.get(node)
        if out is None:
            out = self._switch_nbrs[node] = {nb for nb, _p, up in self.links(node).values()
                                             if up and not self.is_endpoint(nb)}
        return out

    def endpoints_of(self, dst: str) -> list[str]:
        """Endpoints whose destination key is ``dst`` (a switch: those single-homed to it; an endpoint:
        itself unless it is single-homed)."""
        out = self._behind.get(dst)
        if out is None:
            if self.is_endpoint(dst):
                out = [] if len(self.switch_neighbours(dst)) == 1 else [dst]
            else:
                eps = {nb for nb, _p, up in self.links(dst).values() if up and self.is_endpoint(nb)}
                out = sorted(e for e in eps if self.switch_neighbours(e) == {dst})
            self._behind[dst] = out
        return out

    def switch(self, name: str) -> str:
        """The switch's role, or a ConfigError for a name the fabric lacks or a non-switch."""
        from fabric.topology import SWITCH_ROLES

        if name not in self.fabric:
            raise ConfigError(f"no switch {name!r} in fabric {self.fabric.name!r}", where="--switch")
        role = self.fabric.role(name)
        if role not in SWITCH_ROLES:
            raise ConfigError(f"{name!r} is a {role}, not a switch ({', '.join(sorted(SWITCH_ROLES))})",
                              where="--switch")
        return role


def _selector(program: Program) -> ActionSelector:
    sels = program.selectors()
    if not sels:
        raise ConfigError(f"program {program.name} has no WCMP action selector")
    return sels[0][1]


def switch_entries(fabric: Fabric, plan: Plan, switch: str, *, program: Program,
                   view: FabricView | None = None) -> SwitchEntries:
    """Everything the control plane writes into ``switch`` for ``plan`` (rules in the module docstring).

    ``view`` reuses a :class:`FabricView` of the same fabric and plan (derive many switches with one).
    Raises :class:`ConfigError` for a plan without ``wcmp``, an unknown switch, a program of another
    role, a group over the switch limits, or a group whose next hop is not a link of the switch.
    """
    v = view if view is not None else FabricView(fabric, plan)
    role = v.switch(switch)
    if program.role != role:
        raise ConfigError(f"switch {switch!r} is a {role} but the program is for role {program.role!r}")
    links = v.links(switch)
    ports = _number_ports(switch, links)
    sel = _selector(program)
    nexthops: dict[str, Nexthop] = {}

    def nexthop(port: str) -> int:
        nh = nexthops.get(port)
        if nh is None:
            nb, nb_port, _up = links[port]
            nh = nexthops[port] = Nexthop(ports[port] + 1, nb, port, ports[port], port_mac(switch, port),
                                          port_mac(nb, nb_port))
        return nh.id

    # groups: members as (nexthop id, weight), refused over the selector's limits
    targets: dict[str, tuple[tuple[int, int], ...]] = {}
    for dst, g in sorted(v.groups.get(switch, {}).items()):
        where = f"switch {switch}, WCMP group to {dst}"
        members = [h for h in g.next_hops if h.weight > 0]
        if not members:
            continue
        if len(members) > sel.max_group_size:
            raise ConfigError(f"{len(members)} members exceed the switch's max_group_size {sel.max_group_size}",
                              where=where)
        for h in members:
            if h.weight > sel.max_member_weight:
                raise ConfigError(f"member {h.node}:{h.port} has weight {h.weight}, over the switch's maximum "
                                  f"member weight {sel.max_member_weight}", where=where)
            lk = links.get(h.port)
            if lk is None or lk[0] != h.node:
                raise ConfigError(f"next hop {h.node} via port {h.port!r}: the switch has no such link "
                                  "(a plan for another fabric?)", where=where)
        targets[dst] = tuple(sorted((nexthop(h.port), h.weight) for h in members))
    multi = {ms for ms in targets.values() if len(ms) > 1}
    gid = group_ids(multi)

    # routes: the endpoints behind each group's destination, then the switch's own endpoints
    routes: dict[int, tuple[int, int, str]] = {}   # ip -> (nexthop id, group id, endpoint)

    def add_route(ip: int, nh: int, grp: int, endpoint: str) -> None:
        old = routes.get(ip)
        if old is not None and old[2] != endpoint:
            raise ConfigError(f"endpoints {old[2]!r} and {endpoint!r} have the same address "
                              f"{ipaddress.IPv4Address(ip)} (fabric.traffic.endpoint_ip)", where=f"switch {switch}")
        routes[ip] = (nh, grp, endpoint)

    for dst, ms in targets.items():
        nh, grp = (ms[0][0], 0) if len(ms) == 1 else (0, gid[ms])
        for e in v.endpoints_of(dst):
            add_route(v.ip(e), nh, grp, e)
    attached: dict[str, str] = {}
    for port in sorted(links, key=lambda p: ports[p]):
        nb, _nb_port, up = links[port]
        if up and v.is_endpoint(nb):
            attached.setdefault(nb, port)
    for e, port in attached.items():
        ip = v.ip(e)
        if ip not in routes:
            add_route(ip, nexthop(port), 0, e)

    ecn: tuple[EcnThresholds, ...] = ()
    if v.mtu and program.egress is not None:
        ecn = tuple(ecn_thresholds(num, v.ecn[f"{switch}:{p}"], v.mtu) for p, num in ports.items()
                    if f"{switch}:{p}" in v.ecn)
    acl: tuple[AclEntry, ...] = ()
    if any(t.name == T_ACL for _c, t in program.tables()):
        acl = (AclEntry(ACL_LLDP_PRIORITY, (("ether_type", LLDP_ETHERTYPE, 0xFFFF),), "punt_to_cpu"),)
    notes = ("groups of one member are routed straight to the next hop",)
    return SwitchEntries(
        switch=switch, role=role, ports=ports, admit_ports=tuple(ports.values()), dscp_to_tc=dict(v.dscp),
        routes=tuple(Route(v.host_prefix(ip), nh, grp) for ip, (nh, grp, _e) in sorted(routes.items())),
        nexthops=tuple(sorted(nexthops.values(), key=lambda n: n.id)),
        groups=tuple(WcmpGroup(i, ms) for ms, i in sorted(gid.items(), key=lambda kv: kv[1])),
        ecn=ecn, acl=acl, notes=notes)


def all_switch_entries(fabric: Fabric, plan: Plan, programs: dict[str, Program], *,
                       switches: Iterable[str] | None = None) -> dict[str, SwitchEntries]:
    """:func:`switch_entries` of every switch whose role has a program in ``programs`` (or of
    ``switches``), sharing one :class:`FabricView`."""
    view = FabricView(fabric, plan)
    names = list(switches) if switches is not None else [n for n in fabric.nodes() if fabric.role(n) in programs]
    out = {}
    for s in names:
        role = view.switch(s)
        if role not in programs:
            raise ConfigError(f"no program for role {role!r} of switch {s!r}")
        out[s] = switch_entries(fabric, plan, s, program=programs[role], view=view)
    return out



__all__ = ["ADMIT_PRIORITY", "LEVELS", "Canonical", "Encoder", "FabricView", "JsonEncoder", "all_switch_entries", "canonical",
           "dscp_map", "ecn_thresholds", "encode", "entries_text", "group_ids", "level_of", "parse_prefix",
           "port_mac", "port_numbers", "program_options", "read_entries", "requests_json", "switch_entries",
           "to_write_requests", "write_entries"]
