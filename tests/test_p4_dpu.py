"""The DPU executes the switch's program (issue 12): a P4 program's IR and one switch's entries turned
into a dpu.pipeline (p4.dpu), fed scapy-crafted packets whose output scapy dissects. Checked: the WCMP
split over next hops against the planned weights, RED-like ECN marking by queue depth against its
formula (and a pure-Python reference of the marking kernel), TTL / hop limit, IPv4 checksum and MAC
rewrite, route misses, port admission, the ACL, and the example fabric's plan end to end."""

from __future__ import annotations

import ipaddress
import logging
import random

import numpy as np
import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.contrib.roce import BTH  # noqa: E402
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from dpu.packets import PacketBatch  # noqa: E402
from fabric.errors import ConfigError  # noqa: E402
from p4.dpu import pipeline_doc, to_pipeline  # noqa: E402
from p4.entries import AclEntry, EcnThresholds, Nexthop, Route, SwitchEntries, WcmpGroup  # noqa: E402
from p4.programs import CPU_PORT, ProgramOptions, build_program  # noqa: E402

LEAF_MAC = 0x02AA00000001
NH_MAC = {1: 0x02BB00000001, 2: 0x02BB00000002, 3: 0x02BB00000003}
NH_PORT = {1: 1, 2: 2, 3: 3}
KMIN, KMAX, SLOPE = 10, 50, 1638          # p = (depth - 10) * 1638 / 2^16: 0.5 at depth 30
MTU = 1500
RATE_GBPS = 400.0
SLOT_NS = MTU * 8 / RATE_GBPS             # one MTU packet drains in 30 ns


def mac(v: int) -> str:
    return ":".join(f"{(v >> (40 - 8 * k)) & 0xFF:02x}" for k in range(6))


def leaf_entries(weights=(3, 1), acl=(), role="leaf") -> SwitchEntries:
    """A leaf with uplinks 1, 2 (WCMP group 1) and a host port 3; ports 1..4 admitted."""
    nhs = tuple(Nexthop(i, f"n{i}", f"p{i}", NH_PORT[i], LEAF_MAC, NH_MAC[i]) for i in (1, 2, 3))
    routes = (Route("10.1.0.0/16", wcmp_group_id=1), Route("10.0.0.5/32", nexthop_id=3),
              Route("10.0.0.0/24", nexthop_id=1), Route("fd00:1::/64", wcmp_group_id=1))
    ecn = tuple(EcnThresholds(p, KMIN, KMAX, SLOPE) for p in (1, 2, 3))
    return SwitchEntries("leaf1", role, {f"p{i}": i for i in range(1, 5)}, (1, 2, 3, 4), {26: 3}, routes, nhs,
                         (WcmpGroup(1, ((1, weights[0]), (2, weights[1]))),), ecn, tuple(acl))


def eth(**kw):
    """Ethernet with both MACs given (scapy would otherwise resolve the destination by ARP)."""
    return Ether(src="02:00:00:00:00:09", dst=mac(LEAF_MAC), **kw)


def batch(pkts, ts=None) -> PacketBatch:
    return PacketBatch.from_bytes([p if isinstance(p, bytes) else bytes(p) for p in pkts], ts)


def flows(n, dst, seed, v6=False) -> list[bytes]:
    """n flows to ``dst`` with random UDP source ports: a third RoCEv2 with a BTH (random destination
    QP), a third UDP 4791 without one, a third plain UDP. Each kind is crafted once by scapy (UDP
    checksum 0 for IPv4: "none", RFC 768) and its source port (and QP) written per flow, which keeps
    10,000 flows quick to make."""
    rng = random.Random(seed)
    l3 = IPv6(src="fd00:9::1", dst=dst) if v6 else IP(src="10.9.0.1", dst=dst)
    kinds = [eth() / l3 / UDP(sport=0, dport=4791, chksum=0) / BTH() / Raw(b"r" * 16),
             eth() / l3 / UDP(sport=0, dport=4791, chksum=0) / Raw(b"u" * 16),
             eth() / l3 / UDP(sport=0, dport=0, chksum=0) / Raw(b"x" * 16)]
    l4 = 14 + (40 if v6 else 20)
    tpl = [bytearray(bytes(k)) for k in kinds]
    out = []
    for k in range(n):
        b = bytearray(tpl[k % 3])
        b[l4:l4 + 2] = rng.randrange(1024, 65536).to_bytes(2, "big")
        if k % 3 == 0:
            b[l4 + 8 + 5:l4 + 8 + 8] = rng.randrange(1 << 24).to_bytes(3, "big")
        elif k % 3 == 2:
            b[l4 + 2:l4 + 4] = rng.randrange(1024, 65536).to_bytes(2, "big")
        out.append(bytes(b))
    return out


