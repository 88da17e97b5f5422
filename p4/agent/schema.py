"""A P4Info checked and indexed for the agent's store, and the agent's error type.

:func:`Schema.of` refuses a P4Info whose objects are inconsistent (a :class:`P4Error` with
``INVALID_ARGUMENT``, naming the object): duplicate or wrongly prefixed ids, a match field or parameter
without a width, a table naming an action, action profile or direct resource the P4Info lacks, a direct
counter whose table does not name it back, a register of no bitstring type, an action profile whose
``max_group_size`` exceeds its ``size`` (spec 6.8). What it keeps is what a Write
needs per update, precomputed: per table its match fields (kind, width, bytes), its actions and scopes,
its size, priority rule, action profile and direct counter; per action the widths of its parameters.

>>> from p4.p4info import build_p4info
>>> from p4.programs import build_program
>>> s = Schema.of(build_p4info(build_program("leaf")))
>>> t = s.table_by_name["FabricIngress.routing_v4"]
>>> t.fields[1].kind, t.fields[1].bits, t.needs_priority
('lpm', 32, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from finsy.proto import p4i


class Code(IntEnum):
    """google.rpc.Code values (the canonical gRPC status codes) used by the agent."""

    OK = 0
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    UNAVAILABLE = 14


class P4Error(Exception):
    """A P4Runtime error: a canonical ``code`` and a message (what one ``p4.v1.Error`` or a status holds)."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    def __repr__(self) -> str:
        return f"P4Error({self.code.name}, {self.message!r})"


def invalid(message: str) -> P4Error:
    return P4Error(Code.INVALID_ARGUMENT, message)


_KINDS = {p4i.MatchField.EXACT: "exact", p4i.MatchField.LPM: "lpm", p4i.MatchField.TERNARY: "ternary",
          p4i.MatchField.RANGE: "range", p4i.MatchField.OPTIONAL: "optional"}
#: Match kinds that make a table need a priority (P4Runtime spec 9.1: ternary, range, optional).
PRIORITY_KINDS = frozenset(("ternary", "range", "optional"))


@dataclass(frozen=True)
class MatchFieldInfo:
    id: int
    name: str
    kind: str
    bits: int

    @property
    def nbytes(self) -> int:
        return (self.bits + 7) // 8


@dataclass
class ActionInfo:
    id: int
    name: str
    #: param id -> bit width
    params: dict[int, int]


@dataclass
class TableInfo:
    id: int
    name: str
    #: field id -> info, in P4Info order
    fields: dict[int, MatchFieldInfo]
    #: action id -> scope (p4i.ActionRef.Scope)
    actions: dict[int, int]
    size: int
    needs_priority: bool
    exact_ids: frozenset[int]
    profile_id: int = 0
    direct_counter_id: int = 0
    const_default_action_id: int = 0
    is_const: bool = False
    initial_default: Any = None


@dataclass
class ProfileInfo:
    id: int
    name: str
    table_ids: tuple[int, ...]
    with_selector: bool
    size: int
    max_group_size: int
    max_member_weight: int
    #: selector_size_semantics: True for sum_of_members, False for sum_of_weights (the spec's default)
    sum_of_members: bool = False
    weights_disallowed: bool = False


@dataclass
class RegisterInfo:
    id: int
    name: str
    bits: int
    size: int


