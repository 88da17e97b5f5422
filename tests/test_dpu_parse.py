"""Parser vs scapy: build packets with scapy from drawn values, parse them (and every truncation of
them) with the numba kernel and the pure-Python reference parser, compare field by field with the
values used to build them."""

from __future__ import annotations

import ipaddress
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.contrib.roce import BTH  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from dpu import parse as P  # noqa: E402
from dpu.packets import PacketBatch  # noqa: E402
from dpu.refparse import parse_packet  # noqa: E402

SPECIAL_UDP = (4789, 4791)


class Seg:
    """One header of the built packet: byte range, the error if cut inside it, expected fields."""

    def __init__(self, name, length, error, fields, present=0):
        self.name, self.length, self.error, self.fields, self.present = name, length, error, fields, present
        self.start = 0

    @property
    def end(self):
        return self.start + self.length


ports = st.integers(0, 65535).filter(lambda p: p not in SPECIAL_UDP)
macs = st.integers(0, 2**48 - 1)


def _mac(v):
    return ":".join(f"{b:02x}" for b in v.to_bytes(6, "big"))


def _v6words(a):
    v = int(ipaddress.IPv6Address(a))
    return [(v >> (96 - 32 * w)) & 0xFFFFFFFF for w in range(4)]


@st.composite
def frames(draw, allow_vxlan=True):
    """(scapy packet, [Seg], inner (packet, segs) or None)."""
    segs = []
    dst, src = draw(macs), draw(macs)
    nvl = draw(st.integers(0, 2))
    l3 = draw(st.sampled_from(["ipv4", "ipv6", "other"]))
    ethertype_final = {"ipv4": 0x0800, "ipv6": 0x86DD}.get(l3, draw(st.sampled_from([0x0806, 0x88CC, 0x8915])))
    tpids = [0x88A8, 0x8100] if nvl == 2 else [0x8100] * nvl
    types = tpids + [ethertype_final]
    pkt = Ether(dst=_mac(dst), src=_mac(src), type=types[0])
    segs.append(Seg("eth", 14, P.ParseError.TRUNCATED_ETHERNET,
                    {"eth_dst": dst, "eth_src": src, "ethertype": types[0], "n_vlans": 0}, P.F_ETH))
    for k in range(nvl):
        vid, pcp = draw(st.integers(0, 4095)), draw(st.integers(0, 7))
        tag = Dot1AD if tpids[k] == 0x88A8 else Dot1Q
        pkt = pkt / tag(vlan=vid, prio=pcp, type=types[k + 1])
        f = {"ethertype": types[k + 1], "n_vlans": k + 1, f"vlan{k}": vid}
        if k == 0:
            f["vlan_pcp"] = pcp
        segs.append(Seg(f"vlan{k}", 4, P.ParseError.TRUNCATED_VLAN, f, P.F_VLAN))
    inner = None
    if l3 == "other":
        return pkt / Raw(draw(st.binary(max_size=20))), segs, None
    l2_end = sum(s.length for s in segs)
    segs[-1].fields["l3_off"] = l2_end
    dscp, ecn, ttl = draw(st.integers(0, 63)), draw(st.integers(0, 3)), draw(st.integers(0, 255))
    l4 = draw(st.sampled_from(["udp", "tcp", "icmp", "bth", "raw"] + (["vxlan"] if allow_vxlan else [])))
    proto = {"udp": 17, "bth": 17, "vxlan": 17, "tcp": 6, "icmp": 1 if l3 == "ipv4" else 58, "raw": 47}[l4]
    nonfirst = False
    if l3 == "ipv4":
        s, d = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
        nopt = 4 * draw(st.integers(0, 4))
        frag = draw(st.sampled_from([0, 0, 0, 1, 100, 8191]))
        mf = draw(st.booleans()) if frag == 0 else True
        df = draw(st.booleans())
        flags = (2 if df else 0) | (1 if mf else 0)
        ip = IP(src=str(ipaddress.IPv4Address(s)), dst=str(ipaddress.IPv4Address(d)), tos=dscp << 2 | ecn,
                ttl=ttl, frag=frag, flags=flags, proto=proto, options=[IPOption_NOP()] * nopt)
        hl = 20 + nopt
        pres = P.F_IPV4 | (P.F_FRAGMENT if frag or mf else 0)
        nonfirst = frag != 0
        f = {"ip_version": 4, "ip_hdr_len": hl, "ip_proto": proto, "ttl": ttl, "dscp": dscp, "ecn": ecn,
             "ip_flags": flags, "frag_offset": frag, "ip_src0": s, "ip_dst0": d}
        if nonfirst:
            pres |= P.F_L4_SKIPPED
        else:
            f["l4_off"] = l2_end + hl
        segs.append(Seg("ipv4", hl, P.ParseError.TRUNCATED_IPV4, f, pres))
        pkt = pkt / ip
    else:
        s = str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
        d = str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
        ip = IPv6(src=s, dst=d, tc=dscp << 2 | ecn, hlim=ttl, fl=draw(st.integers(0, 2**20 - 1)))
        f = {"ip_version": 6, "dscp": dscp, "ecn": ecn, "ttl": ttl}
        for w, v in enumerate(_v6words(s)):
            f[f"ip_src{w}"] = v
        for w, v in enumerate(_v6words(d)):
            f[f"ip_dst{w}"] = v
        segs.append(Seg("ipv6", 40, P.ParseError.TRUNCATED_IPV6, f, P.F_IPV6))
        pkt = pkt / ip
        exts = draw(st.lists(st.sampled_from(["hbh", "rt", "dst", "frag"]), max_size=3))
        if "frag" in exts:  # the fragment header ends the walked chain when non-first; keep it last
            exts = [e for e in exts if e != "frag"] + ["frag"]
        hlen = 40
        for e in exts:
            if e == "hbh":
                h = IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * draw(st.sampled_from([4, 12])))])
            elif e == "rt":
                h = IPv6ExtHdrRouting(addresses=[d] * draw(st.integers(0, 2)))
            elif e == "dst":
                h = IPv6ExtHdrDestOpt()
            else:
                fo = draw(st.sampled_from([0, 0, 5, 8191]))
                m = draw(st.integers(0, 1))
                h = IPv6ExtHdrFragment(offset=fo, m=m)
            ln = len(h)
            hlen += ln
            ef = {}
            pres = 0
            if e == "frag":
                ef = {"frag_offset": fo, "ip_flags": m}
                pres = P.F_FRAGMENT | (P.F_L4_SKIPPED if fo else 0)
                nonfirst = fo != 0
            segs.append(Seg(f"ext-{e}", ln, P.ParseError.TRUNCATED_IPV6_EXT, ef, pres))
            pkt = pkt / h
        pkt.lastlayer().nh = proto
        segs[-1].fields.update(ip_hdr_len=hlen, ip_proto=proto)
        if not nonfirst:
            segs[-1].fields["l4_off"] = l2_end + hlen
    if nonfirst:
        return pkt / Raw(draw(st.binary(max_size=24))), segs, None
    if l4 == "udp":
        sp, dp = draw(ports), draw(ports)
        pkt = pkt / UDP(sport=sp, dport=dp)
        segs.append(Seg("udp", 8, P.ParseError.TRUNCATED_UDP, {"l4_sport": sp, "l4_dport": dp}, P.F_UDP))
    elif l4 in ("bth", "vxlan"):
        sp = draw(ports)
        dp = 4791 if l4 == "bth" else 4789
        pkt = pkt / UDP(sport=sp, dport=dp)
        segs.append(Seg("udp", 8, P.ParseError.TRUNCATED_UDP, {"l4_sport": sp, "l4_dport": dp}, P.F_UDP))
        if l4 == "bth":
            op, qp, psn = draw(st.integers(0, 255)), draw(st.integers(0, 2**24 - 1)), draw(st.integers(0, 2**24 - 1))
            ack, pkey = draw(st.integers(0, 1)), draw(st.integers(0, 65535))
            pkt = pkt / BTH(opcode=op, dqpn=qp, psn=psn, ackreq=ack, pkey=pkey)
            segs.append(Seg("bth", 12, P.ParseError.TRUNCATED_BTH,
                            {"bth_opcode": op, "bth_dest_qp": qp, "bth_psn": psn, "bth_ack_req": ack,
                             "bth_pkey": pkey}, P.F_BTH))
        else:
            vni = draw(st.integers(0, 2**24 - 1))
            pkt = pkt / VXLAN(vni=vni, flags=0x08)
            segs.append(Seg("vxlan", 8, P.ParseError.TRUNCATED_VXLAN, {"vxlan_vni": vni}, P.F_VXLAN))
            inner = draw(frames(allow_vxlan=False))
            return pkt / inner[0], segs, inner
    elif l4 == "tcp":
        sp, dp, fl = draw(st.integers(0, 65535)), draw(st.integers(0, 65535)), draw(st.integers(0, 0x1FF))
        nopt = 4 * draw(st.integers(0, 3))
        pkt = pkt / TCP(sport=sp, dport=dp, flags=fl, options=[("NOP", None)] * nopt)
        segs.append(Seg("tcp", 20 + nopt, P.ParseError.TRUNCATED_TCP,
                        {"l4_sport": sp, "l4_dport": dp, "tcp_flags": fl}, P.F_TCP))
    elif l4 == "icmp":
        if l3 == "ipv4":
            t, c = draw(st.integers(0, 255)), draw(st.integers(0, 255))
            pkt = pkt / ICMP(type=t, code=c)
        else:
            t, c = 128, draw(st.integers(0, 255))
            pkt = pkt / ICMPv6EchoRequest(code=c)
        segs.append(Seg("icmp", 4, P.ParseError.TRUNCATED_ICMP, {"icmp_type": t, "icmp_code": c}, P.F_ICMP))
    return pkt / Raw(draw(st.binary(max_size=16))), segs, inner


