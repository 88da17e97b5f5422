"""Canonical P4Runtime entries and their wire forms: what :mod:`p4.diff` compares and what
:mod:`p4.runtime` (the derivation from the Plan) writes.

:func:`canonical` turns a :class:`p4.entries.SwitchEntries` into canonical entries: a dict from an
entity's key (table, match, priority, or register and index) to its value (action and parameters, a
one-shot action set, or a register value), with integers, not bytes. :class:`Encoder` writes them as
``p4.v1`` protobufs (finsy's protos: :func:`to_write_requests`, one ``WriteRequest`` per dependency
level), :class:`JsonEncoder` straight as their protobuf JSON (:func:`entries_text`, equal to
``MessageToDict`` and tested against it, ~15x faster), :func:`write_entries` / :func:`read_entries`
the entries files.

>>> encode(0), encode(0x88CC), encode(1 << 16)
(b'\\x00', b'\\x88\\xcc', b'\\x01\\x00\\x00')
"""

from __future__ import annotations

import binascii
import functools
import json
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabric.errors import ConfigError
from p4.entries import SwitchEntries

if TYPE_CHECKING:
    from finsy.proto import p4r

    from p4.ir import Program

#: Priority of port-admission entries when the table has a ternary key (P4Runtime needs one > 0).
ADMIT_PRIORITY = 1
# ============================================================================ canonical entries
#: A canonical key: ("t", table fq, match, priority) with match a tuple of (field, kind, value, mask or
#: prefix length) for the fields present (don't-care ternary and /0 LPM fields are omitted, as
#: P4Runtime requires), or ("r", register fq, index).
Key = tuple[Any, ...]
#: A canonical value: ("a", action fq, (param values...)), ("s", ((action fq, (params...), weight),
#: ...)) for a one-shot action set, or ("v", register value).
Value = tuple[Any, ...]
#: Dependency levels of the entries, in write order (what :func:`level_of` returns).
LEVELS = ("nexthop", "base", "group", "route")

# local names of the program's objects (p4.programs)
T_ADMIT, T_DSCP, T_V4, T_V6 = "port_admit", "dscp_to_tc", "routing_v4", "routing_v6"
T_GROUP, T_NEXTHOP, T_ACL = "wcmp_group_table", "nexthop_table", "acl"
R_KMIN, R_KMAX, R_SLOPE = "ecn_kmin", "ecn_kmax", "ecn_slope"
_TABLE_LEVEL = {T_NEXTHOP: "nexthop", T_GROUP: "group", T_V4: "route", T_V6: "route"}


def encode(value: int) -> bytes:
    """The canonical P4Runtime bytestring of a non-negative integer (spec 8.4: the shortest big-endian
    string, one byte for 0)."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@functools.lru_cache(maxsize=1 << 17)
def parse_prefix(prefix: str) -> tuple[bool, int, int]:
    """``(is_ipv6, address masked to the prefix, prefix length)`` of ``10.1.2.3/24`` or ``fd00::/64``
    (a bare address is a host route); a ConfigError for anything else.

    >>> parse_prefix("10.1.2.3/24")[1] == 0x0A010200
    True
    """
    addr, _, plen_s = prefix.partition("/")
    v6 = ":" in addr
    try:
        raw = int.from_bytes(socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, addr), "big")
        width = 128 if v6 else 32
        plen = int(plen_s) if plen_s else width
    except (OSError, ValueError):
        raise ConfigError(f"not an IP prefix: {prefix!r}") from None
    if not 0 <= plen <= width:
        raise ConfigError(f"prefix length out of range: {prefix!r}")
    mask = ((1 << plen) - 1) << (width - plen)
    return v6, raw & mask, plen




@dataclass(frozen=True)
class Canonical:
    """One switch's entries as canonical (key -> value) dicts per dependency level (:data:`LEVELS`)."""

    levels: dict[str, dict[Key, Value]]

    def flat(self) -> dict[Key, Value]:
        return {k: v for lv in LEVELS for k, v in self.levels[lv].items()}

    def __len__(self) -> int:
        return sum(len(d) for d in self.levels.values())


def level_of(key: Key) -> str:
    """The dependency level of a canonical key (registers and the other tables are ``base``)."""
    if key[0] == "r":
        return "base"
    return _TABLE_LEVEL.get(key[1].rpartition(".")[2], "base")


