"""The agent's gRPC surface with plain grpc stubs, server in-process on port 0: arbitration, pipeline
config, and every error path's status code and message (Write batch errors from the
grpc-status-details-bin trailer). Every receive has a timeout; servers and streams close in fixtures."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest
from finsy.proto import p4i, p4r, p4r_grpc, rpc_status

from p4.agent.arbitration import ELECTION_ID_USED
from p4.agent.device import NO_PIPELINE
from p4.agent.schema import Code
from p4.agent.server import NOT_PRIMARY, AgentServer
from p4.p4info import IdMap, build_p4info
from p4.programs import build_program

T = 10.0
PROG = build_program("leaf")
IDS = IdMap.of(PROG)
INFO = build_p4info(PROG)


@pytest.fixture
def agent(tmp_path):
    srv = AgentServer("127.0.0.1:0", [1, 2], state_dir=tmp_path / "state")
    srv.start()
    ch = grpc.insecure_channel(srv.address)
    streams: list[Stream] = []
    try:
        yield srv, p4r_grpc.P4RuntimeStub(ch), lambda: streams.append(Stream(ch)) or streams[-1]
    finally:
        for s in streams:
            s.close()
        ch.close()
        srv.stop()


class Stream:
    """One StreamChannel: requests fed from a queue, responses read by a thread into a queue."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._req: queue.Queue = queue.Queue()
        self.got: queue.Queue = queue.Queue()
        self.call = p4r_grpc.P4RuntimeStub(channel).StreamChannel(iter(self._req.get, None), timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for m in self.call:
                self.got.put(m)
        except grpc.RpcError as e:
            self.got.put(e)

    def bid(self, eid: int | None, device: int = 1, role: str = "") -> None:
        m = p4r.StreamMessageRequest()
        m.arbitration.device_id = device
        if eid is not None:
            m.arbitration.election_id.low = eid
        if role:
            m.arbitration.role.name = role
        self._req.put(m)

    def recv(self):
        return self.got.get(timeout=T)

    def arb(self) -> tuple[int, int]:
        m = self.recv()
        assert not isinstance(m, grpc.RpcError), m
        return m.arbitration.status.code, m.arbitration.election_id.low

    def close(self) -> None:
        self._req.put(None)
        self.call.cancel()


def primary(new, eid=10, device=1):
    s = new()
    s.bid(eid, device)
    assert s.arb() == (Code.OK, eid)
    return s


def config(info=INFO, cookie=7):
    c = p4r.ForwardingPipelineConfig(p4_device_config=b"leaf")
    c.p4info.CopyFrom(info)
    c.cookie.cookie = cookie
    return c


def set_pipeline(stub, action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT, eid=10, info=INFO,
                 device=1, **kw):
    req = p4r.SetForwardingPipelineConfigRequest(device_id=device, action=action, config=config(info, **kw))
    req.election_id.low = eid
    return stub.SetForwardingPipelineConfig(req, timeout=T)


def code_of(fn, *a, **kw) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as ei:
        r = fn(*a, **kw)
        if hasattr(r, "__iter__") and not hasattr(r, "SerializeToString"):
            list(r)
    return ei.value.code(), ei.value.details()


def nexthop(nh: int, port: int = 1, typ=p4r.Update.INSERT, raw: bytes | None = None):
    u = p4r.Update(type=typ)
    te = u.entity.table_entry
    te.table_id = IDS.table("FabricIngress.nexthop_table")
    te.match.add(field_id=1).exact.value = raw if raw is not None else nh.to_bytes(2, "big")
    if typ != p4r.Update.DELETE:
        a = te.action.action
        a.action_id = IDS.action("FabricIngress.set_nexthop")
        for i, v in ((1, port.to_bytes(2, "big")), (2, b"\x02" + b"\0" * 5), (3, b"\x02\0\0\0\0\x01")):
            a.params.add(param_id=i, value=v)
    return u


def route(addr: int, plen: int, group: int = 1):
    u = p4r.Update(type=p4r.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = IDS.table("FabricIngress.routing_v4")
    fm = te.match.add(field_id=1)
    fm.lpm.value, fm.lpm.prefix_len = addr.to_bytes(4, "big"), plen
    te.action.action.action_id = IDS.action("FabricIngress.set_wcmp_group_id")
    te.action.action.params.add(param_id=1, value=group.to_bytes(2, "big"))
    return u


def acl(prio: int, value: int = 0x0800, mask: int = 0xFFFF):
    u = p4r.Update(type=p4r.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = IDS.table("FabricIngress.acl")
    fm = te.match.add(field_id=2)
    fm.ternary.value, fm.ternary.mask = value.to_bytes(2, "big"), mask.to_bytes(2, "big")
    te.priority = prio
    te.action.action.action_id = IDS.action("FabricIngress.acl_drop")
    return u


def write(stub, updates, eid=10, device=1, **kw):
    req = p4r.WriteRequest(device_id=device, updates=updates, **kw)
    req.election_id.low = eid
    return stub.Write(req, timeout=T)


def batch_errors(stub, updates, eid=10):
    with pytest.raises(grpc.RpcError) as ei:
        write(stub, updates, eid)
    e = ei.value
    assert e.code() == grpc.StatusCode.UNKNOWN
    raw = dict(e.trailing_metadata())["grpc-status-details-bin"]
    st = rpc_status.Status.FromString(raw)
    assert st.code == Code.UNKNOWN
    out = []
    for d in st.details:
        err = p4r.Error()
        assert d.Unpack(err)
        out.append((err.canonical_code, err.message))
    return out


def read(stub, *entities, device=1):
    return [e for r in stub.Read(p4r.ReadRequest(device_id=device, entities=entities), timeout=T)
            for e in r.entities]


# ---------------------------------------------------------------------- arbitration
def test_arbitration_primary_backup_used_id_unknown_device_and_notifications(agent):
    _srv, _stub, new = agent
    c1 = primary(new, 10)
    c2 = new()
    c2.bid(5)
    assert c2.arb() == (Code.ALREADY_EXISTS, 10)
    c3 = new()
    c3.bid(10)
    err = c3.recv()
    assert isinstance(err, grpc.RpcError)
    assert (err.code(), err.details()) == (grpc.StatusCode.INVALID_ARGUMENT, ELECTION_ID_USED)
    c4 = new()
    c4.bid(3, device=99)
    err = c4.recv()
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "Unknown device id 99")
    # a backup outbids the primary: every client hears of the new primary
    c2.bid(12)
    assert c2.arb() == (Code.OK, 12)
    assert c1.arb() == (Code.ALREADY_EXISTS, 12)
    # the primary leaves: no primary, every client told NOT_FOUND with the highest id
    c2.close()
    assert c1.arb() == (Code.NOT_FOUND, 12)
    # a lower re-bid stays without primary; the highest id makes it primary
    c1.bid(11)
    assert c1.arb() == (Code.NOT_FOUND, 12)
    c1.bid(12)
    assert c1.arb() == (Code.OK, 12)
    # device 2 and another role are arbitrated apart
    d2 = new()
    d2.bid(1, device=2)
    assert d2.arb() == (Code.OK, 1)
    r = new()
    r.bid(1, role="ecn")
    assert r.arb() == (Code.OK, 1)


def test_highest_election_id_persisted(agent, tmp_path):
    srv, _stub, new = agent
    primary(new, 41)
    import json

    doc = json.loads((tmp_path / "state" / "arbitration.json").read_text())
    assert doc == {"highest": [{"device_id": 1, "role": "", "election_id": "41"}]}


# ---------------------------------------------------------------------- pipeline
def test_no_pipeline_write_read_get_are_failed_precondition(agent):
    _srv, stub, new = agent
    primary(new)
    pre = (grpc.StatusCode.FAILED_PRECONDITION, NO_PIPELINE)
    assert code_of(write, stub, [nexthop(1)]) == pre
    assert code_of(read, stub, p4r.Entity(table_entry={})) == pre
    assert code_of(stub.GetForwardingPipelineConfig, p4r.GetForwardingPipelineConfigRequest(device_id=1),
                   timeout=T) == pre


def test_pipeline_actions_and_response_types(agent):
    _srv, stub, new = agent
    primary(new)
    A, R = p4r.SetForwardingPipelineConfigRequest, p4r.GetForwardingPipelineConfigRequest
    get = lambda rt: stub.GetForwardingPipelineConfig(R(device_id=1, response_type=rt), timeout=T).config  # noqa: E731
    set_pipeline(stub, A.VERIFY)
    assert code_of(get, R.ALL)[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(set_pipeline, stub, A.COMMIT) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "COMMIT without a saved forwarding pipeline config (send VERIFY_AND_SAVE first)")
    set_pipeline(stub, A.VERIFY_AND_SAVE, cookie=8)
    assert code_of(get, R.ALL)[0] == grpc.StatusCode.FAILED_PRECONDITION
    set_pipeline(stub, A.COMMIT)
    assert get(R.COOKIE_ONLY) == p4r.ForwardingPipelineConfig(cookie={"cookie": 8})
    full = get(R.ALL)
    assert full.p4info == INFO and full.p4_device_config == b"leaf" and full.cookie.cookie == 8
    p = get(R.P4INFO_AND_COOKIE)
    assert p.p4info == INFO and not p.p4_device_config and p.cookie.cookie == 8
    d = get(R.DEVICE_CONFIG_AND_COOKIE)
    assert not d.HasField("p4info") and d.p4_device_config == b"leaf"
    # a commit replaces the state: entries written before are gone
    write(stub, [nexthop(1)])
    assert len(read(stub, p4r.Entity(table_entry={}))) == 1
    set_pipeline(stub, A.VERIFY_AND_COMMIT, cookie=9)
    assert read(stub, p4r.Entity(table_entry={})) == []
    assert code_of(set_pipeline, stub, A.RECONCILE_AND_COMMIT) == (
        grpc.StatusCode.UNIMPLEMENTED, "RECONCILE_AND_COMMIT is not supported by this agent")
    assert code_of(set_pipeline, stub, A.UNSPECIFIED) == (
        grpc.StatusCode.INVALID_ARGUMENT, "SetForwardingPipelineConfig action is UNSPECIFIED")


def test_pipeline_p4info_refused(agent):
    _srv, stub, new = agent
    primary(new)
    req = p4r.SetForwardingPipelineConfigRequest(device_id=1, action=p4r.SetForwardingPipelineConfigRequest.VERIFY)
    req.election_id.low = 10
    assert code_of(stub.SetForwardingPipelineConfig, req, timeout=T) == (
        grpc.StatusCode.INVALID_ARGUMENT, "ForwardingPipelineConfig has no P4Info")
    bad = p4i.P4Info()
    bad.CopyFrom(INFO)
    bad.tables[0].action_refs.add(id=0x01ABCDEF)
    assert code_of(set_pipeline, stub, info=bad) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "P4Info table 'FabricIngress.port_admit' refers to action id 0x1abcdef, which the P4Info lacks")


def test_not_primary_and_unknown_device(agent):
    _srv, stub, new = agent
    primary(new, 10)
    b = new()
    b.bid(5)
    assert b.arb() == (Code.ALREADY_EXISTS, 10)
    set_pipeline(stub)
    denied = (grpc.StatusCode.PERMISSION_DENIED, NOT_PRIMARY)
    assert code_of(write, stub, [nexthop(1)], eid=5) == denied
    assert code_of(write, stub, [nexthop(1)], eid=11) == denied
    assert code_of(set_pipeline, stub, eid=5) == denied
    req = p4r.WriteRequest(device_id=1, updates=[nexthop(1)])   # no election id at all
    assert code_of(stub.Write, req, timeout=T) == denied
    assert code_of(write, stub, [nexthop(1)], device=7) == (grpc.StatusCode.NOT_FOUND, "Unknown device id 7")
    assert code_of(read, stub, p4r.Entity(table_entry={}), device=7) == (grpc.StatusCode.NOT_FOUND,
                                                                          "Unknown device id 7")
    assert write(stub, [nexthop(1)]) == p4r.WriteResponse()
    assert stub.Capabilities(p4r.CapabilitiesRequest(), timeout=T).p4runtime_api_version == "1.5.0"


# ---------------------------------------------------------------------- writes
def test_write_batch_errors_one_per_update_in_order(agent):
    _srv, stub, new = agent
    primary(new)
    set_pipeline(stub)
    bad_table = nexthop(3)
    bad_table.entity.table_entry.table_id = 0x02000001
    unmasked = route(0x0A000001, 24)
    no_prio = acl(0)
    errs = batch_errors(stub, [nexthop(1), nexthop(1), nexthop(2, typ=p4r.Update.MODIFY),
                               nexthop(2, typ=p4r.Update.DELETE), bad_table, nexthop(4, port=512),
                               unmasked, no_prio, nexthop(5, raw=b"\0\0\0\x05")])
    assert errs == [
        (Code.OK, ""),
        (Code.ALREADY_EXISTS, "table entry already exists in table FabricIngress.nexthop_table"),
        (Code.NOT_FOUND, "table entry not found in table FabricIngress.nexthop_table"),
        (Code.NOT_FOUND, "table entry not found in table FabricIngress.nexthop_table"),
        (Code.INVALID_ARGUMENT, "unknown table id 0x2000001"),
        (Code.INVALID_ARGUMENT, "parameter 1 of action FabricIngress.set_nexthop: value 0x200 does not fit in bit<9>"),
        (Code.INVALID_ARGUMENT, "match field ipv4_dst of table FabricIngress.routing_v4: LPM value has bits set "
                                "beyond its prefix length 24"),
        (Code.INVALID_ARGUMENT, "table FabricIngress.acl has ternary, range or optional fields: its entries need "
                                "a priority > 0"),
        (Code.OK, ""),
    ]
    # zero-padded input was accepted and is read back canonical
    got = read(stub, p4r.Entity(table_entry={"table_id": IDS.table("FabricIngress.nexthop_table")}))
    assert sorted(e.table_entry.match[0].exact.value for e in got) == [b"\x01", b"\x05"]
    assert {p.value for e in got for p in e.table_entry.action.action.params} == {b"\x01", b"\x02\0\0\0\0\0",
                                                                                   b"\x02\0\0\0\0\x01"}
    assert code_of(write, stub, [nexthop(9)], atomicity=p4r.WriteRequest.ROLLBACK_ON_ERROR) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "atomicity ROLLBACK_ON_ERROR is not supported by this agent (use CONTINUE_ON_ERROR)")
    assert code_of(write, stub, [nexthop(9)], atomicity=p4r.WriteRequest.DATAPLANE_ATOMIC)[0] == \
        grpc.StatusCode.UNIMPLEMENTED