def ipv4_checksum_ok(pkt) -> bool:
    c = pkt[IP].chksum
    q = pkt.copy()
    del q[IP].chksum
    return Ether(bytes(q))[IP].chksum == c


# ------------------------------------------------------------------------------------------ WCMP
@pytest.mark.parametrize(("weights", "v6"), [((3, 1), False), ((5, 2), False), ((3, 1), True)])
def test_wcmp_split_follows_planned_weights(weights, v6):
    pl = to_pipeline(build_program("leaf"), leaf_entries(weights), mtu_bytes=MTU)
    n = 10_000
    pkts = flows(n, "fd00:1::7" if v6 else "10.1.2.3", seed=7, v6=v6)
    r = pl.run(batch(pkts), ingress_port=3)
    assert r.keep.all()
    share = {p: float((r.egress == p).mean()) for p in (1, 2)}
    want = {1: weights[0] / sum(weights), 2: weights[1] / sum(weights)}
    for p in (1, 2):
        assert abs(share[p] - want[p]) <= 0.03, (share, want)
    # scapy's view of what left: each egress port's packets carry that next hop's MACs, the flow intact
    for i in range(0, n, 7):
        out, sent = Ether(r.out.packet(i)), Ether(pkts[i])
        nh = int(r.egress[i])
        assert (out.src, out.dst) == (mac(LEAF_MAC), mac(NH_MAC[nh]))
        assert out[UDP].sport == sent[UDP].sport and (BTH in out) == (BTH in sent)
    # a flow is pinned: the same packets again take the same ports
    again = pl.run(batch(pkts[:500]), ingress_port=3)
    assert (again.egress == r.egress[:500]).all()


def test_selector_keys_decide_the_hash():
    """With hash_qp (E-ECMP) the BTH destination QP spreads flows that share their 5-tuple; without it
    they all take one member, as the program's selector keys say."""
    one = bytes(eth() / IP(src="10.9.0.1", dst="10.1.0.9") / UDP(sport=5000, dport=4791, chksum=0) / BTH(dqpn=0))
    qps = [one[:47] + q.to_bytes(3, "big") + one[50:] for q in range(2000)]   # BTH dest QP: bytes 5-7
    assert Ether(qps[77])[BTH].dqpn == 77
    plain = to_pipeline(build_program("leaf"), leaf_entries((1, 1))).run(batch(qps), ingress_port=1)
    assert len(set(plain.egress.tolist())) == 1
    qp = to_pipeline(build_program("leaf", ProgramOptions(hash_qp=True)), leaf_entries((1, 1)))
    r = qp.run(batch(qps), ingress_port=1)
    assert abs(float((r.egress == 1).mean()) - 0.5) <= 0.05


# ------------------------------------------------------------------------------------------- ECN
def held_queue(depth, probes, ecn_cycle=(1, 2, 0)):
    """``depth + 1`` MTU packets at t=0, then a probe every drain slot: each probe meets a queue of
    ``depth`` packets (one left during the slot, the probe adds one back). Probes cycle through ECN
    codepoints (ECT(1), ECT(0), not-ECT)."""
    pad = MTU - 14 - 20 - 8
    fill = [bytes(eth() / IP(dst="10.0.0.5", tos=0) / UDP(sport=1, dport=2) / Raw(b"f" * pad))] * (depth + 1)
    kinds = [bytes(eth() / IP(dst="10.0.0.5", tos=e) / UDP(sport=3, dport=4791) / Raw(b"p" * pad))
             for e in ecn_cycle]
    probe = [kinds[k % len(kinds)] for k in range(probes)]
    ts = [0] * len(fill) + [round((k + 1) * SLOT_NS) for k in range(probes)]
    return fill + probe, ts, len(fill)


def ecn_run(depth, probes=600, seed=1):
    pl = to_pipeline(build_program("leaf"), leaf_entries(), mtu_bytes=MTU, port_rate_gbps=RATE_GBPS, seed=seed)
    pkts, ts, nfill = held_queue(depth, probes)
    r = pl.run(batch(pkts, ts), ingress_port=1)
    assert r.keep.all() and (r.egress == 3).all()
    outs = [Ether(r.out.packet(i)) for i in range(nfill, len(pkts))]
    sent = [Ether(pkts[i])[IP].tos & 3 for i in range(nfill, len(pkts))]
    got = [o[IP].tos & 3 for o in outs]
    assert all(ipv4_checksum_ok(o) for o in outs[:60])
    return sent, got