def canonical(program: Program, entries: SwitchEntries) -> Canonical:
    """The canonical form of ``entries`` for ``program``: what is written and what diffs compare."""
    ing = program.ingress
    fq = ing.fq
    levels: dict[str, dict[Key, Value]] = {lv: {} for lv in LEVELS}
    names = {t.name for _c, t in program.tables()}
    base, nh_level = levels["base"], levels["nexthop"]

    t_nh, a_nh = fq(T_NEXTHOP), fq("set_nexthop")
    for n in entries.nexthops:
        nh_level[("t", t_nh, (("nexthop_id", "exact", n.id, None),), 0)] = ("a", a_nh, (n.port, n.src_mac, n.dst_mac))
    admit = ing.table(T_ADMIT)
    prio = ADMIT_PRIORITY if admit.has_priority else 0
    t_admit, a_admit = fq(T_ADMIT), fq("admit")
    for p in entries.admit_ports:
        base[("t", t_admit, (("ingress_port", "exact", p, None),), prio)] = ("a", a_admit, ())
    if entries.dscp_to_tc and T_DSCP in names:
        t_dscp, a_tc = fq(T_DSCP), fq("set_traffic_class")
        for d, tc in sorted(entries.dscp_to_tc.items()):
            base[("t", t_dscp, (("dscp", "exact", d, None),), 0)] = ("a", a_tc, (tc,))
    if entries.acl:
        if T_ACL not in names:
            raise ConfigError(f"program {program.name} has no ACL table for the switch's ACL entries")
        order = [k.name for k in ing.table(T_ACL).keys]
        t_acl = fq(T_ACL)
        for a in entries.acl:
            match = tuple(sorted(((f, "ternary", val & mask, mask) for f, val, mask in a.match if mask),
                                 key=lambda m: order.index(m[0])))
            params = (a.nexthop_id,) if a.action == "acl_set_nexthop_id" else ()
            base[("t", t_acl, match, a.priority)] = ("a", fq(a.action), params)
    if entries.ecn:
        if program.egress is None:
            raise ConfigError(f"program {program.name} has no egress for the ECN thresholds")
        eg = program.egress.fq
        for e in entries.ecn:
            for reg, val in ((R_KMIN, e.kmin), (R_KMAX, e.kmax), (R_SLOPE, e.slope)):
                base[("r", eg(reg), e.port)] = ("v", val)

    t_group, a_set = fq(T_GROUP), fq("set_nexthop_id")
    for g in entries.groups:
        levels["group"][("t", t_group, (("wcmp_group_id", "exact", g.id, None),), 0)] = (
            "s", tuple((a_set, (nh,), w) for nh, w in g.members if w > 0))
    a_grp = fq("set_wcmp_group_id")
    t_fq = {T_V4: fq(T_V4), T_V6: fq(T_V6)}
    route = levels["route"]
    for r in entries.routes:
        v6, addr, plen = parse_prefix(r.prefix)
        table = T_V6 if v6 else T_V4
        if table not in names:
            raise ConfigError(f"program {program.name} has no table {table} for route {r.prefix}")
        match = () if plen == 0 else (("ipv6_dst" if v6 else "ipv4_dst", "lpm", addr, plen),)
        value = ("a", a_grp, (r.wcmp_group_id,)) if r.wcmp_group_id else ("a", a_set, (r.nexthop_id,))
        route[("t", t_fq[table], match, 0)] = value
    return Canonical(levels)


