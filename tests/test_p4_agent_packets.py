"""Packets through the agent's dataplane (issue 13): batches and pcaps run on the pipeline built from
the entries written over P4Runtime; a leaf -> spine -> leaf chain of the example fabric (three devices of
one in-process agent, each loaded by its own primary over plain grpc stubs) carries scapy-crafted packets
switch to switch, egress port -> the neighbour's port through the fabric's links, to the port towards
the destination GPU with TTL, MACs and the IPv4 checksum right; PacketOut / PacketIn through the
controller headers (an LLDP frame punted by the ACL comes back with its ingress port; a PacketOut leaves
on the port it names), and a link-discovery probe sent out of one switch is punted by its neighbour.
Every wait is bounded; servers and channels are closed even when a check fails."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from finsy.proto import p4r

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from agent_client import StreamClient  # noqa: E402
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from dpu.packets import PacketBatch, write_pcap  # noqa: E402
from fabric.traffic import endpoint_ip  # noqa: E402
from p4.agent.packetio import ControllerMeta  # noqa: E402
from p4.agent.server import AgentServer  # noqa: E402
from p4.p4info import build_p4info  # noqa: E402
from p4.programs import build_program  # noqa: E402
from p4.runtime import port_mac, port_numbers, program_options, switch_entries, to_write_requests  # noqa: E402

TIMEOUT = 20.0
SRC_GPU, DST_GPU = "beijing-s1-g0", "beijing-s2-g1"      # on rail 0 and rail 1 of su1: leaf -> spine -> leaf


def mac(v: int) -> str:
    return ":".join(f"{(v >> (40 - 8 * k)) & 0xFF:02x}" for k in range(6))


def ip4(v: int) -> str:
    return ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The two-site example fabric and a WCMP plan of a ring all-reduce between a GPU of rail 0 and one of
    rail 1 (so the leaves route to each other through every spine of the site)."""
    from fabric.cli.common import add_section
    from fabric.io import load_fabric
    from fabric.plan import Plan
    from fabric.traffic import ring_allreduce
    from fabric.wcmp import WcmpPlanner

    fab = load_fabric("example")
    res = WcmpPlanner(fab, ring_allreduce(fab, [SRC_GPU, DST_GPU], 100.0, per_rail=False)).solve()
    path = tmp_path_factory.mktemp("agent-pk") / "plan.json"
    add_section(path, res.section(), fab)
    return fab, Plan.load(path)


Client = StreamClient



@contextmanager
def agent(n: int) -> Iterator[tuple[AgentServer, list[Client]]]:
    srv = AgentServer("127.0.0.1:0", list(range(1, n + 1)), dataplane=True)
    clients: list[Client] = []
    try:
        srv.start()
        for d in range(1, n + 1):
            c = Client(srv.address, d)
            clients.append(c)
            assert c.recv("arbitration").arbitration.status.code == 0
        yield srv, clients
    finally:
        for c in clients:
            c.close()
        srv.stop()


def load_switch(srv: AgentServer, client: Client, fab: Any, plan: Any, switch: str) -> Any:
    """Push ``switch``'s entries of the plan into ``client``'s device; the dataplane once it is current."""
    role = fab.role(switch)
    opts = program_options(plan)
    prog = build_program(role, opts)
    e = switch_entries(fab, plan, switch, program=prog)
    client.load(role, opts, list(to_write_requests(prog, e, device_id=client.device_id,
                                                     election_id=(0, client.election))))
    assert srv.service is not None
    dp = srv.service.dataplanes[client.device_id]
    assert dp.wait_current(TIMEOUT), f"dataplane of {switch} not current (error: {dp.error})"
    return dp


def neighbour(fab: Any, node: str, port: str) -> tuple[str, str]:
    """The node and port at the other end of ``node``'s ``port``."""
    for v in fab.graph.neighbors(node):
        for lk in fab.links_between(node, v):
            if lk.a == node and lk.port_a == port:
                return lk.b, lk.port_b
            if lk.b == node and lk.port_b == port:
                return lk.a, lk.port_a
    raise KeyError(f"{node}:{port}")


