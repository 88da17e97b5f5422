"""The agent's pure cores without sockets: :class:`p4.agent.store.Store` (every match kind, canonical
bytestrings, the spec's per-update errors), :class:`p4.agent.schema.Schema` (P4Info checks),
:class:`p4.agent.arbitration.Arbiter` and :func:`p4.agent.store.frame_entities`. The oracle for the
example plan is p4.runtime's own canonical entries: what is written reads back byte for byte."""

from __future__ import annotations

import pytest
from finsy.proto import p4i, p4r

from p4.agent.arbitration import ELECTION_ID_USED, Arbiter
from p4.agent.schema import Code, P4Error, Schema
from p4.agent.store import Store, canonical_bytes, frame_entities


def small_info(size: int = 8) -> p4i.P4Info:
    """One table of every match kind, an action with a 12-bit parameter, a 16-bit register of 4."""
    info = p4i.P4Info()
    a = info.actions.add()
    a.preamble.id, a.preamble.name = 0x01000001, "set"
    a.params.add(id=1, name="v", bitwidth=12)
    d = info.actions.add()
    d.preamble.id, d.preamble.name = 0x01000002, "dflt"
    t = info.tables.add()
    t.preamble.id, t.preamble.name, t.size = 0x02000001, "t", size
    for i, (kind, bits) in enumerate(((p4i.MatchField.EXACT, 9), (p4i.MatchField.OPTIONAL, 16),
                                      (p4i.MatchField.RANGE, 16), (p4i.MatchField.TERNARY, 8)), 1):
        t.match_fields.add(id=i, name=f"f{i}", bitwidth=bits, match_type=kind)
    t.action_refs.add(id=0x01000001)
    t.action_refs.add(id=0x01000002, scope=p4i.ActionRef.DEFAULT_ONLY)
    r = info.registers.add()
    r.preamble.id, r.preamble.name, r.size = 0x16000001, "reg", 4
    r.type_spec.bitstring.bit.bitwidth = 16
    return info


def entry(port=b"\x01", opt=b"\x00\x05", rng=(b"\x00\x10", b"\x00\x20"), tern=None, prio=5, v=b"\x0f\xff",
          typ=p4r.Update.INSERT, action=0x01000001):
    u = p4r.Update(type=typ)
    te = u.entity.table_entry
    te.table_id = 0x02000001
    te.match.add(field_id=1).exact.value = port
    if opt is not None:
        te.match.add(field_id=2).optional.value = opt
    if rng is not None:
        fm = te.match.add(field_id=3)
        fm.range.low, fm.range.high = rng
    if tern is not None:
        fm = te.match.add(field_id=4)
        fm.ternary.value, fm.ternary.mask = tern
    te.priority = prio
    if typ != p4r.Update.DELETE:
        te.action.action.action_id = action
        if action == 0x01000001:
            te.action.action.params.add(param_id=1, value=v)
    return u


def err(store, u):
    with pytest.raises(P4Error) as ei:
        store.apply(u)
    return ei.value.code, ei.value.message


def test_canonical_bytes():
    assert canonical_bytes(b"\x00\x00", 8, "x") == b"\x00"
    assert canonical_bytes(b"\x00\x01\xff", 9, "x") == b"\x01\xff"
    with pytest.raises(P4Error, match=r"x: value 0x200 does not fit in bit<9>"):
        canonical_bytes(b"\x02\x00", 9, "x")
    with pytest.raises(P4Error, match="x: empty bytestring"):
        canonical_bytes(b"", 9, "x")


def test_match_kinds_and_canonical_storage():
    s = Store(Schema.of(small_info()))
    s.apply(entry(port=b"\x00\x00\x01", opt=b"\x00\x00\x05", tern=(b"\x00\x01", b"\x00\x0f")))
    [got] = [p4r.Entity.FromString(b) for b in s.read(p4r.Entity(table_entry={}))]
    te = got.table_entry
    assert [(m.field_id, m.WhichOneof("field_match_type")) for m in te.match] == [
        (1, "exact"), (2, "optional"), (3, "range"), (4, "ternary")]
    assert te.match[0].exact.value == b"\x01" and te.match[1].optional.value == b"\x05"
    assert (te.match[2].range.low, te.match[2].range.high) == (b"\x10", b"\x20")
    assert (te.match[3].ternary.value, te.match[3].ternary.mask) == (b"\x01", b"\x0f")
    # the same key written padded differently is the same entry
    assert err(s, entry(port=b"\x01", opt=b"\x05", tern=(b"\x01", b"\x0f"))) == (
        Code.ALREADY_EXISTS, "table entry already exists in table t")
    # another priority is another entry; MODIFY keeps the key, DELETE removes it
    s.apply(entry(tern=(b"\x01", b"\x0f"), prio=6))
    s.apply(entry(tern=(b"\x01", b"\x0f"), prio=6, typ=p4r.Update.MODIFY, v=b"\x01"))
    s.apply(entry(tern=(b"\x01", b"\x0f"), prio=6, typ=p4r.Update.DELETE))
    assert len(s) == 1


