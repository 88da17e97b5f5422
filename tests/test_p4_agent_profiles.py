"""Indirect action profiles in the agent: ActionProfileMember and ActionProfileGroup entities, table
entries naming a member or group, every spec error (9.2.2-9.2.4) pinned with its code and message on the
pure store, and one gRPC round trip (plain stubs, in-process server) with the per-update errors from the
status-details trailer. The program is the leaf's: ``FabricIngress.wcmp_group_table`` implemented by
``wcmp_group_selector`` (sum_of_members, max_group_size 256, max_member_weight 256)."""

from __future__ import annotations

import queue
from typing import Any

import grpc
import pytest
from finsy.proto import p4i, p4r, p4r_grpc, rpc_status

from p4.agent.schema import Code, P4Error, Schema
from p4.agent.server import AgentServer
from p4.agent.store import Store
from p4.p4info import IdMap, build_p4info
from p4.programs import build_program

T = 10.0
PROG = build_program("leaf")
IDS = IdMap.of(PROG)
INFO = build_p4info(PROG)
SEL = INFO.action_profiles[0]
PID = SEL.preamble.id
PNAME = "FabricIngress.wcmp_group_selector"
TABLE = IDS.table("FabricIngress.wcmp_group_table")
TNAME = "FabricIngress.wcmp_group_table"
SET_NH = IDS.action("FabricIngress.set_nexthop_id")
INS, MOD, DEL = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE


def member(mid: int, nh: int = 1, typ: Any = INS, pid: int = PID, action: bool = True) -> p4r.Update:
    u = p4r.Update(type=typ)
    m = u.entity.action_profile_member
    m.action_profile_id, m.member_id = pid, mid
    if action:
        m.action.action_id = SET_NH
        m.action.params.add(param_id=1, value=nh.to_bytes(2, "big"))
    return u


def group(gid: int, members: list[tuple[int, int]], typ: Any = INS, max_size: int = 0,
          watch: bytes = b"") -> p4r.Update:
    u = p4r.Update(type=typ)
    g = u.entity.action_profile_group
    g.action_profile_id, g.group_id, g.max_size = PID, gid, max_size
    for mid, w in members:
        g.members.add(member_id=mid, weight=w, watch_port=watch)
    return u


def entry(key: int, *, member_id: int = 0, group_id: int = 0, oneshot: list[tuple[int, int]] | None = None,
          typ: Any = INS) -> p4r.Update:
    u = p4r.Update(type=typ)
    te = u.entity.table_entry
    te.table_id = TABLE
    te.match.add(field_id=1).exact.value = key.to_bytes(2, "big")
    if member_id:
        te.action.action_profile_member_id = member_id
    elif group_id:
        te.action.action_profile_group_id = group_id
    elif oneshot is not None:
        for nh, w in oneshot:
            pa = te.action.action_profile_action_set.action_profile_actions.add(weight=w)
            pa.action.action_id = SET_NH
            pa.action.params.add(param_id=1, value=nh.to_bytes(2, "big"))
    return u


def err(store: Store, u: p4r.Update) -> tuple[Code, str]:
    with pytest.raises(P4Error) as ei:
        store.apply(u)
    return ei.value.code, ei.value.message


def read(store: Store, **kw) -> list[p4r.Entity]:
    return [p4r.Entity.FromString(b) for b in store.read(p4r.Entity(**kw))]


@pytest.fixture
def store() -> Store:
    return Store(Schema.of(INFO))


def test_members_insert_modify_delete_and_read(store):
    store.apply(member(1, nh=5))
    zero_padded = member(2, nh=7)
    zero_padded.entity.action_profile_member.action.params[0].value = b"\x00\x00\x07"
    store.apply(zero_padded)
    got = read(store, action_profile_member={})
    assert [e.action_profile_member.member_id for e in got] == [1, 2]
    assert got[1].action_profile_member.action.params[0].value == b"\x07"     # canonical on read
    assert read(store, action_profile_member={"action_profile_id": PID, "member_id": 2}) == [got[1]]
    assert read(store, action_profile_member={"action_profile_id": PID}) == got
    assert read(store, action_profile_member={"action_profile_id": PID, "member_id": 9}) == []
    store.apply(member(2, nh=9, typ=MOD))
    [m2] = read(store, action_profile_member={"action_profile_id": PID, "member_id": 2})
    assert m2.action_profile_member.action.params[0].value == b"\x09"
    store.apply(member(1, typ=DEL, action=False))
    assert [e.action_profile_member.member_id for e in read(store, action_profile_member={})] == [2]