def port_name(fab: Any, node: str, num: int) -> str:
    return {v: k for k, v in port_numbers(fab, node).items()}[num]


def attachment(fab: Any, gpu: str) -> tuple[str, str, str]:
    """(leaf, leaf port, GPU port) of a GPU's first link."""
    (leaf,) = list(fab.graph.neighbors(gpu))[:1]
    lk = fab.links_between(gpu, leaf)[0]
    return (leaf, lk.port_b, lk.port_a) if lk.a == gpu else (leaf, lk.port_a, lk.port_b)


def flows(n: int, src_mac: int, dst_mac: int) -> list[bytes]:
    return [bytes(Ether(src=mac(src_mac), dst=mac(dst_mac)) / IP(src=ip4(endpoint_ip(SRC_GPU)),
                  dst=ip4(endpoint_ip(DST_GPU)), ttl=64) / UDP(sport=10_000 + k, dport=4791) / Raw(b"p" * 32))
            for k in range(n)]


def test_batches_and_pcaps_run_on_the_written_entries(example, tmp_path):
    fab, plan = example
    leaf, lport, gport = attachment(fab, SRC_GPU)
    inport = port_numbers(fab, leaf)[lport]
    with agent(1) as (srv, (c,)):
        t0 = time.monotonic()
        dp = load_switch(srv, c, fab, plan, leaf)
        pkts = flows(64, port_mac(SRC_GPU, gport), port_mac(leaf, lport))
        bad = bytes(Ether(src=mac(port_mac(SRC_GPU, gport)), dst=mac(port_mac(leaf, lport))) /
                    IP(src="10.255.0.1", dst="192.0.2.1") / UDP())      # no route
        res = dp.process(PacketBatch.from_bytes([*pkts, bad]), inport).result(TIMEOUT)
        assert (res.packets, res.dropped, res.no_route, len(res.egress)) == (65, 1, 1, 64)
        uplinks = {port_numbers(fab, leaf)[p] for p in port_numbers(fab, leaf)
                   if fab.role(neighbour(fab, leaf, p)[0]) == "spine"}
        assert set(res.egress.tolist()) <= uplinks and len(set(res.egress.tolist())) > 1   # WCMP spreads
        # a port the leaf does not admit drops everything
        assert dp.process(PacketBatch.from_bytes(pkts), 300).result(TIMEOUT).dropped == 64
        # a pcap gives what its batch gives; emit=True sends the frames to the tx queue
        write_pcap(tmp_path / "in.pcap", PacketBatch.from_bytes(pkts))
        again = dp.process_pcap(tmp_path / "in.pcap", inport, emit=True).result(TIMEOUT)
        assert again.frames() == res.frames()
        sent = [dp.tx.get(timeout=TIMEOUT) for _ in range(64)]
        assert sent == res.frames() and dp.tx.empty()
        assert time.monotonic() - t0 < 15