@pytest.mark.parametrize("depth", [KMAX, KMAX + 30])
def test_ecn_queue_above_kmax_marks_every_ect_packet(depth):
    sent, got = ecn_run(depth, probes=300)
    assert all(g == 3 for s, g in zip(sent, got, strict=True) if s in (1, 2))
    assert all(g == 0 for s, g in zip(sent, got, strict=True) if s == 0)   # not-ECT: never marked


@pytest.mark.parametrize("depth", [0, 3, KMIN])
def test_ecn_queue_at_or_below_kmin_marks_nothing(depth):
    sent, got = ecn_run(depth, probes=300)
    assert got == sent


def test_ecn_mark_fraction_grows_with_depth_as_the_formula_says():
    fracs = []
    for depth in (KMIN + 5, KMIN + 20, KMIN + 35):
        sent, got = ecn_run(depth, probes=3000)
        ect = [g for s, g in zip(sent, got, strict=True) if s in (1, 2)]
        assert all(g == 0 for s, g in zip(sent, got, strict=True) if s == 0)
        frac = sum(g == 3 for g in ect) / len(ect)
        want = (depth - KMIN) * SLOPE / 2**16
        assert abs(frac - want) <= 0.045, (depth, frac, want)
        fracs.append(frac)
    assert fracs == sorted(fracs) and fracs[0] < fracs[-1]


def red_reference(ts, lengths, ports, ecn, kmin, kmax, slope, mtu, rate_bytes_per_ns, draws):
    """Pure-Python model of the DPU's egress queue and RED-like marking (dpu.actions.ecn_kernel)."""
    q: dict[int, float] = {}
    last: dict[int, float] = {}
    marks = []
    for t, ln, p, e, d in zip(ts, lengths, ports, ecn, draws, strict=True):
        qq = max(0.0, q.get(p, 0.0) - (t - last.get(p, -np.inf)) * rate_bytes_per_ns)
        last[p] = max(t, last.get(p, -np.inf))
        depth = int(np.ceil(qq / mtu - 1e-6))
        m = e in (1, 2) and (depth >= kmax or (depth > kmin and d < (depth - kmin) * slope))
        marks.append(int(m))
        q[p] = qq + ln
    return marks


def test_red_kernel_matches_python_reference():
    rng = np.random.default_rng(3)
    n = 400
    ln = rng.integers(100, 1400, n)
    ts = np.cumsum(rng.integers(0, 12, n))
    dst = rng.choice(["10.0.0.5", "10.0.0.9"], n)          # nh3 (port 3) or nh1 (port 1)
    tos = rng.integers(0, 4, n)
    pkts = [eth() / IP(dst=str(d), tos=int(t)) / UDP(sport=9, dport=9) / Raw(b"z" * int(k))
            for d, t, k in zip(dst, tos, ln, strict=True)]
    seed, kmin, kmax, slope = 5, 2, 9, 6000
    e = leaf_entries()
    e = SwitchEntries(e.switch, e.role, e.ports, e.admit_ports, e.dscp_to_tc, e.routes, e.nexthops, e.groups,
                      tuple(EcnThresholds(p, kmin, kmax, slope) for p in (1, 3)))
    pl = to_pipeline(build_program("leaf"), e, mtu_bytes=1000, port_rate_gbps=RATE_GBPS, seed=seed)
    b = batch(pkts, ts.tolist())
    r = pl.run(b, ingress_port=2)
    draws = np.random.default_rng(seed).integers(0, 1 << 16, n, dtype=np.int64)
    want = red_reference(ts.tolist(), b.wire_lengths.tolist(), r.egress.tolist(), [t & 3 for t in tos.tolist()],
                         kmin, kmax, slope, 1000, RATE_GBPS / 8, draws.tolist())
    assert r.ecn_marked.tolist() == want
    assert 0 < sum(want) < n


