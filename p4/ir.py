"""The P4 program as data: headers, parser states, controls with actions, tables, selectors, counters
and registers, and the statements of their bodies. :mod:`p4.gen` turns a :class:`Program` into P4_16
text, :mod:`p4.p4info` into a P4Info, :mod:`p4.runtime` reads its tables to write entries, and the DPU
runs it (:mod:`p4.dpu`); nothing else writes P4 text.

Header types come from the DPU parser's layouts (:data:`dpu.parse.HEADERS`), so the P4 program, the
numba parser and the test oracle read one declaration of every header.

Names: a table, action, selector, counter or register declared in a control has the fully qualified
name ``<Control>.<local>`` (what p4c writes into the P4Info); actions from ``core.p4`` (``NoAction``)
have none. Expressions are small trees (:class:`Ref` to ``hdr.ipv4.ttl``, :class:`Const`, :class:`Bin`
...), not P4 text.

>>> eth = HeaderType.from_dpu("ethernet")
>>> [(f.name, f.bits) for f in eth.fields]
[('dst', 48), ('src', 48), ('ethertype', 16)]
>>> t = Table("routing_v4", keys=(Key(Ref("hdr.ipv4.dst"), "lpm", "ipv4_dst"),),
...           actions=("set_nexthop_id", "drop"), default_action="drop")
>>> c = Control("FabricIngress", tables=(t,))
>>> c.fq("routing_v4")
'FabricIngress.routing_v4'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

#: Match kinds a key may use (P4_16 core: exact, ternary, lpm; v1model: range, optional, selector).
MATCH_KINDS = ("exact", "lpm", "ternary", "range", "optional", "selector")
#: Counter kinds (v1model ``CounterType``; P4Info ``CounterSpec.Unit``).
COUNTER_KINDS = ("packets", "bytes", "packets_and_bytes")
#: Actions from core.p4: referenced by plain name, never declared by us.
CORE_ACTIONS = ("NoAction",)
#: Architectures we generate for.
ARCHS = ("v1model", "pna")


# ============================================================================ types
@dataclass(frozen=True)
class Member:
    """One field of a header or struct: ``bit<bits>`` (``bits == 1`` and ``boolean`` false)."""

    name: str
    bits: int
    annotations: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeaderType:
    """``header <name>_t { ... }``; ``controller`` is ``packet_in``/``packet_out`` for the
    ``@controller_header`` headers of P4Runtime packet I/O."""

    name: str
    fields: tuple[Member, ...]
    source: str = ""
    controller: str | None = None

    @classmethod
    def from_dpu(cls, name: str, *, rename: str | None = None) -> HeaderType:
        """The header as the DPU parser declares it (:data:`dpu.parse.HEADERS`)."""
        from dpu.parse import HEADERS

        h = HEADERS[name]
        return cls(rename or h.name, tuple(Member(f.name, f.bits) for f in h.fields), h.source)

    @property
    def bits(self) -> int:
        return sum(f.bits for f in self.fields)

    def field(self, name: str) -> Member:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"header {self.name} has no field {name!r}")


@dataclass(frozen=True)
class StructType:
    """``struct <name> { ... }`` of plain bit fields (metadata)."""

    name: str
    fields: tuple[Member, ...]


@dataclass(frozen=True)
class HeaderInstance:
    """``<type>_t <name>;`` inside the headers struct ``hdr``."""

    name: str
    type: HeaderType


# ============================================================================ expressions
@dataclass(frozen=True)
class Ref:
    """A field or variable by its P4 path: ``hdr.ipv4.ttl``, ``meta.nexthop_id``,
    ``standard_metadata.egress_spec``, an action parameter ``port``."""

    path: str


@dataclass(frozen=True)
class Const:
    """An integer literal; ``bits`` gives it a width (``8w255``), ``None`` leaves it unsized."""

    value: int
    bits: int | None = None


@dataclass(frozen=True)
class Bin:
    """``left op right`` with op one of ``+ - * & | ^ << >> == != < <= > >= && ||``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    """``!operand`` (boolean)."""

    operand: Expr


