"""Pipeline actions against hand-computed cases and scapy: meters (RFC 2698), counters, WCMP weights,
ECN marking, DSCP rewrite, VXLAN encap/decap; pipeline file errors; ``fabricctl dpu run``."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import rdpcap, wrpcap  # noqa: E402

from dpu.packets import PacketBatch  # noqa: E402
from dpu.pipeline import Pipeline, load_pipeline  # noqa: E402
from fabric.errors import ConfigError  # noqa: E402


def fwd_all(extra_tables=(), **doc):
    tables = list(extra_tables) + [{"name": "route", "kind": "lpm", "family": 4, "key": "ip_dst",
                                    "entries": [{"prefix": "0.0.0.0/0", "action": "forward", "params": {"port": 0}}]}]
    return Pipeline({"ports": 4, "tables": tables, **doc})


def batch(pkts, ts=None):
    return PacketBatch.from_bytes([bytes(p) for p in pkts], ts)


def _valid_ipv4_checksum(frame: bytes) -> bool:
    p = Ether(frame)
    c = p[IP].chksum
    del p[IP].chksum
    return Ether(bytes(p))[IP].chksum == c


def test_trtcm_hand_case():
    """CIR 1 B/ns, CBS 1000, PIR 2 B/ns, PBS 2000, 500 B packets: G G Y Y R at t=0, then Y at 250 ns
    (Tc refilled to 250 < 500, Tp to 500 >= 500)."""
    meter = {"m": {"cir_bps": 8e9, "cbs_bytes": 1000, "pir_bps": 16e9, "pbs_bytes": 2000, "yellow_dscp": 10}}
    pl = fwd_all([{"name": "police", "kind": "ternary", "key": ["ip_proto"],
                   "entries": [{"match": [[0, 0]], "priority": 1, "action": "meter", "params": {"meter": "m"}}]}],
                 meters=meter)
    pkt = Ether() / IP(dst="10.0.0.1") / UDP() / Raw(b"x" * (500 - 42))
    assert len(bytes(pkt)) == 500
    r = pl.run(batch([pkt] * 6, [0, 0, 0, 0, 0, 250]))
    assert r.color.tolist() == [0, 0, 1, 1, 2, 1]
    assert r.dropped.tolist() == [False] * 4 + [True, False]
    assert [Ether(r.out.packet(i))[IP].tos >> 2 for i in (0, 2, 5)] == [0, 10, 10]
    assert _valid_ipv4_checksum(r.out.packet(2))


def test_counters_per_entry_and_miss():
    pl = fwd_all([{"name": "acl", "kind": "exact", "key": ["l4_dport"],
                   "entries": [{"key": [80], "action": "noop"}, {"key": [23], "action": "drop"}]}])
    pkts = [Ether() / IP() / TCP(dport=80)] * 3 + [Ether() / IP() / TCP(dport=23)] + [Ether() / IP() / UDP(dport=1)]
    r = pl.run(batch(pkts))
    c = pl.counters()
    assert [e["packets"] for e in c["acl"]["entries"]] == [3, 1]
    assert [e["bytes"] for e in c["acl"]["entries"]] == [3 * 54, 54]
    assert c["acl"]["miss"] == {"packets": 1, "bytes": 42}
    assert c["route"]["entries"][0]["packets"] == 4  # the dropped packet skips later tables
    assert r.summary()["forwarded"] == 4


def test_wcmp_follows_weights_and_pins_flows():
    pl = Pipeline({"ports": 3, "wcmp_groups": {"g": [{"port": 0, "weight": 5}, {"port": 1, "weight": 2},
                                                   {"port": 2, "weight": 1}]},
                   "tables": [{"name": "r", "kind": "lpm", "key": "ip_dst", "entries": [
                       {"prefix": "10.0.0.0/8", "action": "wcmp", "params": {"group": "g"}}]}]})
    rng = np.random.default_rng(3)
    tpl = bytearray(bytes(Ether() / IP(src="192.168.0.0", dst="10.1.1.1") / UDP(sport=1, dport=4791)))
    pkts = []
    for src, sport in zip(rng.integers(0, 2**16, 16000), rng.integers(1024, 65535, 16000), strict=True):
        tpl[28:30] = int(src).to_bytes(2, "big")  # low half of the IPv4 source (checksums are not checked)
        tpl[34:36] = int(sport).to_bytes(2, "big")
        pkts.append(bytes(tpl))
    r = pl.run(batch(pkts))
    share = np.bincount(r.egress, minlength=3) / len(pkts)
    assert np.allclose(share, [5 / 8, 2 / 8, 1 / 8], atol=0.015), share
    again = pl.run(batch(pkts[:100]))
    assert again.egress.tolist() == r.egress[:100].tolist()


def test_ecn_marks_above_threshold_only_ect():
    """400 Gb/s port drains 50 B/ns; 1000 B packets at t=0 see queues 0,1000,2000,3000,4000."""
    pl = fwd_all([{"name": "ecn", "kind": "ternary", "key": ["ip_version"], "entries": [
        {"match": [[0, 0]], "priority": 0, "action": "ecn_mark", "params": {"threshold_bytes": 2500}}]}],
        port_rate_gbps=400)
    pkts = [Ether() / IP(dst="10.0.0.1", tos=2) / UDP() / Raw(b"x" * 958)] * 4
    pkts.append(Ether() / IP(dst="10.0.0.1", tos=0) / UDP() / Raw(b"x" * 958))  # not ECT: never marked
    pkts.append(Ether() / IP(dst="10.0.0.1", tos=1) / UDP() / Raw(b"x" * 958))  # at 1000 ns: queue drained
    r = pl.run(batch(pkts, [0, 0, 0, 0, 0, 1000]))
    assert r.ecn_marked.tolist() == [0, 0, 0, 1, 0, 0]
    assert Ether(r.out.packet(3))[IP].tos & 3 == 3 and _valid_ipv4_checksum(r.out.packet(3))
    assert Ether(r.out.packet(4))[IP].tos & 3 == 0


def test_set_dscp_ipv6_keeps_ecn():
    pl = Pipeline({"ports": 1, "tables": [{"name": "a", "kind": "exact", "key": ["ip_version"], "entries": [
        {"key": [6], "action": "set_dscp", "params": {"dscp": 46}}]},
        {"name": "r", "kind": "lpm", "family": 6, "key": "ip_dst", "entries": [
            {"prefix": "::/0", "action": "forward", "params": {"port": 0}}]}]})
    r = pl.run(batch([Ether() / IPv6(dst="2001:db8::1", tc=0x01, fl=0xABCDE) / UDP()]))
    out = Ether(r.out.packet(0))
    assert out[IPv6].tc == (46 << 2) | 1 and out[IPv6].fl == 0xABCDE


def test_vxlan_encap_then_decap_round_trip():
    tpl = {"t": {"src_mac": "02:00:00:00:00:01", "dst_mac": "02:00:00:00:00:02", "src_ip": "192.0.2.1",
                 "dst_ip": "198.51.100.9", "vni": 777}}
    enc = fwd_all([{"name": "e", "kind": "exact", "key": ["ip_proto"], "entries": [
        {"key": [6], "action": "vxlan_encap", "params": {"template": "t"}}]}], vxlan_templates=tpl)
    inner = Ether(src="02:aa:00:00:00:01") / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80) / Raw(b"hi")
    r = enc.run(batch([inner]))
    out = Ether(r.out.packet(0))
    assert out[IP].src == "192.0.2.1" and out[IP].dst == "198.51.100.9" and out[UDP].dport == 4789
    assert 49152 <= out[UDP].sport <= 65535 and out[VXLAN].vni == 777
    assert out[IP].len == len(bytes(inner)) + 36 and out[UDP].len == len(bytes(inner)) + 16
    assert bytes(out[VXLAN].payload) == bytes(inner) and _valid_ipv4_checksum(r.out.packet(0))
    dec = fwd_all([{"name": "d", "kind": "exact", "key": ["vxlan_vni"], "entries": [
        {"key": [777], "action": "vxlan_decap"}]}])
    back = dec.run(r.out)
    assert back.out.packet(0) == bytes(inner)


def test_no_route_is_dropped_and_reported():
    pl = Pipeline({"ports": 1, "tables": [{"name": "r", "kind": "lpm", "key": "ip_dst", "entries": [
        {"prefix": "10.0.0.0/8", "action": "forward", "params": {"port": 0}}]}]})
    r = pl.run(batch([Ether() / IP(dst="11.0.0.1") / UDP(), Ether() / IPv6() / UDP()]))
    assert r.summary()["no_route"] == 2 and r.summary()["forwarded"] == 0


@pytest.mark.parametrize("doc, match", [
    ({"tables": [{"kind": "exact", "key": ["ip_proto"], "entries": [{"key": [6], "action": "teleport"}]}]},
     r"tables\[0\].entries\[0\].action: unknown action 'teleport'"),
    ({"ports": 2, "tables": [{"kind": "exact", "key": ["ip_proto"],
                              "entries": [{"key": [6], "action": "forward", "params": {"port": 5}}]}]},
     r"tables\[0\].entries\[0\].params.port: port 5 outside 0..1"),
    ({"tables": [{"kind": "exact", "key": ["ip_protocol"], "entries": []}]}, r"tables\[0\].key: unknown key field"),
    ({"tables": [{"kind": "lpm", "key": "ip_dst", "entries": [
        {"prefix": "10.0.0.0/8", "action": "drop"}, {"prefix": "10.0.0.0/8", "action": "drop"}]}]},
     r"entries\[1\]: duplicate prefix"),
    ({"tables": [], "colour": 1}, "unknown key 'colour'"),
    ({"meters": {"m": {"cir_bps": 2, "cbs_bytes": 1, "pir_bps": 1, "pbs_bytes": 1}}, "tables": [{"kind": "exact",
      "key": ["ip_proto"]}]}, "PIR >= CIR"),
])
def test_pipeline_errors_name_file_and_path(tmp_path, doc, match):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=match) as ei:
        load_pipeline(f)
    assert str(f) in str(ei.value)


def test_run_cli_writes_port_pcaps_and_counters(cli, tmp_path):
    pkts = [Ether() / IP(src="1.1.1.1", dst="10.0.0.5") / UDP(sport=i, dport=4791) for i in range(40)]
    pkts.append(Ether() / IP(dst="10.0.0.5") / TCP(dport=23))
    wrpcap(str(tmp_path / "in.pcap"), pkts)
    from pathlib import Path

    import dpu

    example = Path(dpu.__file__).parent / "data" / "example-pipeline.yaml"
    r = cli(["dpu", "run", tmp_path / "in.pcap", "--pipeline", example, "--out-dir", tmp_path / "out", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["forwarded"] == 40 and doc["dropped"] == 1
    got = sum(len(rdpcap(str(tmp_path / "out" / f"port-{p}.pcap"))) for p in range(4))
    assert got == 40
    assert json.loads((tmp_path / "out" / "counters.json").read_text())["counters"]["acl"]["entries"][0]["packets"] == 1
    bad = cli(["dpu", "run", tmp_path / "in.pcap", "--pipeline", tmp_path / "none.yaml", "--out-dir", tmp_path / "o2"])
    assert bad.exit_code == 2 and not (tmp_path / "o2").exists()
