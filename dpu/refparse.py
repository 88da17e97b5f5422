"""Pure-Python reference parser: the same output as :func:`dpu.parse.parse`, one dict per packet.

Written independently of the layout tables with ``struct`` and hand-coded offsets, so that it checks
the layout-driven numba kernel (tests) and serves as the "plain-Python struct parser" baseline
(bench/dpu.py). Same conventions as :mod:`dpu.parse` (see there).
"""

from __future__ import annotations

import struct

from dpu.parse import (
    COLUMNS,
    F_BTH,
    F_ETH,
    F_FRAGMENT,
    F_ICMP,
    F_IPV4,
    F_IPV6,
    F_L4_SKIPPED,
    F_TCP,
    F_UDP,
    F_VLAN,
    F_VXLAN,
    ParseError,
)

_H = struct.Struct("!H")
_I = struct.Struct("!I")
_ETH = struct.Struct("!6s6sH")
_V4 = struct.Struct("!BBHHHBBHII")
_V6 = struct.Struct("!IHBB16s16s")
_UDP = struct.Struct("!HHHH")
_TCP = struct.Struct("!HHIIHHHH")
_BTH = struct.Struct("!BBHII")


def parse_frame(pkt: bytes, start: int = 0, outer: bool = True) -> tuple[dict[str, int], int]:
    """Parse one frame from ``pkt[start:]``; returns (row, inner frame offset or -1)."""
    r = dict.fromkeys(COLUMNS, 0)
    end = len(pkt)
    p = start
    if p + 14 > end:
        r["parse_error"] = ParseError.TRUNCATED_ETHERNET
        r["payload_off"] = p
        return r, -1
    dst, src, et = _ETH.unpack_from(pkt, p)
    r["eth_dst"], r["eth_src"] = int.from_bytes(dst, "big"), int.from_bytes(src, "big")
    present = F_ETH
    p += 14
    err = 0
    inner = -1
    nv = 0
    while et in (0x8100, 0x88A8, 0x9100):
        if nv == 2:
            err = ParseError.TOO_MANY_VLANS
            break
        if p + 4 > end:
            err = ParseError.TRUNCATED_VLAN
            break
        tci, et = struct.unpack_from("!HH", pkt, p)
        present |= F_VLAN
        if nv == 0:
            r["vlan0"], r["vlan_pcp"] = tci & 0xFFF, tci >> 13
        else:
            r["vlan1"] = tci & 0xFFF
        nv += 1
        p += 4
    r["n_vlans"], r["ethertype"] = nv, et
    proto = None
    if not err and et == 0x0800:
        r["l3_off"] = p
        if p + 20 > end:
            err = ParseError.TRUNCATED_IPV4
        elif pkt[p] >> 4 != 4:
            err = ParseError.BAD_IP_VERSION
        elif (pkt[p] & 15) < 5:
            err = ParseError.BAD_IPV4_IHL
        elif p + (pkt[p] & 15) * 4 > end:
            err = ParseError.TRUNCATED_IPV4
        else:
            vihl, tos, tot, _ident, ffo, ttl, pr, _ck, s, d = _V4.unpack_from(pkt, p)
            hl = (vihl & 15) * 4
            present |= F_IPV4
            r.update(ip_version=4, ip_hdr_len=hl, ip_total_len=tot, dscp=tos >> 2, ecn=tos & 3, ttl=ttl,
                     ip_flags=ffo >> 13, frag_offset=ffo & 0x1FFF, ip_proto=pr, ip_src0=s, ip_dst0=d)
            p += hl
            if ffo & 0x3FFF:
                present |= F_FRAGMENT
            if ffo & 0x1FFF:
                present |= F_L4_SKIPPED
            else:
                proto = pr
    elif not err and et == 0x86DD:
        r["l3_off"] = p
        if p + 40 > end:
            err = ParseError.TRUNCATED_IPV6
        elif pkt[p] >> 4 != 6:
            err = ParseError.BAD_IP_VERSION
        else:
            vtf, plen, nh, hop, s, d = _V6.unpack_from(pkt, p)
            tc = (vtf >> 20) & 0xFF
            present |= F_IPV6
            r.update(ip_version=6, ip_total_len=plen + 40, dscp=tc >> 2, ecn=tc & 3, ttl=hop)
            for w in range(4):
                r[f"ip_src{w}"] = _I.unpack_from(s, 4 * w)[0]
                r[f"ip_dst{w}"] = _I.unpack_from(d, 4 * w)[0]
            p0 = p
            p += 40
            n_ext = 0
            skipped = False
            while nh in (0, 43, 60, 44):
                if n_ext == 8:
                    err = ParseError.IPV6_EXT_CHAIN_TOO_LONG
                    break
                if p + 8 > end:
                    err = ParseError.TRUNCATED_IPV6_EXT
                    break
                n_ext += 1
                if nh == 44:
                    fom = _H.unpack_from(pkt, p + 2)[0]
                    r["frag_offset"], r["ip_flags"] = fom >> 3, fom & 1
                    present |= F_FRAGMENT
                    nh = pkt[p]
                    p += 8
                    if fom >> 3:
                        present |= F_L4_SKIPPED
                        skipped = True
                        break
                else:
                    ln = (pkt[p + 1] + 1) * 8
                    if p + ln > end:
                        err = ParseError.TRUNCATED_IPV6_EXT
                        break
                    nh = pkt[p]
                    p += ln
            if not err:
                r["ip_hdr_len"], r["ip_proto"] = p - p0, nh
                if not skipped:
                    proto = nh
    if proto is not None:
        r["l4_off"] = p
        if proto == 17:
            if p + 8 > end:
                err = ParseError.TRUNCATED_UDP
            else:
                sp, dp, _l, _c = _UDP.unpack_from(pkt, p)
                present |= F_UDP
                r["l4_sport"], r["l4_dport"] = sp, dp
                p += 8
                if dp == 4791:
                    if p + 12 > end:
                        err = ParseError.TRUNCATED_BTH
                    else:
                        op, _b1, pkey, qpw, psnw = _BTH.unpack_from(pkt, p)
                        present |= F_BTH
                        r.update(bth_opcode=op, bth_pkey=pkey, bth_dest_qp=qpw & 0xFFFFFF,
                                 bth_ack_req=psnw >> 31, bth_psn=psnw & 0xFFFFFF)
                        p += 12
                elif dp == 4789:
                    if p + 8 > end:
                        err = ParseError.TRUNCATED_VXLAN
                    else:
                        present |= F_VXLAN
                        r["vxlan_vni"] = _I.unpack_from(pkt, p + 4)[0] >> 8
                        p += 8
                        if outer:
                            inner = p
        elif proto == 6:
            if p + 20 > end:
                err = ParseError.TRUNCATED_TCP
            else:
                sp, dp, _s, _a, offfl, _w, _c, _u = _TCP.unpack_from(pkt, p)
                doff = (offfl >> 12) * 4
                if doff < 20:
                    err = ParseError.BAD_TCP_DATA_OFFSET
                elif p + doff > end:
                    err = ParseError.TRUNCATED_TCP
                else:
                    present |= F_TCP
                    r.update(l4_sport=sp, l4_dport=dp, tcp_flags=offfl & 0x1FF)
                    p += doff
        elif (proto == 1 and et == 0x0800) or (proto == 58 and et == 0x86DD):
            if p + 4 > end:
                err = ParseError.TRUNCATED_ICMP
            else:
                present |= F_ICMP
                r["icmp_type"], r["icmp_code"] = pkt[p], pkt[p + 1]
                p += 4
    r["parse_error"] = int(err)
    r["present"] = present
    r["payload_off"] = p
    return r, inner


def parse_packet(pkt: bytes) -> tuple[dict[str, int], dict[str, int]]:
    """(outer row, inner row) for one packet; the inner row is all zeros without VXLAN."""
    outer, inner_at = parse_frame(pkt, 0, True)
    if inner_at < 0:
        return outer, dict.fromkeys(COLUMNS, 0)
    inner, _ = parse_frame(pkt, inner_at, False)
    return outer, inner


def parse_packets(packets: list[bytes]) -> list[tuple[dict[str, int], dict[str, int]]]:
    return [parse_packet(p) for p in packets]