@pytest.mark.parametrize("update, code, message", [
    (entry(port=b"\x02\x00"), Code.INVALID_ARGUMENT, "match field f1 of table t: value 0x200 does not fit in bit<9>"),
    (entry(rng=(b"\x20", b"\x10")), Code.INVALID_ARGUMENT, "match field f3 of table t: range low 32 is above high 16"),
    (entry(rng=(b"\x00", b"\xff\xff")), Code.INVALID_ARGUMENT,
     "match field f3 of table t: a range covering every value must be omitted"),
    (entry(tern=(b"\x01", b"\x00")), Code.INVALID_ARGUMENT,
     "match field f4 of table t: a ternary match with an all-zero mask must be omitted"),
    (entry(tern=(b"\x11", b"\x0f")), Code.INVALID_ARGUMENT,
     "match field f4 of table t: ternary value has bits set outside its mask"),
    (entry(prio=0), Code.INVALID_ARGUMENT,
     "table t has ternary, range or optional fields: its entries need a priority > 0"),
    (entry(v=b"\x10\x00"), Code.INVALID_ARGUMENT, "parameter 1 of action set: value 0x1000 does not fit in bit<12>"),
    (entry(action=0x01000002), Code.INVALID_ARGUMENT, "action dflt is default-only in table t"),
    (entry(action=0x01000009), Code.INVALID_ARGUMENT, "unknown action id 0x1000009"),
    (entry(typ=p4r.Update.MODIFY), Code.NOT_FOUND, "table entry not found in table t"),
    (entry(typ=p4r.Update.DELETE), Code.NOT_FOUND, "table entry not found in table t"),
    (entry(typ=p4r.Update.UNSPECIFIED), Code.INVALID_ARGUMENT, "update type is UNSPECIFIED"),
])
def test_table_errors(update, code, message):
    s = Store(Schema.of(small_info()))
    assert err(s, update) == (code, message)
    assert len(s) == 0


def test_more_table_errors():
    s = Store(Schema.of(small_info(size=1)))
    u = entry()
    u.entity.table_entry.match.add(field_id=1).exact.value = b"\x01"
    assert err(s, u) == (Code.INVALID_ARGUMENT, "match field f1 of table t is given twice")
    u = entry()
    u.entity.table_entry.match.add(field_id=9).exact.value = b"\x01"
    assert err(s, u) == (Code.INVALID_ARGUMENT, "table t has no match field id 9")
    u = entry()
    del u.entity.table_entry.match[0]
    assert err(s, u) == (Code.INVALID_ARGUMENT, "table t: exact match field(s) f1 missing")
    u = entry()
    u.entity.table_entry.match[0].ClearField("exact")
    u.entity.table_entry.match[0].lpm.value = b"\x01"
    assert err(s, u) == (Code.INVALID_ARGUMENT, "match field f1 of table t is exact, not lpm")
    u = entry()
    u.entity.table_entry.action.action.ClearField("params")
    assert err(s, u) == (Code.INVALID_ARGUMENT, "action set takes 1 parameters, got 0")
    u = entry()
    u.entity.table_entry.ClearField("action")
    assert err(s, u) == (Code.INVALID_ARGUMENT, "table t: the entry has no action")
    u = entry()
    u.entity.table_entry.action.action_profile_member_id = 3
    assert err(s, u) == (Code.INVALID_ARGUMENT, "table t has no action profile: it takes no action profile member")
    u = entry()
    u.entity.table_entry.action.action_profile_action_set.action_profile_actions.add(weight=1)
    assert err(s, u) == (Code.INVALID_ARGUMENT, "table t has no action profile: it takes no action profile action set")
    s.apply(entry())
    assert err(s, entry(port=b"\x02")) == (Code.RESOURCE_EXHAUSTED, "table t is full (1 entries)")
    assert err(s, p4r.Update(type=p4r.Update.INSERT)) == (Code.INVALID_ARGUMENT, "update has no entity")


