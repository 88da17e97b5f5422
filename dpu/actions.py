"""Actions of the match-action pipeline, as numba kernels over a batch.

Per packet the pipeline keeps a small state (egress port, drop flag, DSCP to write, ECN threshold,
VXLAN encap template, decap flag, meter colour). A table's matching entry applies one action:

==========  ===============================  ==========================================================
id          action                           params
==========  ===============================  ==========================================================
0           ``noop``                         -
1           ``forward``                      port
2           ``drop``                         -
3           ``set_dscp``                     dscp (0..63)
4           ``ecn_mark``                     threshold_bytes: mark CE (ECN=3) on ECT packets when the
                                             egress queue holds more than this (RFC 3168)
5           ``vxlan_encap``                  template index (outer MACs, IPv4 addresses, VNI; RFC 7348)
6           ``vxlan_decap``                  - (strip outer Ethernet/IP/UDP/VXLAN)
7           ``meter``                        meter index: RFC 2698 two-rate three-colour marker,
                                             colour-blind; red is dropped, yellow may set a DSCP
8           ``wcmp``                         group index: member chosen by flow hash and weight; a
                                             member is an egress port or a next hop
9           ``set_nexthop``                  next-hop index: egress port, source and destination MAC
                                             written, TTL / hop limit decremented (a packet with
                                             TTL <= 1 is dropped), IPv4 checksum recomputed
==========  ===============================  ==========================================================

Egress ECN marking has two forms on the one queue model of :func:`ecn_kernel`: ``ecn_mark`` (a byte
threshold chosen per packet by a table) and the per-port RED-like marking of a P4 program's egress
(``egress_ecn``: depth in packets of the port MTU; no mark up to ``kmin``, probability
``(depth - kmin) * slope / 2^16`` above it, always from ``kmax``).

Every entry counts packets and bytes; a table's miss counts too.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dpu.hashmix import GOLDEN_GAMMA, fmix64
from dpu.parse import COL, INNER, NCOL

ACTIONS = {"noop": 0, "forward": 1, "drop": 2, "set_dscp": 3, "ecn_mark": 4, "vxlan_encap": 5,
           "vxlan_decap": 6, "meter": 7, "wcmp": 8, "set_nexthop": 9}
A_NOOP, A_FORWARD, A_DROP, A_SET_DSCP, A_ECN, A_ENCAP, A_DECAP, A_METER, A_WCMP, A_SET_NEXTHOP = range(10)
#: Width of the uniform draw of RED-like ECN marking (``slope`` is scaled by 2^RED_DRAW_BITS), as in the
#: P4 program's egress (p4.programs.ECN_RANDOM_BITS).
RED_DRAW_BITS = 16
#: A queue depth within this fraction of a packet of a whole number of packets counts as that number
#: (float drain arithmetic).
DEPTH_EPS_PKTS = 1e-6
GREEN, YELLOW, RED = 0, 1, 2
#: VXLAN encapsulation adds outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 bytes (RFC 7348).
VXLAN_OVERHEAD_BYTES = 50
#: RFC 7348 5: the outer UDP source port should be a hash of the inner packet, in 49152-65535.
VXLAN_SPORT_BASE, VXLAN_SPORT_RANGE = 49152, 16384
UDP_VXLAN = 4789

_C_ERR, _C_PRESENT, _C_L3OFF, _C_IPVER, _C_PAYLOAD = COL["parse_error"], COL["present"], COL["l3_off"], \
    COL["ip_version"], COL["payload_off"]
_C_ECN = COL["ecn"]



@njit(cache=True)
def flow_hash_kernel(table, cols, out):  # pragma: no cover - numba
    """Hash of the listed parse columns (the 5-tuple) per packet."""
    for i in range(table.shape[0]):
        h = np.uint64(0)
        for c in cols:
            h = fmix64(h ^ np.uint64(table[i, c]) ^ np.uint64(GOLDEN_GAMMA))
        out[i] = h


@njit(cache=True)
def apply_kernel(entry, act, params, miss_act, miss_params, lengths, ts, flow_hash,
                 egress, drop, dscp, ecn_thr, encap, decap, color,
                 cnt_pkts, cnt_bytes, miss_cnt,
                 meter_cfg, meter_state, yellow_dscp,
                 grp_off, grp_len, mem_port, mem_cum, nexthop, nh_port, mem_nh):  # pragma: no cover - numba
    """Apply one table's results. ``entry[i]`` = matched entry or -1 (miss) or -2 (skip: dropped).

    meter_cfg[m] = (cir bytes/ns, cbs bytes, pir bytes/ns, pbs bytes); meter_state[m] = (tc, tp, last_ns).
    ``nexthop[i]``: the packet's next hop (-1: none; ``forward`` clears it); ``nh_port[h]``: next hop h's
    egress port; ``mem_nh[k]``: WCMP member k's next hop (-1: a plain port member).
    """
    for i in range(entry.shape[0]):
        e = entry[i]
        if e == -2:
            continue
        if e >= 0:
            a = act[e]
            p = params[e]
            cnt_pkts[e] += 1
            cnt_bytes[e] += lengths[i]
        else:
            a = miss_act
            p = miss_params
            miss_cnt[0] += 1
            miss_cnt[1] += lengths[i]
        if a == A_FORWARD:
            egress[i] = p[0]
            nexthop[i] = -1
        elif a == A_SET_NEXTHOP:
            nexthop[i] = p[0]
            egress[i] = nh_port[p[0]]
        elif a == A_DROP:
            drop[i] = True
        elif a == A_SET_DSCP:
            dscp[i] = p[0]
        elif a == A_ECN:
            ecn_thr[i] = p[0]
        elif a == A_ENCAP:
            encap[i] = p[0]
        elif a == A_DECAP:
            decap[i] = True
        elif a == A_METER:
            m = p[0]
            b = np.float64(lengths[i])
            t = np.float64(ts[i])
            dt = max(0.0, t - meter_state[m, 2])
            meter_state[m, 2] = max(t, meter_state[m, 2])
            tc = min(meter_cfg[m, 1], meter_state[m, 0] + meter_cfg[m, 0] * dt)
            tp = min(meter_cfg[m, 3], meter_state[m, 1] + meter_cfg[m, 2] * dt)
            if tp - b < 0:
                c = RED
            elif tc - b < 0:
                c = YELLOW
                tp -= b
            else:
                c = GREEN
                tp -= b
                tc -= b
            meter_state[m, 0] = tc
            meter_state[m, 1] = tp
            color[i] = c
            if c == RED:
                drop[i] = True
            elif c == YELLOW and yellow_dscp[m] >= 0:
                dscp[i] = yellow_dscp[m]
        elif a == A_WCMP:
            g = p[0]
            o = grp_off[g]
            n = grp_len[g]
            total = mem_cum[o + n - 1]
            h = np.int64(flow_hash[i] % np.uint64(total))
            k = 0
            while mem_cum[o + k] <= h:
                k += 1
            egress[i] = mem_port[o + k]
            nexthop[i] = mem_nh[o + k]


@njit(cache=True)
def ecn_kernel(table, ts, lengths, egress, drop, ecn_thr, decap, rate_bytes_per_ns, q_bytes, q_last,
               marked, red_kmin, red_kmax, red_slope, mtu_bytes, draws):  # pragma: no cover - numba
    """Egress queues drain at the port rate; an ECT packet arriving to a queue above its threshold
    gets CE. ``marked[i]`` = 1 when packet i was marked (ECN rewritten to 3 by the deparser).

    RED-like marking per egress port (``red_kmax[port] == 0``: off): the depth is the bytes queued ahead
    of the packet in packets of ``mtu_bytes``, a partly sent packet counting as one (BMv2's
    ``enq_qdepth`` counts packets); depth >= kmax marks, depth > kmin marks when
    ``draws[i] < (depth - kmin) * slope`` (``draws`` uniform in [0, 2^16))."""
    for i in range(ts.shape[0]):
        if drop[i] or egress[i] < 0:
            continue
        port = egress[i]
        t = np.float64(ts[i])
        q = max(0.0, q_bytes[port] - (t - q_last[port]) * rate_bytes_per_ns)
        q_last[port] = max(t, q_last[port])
        base = INNER if (decap[i] and table[i, INNER + _C_PRESENT] != 0) else 0
        e = table[i, base + _C_ECN]
        if e == 1 or e == 2:
            if ecn_thr[i] >= 0 and q > ecn_thr[i]:
                marked[i] = 1
            elif red_kmax[port] != 0:
                depth = np.int64(np.ceil(q / mtu_bytes - DEPTH_EPS_PKTS))
                if depth >= red_kmax[port]:
                    marked[i] = 1
                elif depth > red_kmin[port] and draws[i] < (depth - red_kmin[port]) * red_slope[port]:
                    marked[i] = 1
        q_bytes[port] = q + lengths[i]


@njit(cache=True)
def _ipv4_checksum(buf, p, hl):  # pragma: no cover - numba
    s = 0
    for k in range(0, hl, 2):
        if k == 10:
            continue
        s += (np.int64(buf[p + k]) << 8) | buf[p + k + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    c = (~s) & 0xFFFF
    buf[p + 10] = c >> 8
    buf[p + 11] = c & 0xFF


@njit(cache=True)
def deparse_kernel(data, offsets, lengths, table, keep, dscp, marked, encap, decap, flow_hash, templates,
                   out, out_off, out_len, nexthop, nh_mac):  # pragma: no cover - numba
    """Write each kept packet, rewritten, to ``out`` at ``out_off[i]`` (sizes precomputed by
    :func:`out_lengths`). templates[k] = (src_mac, dst_mac, src_ip, dst_ip, vni, ttl).

    A packet with a next hop (``nexthop[i] >= 0``) leaves with ``nh_mac[h] = (src_mac, dst_mac)`` in its
    (outermost) Ethernet header and its TTL / hop limit one lower; the IPv4 checksum is recomputed
    whenever the IPv4 header changed."""
    for i in range(offsets.shape[0]):
        if not keep[i]:
            continue
        s = offsets[i]
        L = lengths[i]
        b = 0  # column base of the headers the rewrites apply to
        if decap[i] and (table[i, _C_PRESENT] & (1 << 8)) and table[i, INNER + _C_PRESENT] != 0:
            start = table[i, _C_PAYLOAD]
            b = INNER
        else:
            start = 0
        o = out_off[i]
        hdr = 0
        k = encap[i]
        if k >= 0:
            hdr = 50
        inner_len = L - start
        for j in range(inner_len):
            out[o + hdr + j] = data[s + start + j]
        nh = nexthop[i]
        # DSCP / ECN / TTL rewrite on the (possibly decapsulated) packet. The parser sets ip_version only
        # once the whole IP header is in the buffer, so a later (L4) parse error does not stop it.
        if (dscp[i] >= 0 or marked[i] or nh >= 0) and table[i, b + _C_IPVER] != 0:
            p = o + hdr + table[i, b + _C_L3OFF] - start
            if table[i, b + _C_IPVER] == 4:
                tos = out[p + 1]
                if dscp[i] >= 0:
                    tos = (dscp[i] << 2) | (tos & 3)
                if marked[i]:
                    tos = tos | 3
                out[p + 1] = tos
                if nh >= 0 and out[p + 8] > 0:
                    out[p + 8] = out[p + 8] - 1
                _ipv4_checksum(out, p, (out[p] & 15) * 4)
            else:
                tc = ((out[p] & 15) << 4) | (out[p + 1] >> 4)
                if dscp[i] >= 0:
                    tc = (dscp[i] << 2) | (tc & 3)
                if marked[i]:
                    tc = tc | 3
                out[p] = (out[p] & 0xF0) | (tc >> 4)
                out[p + 1] = ((tc & 15) << 4) | (out[p + 1] & 15)
                if nh >= 0 and out[p + 7] > 0:
                    out[p + 7] = out[p + 7] - 1
        if k >= 0:
            _write_vxlan(out, o, templates[k], inner_len, flow_hash[i])
        if nh >= 0:
            src_mac = nh_mac[nh, 0]
            dst_mac = nh_mac[nh, 1]
            for j in range(6):
                out[o + j] = (dst_mac >> (40 - 8 * j)) & 0xFF
                out[o + 6 + j] = (src_mac >> (40 - 8 * j)) & 0xFF
        out_len[i] = hdr + inner_len


@njit(cache=True)
def _write_vxlan(out, o, tpl, inner_len, fh):  # pragma: no cover - numba
    src_mac, dst_mac, src_ip, dst_ip, vni, ttl = tpl[0], tpl[1], tpl[2], tpl[3], tpl[4], tpl[5]
    for j in range(6):
        out[o + j] = (dst_mac >> (40 - 8 * j)) & 0xFF
        out[o + 6 + j] = (src_mac >> (40 - 8 * j)) & 0xFF
    out[o + 12] = 0x08
    out[o + 13] = 0x00
    p = o + 14
    total = 20 + 8 + 8 + inner_len
    vals = (0x45, 0, total >> 8, total & 0xFF, 0, 0, 0x40, 0, ttl, 17, 0, 0)
    for j in range(12):
        out[p + j] = vals[j]
    for j in range(4):
        out[p + 12 + j] = (src_ip >> (24 - 8 * j)) & 0xFF
        out[p + 16 + j] = (dst_ip >> (24 - 8 * j)) & 0xFF
    _ipv4_checksum(out, p, 20)
    u = p + 20
    sport = VXLAN_SPORT_BASE + np.int64(fh % np.uint64(VXLAN_SPORT_RANGE))
    ulen = 8 + 8 + inner_len
    udp = (sport >> 8, sport & 0xFF, UDP_VXLAN >> 8, UDP_VXLAN & 0xFF, ulen >> 8, ulen & 0xFF, 0, 0)
    for j in range(8):
        out[u + j] = udp[j]
    v = u + 8
    hdr = (0x08, 0, 0, 0, (vni >> 16) & 0xFF, (vni >> 8) & 0xFF, vni & 0xFF, 0)
    for j in range(8):
        out[v + j] = hdr[j]


def out_lengths(lengths: np.ndarray, table: np.ndarray, keep: np.ndarray, encap: np.ndarray,
                decap: np.ndarray) -> np.ndarray:
    """Length of each packet after decap/encap (0 for dropped packets)."""
    is_vx = (table[:, _C_PRESENT] & (1 << 8)) != 0
    dec = decap & is_vx & (table[:, INNER + _C_PRESENT] != 0)
    n = lengths - np.where(dec, table[:, _C_PAYLOAD], 0) + np.where(encap >= 0, VXLAN_OVERHEAD_BYTES, 0)
    return np.where(keep, n, 0)


__all__ = ["ACTIONS", "NCOL", "apply_kernel", "deparse_kernel", "ecn_kernel", "flow_hash_kernel", "out_lengths"]
