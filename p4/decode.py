"""``p4.v1`` entities read from a switch -> canonical entries (:class:`p4.wire.Canonical`): the inverse
of :class:`p4.wire.Encoder`, so that a controller compares what a switch holds with what it should hold
in one form (:func:`p4.diff.diff_canonical`).

Bytestrings become integers (zero-padded input reads the same as canonical input), ternary values are
masked, registers reading 0 are dropped (0 is their reset value: :mod:`p4.diff` treats an absent
register as 0), and one-shot action sets keep the order the switch returned their members in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from p4.ir import Program
from p4.p4info import IdMap
from p4.wire import LEVELS, Canonical, Key, Value, level_of


class DecodeError(ValueError):
    """An entity that the program cannot have (unknown id, wrong match kind)."""


class Decoder:
    """Reverse id maps of one program (build once, decode every switch of that program)."""

    def __init__(self, program: Program) -> None:
        ids = IdMap.of(program)
        self.program = program
        self._tables: dict[int, str] = {}
        self._fields: dict[tuple[int, int], tuple[str, str]] = {}
        self._order: dict[str, dict[str, int]] = {}
        for c, t in program.tables():
            fq = c.fq(t.name)
            tid = ids.table(fq)
            self._tables[tid] = fq
            keys = [k for k in t.keys if k.match != "selector"]
            self._order[fq] = {k.name: i for i, k in enumerate(keys)}
            for k in keys:
                self._fields[(tid, ids.match_field(fq, k.name))] = (k.name, k.match)
        self._actions: dict[int, tuple[str, int]] = {}
        for c, a in program.actions():
            fq = c.fq(a.name)
            self._actions[ids.action(fq)] = (fq, len(a.params))
        self._registers: dict[int, str] = {}
        for c in program.controls:
            for r in c.registers:
                fq = c.fq(r.name)
                self._registers[ids.register(fq)] = fq

    # ------------------------------------------------------------------ pieces
    def _action(self, a: Any) -> tuple[str, tuple[int, ...]]:
        got = self._actions.get(a.action_id)
        if got is None:
            raise DecodeError(f"unknown action id {a.action_id:#x}")
        fq, n = got
        params = [0] * n
        for p in a.params:
            if not 1 <= p.param_id <= n:
                raise DecodeError(f"action {fq} has no parameter id {p.param_id}")
            params[p.param_id - 1] = int.from_bytes(p.value, "big")
        return fq, tuple(params)

    def _value(self, te: Any) -> Value:
        which = te.action.WhichOneof("type")
        if which == "action":
            fq, params = self._action(te.action.action)
            return ("a", fq, params)
        if which == "action_profile_action_set":
            return ("s", tuple((*self._action(pa.action), pa.weight)
                               for pa in te.action.action_profile_action_set.action_profile_actions))
        raise DecodeError(f"table entry action of type {which!r} is not one p4.runtime writes")

    def table_key(self, te: Any) -> Key:
        table = self._tables.get(te.table_id)
        if table is None:
            raise DecodeError(f"unknown table id {te.table_id:#x}")
        match: list[tuple[str, str, int, int | None]] = []
        for fm in te.match:
            got = self._fields.get((te.table_id, fm.field_id))
            if got is None:
                raise DecodeError(f"table {table} has no match field id {fm.field_id}")
            name, kind = got
            which = fm.WhichOneof("field_match_type")
            if which != kind:
                raise DecodeError(f"table {table} field {name} is {kind}, the entry has {which}")
            if kind == "exact":
                match.append((name, kind, int.from_bytes(fm.exact.value, "big"), None))
            elif kind == "lpm":
                match.append((name, kind, int.from_bytes(fm.lpm.value, "big"), fm.lpm.prefix_len))
            elif kind == "ternary":
                mask = int.from_bytes(fm.ternary.mask, "big")
                match.append((name, kind, int.from_bytes(fm.ternary.value, "big") & mask, mask))
            else:
                raise DecodeError(f"match kind {kind!r} is not one p4.runtime writes")
        order = self._order[table]
        match.sort(key=lambda m: order[m[0]])
        return ("t", table, tuple(match), te.priority)

    # ------------------------------------------------------------------ whole reads
    def entry(self, entity: Any) -> tuple[Key, Value] | None:
        """One entity as ``(key, value)``; ``None`` for what canonical entries do not hold (counters,
        groups of action profiles, registers at their reset value 0)."""
        which = entity.WhichOneof("entity")
        if which == "table_entry":
            te = entity.table_entry
            if te.is_default_action:
                return None
            return self.table_key(te), self._value(te)
        if which == "register_entry":
            re_ = entity.register_entry
            reg = self._registers.get(re_.register_id)
            if reg is None:
                raise DecodeError(f"unknown register id {re_.register_id:#x}")
            value = int.from_bytes(re_.data.bitstring, "big")
            if value == 0:
                return None
            return ("r", reg, re_.index.index), ("v", value)
        return None

    def canonical(self, entities: Iterable[Any]) -> Canonical:
        """The canonical entries of everything read (``p4.v1.Entity`` messages, e.g. the entities of a
        ``ReadResponse`` stream)."""
        levels: dict[str, dict[Key, Value]] = {lv: {} for lv in LEVELS}
        for ent in entities:
            kv = self.entry(ent)
            if kv is not None:
                levels[level_of(kv[0])][kv[0]] = kv[1]
        return Canonical(levels)
