"""The agent's pure state core: one device's table entries, registers and direct counters under one
P4Info, as ``p4.v1.Update``\\ s change them and ``p4.v1.Entity`` reads see them. No sockets, no clocks,
no threads: :mod:`p4.agent.server` calls it under a lock and only translates.

Rules (P4Runtime spec v1, sections 9 and 12; each error is a :class:`~p4.agent.schema.P4Error`):

- **Bytestrings** (spec 8.4): a value may be zero-padded on input; it is range-checked against its bit
  width (INVALID_ARGUMENT "... does not fit in bit<W>") and stored, returned and compared in canonical
  form (leading zero bytes removed, ``b"\\x00"`` for zero). The stored entry is the written one with
  its values made canonical, so a one-shot action set reads back as the action set it was written as.
- **Match**: an unknown table, field or action id is INVALID_ARGUMENT, as are a field given twice, a
  field of another match kind, a missing exact field, an LPM prefix length of 0 (omit the field) or
  beyond the width, an LPM value with bits past the prefix, a ternary with an all-zero mask (omit it) or
  a value outside its mask, a range with low > high or covering everything. A table with ternary, range
  or optional fields needs a priority > 0; any other table takes none.
- **Updates**: INSERT of an existing entry is ALREADY_EXISTS; MODIFY or DELETE of a missing one
  NOT_FOUND; INSERT into a table holding ``size`` entries (from the P4Info) RESOURCE_EXHAUSTED; a
  one-shot set larger than the selector's ``max_group_size`` (members for sum_of_members, total weight
  for sum_of_weights), a member weight < 1 or over ``max_member_weight`` INVALID_ARGUMENT (spec 9.2.4).
- **Action profiles** (spec 9.2.2-9.2.4): members (an action of the profile's tables) and groups (members
  of one selector, each with a weight and a watch port) by id, a separate id space each. INSERT of an
  existing id ALREADY_EXISTS, MODIFY/DELETE of a missing one NOT_FOUND, a group naming a missing member
  NOT_FOUND, a member given twice INVALID_ARGUMENT; DELETE of a member still in a group, or of a member
  or group still named by a table entry, FAILED_PRECONDITION; a group's ``max_size`` over
  ``max_group_size`` or changed by a MODIFY INVALID_ARGUMENT; a group larger than its ``max_size`` (or
  ``max_group_size`` when 0) RESOURCE_EXHAUSTED, weights as for one-shots; a full profile (``size``
  members) RESOURCE_EXHAUSTED. A table entry may name a member or (with a selector) a group, NOT_FOUND
  when missing; one selector's entries are all one-shots or all members/groups (INVALID_ARGUMENT
  otherwise). :meth:`Snapshot.action_set` resolves a member or group to the action set a dataplane runs. Registers and direct counters can only be
  modified (INSERT/DELETE are INVALID_ARGUMENT); a register index past its size is OUT_OF_RANGE; a
  MODIFY without an index sets every index. The default entry can only be modified
  (PERMISSION_DENIED for a const default action). Meters and indirect counters are UNIMPLEMENTED.
- **Reads**: ``table_id`` 0 reads every table (no match allowed then), an empty match every entry of a
  table (a non-zero ``priority`` filters), a full match one entry; the same wildcards for direct
  counters (by their table entry), registers (``register_id`` 0, index unset), members and groups
  (``action_profile_id`` 0: every profile; id 0: every one of the profile). Reads yield serialized
  ``p4.v1.Entity`` bytes (:func:`frame_entities` packs them into ``ReadResponse`` messages).

>>> from finsy.proto import p4r
>>> from p4.p4info import IdMap, build_p4info
>>> from p4.programs import build_program
>>> prog = build_program("leaf")
>>> ids = IdMap.of(prog)
>>> store = Store(Schema.of(build_p4info(prog)))
>>> u = p4r.Update(type=p4r.Update.INSERT)
>>> te = u.entity.table_entry
>>> te.table_id = ids.table("FabricIngress.nexthop_table")
>>> _ = te.match.add(field_id=1, exact=p4r.FieldMatch.Exact(value=b"\\x00\\x07"))
>>> te.action.action.action_id = ids.action("FabricIngress.set_nexthop")
>>> for i, v in ((1, b"\\x03"), (2, b"\\x02\\x00\\x00\\x00\\x00\\x01"), (3, b"\\x02\\x00\\x00\\x00\\x00\\x02")):
...     _ = te.action.action.params.add(param_id=i, value=v)
>>> store.write([u, u])
[None, P4Error(ALREADY_EXISTS, 'table entry already exists in table FabricIngress.nexthop_table')]
>>> [p4r.Entity.FromString(b).table_entry.match[0].exact.value for b in store.read(p4r.Entity(table_entry={}))]
[b'\\x07']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from finsy.proto import p4i, p4r

from p4.agent.schema import Code, P4Error, ProfileInfo, Schema, TableInfo, invalid

INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE
_DEFAULT_ONLY, _TABLE_ONLY = p4i.ActionRef.DEFAULT_ONLY, p4i.ActionRef.TABLE_ONLY
#: A ReadResponse stays under this many bytes (gRPC's default message limit is 4 MiB).
READ_CHUNK_BYTES = 3 << 20
_TABLE_ACTIONS = {"action_profile_action_set": "action profile action set",
                  "action_profile_member_id": "action profile member", "action_profile_group_id": "action profile group"}


def canonical_bytes(value: bytes, bits: int, what: str) -> bytes:
    """``value`` without its leading zero bytes (``b"\\x00"`` for zero), refused if empty or wider than
    ``bits``.

    >>> canonical_bytes(b"\\x00\\x00\\x01\\xff", 9, "port")
    b'\\x01\\xff'
    """
    if not value:
        raise invalid(f"{what}: empty bytestring")
    s = value.lstrip(b"\0")
    if not s:
        return b"\x00"
    if (len(s) - 1) * 8 + s[0].bit_length() > bits:
        raise invalid(f"{what}: value {int.from_bytes(s, 'big'):#x} does not fit in bit<{bits}>")
    return s


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame_entities(entities: Iterable[bytes], limit: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
    """Serialized ``ReadResponse`` messages holding ``entities`` (serialized ``p4.v1.Entity``), each under
    ``limit`` bytes when its entities are (an empty read gives one empty response)."""
    chunk: list[bytes] = []
    size = 0
    sent = False
    for eb in entities:
        frame = b"\x0a" + _varint(len(eb)) + eb       # ReadResponse.entities = 1, length-delimited
        if chunk and size + len(frame) > limit:
            yield b"".join(chunk)
            sent = True
            chunk, size = [], 0
        chunk.append(frame)
        size += len(frame)
    if chunk or not sent:
        yield b"".join(chunk)


class Snapshot:
    """What :meth:`Store.snapshot` returns: per table the serialized entities, per register its cells, per
    action profile its members and groups (serialized entities, by id)."""

    def __init__(self, schema: Schema, entries: dict[int, list[bytes]], registers: dict[int, dict[int, bytes]],
                 generation: int, members: dict[int, dict[int, bytes]] | None = None,
                 groups: dict[int, dict[int, bytes]] | None = None) -> None:
        self.schema, self.entries, self.registers, self.generation = schema, entries, registers, generation
        self.members = members or {}
        self.groups = groups or {}

    def action_set(self, te: Any) -> Any:
        """The action of table entry ``te`` as a dataplane runs it: a direct action or a one-shot set as it
        is, a member as a one-shot set of that member's action (weight 1), a group as a one-shot set of its
        members' actions with their weights and watch ports. A ``p4.v1.TableAction``."""
        ta = te.action
        which = ta.WhichOneof("type")
        if which not in ("action_profile_member_id", "action_profile_group_id"):
            return ta
        pid = self.schema.tables[te.table_id].profile_id
        members = self.members.get(pid, {})
        out = p4r.TableAction()
        acts = out.action_profile_action_set.action_profile_actions
        if which == "action_profile_member_id":
            m = p4r.Entity.FromString(members[ta.action_profile_member_id]).action_profile_member
            acts.add(weight=1).action.CopyFrom(m.action)
            return out
        g = p4r.Entity.FromString(self.groups[pid][ta.action_profile_group_id]).action_profile_group
        for gm in g.members:
            m = p4r.Entity.FromString(members[gm.member_id]).action_profile_member
            pa = acts.add(weight=gm.weight or 1, watch_port=gm.watch_port)
            pa.action.CopyFrom(m.action)
        return out