def with_table_size(table: str, size: int) -> p4i.P4Info:
    """The test program's P4Info with one table's size changed."""
    info = p4i.P4Info()
    info.CopyFrom(INFO)
    for t in info.tables:
        if t.preamble.name == table:
            t.size = size
            return info
    raise KeyError(table)


def test_table_full_is_resource_exhausted(agent):
    _srv, stub, new = agent
    primary(new)
    set_pipeline(stub, info=with_table_size("FabricIngress.nexthop_table", 2))
    assert batch_errors(stub, [nexthop(1), nexthop(2), nexthop(3)])[2] == (
        Code.RESOURCE_EXHAUSTED, "table FabricIngress.nexthop_table is full (2 entries)")


def test_read_wildcards_one_shot_registers_and_direct_counters(agent):
    _srv, stub, new = agent
    primary(new)
    set_pipeline(stub)
    g = p4r.Update(type=p4r.Update.INSERT)
    te = g.entity.table_entry
    te.table_id = IDS.table("FabricIngress.wcmp_group_table")
    te.match.add(field_id=1).exact.value = b"\x07"
    for nh, w in ((1, 3), (2, 1)):
        pa = te.action.action_profile_action_set.action_profile_actions.add(weight=w)
        pa.action.action_id = IDS.action("FabricIngress.set_nexthop_id")
        pa.action.params.add(param_id=1, value=bytes([nh]))
    reg = p4r.Update(type=p4r.Update.MODIFY)
    reg.entity.register_entry.register_id = IDS.register("FabricEgress.ecn_kmax")
    reg.entity.register_entry.index.index = 3
    reg.entity.register_entry.data.bitstring = b"\0\0\x02\x94"
    routes = [route(0x0A000000 + (i << 8), 24) for i in range(2000)]
    write(stub, [nexthop(1), nexthop(2), g, acl(10), reg, *routes])
    everything = read(stub, p4r.Entity(table_entry={}))
    assert len(everything) == 2 + 1 + 1 + 2000
    one_shot = [e for e in everything if e.table_entry.table_id == te.table_id]
    assert one_shot == [g.entity]
    v4 = read(stub, p4r.Entity(table_entry={"table_id": IDS.table("FabricIngress.routing_v4")}))
    assert len(v4) == 2000
    exact = p4r.Entity()
    exact.table_entry.CopyFrom(routes[5].entity.table_entry)
    exact.table_entry.ClearField("action")
    want = p4r.Entity()
    want.CopyFrom(routes[5].entity)
    want.table_entry.action.action.params[0].value = b"\x01"     # written zero-padded, read canonical
    assert read(stub, exact) == [want]
    r = read(stub, p4r.Entity(register_entry={"register_id": IDS.register("FabricEgress.ecn_kmax"),
                                              "index": {"index": 3}}))
    assert [x.register_entry.data.bitstring for x in r] == [b"\x02\x94"]
    assert len(read(stub, p4r.Entity(register_entry={}))) == 3 * 512
    # direct counters of the ACL: modified, then read by wildcard
    dc = p4r.Update(type=p4r.Update.MODIFY)
    dc.entity.direct_counter_entry.table_entry.CopyFrom(acl(10).entity.table_entry)
    dc.entity.direct_counter_entry.table_entry.ClearField("action")
    dc.entity.direct_counter_entry.data.byte_count = 1500
    dc.entity.direct_counter_entry.data.packet_count = 1
    write(stub, [dc])
    got = read(stub, p4r.Entity(direct_counter_entry={}))
    assert [(x.direct_counter_entry.data.byte_count, x.direct_counter_entry.data.packet_count) for x in got] == [(1500, 1)]
    ins = p4r.Update(type=p4r.Update.INSERT)
    ins.entity.CopyFrom(dc.entity)
    assert batch_errors(stub, [ins]) == [(Code.INVALID_ARGUMENT, "direct counter entries can only be modified "
                                                                  "(INSERT and DELETE are not allowed)")]
    bad = p4r.Entity(table_entry={"match": [{"field_id": 1, "exact": {"value": b"\x01"}}]})
    assert code_of(read, stub, bad) == (grpc.StatusCode.INVALID_ARGUMENT,
                                        "a read of every table (table_id 0) takes no match and no priority")


