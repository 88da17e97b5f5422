"""The P4Info of a :class:`p4.ir.Program`, as p4c's P4Runtime serializer writes it for the same program.

IDs (p4c ``control-plane/p4RuntimeSymbolTable.cpp``, read through the search tool):

- an ID is ``prefix << 24 | low24``; the prefix is the resource type (P4Runtime ``P4Ids.Prefix``:
  0x01 action, 0x02 table, 0x03 value set, 0x04 controller header, 0x11 action profile, 0x12 counter,
  0x13 direct counter, 0x14 meter, 0x15 direct meter, 0x16 register, 0x17 digest);
- an ``@id(N)`` annotation wins (its prefix is added when N has none, refused when it has another);
- the others get the low 24 bits of Bob Jenkins' one-at-a-time hash of the object's control-plane name:
  the fully qualified name without a leading dot (``FabricIngress.routing_v4``, ``NoAction``); a
  controller header hashes the name of its header *type* (``packet_in_t``) while its P4Info name is
  the ``@controller_header`` string (``packet_in``);
- collisions are resolved per resource type by linear probing of the hash value, the names taken in
  sorted order after every ``@id`` is placed: the same name gets the same ID in every program unless it
  collides there (a 1 in 16.7 million chance per pair of names of one type).

Match field and action parameter IDs are 1-based positions (p4c's ``FieldIdAllocator``); selector keys
take a position but are not P4Info match fields: they are the action selector's hash input. Aliases
are the shortest unique suffix of dot-separated components over every symbol of the program.

What the P4 text must say for the two to agree (:mod:`p4.gen` writes it; the helpers below return it):
header types named ``<name>_t`` (:func:`p4_type_name`), the selector's
``@max_group_size``/``@selector_size_semantics("sum_of_members")``/``@max_member_weight``
(:func:`selector_annotations`), ``@oneshot`` on a one-shot selector's table (:func:`table_annotations`,
as SONiC PINS marks ``wcmp_group_table``), ``@pkginfo(name=...)`` on ``main`` (:func:`pkginfo_annotation`),
key names as ``@name("<key>")``, and an action's ``@tableonly``/``@defaultonly`` on each reference in a
table's ``actions`` list (p4c reads the scope from the reference, not the declaration).

>>> symbol_id(0x01, "NoAction")   # the id every p4c P4Info gives core.p4's NoAction
21257015
>>> from p4.programs import build_program
>>> ids = IdMap.of(build_program("leaf"))
>>> hex(ids.table("FabricIngress.routing_v4") >> 24), ids.match_field("FabricIngress.acl", "ether_type")
('0x2', 2)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from finsy.proto import p4i
from google.protobuf import text_format

from fabric.errors import ConfigError
from fabric.io.atomic import atomic_open
from p4.ir import (
    CORE_ACTIONS,
    Action,
    ActionSelector,
    Control,
    HeaderType,
    Program,
    Table,
)

# ============================================================================ ids
#: P4Runtime ID prefixes (p4info.proto ``P4Ids.Prefix``).
ACTION = p4i.P4Ids.ACTION
TABLE = p4i.P4Ids.TABLE
VALUE_SET = p4i.P4Ids.VALUE_SET
CONTROLLER_HEADER = p4i.P4Ids.CONTROLLER_HEADER
ACTION_PROFILE = p4i.P4Ids.ACTION_PROFILE
COUNTER = p4i.P4Ids.COUNTER
DIRECT_COUNTER = p4i.P4Ids.DIRECT_COUNTER
METER = p4i.P4Ids.METER
DIRECT_METER = p4i.P4Ids.DIRECT_METER
REGISTER = p4i.P4Ids.REGISTER
DIGEST = p4i.P4Ids.DIGEST
PREFIXES = (ACTION, TABLE, VALUE_SET, CONTROLLER_HEADER, ACTION_PROFILE, COUNTER, DIRECT_COUNTER, METER,
            DIRECT_METER, REGISTER, DIGEST)

_M32 = 0xFFFFFFFF
_LOW24 = 0xFFFFFF


def jenkins_one_at_a_time(data: str | bytes) -> int:
    """Bob Jenkins' one-at-a-time hash (32 bits) of ``data`` (a str is hashed as its UTF-8 bytes).

    >>> hex(jenkins_one_at_a_time("a"))
    '0xca2e9442'
    """
    h = 0
    for b in data.encode() if isinstance(data, str) else data:
        h = (h + b) & _M32
        h = (h + (h << 10)) & _M32
        h ^= h >> 6
    h = (h + (h << 3)) & _M32
    h ^= h >> 11
    return (h + (h << 15)) & _M32


def _make_id(prefix: int, value: int) -> int:
    return (prefix << 24) | (value & _LOW24)


def symbol_id(prefix: int, name: str) -> int:
    """The ID p4c gives ``name`` of resource type ``prefix`` when nothing else in the program collides
    with it and it has no ``@id``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown P4Runtime ID prefix {prefix:#x}")
    return _make_id(prefix, jenkins_one_at_a_time(name))


_ID_ANNOTATION = re.compile(r"^@?id\(\s*(0[xX][0-9a-fA-F]+|\d+)\s*\)$")


def _explicit_id(annotations: Iterable[str]) -> int | None:
    for a in annotations:
        m = _ID_ANNOTATION.match(a.strip())
        if m:
            return int(m.group(1), 0)
    return None


def _annotation(a: str) -> str:
    a = a.strip()
    return a if a.startswith("@") else f"@{a}"


def _annotation_name(a: str) -> str:
    return _annotation(a)[1:].split("(", 1)[0].strip()


#: Annotations p4c never copies into a P4Info ``annotations`` list (``@name``/``@id`` have their own
#: fields, ``@brief``/``@description`` go into ``doc``).
_NOT_COPIED = ("name", "id", "brief", "description")
#: Annotations on an action that p4c reads from its *reference* in a table's action list.
SCOPE_ANNOTATIONS = {"tableonly": p4i.ActionRef.TABLE_ONLY, "defaultonly": p4i.ActionRef.DEFAULT_ONLY}
#: Selector annotations p4c turns into ActionProfile fields and leaves out of its annotations.
_SELECTOR_FIELDS = ("max_group_size", "selector_size_semantics", "max_member_weight")


def _copied(annotations: Iterable[str], skip: Iterable[str] = ()) -> list[str]:
    drop = set(_NOT_COPIED) | set(skip)
    return [_annotation(a) for a in annotations if _annotation_name(a) not in drop]


# ============================================================================ what the P4 text says
def p4_type_name(t: HeaderType) -> str:
    """The P4 name of a header type (``header <name>_t``): what p4c hashes for a controller header."""
    return t.name if t.name.endswith("_t") else f"{t.name}_t"


def selector_annotations(s: ActionSelector) -> tuple[str, ...]:
    """The annotations of the ``action_selector`` instance that carry the switch limits."""
    return (f"@max_group_size({s.max_group_size})", '@selector_size_semantics("sum_of_members")',
            f"@max_member_weight({s.max_member_weight})")


def table_annotations(control: Control, table: Table) -> tuple[str, ...]:
    """The table's annotations as written in P4 (``@oneshot`` added for a one-shot selector's table)."""
    out = tuple(_annotation(a) for a in table.annotations)
    sel = _selector(control, table)
    if sel is not None and sel.oneshot and "oneshot" not in {_annotation_name(a) for a in out}:
        out += ("@oneshot",)
    return out


def pkginfo_annotation(program: Program) -> str:
    """The ``@pkginfo`` annotation of ``main`` that gives P4Info ``pkg_info.name``."""
    return f'@pkginfo(name="{program.name}")'


def action_scope(action: Action | None) -> int:
    """P4Info ``ActionRef.scope`` of a reference to ``action`` (``None``: a core action)."""
    names = {_annotation_name(a) for a in (action.annotations if action else ())}
    found = [SCOPE_ANNOTATIONS[n] for n in SCOPE_ANNOTATIONS if n in names]
    if len(found) > 1:
        raise ConfigError("action is annotated both @tableonly and @defaultonly", where=action.name if action else None)
    return found[0] if found else p4i.ActionRef.TABLE_AND_DEFAULT


def _selector(control: Control, table: Table) -> ActionSelector | None:
    if table.implementation is None:
        return None
    for s in control.selectors:
        if s.name == table.implementation:
            return s
    raise ConfigError(f"table {control.fq(table.name)} names selector {table.implementation!r}, "
                      f"which control {control.name} does not declare", where=control.fq(table.name))


# ============================================================================ widths
#: v1model ``standard_metadata_t`` (p4include/v1model.p4; ``PortId_t`` is ``typedef bit<9>``).
V1MODEL_STANDARD_METADATA = {
    "ingress_port": 9, "egress_spec": 9, "egress_port": 9, "instance_type": 32, "packet_length": 32,
    "enq_timestamp": 32, "enq_qdepth": 19, "deq_timedelta": 32, "deq_qdepth": 19,
    "ingress_global_timestamp": 48, "egress_global_timestamp": 48, "mcast_grp": 16, "egress_rid": 16,
    "checksum_error": 1, "priority": 3,
}
@dataclass(frozen=True)
class FieldType:
    """Width of a field as P4Runtime sees it and, for a ``type``-declared one, its P4Info type name
    (none of our fields has one: the IR declares plain ``bit<W>``)."""

    bits: int
    type_name: str | None = None


def field_type(program: Program, path: str) -> FieldType:
    """The width of the field a :class:`p4.ir.Ref` path names.

    >>> from p4.programs import build_program
    >>> prog = build_program("leaf")
    >>> [field_type(prog, p).bits for p in ("hdr.ipv6.dst", "meta.dscp", "standard_metadata.ingress_port")]
    [128, 6, 9]
    """
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "hdr":
        for h in program.headers:
            if h.name == parts[1]:
                try:
                    return FieldType(h.type.field(parts[2]).bits)
                except KeyError:
                    break
        raise ValueError(f"program {program.name}: no header field {path!r}")
    if len(parts) == 2 and parts[0] == "meta":
        for m in program.metadata.fields:
            if m.name == parts[1]:
                return FieldType(m.bits)
        raise ValueError(f"program {program.name}: no metadata field {path!r}")
    if len(parts) == 2 and parts[0] == "standard_metadata":
        # PNA programs read the same fields cast to these widths (p4.gen: ``(bit<9>) (PortIdUint_t)
        # istd.input_port``), so a key on them has the same width and no P4Info type name there too
        if parts[1] in V1MODEL_STANDARD_METADATA:
            return FieldType(V1MODEL_STANDARD_METADATA[parts[1]])
        raise ValueError(f"program {program.name}: no standard metadata field {path!r}")
    raise ValueError(f"program {program.name}: cannot resolve the width of {path!r}")


def field_bits(program: Program, path: str) -> int:
    return field_type(program, path).bits


# ============================================================================ the id map
def _used_core_actions(control: Control) -> list[str]:
    out: list[str] = []
    for t in control.tables:
        for a in (*t.actions, t.default_action):
            if a in CORE_ACTIONS and a not in out:
                out.append(a)
    return out


def _local_action(control: Control, name: str) -> Action | None:
    return None if name in CORE_ACTIONS else control.action(name)


class IdMap:
    """Every P4Runtime ID of one program, computed as p4c computes them (see the module docstring)."""

    def __init__(self, symbols: dict[int, dict[str, int | None]], *, program: str = "program",
                 keys: dict[str, tuple[str, ...]] | None = None,
                 params: dict[str, tuple[str, ...]] | None = None,
                 controller_types: dict[str, str] | None = None) -> None:
        assigned: set[int] = set()
        ids: dict[int, dict[str, int]] = {p: {} for p in symbols}
        for prefix, table in symbols.items():           # first every @id, as p4c's tryToAssignId
            for name, explicit in table.items():
                if explicit is None:
                    continue
                if explicit >> 24 not in (0, prefix):
                    raise ConfigError(f"@id {explicit:#x} of {name} has the wrong 8-bit prefix "
                                      f"(expected {prefix:#04x})", file=program, where=name)
                explicit |= prefix << 24
                if explicit in assigned:
                    raise ConfigError(f"@id {explicit:#x} is assigned to multiple declarations", file=program,
                                      where=name)
                assigned.add(explicit)
                ids[prefix][name] = explicit
        for prefix in sorted(symbols):                   # then hashes, names sorted, linear probing
            for name in sorted(n for n, e in symbols[prefix].items() if e is None):
                value = start = jenkins_one_at_a_time(name)
                while _make_id(prefix, value) in assigned:
                    value = (value + 1) & _M32
                    if value == start:
                        raise ConfigError(f"no P4Runtime id left for {name}", file=program, where=name)
                ids[prefix][name] = _make_id(prefix, value)
                assigned.add(ids[prefix][name])
        self._ids = ids
        self._keys = keys or {}
        self._params = params or {}
        self._controller_types = controller_types or {}
        self._aliases = _Suffixes([*(n for t in symbols.values() for n in t)])

    @classmethod
    def of(cls, program: Program) -> IdMap:
        symbols: dict[int, dict[str, int | None]] = {p: {} for p in (
            ACTION, TABLE, ACTION_PROFILE, COUNTER, DIRECT_COUNTER, REGISTER, CONTROLLER_HEADER)}
        keys: dict[str, tuple[str, ...]] = {}
        params: dict[str, tuple[str, ...]] = {}
        for c in program.controls:
            for core in _used_core_actions(c):
                symbols[ACTION].setdefault(core, None)
                params.setdefault(core, ())
            for a in c.actions:
                symbols[ACTION][c.fq(a.name)] = _explicit_id(a.annotations)
                params[c.fq(a.name)] = tuple(p.name for p in a.params)
            for t in c.tables:
                symbols[TABLE][c.fq(t.name)] = _explicit_id(t.annotations)
                keys[c.fq(t.name)] = tuple(k.name for k in t.keys)
            for s in c.selectors:
                symbols[ACTION_PROFILE][c.fq(s.name)] = None
            for k in c.counters:
                symbols[COUNTER][c.fq(k.name)] = None
            for d in c.direct_counters:
                symbols[DIRECT_COUNTER][c.fq(d.name)] = None
            for r in c.registers:
                symbols[REGISTER][c.fq(r.name)] = None
        controller_types: dict[str, str] = {}
        for h in program.controller_headers():
            assert h.controller is not None
            symbols[CONTROLLER_HEADER][p4_type_name(h)] = None
            controller_types[h.controller] = p4_type_name(h)
        return cls(symbols, program=program.name, keys=keys, params=params, controller_types=controller_types)

    def _get(self, prefix: int, name: str) -> int:
        try:
            return self._ids[prefix][name]
        except KeyError:
            raise KeyError(f"no {p4i.P4Ids.Prefix.Name(prefix).lower()} named {name!r}") from None

    def action(self, fq: str) -> int:
        return self._get(ACTION, fq)

    def table(self, fq: str) -> int:
        return self._get(TABLE, fq)

    def selector(self, fq: str) -> int:
        """The action profile of an action selector."""
        return self._get(ACTION_PROFILE, fq)

    def counter(self, fq: str) -> int:
        return self._get(COUNTER, fq)

    def direct_counter(self, fq: str) -> int:
        return self._get(DIRECT_COUNTER, fq)

    def register(self, fq: str) -> int:
        return self._get(REGISTER, fq)

    def controller_header(self, name: str) -> int:
        """By its P4Info name (the ``@controller_header`` string, ``packet_in``) or its type name."""
        return self._get(CONTROLLER_HEADER, self._controller_types.get(name, name))

    def match_field(self, table_fq: str, key_name: str) -> int:
        """1-based position of the key in the table's key (selector keys count, as in p4c, but are no
        match fields: asking for one is a KeyError)."""
        names = self._keys.get(table_fq)
        if names is None or key_name not in names:
            raise KeyError(f"table {table_fq!r} has no match field {key_name!r}")
        return names.index(key_name) + 1

    def param(self, action_fq: str, param_name: str) -> int:
        names = self._params.get(action_fq)
        if names is None or param_name not in names:
            raise KeyError(f"action {action_fq!r} has no parameter {param_name!r}")
        return names.index(param_name) + 1

    def alias(self, name: str) -> str:
        """Shortest unique suffix of ``name`` among every symbol of the program."""
        return self._aliases.shortest(name)

    def names(self) -> dict[int, str]:
        """ID -> name, for every symbol (controller headers by their type name)."""
        return {i: n for table in self._ids.values() for n, i in table.items()}

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.names()))

    def __len__(self) -> int:
        return sum(len(t) for t in self._ids.values())