def _place(segs, start):
    pos = start
    for s in segs:
        s.start = pos
        pos += s.length
        for k in ("l3_off", "l4_off"):  # built relative to the frame, reported relative to the packet
            if k in s.fields:
                s.fields[k] += start
    return pos


def expected(segs, cut, base=0):
    """Row expected when the frame is cut at byte ``cut`` (absolute)."""
    exp = {"parse_error": 0, "present": 0}
    last_end = base
    for s in segs:
        if s.end > cut:
            exp["parse_error"] = int(s.error)
            break
        exp.update(s.fields)
        exp["present"] |= s.present
        last_end = s.end
    exp["payload_off"] = last_end
    return exp


def check_row(row, exp, what):
    for k, v in exp.items():
        assert row[k] == v, f"{what}: {k} = {row[k]}, expected {v}"


def _ip_fixup(segs, pkt_bytes):
    """ip_total_len as scapy computed it (from the built bytes)."""
    for s in segs:
        if s.name == "ipv4":
            s.fields["ip_total_len"] = int.from_bytes(pkt_bytes[s.start + 2:s.start + 4], "big")
        if s.name == "ipv6":
            plen = int.from_bytes(pkt_bytes[s.start + 4:s.start + 6], "big")
            s.fields["ip_total_len"] = plen + 40


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=frames())
def test_parser_agrees_with_scapy_at_every_truncation(case):
    pkt, segs, inner = case
    raw = bytes(pkt)
    end = _place(segs, 0)
    _ip_fixup(segs, raw)
    if inner is not None:
        _place(inner[1], end)
        _ip_fixup(inner[1], raw)
    cuts = list(range(len(raw) + 1))
    res = P.parse(PacketBatch.from_bytes([raw[:c] for c in cuts]))
    for c in cuts:
        exp = expected(segs, c)
        kern_o, kern_i = res.row(c), res.row(c, inner=True)
        ref_o, ref_i = parse_packet(raw[:c])
        check_row(kern_o, exp, f"kernel cut {c} of {pkt.summary()}")
        assert ref_o == kern_o, f"reference parser disagrees at cut {c}"
        assert ref_i == kern_i, f"reference parser (inner) disagrees at cut {c}"
        if inner is not None and c >= end:
            check_row(kern_i, expected(inner[1], c, base=end), f"inner, cut {c} of {pkt.summary()}")
        else:
            assert not any(kern_i.values()), "inner row must be empty without a complete VXLAN header"