def test_three_switch_chain_with_link_discovery(example):
    fab, plan = example
    leaf_a, a_port, src_port = attachment(fab, SRC_GPU)
    leaf_b, b_port, dst_port = attachment(fab, DST_GPU)
    assert leaf_a != leaf_b
    with agent(3) as (srv, clients):
        dp_a = load_switch(srv, clients[0], fab, plan, leaf_a)
        pkts = flows(32, port_mac(SRC_GPU, src_port), port_mac(leaf_a, a_port))
        first = dp_a.process(PacketBatch.from_bytes(pkts), port_numbers(fab, leaf_a)[a_port]).result(TIMEOUT)
        assert first.dropped == 0
        # the spine most flows hashed to is device 2 (loaded once its name is known), leaf B device 3
        up = max(set(first.egress.tolist()), key=first.egress.tolist().count)
        up_name = port_name(fab, leaf_a, up)
        spine, spine_in = neighbour(fab, leaf_a, up_name)
        assert fab.role(spine) == "spine"
        dp_s = load_switch(srv, clients[1], fab, plan, spine)
        dp_b = load_switch(srv, clients[2], fab, plan, leaf_b)
        frames = [f for p, f in first.frames() if p == up]
        hops = [(leaf_a, up_name)]
        cur, cur_in, node = frames, spine_in, spine
        for dp in (dp_s, dp_b):
            res = dp.process(PacketBatch.from_bytes(cur), port_numbers(fab, node)[cur_in]).result(TIMEOUT)
            assert res.dropped == 0 and len(set(res.egress.tolist())) == 1, res
            out_name = port_name(fab, node, int(res.egress[0]))
            hops.append((node, out_name))
            cur = [f for _p, f in res.frames()]
            nxt, nxt_in = neighbour(fab, node, out_name)
            node, cur_in = nxt, nxt_in
        assert (node, cur_in) == (DST_GPU, dst_port), hops            # arrived at the destination GPU
        assert hops[1][0] == spine and hops[2] == (leaf_b, b_port)
        for raw in cur:
            p = Ether(raw)
            assert p[IP].ttl == 64 - 3
            assert p.src == mac(port_mac(leaf_b, b_port)) and p.dst == mac(port_mac(DST_GPU, dst_port))
            want = p[IP].chksum
            del p[IP].chksum
            assert Ether(bytes(p))[IP].chksum == want                 # the checksum scapy computes
            assert p[IP].src == ip4(endpoint_ip(SRC_GPU)) and p[IP].dst == ip4(endpoint_ip(DST_GPU))
        # the spine's hop rewrote the MACs to its own port and leaf B's port
        mid = Ether(dp_s.process(PacketBatch.from_bytes(frames[:1]),
                                 port_numbers(fab, spine)[spine_in]).result(TIMEOUT).out.packet(0))
        assert (mid.src, mid.dst, mid[IP].ttl) == (mac(port_mac(spine, hops[1][1])),
                                                   mac(port_mac(leaf_b, neighbour(fab, spine, hops[1][1])[1])), 62)

        # link discovery: an LLDP probe out of leaf A's uplink, delivered to the spine's port, punted there
        probe = bytes(Ether(src=mac(port_mac(leaf_a, up_name)), dst="01:80:c2:00:00:0e", type=0x88CC) /
                      Raw(b"chassis=" + leaf_a.encode() + b";port=" + up_name.encode()))
        clients[0].packet_out(up, probe)
        port, frame = dp_a.tx.get(timeout=TIMEOUT)
        assert (port, frame) == (up, probe)
        spine_port = port_numbers(fab, spine)[spine_in]
        dp_s.process(PacketBatch.from_bytes([frame]), spine_port).result(TIMEOUT)
        pin = clients[1].recv("packet").packet
        meta = ControllerMeta.of(build_p4info(build_program("spine", program_options(plan))))
        assert pin.payload == probe
        assert [(m.metadata_id, int.from_bytes(m.value, "big")) for m in pin.metadata] == [
            (meta.ingress_port_id, spine_port)]