def test_default_entry():
    s = Store(Schema.of(small_info()))
    u = p4r.Update(type=p4r.Update.MODIFY)
    te = u.entity.table_entry
    te.table_id, te.is_default_action = 0x02000001, True
    te.action.action.action_id = 0x01000002
    s.apply(u)
    got = list(s.read(p4r.Entity(table_entry={"table_id": 0x02000001, "is_default_action": True})))
    assert [p4r.Entity.FromString(b) for b in got] == [u.entity]
    u.type = p4r.Update.INSERT
    assert err(s, u) == (Code.INVALID_ARGUMENT, "table t: the default entry can only be modified")


def test_registers():
    s = Store(Schema.of(small_info()))

    def reg(index, value, typ=p4r.Update.MODIFY):
        u = p4r.Update(type=typ)
        r = u.entity.register_entry
        r.register_id = 0x16000001
        if index is not None:
            r.index.index = index
        r.data.bitstring = value
        return u

    s.apply(reg(2, b"\x00\x00\x07"))
    assert err(s, reg(4, b"\x01")) == (Code.OUT_OF_RANGE, "register reg: index 4 is out of range (size 4)")
    assert err(s, reg(1, b"\x01\x00\x00")) == (Code.INVALID_ARGUMENT,
                                               "register reg: value 0x10000 does not fit in bit<16>")
    assert err(s, reg(1, b"\x01", p4r.Update.INSERT)) == (
        Code.INVALID_ARGUMENT, "register entries can only be modified (INSERT and DELETE are not allowed)")
    vals = lambda: [p4r.Entity.FromString(b).register_entry.data.bitstring  # noqa: E731
                    for b in s.read(p4r.Entity(register_entry={"register_id": 0x16000001}))]
    assert vals() == [b"\x00", b"\x00", b"\x07", b"\x00"]
    s.apply(reg(None, b"\x03"))          # no index: every cell
    assert vals() == [b"\x03"] * 4


def test_schema_refuses_inconsistent_p4info():
    info = small_info()
    info.tables[0].match_fields[1].id = 1
    with pytest.raises(P4Error, match="P4Info table 't': match field id 1 appears twice"):
        Schema.of(info)
    info = small_info()
    info.actions[1].preamble.id = 0x01000001
    with pytest.raises(P4Error, match="P4Info id 0x1000001 is used by both 'set' and 'dflt'"):
        Schema.of(info)
    info = small_info()
    info.tables[0].preamble.id = 0x01000007
    with pytest.raises(P4Error, match="does not carry the table prefix 0x02"):
        Schema.of(info)
    info = small_info()
    info.tables[0].implementation_id = 0x11000001
    with pytest.raises(P4Error, match="names action profile 0x11000001, which the P4Info lacks"):
        Schema.of(info)
    info = small_info()
    info.tables[0].match_fields[0].bitwidth = 0
    with pytest.raises(P4Error, match="match field 'f1' has no bit width"):
        Schema.of(info)


def test_arbiter_core():
    seen = []
    a = Arbiter({1}, {(1, ""): 50}, on_highest=lambda d, r, e: seen.append((d, r, e)))
    assert [(n.code, n.election_id) for n in a.bid("x", 1, "", 40)] == [(Code.NOT_FOUND, 50)]
    assert not a.is_primary(1, "", 40)
    assert [(n.code, n.election_id) for n in a.bid("y", 1, "", None)] == [(Code.NOT_FOUND, 50)]
    n = a.bid("z", 1, "", 51)
    assert sorted((x.conn, x.code) for x in n) == [("x", Code.ALREADY_EXISTS), ("y", Code.ALREADY_EXISTS),
                                                   ("z", Code.OK)]
    assert seen == [(1, "", 51)] and a.is_primary(1, "", 51)
    with pytest.raises(P4Error, match=ELECTION_ID_USED):
        a.bid("w", 1, "", 51)
    with pytest.raises(P4Error, match="A stream cannot change its device id or role"):
        a.bid("z", 1, "other", 51)
    assert a.drop("x") == []                      # a backup leaving changes nothing
    assert sorted((x.conn, x.code) for x in a.drop("z")) == [("y", Code.NOT_FOUND)]
    assert a.highest() == {(1, ""): 51}