# ---------------------------------------------------------------------- next hop, TTL, checksum
def test_nexthop_rewrites_macs_decrements_ttl_and_fixes_checksum():
    pl = to_pipeline(build_program("leaf"), leaf_entries())
    sent = [Ether(src="00:00:00:00:00:01", dst=mac(LEAF_MAC)) / IP(dst=d, ttl=t, tos=0x68, id=k)
            / UDP(sport=1000 + k, dport=4791) / BTH() / Raw(b"q" * 20)
            for k, (d, t) in enumerate([("10.0.0.5", 64), ("10.0.0.5", 2), ("10.0.0.5", 1), ("10.0.0.5", 0),
                                        ("10.1.7.7", 255), ("10.1.7.7", 1), ("10.0.0.77", 9)])]
    sent += [eth() / IPv6(dst="fd00:1::9", hlim=h) / UDP(sport=7, dport=4791) / BTH() for h in (5, 1)]
    r = pl.run(batch(sent), ingress_port=4)
    expired = [False, False, True, True, False, True, False, False, True]
    assert r.ttl_expired.tolist() == expired
    assert r.keep.tolist() == [not x for x in expired]
    assert r.summary()["ttl_expired"] == 4
    for i, pkt in enumerate(sent):
        if expired[i]:
            continue
        out = Ether(r.out.packet(i))
        nh = {"10.0.0.5": 3, "10.0.0.77": 1}.get(pkt[IP].dst) if IP in pkt else None
        assert int(r.egress[i]) == (nh or int(r.egress[i]))
        assert out.src == mac(LEAF_MAC) and out.dst == mac(NH_MAC[int(r.egress[i])])
        if IP in pkt:
            assert out[IP].ttl == pkt[IP].ttl - 1
            assert out[IP].tos == 0x68 and out[IP].id == pkt[IP].id and out[IP].dst == pkt[IP].dst
            assert ipv4_checksum_ok(out)
            assert out[IP].chksum != Ether(bytes(pkt))[IP].chksum
        else:
            assert out[IPv6].hlim == pkt[IPv6].hlim - 1
        assert bytes(out[UDP]) == bytes(pkt[UDP])    # nothing past L3 changes


# ------------------------------------------------------------------------- misses and admission
def test_route_miss_and_unadmitted_port_are_dropped():
    pl = to_pipeline(build_program("leaf"), leaf_entries())
    pkts = [eth() / IP(dst="192.168.1.1") / UDP(), eth() / IPv6(dst="fd00:2::1") / UDP(),
            eth() / IP(dst="10.0.0.5") / UDP(), eth(type=0x88CC) / Raw(b"lldp" * 10)]
    r = pl.run(batch(pkts), ingress_port=1)
    assert r.keep.tolist() == [False, False, True, False]
    assert r.no_route.tolist() == [True, True, False, True]
    denied = pl.run(batch(pkts), ingress_port=np.array([9, 9, 9, 9]))    # port 9 is not admitted
    assert not denied.keep.any() and denied.dropped.all()
    mixed = pl.run(batch(pkts[2:3] * 3), ingress_port=np.array([1, 9, 4]))
    assert mixed.keep.tolist() == [True, False, True]


def test_acl_drop_punt_and_redirect():
    acl = (AclEntry(30, (("l4_dst_port", 9999, 0xFFFF),), "acl_drop"),
           AclEntry(20, (("ether_type", 0x0800, 0xFFFF), ("ip_proto", 17, 0xFF), ("l4_dst_port", 7777, 0xFFFF)),
                    "punt_to_cpu"),
           AclEntry(10, (("ingress_port", 4, 0x1FF), ("dscp", 46, 0x3F)), "acl_set_nexthop_id", nexthop_id=2))
    pl = to_pipeline(build_program("leaf"), leaf_entries(acl=acl))
    pkts = [eth() / IP(dst="10.0.0.5", ttl=9) / UDP(dport=9999), eth() / IP(dst="10.0.0.5", ttl=9) / UDP(dport=7777),
            eth() / IP(dst="10.0.0.5", ttl=9, tos=46 << 2) / UDP(dport=1), eth() / IP(dst="10.0.0.5", ttl=9) / UDP()]
    r = pl.run(batch(pkts), ingress_port=4)
    assert r.keep.tolist() == [False, True, True, True]
    assert r.egress.tolist()[1:] == [CPU_PORT, 2, 3]
    punted = Ether(r.out.packet(1))
    assert punted[IP].ttl == 9 and punted.dst == pkts[1].dst     # to the CPU as received
    redirected = Ether(r.out.packet(2))
    assert redirected.dst == mac(NH_MAC[2]) and redirected[IP].ttl == 8
    other_port = pl.run(batch(pkts[2:3]), ingress_port=1)         # the redirect is for port 4 only
    assert other_port.egress.tolist() == [3]


