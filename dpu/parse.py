"""Packet parser: header layouts declared once as data, driving a numba kernel.

Layouts (:data:`HEADERS`) are lists of ``(field, bits)`` in wire order, the way scapy's
``fields_desc`` declares them; bit offsets and header sizes are derived from them. The kernel reads
every field through :func:`_get` with those offsets as compile-time constants, so a layout changes in
one place (the P4 generator and the test oracle read the same data).

Output is a structure of arrays: :class:`ParseResult` wraps one ``int64`` matrix with a row per
packet and a column per field (:data:`COLUMNS`, then the same columns again prefixed ``inner_`` for
the packet inside VXLAN). A malformed packet never raises: parsing stops at the first header that
does not fit or makes no sense and the row's ``parse_error`` says which (:class:`ParseError`); fields
of the headers before it are filled in, the rest are 0.

Conventions: addresses are four big-endian 32-bit words ``ip_src0..3`` (IPv4 in word 0, the rest 0);
``ip_proto`` is the upper-layer protocol after IPv6 extension headers; a non-first fragment has
``F_L4_SKIPPED`` in ``present`` and no L4 fields; an error in the inner packet is reported in
``inner_parse_error`` (the outer row's ``parse_error`` stays 0).

The kernel functions take raw pointers (:mod:`dpu.rawptr`) to the packet buffer and to the output rows,
not arrays: numba would otherwise count references to the arrays on every inlined call, per packet.

Note for editors: numba's on-disk cache (``cache=True``) is keyed on each kernel's own source file, so
the layouts live here, next to the kernel. Kernels in other files that use these constants or
``parse_frame`` (:mod:`dpu.fastpath`, :mod:`dpu.actions`) are not recompiled when only this file
changes: after editing a layout or the column list, delete ``dpu/__pycache__/*.nbi`` and ``*.nbc``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numba import njit

from dpu.packets import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_ALT,
    PacketBatch,
)
from dpu.rawptr import data_ptr

# ------------------------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Field:
    name: str
    bit_offset: int
    bits: int

    @property
    def const(self) -> tuple[int, int]:
        """(bit offset, width): the constant pair the kernel reads this field with."""
        return (self.bit_offset, self.bits)


@dataclass(frozen=True)
class Header:
    name: str
    fields: tuple[Field, ...]
    source: str

    @property
    def size_bytes(self) -> int:
        return sum(f.bits for f in self.fields) // 8

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")


def header(name: str, spec: list[tuple[str, int]], source: str) -> Header:
    """Declare a header from ``(field, bits)`` in wire order; offsets are accumulated."""
    fields, off = [], 0
    for fname, bits in spec:
        fields.append(Field(fname, off, bits))
        off += bits
    if off % 8:
        raise ValueError(f"header {name} is {off} bits, not whole bytes")
    return Header(name, tuple(fields), source)


ETHERNET = header("ethernet", [("dst", 48), ("src", 48), ("ethertype", 16)], "IEEE 802.3 clause 3")
VLAN = header("vlan", [("pcp", 3), ("dei", 1), ("vid", 12), ("ethertype", 16)], "IEEE 802.1Q tag (TCI + type)")
IPV4 = header("ipv4", [("version", 4), ("ihl", 4), ("dscp", 6), ("ecn", 2), ("total_len", 16),
                       ("ident", 16), ("flags", 3), ("frag_offset", 13), ("ttl", 8), ("proto", 8),
                       ("checksum", 16), ("src", 32), ("dst", 32)], "RFC 791, DSCP/ECN RFC 2474/3168")
IPV6 = header("ipv6", [("version", 4), ("dscp", 6), ("ecn", 2), ("flow_label", 20), ("payload_len", 16),
                       ("next_header", 8), ("hop_limit", 8), ("src", 128), ("dst", 128)], "RFC 8200")
IPV6_EXT = header("ipv6_ext", [("next_header", 8), ("hdr_ext_len", 8), ("data", 48)],
                  "RFC 8200 4.3-4.6: hop-by-hop, routing, destination options (length in 8 B units)")
IPV6_FRAG = header("ipv6_frag", [("next_header", 8), ("reserved", 8), ("frag_offset", 13), ("res", 2),
                                 ("more", 1), ("ident", 32)], "RFC 8200 4.5")
UDP = header("udp", [("sport", 16), ("dport", 16), ("length", 16), ("checksum", 16)], "RFC 768")
TCP = header("tcp", [("sport", 16), ("dport", 16), ("seq", 32), ("ack", 32), ("data_offset", 4),
                     ("reserved", 3), ("flags", 9), ("window", 16), ("checksum", 16), ("urgent", 16)],
             "RFC 9293 (flags include NS, RFC 3540)")
ICMP = header("icmp", [("type", 8), ("code", 8), ("checksum", 16)], "RFC 792 / RFC 4443 common part")
BTH = header("bth", [("opcode", 8), ("solicited", 1), ("migreq", 1), ("pad_count", 2), ("tver", 4),
                     ("pkey", 16), ("fecn", 1), ("becn", 1), ("reserved6", 6), ("dest_qp", 24),
                     ("ack_req", 1), ("reserved7", 7), ("psn", 24)],
             "InfiniBand Architecture Spec vol. 1 rel. 1.4, 9.2 BTH; RoCEv2 annex A17")
VXLAN = header("vxlan", [("flags", 8), ("reserved1", 24), ("vni", 24), ("reserved2", 8)], "RFC 7348")

HEADERS: dict[str, Header] = {h.name: h for h in (ETHERNET, VLAN, IPV4, IPV6, IPV6_EXT, IPV6_FRAG, UDP, TCP,
                                                  ICMP, BTH, VXLAN)}

# Protocol numbers (IANA registries).
ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ, ETH_VLAN_OLD_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x9100
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6 = 1, 6, 17, 58
IPV6_HOPOPT, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_DSTOPTS = 0, 43, 44, 60
#: RoCEv2 UDP destination port (IANA), VXLAN UDP port (RFC 7348).
UDP_ROCEV2, UDP_VXLAN = 4791, 4789
#: Tags we record per packet (outer S-tag + inner C-tag); more is a parse error.
MAX_VLANS = 2
#: IPv6 extension headers we walk before giving up (a loop guard, RFC 8200 allows any number).
MAX_IPV6_EXT = 8


class ParseError(IntEnum):
    """Per-packet ``parse_error`` codes (0 = parsed every header present)."""

    OK = 0
    TRUNCATED_ETHERNET = 1
    TRUNCATED_VLAN = 2
    TOO_MANY_VLANS = 3
    TRUNCATED_IPV4 = 4
    BAD_IPV4_IHL = 5
    TRUNCATED_IPV6 = 6
    TRUNCATED_IPV6_EXT = 7
    IPV6_EXT_CHAIN_TOO_LONG = 8
    BAD_IP_VERSION = 9
    TRUNCATED_UDP = 10
    TRUNCATED_TCP = 11
    BAD_TCP_DATA_OFFSET = 12
    TRUNCATED_ICMP = 13
    TRUNCATED_BTH = 14
    TRUNCATED_VXLAN = 15
    TRUNCATED_LINK = 16
    UNSUPPORTED_LINKTYPE = 17


# ``present`` bits.
F_ETH, F_VLAN, F_IPV4, F_IPV6, F_UDP, F_TCP, F_ICMP, F_BTH, F_VXLAN, F_FRAGMENT, F_L4_SKIPPED = (
    1 << k for k in range(11))
PRESENT_BITS = {"eth": F_ETH, "vlan": F_VLAN, "ipv4": F_IPV4, "ipv6": F_IPV6, "udp": F_UDP, "tcp": F_TCP,
                "icmp": F_ICMP, "bth": F_BTH, "vxlan": F_VXLAN, "fragment": F_FRAGMENT,
                "l4_skipped": F_L4_SKIPPED}

#: Output columns of one (outer or inner) packet.
COLUMNS = ("parse_error", "present", "eth_dst", "eth_src", "ethertype", "n_vlans", "vlan0", "vlan1",
           "vlan_pcp", "l3_off", "ip_version", "ip_hdr_len", "ip_total_len", "ip_proto", "ttl", "dscp",
           "ecn", "ip_flags", "frag_offset", "ip_src0", "ip_src1", "ip_src2", "ip_src3", "ip_dst0",
           "ip_dst1", "ip_dst2", "ip_dst3", "l4_off", "l4_sport", "l4_dport", "tcp_flags", "icmp_type",
           "icmp_code", "bth_opcode", "bth_dest_qp", "bth_psn", "bth_ack_req", "bth_pkey", "vxlan_vni",
           "payload_off")
NCOL = len(COLUMNS)
ALL_COLUMNS = COLUMNS + tuple("inner_" + c for c in COLUMNS)
COL = {c: k for k, c in enumerate(ALL_COLUMNS)}
INNER = NCOL
#: Columns of one parse row (outer and inner packet).
ROW = 2 * NCOL

# Kernel constants: derived from the layouts and column list above (numba freezes module globals).
(C_ERR, C_PRESENT, C_ETH_DST, C_ETH_SRC, C_ETHERTYPE, C_NVLAN, C_VLAN0, C_VLAN1, C_PCP, C_L3OFF, C_IPVER,
 C_IPHL, C_IPTOT, C_PROTO, C_TTL, C_DSCP, C_ECN, C_IPFLAGS, C_FRAG, C_SRC0, C_SRC1, C_SRC2, C_SRC3,
 C_DST0, C_DST1, C_DST2, C_DST3, C_L4OFF, C_SPORT, C_DPORT, C_TCPFLAGS, C_ICMPT, C_ICMPC, C_BTHOP,
 C_BTHQP, C_BTHPSN, C_BTHACK, C_BTHPKEY, C_VNI, C_PAYLOAD) = range(NCOL)
ETH_LEN, VLAN_LEN, IPV4_MIN, IPV6_LEN = ETHERNET.size_bytes, VLAN.size_bytes, IPV4.size_bytes, IPV6.size_bytes
EXT_LEN, UDP_LEN, TCP_MIN, ICMP_LEN = IPV6_EXT.size_bytes, UDP.size_bytes, TCP.size_bytes, ICMP.size_bytes
BTH_LEN, VXLAN_LEN = BTH.size_bytes, VXLAN.size_bytes
K_ETH_DST, K_ETH_SRC, K_ETH_TYPE = ETHERNET["dst"].const, ETHERNET["src"].const, ETHERNET["ethertype"].const
K_VLAN_PCP, K_VLAN_VID, K_VLAN_TYPE = VLAN["pcp"].const, VLAN["vid"].const, VLAN["ethertype"].const
K4_VER, K4_IHL, K4_DSCP, K4_ECN = IPV4["version"].const, IPV4["ihl"].const, IPV4["dscp"].const, IPV4["ecn"].const
K4_TOT, K4_FLAGS, K4_FRAG = IPV4["total_len"].const, IPV4["flags"].const, IPV4["frag_offset"].const
K4_TTL, K4_PROTO, K4_SRC, K4_DST = IPV4["ttl"].const, IPV4["proto"].const, IPV4["src"].const, IPV4["dst"].const
K6_VER, K6_DSCP, K6_ECN, K6_PLEN = IPV6["version"].const, IPV6["dscp"].const, IPV6["ecn"].const, IPV6["payload_len"].const
K6_NH, K6_HOP, K6_SRC, K6_DST = IPV6["next_header"].const, IPV6["hop_limit"].const, IPV6["src"].const, IPV6["dst"].const
KX_NH, KX_LEN = IPV6_EXT["next_header"].const, IPV6_EXT["hdr_ext_len"].const
KF_NH, KF_OFF, KF_MORE = IPV6_FRAG["next_header"].const, IPV6_FRAG["frag_offset"].const, IPV6_FRAG["more"].const
KU_SPORT, KU_DPORT = UDP["sport"].const, UDP["dport"].const
KT_SPORT, KT_DPORT, KT_DOFF, KT_FLAGS = TCP["sport"].const, TCP["dport"].const, TCP["data_offset"].const, TCP["flags"].const
KI_TYPE, KI_CODE = ICMP["type"].const, ICMP["code"].const
KB_OP, KB_PKEY, KB_QP, KB_ACK, KB_PSN = (BTH["opcode"].const, BTH["pkey"].const, BTH["dest_qp"].const,
                                         BTH["ack_req"].const, BTH["psn"].const)
KV_VNI = VXLAN["vni"].const
IPV4_MF = 1  # low bit of the 3-bit flags field: more fragments (RFC 791)

E_OK, E_TR_ETH, E_TR_VLAN, E_VLANS, E_TR_V4, E_IHL, E_TR_V6, E_TR_EXT, E_EXT_CHAIN, E_VER = range(10)
E_TR_UDP, E_TR_TCP, E_TCP_DOFF, E_TR_ICMP, E_TR_BTH, E_TR_VXLAN, E_TR_LINK, E_LINKTYPE = range(10, 18)
#: Link-layer headers in front of L3 for non-Ethernet link types (tcpdump.org linktypes): Linux cooked
#: capture v1 (16 B, protocol at byte 14) and v2 (20 B, protocol at byte 0); BSD loopback (4 B address
#: family, host order for NULL, network order for LOOP).
SLL_LEN, SLL_PROTO, SLL2_LEN, SLL2_PROTO, NULL_LEN = 16, (112, 16), 20, (0, 16), 4
#: BSD AF_INET, and the AF_INET6 values of the BSDs / Darwin / Linux seen in NULL/LOOP captures.
AF_INET, AF_INET6_BSD, AF_INET6_FREEBSD, AF_INET6_DARWIN, AF_INET6_LINUX = 2, 24, 28, 30, 10

# ---------------------------------------------------------------------------------------------- kernel


@njit(cache=True, inline="always")
def _get(buf, base, k):  # pragma: no cover - numba
    """Field at ``base`` bytes + ``k = (bit offset, bits)``, big-endian, up to 56 bits."""
    off, bits = k
    first = base + (off >> 3)
    lead = off & 7
    nbytes = (lead + bits + 7) >> 3
    v = np.int64(0)
    for j in range(nbytes):  # unsigned index: numba emits no negative-index wraparound per byte
        v = (v << 8) | np.int64(buf[np.uint64(first + j)])
    return (v >> (nbytes * 8 - lead - bits)) & ((np.int64(1) << bits) - 1)


@njit(cache=True, inline="always")
def _get_word(buf, base, k, w):  # pragma: no cover - numba
    """32-bit word ``w`` of a wide field (IPv6 address)."""
    p = np.uint64(base + (k[0] >> 3) + 4 * w)
    return ((np.int64(buf[p]) << 24) | (np.int64(buf[p + np.uint64(1)]) << 16)
            | (np.int64(buf[p + np.uint64(2)]) << 8) | np.int64(buf[p + np.uint64(3)]))


@njit(cache=True, inline="always")
def parse_frame(buf, p, end, out, o, outer):  # pragma: no cover - numba
    """Parse one Ethernet frame in ``buf[p:end]`` into ``out[o + column]``.

    ``buf`` and ``out`` are pointers (:func:`dpu.rawptr.data_ptr` of the packet buffer and of an
    ``int64`` row), ``o`` the row's first column (``INNER`` for the inner packet). Returns the offset of
    the inner frame when ``outer`` and a VXLAN header was parsed, else -1.
    """
    return parse_link(buf, p, end, out, o, outer, LINKTYPE_ETHERNET)


@njit(cache=True, inline="always")
def _link_error(out, o, p, err):  # pragma: no cover - numba
    out[o + C_ERR] = err
    out[o + C_PAYLOAD] = p
    return -1


@njit(cache=True, inline="always")
def parse_link(buf, p, end, out, o, outer, lt):  # pragma: no cover - numba
    """Parse one packet of pcap link type ``lt`` in ``buf[p:end]`` into ``out[o + column]`` (pointers:
    see :func:`parse_frame`).

    Ethernet, Linux cooked v1/v2, BSD loopback and raw IP reach the same L3 parser (``ethertype`` is
    the link header's protocol, or the one the link type or IP version implies); any other link type
    is ``unsupported_linktype`` with no field read.
    """
    for c in range(NCOL):
        out[o + c] = 0
    present = 0
    if lt == LINKTYPE_ETHERNET:
        if p + ETH_LEN > end:
            return _link_error(out, o, p, E_TR_ETH)
        present = F_ETH
        out[o + C_ETH_DST] = _get(buf, p, K_ETH_DST)
        out[o + C_ETH_SRC] = _get(buf, p, K_ETH_SRC)
        et = _get(buf, p, K_ETH_TYPE)
        p += ETH_LEN
    elif lt == LINKTYPE_LINUX_SLL:
        if p + SLL_LEN > end:
            return _link_error(out, o, p, E_TR_LINK)
        et = _get(buf, p, SLL_PROTO)
        p += SLL_LEN
    elif lt == LINKTYPE_LINUX_SLL2:
        if p + SLL2_LEN > end:
            return _link_error(out, o, p, E_TR_LINK)
        et = _get(buf, p, SLL2_PROTO)
        p += SLL2_LEN
    elif lt == LINKTYPE_NULL or lt == LINKTYPE_LOOP:
        if p + NULL_LEN > end:
            return _link_error(out, o, p, E_TR_LINK)
        fam = _get(buf, p, (0, 32))
        if lt == LINKTYPE_NULL and fam > 0xFFFF:  # host byte order of the capturing machine
            fam = (((fam & 0xFF) << 24) | ((fam & 0xFF00) << 8) | ((fam >> 8) & 0xFF00) | (fam >> 24))
        if fam == AF_INET:
            et = ETH_IPV4
        elif fam == AF_INET6_BSD or fam == AF_INET6_FREEBSD or fam == AF_INET6_DARWIN or fam == AF_INET6_LINUX:
            et = ETH_IPV6
        else:
            et = 0
        p += NULL_LEN
    elif lt == LINKTYPE_RAW or lt == LINKTYPE_RAW_ALT:
        if p >= end:
            return _link_error(out, o, p, E_TR_LINK)
        ver = np.int64(buf[np.uint64(p)]) >> 4
        if ver == 4:
            et = ETH_IPV4
        elif ver == 6:
            et = ETH_IPV6
        else:
            out[o + C_L3OFF] = p
            return _link_error(out, o, p, E_VER)
    elif lt == LINKTYPE_IPV4:
        et = ETH_IPV4
    elif lt == LINKTYPE_IPV6:
        et = ETH_IPV6
    else:
        return _link_error(out, o, p, E_LINKTYPE)
    nv = 0
    err = E_OK
    inner = -1
    while lt == LINKTYPE_ETHERNET and (et == ETH_VLAN or et == ETH_QINQ or et == ETH_VLAN_OLD_QINQ):
        if nv == MAX_VLANS:
            err = E_VLANS
            break
        if p + VLAN_LEN > end:
            err = E_TR_VLAN
            break
        present |= F_VLAN
        vid = _get(buf, p, K_VLAN_VID)
        if nv == 0:
            out[o + C_VLAN0] = vid
            out[o + C_PCP] = _get(buf, p, K_VLAN_PCP)
        else:
            out[o + C_VLAN1] = vid
        et = _get(buf, p, K_VLAN_TYPE)
        nv += 1
        p += VLAN_LEN
    out[o + C_NVLAN] = nv
    out[o + C_ETHERTYPE] = et
    proto = -1
    while err == E_OK:  # one pass; ``break`` ends parsing
        if et == ETH_IPV4:
            out[o + C_L3OFF] = p
            if p + IPV4_MIN > end:
                err = E_TR_V4
                break
            if _get(buf, p, K4_VER) != 4:
                err = E_VER
                break
            hl = _get(buf, p, K4_IHL) * 4
            if hl < IPV4_MIN:
                err = E_IHL
                break
            if p + hl > end:
                err = E_TR_V4
                break
            present |= F_IPV4
            out[o + C_IPVER] = 4
            out[o + C_IPHL] = hl
            out[o + C_IPTOT] = _get(buf, p, K4_TOT)
            out[o + C_DSCP] = _get(buf, p, K4_DSCP)
            out[o + C_ECN] = _get(buf, p, K4_ECN)
            out[o + C_TTL] = _get(buf, p, K4_TTL)
            fl = _get(buf, p, K4_FLAGS)
            fo = _get(buf, p, K4_FRAG)
            out[o + C_IPFLAGS] = fl
            out[o + C_FRAG] = fo
            pr = _get(buf, p, K4_PROTO)
            out[o + C_PROTO] = pr
            out[o + C_SRC0] = _get(buf, p, K4_SRC)
            out[o + C_DST0] = _get(buf, p, K4_DST)
            p += hl
            if fo != 0 or (fl & IPV4_MF):
                present |= F_FRAGMENT
            if fo != 0:
                present |= F_L4_SKIPPED
                break
            proto = pr
        elif et == ETH_IPV6:
            out[o + C_L3OFF] = p
            if p + IPV6_LEN > end:
                err = E_TR_V6
                break
            if _get(buf, p, K6_VER) != 6:
                err = E_VER
                break
            present |= F_IPV6
            out[o + C_IPVER] = 6
            out[o + C_IPTOT] = _get(buf, p, K6_PLEN) + IPV6_LEN
            out[o + C_DSCP] = _get(buf, p, K6_DSCP)
            out[o + C_ECN] = _get(buf, p, K6_ECN)
            out[o + C_TTL] = _get(buf, p, K6_HOP)
            out[o + C_SRC0] = _get_word(buf, p, K6_SRC, 0)
            out[o + C_SRC1] = _get_word(buf, p, K6_SRC, 1)
            out[o + C_SRC2] = _get_word(buf, p, K6_SRC, 2)
            out[o + C_SRC3] = _get_word(buf, p, K6_SRC, 3)
            out[o + C_DST0] = _get_word(buf, p, K6_DST, 0)
            out[o + C_DST1] = _get_word(buf, p, K6_DST, 1)
            out[o + C_DST2] = _get_word(buf, p, K6_DST, 2)
            out[o + C_DST3] = _get_word(buf, p, K6_DST, 3)
            nh = _get(buf, p, K6_NH)
            p0 = p
            p += IPV6_LEN
            next_ok = True
            n_ext = 0
            while nh == IPV6_HOPOPT or nh == IPV6_ROUTING or nh == IPV6_DSTOPTS or nh == IPV6_FRAGMENT:
                if n_ext == MAX_IPV6_EXT:
                    err = E_EXT_CHAIN
                    break
                if p + EXT_LEN > end:
                    err = E_TR_EXT
                    break
                n_ext += 1
                if nh == IPV6_FRAGMENT:
                    fo = _get(buf, p, KF_OFF)
                    out[o + C_FRAG] = fo
                    out[o + C_IPFLAGS] = _get(buf, p, KF_MORE)
                    present |= F_FRAGMENT
                    nh = _get(buf, p, KF_NH)
                    p += EXT_LEN
                    if fo != 0:
                        present |= F_L4_SKIPPED
                        next_ok = False
                        break
                else:
                    ln = (_get(buf, p, KX_LEN) + 1) * 8
                    if p + ln > end:
                        err = E_TR_EXT
                        break
                    nh = _get(buf, p, KX_NH)
                    p += ln
            if err != E_OK:
                break
            out[o + C_IPHL] = p - p0
            out[o + C_PROTO] = nh
            if not next_ok:
                break
            proto = nh
        break
    if err == E_OK and proto >= 0:
        out[o + C_L4OFF] = p
        if proto == PROTO_UDP:
            if p + UDP_LEN > end:
                err = E_TR_UDP
            else:
                present |= F_UDP
                dport = _get(buf, p, KU_DPORT)
                out[o + C_SPORT] = _get(buf, p, KU_SPORT)
                out[o + C_DPORT] = dport
                p += UDP_LEN
                if dport == UDP_ROCEV2:
                    if p + BTH_LEN > end:
                        err = E_TR_BTH
                    else:
                        present |= F_BTH
                        out[o + C_BTHOP] = _get(buf, p, KB_OP)
                        out[o + C_BTHPKEY] = _get(buf, p, KB_PKEY)
                        out[o + C_BTHQP] = _get(buf, p, KB_QP)
                        out[o + C_BTHACK] = _get(buf, p, KB_ACK)
                        out[o + C_BTHPSN] = _get(buf, p, KB_PSN)
                        p += BTH_LEN
                elif dport == UDP_VXLAN:
                    if p + VXLAN_LEN > end:
                        err = E_TR_VXLAN
                    else:
                        present |= F_VXLAN
                        out[o + C_VNI] = _get(buf, p, KV_VNI)
                        p += VXLAN_LEN
                        if outer:
                            inner = p
        elif proto == PROTO_TCP:
            if p + TCP_MIN > end:
                err = E_TR_TCP
            else:
                doff = _get(buf, p, KT_DOFF) * 4
                if doff < TCP_MIN:
                    err = E_TCP_DOFF
                elif p + doff > end:
                    err = E_TR_TCP
                else:
                    present |= F_TCP
                    out[o + C_SPORT] = _get(buf, p, KT_SPORT)
                    out[o + C_DPORT] = _get(buf, p, KT_DPORT)
                    out[o + C_TCPFLAGS] = _get(buf, p, KT_FLAGS)
                    p += doff
        elif (proto == PROTO_ICMP and et == ETH_IPV4) or (proto == PROTO_ICMPV6 and et == ETH_IPV6):
            if p + ICMP_LEN > end:
                err = E_TR_ICMP
            else:
                present |= F_ICMP
                out[o + C_ICMPT] = _get(buf, p, KI_TYPE)
                out[o + C_ICMPC] = _get(buf, p, KI_CODE)
                p += ICMP_LEN
    out[o + C_ERR] = err
    out[o + C_PRESENT] = present
    out[o + C_PAYLOAD] = p
    return inner


@njit(cache=True, nogil=True)
def parse_kernel(data, offsets, lengths, linktypes, out):  # pragma: no cover - numba
    """Parse every packet of a batch into ``out`` (shape ``(n, 2 * NCOL)``, int64, C-contiguous).

    ``linktypes`` is each packet's pcap link type (the inner packet of VXLAN is always Ethernet).
    Offsets written to ``out`` (``l3_off``, ``l4_off``, ``payload_off``) are relative to the packet start.
    """
    buf = data_ptr(data)  # pointers: no reference counting in the inlined parser (dpu.rawptr)
    op = data_ptr(out)
    for i in range(offsets.shape[0]):
        s = offsets[i]
        e = s + lengths[i]
        start = s
        for layer in range(2):  # one call site: parse_link is inlined once
            lt = linktypes[i] if layer == 0 else LINKTYPE_ETHERNET
            o = i * ROW + layer * INNER
            nxt = parse_link(buf, start, e, op, o, layer == 0, lt)
            _relative(op, o, s)
            if nxt < 0:
                break
            start = nxt
        if layer == 0:
            for c in range(NCOL):
                op[i * ROW + INNER + c] = 0


@njit(cache=True, inline="always")
def _relative(out, o, s):  # pragma: no cover - numba
    if out[o + C_L3OFF]:
        out[o + C_L3OFF] -= s
    if out[o + C_L4OFF]:
        out[o + C_L4OFF] -= s
    out[o + C_PAYLOAD] -= s
    if out[o + C_PAYLOAD] < 0:
        out[o + C_PAYLOAD] = 0

# --------------------------------------------------------------------------------------------- results


class ParseResult:
    """Parsed fields of a batch: ``res["ip_proto"]`` is a column (one value per packet)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def __len__(self) -> int:
        return int(self.table.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.table[:, COL[name]]

    def row(self, i: int, inner: bool = False) -> dict[str, int]:
        b = INNER if inner else 0
        return {c: int(self.table[i, b + k]) for k, c in enumerate(COLUMNS)}

    def records(self) -> list[dict]:
        """One JSON-ready dict per packet with the keys of ``fabricctl dpu parse --json``."""
        return [record(self.row(i), self.row(i, inner=True)) for i in range(len(self))]


def parse(batch: PacketBatch) -> ParseResult:
    """Parse a batch with the numba kernel.

    >>> from scapy.layers.l2 import Ether
    >>> from scapy.layers.inet import IP, UDP as sUDP
    >>> r = parse(PacketBatch.from_scapy([Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / sUDP(dport=53)]))
    >>> int(r["parse_error"][0]), int(r["ip_proto"][0]), int(r["l4_dport"][0])
    (0, 17, 53)
    """
    out = np.empty((len(batch), ROW), dtype=np.int64)
    if len(batch):
        parse_kernel(np.ascontiguousarray(batch.data, dtype=np.uint8), batch.offsets, batch.lengths,
                     batch.link_types, out)
    return ParseResult(out)


def ip_text(row: dict[str, int], which: str) -> str | None:
    """Text form of ``ip_src``/``ip_dst`` of a row (None when there is no IP header)."""
    if row["ip_version"] == 4:
        return str(ipaddress.IPv4Address(row[f"{which}0"]))
    if row["ip_version"] == 6:
        v = 0
        for w in range(4):
            v = (v << 32) | row[f"{which}{w}"]
        return str(ipaddress.IPv6Address(v))
    return None


def record(row: dict[str, int], inner_row: dict[str, int] | None = None) -> dict:
    """The ``dpu parse`` JSON object for one parsed row."""
    present = row["present"]
    has_ip = bool(present & (F_IPV4 | F_IPV6))
    has_l4 = bool(present & (F_UDP | F_TCP))
    vlans = [row["vlan0"], row["vlan1"]][: row["n_vlans"]]
    rec = {
        "parse_error": row["parse_error"],
        "parse_error_name": ParseError(row["parse_error"]).name.lower(),
        "vlans": vlans,
        "ip_version": row["ip_version"] or None,
        "ip_src": ip_text(row, "ip_src"),
        "ip_dst": ip_text(row, "ip_dst"),
        "ip_proto": row["ip_proto"] if row["ip_version"] else None,
        "dscp": row["dscp"] if has_ip else None,
        "ecn": row["ecn"] if has_ip else None,
        "l4_sport": row["l4_sport"] if has_l4 else None,
        "l4_dport": row["l4_dport"] if has_l4 else None,
        "bth": ({"opcode": row["bth_opcode"], "dest_qp": row["bth_dest_qp"], "psn": row["bth_psn"],
                 "ack_req": bool(row["bth_ack_req"]), "pkey": row["bth_pkey"]}
                if present & F_BTH else None),
        "vxlan_vni": row["vxlan_vni"] if present & F_VXLAN else None,
        "headers": [name for name, bit in PRESENT_BITS.items() if present & bit],
    }
    if inner_row is not None:
        rec["inner"] = record(inner_row) if present & F_VXLAN and inner_row["present"] | inner_row["parse_error"] else None
    return rec