def _one(pkt):
    r = P.parse(PacketBatch.from_bytes([bytes(pkt)]))
    ref = parse_packet(bytes(pkt))
    assert ref == (r.row(0), r.row(0, inner=True))
    return r.row(0)


def test_malformed_headers_are_flagged_not_raised():
    assert _one(Ether() / IP(ihl=4) / Raw(b"x" * 40))["parse_error"] == P.ParseError.BAD_IPV4_IHL
    bad_ver = bytearray(bytes(Ether() / IP() / UDP()))
    bad_ver[14] = 0x65
    assert _one(bad_ver)["parse_error"] == P.ParseError.BAD_IP_VERSION
    assert _one(Ether() / Dot1AD() / Dot1Q() / Dot1Q() / IP())["parse_error"] == P.ParseError.TOO_MANY_VLANS
    assert _one(Ether() / IP() / TCP(dataofs=3))["parse_error"] == P.ParseError.BAD_TCP_DATA_OFFSET
    chain = Ether() / IPv6()
    for _ in range(P.MAX_IPV6_EXT + 1):
        chain = chain / IPv6ExtHdrDestOpt()
    assert _one(chain / UDP())["parse_error"] == P.ParseError.IPV6_EXT_CHAIN_TOO_LONG
    assert _one(b"")["parse_error"] == P.ParseError.TRUNCATED_ETHERNET