def test_member_errors(store):
    store.apply(member(1))
    assert err(store, member(1)) == (Code.ALREADY_EXISTS, f"action profile member 1 already exists in action "
                                     f"profile {PNAME}")
    assert err(store, member(5, typ=MOD)) == (Code.NOT_FOUND, f"action profile member 5 not found in action "
                                              f"profile {PNAME}")
    assert err(store, member(5, typ=DEL)) == (Code.NOT_FOUND, f"action profile member 5 not found in action "
                                              f"profile {PNAME}")
    assert err(store, member(0)) == (Code.INVALID_ARGUMENT, f"action profile {PNAME}: member id 0 is not valid")
    assert err(store, member(3, pid=0x11000099)) == (Code.INVALID_ARGUMENT, "unknown action profile id 0x11000099")
    assert err(store, member(3, action=False)) == (Code.INVALID_ARGUMENT, f"action profile member 3 of {PNAME}: "
                                                   "the action must be given")
    assert err(store, member(1, typ=MOD, action=False))[0] == Code.INVALID_ARGUMENT
    u = member(3)
    u.entity.action_profile_member.action.action_id = IDS.action("FabricIngress.set_nexthop")
    assert err(store, u) == (Code.INVALID_ARGUMENT, f"action FabricIngress.set_nexthop is not an action of table "
                             f"{TNAME}")
    u = member(3)
    u.entity.action_profile_member.action.params[0].value = b"\x01\x00\x00"
    assert err(store, u) == (Code.INVALID_ARGUMENT, "parameter 1 of action FabricIngress.set_nexthop_id: value "
                             "0x10000 does not fit in bit<16>")


def test_groups_and_their_errors(store):
    for mid in (1, 2, 3):
        store.apply(member(mid, nh=mid))
    store.apply(group(10, [(1, 3), (2, 1)], watch=b"\x05"))
    [g] = read(store, action_profile_group={})
    assert [(m.member_id, m.weight, m.watch_port) for m in g.action_profile_group.members] == [
        (1, 3, b"\x05"), (2, 1, b"\x05")]
    assert read(store, action_profile_group={"action_profile_id": PID, "group_id": 10}) == [g]
    assert read(store, action_profile_group={"action_profile_id": PID, "group_id": 11}) == []
    what = f"action profile group 10 of {PNAME}"
    assert err(store, group(10, [])) == (Code.ALREADY_EXISTS, f"action profile group 10 already exists in action "
                                         f"profile {PNAME}")
    assert err(store, group(11, [(1, 1), (7, 1)])) == (Code.NOT_FOUND, f"action profile group 11 of {PNAME}: "
                                                       "action profile member 7 not found")
    assert err(store, group(12, [], typ=MOD)) == (Code.NOT_FOUND, f"action profile group 12 not found in action "
                                                  f"profile {PNAME}")
    assert err(store, group(12, [], typ=DEL)) == (Code.NOT_FOUND, f"action profile group 12 not found in action "
                                                  f"profile {PNAME}")
    assert err(store, group(0, [])) == (Code.INVALID_ARGUMENT, f"action profile {PNAME}: group id 0 is not valid")
    assert err(store, group(10, [(1, 1), (1, 2)], typ=MOD)) == (
        Code.INVALID_ARGUMENT, f"{what}: member 1 is given twice (use its weight instead)")
    assert err(store, group(10, [(1, 0)], typ=MOD)) == (Code.INVALID_ARGUMENT, f"{what}: member weight 0 is not >= 1")
    assert err(store, group(10, [(1, 257)], typ=MOD)) == (
        Code.INVALID_ARGUMENT, f"{what}: member weight 257 exceeds the max_member_weight 256 of action profile {PNAME}")
    assert err(store, group(10, [(1, 1)], typ=MOD, max_size=2)) == (
        Code.INVALID_ARGUMENT, f"{what}: max_size 2 differs from the 0 it was inserted with (it cannot be modified)")
    assert err(store, group(13, [], max_size=257)) == (
        Code.INVALID_ARGUMENT, f"action profile group 13 of {PNAME}: max_size 257 exceeds the max_group_size 256")
    assert err(store, group(13, [(1, 1), (2, 1), (3, 1)], max_size=2)) == (
        Code.RESOURCE_EXHAUSTED, f"action profile group 13 of {PNAME}: 3 members exceed the max_size 2")
    # a member still in a group cannot be deleted; modifying the group frees it
    assert err(store, member(2, typ=DEL)) == (Code.FAILED_PRECONDITION, f"action profile member 2 of {PNAME} is "
                                              "still in 1 group(s); remove it from them first")
    store.apply(group(10, [(1, 5)], typ=MOD))
    store.apply(member(2, typ=DEL, action=False))
    store.apply(group(10, [], typ=DEL))
    store.apply(member(1, typ=DEL, action=False))
    assert read(store, action_profile_group={}) == []


