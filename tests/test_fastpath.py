"""The fused fast path (dpu.fastpath) on one and on many threads.

Oracles: the table-at-a-time path (dpu.parse.parse, itself checked field by field against the
pure-Python parser and scapy in test_dpu_parse.py) followed by ExactTable.lookup, and scapy's own
dissection of the packets it built. The multi-thread path must give the one-thread array bit for bit,
whatever the number of threads and wherever the chunks are cut.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.contrib.roce import BTH  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop  # noqa: E402
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from dpu.fastpath import CHUNKS_PER_THREAD, chunk_bounds, forward_exact  # noqa: E402
from dpu.packets import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, PacketBatch  # noqa: E402
from dpu.parse import COL, parse  # noqa: E402
from dpu.tables import ExactTable  # noqa: E402

MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}


def _templates() -> list:
    """Scapy packets covering every header the parser reads (and ones it stops at)."""
    out = []
    for k in range(4):
        d = f"10.0.{k}.{k + 1}"
        out += [
            Ether(**MAC) / IP(src="192.0.2.7", dst=d) / UDP(sport=1000 + k, dport=2000 + k) / Raw(b"\0" * 18),
            Ether(**MAC) / IP(dst=d, options=[IPOption_NOP()] * 4) / TCP(sport=k, dport=80) / Raw(b"x"),
            Ether(**MAC) / Dot1Q(vlan=10 + k) / IP(dst=d) / UDP(dport=4791) / BTH(opcode=10, dqpn=k) / Raw(b"\0" * 8),
            Ether(**MAC) / Dot1AD(vlan=5) / Dot1Q(vlan=6) / IP(dst=d) / ICMP(),
            Ether(**MAC) / IP(dst="192.0.2.1") / UDP(dport=4789) / VXLAN(vni=k) / Ether(**MAC) / IP(dst=d)
            / UDP(dport=53 + k),
            Ether(**MAC) / IP(dst="192.0.2.1") / UDP(dport=4789) / VXLAN(vni=k) / Ether(**MAC)
            / IPv6(dst=f"2001:db8::{k}") / TCP(dport=22),
            Ether(**MAC) / IPv6(dst=f"2001:db8::{k + 1}") / IPv6ExtHdrHopByHop() / UDP(dport=4791 + k),
            Ether(**MAC) / IPv6(dst="2001:db8::9") / IPv6ExtHdrFragment(offset=k) / UDP(dport=9),
            Ether(**MAC) / IP(dst=d, flags="MF", frag=k) / UDP(dport=7),
            Ether(**MAC) / IP(dst=d) / UDP(dport=9) / Raw(b"\0" * 1458),
        ]
    return out


TEMPLATES = [bytes(p) for p in _templates()]
KEY_SETS = [["ip_dst0"], ["ip_dst0", "l4_dport"], ["inner_ip_dst0"], ["eth_dst", "vlan0"],
            ["ip_proto", "inner_l4_dport", "bth_dest_qp"], ["ip_dst3", "ip_dst0"], ["inner_ip_dst3", "vxlan_vni"]]


def _as_linktype(frame: bytes, lt: int) -> bytes:
    """The Ethernet frame's L3 packet under another link type's header."""
    if lt == LINKTYPE_RAW:
        return frame[14:]
    if lt == LINKTYPE_LINUX_SLL:  # 16 B cooked header, protocol in the last two bytes
        return bytes(14) + frame[12:14] + frame[14:]
    return frame


def oracle(batch: PacketBatch, table: ExactTable, ports: np.ndarray, miss: int) -> np.ndarray:
    """Egress by the table-at-a-time path: parse to columns, then look the key columns up."""
    res = parse(batch)
    keys = np.ascontiguousarray(res.table[:, [COL[c] for c in table.fields]]).astype(np.uint64)
    idx = table.lookup(keys).tolist()
    return np.array([-1 if err else int(ports[j]) if j >= 0 else miss
                     for err, j in zip(res["parse_error"].tolist(), idx, strict=True)], dtype=np.int64)


@st.composite
def batches(draw):
    n = draw(st.integers(1, 60))
    pkts, lts = [], []
    per_packet_lt = draw(st.booleans())
    for _ in range(n):
        kind = draw(st.integers(0, 9))
        if kind == 0:  # arbitrary bytes
            p = draw(st.binary(max_size=80))
        else:
            p = draw(st.sampled_from(TEMPLATES))
            if draw(st.integers(0, 3)) == 0:  # cut anywhere (every header's truncation error)
                p = p[: draw(st.integers(0, len(p)))]
            if draw(st.integers(0, 5)) == 0 and p:  # one flipped byte
                k = draw(st.integers(0, len(p) - 1))
                p = p[:k] + bytes([p[k] ^ draw(st.integers(1, 255))]) + p[k + 1:]
        lt = draw(st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL])) if per_packet_lt else 1
        pkts.append(_as_linktype(p, lt) if len(p) >= 14 else p)
        lts.append(lt)
    batch = PacketBatch.from_bytes(pkts)
    if per_packet_lt:
        batch.linktypes = np.array(lts, dtype=np.int64)
    fields = draw(st.sampled_from(KEY_SETS))
    parsed = parse(batch)
    seen = {tuple(int(v) for v in parsed.table[i, [COL[c] for c in fields]]) for i in range(n)}
    keys = sorted(seen)[: draw(st.integers(0, len(seen)))]
    keys += [k for k in draw(st.lists(st.tuples(*[st.integers(0, 2**32)] * len(fields)), max_size=4)) if k not in seen]
    table = ExactTable("t", fields, [list(k) for k in dict.fromkeys(keys)])
    ports = np.array(draw(st.lists(st.integers(0, 63), min_size=len(table), max_size=len(table))), dtype=np.int64)
    return batch, table, ports


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=batches(), cores=st.integers(1, 5), min_chunk=st.integers(1, 20), miss=st.integers(-1, 9))
def test_threads_bit_identical_to_one_thread_and_to_table_path(case, cores, min_chunk, miss):
    batch, table, ports = case
    one = forward_exact(batch, table, ports, miss_port=miss)
    many = forward_exact(batch, table, ports, miss_port=miss, cores=cores, min_chunk_packets=min_chunk)
    assert many.dtype == one.dtype == np.int64
    assert many.tobytes() == one.tobytes()
    assert one.tolist() == oracle(batch, table, ports, miss).tolist()


def _scapy_key(pkt, fields: list[str]) -> tuple[int, ...]:
    """The key scapy's dissection gives (absent headers read as 0, as in the parser's columns)."""
    def ip_dst0(layer):
        ip = layer.getlayer(IP)
        return int.from_bytes(bytes(map(int, ip.dst.split("."))), "big") if ip is not None else 0

    def dport(layer):
        for proto in (UDP, TCP):
            if layer.haslayer(proto):
                return int(layer[proto].dport)
        return 0

    inner = pkt[VXLAN].payload if pkt.haslayer(VXLAN) else None
    get = {"ip_dst0": lambda: ip_dst0(pkt), "l4_dport": lambda: dport(pkt),
           "inner_ip_dst0": lambda: ip_dst0(inner) if inner is not None else 0,
           "inner_l4_dport": lambda: dport(inner) if inner is not None else 0}
    return tuple(get[f]() for f in fields)


@pytest.mark.parametrize("fields", [["ip_dst0"], ["ip_dst0", "l4_dport"], ["inner_ip_dst0", "inner_l4_dport"]])
def test_matches_scapy_dissection(fields):
    """Well-formed IPv4 packets with and without VXLAN: the egress port is the dict lookup of the key
    scapy dissects out of the same bytes, on one thread and on three."""
    rng = np.random.default_rng(7)
    pkts = []
    for k in range(300):
        d, port = f"10.1.{k % 7}.{k % 5}", int(rng.integers(1, 20))
        inner = Ether(**MAC) / IP(dst=d) / (UDP(dport=port) if k % 2 else TCP(dport=port))
        pkts.append(Ether(**MAC) / IP(dst="192.0.2.1") / UDP(dport=4789) / VXLAN(vni=1) / inner if k % 3 == 0
                    else inner / Raw(b"\0" * int(rng.integers(0, 40))))
    raw = [bytes(p) for p in pkts]
    keys = sorted({_scapy_key(Ether(r), fields) for r in raw})[::2]
    ports = np.arange(len(keys), dtype=np.int64) + 100
    port_of = dict(zip(keys, ports.tolist(), strict=True))
    want = [port_of.get(_scapy_key(Ether(r), fields), 5) for r in raw]
    table = ExactTable("t", fields, [list(k) for k in keys])
    batch = PacketBatch.from_bytes(raw)
    assert forward_exact(batch, table, ports, miss_port=5).tolist() == want
    assert forward_exact(batch, table, ports, miss_port=5, cores=3, min_chunk_packets=7).tolist() == want


def test_large_batch_default_chunks():
    """A batch big enough for the default chunk size, on 1-4 threads (each thread takes several chunks)."""
    rng = np.random.default_rng(1)
    n = 300_000
    pick = rng.integers(0, len(TEMPLATES), size=n)
    batch = PacketBatch.from_bytes([TEMPLATES[k] for k in pick.tolist()])
    table = ExactTable("d", ["ip_dst0"], [[0x0A000001 + 0x101 * k] for k in range(4)])
    ports = np.array([1, 2, 3, 4])
    one = forward_exact(batch, table, ports)
    assert len(chunk_bounds(n, 4)) == 4 * CHUNKS_PER_THREAD
    for cores in (2, 3, 4, None):
        assert np.array_equal(forward_exact(batch, table, ports, cores=cores), one)
    assert one.tolist() == oracle(batch, table, ports, -1).tolist()
    assert set(one.tolist()) >= {1, 2, 3, 4, -1}


@given(n=st.integers(0, 10_000), threads=st.integers(1, 64), min_chunk=st.integers(1, 5000))
def test_chunk_bounds_cover_the_batch(n, threads, min_chunk):
    b = chunk_bounds(n, threads, min_chunk)
    assert b[0][0] == 0 and b[-1][1] == n
    assert all(b[j][1] == b[j + 1][0] for j in range(len(b) - 1))
    assert len(b) <= max(1, threads * CHUNKS_PER_THREAD if threads > 1 else 1)
    if len(b) > 1:
        assert min(hi - lo for lo, hi in b) >= min_chunk


def test_bad_arguments():
    batch = PacketBatch.from_bytes([TEMPLATES[0]])
    table = ExactTable("d", ["ip_dst0"], [[1], [2]])
    for cores in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError, match="cores must be a positive integer or None"):
            forward_exact(batch, table, np.array([1, 2]), cores=cores)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="entry_port needs one port per entry of table 'd' \\(2\\), got shape \\(1,\\)"):
        forward_exact(batch, table, np.array([1]))
    empty = PacketBatch.from_bytes([])
    assert forward_exact(empty, table, np.array([1, 2]), cores=2).shape == (0,)
    assert forward_exact(batch, ExactTable("e", ["ip_dst0"], []), np.array([], dtype=np.int64), miss_port=3).tolist() == [3]


def test_data_ptr_refuses_non_contiguous_arrays():
    from numba import njit
    from numba.core.errors import TypingError

    from dpu.rawptr import data_ptr

    @njit
    def first(a):
        return data_ptr(a)[0]

    a = np.arange(10, dtype=np.int64)
    assert first(a) == 0
    with pytest.raises(TypingError):
        first(a[::2])


def test_kernel_releases_the_gil():
    from dpu.fastpath import parse_lookup_forward

    assert parse_lookup_forward.targetoptions.get("nogil") is True
    assert parse_lookup_forward._cache.__class__.__name__ == "FunctionCache"  # cache=True: compiled once


def _child_forward(q) -> None:
    batch = PacketBatch.from_bytes(TEMPLATES * 50)
    table = ExactTable("d", ["ip_dst0"], [[0x0A000001]])
    q.put(forward_exact(batch, table, np.array([4]), cores=2, min_chunk_packets=10).tolist())


def test_threads_after_fork():
    """A child made by fork() after the parent used its threads gets threads of its own (the parent's
    pool has no threads in the child: waiting on it would hang)."""
    import multiprocessing

    batch = PacketBatch.from_bytes(TEMPLATES * 50)
    table = ExactTable("d", ["ip_dst0"], [[0x0A000001]])
    want = forward_exact(batch, table, np.array([4]), cores=2, min_chunk_packets=10).tolist()
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_forward, args=(q,))
    p.start()
    try:
        assert q.get(timeout=60) == want
    finally:
        p.join(10)
        if p.is_alive():
            p.kill()
    assert p.exitcode == 0