def test_frame_entities_chunks():
    one = p4r.Entity(table_entry={"table_id": 0x02000001, "controller_metadata": 1, "metadata": bytes(90)})
    blobs = [one.SerializeToString()] * 50
    frames = list(frame_entities(blobs, limit=1000))
    per = 1000 // (len(blobs[0]) + 2)
    assert all(len(f) <= 1000 for f in frames) and len(frames) == -(-50 // per)
    assert sum(len(p4r.ReadResponse.FromString(f).entities) for f in frames) == 50
    assert list(frame_entities([])) == [b""]


def test_example_leaf_entries_round_trip():
    """p4.runtime's WriteRequests for a leaf of a hand-made plan section apply without error and read
    back byte for byte (they are canonical already)."""
    from p4.entries import Nexthop, Route, SwitchEntries, WcmpGroup
    from p4.p4info import build_p4info
    from p4.programs import build_program
    from p4.runtime import to_write_requests

    prog = build_program("leaf")
    e = SwitchEntries("leaf1", "leaf", {"p1": 1, "p2": 2}, (1, 2), {26: 3}, (Route("10.0.0.0/8", wcmp_group_id=1),
                                                                          Route("10.9.0.1/32", nexthop_id=2)),
                      (Nexthop(1, "s1", "p1", 1, 0x0200000000AA, 0x0200000000A1),
                       Nexthop(2, "s2", "p2", 2, 0x0200000000AA, 0x0200000000A2)),
                      (WcmpGroup(1, ((1, 3), (2, 1))),))
    s = Store(Schema.of(build_p4info(prog)))
    ups = [u for r in to_write_requests(prog, e) for u in r.updates]
    assert s.write(ups) == [None] * len(ups)
    want = {u.entity.SerializeToString(deterministic=True) for u in ups}
    got = {p4r.Entity.FromString(b).SerializeToString(deterministic=True) for b in s.read(p4r.Entity(table_entry={}))}
    assert got == want


def test_one_shot_action_set_errors():
    from p4.p4info import IdMap, build_p4info
    from p4.programs import build_program

    prog = build_program("leaf")
    ids = IdMap.of(prog)
    s = Store(Schema.of(build_p4info(prog)))
    sel = build_p4info(prog).action_profiles[0]

    def group(weights, direct=False):
        u = p4r.Update(type=p4r.Update.INSERT)
        te = u.entity.table_entry
        te.table_id = ids.table("FabricIngress.wcmp_group_table")
        te.match.add(field_id=1).exact.value = b"\x01"
        if direct:
            te.action.action.action_id = ids.action("FabricIngress.set_nexthop_id")
            te.action.action.params.add(param_id=1, value=b"\x01")
        for i, w in enumerate(weights):
            pa = te.action.action_profile_action_set.action_profile_actions.add(weight=w)
            pa.action.action_id = ids.action("FabricIngress.set_nexthop_id")
            pa.action.params.add(param_id=1, value=(i + 1).to_bytes(2, "big"))
        return u

    name = "FabricIngress.wcmp_group_table"
    assert err(s, group([1, 0])) == (Code.INVALID_ARGUMENT, f"table {name}: action set member weight 0 is not >= 1")
    assert err(s, group([sel.sum_of_members.max_member_weight + 1])) == (
        Code.INVALID_ARGUMENT, f"table {name}: action set member weight 257 exceeds the max_member_weight 256 of "
        "action profile FabricIngress.wcmp_group_selector")
    assert err(s, group([1] * (sel.max_group_size + 1))) == (   # spec 9.2.4: INVALID_ARGUMENT for a one-shot
        Code.INVALID_ARGUMENT, "action set of 257 actions (257 members) exceeds the max_group_size 256 of action "
        "profile FabricIngress.wcmp_group_selector")
    assert err(s, group([], direct=True)) == (
        Code.INVALID_ARGUMENT, f"table {name} is implemented by an action profile: its entries take an action "
        "profile action set, member or group, not a direct action")
    u = group([])
    u.entity.table_entry.action.action_profile_action_set.SetInParent()
    assert err(s, u) == (Code.INVALID_ARGUMENT, f"table {name}: an action profile action set needs at least one action")
    s.apply(group([3, 1]))
    assert len(s) == 1