# ============================================================================ protobufs
class Encoder:
    """Canonical entries -> ``p4.v1.Update`` protobufs, with the program's P4Info ids
    (:class:`p4.p4info.IdMap`). Field matches and actions are built once and copied into each entry
    (an encoder is meant to serve every switch of one program)."""

    def __init__(self, program: Program) -> None:
        from finsy.proto import p4r

        from p4.p4info import IdMap

        self.p4r = p4r
        self.ids = IdMap.of(program)
        self._fields: dict[tuple[str, str], int] = {}
        self._params: dict[str, list[int]] = {}
        self._tables: dict[str, int] = {}
        self._registers: dict[str, int] = {}
        self._fm: dict[tuple[Any, ...], Any] = {}
        self._ta: dict[Value, Any] = {}
        self._types = {k: p4r.Update.Type.Value(k) for k in ("INSERT", "MODIFY", "DELETE")}
        self._action_params = {c.fq(a.name): [p.name for p in a.params] for c, a in program.actions()}

    def _field_match(self, table: str, m: tuple[Any, ...]) -> Any:
        k = (table, *m)
        fm = self._fm.get(k)
        if fm is None:
            p4r = self.p4r
            name, kind, val, extra = m
            fid = self._fields.get((table, name))
            if fid is None:
                fid = self._fields[(table, name)] = self.ids.match_field(table, name)
            fm = p4r.FieldMatch(field_id=fid)
            if kind == "exact":
                fm.exact.value = encode(val)
            elif kind == "lpm":
                fm.lpm.value, fm.lpm.prefix_len = encode(val), extra
            elif kind == "ternary":
                fm.ternary.value, fm.ternary.mask = encode(val), encode(extra)
            else:
                raise ValueError(f"match kind {kind!r} is not written by p4.runtime")
            self._fm[k] = fm
        return fm

    def _action(self, msg: Any, fq: str, params: tuple[int, ...]) -> None:
        pids = self._params.get(fq)
        if pids is None:
            pids = self._params[fq] = [self.ids.param(fq, p) for p in self._action_params.get(fq, [])]
        msg.action_id = self.ids.action(fq)
        for i, v in zip(pids, params, strict=True):
            p = msg.params.add()
            p.param_id, p.value = i, encode(v)

    def _table_action(self, value: Value) -> Any:
        ta = self._ta.get(value)
        if ta is None:
            ta = self.p4r.TableAction()
            if value[0] == "s":
                aset = ta.action_profile_action_set
                for a, ps, w in value[1]:
                    pa = aset.action_profile_actions.add()
                    self._action(pa.action, a, ps)
                    pa.weight = w
            else:
                self._action(ta.action, value[1], value[2])
            self._ta[value] = ta
        return ta

    def fill(self, u: Any, kind: str, key: Key, value: Value | None) -> Any:
        """Write the update into ``u`` (a ``p4.v1.Update``) and return it. ``kind`` is INSERT, MODIFY
        or DELETE; registers are always MODIFY (P4Runtime cannot insert or delete them; a DELETE
        writes 0, the reset value)."""
        ent = u.entity
        if key[0] == "r":
            u.type = self._types["MODIFY"]
            rid = self._registers.get(key[1])
            if rid is None:
                rid = self._registers[key[1]] = self.ids.register(key[1])
            re_ = ent.register_entry
            re_.register_id = rid
            re_.index.index = key[2]
            re_.data.bitstring = encode(value[1] if value is not None and kind != "DELETE" else 0)
            return u
        u.type = self._types[kind]
        _t, table, match, prio = key
        tid = self._tables.get(table)
        if tid is None:
            tid = self._tables[table] = self.ids.table(table)
        te = ent.table_entry
        te.table_id = tid
        for m in match:
            te.match.append(self._field_match(table, m))
        if prio:
            te.priority = prio
        if value is not None and kind != "DELETE":
            te.action.CopyFrom(self._table_action(value))
        return u

    def update(self, kind: str, key: Key, value: Value | None) -> p4r.Update:
        """A new ``p4.v1.Update`` (see :meth:`fill`)."""
        return self.fill(self.p4r.Update(), kind, key, value)

    def entity(self, key: Key, value: Value | None) -> Any:
        """The ``p4.v1.Entity`` of a canonical entry (``value`` None: the key alone)."""
        return self.update("INSERT" if value is not None else "DELETE", key, value).entity


def to_write_requests(program: Program, entries: SwitchEntries | Canonical, *, device_id: int = 1,
                      election_id: tuple[int, int] = (0, 1), encoder: Encoder | None = None) -> list[p4r.WriteRequest]:
    """The ``WriteRequest``\\ s that install ``entries`` on a freshly loaded pipeline, one per non-empty
    dependency level: (a) next hops, port admission, DSCP -> TC, ACL, ECN registers; (b) WCMP groups;
    (c) routes. ``election_id`` is ``(high, low)``. ``entries`` may be given in canonical form already."""
    enc = encoder if encoder is not None else Encoder(program)
    p4r = enc.p4r
    can = entries if isinstance(entries, Canonical) else canonical(program, entries)
    out = []
    for stage in (("nexthop", "base"), ("group",), ("route",)):
        items = [kv for lv in stage for kv in can.levels[lv].items()]
        if not items:
            continue
        wr = p4r.WriteRequest(device_id=device_id)
        wr.election_id.high, wr.election_id.low = election_id
        add, fill = wr.updates.add, enc.fill
        for k, v in items:
            fill(add(), "INSERT", k, v)
        out.append(wr)
    return out


