"""PacketBatch and pcap I/O against scapy's own pcap reader and writer."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import PcapNgWriter, PcapWriter, rdpcap  # noqa: E402

from dpu.packets import PacketBatch, read_pcap, write_pcap  # noqa: E402
from fabric.errors import PacketError  # noqa: E402


def _pkts(n=20):
    out = []
    for i in range(n):
        p = Ether() / IP(dst=f"10.0.0.{i}") / UDP(sport=i, dport=99) / Raw(b"x" * (i * 7 % 90))
        p.time = 1000 + i * 0.001 + 0.000_000_5  # small base: float64 keeps ns here
        out.append(p)
    return out


def test_write_then_scapy_reads_same_bytes_and_times(tmp_path):
    pkts = _pkts()
    b = PacketBatch.from_scapy(pkts)
    write_pcap(tmp_path / "a.pcap", b)
    back = rdpcap(str(tmp_path / "a.pcap"))
    assert [bytes(p) for p in back] == [bytes(p) for p in pkts]
    assert [int(round(float(p.time) * 1e9)) for p in back] == list(b.timestamps_ns)


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_read_scapy_written_pcap(tmp_path, nano, endian):
    pkts = _pkts()
    path = tmp_path / "b.pcap"
    w = PcapWriter(str(path), nano=nano, endianness=endian)
    for p in pkts:
        w.write(p)
    w.close()
    b = read_pcap(path)
    assert [b.packet(i) for i in range(len(b))] == [bytes(p) for p in pkts]
    tol = 1 if nano else 1000
    want = np.array([int(round(float(p.time) * 1e9)) for p in pkts])
    assert np.all(np.abs(b.timestamps_ns - want) <= tol)
    assert not b.truncated.any()


def test_read_pcapng(tmp_path):
    pkts = _pkts(5)
    path = tmp_path / "c.pcapng"
    w = PcapNgWriter(str(path))
    for p in pkts:
        w.write(p)
    w.close()
    b = read_pcap(path)
    assert [b.packet(i) for i in range(len(b))] == [bytes(p) for p in pkts]
    assert b.meta["format"] == "pcapng"


def test_snaplen_truncation_is_a_per_packet_flag(tmp_path):
    """A capture with snap length 50, written by hand from the pcap format."""
    frames = [bytes(p) for p in _pkts(4)]
    rec = b"".join(struct.pack("<IIII", 1, 2, min(50, len(f)), len(f)) + f[:50] for f in frames)
    path = tmp_path / "s.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 50, 1) + rec)
    b = read_pcap(path)
    assert list(b.lengths) == [min(50, len(f)) for f in frames]
    assert list(b.wire_lengths) == [len(f) for f in frames]
    assert list(b.truncated) == [len(f) > 50 for f in frames]
    assert list(b.timestamps_ns) == [1_000_002_000] * 4


def test_truncated_file_names_byte_offset(tmp_path):
    path = tmp_path / "t.pcap"
    write_pcap(path, PacketBatch.from_scapy(_pkts(3)))
    raw = path.read_bytes()
    first = 24 + 16 + len(bytes(_pkts(3)[0]))
    second = first + 16 + len(bytes(_pkts(3)[1]))
    (tmp_path / "cut.pcap").write_bytes(raw[:second + 5])
    with pytest.raises(PacketError, match=rf"cut\.pcap: byte {second}: truncated record header in record 2"):
        read_pcap(tmp_path / "cut.pcap")
    (tmp_path / "cut2.pcap").write_bytes(raw[:second + 20])
    with pytest.raises(PacketError, match=rf"byte {second}: truncated packet data"):
        read_pcap(tmp_path / "cut2.pcap")
    bad = bytearray(raw)
    bad[first + 8:first + 12] = struct.pack("<I", 10_000_000)
    (tmp_path / "bad.pcap").write_bytes(bytes(bad))
    with pytest.raises(PacketError, match=rf"byte {first + 8}: captured length above"):
        read_pcap(tmp_path / "bad.pcap")
    (tmp_path / "magic.pcap").write_bytes(b"\x00" * 30)
    with pytest.raises(PacketError, match="byte 0: not a pcap file"):
        read_pcap(tmp_path / "magic.pcap")


def test_empty_pcap_and_take(tmp_path):
    write_pcap(tmp_path / "e.pcap", PacketBatch.from_bytes([]))
    assert len(read_pcap(tmp_path / "e.pcap")) == 0
    b = PacketBatch.from_scapy(_pkts(6))
    sub = b.take(np.array([4, 1])).compact()
    assert [sub.packet(0), sub.packet(1)] == [b.packet(4), b.packet(1)]


def test_raw_ip_capture_is_parsed_and_refused_only_where_frames_are_rebuilt(cli, tmp_path):
    """`dpu parse` reads raw IP (link type 101) since the parser knows it; `dpu run` rebuilds Ethernet
    frames per egress port and still refuses anything but Ethernet, with one line."""
    path = tmp_path / "raw.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
                     + struct.pack("<IIII", 0, 0, 20, 20) + bytes(IP(src="10.0.0.1", dst="10.0.0.2")))
    assert read_pcap(path).linktype == 101
    r = cli(["dpu", "parse", path, "--json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)[0]
    assert (rec["parse_error"], rec["ip_version"], rec["ip_src"], rec["ip_dst"]) == (0, 4, "10.0.0.1", "10.0.0.2")
    r = cli(["dpu", "run", path, "--pipeline", str(Path(__file__).parents[1] / "dpu" / "data" / "example-pipeline.yaml"),
             "--out-dir", tmp_path / "out"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