def test_packet_in_and_packet_out_through_the_controller_headers(example):
    fab, plan = example
    leaf = fab.nodes(("leaf",))[0]
    with agent(1) as (srv, (c,)):
        dp = load_switch(srv, c, fab, plan, leaf)
        lldp = bytes(Ether(src="02:00:00:00:00:07", dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07" * 20))
        res = dp.process(PacketBatch.from_bytes([lldp]), 3).result(TIMEOUT)
        assert res.punted == [(3, lldp)] and len(res.egress) == 0
        pin = c.recv("packet").packet
        assert pin.payload == lldp and [(m.metadata_id, m.value) for m in pin.metadata] == [(1, b"\x03")]
        # PacketOut: the frame leaves on the port named by egress_port, untouched
        frame = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(dst="10.0.0.1") / UDP())
        c.packet_out(6, frame)
        assert dp.tx.get(timeout=TIMEOUT) == (6, frame)
        # errors come back on the stream with the packet
        c.packet_out(6, frame, meta_id=9)
        err = c.recv("error").error
        assert (err.canonical_code, err.message) == (3, "PacketOut metadata id 9 is not in the packet_out "
                                                        "controller header")
        assert err.packet_out.packet_out.payload == frame
        c.packet_out(510, frame)
        err = c.recv("error").error
        assert (err.canonical_code, err.message) == (3, "PacketOut egress_port 510 is not a front-panel port "
                                                        "(below the CPU port 510)")
        m = p4r.StreamMessageRequest()
        m.packet.payload = frame
        c.req.put(m)
        assert c.recv("error").error.message == "PacketOut without egress_port metadata"
        # a backup may not send packets
        backup = Client(srv.address, 1, election=0)
        try:
            assert backup.recv("arbitration").arbitration.status.code == 6       # ALREADY_EXISTS
            backup.packet_out(6, frame)
            err = backup.recv("error").error
            assert (err.canonical_code, err.message) == (7, "PacketOut from a client that is not the primary")
        finally:
            backup.close()
        assert dp.tx.empty()


def indirect(prog: Any, requests: list[Any]) -> list[Any]:
    """``requests`` with every one-shot WCMP group entry replaced by action profile members, a group of
    them with the same weights, and the entry naming the group (same order, same request)."""
    from p4.p4info import IdMap

    info = build_p4info(prog)
    pid = info.action_profiles[0].preamble.id
    table = IdMap.of(prog).table("FabricIngress.wcmp_group_table")
    next_member = 1
    out = []
    for r in requests:
        nr = p4r.WriteRequest()
        nr.CopyFrom(r)
        del nr.updates[:]
        for u in r.updates:
            te = u.entity.table_entry
            if te.table_id != table or not te.action.HasField("action_profile_action_set"):
                nr.updates.append(u)
                continue
            gid = int.from_bytes(te.match[0].exact.value, "big")
            g = p4r.Update(type=u.type)
            g.entity.action_profile_group.action_profile_id, g.entity.action_profile_group.group_id = pid, gid
            for a in te.action.action_profile_action_set.action_profile_actions:
                m = p4r.Update(type=u.type)
                m.entity.action_profile_member.action_profile_id = pid
                m.entity.action_profile_member.member_id = next_member
                m.entity.action_profile_member.action.CopyFrom(a.action)
                nr.updates.append(m)
                g.entity.action_profile_group.members.add(member_id=next_member, weight=a.weight)
                next_member += 1
            nr.updates.append(g)
            e = p4r.Update(type=u.type)
            e.entity.table_entry.CopyFrom(te)
            e.entity.table_entry.action.ClearField("action_profile_action_set")
            e.entity.table_entry.action.action_profile_group_id = gid
            nr.updates.append(e)
        out.append(nr)
    return out


def test_indirect_groups_forward_as_their_one_shot_sets(example):
    from p4.dpu import pipeline_doc

    fab, plan = example
    leaf, lport, gport = attachment(fab, SRC_GPU)
    opts = program_options(plan)
    prog = build_program("leaf", opts)
    e = switch_entries(fab, plan, leaf, program=prog)
    assert e.groups, "the plan gives the leaf a WCMP group"
    with agent(1) as (srv, (c,)):
        c.load("leaf", opts, indirect(prog, list(to_write_requests(prog, e, election_id=(0, 1)))))
        assert srv.service is not None
        dp = srv.service.dataplanes[1]
        assert dp.wait_current(TIMEOUT), dp.error
        rr = p4r.ReadRequest(device_id=1)
        rr.entities.add().action_profile_group.SetInParent()
        groups = [x for resp in c.stub.Read(rr, timeout=TIMEOUT) for x in resp.entities]
        assert len(groups) == len(e.groups)                                  # the groups are indirect ones
        got, want = pipeline_doc(prog, dp.entries), pipeline_doc(prog, e)
        got.pop("name"), want.pop("name")
        assert got == want
        pkts = flows(64, port_mac(SRC_GPU, gport), port_mac(leaf, lport))
        res = dp.process(PacketBatch.from_bytes(pkts), port_numbers(fab, leaf)[lport]).result(TIMEOUT)
        assert res.dropped == 0 and len(set(res.egress.tolist())) > 1