def test_group_over_max_group_size(store):
    """sum_of_members: a group of more than max_group_size (256) members is RESOURCE_EXHAUSTED when it
    gives no max_size of its own (spec 9.2.3: the target's maximum is exceeded)."""
    store.write([member(m) for m in range(1, 258)])
    assert err(store, group(1, [(m, 1) for m in range(1, 258)])) == (
        Code.RESOURCE_EXHAUSTED, f"action profile group 1 of {PNAME}: 257 members exceed the max_group_size 256")
    store.apply(group(1, [(m, 256) for m in range(1, 257)]))       # at the limit: weights are per member
    assert len(read(store, action_profile_group={})[0].action_profile_group.members) == 256


def test_sum_of_weights_and_weights_disallowed():
    info = p4i.P4Info()
    info.CopyFrom(INFO)
    ap = info.action_profiles[0]
    ap.ClearField("sum_of_members")
    ap.sum_of_weights.SetInParent()
    ap.max_group_size = 10
    s = Store(Schema.of(info))
    s.write([member(1), member(2)])
    assert err(s, group(1, [(1, 6), (2, 5)])) == (
        Code.RESOURCE_EXHAUSTED, f"action profile group 1 of {PNAME}: 11 total weight exceed the max_group_size 10")
    s.apply(group(1, [(1, 6), (2, 4)]))
    assert err(s, entry(1, oneshot=[(1, 6), (2, 5)])) == (
        Code.INVALID_ARGUMENT, f"action set of 2 actions (11 total weight) exceeds the max_group_size 10 of "
        f"action profile {PNAME}")
    ap.weights_disallowed = True
    s = Store(Schema.of(info))
    s.write([member(1), member(2)])
    assert err(s, group(1, [(1, 1)])) == (
        Code.INVALID_ARGUMENT, f"action profile group 1 of {PNAME}: member weight 1: action profile {PNAME} "
        "disallows weights (only 0)")
    s.apply(group(1, [(1, 0), (2, 0)]))
    info.action_profiles[0].size = 5
    with pytest.raises(P4Error, match=f"P4Info action profile '{PNAME}': max_group_size 10 is larger than its "
                                      "size 5"):
        Schema.of(info)


def test_profile_full():
    info = p4i.P4Info()
    info.CopyFrom(INFO)
    info.action_profiles[0].size = info.action_profiles[0].max_group_size = 2
    s = Store(Schema.of(info))
    s.write([member(1), member(2)])
    assert err(s, member(3)) == (Code.RESOURCE_EXHAUSTED, f"action profile {PNAME} is full (2 members)")


def test_table_entries_naming_members_and_groups(store):
    store.write([member(1, nh=1), member(2, nh=2)])
    store.apply(group(7, [(1, 3), (2, 1)]))
    assert store.write([entry(1, member_id=1), entry(2, group_id=7)]) == [None, None]
    assert err(store, entry(3, member_id=9)) == (Code.NOT_FOUND, f"action profile member 9 not found in action "
                                                 f"profile {PNAME}")
    assert err(store, entry(3, group_id=9)) == (Code.NOT_FOUND, f"action profile group 9 not found in action "
                                                f"profile {PNAME}")
    got = read(store, table_entry={"table_id": TABLE})
    assert [e.table_entry.action.WhichOneof("type") for e in got] == ["action_profile_member_id",
                                                                      "action_profile_group_id"]
    # deleting what a table entry names is FAILED_PRECONDITION (spec 9.2.2, 9.2.3)
    assert err(store, group(7, [], typ=DEL)) == (Code.FAILED_PRECONDITION, f"action profile group 7 of {PNAME} is "
                                                 "still referenced by 1 table entry")
    assert err(store, member(1, typ=DEL)) == (Code.FAILED_PRECONDITION, f"action profile member 1 of {PNAME} is "
                                              "still in 1 group(s); remove it from them first")
    store.apply(group(7, [(2, 1)], typ=MOD))
    assert err(store, member(1, typ=DEL)) == (Code.FAILED_PRECONDITION, f"action profile member 1 of {PNAME} is "
                                              "still referenced by 1 table entry")
    # the dataplane's view: member and group resolved to the action set they stand for
    snap = store.snapshot()
    sets = [snap.action_set(p4r.Entity.FromString(b).table_entry) for b in snap.entries[TABLE]]
    assert [[(a.action.params[0].value, a.weight) for a in s.action_profile_action_set.action_profile_actions]
            for s in sets] == [[(b"\x01", 1)], [(b"\x02", 1)]]
    # MODIFY moves the reference: the member is free once no entry names it
    store.apply(entry(1, group_id=7, typ=MOD))
    store.apply(member(1, typ=DEL, action=False))
    store.write([entry(1, typ=DEL), entry(2, typ=DEL)])
    store.apply(group(7, [], typ=DEL))
    store.apply(member(2, typ=DEL, action=False))
    assert read(store, action_profile_member={}) == [] and len(store) == 0