def test_icmp_number_only_counts_for_its_ip_version():
    row = _one(Ether() / IPv6(nh=1) / Raw(b"\x08\x00\x00\x00"))
    assert row["ip_proto"] == 1 and not row["present"] & P.F_ICMP


def test_records_have_the_cli_keys():
    pkt = (Ether() / Dot1Q(vlan=7) / IP(src="10.1.2.3", dst="10.9.8.7", tos=0xB9) / UDP(sport=1, dport=4789)
           / VXLAN(vni=99) / Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=9, dport=4791)
           / BTH(opcode=10, dqpn=0xABCDE, psn=5, ackreq=1))
    rec = P.parse(PacketBatch.from_bytes([bytes(pkt)])).records()[0]
    assert rec["vlans"] == [7] and rec["ip_src"] == "10.1.2.3" and rec["dscp"] == 46 and rec["ecn"] == 1
    assert rec["vxlan_vni"] == 99 and rec["bth"] is None
    inner = rec["inner"]
    assert inner["ip_version"] == 6 and inner["ip_dst"] == "2001:db8::2" and inner["l4_dport"] == 4791
    assert inner["bth"] == {"opcode": 10, "dest_qp": 0xABCDE, "psn": 5, "ack_req": True, "pkey": 0xFFFF}
    for key in ("parse_error", "vlans", "ip_version", "ip_src", "ip_dst", "ip_proto", "dscp", "ecn",
                "l4_sport", "l4_dport", "bth", "vxlan_vni", "inner"):
        assert key in rec


def test_layouts_match_scapy_field_sizes():
    """The declared layouts have the sizes scapy's own fields_desc gives."""
    assert P.BTH.size_bytes == 12 and len(bytes(BTH())) - 4 == 12  # scapy appends the 4 B ICRC
    assert P.VXLAN.size_bytes == len(bytes(VXLAN())) == 8
    assert P.IPV4.size_bytes == len(bytes(IP())) == 20
    assert P.IPV6.size_bytes == len(bytes(IPv6())) == 40
    assert P.TCP.size_bytes == len(bytes(TCP())) == 20
    assert P.UDP.size_bytes == len(bytes(UDP())) == 8