@dataclass(frozen=True)
class Cast:
    """``(bit<bits>) operand``."""

    bits: int
    operand: Expr


@dataclass(frozen=True)
class Call:
    """``target(args)``: a method (``hdr.ipv4.isValid``, ``hdr.vlan.setInvalid``) or an extern function
    (``mark_to_drop``, ``random``); ``type_args`` for generic calls."""

    target: str
    args: tuple[Expr, ...] = ()
    type_args: tuple[int, ...] = ()


Expr = Union[Ref, Const, Bin, Not, Cast, Call]  # noqa: UP007 - a type alias read by isinstance checks


# ============================================================================ statements
@dataclass(frozen=True)
class Assign:
    """``dst = src;``"""

    dst: Ref
    src: Expr


@dataclass(frozen=True)
class Do:
    """A call as a statement: ``mark_to_drop(standard_metadata);``, ``port_rx.count(...)``."""

    call: Call


@dataclass(frozen=True)
class If:
    """``if (cond) { then } else { otherwise }``"""

    cond: Expr
    then: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...] = ()


@dataclass(frozen=True)
class Apply:
    """``table.apply();`` or, with ``on_hit``/``on_miss``, ``if (table.apply().hit) {...} else {...}``."""

    table: str
    on_hit: tuple[Stmt, ...] = ()
    on_miss: tuple[Stmt, ...] = ()


@dataclass(frozen=True)
class Exit:
    """``exit;``"""


@dataclass(frozen=True)
class Var:
    """A local variable of a control's apply block: ``bit<bits> name = init;``"""

    name: str
    bits: int
    init: Expr | None = None


Stmt = Union[Assign, Do, If, Apply, Exit, Var]  # noqa: UP007


# ============================================================================ control plane objects
@dataclass(frozen=True)
class Param:
    """An action parameter the control plane supplies: ``bit<bits> name``."""

    name: str
    bits: int


@dataclass(frozen=True)
class Action:
    """An action: its runtime parameters and its body. ``scope`` restricts where it may be used
    (``table_only`` / ``default_only``: P4Info ``@tableonly`` / ``@defaultonly``)."""

    name: str
    params: tuple[Param, ...] = ()
    body: tuple[Stmt, ...] = ()
    annotations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Key:
    """One match field: expression, match kind and its control-plane name (P4Info ``MatchField.name``,
    set with ``@name``)."""

    expr: Ref
    match: str
    name: str

    def __post_init__(self) -> None:
        if self.match not in MATCH_KINDS:
            raise ValueError(f"unknown match kind {self.match!r}")


@dataclass(frozen=True)
class ActionSelector:
    """``action_selector(HashAlgorithm.<algorithm>, size, output_width)``: WCMP groups of weighted
    members; the hash covers the table's ``selector`` keys. ``max_group_size`` and
    ``max_member_weight`` are the switch limits (P4Info ``ActionProfile.max_group_size`` and
    ``sum_of_weights``/member weight limits); ``oneshot``: groups are written as one-shot action sets."""

    name: str
    algorithm: str
    size: int
    output_width: int
    max_group_size: int
    max_member_weight: int
    oneshot: bool = True


@dataclass(frozen=True)
class Table:
    """A match-action table. ``actions`` are local action names (or core ones such as ``NoAction``);
    ``default_action`` runs on a miss with ``default_args``; ``implementation`` names an
    :class:`ActionSelector`; ``direct_counter`` a :class:`DirectCounter` of the same control."""

    name: str
    keys: tuple[Key, ...]
    actions: tuple[str, ...]
    default_action: str
    default_args: tuple[int, ...] = ()
    const_default: bool = False
    size: int = 1024
    implementation: str | None = None
    direct_counter: str | None = None
    annotations: tuple[str, ...] = ()

    @property
    def has_priority(self) -> bool:
        """Tables with ternary, range or optional keys need a priority per entry (P4Runtime)."""
        return any(k.match in ("ternary", "range", "optional") for k in self.keys)


