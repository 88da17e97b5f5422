"""The fabric's switch programs as IR (:mod:`p4.ir`): one v1model program per switch role, and a PNA
variant for a DPU/NIC.

Pipeline (v1model), in the order a packet meets it:

- **parser**: ``packet_out`` when the packet comes from the CPU port; Ethernet, one 802.1Q tag, IPv4
  (no options: a header with options is parsed as far as its fixed part) or IPv6; TCP or UDP (not for
  non-first IPv4 fragments); the RoCEv2 BTH behind UDP 4791; VXLAN behind UDP 4789 and the inner
  Ethernet/IPv4/IPv6/UDP/TCP.
- **ingress**: a packet from the controller goes out of the port it names; per-port receive counter;
  port (and VLAN) admission; the flow key (addresses, protocol, L4 ports and, with ``hash_qp``, the BTH
  destination QP) copied into metadata for the WCMP hash; DSCP -> traffic class (the ``cc`` section's
  lossless priorities); IPv4/IPv6 LPM to a next-hop id or a WCMP group id; ACL (ternary: drop, punt
  to the CPU with a ``packet_in`` header, or set the next hop; a direct counter per entry); the WCMP
  group (an action selector whose one-shot action sets carry the plan's integer weights) picks the
  next hop; the next hop sets egress port and MACs; TTL / hop limit is decremented (a packet whose
  TTL would reach 0 is dropped).
- **egress**: per-port transmit counter; ECN marking of ECT packets by queue depth, RED-like: no mark
  below ``kmin``, probability ``(depth - kmin) * slope / 2^16`` between, always from ``kmax``; the
  thresholds are registers indexed by egress port, written at run time from the ``cc`` section.
- **deparser**: the IPv4 checksum is recomputed; headers are emitted in parse order.

PFC, buffer carving and DCQCN are traffic-manager and NIC functions outside a P4 pipeline: they stay
in the Plan's ``cc`` section.

Queue depth (``standard_metadata.enq_qdepth``) counts packets in BMv2, so byte thresholds are turned
into packets of the port MTU by the runtime (:mod:`p4.runtime`), an *assumption* stated there.

>>> prog = build_program("leaf")
>>> [t.name for _c, t in prog.tables()][:4]
['port_admit', 'dscp_to_tc', 'routing_v4', 'routing_v6']
>>> prog.ingress.fq("wcmp_group_table")
'FabricIngress.wcmp_group_table'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fabric.wcmp.reduce import (
    DEFAULT_MAX_GROUP_WEIGHT,
    DEFAULT_MAX_GROUPS,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_TABLE_SIZE,
)
from p4.ir import (
    Action,
    ActionSelector,
    Apply,
    Assign,
    Bin,
    Call,
    Case,
    Cast,
    Checksum,
    Const,
    Control,
    Counter,
    DirectCounter,
    Do,
    Exit,
    HeaderInstance,
    HeaderType,
    If,
    Key,
    Member,
    Param,
    ParserState,
    Program,
    Ref,
    Register,
    Stmt,
    StructType,
    Table,
)

#: Switch roles that get a v1model program, and the DPU/NIC role that gets the PNA variant.
SWITCH_ROLES = ("leaf", "spine", "superspine", "dci")
NIC_ROLE = "nic"
ROLES = (*SWITCH_ROLES, NIC_ROLE)

#: v1model port numbers are 9 bits; the CPU port is a target's choice (an *assumption* a deployment may
#: change): 510, the highest port below BMv2's drop port 511 (run BMv2 with ``--cpu-port 510``), so that
#: switches of up to 510 ports fit (the 8,192-GPU rail fabric's spines have 256; p4.runtime refuses a
#: port numbered at or above it).
PORT_BITS = 9
CPU_PORT = 510
#: Ports counted per switch (index = port number).
MAX_PORTS = 512
#: Ids of next hops and WCMP groups (0 = none).
ID_BITS = 16
#: Width of the random draw that decides a RED-like ECN mark; slope is scaled by 2^16.
ECN_RANDOM_BITS = 16
#: Route table sizes per role (entries). *Assumption*: a Tomahawk-class LPM budget; DCI routers carry
#: the routes of every remote site.
ROUTES_V4 = {"leaf": 16384, "spine": 16384, "superspine": 16384, "dci": 65536, NIC_ROLE: 4096}
ROUTES_V6 = {"leaf": 8192, "spine": 8192, "superspine": 8192, "dci": 32768, NIC_ROLE: 2048}
NEXTHOPS = 4096
ACL_ENTRIES = 1024
#: Hash of the WCMP selector: CRC-32 over the flow key, as fabric.hashing models the switches.
SELECTOR_HASH = "crc32"
SELECTOR_OUTPUT_BITS = 16

ETH_VLAN, ETH_IPV4, ETH_IPV6 = 0x8100, 0x0800, 0x86DD
PROTO_TCP, PROTO_UDP = 6, 17
UDP_ROCEV2, UDP_VXLAN = 4791, 4789

#: IPv4 header fields in checksum order (RFC 791): every field but the checksum.
IPV4_CHECKSUM_FIELDS = ("version", "ihl", "dscp", "ecn", "total_len", "ident", "flags", "frag_offset", "ttl",
                        "proto", "src", "dst")


@dataclass(frozen=True)
class ProgramOptions:
    """What varies between programs of one role: the optional parts and the switch limits (from the
    plan's ``wcmp.limits`` when there is one)."""

    hash_qp: bool = False          # Meta's E-ECMP: the BTH destination QP in the WCMP hash
    ipv6: bool = True
    vxlan: bool = True
    acl: bool = True
    max_group_size: int = DEFAULT_MAX_MEMBERS
    max_member_weight: int = DEFAULT_MAX_GROUP_WEIGHT
    selector_size: int = DEFAULT_TABLE_SIZE
    max_groups: int = DEFAULT_MAX_GROUPS


def _r(path: str) -> Ref:
    return Ref(path)


def _valid(h: str) -> Call:
    return Call(f"hdr.{h}.isValid")


def headers(opts: ProgramOptions) -> tuple[HeaderInstance, ...]:
    """The header instances, in parse (and emit) order."""
    packet_in = HeaderType("packet_in", (Member("ingress_port", PORT_BITS), Member("_pad", 16 - PORT_BITS)),
                           "P4Runtime spec 16.1: PacketIn metadata", controller="packet_in")
    packet_out = HeaderType("packet_out", (Member("egress_port", PORT_BITS), Member("_pad", 16 - PORT_BITS)),
                            "P4Runtime spec 16.1: PacketOut metadata", controller="packet_out")
    eth, vlan = HeaderType.from_dpu("ethernet"), HeaderType.from_dpu("vlan")
    ipv4, ipv6 = HeaderType.from_dpu("ipv4"), HeaderType.from_dpu("ipv6")
    udp, tcp = HeaderType.from_dpu("udp"), HeaderType.from_dpu("tcp")
    out = [HeaderInstance("packet_in", packet_in), HeaderInstance("packet_out", packet_out),
           HeaderInstance("ethernet", eth), HeaderInstance("vlan", vlan), HeaderInstance("ipv4", ipv4)]
    if opts.ipv6:
        out.append(HeaderInstance("ipv6", ipv6))
    out += [HeaderInstance("udp", udp), HeaderInstance("tcp", tcp), HeaderInstance("bth", HeaderType.from_dpu("bth"))]
    if opts.vxlan:
        out += [HeaderInstance("vxlan", HeaderType.from_dpu("vxlan")), HeaderInstance("inner_ethernet", eth),
                HeaderInstance("inner_ipv4", ipv4)]
        if opts.ipv6:
            out.append(HeaderInstance("inner_ipv6", ipv6))
        out += [HeaderInstance("inner_udp", udp), HeaderInstance("inner_tcp", tcp)]
    return tuple(out)


def metadata() -> StructType:
    return StructType("metadata_t", (
        Member("nexthop_id", ID_BITS), Member("wcmp_group_id", ID_BITS), Member("punt", 1),
        Member("dscp", 6), Member("flow_src", 128), Member("flow_dst", 128), Member("ip_proto", 8),
        Member("l4_sport", 16), Member("l4_dport", 16), Member("dest_qp", 24),
        Member("ecn_kmin", 32), Member("ecn_kmax", 32), Member("ecn_slope", 32), Member("qdepth", 32),
        Member("ecn_draw", 32)))


def parser(opts: ProgramOptions) -> tuple[ParserState, ...]:
    l3 = [Case((ETH_IPV4,), "parse_ipv4")] + ([Case((ETH_IPV6,), "parse_ipv6")] if opts.ipv6 else [])
    udp_next = [Case((UDP_ROCEV2,), "parse_bth")] + ([Case((UDP_VXLAN,), "parse_vxlan")] if opts.vxlan else [])
    states = [
        ParserState("start", on=(_r("standard_metadata.ingress_port"),),
                    cases=(Case((CPU_PORT,), "parse_packet_out"),), default="parse_ethernet"),
        ParserState("parse_packet_out", extracts=("packet_out",), default="parse_ethernet"),
        ParserState("parse_ethernet", extracts=("ethernet",), on=(_r("hdr.ethernet.ethertype"),),
                    cases=(Case((ETH_VLAN,), "parse_vlan"), *l3)),
        ParserState("parse_vlan", extracts=("vlan",), on=(_r("hdr.vlan.ethertype"),), cases=tuple(l3)),
        ParserState("parse_ipv4", extracts=("ipv4",), on=(_r("hdr.ipv4.frag_offset"), _r("hdr.ipv4.proto")),
                    cases=(Case((0, PROTO_TCP), "parse_tcp"), Case((0, PROTO_UDP), "parse_udp"))),
    ]
    if opts.ipv6:
        states.append(ParserState("parse_ipv6", extracts=("ipv6",), on=(_r("hdr.ipv6.next_header"),),
                                  cases=(Case((PROTO_TCP,), "parse_tcp"), Case((PROTO_UDP,), "parse_udp"))))
    states += [
        ParserState("parse_udp", extracts=("udp",), on=(_r("hdr.udp.dport"),), cases=tuple(udp_next)),
        ParserState("parse_tcp", extracts=("tcp",)),
        ParserState("parse_bth", extracts=("bth",)),
    ]
    if opts.vxlan:
        inner_l3 = [Case((ETH_IPV4,), "parse_inner_ipv4")] + (
            [Case((ETH_IPV6,), "parse_inner_ipv6")] if opts.ipv6 else [])
        inner_l4 = (Case((PROTO_TCP,), "parse_inner_tcp"), Case((PROTO_UDP,), "parse_inner_udp"))
        states += [
            ParserState("parse_vxlan", extracts=("vxlan",), default="parse_inner_ethernet"),
            ParserState("parse_inner_ethernet", extracts=("inner_ethernet",),
                        on=(_r("hdr.inner_ethernet.ethertype"),), cases=tuple(inner_l3)),
            ParserState("parse_inner_ipv4", extracts=("inner_ipv4",),
                        on=(_r("hdr.inner_ipv4.frag_offset"), _r("hdr.inner_ipv4.proto")),
                        cases=(Case((0, PROTO_TCP), "parse_inner_tcp"), Case((0, PROTO_UDP), "parse_inner_udp"))),
        ]
        if opts.ipv6:
            states.append(ParserState("parse_inner_ipv6", extracts=("inner_ipv6",),
                                      on=(_r("hdr.inner_ipv6.next_header"),), cases=inner_l4))
        states += [ParserState("parse_inner_udp", extracts=("inner_udp",)),
                   ParserState("parse_inner_tcp", extracts=("inner_tcp",))]
    return tuple(states)


def _drop() -> Stmt:
    return Do(Call("mark_to_drop", (_r("standard_metadata"),)))


def ingress(role: str, opts: ProgramOptions) -> Control:
    sm = "standard_metadata"
    actions = [
        Action("admit"),
        Action("deny", body=(_drop(),)),
        Action("drop", body=(_drop(),)),
        Action("set_traffic_class", (Param("tc", 3),), (Assign(_r(f"{sm}.priority"), _r("tc")),)),
        Action("set_nexthop_id", (Param("nexthop_id", ID_BITS),),
               (Assign(_r("meta.nexthop_id"), _r("nexthop_id")), Assign(_r("meta.wcmp_group_id"), Const(0, ID_BITS)))),
        Action("set_wcmp_group_id", (Param("wcmp_group_id", ID_BITS),),
               (Assign(_r("meta.wcmp_group_id"), _r("wcmp_group_id")), Assign(_r("meta.nexthop_id"), Const(0, ID_BITS)))),
        Action("set_nexthop", (Param("port", PORT_BITS), Param("src_mac", 48), Param("dst_mac", 48)),
               (Assign(_r(f"{sm}.egress_spec"), _r("port")), Assign(_r("hdr.ethernet.src"), _r("src_mac")),
                Assign(_r("hdr.ethernet.dst"), _r("dst_mac")))),
    ]
    tables = [
        Table("port_admit", (Key(_r(f"{sm}.ingress_port"), "exact", "ingress_port"),
                             *((Key(_r("hdr.vlan.vid"), "ternary", "vlan_id"),) if role == "leaf" else ())),
              ("admit", "deny"), "deny", size=MAX_PORTS * (8 if role == "leaf" else 1)),
        Table("dscp_to_tc", (Key(_r("meta.dscp"), "exact", "dscp"),), ("set_traffic_class", "NoAction"),
              "NoAction", size=64),
        Table("routing_v4", (Key(_r("hdr.ipv4.dst"), "lpm", "ipv4_dst"),),
              ("set_nexthop_id", "set_wcmp_group_id", "drop"), "drop", size=ROUTES_V4[role]),
    ]
    if opts.ipv6:
        tables.append(Table("routing_v6", (Key(_r("hdr.ipv6.dst"), "lpm", "ipv6_dst"),),
                            ("set_nexthop_id", "set_wcmp_group_id", "drop"), "drop", size=ROUTES_V6[role]))
    selector_keys = [Key(_r("meta.flow_src"), "selector", "flow_src"), Key(_r("meta.flow_dst"), "selector", "flow_dst"),
                     Key(_r("meta.ip_proto"), "selector", "ip_proto"),
                     Key(_r("meta.l4_sport"), "selector", "l4_sport"), Key(_r("meta.l4_dport"), "selector", "l4_dport")]
    if opts.hash_qp:
        selector_keys.append(Key(_r("meta.dest_qp"), "selector", "dest_qp"))
    tables.append(Table("wcmp_group_table", (Key(_r("meta.wcmp_group_id"), "exact", "wcmp_group_id"), *selector_keys),
                        ("set_nexthop_id", "NoAction"), "NoAction", size=opts.max_groups,
                        implementation="wcmp_group_selector"))
    selector = ActionSelector("wcmp_group_selector", SELECTOR_HASH, opts.selector_size, SELECTOR_OUTPUT_BITS,
                              opts.max_group_size, opts.max_member_weight)
    direct: list[DirectCounter] = []
    if opts.acl:
        actions += [
            Action("acl_drop", body=(_drop(), Assign(_r("meta.punt"), Const(0, 1)))),
            Action("punt_to_cpu", body=(Assign(_r("meta.punt"), Const(1, 1)),)),
            Action("acl_set_nexthop_id", (Param("nexthop_id", ID_BITS),),
                   (Assign(_r("meta.nexthop_id"), _r("nexthop_id")), Assign(_r("meta.wcmp_group_id"), Const(0, ID_BITS)))),
        ]
        tables.append(Table("acl", (
            Key(_r(f"{sm}.ingress_port"), "ternary", "ingress_port"),
            Key(_r("hdr.ethernet.ethertype"), "ternary", "ether_type"),
            Key(_r("meta.ip_proto"), "ternary", "ip_proto"),
            Key(_r("meta.l4_dport"), "ternary", "l4_dst_port"),
            Key(_r("meta.dscp"), "ternary", "dscp")),
            ("acl_drop", "punt_to_cpu", "acl_set_nexthop_id", "NoAction"), "NoAction", size=ACL_ENTRIES,
            direct_counter="acl_counter"))
        direct.append(DirectCounter("acl_counter", "packets_and_bytes", "acl"))
    tables.append(Table("nexthop_table", (Key(_r("meta.nexthop_id"), "exact", "nexthop_id"),),
                        ("set_nexthop", "drop"), "drop", size=NEXTHOPS))

    flow_key: list[Stmt] = [If(_valid("ipv4"), (
        Assign(_r("meta.flow_src"), Cast(128, _r("hdr.ipv4.src"))), Assign(_r("meta.flow_dst"), Cast(128, _r("hdr.ipv4.dst"))),
        Assign(_r("meta.ip_proto"), _r("hdr.ipv4.proto")), Assign(_r("meta.dscp"), _r("hdr.ipv4.dscp"))),
        (If(_valid("ipv6"), (
            Assign(_r("meta.flow_src"), _r("hdr.ipv6.src")), Assign(_r("meta.flow_dst"), _r("hdr.ipv6.dst")),
            Assign(_r("meta.ip_proto"), _r("hdr.ipv6.next_header")), Assign(_r("meta.dscp"), _r("hdr.ipv6.dscp")))),)
        if opts.ipv6 else ())]
    flow_key.append(If(_valid("udp"), (Assign(_r("meta.l4_sport"), _r("hdr.udp.sport")),
                                       Assign(_r("meta.l4_dport"), _r("hdr.udp.dport"))),
                       (If(_valid("tcp"), (Assign(_r("meta.l4_sport"), _r("hdr.tcp.sport")),
                                           Assign(_r("meta.l4_dport"), _r("hdr.tcp.dport")))),)))
    if opts.hash_qp:
        flow_key.append(If(_valid("bth"), (Assign(_r("meta.dest_qp"), _r("hdr.bth.dest_qp")),)))
    routing: Stmt = If(_valid("ipv4"), (Apply("routing_v4"),),
                       (If(_valid("ipv6"), (Apply("routing_v6"),)),) if opts.ipv6 else ())
    ttl: list[Stmt] = [If(_valid("ipv4"), (If(Bin("<=", _r("hdr.ipv4.ttl"), Const(1)), (_drop(),),
                                              (Assign(_r("hdr.ipv4.ttl"), Bin("-", _r("hdr.ipv4.ttl"), Const(1))),)),))]
    if opts.ipv6:
        ttl.append(If(_valid("ipv6"), (If(Bin("<=", _r("hdr.ipv6.hop_limit"), Const(1)), (_drop(),),
                                          (Assign(_r("hdr.ipv6.hop_limit"), Bin("-", _r("hdr.ipv6.hop_limit"), Const(1))),)),)))
    punt: tuple[Stmt, ...] = (
        Do(Call("hdr.packet_in.setValid")),
        Assign(_r("hdr.packet_in.ingress_port"), _r(f"{sm}.ingress_port")),
        Assign(_r(f"{sm}.egress_spec"), Const(CPU_PORT, PORT_BITS)),
    )
    apply: list[Stmt] = [
        If(_valid("packet_out"), (
            Assign(_r(f"{sm}.egress_spec"), _r("hdr.packet_out.egress_port")),
            Do(Call("hdr.packet_out.setInvalid")), Exit())),
        Do(Call("port_rx.count", (Cast(32, _r(f"{sm}.ingress_port")),))),
        Apply("port_admit"),
        *flow_key,
        Apply("dscp_to_tc"),
        routing,
    ]
    if opts.acl:
        apply.append(Apply("acl"))
    apply += [
        If(Bin("!=", _r("meta.wcmp_group_id"), Const(0, ID_BITS)), (Apply("wcmp_group_table"),)),
        If(Bin("==", _r("meta.punt"), Const(1, 1)), punt,
           (If(Bin("!=", _r("meta.nexthop_id"), Const(0, ID_BITS)), (Apply("nexthop_table"), *ttl)),)),
    ]
    return Control("FabricIngress", actions=tuple(actions), tables=tuple(tables), selectors=(selector,),
                   counters=(Counter("port_rx", "packets_and_bytes", MAX_PORTS),),
                   direct_counters=tuple(direct), apply=tuple(apply))


def egress(opts: ProgramOptions) -> Control:
    sm = "standard_metadata"
    port = Cast(32, _r(f"{sm}.egress_port"))
    ce4 = If(_valid("ipv4"), (Assign(_r("hdr.ipv4.ecn"), Const(3, 2)),))
    ce = (ce4, If(_valid("ipv6"), (Assign(_r("hdr.ipv6.ecn"), Const(3, 2)),))) if opts.ipv6 else (ce4,)
    ect4 = Bin("&&", _valid("ipv4"), Bin("!=", _r("hdr.ipv4.ecn"), Const(0, 2)))
    ect = Bin("||", ect4, Bin("&&", _valid("ipv6"), Bin("!=", _r("hdr.ipv6.ecn"), Const(0, 2)))) if opts.ipv6 else ect4
    depth = _r("meta.qdepth")
    red: tuple[Stmt, ...] = (
        Do(Call("ecn_kmin.read", (_r("meta.ecn_kmin"), port))),
        Do(Call("ecn_kmax.read", (_r("meta.ecn_kmax"), port))),
        Do(Call("ecn_slope.read", (_r("meta.ecn_slope"), port))),
        Assign(depth, Cast(32, _r(f"{sm}.enq_qdepth"))),
        If(Bin("!=", _r("meta.ecn_kmax"), Const(0, 32)), (
            If(Bin(">=", depth, _r("meta.ecn_kmax")), ce,
               (If(Bin(">", depth, _r("meta.ecn_kmin")), (
                   Do(Call("random", (_r("meta.ecn_draw"), Const(0, 32), Const((1 << ECN_RANDOM_BITS) - 1, 32)),
                           ())),
                   If(Bin("<", _r("meta.ecn_draw"), Bin("*", Bin("-", depth, _r("meta.ecn_kmin")),
                                                        _r("meta.ecn_slope"))), ce))),)),)),
    )
    apply: tuple[Stmt, ...] = (
        Do(Call("port_tx.count", (port,))),
        If(ect, red),
    )
    return Control("FabricEgress", counters=(Counter("port_tx", "packets_and_bytes", MAX_PORTS),),
                   registers=(Register("ecn_kmin", 32, MAX_PORTS), Register("ecn_kmax", 32, MAX_PORTS),
                              Register("ecn_slope", 32, MAX_PORTS)),
                   apply=apply)


def build_program(role: str, options: ProgramOptions | None = None) -> Program:
    """The IR of ``role``'s program (v1model for switches, PNA for ``nic``)."""
    if role not in ROLES:
        raise ValueError(f"no program for role {role!r} (roles: {', '.join(ROLES)})")
    opts = options or ProgramOptions()
    hs = headers(opts)
    prog = Program(
        name=f"fabric_{role}", role=role, arch="pna" if role == NIC_ROLE else "v1model", headers=hs,
        metadata=metadata(), parser=parser(opts), ingress=ingress(role, opts),
        egress=None if role == NIC_ROLE else egress(opts),
        deparse=tuple(h.name for h in hs if h.name != "packet_out"),
        checksums=(Checksum("ipv4", IPV4_CHECKSUM_FIELDS, "checksum"),),
        constants=(("CPU_PORT", PORT_BITS, CPU_PORT),))
    return prog


def with_limits(options: ProgramOptions, *, max_members: int, max_group_weight: int, table_size: int,
                max_groups: int) -> ProgramOptions:
    """Options carrying a plan's switch limits (``wcmp.limits``)."""
    return replace(options, max_group_size=max_members, max_member_weight=max_group_weight,
                   selector_size=table_size, max_groups=max_groups)