class Store:
    """One device's forwarding state under ``schema`` (module docstring for the rules)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        #: table id -> canonical key -> [serialized Entity, byte count, packet count]
        self.entries: dict[int, dict[tuple[Any, ...], list[Any]]] = {t: {} for t in schema.tables}
        self.defaults: dict[int, bytes] = {}
        #: register id -> index -> canonical bytes (absent: 0)
        self.registers: dict[int, dict[int, bytes]] = {r: {} for r in schema.registers}
        #: action profile id -> member id -> (serialized Entity, action id)
        self.members: dict[int, dict[int, tuple[bytes, int]]] = {p: {} for p in schema.profiles}
        #: action profile id -> group id -> (serialized Entity, max_size, member ids)
        self.groups: dict[int, dict[int, tuple[bytes, int, tuple[int, ...]]]] = {
            p: {} for p, info in schema.profiles.items() if info.with_selector}
        # references: (profile, member) -> groups holding it / table entries naming it; (profile, group) ->
        # table entries naming it; profile -> table entries with one-shot sets / with members or groups
        self._member_groups: dict[tuple[int, int], int] = {}
        self._member_tables: dict[tuple[int, int], int] = {}
        self._group_tables: dict[tuple[int, int], int] = {}
        self._oneshot_refs: dict[int, int] = {}
        self._indirect_refs: dict[int, int] = {}
        #: bumped by every successful update (what a dataplane rebuild watches)
        self.generation = 0

    def __len__(self) -> int:
        return sum(len(e) for e in self.entries.values())

    # ------------------------------------------------------------------ writes
    def write(self, updates: Sequence[Any]) -> list[P4Error | None]:
        """Apply ``updates`` in order, CONTINUE_ON_ERROR: each one's error, or None."""
        out: list[P4Error | None] = []
        apply = self.apply
        for u in updates:
            try:
                apply(u)
                out.append(None)
            except P4Error as exc:
                out.append(exc)
        return out

    def apply(self, u: Any) -> None:
        """Apply one ``p4.v1.Update`` or raise its :class:`P4Error`."""
        ent = u.entity
        which = ent.WhichOneof("entity")
        if which == "table_entry":
            self._write_table(u.type, ent)
        elif which == "register_entry":
            self._write_register(u.type, ent.register_entry)
        elif which == "direct_counter_entry":
            self._write_direct_counter(u.type, ent.direct_counter_entry)
        elif which == "action_profile_member":
            self._write_member(u.type, ent)
        elif which == "action_profile_group":
            self._write_group(u.type, ent)
        elif which is None:
            raise invalid("update has no entity")
        else:
            raise P4Error(Code.UNIMPLEMENTED, f"{which} updates are not supported by this agent")
        self.generation += 1

    def _table(self, table_id: int) -> TableInfo:
        t = self.schema.tables.get(table_id)
        if t is None:
            raise invalid(f"unknown table id {table_id:#x}")
        return t

    def key(self, t: TableInfo, te: Any) -> tuple[Any, ...]:
        """The canonical key of ``te`` in table ``t`` (its values made canonical in place), checked."""
        seen: set[int] = set()
        parts: list[tuple[Any, ...]] = []
        fields = t.fields
        for fm in te.match:
            fid = fm.field_id
            fi = fields.get(fid)
            if fi is None:
                raise invalid(f"table {t.name} has no match field id {fid}")
            if fid in seen:
                raise invalid(f"match field {fi.name} of table {t.name} is given twice")
            seen.add(fid)
            which = fm.WhichOneof("field_match_type")
            if which != fi.kind:
                raise invalid(f"match field {fi.name} of table {t.name} is {fi.kind}, not {which}")
            what = f"match field {fi.name} of table {t.name}"
            if which == "exact":
                raw = fm.exact.value
                v = canonical_bytes(raw, fi.bits, what)
                if v is not raw and v != raw:
                    fm.exact.value = v
                parts.append((fid, v))
            elif which == "lpm":
                plen = fm.lpm.prefix_len
                if plen <= 0 or plen > fi.bits:
                    raise invalid(f"{what}: prefix length {plen} is not in 1..{fi.bits} (omit a /0 field)")
                raw = fm.lpm.value
                v = canonical_bytes(raw, fi.bits, what)
                if int.from_bytes(v, "big") & ((1 << (fi.bits - plen)) - 1):
                    raise invalid(f"{what}: LPM value has bits set beyond its prefix length {plen}")
                if v != raw:
                    fm.lpm.value = v
                parts.append((fid, v, plen))
            elif which == "ternary":
                rv, rm = fm.ternary.value, fm.ternary.mask
                v = canonical_bytes(rv, fi.bits, what)
                m = canonical_bytes(rm, fi.bits, f"{what} mask")
                mi = int.from_bytes(m, "big")
                if mi == 0:
                    raise invalid(f"{what}: a ternary match with an all-zero mask must be omitted")
                if int.from_bytes(v, "big") & ~mi:
                    raise invalid(f"{what}: ternary value has bits set outside its mask")
                if v != rv:
                    fm.ternary.value = v
                if m != rm:
                    fm.ternary.mask = m
                parts.append((fid, v, m))
            elif which == "optional":
                raw = fm.optional.value
                v = canonical_bytes(raw, fi.bits, what)
                if v != raw:
                    fm.optional.value = v
                parts.append((fid, v))
            else:   # range
                rl, rh = fm.range.low, fm.range.high
                lo = canonical_bytes(rl, fi.bits, f"{what} low")
                hi = canonical_bytes(rh, fi.bits, f"{what} high")
                li, hi_i = int.from_bytes(lo, "big"), int.from_bytes(hi, "big")
                if li > hi_i:
                    raise invalid(f"{what}: range low {li} is above high {hi_i}")
                if li == 0 and hi_i == (1 << fi.bits) - 1:
                    raise invalid(f"{what}: a range covering every value must be omitted")
                if lo != rl:
                    fm.range.low = lo
                if hi != rh:
                    fm.range.high = hi
                parts.append((fid, lo, hi))
        if not t.exact_ids <= seen:
            missing = sorted(t.fields[i].name for i in t.exact_ids - seen)
            raise invalid(f"table {t.name}: exact match field(s) {', '.join(missing)} missing")
        prio = te.priority
        if t.needs_priority:
            if prio <= 0:
                raise invalid(f"table {t.name} has ternary, range or optional fields: its entries need a "
                              "priority > 0")
        elif prio != 0:
            raise invalid(f"table {t.name} has only exact and LPM fields: its entries take no priority")
        if len(parts) > 1:
            parts.sort()
        return (tuple(parts), prio)

    def _check_action(self, t: TableInfo, ta: Any, *, default: bool = False) -> tuple[str, int]:
        """Check a table action (its values made canonical in place); what it refers to: ``("", 0)`` for a
        direct action, ``("o", 0)`` for a one-shot set, ``("m", member_id)`` or ``("g", group_id)``."""
        which = ta.WhichOneof("type")
        if which == "action":
            if t.profile_id and not default:
                raise invalid(f"table {t.name} is implemented by an action profile: its entries take an "
                              "action profile action set, member or group, not a direct action")
            self._check_one(t, ta.action, default=default)
            return ("", 0)
        prof = self.schema.profiles.get(t.profile_id)
        if which is None:
            raise invalid(f"table {t.name}: the entry has no action")
        what = _TABLE_ACTIONS.get(which, which)
        if prof is None:
            raise invalid(f"table {t.name} has no action profile: it takes no {what}")
        if default:
            raise invalid(f"table {t.name}: the default entry takes a direct action, not an {what}")
        if which == "action_profile_action_set":
            if self._indirect_refs.get(prof.id):
                raise invalid(f"table {t.name}: action profile {prof.name} is programmed with members and "
                              "groups; one-shot action sets and members/groups cannot be mixed")
            acts = ta.action_profile_action_set.action_profile_actions
            if not acts:
                raise invalid(f"table {t.name}: an action profile action set needs at least one action")
            self._check_weights(prof, [pa.weight for pa in acts], f"table {t.name}: action set member",
                                f"action set of {len(acts)} actions")
            for pa in acts:
                self._check_one(t, pa.action)
            return ("o", 0)
        if self._oneshot_refs.get(prof.id):
            raise invalid(f"table {t.name}: action profile {prof.name} is programmed with one-shot action "
                          "sets; one-shot action sets and members/groups cannot be mixed")
        if which == "action_profile_member_id":
            mid = ta.action_profile_member_id
            if mid not in self.members[prof.id]:
                raise P4Error(Code.NOT_FOUND, f"action profile member {mid} not found in action profile "
                              f"{prof.name}")
            return ("m", mid)
        gid = ta.action_profile_group_id
        if not prof.with_selector:
            raise invalid(f"table {t.name}: action profile {prof.name} has no selector: it takes no groups")
        if gid not in self.groups[prof.id]:
            raise P4Error(Code.NOT_FOUND, f"action profile group {gid} not found in action profile {prof.name}")
        return ("g", gid)

    @staticmethod
    def _check_weights(prof: ProfileInfo, weights: list[int], what: str, size_what: str = "",
                       oneshot: bool = True) -> tuple[int, str]:
        """Weights of a one-shot set or a group (spec 9.2.3 and 9.2.4): 0 and only 0 when the profile
        disallows weights, else each >= 1 and at most ``max_member_weight`` (sum_of_members). Returns the
        size (the number of members, or the sum of the weights for sum_of_weights) and its unit; a one-shot
        set larger than ``max_group_size`` is INVALID_ARGUMENT (spec 9.2.4)."""
        for w in weights:
            if prof.weights_disallowed:
                if w != 0:
                    raise invalid(f"{what} weight {w}: action profile {prof.name} disallows weights (only 0)")
            elif w < 1:
                raise invalid(f"{what} weight {w} is not >= 1")
            elif prof.max_member_weight and w > prof.max_member_weight:
                raise invalid(f"{what} weight {w} exceeds the max_member_weight {prof.max_member_weight} of "
                              f"action profile {prof.name}")
        by_members = prof.sum_of_members or prof.weights_disallowed
        size, unit = (len(weights), "members") if by_members else (sum(weights), "total weight")
        if oneshot and prof.max_group_size and size > prof.max_group_size:
            raise invalid(f"{size_what} ({size} {unit}) exceeds the max_group_size {prof.max_group_size} of "
                          f"action profile {prof.name}")
        return size, unit

    def _check_one(self, t: TableInfo, a: Any, *, default: bool = False) -> None:
        aid = a.action_id
        scope = t.actions.get(aid)
        info = self.schema.actions.get(aid)
        if info is None:
            raise invalid(f"unknown action id {aid:#x}")
        if scope is None:
            raise invalid(f"action {info.name} is not an action of table {t.name}")
        if scope == _DEFAULT_ONLY and not default:
            raise invalid(f"action {info.name} is default-only in table {t.name}")
        if scope == _TABLE_ONLY and default:
            raise invalid(f"action {info.name} is table-only in table {t.name}: not a default action")
        widths = info.params
        n = 0
        seen: set[int] = set()
        for p in a.params:
            bits = widths.get(p.param_id)
            if bits is None:
                raise invalid(f"action {info.name} has no parameter id {p.param_id}")
            if p.param_id in seen:
                raise invalid(f"action {info.name}: parameter id {p.param_id} is given twice")
            seen.add(p.param_id)
            raw = p.value
            v = canonical_bytes(raw, bits, f"parameter {p.param_id} of action {info.name}")
            if v != raw:
                p.value = v
            n += 1
        if n != len(widths):
            raise invalid(f"action {info.name} takes {len(widths)} parameters, got {n}")

    def _write_table(self, typ: int, ent: Any) -> None:
        te = ent.table_entry
        t = self._table(te.table_id)
        if te.is_default_action:
            self._write_default(typ, t, te, ent)
            return
        if t.is_const:
            raise P4Error(Code.PERMISSION_DENIED, f"table {t.name} is const: its entries cannot be written")
        key = self.key(t, te)
        entries = self.entries[t.id]
        if typ == INSERT or typ == MODIFY:
            ref = self._check_action(t, te.action)
            counters = (te.counter_data.byte_count, te.counter_data.packet_count) \
                if te.HasField("counter_data") else None
            if counters is not None:
                te.ClearField("counter_data")
            if typ == INSERT:
                if key in entries:
                    raise P4Error(Code.ALREADY_EXISTS, f"table entry already exists in table {t.name}")
                if len(entries) >= t.size:
                    raise P4Error(Code.RESOURCE_EXHAUSTED, f"table {t.name} is full ({t.size} entries)")
                entries[key] = [ent.SerializeToString(), *(counters or (0, 0))]
            else:
                old = entries.get(key)
                if old is None:
                    raise P4Error(Code.NOT_FOUND, f"table entry not found in table {t.name}")
                if t.profile_id:
                    self._unref(t.profile_id, old[0])
                old[0] = ent.SerializeToString()
                if counters is not None:
                    old[1], old[2] = counters
            if t.profile_id:
                self._ref(t.profile_id, ref, 1)
        elif typ == DELETE:
            old = entries.pop(key, None)
            if old is None:
                raise P4Error(Code.NOT_FOUND, f"table entry not found in table {t.name}")
            if t.profile_id:
                self._unref(t.profile_id, old[0])
        else:
            raise invalid("update type is UNSPECIFIED")

    def _ref(self, pid: int, ref: tuple[str, int], n: int) -> None:
        kind, i = ref
        if kind == "o":
            self._oneshot_refs[pid] = self._oneshot_refs.get(pid, 0) + n
            return
        self._indirect_refs[pid] = self._indirect_refs.get(pid, 0) + n
        refs = self._member_tables if kind == "m" else self._group_tables
        k = (pid, i)
        c = refs.get(k, 0) + n
        if c:
            refs[k] = c
        else:
            refs.pop(k, None)

    def _unref(self, pid: int, blob: bytes) -> None:
        ta = p4r.Entity.FromString(blob).table_entry.action
        which = ta.WhichOneof("type")
        if which == "action_profile_action_set":
            self._ref(pid, ("o", 0), -1)
        elif which == "action_profile_member_id":
            self._ref(pid, ("m", ta.action_profile_member_id), -1)
        elif which == "action_profile_group_id":
            self._ref(pid, ("g", ta.action_profile_group_id), -1)

    # ------------------------------------------------------------------ action profiles
    def _profile(self, pid: int) -> ProfileInfo:
        prof = self.schema.profiles.get(pid)
        if prof is None:
            raise invalid(f"unknown action profile id {pid:#x}")
        return prof

    def _write_member(self, typ: int, ent: Any) -> None:
        m = ent.action_profile_member
        prof = self._profile(m.action_profile_id)
        mid = m.member_id
        if mid == 0:
            raise invalid(f"action profile {prof.name}: member id 0 is not valid")
        members = self.members[prof.id]
        if typ == DELETE:
            if mid not in members:
                raise P4Error(Code.NOT_FOUND, f"action profile member {mid} not found in action profile {prof.name}")
            n = self._member_groups.get((prof.id, mid), 0)
            if n:
                raise P4Error(Code.FAILED_PRECONDITION, f"action profile member {mid} of {prof.name} is still "
                              f"in {n} group(s); remove it from them first")
            n = self._member_tables.get((prof.id, mid), 0)
            if n:
                raise P4Error(Code.FAILED_PRECONDITION, f"action profile member {mid} of {prof.name} is still "
                              f"referenced by {n} table entr{'y' if n == 1 else 'ies'}")
            del members[mid]
            return
        if typ not in (INSERT, MODIFY):
            raise invalid("update type is UNSPECIFIED")
        if typ == INSERT and mid in members:
            raise P4Error(Code.ALREADY_EXISTS, f"action profile member {mid} already exists in action profile "
                          f"{prof.name}")
        if typ == MODIFY and mid not in members:
            raise P4Error(Code.NOT_FOUND, f"action profile member {mid} not found in action profile {prof.name}")
        if not m.HasField("action"):
            raise invalid(f"action profile member {mid} of {prof.name}: the action must be given")
        if not prof.table_ids or prof.table_ids[0] not in self.schema.tables:
            raise invalid(f"action profile {prof.name} implements no table: it takes no members")
        self._check_one(self.schema.tables[prof.table_ids[0]], m.action)
        if typ == INSERT and prof.size and len(members) >= prof.size:
            raise P4Error(Code.RESOURCE_EXHAUSTED, f"action profile {prof.name} is full ({prof.size} members)")
        members[mid] = (ent.SerializeToString(), m.action.action_id)

    def _write_group(self, typ: int, ent: Any) -> None:
        g = ent.action_profile_group
        prof = self._profile(g.action_profile_id)
        gid = g.group_id
        if not prof.with_selector:
            raise invalid(f"action profile {prof.name} has no selector: it takes no groups")
        if gid == 0:
            raise invalid(f"action profile {prof.name}: group id 0 is not valid")
        groups = self.groups[prof.id]
        old = groups.get(gid)
        if typ == DELETE:
            if old is None:
                raise P4Error(Code.NOT_FOUND, f"action profile group {gid} not found in action profile {prof.name}")
            n = self._group_tables.get((prof.id, gid), 0)
            if n:
                raise P4Error(Code.FAILED_PRECONDITION, f"action profile group {gid} of {prof.name} is still "
                              f"referenced by {n} table entr{'y' if n == 1 else 'ies'}")
            self._group_members(prof.id, old[2], -1)
            del groups[gid]
            return
        if typ not in (INSERT, MODIFY):
            raise invalid("update type is UNSPECIFIED")
        if typ == INSERT and old is not None:
            raise P4Error(Code.ALREADY_EXISTS, f"action profile group {gid} already exists in action profile "
                          f"{prof.name}")
        if typ == MODIFY:
            if old is None:
                raise P4Error(Code.NOT_FOUND, f"action profile group {gid} not found in action profile {prof.name}")
            if g.max_size != old[1]:
                raise invalid(f"action profile group {gid} of {prof.name}: max_size {g.max_size} differs from "
                              f"the {old[1]} it was inserted with (it cannot be modified)")
        what = f"action profile group {gid} of {prof.name}"
        if g.max_size < 0:
            raise invalid(f"{what}: max_size {g.max_size} is negative")
        if prof.max_group_size and g.max_size > prof.max_group_size:
            raise invalid(f"{what}: max_size {g.max_size} exceeds the max_group_size {prof.max_group_size}")
        members = self.members[prof.id]
        ids: list[int] = []
        action_ids: set[int] = set()
        for gm in g.members:
            mid = gm.member_id
            if mid in ids:
                raise invalid(f"{what}: member {mid} is given twice (use its weight instead)")
            m = members.get(mid)
            if m is None:
                raise P4Error(Code.NOT_FOUND, f"{what}: action profile member {mid} not found")
            ids.append(mid)
            action_ids.add(m[1])
        if len(action_ids) > 1:
            raise invalid(f"{what}: its members must be bound to the same action")
        size, unit = self._check_weights(prof, [gm.weight for gm in g.members], f"{what}: member", oneshot=False)
        cap = g.max_size or prof.max_group_size
        if cap and size > cap:
            limit = f"max_size {g.max_size}" if g.max_size else f"max_group_size {prof.max_group_size}"
            raise P4Error(Code.RESOURCE_EXHAUSTED, f"{what}: {size} {unit} exceed the {limit}")
        if old is not None:
            self._group_members(prof.id, old[2], -1)
        self._group_members(prof.id, ids, 1)
        groups[gid] = (ent.SerializeToString(), g.max_size, tuple(ids))

    def _group_members(self, pid: int, ids: Iterable[int], n: int) -> None:
        refs = self._member_groups
        for mid in ids:
            k = (pid, mid)
            c = refs.get(k, 0) + n
            if c:
                refs[k] = c
            else:
                refs.pop(k, None)

    def _write_default(self, typ: int, t: TableInfo, te: Any, ent: Any) -> None:
        if typ != MODIFY:
            raise invalid(f"table {t.name}: the default entry can only be modified")
        if len(te.match) or te.priority:
            raise invalid(f"table {t.name}: the default entry has no match and no priority")
        if t.const_default_action_id:
            raise P4Error(Code.PERMISSION_DENIED, f"table {t.name} has a const default action")
        if te.HasField("action"):
            self._check_action(t, te.action, default=True)
            self.defaults[t.id] = ent.SerializeToString()
        else:
            self.defaults.pop(t.id, None)       # no action: back to the P4Info's initial default

    def _write_register(self, typ: int, re_: Any) -> None:
        if typ != MODIFY:
            raise invalid("register entries can only be modified (INSERT and DELETE are not allowed)")
        r = self.schema.registers.get(re_.register_id)
        if r is None:
            raise invalid(f"unknown register id {re_.register_id:#x}")
        if re_.data.WhichOneof("data") != "bitstring":
            raise invalid(f"register {r.name}: data must be a bitstring")
        v = canonical_bytes(re_.data.bitstring, r.bits, f"register {r.name}")
        cells = self.registers[r.id]
        if re_.HasField("index"):
            i = re_.index.index
            if i >= r.size:
                raise P4Error(Code.OUT_OF_RANGE, f"register {r.name}: index {i} is out of range (size {r.size})")
            if v == b"\x00":
                cells.pop(i, None)
            else:
                cells[i] = v
        elif v == b"\x00":
            cells.clear()
        else:
            cells.update(dict.fromkeys(range(r.size), v))

    def _write_direct_counter(self, typ: int, dce: Any) -> None:
        if typ != MODIFY:
            raise invalid("direct counter entries can only be modified (INSERT and DELETE are not allowed)")
        te = dce.table_entry
        t = self._table(te.table_id)
        if not t.direct_counter_id:
            raise invalid(f"table {t.name} has no direct counter")
        e = self.entries[t.id].get(self.key(t, te))
        if e is None:
            raise P4Error(Code.NOT_FOUND, f"table entry not found in table {t.name}")
        e[1], e[2] = dce.data.byte_count, dce.data.packet_count

    def count(self, table_id: int, key: tuple[Any, ...], nbytes: int, packets: int = 1) -> None:
        """Add to an entry's direct counter (what the dataplane reports)."""
        e = self.entries[table_id].get(key)
        if e is not None:
            e[1] += nbytes
            e[2] += packets

    def snapshot(self) -> Snapshot:
        """The entries and registers as they are now, for reading outside the lock (cheap: references
        to the stored bytes, which are never mutated)."""
        return Snapshot(self.schema, {t: [e[0] for e in d.values()] for t, d in self.entries.items()},
                        {r: dict(c) for r, c in self.registers.items()}, self.generation,
                        {p: {i: v[0] for i, v in d.items()} for p, d in self.members.items()},
                        {p: {i: v[0] for i, v in d.items()} for p, d in self.groups.items()})

    # ------------------------------------------------------------------ reads
    def read(self, entity: Any) -> Iterator[bytes]:
        """Serialized ``p4.v1.Entity`` of everything ``entity`` (a read filter, wildcards as in the module
        docstring) names. The filter is checked before the first one is yielded."""
        which = entity.WhichOneof("entity")
        if which == "table_entry":
            return self._read_tables(entity.table_entry)
        if which == "register_entry":
            return self._read_registers(entity.register_entry)
        if which == "direct_counter_entry":
            return self._read_direct_counters(entity.direct_counter_entry)
        if which == "action_profile_member":
            m = entity.action_profile_member
            return self._read_profile(self.members, m.action_profile_id, m.member_id, "member")
        if which == "action_profile_group":
            g = entity.action_profile_group
            return self._read_profile(self.groups, g.action_profile_id, g.group_id, "group")
        if which is None:
            raise invalid("read entity names nothing")
        raise P4Error(Code.UNIMPLEMENTED, f"reading {which} is not supported by this agent")

    def read_all(self, entities: Iterable[Any]) -> list[bytes]:
        """Every entity of several read filters, all checked first (a bad one fails the whole read)."""
        its = [self.read(e) for e in entities]
        return [b for it in its for b in it]

    def _selected(self, te: Any) -> list[tuple[TableInfo, list[list[Any]]]]:
        if te.table_id == 0:
            if len(te.match) or te.priority:
                raise invalid("a read of every table (table_id 0) takes no match and no priority")
            return [(t, list(self.entries[t.id].values())) for t in self.schema.tables.values()]
        t = self._table(te.table_id)
        entries = self.entries[t.id]
        if len(te.match):
            q = p4r.TableEntry()
            q.CopyFrom(te)
            e = entries.get(self.key(t, q))
            return [(t, [e] if e is not None else [])]
        if te.priority:
            prio = te.priority
            return [(t, [e for e in entries.values() if p4r.Entity.FromString(e[0]).table_entry.priority == prio])]
        return [(t, list(entries.values()))]

    def _read_tables(self, te: Any) -> Iterator[bytes]:
        if te.is_default_action:
            t = self._table(te.table_id)
            return iter([self._default_entity(t)])
        sel = self._selected(te)
        with_counters = te.HasField("counter_data")
        return self._iter_tables(sel, with_counters)

    @staticmethod
    def _iter_tables(sel: list[tuple[TableInfo, list[list[Any]]]], with_counters: bool) -> Iterator[bytes]:
        for t, es in sel:
            if with_counters and t.direct_counter_id:
                for e in es:
                    ent = p4r.Entity.FromString(e[0])
                    ent.table_entry.counter_data.byte_count = e[1]
                    ent.table_entry.counter_data.packet_count = e[2]
                    yield ent.SerializeToString()
            else:
                for e in es:
                    yield e[0]

    def _default_entity(self, t: TableInfo) -> bytes:
        b = self.defaults.get(t.id)
        if b is not None:
            return b
        ent = p4r.Entity()
        ent.table_entry.table_id = t.id
        ent.table_entry.is_default_action = True
        if t.initial_default is not None:
            a = ent.table_entry.action.action
            a.action_id = t.initial_default.action_id
            for arg in t.initial_default.arguments:
                a.params.add(param_id=arg.param_id, value=arg.value.lstrip(b"\0") or b"\x00")
        return ent.SerializeToString()

    def _read_direct_counters(self, dce: Any) -> Iterator[bytes]:
        te = dce.table_entry
        if te.table_id == 0:
            sel = [(t, es) for t, es in self._selected(te) if t.direct_counter_id]
        else:
            if not self._table(te.table_id).direct_counter_id:
                raise invalid(f"table {self._table(te.table_id).name} has no direct counter")
            sel = self._selected(te)
        return self._iter_direct_counters(sel)

    @staticmethod
    def _iter_direct_counters(sel: list[tuple[TableInfo, list[list[Any]]]]) -> Iterator[bytes]:
        for _t, es in sel:
            for e in es:
                out = p4r.Entity()
                d = out.direct_counter_entry
                d.table_entry.CopyFrom(p4r.Entity.FromString(e[0]).table_entry)
                d.data.byte_count, d.data.packet_count = e[1], e[2]
                yield out.SerializeToString()

    def _read_profile(self, table: dict[int, Any], pid: int, i: int, kind: str) -> Iterator[bytes]:
        """Members or groups: ``action_profile_id`` 0 reads those of every profile, an ``id`` 0 every one
        of the profile (spec 9.2.2, 9.2.3)."""
        if pid:
            prof = self._profile(pid)
            if kind == "group" and not prof.with_selector:
                raise invalid(f"action profile {prof.name} has no selector: it has no groups")
            pids = [pid]
        else:
            pids = list(table)
        sel = [table[p] for p in pids]
        if i:
            return iter([d[i][0] for d in sel if i in d])
        return iter([v[0] for d in sel for v in list(d.values())])

    def _read_registers(self, re_: Any) -> Iterator[bytes]:
        if re_.register_id == 0:
            regs = list(self.schema.registers.values())
        else:
            r = self.schema.registers.get(re_.register_id)
            if r is None:
                raise invalid(f"unknown register id {re_.register_id:#x}")
            regs = [r]
        index = re_.index.index if re_.HasField("index") else None
        if index is not None and regs and index >= regs[0].size:
            raise P4Error(Code.OUT_OF_RANGE, f"register {regs[0].name}: index {index} is out of range "
                          f"(size {regs[0].size})")
        return self._iter_registers(regs, index)

    def _iter_registers(self, regs: list[Any], index: int | None) -> Iterator[bytes]:
        for r in regs:
            cells = self.registers[r.id]
            for i in (range(r.size) if index is None else (index,)):
                out = p4r.Entity()
                e = out.register_entry
                e.register_id = r.id
                e.index.index = i
                e.data.bitstring = cells.get(i, b"\x00")
                yield out.SerializeToString()