@dataclass
class Schema:
    """The parts of a P4Info a Write or Read checks against, by id."""

    tables: dict[int, TableInfo] = field(default_factory=dict)
    actions: dict[int, ActionInfo] = field(default_factory=dict)
    profiles: dict[int, ProfileInfo] = field(default_factory=dict)
    registers: dict[int, RegisterInfo] = field(default_factory=dict)
    direct_counters: dict[int, int] = field(default_factory=dict)   # direct counter id -> table id

    @property
    def table_by_name(self) -> dict[str, TableInfo]:
        return {t.name: t for t in self.tables.values()}

    @classmethod
    def of(cls, info: p4i.P4Info) -> Schema:
        """Check ``info`` (module docstring) and index it; a :class:`P4Error` (INVALID_ARGUMENT) if it
        is inconsistent."""
        s = cls()
        seen: dict[int, str] = {}

        def claim(pre: Any, prefix: int, kind: str) -> None:
            if pre.id == 0:
                raise invalid(f"P4Info {kind} {pre.name!r} has no id")
            if pre.id >> 24 != prefix:
                raise invalid(f"P4Info {kind} {pre.name!r}: id {pre.id:#x} does not carry the {kind} prefix "
                              f"{prefix:#04x}")
            if pre.id in seen:
                raise invalid(f"P4Info id {pre.id:#x} is used by both {seen[pre.id]!r} and {pre.name!r}")
            seen[pre.id] = pre.name

        for a in info.actions:
            claim(a.preamble, p4i.P4Ids.ACTION, "action")
            params: dict[int, int] = {}
            for p in a.params:
                if p.id in params:
                    raise invalid(f"P4Info action {a.preamble.name!r}: parameter id {p.id} appears twice")
                if p.bitwidth <= 0:
                    raise invalid(f"P4Info action {a.preamble.name!r}: parameter {p.name!r} has no bit width")
                params[p.id] = p.bitwidth
            s.actions[a.preamble.id] = ActionInfo(a.preamble.id, a.preamble.name, params)
        for ap in info.action_profiles:
            claim(ap.preamble, p4i.P4Ids.ACTION_PROFILE, "action profile")
            s.profiles[ap.preamble.id] = ProfileInfo(
                ap.preamble.id, ap.preamble.name, tuple(ap.table_ids), ap.with_selector, ap.size,
                ap.max_group_size, ap.sum_of_members.max_member_weight if ap.HasField("sum_of_members") else 0,
                ap.HasField("sum_of_members"), ap.weights_disallowed)
            if ap.size and ap.max_group_size > ap.size:
                raise invalid(f"P4Info action profile {ap.preamble.name!r}: max_group_size {ap.max_group_size} "
                              f"is larger than its size {ap.size}")
        for dc in info.direct_counters:
            claim(dc.preamble, p4i.P4Ids.DIRECT_COUNTER, "direct counter")
            s.direct_counters[dc.preamble.id] = dc.direct_table_id
        for r in info.registers:
            claim(r.preamble, p4i.P4Ids.REGISTER, "register")
            if r.type_spec.WhichOneof("type_spec") != "bitstring":
                raise invalid(f"P4Info register {r.preamble.name!r}: only bitstring registers are supported")
            bs = r.type_spec.bitstring
            kind = bs.WhichOneof("type_spec")
            bits = getattr(bs, kind).bitwidth if kind in ("bit", "int", "varbit") else 0
            if bits <= 0:
                raise invalid(f"P4Info register {r.preamble.name!r} has no bit width")
            s.registers[r.preamble.id] = RegisterInfo(r.preamble.id, r.preamble.name, bits, r.size)
        for t in info.tables:
            claim(t.preamble, p4i.P4Ids.TABLE, "table")
            name = t.preamble.name
            fields: dict[int, MatchFieldInfo] = {}
            for m in t.match_fields:
                if m.id in fields:
                    raise invalid(f"P4Info table {name!r}: match field id {m.id} appears twice")
                if m.bitwidth <= 0:
                    raise invalid(f"P4Info table {name!r}: match field {m.name!r} has no bit width")
                kind = _KINDS.get(m.match_type)
                if kind is None:
                    raise invalid(f"P4Info table {name!r}: match field {m.name!r} has an unsupported match type")
                fields[m.id] = MatchFieldInfo(m.id, m.name, kind, m.bitwidth)
            actions: dict[int, int] = {}
            for ref in t.action_refs:
                if ref.id not in s.actions:
                    raise invalid(f"P4Info table {name!r} refers to action id {ref.id:#x}, which the P4Info lacks")
                actions[ref.id] = ref.scope
            ti = TableInfo(t.preamble.id, name, fields, actions, t.size,
                           any(f.kind in PRIORITY_KINDS for f in fields.values()),
                           frozenset(f.id for f in fields.values() if f.kind == "exact"),
                           const_default_action_id=t.const_default_action_id, is_const=t.is_const_table)
            if t.const_default_action_id and t.const_default_action_id not in actions:
                raise invalid(f"P4Info table {name!r}: const default action {t.const_default_action_id:#x} "
                              "is not one of its actions")
            if t.implementation_id:
                prof = s.profiles.get(t.implementation_id)
                if prof is None:
                    raise invalid(f"P4Info table {name!r} names action profile {t.implementation_id:#x}, "
                                  "which the P4Info lacks")
                if prof.table_ids and t.preamble.id not in prof.table_ids:
                    raise invalid(f"P4Info action profile {prof.name!r} does not list table {name!r}")
                ti.profile_id = prof.id
            for rid in t.direct_resource_ids:
                if rid >> 24 == p4i.P4Ids.DIRECT_COUNTER:
                    if s.direct_counters.get(rid) != t.preamble.id:
                        raise invalid(f"P4Info table {name!r} names direct counter {rid:#x}, which is not "
                                      "attached to it")
                    ti.direct_counter_id = rid
            if t.HasField("initial_default_action"):
                ti.initial_default = t.initial_default_action
            s.tables[t.preamble.id] = ti
        for dc_id, tid in s.direct_counters.items():
            if tid not in s.tables:
                raise invalid(f"P4Info direct counter {seen[dc_id]!r} is attached to table {tid:#x}, "
                              "which the P4Info lacks")
        return s