class _Suffixes:
    """p4c's ``P4SymbolSuffixSet``: how many symbols end in each dot-separated suffix."""

    def __init__(self, names: Iterable[str]) -> None:
        self._count: dict[tuple[str, ...], int] = {}
        for n in dict.fromkeys(names):
            parts = tuple(n.split("."))
            for i in range(1, len(parts) + 1):
                self._count[parts[-i:]] = self._count.get(parts[-i:], 0) + 1

    def shortest(self, name: str) -> str:
        parts = tuple(name.split("."))
        for i in range(1, len(parts) + 1):
            if self._count.get(parts[-i:], 0) < 2:
                return ".".join(parts[-i:])
        return name


# ============================================================================ the P4Info
_MATCH = {"exact": p4i.MatchField.EXACT, "lpm": p4i.MatchField.LPM, "ternary": p4i.MatchField.TERNARY,
          "range": p4i.MatchField.RANGE, "optional": p4i.MatchField.OPTIONAL}
_UNIT = {"packets": p4i.CounterSpec.PACKETS, "bytes": p4i.CounterSpec.BYTES,
         "packets_and_bytes": p4i.CounterSpec.BOTH}


def _preamble(msg: p4i.Preamble, ids: IdMap, id_: int, name: str, annotations: Iterable[str] = (),
              alias: str | None = None) -> None:
    msg.id = id_
    msg.name = name
    msg.alias = alias if alias is not None else ids.alias(name)
    msg.annotations.extend(annotations)


