"""pcapng per draft-ietf-opsawg-pcapng (timestamp resolutions, interfaces, SPB, unknown and short
blocks) and non-Ethernet link types, with hand-built files and scapy as the oracle."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, rdpcap, wrpcap

from dpu.packets import INT64_MAX, read_pcap, require_ethernet
from dpu.parse import ParseError, ip_text, parse
from fabric.errors import PacketError

DATA = Path(__file__).parent / "data" / "pcap"
E = "<"


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def block(btype: int, body: bytes, endian: str = E) -> bytes:
    body = _pad(body)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def shb(endian: str = E) -> bytes:
    return block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def idb(linktype: int = 1, tsresol: int | None = None, snap: int = 0, tsoffset: int | None = None,
        endian: str = E) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += struct.pack(endian + "HH", 9, 1) + _pad(bytes([tsresol]))
    if tsoffset is not None:
        opts += struct.pack(endian + "HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack(endian + "HH", 0, 0)
    return block(1, struct.pack(endian + "HHI", linktype, 0, snap) + opts, endian)


def epb(iface: int, ticks: int, data: bytes, orig: int | None = None, endian: str = E) -> bytes:
    return block(6, struct.pack(endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                len(data) if orig is None else orig) + data, endian)


def spb(data: bytes, orig: int | None = None, endian: str = E) -> bytes:
    return block(3, struct.pack(endian + "I", len(data) if orig is None else orig) + data, endian)


def write(tmp_path: Path, raw: bytes, name: str = "t.pcapng") -> Path:
    p = tmp_path / name
    p.write_bytes(raw)
    return p


ETH = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))


# ------------------------------------------------------------------------------------------ timestamps

@pytest.mark.parametrize("tsresol,ticks,expect_ns", [
    (None, 1_500_000_000_123_456, 1_500_000_000_123_456_000),           # default 10^-6
    (6, 7, 7000),
    (9, 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),          # 10^-9: exact
    (0, 3, 3_000_000_000),                                              # seconds
    (0x80 | 30, 5 * 2**30 + 2**29, 5_500_000_000),                      # 2^-30: exact here
    (0x80 | 30, 1, 0),                                                  # 2^-30: 0.93 ns, floor
    (0x80 | 0, 2, 2_000_000_000),                                       # 2^0
    (12, 3 * 10**12 + 1500, 3_000_000_001),                             # 10^-12: floor to ns
    (12, 2**64 - 1, (2**64 - 1) // 1000),                               # large resolution, no overflow
    (127, 2**64 - 1, 0),                                                # 10^-127
    (0x80 | 127, 2**64 - 1, 0),                                         # 2^-127
    (6, 2**64 - 1, INT64_MAX),                                          # beyond int64 ns: saturated
    (0, 2**64 - 1, INT64_MAX),
])
def test_tsresol(tmp_path, tsresol, ticks, expect_ns):
    b = read_pcap(write(tmp_path, shb() + idb(tsresol=tsresol) + epb(0, ticks, ETH)))
    assert int(b.timestamps_ns[0]) == expect_ns
    assert b.meta.get("timestamps_saturated", 0) == (expect_ns == INT64_MAX)
    assert b.packet(0) == ETH


def test_tsoffset_and_big_endian_section(tmp_path):
    raw = shb(">") + idb(tsresol=9, tsoffset=10, endian=">") + epb(0, 5, ETH, endian=">")
    b = read_pcap(write(tmp_path, raw))
    assert int(b.timestamps_ns[0]) == 10_000_000_005 and b.packet(0) == ETH


# -------------------------------------------------------------------------------- interfaces and blocks

def test_two_interfaces_link_types_and_resolutions(tmp_path):
    sll = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02" * 6 + b"\0\0", proto=0x0800) / \
        IP(src="192.0.2.1", dst="192.0.2.9") / TCP(sport=4000, dport=80)
    raw = (shb() + idb(1, tsresol=9) + idb(113, tsresol=0x80 | 20)
           + epb(0, 11, ETH) + epb(1, 3 * 2**20, bytes(sll)) + epb(0, 12, ETH))
    b = read_pcap(write(tmp_path, raw))
    assert b.link_types.tolist() == [1, 113, 1] and b.uniform_linktype is None
    assert b.timestamps_ns.tolist() == [11, 3_000_000_000, 12]
    r = parse(b)
    assert r["parse_error"].tolist() == [0, 0, 0]
    assert r["l3_off"].tolist() == [14, 16, 14]
    assert r["l4_dport"].tolist() == [2, 80, 2]
    assert ip_text(r.row(1), "ip_src") == "192.0.2.1"
    with pytest.raises(PacketError, match="link types 1, 113"):
        require_ethernet(b)
    assert b.take(np.array([1])).link_types.tolist() == [113]
    assert b.compact().link_types.tolist() == [1, 113, 1]


def test_interface_ids_restart_per_section(tmp_path):
    raw = shb() + idb(1) + epb(0, 1, ETH) + shb(">") + idb(101, endian=">") + epb(0, 1, ETH[14:], endian=">")
    b = read_pcap(write(tmp_path, raw))
    assert b.link_types.tolist() == [1, 101]
    assert parse(b)["l3_off"].tolist() == [14, 0]
    with pytest.raises(PacketError, match="interface 1"):
        read_pcap(write(tmp_path, shb() + idb(1) + shb() + idb(1) + epb(1, 1, ETH)))


def test_simple_packet_block(tmp_path):
    b = read_pcap(write(tmp_path, shb() + idb(1, snap=20) + spb(ETH[:20], orig=len(ETH)) + spb(ETH[:10])))
    assert len(b) == 2 and b.packet(0) == ETH[:20] and b.packet(1) == ETH[:10]
    assert b.wire_lengths.tolist() == [len(ETH), 10] and b.truncated.tolist() == [True, False]
    assert b.timestamps_ns.tolist() == [0, 0]
    with pytest.raises(PacketError, match="before any interface"):
        read_pcap(write(tmp_path, shb() + spb(ETH)))


def test_unknown_blocks_are_skipped(tmp_path):
    raw = (shb() + block(0x0BAD, b"xyz") + idb(1) + block(4, b"\0" * 8) + block(0x40000BAD, b"\1" * 9)
           + epb(0, 1, ETH) + block(5, b"\0" * 8) + block(0x80000001, b""))
    b = read_pcap(write(tmp_path, raw))
    assert len(b) == 1 and b.packet(0) == ETH


# ------------------------------------------------------------------------------- short and corrupt blocks

def _small_file() -> bytes:
    return shb() + idb(1, tsresol=9, tsoffset=1) + epb(0, 99, ETH[:30]) + spb(ETH[:9]) + block(0xABC, b"q")


def test_truncated_at_every_byte_only_packet_error(tmp_path):
    raw = _small_file()
    boundaries = set()
    pos = 0
    while pos < len(raw):
        boundaries.add(pos)
        pos += struct.unpack_from("<I", raw, pos + 4)[0]
    p = tmp_path / "cut.pcapng"
    for cut in range(len(raw)):
        p.write_bytes(raw[:cut])
        if cut in boundaries and cut >= 28:
            read_pcap(p)
            continue
        with pytest.raises(PacketError, match=r"byte \d+"):
            read_pcap(p)


@pytest.mark.parametrize("raw,match", [
    (shb() + block(1, b"\0" * 4), "interface description block too short"),
    (shb() + idb(1) + block(6, b"\0" * 12), "enhanced packet block too short"),
    (shb() + idb(1) + block(3, b""), "simple packet block too short"),
    (shb() + block(1, struct.pack("<HHIHH", 1, 0, 0, 9, 200)), "option 9"),
    (block(0x0A0D0D0A, struct.pack("<I", 0x1A2B3C4D)), "section header block too short"),
    (shb() + idb(1) + epb(0, 1, ETH)[:-4] + b"\0\0\0\0", "trailer"),
    (shb() + idb(1) + epb(0, 1, ETH)[:4] + struct.pack("<I", 13) + b"\0" * 16, "block length 13"),
    (shb() + idb(1) + block(6, struct.pack("<IIIII", 0, 0, 0, 10**6, 10**6)), "captured length"),
])
def test_short_or_corrupt_blocks(tmp_path, raw, match):
    with pytest.raises(PacketError, match=match):
        read_pcap(write(tmp_path, raw))


def test_byte_flips_only_packet_error(tmp_path):
    raw = bytearray(_small_file())
    rng = np.random.default_rng(7)
    p = tmp_path / "flip.pcapng"
    for _ in range(400):
        m = bytearray(raw)
        for k in rng.integers(0, len(m), size=3):
            m[k] = int(rng.integers(0, 256))
        p.write_bytes(bytes(m))
        try:
            parse(read_pcap(p))
        except PacketError:
            pass


# ---------------------------------------------------------------------------------------------- link types

def _oracle(pkts, batch) -> None:
    """Our parsed L3/L4 fields equal scapy's dissection, packet by packet."""
    r = parse(batch)
    for i, pkt in enumerate(pkts):
        row = r.row(i)
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if ip is None:
            assert row["ip_version"] == 0, (i, pkt.summary())
            continue
        assert row["parse_error"] == 0, (i, pkt.summary(), row["parse_error"])
        assert row["l3_off"] == len(bytes(pkt)) - len(bytes(ip)), (i, pkt.summary())
        assert row["ip_version"] == ip.version
        assert ip_text(row, "ip_src") == ip.src and ip_text(row, "ip_dst") == ip.dst
        l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP)
        if l4 is not None and not (ip.version == 4 and ip.frag):
            assert (row["l4_sport"], row["l4_dport"]) == (l4.sport, l4.dport)