def requests_json(requests: Sequence[Any]) -> list[dict[str, Any]]:
    """Protobuf JSON (``MessageToDict``) of each request."""
    from google.protobuf.json_format import MessageToDict

    return [MessageToDict(r) for r in requests]


def write_entries(directory: str | Path, switch: str, requests: Sequence[Any] | str) -> Path:
    """Write ``DIR/entries/<switch>.json`` (a JSON list of WriteRequests in dependency order), atomically.
    ``requests`` are ``WriteRequest`` messages (formatted by ``MessageToDict``, slow: ~40 us an update),
    or the text :meth:`JsonEncoder.requests_text` made of the canonical entries (the same file, ~20x
    faster, no protobufs built: see :func:`entries_text`)."""
    from fabric.io.atomic import write_text_atomic

    path = Path(directory) / "entries" / f"{switch}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = requests if isinstance(requests, str) else json.dumps(requests_json(requests), indent=_INDENT)
    write_text_atomic(path, text + "\n")
    return path


def entries_text(program: Program, entries: SwitchEntries | Canonical, *, device_id: int = 1,
                 election_id: tuple[int, int] = (0, 1), encoder: JsonEncoder | None = None) -> str:
    """The entries file's text (for :func:`write_entries`) of what :func:`to_write_requests` would
    write, straight from the canonical entries (``encoder``: one per program, reused across switches)."""
    enc = encoder if encoder is not None else JsonEncoder(program)
    can = entries if isinstance(entries, Canonical) else canonical(program, entries)
    return enc.requests_text(can, device_id=device_id, election_id=election_id)


def read_entries(path: str | Path) -> list[Any]:
    """The WriteRequests of an entries file (protobuf JSON), parsed back."""
    from finsy.proto import p4r
    from google.protobuf.json_format import ParseDict

    return [ParseDict(d, p4r.WriteRequest()) for d in json.loads(Path(path).read_text())]


# ============================================================================ protobuf JSON, without protobufs
#: ``p4 gen``'s entries files: ``json.dumps(..., indent=1)`` of a list of WriteRequests, in which an
#: update sits at depth 3 (file list > request > "updates" list) and a table entry's action at depth 6
#: (update > entity > tableEntry > "action").
_INDENT, _UPDATE_DEPTH, _ACTION_DEPTH, _REQUEST_DEPTH = 1, 3, 6, 1
_PLACEHOLDER = re.compile(r'"@@(\d+)@@"')
#: Write stages of :func:`to_write_requests`: one WriteRequest per non-empty stage.
STAGES = (("nexthop", "base"), ("group",), ("route",))


def _b64(value: int) -> str:
    """Proto3 JSON of a bytes field holding :func:`encode` of ``value`` (standard base64, padded)."""
    return binascii.b2a_base64(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"),
                               newline=False).decode("ascii")


def _template(obj: Any, depth: int) -> str:
    """``json.dumps(obj, indent=1)`` nested ``depth`` levels deep, as a :meth:`str.format` template in
    which each string ``"@@i@@"`` is the ``i``-th argument, verbatim (JSON text)."""
    text = json.dumps(obj, indent=_INDENT).replace("\n", "\n" + " " * (depth * _INDENT))
    text = text.replace("{", "{{").replace("}", "}}")
    return _PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", text)