# ---------------------------------------------------------------------------------------- errors
def test_entries_the_program_cannot_run_are_refused():
    prog = build_program("leaf")
    e = leaf_entries()
    with pytest.raises(ConfigError, match="entries are for a spine"):
        pipeline_doc(prog, leaf_entries(role="spine"))
    bad_route = SwitchEntries(e.switch, e.role, e.ports, e.admit_ports, {}, (Route("10.7.0.0/16", nexthop_id=9),),
                              e.nexthops, e.groups)
    with pytest.raises(ConfigError, match=r"leaf1: routes\[0\] \(10.7.0.0/16\): unknown next hop id 9"):
        pipeline_doc(prog, bad_route)
    bad_group = SwitchEntries(e.switch, e.role, e.ports, e.admit_ports, {}, e.routes, e.nexthops,
                              (WcmpGroup(1, ((1, 1), (8, 1))),))
    with pytest.raises(ConfigError, match="WCMP group 1 names unknown next hop id 8"):
        pipeline_doc(prog, bad_group)
    with pytest.raises(ConfigError, match="an IPv6 route, but fabric_leaf has no routing_v6"):
        pipeline_doc(build_program("leaf", ProgramOptions(ipv6=False)), e)
    zero = SwitchEntries(e.switch, e.role, e.ports, e.admit_ports, {}, e.routes, e.nexthops,
                         (WcmpGroup(1, ((1, 0), (2, 1))),))
    with pytest.raises(ConfigError, match=r"wcmp_groups.g1\[0\].weight: weight must be >= 1"):
        to_pipeline(prog, zero)


# ------------------------------------------------------------- the example fabric's plan, end to end
@pytest.fixture(scope="module")
def example():
    """The plan ``fabricctl plan wcmp example`` makes (ring all-reduce on the example fabric), in-process."""
    from fabric.builders import example_two_site
    from fabric.plan import Plan
    from fabric.traffic import DEFAULT_RATE_GBPS, ring_allreduce
    from fabric.wcmp import WcmpPlanner

    fab = example_two_site()
    res = WcmpPlanner(fab, ring_allreduce(fab, fab.nodes("gpu"), DEFAULT_RATE_GBPS, 0)).solve()
    plan = Plan.new(fab)
    plan.add(res.section(), fabric=fab)
    return fab, plan


@pytest.mark.parametrize("role", ["leaf", "spine"])
def test_example_plan_packets_follow_the_plans_groups(example, role):
    """switch_entries (p4.runtime) for one leaf and one spine -> to_pipeline -> 10,000 flows to a remote
    GPU behind each multi-member group: the split over egress ports matches the *plan's* weights for
    that destination (read from the Plan, not from the entries), and MACs are the next hops'."""
    from fabric.traffic import endpoint_ip
    from p4.runtime import FabricView, program_options, switch_entries

    fab, plan = example
    view = FabricView(fab, plan)
    switch = sorted(fab.nodes(role))[0]
    program = build_program(role, program_options(plan))
    entries = switch_entries(fab, plan, switch, program=program, view=view)
    pl = to_pipeline(program, entries)
    groups = [g for g in plan.wcmp.groups if g.switch == switch and sum(h.weight > 0 for h in g.next_hops) > 1]
    assert groups, f"{switch} has no multi-member WCMP group in the example plan"
    nh_by_port = {h.port: h for h in entries.nexthops}
    checked = 0
    for g in groups[:2]:
        gpus = [e for e in view.endpoints_of(g.dst) if fab.role(e) == "gpu"]
        assert gpus
        dst = str(ipaddress.IPv4Address(endpoint_ip(gpus[0])))
        r = pl.run(batch(flows(10_000, dst, seed=11)), ingress_port=entries.admit_ports[0])
        assert r.keep.all()
        total = sum(h.weight for h in g.next_hops)
        want = {entries.ports[h.port]: h.weight / total for h in g.next_hops if h.weight > 0}
        got = {p: float((r.egress == p).mean()) for p in set(r.egress.tolist())}
        assert set(got) <= set(want), (got, want)
        for p, w in want.items():
            assert abs(got.get(p, 0.0) - w) <= 0.03, (switch, g.dst, got, want)
        for i in range(0, 10_000, 97):
            out = Ether(r.out.packet(i))
            nh = nh_by_port[int(r.egress[i])]
            assert (out.src, out.dst) == (mac(nh.src_mac), mac(nh.dst_mac))
            assert out[IP].ttl == 64 - 1 and ipv4_checksum_ok(out)   # scapy's default TTL, one hop down
        checked += 1
    assert checked