def test_one_shots_and_indirect_do_not_mix(store):
    store.apply(entry(1, oneshot=[(1, 2), (2, 1)]))
    [e] = read(store, table_entry={"table_id": TABLE})
    assert e.table_entry.action.WhichOneof("type") == "action_profile_action_set"     # read back as one-shot
    assert [(a.action.params[0].value, a.weight) for a in
            e.table_entry.action.action_profile_action_set.action_profile_actions] == [(b"\x01", 2), (b"\x02", 1)]
    store.apply(member(1))
    assert err(store, entry(2, member_id=1)) == (
        Code.INVALID_ARGUMENT, f"table {TNAME}: action profile {PNAME} is programmed with one-shot action sets; "
        "one-shot action sets and members/groups cannot be mixed")
    store.apply(entry(1, typ=DEL))
    store.apply(entry(2, member_id=1))
    assert err(store, entry(3, oneshot=[(1, 1)])) == (
        Code.INVALID_ARGUMENT, f"table {TNAME}: action profile {PNAME} is programmed with members and groups; "
        "one-shot action sets and members/groups cannot be mixed")


def test_non_selector_profile_takes_no_groups():
    info = p4i.P4Info()
    info.CopyFrom(INFO)
    info.action_profiles[0].with_selector = False
    info.action_profiles[0].max_group_size = 0
    s = Store(Schema.of(info))
    s.apply(member(1))
    assert err(s, group(1, [(1, 1)])) == (Code.INVALID_ARGUMENT, f"action profile {PNAME} has no selector: it "
                                          "takes no groups")
    assert err(s, entry(1, group_id=1)) == (Code.INVALID_ARGUMENT, f"table {TNAME}: action profile {PNAME} has no "
                                            "selector: it takes no groups")
    s.apply(entry(1, member_id=1))
    with pytest.raises(P4Error, match="has no selector: it has no groups"):
        list(s.read(p4r.Entity(action_profile_group={"action_profile_id": PID})))


# ---------------------------------------------------------------------- over gRPC
def test_grpc_round_trip_with_errors():
    srv = AgentServer("127.0.0.1:0", [1])
    srv.start()
    ch = grpc.insecure_channel(srv.address)
    stub = p4r_grpc.P4RuntimeStub(ch)
    req_q: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
    try:
        bid = p4r.StreamMessageRequest()
        bid.arbitration.device_id = 1
        bid.arbitration.election_id.low = 10
        req_q.put(bid)
        stream = stub.StreamChannel(iter(req_q.get, None), timeout=30)
        first = next(stream)
        assert first.arbitration.status.code == Code.OK
        cfg = p4r.SetForwardingPipelineConfigRequest(
            device_id=1, action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        cfg.election_id.low = 10
        cfg.config.p4info.CopyFrom(INFO)
        stub.SetForwardingPipelineConfig(cfg, timeout=T)

        def write(*updates: p4r.Update) -> None:
            w = p4r.WriteRequest(device_id=1, updates=list(updates))
            w.election_id.low = 10
            stub.Write(w, timeout=T)

        write(member(1, nh=1), member(2, nh=2), group(5, [(1, 2), (2, 1)]), entry(1, group_id=5))
        r = p4r.ReadRequest(device_id=1)
        r.entities.add().action_profile_member.SetInParent()
        r.entities.add().action_profile_group.SetInParent()
        r.entities.add().table_entry.table_id = TABLE
        got = [e for resp in stub.Read(r, timeout=T) for e in resp.entities]
        assert [e.WhichOneof("entity") for e in got] == ["action_profile_member"] * 2 + [
            "action_profile_group", "table_entry"]
        assert got[3].table_entry.action.action_profile_group_id == 5
        with pytest.raises(grpc.RpcError) as ei:
            write(member(3), group(6, [(9, 1)]), member(1, typ=DEL), group(5, [], typ=DEL), member(1))
        assert ei.value.code() == grpc.StatusCode.UNKNOWN
        blob = dict(ei.value.trailing_metadata())["grpc-status-details-bin"]
        details = []
        for d in rpc_status.Status.FromString(blob).details:
            e = p4r.Error()
            d.Unpack(e)
            details.append((e.canonical_code, e.message))
        assert details == [
            (Code.OK, ""),
            (Code.NOT_FOUND, f"action profile group 6 of {PNAME}: action profile member 9 not found"),
            (Code.FAILED_PRECONDITION, f"action profile member 1 of {PNAME} is still in 1 group(s); remove it "
             "from them first"),
            (Code.FAILED_PRECONDITION, f"action profile group 5 of {PNAME} is still referenced by 1 table entry"),
            (Code.ALREADY_EXISTS, f"action profile member 1 already exists in action profile {PNAME}"),
        ]
        stream.cancel()
    finally:
        req_q.put(None)
        ch.close()
        srv.stop()