class JsonEncoder:
    """Canonical entries -> the proto3 JSON of their ``p4.v1.Update``\\ s and ``WriteRequest``\\ s, as
    :func:`google.protobuf.json_format.MessageToDict` (and ``json.dumps(..., indent=1)``) gives them for
    the messages :class:`Encoder` builds, without building any: camelCase names, bytes as standard
    base64, enums by name, 64-bit integers as strings, defaults omitted (a message that
    :class:`Encoder` touches is present, if empty). ``tests/test_p4_runtime.py`` holds it to
    ``MessageToDict`` and ``ParseDict``.

    Dicts (:meth:`update`, :meth:`requests`) share their action sub-dicts between updates: read them,
    do not mutate them. Text (:meth:`requests_text`) is formatted from templates, one per entry shape,
    built once by ``json.dumps`` of the same dicts (an encoder serves every switch of one program)."""

    def __init__(self, program: Program) -> None:
        from p4.p4info import IdMap

        self.ids = IdMap.of(program)
        self._fields: dict[tuple[str, str], int] = {}
        self._tables: dict[str, int] = {}
        self._registers: dict[str, int] = {}
        self._params: dict[str, list[int]] = {}
        self._action_params = {c.fq(a.name): [p.name for p in a.params] for c, a in program.actions()}
        self._ta: dict[Value, dict[str, Any]] = {}
        self._value_text: dict[Value, str] = {}
        self._templates: dict[tuple[Any, ...], str] = {}

    # -- ids
    def _field_id(self, table: str, name: str) -> int:
        fid = self._fields.get((table, name))
        if fid is None:
            fid = self._fields[(table, name)] = self.ids.match_field(table, name)
        return fid

    def _table_id(self, table: str) -> int:
        tid = self._tables.get(table)
        if tid is None:
            tid = self._tables[table] = self.ids.table(table)
        return tid

    def _register_id(self, reg: str) -> int:
        rid = self._registers.get(reg)
        if rid is None:
            rid = self._registers[reg] = self.ids.register(reg)
        return rid

    def _param_ids(self, fq: str) -> list[int]:
        pids = self._params.get(fq)
        if pids is None:
            pids = self._params[fq] = [self.ids.param(fq, p) for p in self._action_params.get(fq, [])]
        return pids

    # -- dicts (arguments already in JSON form, or placeholders)
    def _field_match(self, table: str, name: str, kind: str, value: Any, extra: Any) -> dict[str, Any]:
        fm: dict[str, Any] = {"fieldId": self._field_id(table, name)}
        if kind == "exact":
            fm["exact"] = {"value": value}
        elif kind == "lpm":
            fm["lpm"] = {"value": value, "prefixLen": extra} if extra != 0 else {"value": value}
        elif kind == "ternary":
            fm["ternary"] = {"value": value, "mask": extra}
        else:
            raise ValueError(f"match kind {kind!r} is not written by p4.runtime")
        return fm

    def _action(self, fq: str, params: Sequence[Any]) -> dict[str, Any]:
        pids = self._param_ids(fq)
        if len(pids) != len(params):
            raise ValueError(f"action {fq} takes {len(pids)} parameters, not {len(params)}")
        act: dict[str, Any] = {"actionId": self.ids.action(fq)}
        if params:
            act["params"] = [{"paramId": i, "value": v} for i, v in zip(pids, params, strict=True)]
        return act

    def _table_action(self, value: Value) -> dict[str, Any]:
        ta = self._ta.get(value)
        if ta is None:
            if value[0] == "s":
                members = [{"action": self._action(a, [_b64(p) for p in ps]), "weight": w} if w else
                           {"action": self._action(a, [_b64(p) for p in ps])} for a, ps, w in value[1]]
                ta = {"actionProfileActionSet": {"actionProfileActions": members}} if members else {}
            else:
                ta = {"action": self._action(value[1], [_b64(p) for p in value[2]])}
            if len(self._ta) >= 1 << 16:
                self._ta.clear()
            self._ta[value] = ta
        return ta

    def _register_dict(self, reg: str, index: Any, data: Any) -> dict[str, Any]:
        return {"type": "MODIFY", "entity": {"registerEntry": {
            "registerId": self._register_id(reg), "index": {"index": index} if index != 0 else {},
            "data": {"bitstring": data}}}}

    def _table_dict(self, kind: str, table: str, fms: list[dict[str, Any]], prio: int,
                    action: Any) -> dict[str, Any]:
        te: dict[str, Any] = {"tableId": self._table_id(table)}
        if fms:
            te["match"] = fms
        if action is not None:
            te["action"] = action
        if prio:
            te["priority"] = prio
        return {"type": kind, "entity": {"tableEntry": te}}

    @staticmethod
    def _request_dict(device_id: int, election_id: tuple[int, int], updates: Any) -> dict[str, Any]:
        req: dict[str, Any] = {"deviceId": str(device_id)} if device_id else {}
        high, low = election_id
        req["electionId"] = {**({"high": str(high)} if high else {}), **({"low": str(low)} if low else {})}
        req["updates"] = updates
        return req

    def update(self, kind: str, key: Key, value: Value | None) -> dict[str, Any]:
        """``MessageToDict`` of :meth:`Encoder.update` ``(kind, key, value)``."""
        if key[0] == "r":
            data = value[1] if value is not None and kind != "DELETE" else 0
            return self._register_dict(key[1], str(key[2]), _b64(data))
        if kind not in ("INSERT", "MODIFY", "DELETE"):
            raise ValueError(f"not an update type: {kind!r}")
        _t, table, match, prio = key
        fms = [self._field_match(table, name, mk, _b64(val), _b64(extra) if mk == "ternary" else extra)
               for name, mk, val, extra in match]
        action = self._table_action(value) if value is not None and kind != "DELETE" else None
        return self._table_dict(kind, table, fms, prio, action)

    def requests(self, entries: Canonical, *, device_id: int = 1,
                 election_id: tuple[int, int] = (0, 1)) -> list[dict[str, Any]]:
        """``MessageToDict`` of each of :func:`to_write_requests` ``(program, entries)``."""
        out = []
        for stage in STAGES:
            ups = [self.update("INSERT", k, v) for lv in stage for k, v in entries.levels[lv].items()]
            if ups:
                out.append(self._request_dict(device_id, election_id, ups))
        return out

    # -- text
    def _action_text(self, value: Value) -> str:
        text = self._value_text.get(value)
        if text is not None:
            return text
        if value[0] == "s":
            text = json.dumps(self._table_action(value), indent=_INDENT).replace(
                "\n", "\n" + " " * (_ACTION_DEPTH * _INDENT))
        else:
            fq, params = value[1], value[2]
            shape = ("a", fq, len(params))
            t = self._templates.get(shape)
            if t is None:
                ph = [f"@@{i}@@" for i in range(len(params))]
                t = self._templates[shape] = _template({"action": self._action(fq, ph)}, _ACTION_DEPTH)
            text = t.format(*[f'"{_b64(p)}"' for p in params])
        if len(self._value_text) >= 1 << 16:
            self._value_text.clear()
        self._value_text[value] = text
        return text

    def update_text(self, kind: str, key: Key, value: Value | None) -> str:
        """``json.dumps(self.update(kind, key, value), indent=1)``, nested as an update in an entries
        file."""
        if key[0] == "r":
            index = key[2]
            shape: tuple[Any, ...] = ("r", key[1], index == 0)
            t = self._templates.get(shape)
            if t is None:
                t = self._templates[shape] = _template(
                    self._register_dict(key[1], "@@0@@" if index else 0, "@@1@@"), _UPDATE_DEPTH)
            data = value[1] if value is not None and kind != "DELETE" else 0
            return t.format(f'"{index}"', f'"{_b64(data)}"')
        _t, table, match, prio = key
        has_action = value is not None and kind != "DELETE"
        shape = (kind, table, tuple((m[0], m[1], m[3] == 0) for m in match), prio, has_action)
        t = self._templates.get(shape)
        if t is None:
            if kind not in ("INSERT", "MODIFY", "DELETE"):
                raise ValueError(f"not an update type: {kind!r}")
            fms = [self._field_match(table, name, mk, f"@@{2 * i}@@", 0 if extra == 0 else f"@@{2 * i + 1}@@")
                   for i, (name, mk, _v, extra) in enumerate(match)]
            t = self._templates[shape] = _template(
                self._table_dict(kind, table, fms, prio, f"@@{2 * len(match)}@@" if has_action else None),
                _UPDATE_DEPTH)
        args = []
        for _name, mk, val, extra in match:
            args.append(f'"{_b64(val)}"')
            args.append(f'"{_b64(extra)}"' if mk == "ternary" else str(extra))
        if has_action:
            assert value is not None
            args.append(self._action_text(value))
        return t.format(*args)

    def requests_text(self, entries: Canonical, *, device_id: int = 1, election_id: tuple[int, int] = (0, 1)) -> str:
        """``json.dumps(self.requests(entries, ...), indent=1)``: what :func:`write_entries` writes
        (before its final newline)."""
        head = self._templates.get(("req", device_id, election_id))
        if head is None:
            head = self._templates[("req", device_id, election_id)] = _template(
                self._request_dict(device_id, election_id, "@@0@@"), _REQUEST_DEPTH)
        sep = ",\n" + " " * (_UPDATE_DEPTH * _INDENT)
        reqs = []
        for stage in STAGES:
            ups = [self.update_text("INSERT", k, v) for lv in stage for k, v in entries.levels[lv].items()]
            if ups:
                reqs.append(head.format("[\n" + " " * (_UPDATE_DEPTH * _INDENT) + sep.join(ups) + "\n"
                                        + " " * ((_UPDATE_DEPTH - 1) * _INDENT) + "]"))
        if not reqs:
            return "[]"
        return "[\n" + " " * _INDENT + ("," + "\n" + " " * _INDENT).join(reqs) + "\n]"