@pytest.mark.parametrize(("doc", "match"), [
    ({"nexthops": {"a": {"port": 9, "src_mac": 1, "dst_mac": 2}}}, r"nexthops.a.port: port 9 outside 0..3"),
    ({"nexthops": {"a": {"port": 1, "src_mac": 1}}}, r"nexthops.a: a next hop is \{port, src_mac, dst_mac\}"),
    ({"nexthops": {"a": {"port": 1, "src_mac": 1 << 48, "dst_mac": 2}}}, r"nexthops.a.src_mac: a MAC is 48 bits"),
    ({"wcmp_groups": {"g": [{"nexthop": "zz", "weight": 1}]}}, r"wcmp_groups.g\[0\].nexthop: unknown next hop 'zz'"),
    ({"wcmp_groups": {"g": [{"nexthop": "a", "port": 1}]}}, r"wcmp_groups.g\[0\]: member is"),
    ({"egress_ecn": [{"port": 1, "kmin": 9, "kmax": 3, "slope": 1}]}, r"egress_ecn\[0\]: needs 0 <= kmin <= kmax"),
    ({"egress_ecn": [{"port": 1, "kmin": 1, "kmax": 3}]}, r"egress_ecn\[0\]: an egress_ecn row is"),
    ({"hash_fields": ["nope"]}, r"hash_fields: hash_fields is a non-empty list of parse columns"),
    ({"tables": [{"kind": "exact", "key": ["ingress_port"], "entries": [
        {"key": [1], "action": "set_nexthop", "params": {"nexthop": "b"}}]}]}, r"unknown next hop 'b'"),
])
def test_pipeline_file_errors_for_the_new_keys(tmp_path, doc, match):
    """The DPU pipeline file's new keys (nexthops, next-hop members, egress_ecn, hash_fields) are checked
    like the others: one ConfigError naming the file and the path."""
    import json

    from dpu.pipeline import load_pipeline

    base = {"ports": 4, "tables": [{"name": "r", "kind": "lpm", "family": 4, "key": "ip_dst", "entries": []}]}
    f = tmp_path / "p.json"
    f.write_text(json.dumps({**base, **doc}))
    with pytest.raises(ConfigError, match=match) as exc:
        load_pipeline(f)
    assert str(f) in str(exc.value)


def test_pipeline_file_with_nexthops_runs_like_the_program():
    """A hand-written pipeline file using the new keys: an exact table on ingress_port, a WCMP group of
    next hops, set_nexthop: the same rewrite as through p4.dpu."""
    from dpu.pipeline import Pipeline

    pl = Pipeline({"ports": 4, "nexthops": {"a": {"port": 1, "src_mac": "02:aa:00:00:00:01",
                                                  "dst_mac": "02:bb:00:00:00:01"},
                                            "b": {"port": 2, "src_mac": "02:aa:00:00:00:01",
                                                  "dst_mac": "02:bb:00:00:00:02"}},
                   "wcmp_groups": {"up": [{"nexthop": "a", "weight": 1}, {"nexthop": "b", "weight": 1}]},
                   "tables": [{"name": "in", "kind": "exact", "key": ["ingress_port"],
                               "entries": [{"key": [3], "action": "noop"}], "default": {"action": "drop"}},
                              {"name": "r", "kind": "lpm", "family": 4, "key": "ip_dst",
                               "entries": [{"prefix": "10.1.0.0/16", "action": "wcmp", "params": {"group": "up"}},
                                           {"prefix": "10.2.0.0/16", "action": "set_nexthop",
                                            "params": {"nexthop": "b"}}]}]})
    pkts = [eth() / IP(dst="10.1.0.1", ttl=5) / UDP(sport=s, dport=4791) for s in range(200)]
    pkts.append(eth() / IP(dst="10.2.0.1", ttl=5) / UDP())
    r = pl.run(batch(pkts), ingress_port=3)
    assert r.keep.all() and set(r.egress[:200].tolist()) == {1, 2} and r.egress[200] == 2
    for i in (0, 1, 200):
        out = Ether(r.out.packet(i))
        assert out.dst == f"02:bb:00:00:00:0{int(r.egress[i])}" and out[IP].ttl == 4 and ipv4_checksum_ok(out)
    assert not pl.run(batch(pkts), ingress_port=0).keep.any()