def _scapy_pkts():
    v4 = IP(src="198.51.100.7", dst="203.0.113.5") / UDP(sport=5353, dport=53)
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=443, dport=50000)
    return {
        113: [CookedLinux(proto=0x0800) / v4, CookedLinux(proto=0x86DD) / v6],
        276: [CookedLinuxV2(proto=0x0800) / v4, CookedLinuxV2(proto=0x86DD) / v6],
        101: [v4, v6],
        228: [v4],
        229: [v6],
    }


@pytest.mark.parametrize("linktype", [113, 276, 101, 228, 229])
def test_link_types_pcap_and_pcapng_match_scapy(tmp_path, linktype):
    pkts = _scapy_pkts()[linktype]
    p = tmp_path / "a.pcap"
    wrpcap(str(p), pkts, linktype=linktype)
    b = read_pcap(p)
    assert b.linktype == linktype
    _oracle(rdpcap(str(p)), b)
    if linktype == 101:  # scapy's PcapNgWriter writes bare IP as 228/229 (one interface for both)
        return
    q = tmp_path / "a.pcapng"
    w = PcapNgWriter(str(q))
    for pkt in pkts:
        w.write(pkt)
    w.close()
    b = read_pcap(q)
    assert b.link_types.tolist() == [linktype] * len(pkts)
    _oracle(rdpcap(str(q)), b)


