"""Demo stage: DPU datapath: parse a few generated packets with the numba parser and check the
reference DPU spec against 400 Gb/s and <= 30 us one-way."""

from __future__ import annotations

import logging

from fabric.demo import DemoContext

TITLE = "dpu: numba parser and 400G / 30 us timing check"


def _packets() -> list[bytes]:
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.contrib.roce import BTH
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Dot1AD, Dot1Q
    from scapy.layers.l2 import Ether as _Ether
    from scapy.layers.vxlan import VXLAN

    def Ether():  # noqa: N802 - explicit MACs, so scapy never ARPs for a destination
        return _Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    pkts = [bytes(p) for p in (
        Ether() / IP(src="10.0.0.1", dst="10.0.1.1", tos=0x6A) / UDP(sport=49152, dport=4791)
        / BTH(opcode=10, dqpn=0x12, psn=7, ackreq=1),
        Ether() / Dot1AD(vlan=100) / Dot1Q(vlan=20) / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop() / TCP(sport=40000, dport=443),
        Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / UDP(sport=50000, dport=4789) / VXLAN(vni=5000)
        / Ether() / IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=49153, dport=4791) / BTH(dqpn=99, psn=1),
    )]
    pkts.append(bytes(Ether() / IP(dst="10.0.0.9") / TCP())[:30])  # truncated: flagged, not raised
    return pkts


def run(ctx: DemoContext) -> None:
    from dpu.packets import PacketBatch, write_pcap
    from dpu.parse import parse
    from dpu.spec import builtin_specs
    from dpu.timing import check, profile

    batch = PacketBatch.from_bytes(_packets())
    write_pcap(ctx.artefact("dpu-sample.pcap"), batch)
    recs = parse(batch).records()
    for i, r in enumerate(recs):
        parts = [f"  #{i} {r['parse_error_name']:<14} {'/'.join(r['headers']):<22}"]
        if r["ip_src"] is not None:
            parts.append(f"{r['ip_src']} -> {r['ip_dst']} dscp {r['dscp']} ecn {r['ecn']} dport {r['l4_dport']}")
        if r["bth"]:
            parts.append(f"BTH qp {r['bth']['dest_qp']} psn {r['bth']['psn']}")
        if r["vxlan_vni"] is not None:
            parts.append(f"VXLAN vni {r['vxlan_vni']}")
        inner = r["inner"]
        if inner:
            parts.append(f"inner {inner['ip_src']} -> {inner['ip_dst']}"
                         + (f" qp {inner['bth']['dest_qp']}" if inner["bth"] else ""))
        ctx.console.print("  ".join(parts))
    spec = builtin_specs()["ref-400g"]
    res = check(spec, profile("imix"), 1.0, 200_000, search_packets=100_000)
    lat = res["latency_us"]
    ctx.console.print(f"{spec.name} on IMIX at line rate: {res['throughput_gbps']:.1f} Gb/s ({res['mpps']:.1f} Mpps), "
                      f"latency p50 {lat['p50']:.2f} / p99.9 {lat['p999']:.2f} / max {lat['max']:.2f} us, "
                      f"dropped {res['dropped']}; verdict {res['verdict']}: {res['reason']}")
    ctx.results["dpu"] = {"parsed": len(recs), "parse_errors": sum(1 for r in recs if r["parse_error"]),
                          "spec": spec.name, "verdict": res["verdict"], "p999_us": lat["p999"],
                          "max_sustainable_gbps": res["max_sustainable_gbps"]}