def test_read_is_chunked_under_4_mib(agent):
    srv, stub, new = agent
    primary(new)
    set_pipeline(stub, info=with_table_size("FabricIngress.routing_v6", 80_000))
    tid = IDS.table("FabricIngress.routing_v6")
    for lo in range(0, 80_000, 10_000):
        ups = []
        for i in range(lo, lo + 10_000):
            u = p4r.Update(type=p4r.Update.INSERT)
            te = u.entity.table_entry
            te.table_id = tid
            fm = te.match.add(field_id=1)
            fm.lpm.value, fm.lpm.prefix_len = ((0xFD << 120) | (i << 64)).to_bytes(16, "big"), 64
            te.action.action.action_id = IDS.action("FabricIngress.set_wcmp_group_id")
            te.action.action.params.add(param_id=1, value=b"\x01")
            te.controller_metadata = i
            ups.append(u)
        write(stub, ups)
    sizes = [r.ByteSize() for r in stub.Read(p4r.ReadRequest(device_id=1, entities=[p4r.Entity(table_entry={})]),
                                             timeout=30)]
    assert len(sizes) >= 2 and max(sizes) < 4 << 20
    assert sum(sizes) > 4 << 20


def test_packet_out_without_a_dataplane_is_a_stream_error(agent):
    _srv, _stub, new = agent
    s = primary(new)
    m = p4r.StreamMessageRequest()
    m.packet.payload = b"\x00" * 60
    s._req.put(m)
    got = s.recv()
    assert (got.error.canonical_code, got.error.message) == (
        Code.UNIMPLEMENTED, "PacketOut needs the agent's dataplane (agent serve --dataplane)")
    assert got.error.packet_out.packet_out.payload == m.packet.payload


def test_cli_refuses_a_bad_listen_address(cli):
    r = cli(["agent", "serve", "--listen", "localhost"])
    assert r.exit_code == 2
    assert "--listen wants HOST:PORT, got 'localhost'" in r.output