def test_scapy_pcapng_interfaces_of_different_link_types(tmp_path):
    """scapy's PcapNgWriter writes one IDB per link type; EPBs pick theirs."""
    pk = _scapy_pkts()
    pkts = [Ether() / pk[101][0], pk[113][1], pk[276][0], pk[101][1], Ether() / pk[229][0]]
    q = tmp_path / "mixed.pcapng"
    w = PcapNgWriter(str(q))
    for pkt in pkts:
        w.write(pkt)
    w.close()
    b = read_pcap(q)
    back = rdpcap(str(q))
    assert len(b) == len(back) == len(pkts)
    _oracle(back, b)


def test_unsupported_link_type_reported_per_packet(tmp_path):
    # 802.11 (105), PPP (9): never read as Ethernet
    raw = shb() + idb(105) + idb(9) + idb(1) + epb(0, 1, ETH) + epb(1, 1, ETH) + epb(2, 1, ETH)
    r = parse(read_pcap(write(tmp_path, raw)))
    assert r["parse_error"].tolist() == [ParseError.UNSUPPORTED_LINKTYPE] * 2 + [0]
    assert r["present"].tolist()[:2] == [0, 0] and r["ip_version"].tolist() == [0, 0, 4]


@pytest.mark.parametrize("linktype,cut,err", [
    (113, 15, ParseError.TRUNCATED_LINK), (276, 19, ParseError.TRUNCATED_LINK),
    (101, 0, ParseError.TRUNCATED_LINK), (228, 10, ParseError.TRUNCATED_IPV4),
    (0, 3, ParseError.TRUNCATED_LINK),
])
def test_truncated_link_headers(tmp_path, linktype, cut, err):
    full = {113: bytes(_scapy_pkts()[113][0]), 276: bytes(_scapy_pkts()[276][0]), 101: ETH[14:],
            228: ETH[14:], 0: b"\2\0\0\0" + ETH[14:]}[linktype]
    b = read_pcap(write(tmp_path, shb() + idb(linktype) + epb(0, 1, full[:cut]) + epb(0, 1, full)))
    r = parse(b)
    assert r["parse_error"].tolist() == [err, 0]
    assert r["ip_version"].tolist() == [0, 4]


def test_raw_ip_bad_version(tmp_path):
    r = parse(read_pcap(write(tmp_path, shb() + idb(101) + epb(0, 1, b"\x50" + ETH[15:]))))
    assert r["parse_error"].tolist() == [ParseError.BAD_IP_VERSION]


# ------------------------------------------------------------------------------------------ real captures

REAL = sorted(DATA.glob("*.pcap*"))


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_captures_parse_like_scapy(path):
    b = read_pcap(path)
    r = parse(b)
    assert len(r) == len(b) > 0
    lt = b.link_types
    if 104 in lt:  # Cisco HDLC: not parsed, reported
        assert (r["parse_error"][lt == 104] == ParseError.UNSUPPORTED_LINKTYPE).all()
        return
    pkts = list(rdpcap(str(path)))
    if b.uniform_linktype == 0:  # scapy's Loopback knows AF_INET6 only by its Linux/OpenBSD numbers
        fam = {2: IP, 24: IPv6, 28: IPv6, 30: IPv6}
        pkts = [Raw(bytes(p)[:4]) / fam[bytes(p)[0]](bytes(p)[4:]) if bytes(p)[0] in fam else p
                for p in pkts]
    _oracle(pkts, b)


def test_crashing_capture_now_parses():
    b = read_pcap(DATA / "Tests__Pcap++Test__PcapExamples__pcapng-example.pcapng")
    assert len(b) == 159 and set(b.link_types.tolist()) == {1, 113}
    on_sll = b.link_types == 113
    assert int(on_sll.sum()) == b.meta["timestamps_saturated"] > 0
    assert (b.timestamps_ns[on_sll] == INT64_MAX).all()
    assert b.timestamps_ns[~on_sll][0] == ((331208109 << 32) | 2253399017)  # if_tsresol 10^-9
    r = parse(b)
    assert (r["l3_off"][on_sll] == 16).all() and (r["ip_version"][on_sll] > 0).all()