def _bytes(value: int, bits: int) -> bytes:
    """p4c's ``stringReprConstant``: big-endian, padded to whole bytes of the parameter width."""
    if value < 0 or value >> bits:
        raise ValueError(f"{value} does not fit in bit<{bits}>")
    return value.to_bytes((bits + 7) // 8, "big")


def build_p4info(program: Program, ids: IdMap | None = None) -> p4i.P4Info:
    """The P4Info of ``program``, entity lists in p4c's order (controls in order; per control: the core
    actions its tables use, then its actions, tables, selectors, counters, registers; direct counters
    in the order of their tables; controller headers in header order)."""
    ids = ids or IdMap.of(program)
    info = p4i.P4Info()
    info.pkg_info.arch = program.arch
    info.pkg_info.name = program.name
    seen_actions: set[str] = set()
    for c in program.controls:
        for name in (*_used_core_actions(c), *(a.name for a in c.actions)):
            fq = c.fq(name)
            if fq in seen_actions:
                continue
            seen_actions.add(fq)
            action = _local_action(c, name)
            msg = info.actions.add()
            if action is None:      # core.p4: action NoAction() {} carries @noWarn("unused")
                _preamble(msg.preamble, ids, ids.action(fq), fq, ('@noWarn("unused")',))
                continue
            _preamble(msg.preamble, ids, ids.action(fq), fq,
                      _copied(action.annotations, skip=SCOPE_ANNOTATIONS))
            for p in action.params:
                msg.params.add(id=ids.param(fq, p.name), name=p.name, bitwidth=p.bits)
        for t in c.tables:
            _add_table(info, ids, program, c, t)
        for s in c.selectors:
            fq = c.fq(s.name)
            ap = info.action_profiles.add()
            _preamble(ap.preamble, ids, ids.selector(fq), fq)
            # p4c keeps the referencing tables in a std::set of names: by name
            ap.table_ids.extend(ids.table(n) for n in sorted(c.fq(t.name) for t in c.tables
                                                             if t.implementation == s.name))
            ap.with_selector = True
            ap.size = s.size
            ap.max_group_size = s.max_group_size
            ap.sum_of_members.max_member_weight = s.max_member_weight
        for k in c.counters:
            cm = info.counters.add()
            _preamble(cm.preamble, ids, ids.counter(c.fq(k.name)), c.fq(k.name))
            cm.spec.unit = _UNIT[k.kind]
            cm.size = k.size
        for r in c.registers:
            rm = info.registers.add()
            _preamble(rm.preamble, ids, ids.register(c.fq(r.name)), c.fq(r.name))
            rm.type_spec.bitstring.bit.bitwidth = r.bits
            rm.size = r.size
    for h in program.controller_headers():
        assert h.controller is not None
        cp = info.controller_packet_metadata.add()
        _preamble(cp.preamble, ids, ids.controller_header(h.controller), h.controller,
                  (f'@controller_header("{h.controller}")',), alias=h.controller)
        for i, f in enumerate(h.fields, 1):
            cp.metadata.add(id=i, name=f.name, bitwidth=f.bits, annotations=_copied(f.annotations))
    info.type_info.SetInParent()  # p4c always writes an (empty) type_info
    return info


def _add_table(info: p4i.P4Info, ids: IdMap, program: Program, c: Control, t: Table) -> None:
    fq = c.fq(t.name)
    tm = info.tables.add()
    _preamble(tm.preamble, ids, ids.table(fq), fq, _copied(table_annotations(c, t)))
    for k in t.keys:
        if k.match == "selector":
            continue
        ft = field_type(program, k.expr.path)
        mf = tm.match_fields.add(id=ids.match_field(fq, k.name), name=k.name, bitwidth=ft.bits,
                                 match_type=_MATCH[k.match])
        if ft.type_name:
            mf.type_name.name = ft.type_name
    for a in t.actions:
        action = _local_action(c, a)
        scope = action_scope(action)
        ref = tm.action_refs.add(id=ids.action(c.fq(a)), scope=scope)
        if scope != p4i.ActionRef.TABLE_AND_DEFAULT:
            ref.annotations.append("@tableonly" if scope == p4i.ActionRef.TABLE_ONLY else "@defaultonly")
    default = ids.action(c.fq(t.default_action))
    if t.const_default:
        tm.const_default_action_id = default
    tm.initial_default_action.action_id = default
    if t.default_args:
        action = _local_action(c, t.default_action)
        params = action.params if action else ()
        if len(params) != len(t.default_args):
            raise ConfigError(f"default action {t.default_action} takes {len(params)} arguments, "
                              f"table {fq} gives {len(t.default_args)}", file=program.name, where=fq)
        for i, (p, v) in enumerate(zip(params, t.default_args, strict=True), 1):
            tm.initial_default_action.arguments.add(param_id=i, value=_bytes(v, p.bits))
    if t.implementation is not None:
        _selector(c, t)
        tm.implementation_id = ids.selector(c.fq(t.implementation))
    if t.direct_counter is not None:
        dc = next((d for d in c.direct_counters if d.name == t.direct_counter), None)
        if dc is None or dc.table != t.name:
            raise ConfigError(f"table {fq} names direct counter {t.direct_counter!r}, which control "
                              f"{c.name} does not attach to it", file=program.name, where=fq)
        tm.direct_resource_ids.append(ids.direct_counter(c.fq(dc.name)))
        dm = info.direct_counters.add()
        _preamble(dm.preamble, ids, ids.direct_counter(c.fq(dc.name)), c.fq(dc.name))
        dm.spec.unit = _UNIT[dc.kind]
        dm.direct_table_id = tm.preamble.id
    tm.size = t.size


# ============================================================================ files
def p4info_text(info: p4i.P4Info) -> str:
    """Text format with the header comments p4c writes (``# proto-file`` / ``# proto-message``)."""
    return ("# proto-file: p4/config/v1/p4info.proto\n# proto-message: p4.config.v1.P4Info\n\n"
            + text_format.MessageToString(info))


def write_p4info(program: Program, path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``<stem>.p4info.txtpb`` (text format) and ``<stem>.p4info.bin`` (binary), each atomically;
    returns both paths."""
    info = build_p4info(program)
    stem = Path(path_stem)
    txt, binary = stem.with_name(stem.name + ".p4info.txtpb"), stem.with_name(stem.name + ".p4info.bin")
    with atomic_open(txt, "w") as fh:
        fh.write(p4info_text(info))
    with atomic_open(binary, "wb") as fh:
        fh.write(info.SerializeToString())
    return txt, binary


def read_p4info(path: str | Path) -> p4i.P4Info:
    """Read a P4Info back from a ``.txtpb`` (text) or any other file (binary)."""
    p = Path(path)
    info = p4i.P4Info()
    if p.suffix in (".txtpb", ".txt"):
        text_format.Parse(p.read_text(encoding="utf-8"), info)
    else:
        info.ParseFromString(p.read_bytes())
    return info