@dataclass(frozen=True)
class Counter:
    """An indexed counter array: ``counter(size, CounterType.<kind>)``."""

    name: str
    kind: str
    size: int
    index_bits: int = 32


@dataclass(frozen=True)
class DirectCounter:
    """A counter attached to each entry of ``table``: ``direct_counter(CounterType.<kind>)``."""

    name: str
    kind: str
    table: str


@dataclass(frozen=True)
class Register:
    """``register<bit<bits>>(size)``: run-time state the control plane reads and writes."""

    name: str
    bits: int
    size: int
    index_bits: int = 32


@dataclass(frozen=True)
class Control:
    """A control block: its local objects and its ``apply`` body."""

    name: str
    actions: tuple[Action, ...] = ()
    tables: tuple[Table, ...] = ()
    selectors: tuple[ActionSelector, ...] = ()
    counters: tuple[Counter, ...] = ()
    direct_counters: tuple[DirectCounter, ...] = ()
    registers: tuple[Register, ...] = ()
    apply: tuple[Stmt, ...] = ()

    def fq(self, local: str) -> str:
        """Fully qualified name of a local object (core actions keep their plain name)."""
        return local if local in CORE_ACTIONS else f"{self.name}.{local}"

    def action(self, name: str) -> Action:
        for a in self.actions:
            if a.name == name:
                return a
        raise KeyError(f"control {self.name} has no action {name!r}")

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"control {self.name} has no table {name!r}")


# ============================================================================ parser and program
@dataclass(frozen=True)
class Case:
    """One select case: ``values`` (one per select expression; ``None`` is ``_``/default) -> ``next``."""

    values: tuple[int | None, ...]
    next: str


@dataclass(frozen=True)
class ParserState:
    """``state name { extract...; transition select(on) { cases } }``; no ``on`` means a plain
    ``transition <default>``. ``next`` states ``accept`` and ``reject`` are the parser's own."""

    name: str
    extracts: tuple[str, ...] = ()
    on: tuple[Expr, ...] = ()
    cases: tuple[Case, ...] = ()
    default: str = "accept"


@dataclass(frozen=True)
class Checksum:
    """An IPv4 header checksum recomputed in the deparser stage (v1model
    ``update_checksum(hdr.<header>.isValid(), {fields}, hdr.<header>.<field>, HashAlgorithm.csum16)``)."""

    header: str
    fields: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class Program:
    """One P4_16 program for one switch role on one architecture."""

    name: str
    role: str
    arch: str
    headers: tuple[HeaderInstance, ...]
    metadata: StructType
    parser: tuple[ParserState, ...]
    ingress: Control
    egress: Control | None = None
    deparse: tuple[str, ...] = ()
    checksums: tuple[Checksum, ...] = ()
    constants: tuple[tuple[str, int, int], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}")

    @property
    def controls(self) -> tuple[Control, ...]:
        return (self.ingress,) if self.egress is None else (self.ingress, self.egress)

    def header_types(self) -> list[HeaderType]:
        """Distinct header types in declaration order."""
        seen: dict[str, HeaderType] = {}
        for h in self.headers:
            seen.setdefault(h.type.name, h.type)
        return list(seen.values())

    def controller_headers(self) -> list[HeaderType]:
        return [t for t in self.header_types() if t.controller]

    def tables(self) -> list[tuple[Control, Table]]:
        return [(c, t) for c in self.controls for t in c.tables]

    def actions(self) -> list[tuple[Control, Action]]:
        return [(c, a) for c in self.controls for a in c.actions]

    def selectors(self) -> list[tuple[Control, ActionSelector]]:
        return [(c, s) for c in self.controls for s in c.selectors]

    def find_table(self, fq: str) -> tuple[Control, Table]:
        for c, t in self.tables():
            if c.fq(t.name) == fq:
                return c, t
        raise KeyError(f"program {self.name} has no table {fq!r}")