@pytest.mark.parametrize("n", [0, 1, 1000])
def test_parse_empty_and_many(n):
    pkts = [bytes(Ether() / IP(dst=f"10.0.{i // 256}.{i % 256}") / UDP(dport=i % 4000 + 1)) for i in range(n)]
    r = P.parse(PacketBatch.from_bytes(pkts))
    assert len(r) == n
    if n:
        assert np.all(r["parse_error"] == 0)
        assert list(r["l4_dport"]) == [i % 4000 + 1 for i in range(n)]


def test_parse_cli_json(cli, tmp_path):
    import json

    from dpu.packets import write_pcap

    pkts = [Ether() / Dot1Q(vlan=5) / IP(src="10.0.0.1", dst="10.0.0.2", tos=0x6A) / UDP(sport=7, dport=4791)
            / BTH(dqpn=3, psn=4), Ether() / IP() / UDP(dport=4789) / VXLAN(vni=8) / Ether() / IPv6() / TCP(dport=22)]
    write_pcap(tmp_path / "p.pcap", PacketBatch.from_bytes([bytes(p) for p in pkts] + [bytes(pkts[0])[:20]]))
    r = cli(["dpu", "parse", tmp_path / "p.pcap", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc[0]["vlans"] == [5] and doc[0]["dscp"] == 26 and doc[0]["ecn"] == 2
    assert doc[0]["bth"] == {"opcode": 0, "dest_qp": 3, "psn": 4, "ack_req": False, "pkey": 0xFFFF}
    assert doc[1]["vxlan_vni"] == 8 and doc[1]["inner"]["ip_version"] == 6 and doc[1]["inner"]["l4_dport"] == 22
    assert doc[2]["parse_error"] == P.ParseError.TRUNCATED_IPV4 and doc[2]["inner"] is None
    (tmp_path / "bad.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 30)
    r = cli(["dpu", "parse", tmp_path / "bad.pcap"])
    assert r.exit_code == 2


def test_fused_fast_path_agrees_with_table_path():
    from dpu.fastpath import forward_exact
    from dpu.tables import ExactTable

    pkts = [bytes(Ether() / IP(dst=f"10.0.0.{i % 5}") / UDP(dport=i)) for i in range(50)]
    pkts += [bytes(Ether() / IP() / UDP(dport=4789) / VXLAN() / Ether() / IP(dst="10.0.0.1") / UDP()), b"\x00" * 10]
    b = PacketBatch.from_bytes(pkts)
    t = ExactTable("d", ["ip_dst0"], [[0x0A000001], [0x0A000003]])
    eg = forward_exact(b, t, np.array([4, 6]), miss_port=9)
    res = P.parse(b)
    idx = t.lookup(res["ip_dst0"].astype(np.uint64).reshape(-1, 1))
    want = np.where(res["parse_error"] != 0, -1, np.where(idx >= 0, np.array([4, 6])[idx], 9))
    assert eg.tolist() == want.tolist()


_PREFIXES = [b"", bytes(12) + b"\x08\x00", bytes(12) + b"\x86\xdd", bytes(12) + b"\x81\x00", bytes(12) + b"\x88\xa8",
             bytes(Ether() / IP(proto=17))[:34], bytes(Ether() / IP() / UDP(dport=4789))[:42],
             bytes(Ether() / IP() / UDP(dport=4791))[:42], bytes(Ether() / IPv6(nh=0))[:54],
             bytes(Ether() / IPv6(nh=44))[:54]]


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(_PREFIXES), tail=st.lists(st.binary(max_size=120), min_size=1, max_size=8))
def test_random_bytes_never_crash_and_match_reference(prefix, tail):
    """Arbitrary bytes behind plausible header prefixes: the kernel flags, never raises, and agrees
    with the bounds-checked pure-Python parser (which would raise on any read past the end)."""
    pkts = [prefix + t for t in tail]
    res = P.parse(PacketBatch.from_bytes(pkts))
    for i, raw in enumerate(pkts):
        assert parse_packet(raw) == (res.row(i), res.row(i, inner=True))
