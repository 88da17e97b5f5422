"""P4_16 program text from a :class:`p4.ir.Program`: the only place in fabricctl that writes P4.

Two architectures, as p4c ships them:

- **v1model** (switch roles): ``FabricParser``, ``FabricVerifyChecksum``, ``FabricIngress``,
  ``FabricEgress``, ``FabricComputeChecksum`` (``update_checksum`` with ``HashAlgorithm.csum16``) and
  ``FabricDeparser`` in ``V1Switch(...) main``. Externs in the default v1model version (20180101):
  ``counter(size, CounterType.<kind>)`` indexed by ``bit<32>``, ``register<bit<W>>(size)`` with
  ``read(out, in bit<32>)``, ``direct_counter``, ``action_selector`` and ``random<T>``.
- **PNA** (``nic``): ``MainParserT``/``PreControlT``/``MainControlT``/``MainDeparserT`` in
  ``PNA_NIC(...) main``, with the IR's ``standard_metadata`` translated (:data:`PNA_MAP`).

Control-plane names are the IR's: controls keep their names (``FabricIngress``), so a table ``acl``
is ``FabricIngress.acl`` in p4c's P4Info; match fields carry ``@name("<Key.name>")``. WCMP selectors
carry ``@max_group_size`` and tables using a one-shot selector ``@oneshot`` (SONiC PINS' form, which
p4c copies into the table's P4Info annotations).

Output is deterministic: the same IR gives the same bytes (no clock, no host name, no dict order
other than the IR's own tuples).

>>> from p4.programs import build_program
>>> text = generate(build_program("leaf"))
>>> "table routing_v4 {" in text and text.rstrip().endswith("main;")
True
>>> generate(build_program("leaf")) == text
True
"""

from __future__ import annotations

from collections.abc import Iterable

from p4.ir import (
    CORE_ACTIONS,
    Action,
    ActionSelector,
    Apply,
    Assign,
    Bin,
    Call,
    Cast,
    Const,
    Control,
    Counter,
    DirectCounter,
    Do,
    Exit,
    Expr,
    If,
    Not,
    ParserState,
    Program,
    Ref,
    Register,
    Stmt,
    Table,
    Var,
)
from p4.p4info import (
    SCOPE_ANNOTATIONS,
    p4_type_name,
    pkginfo_annotation,
    selector_annotations,
    table_annotations,
)

GENERATOR = "fabricctl p4.gen"
INDENT = "    "

#: v1model ``standard_metadata_t`` fields the IR may use and their widths (p4include/v1model.p4).
V1MODEL_STD_BITS = {"ingress_port": 9, "egress_spec": 9, "egress_port": 9, "priority": 3, "enq_qdepth": 19,
                    "deq_qdepth": 19, "packet_length": 32, "instance_type": 32}
#: v1model ``HashAlgorithm`` members (p4include/v1model.p4).
V1MODEL_HASHES = ("crc32", "crc32_custom", "crc16", "crc16_custom", "random", "identity", "csum16", "xor16")

#: How the IR's v1model ``standard_metadata`` reads and writes become PNA (p4include/pna.p4):
#: reads of the ingress port come from ``istd.input_port`` (a ``type PortId_t``, cast through
#: ``PortIdUint_t`` to the IR's 9 bits, ports above 511 do not occur in the fabric); a write of
#: ``egress_spec`` is ``send_to_port``; a write of ``priority`` is ``ostd.class_of_service``;
#: ``mark_to_drop(standard_metadata)`` is ``drop_packet()``. Anything else (``enq_qdepth``,
#: ``egress_port``: PNA has no egress control and no queue depth) is refused with a ValueError.
PNA_MAP = {
    "read standard_metadata.ingress_port": "(bit<9>) (PortIdUint_t) istd.input_port",
    "write standard_metadata.egress_spec": "send_to_port((PortId_t) (PortIdUint_t) <value>);",
    "write standard_metadata.priority": "ostd.class_of_service = (ClassOfService_t) (ClassOfServiceUint_t) <value>;",
    "mark_to_drop(standard_metadata)": "drop_packet();",
}
#: P4_16 reserved words (P4_16 spec, appendix "P4 reserved keywords") that the IR must not use as a name;
#: ``key``, ``actions``, ``state``, ``entries``, ``type``, ``priority`` and ``apply`` are contextual in p4c
#: and allowed as field names.
P4_KEYWORDS = frozenset((
    "abstract", "action", "bit", "bool", "break", "const", "continue", "control", "default", "else", "enum",
    "error", "exit", "extern", "false", "for", "header", "header_union", "if", "in", "inout", "int", "list",
    "match_kind", "out", "package", "parser", "return", "select", "string", "struct", "switch", "table",
    "this", "transition", "true", "tuple", "typedef", "value_set", "varbit", "verify", "void"))
_PNA_READS = {"standard_metadata.ingress_port": "(bit<9>) (PortIdUint_t) istd.input_port"}
_COUNTER_V1 = {"packets": "packets", "bytes": "bytes", "packets_and_bytes": "packets_and_bytes"}
_COUNTER_PNA = {"packets": "PACKETS", "bytes": "BYTES", "packets_and_bytes": "PACKETS_AND_BYTES"}
#: PNA counter cell widths (pna.p4 leaves W to the program): 64 bits per packet or byte count.
PNA_COUNTER_BITS = {"packets": 64, "bytes": 64, "packets_and_bytes": 128}


def _ann(a: str) -> str:
    return a if a.startswith("@") else f"@{a}"


def _ind(lines: Iterable[str], n: int = 1) -> list[str]:
    pad = INDENT * n
    return [pad + ln if ln else ln for ln in lines]


class _Writer:
    """Renders one program's expressions and statements for its architecture."""

    def __init__(self, program: Program) -> None:
        self.p = program
        self.pna = program.arch == "pna"

    # ------------------------------------------------------------------ expressions
    def expr(self, e: Expr, *, top: bool = True) -> str:
        if isinstance(e, Ref):
            r = self.ref(e.path)
            return r if top or r == e.path else f"({r})"
        if isinstance(e, Const):
            if e.value < 0:
                raise ValueError(f"negative constant {e.value} in program {self.p.name}")
            return f"{e.bits}w{e.value}" if e.bits is not None else str(e.value)
        if isinstance(e, Bin):
            s = f"{self.expr(e.left, top=False)} {e.op} {self.expr(e.right, top=False)}"
            return s if top else f"({s})"
        if isinstance(e, Not):
            return f"!{self.expr(e.operand, top=False)}"
        if isinstance(e, Cast):
            inner = self.expr(e.operand, top=False)
            return f"(bit<{e.bits}>) {inner}" if top else f"((bit<{e.bits}>) {inner})"
        if isinstance(e, Call):
            return self.call(e)
        raise TypeError(f"not an expression: {e!r}")

    def ref(self, path: str) -> str:
        if path.startswith("standard_metadata"):
            if not self.pna:
                field = path.partition(".")[2]
                if field and field not in V1MODEL_STD_BITS:
                    raise ValueError(f"program {self.p.name}: unknown standard_metadata field {field!r}")
                return path
            if path in _PNA_READS:
                return _PNA_READS[path]
            raise ValueError(f"program {self.p.name}: PNA has no equivalent of {path} "
                             f"(mapped: {', '.join(sorted(PNA_MAP))})")
        return path

    def call(self, c: Call) -> str:
        targs = f"<{', '.join(f'bit<{b}>' for b in c.type_args)}>" if c.type_args else ""
        return f"{c.target}{targs}({', '.join(self.expr(a) for a in c.args)})"

    # ------------------------------------------------------------------ statements
    def stmts(self, body: Iterable[Stmt]) -> list[str]:
        out: list[str] = []
        for s in body:
            out += self.stmt(s)
        return out

    def block(self, head: str, body: Iterable[Stmt]) -> list[str]:
        inner = self.stmts(body)
        return [f"{head} {{", *_ind(inner), "}"]

    def stmt(self, s: Stmt) -> list[str]:
        if isinstance(s, Assign):
            return [self.assign(s)]
        if isinstance(s, Do):
            return [self.do(s.call)]
        if isinstance(s, If):
            out = self.block(f"if ({self.expr(s.cond)})", s.then)
            if s.otherwise:
                if len(s.otherwise) == 1 and isinstance(s.otherwise[0], If):
                    rest = self.stmt(s.otherwise[0])
                    out[-1] = "} else " + rest[0]
                    out += rest[1:]
                else:
                    els = self.block("else", s.otherwise)
                    out[-1] = "} " + els[0]
                    out += els[1:]
            return out
        if isinstance(s, Apply):
            if not s.on_hit and not s.on_miss:
                return [f"{s.table}.apply();"]
            if not s.on_hit:
                return self.block(f"if (!{s.table}.apply().hit)", s.on_miss)
            out = self.block(f"if ({s.table}.apply().hit)", s.on_hit)
            if s.on_miss:
                els = self.block("else", s.on_miss)
                out[-1] = "} " + els[0]
                out += els[1:]
            return out
        if isinstance(s, Exit):
            return ["exit;"]
        if isinstance(s, Var):
            init = f" = {self.expr(s.init)}" if s.init is not None else ""
            return [f"bit<{s.bits}> {s.name}{init};"]
        raise TypeError(f"not a statement: {s!r}")

    def assign(self, s: Assign) -> str:
        if self.pna and s.dst.path.startswith("standard_metadata"):
            value = self.expr(s.src, top=False)
            if s.dst.path == "standard_metadata.egress_spec":
                return f"send_to_port((PortId_t) (PortIdUint_t) {value});"
            if s.dst.path == "standard_metadata.priority":
                return f"ostd.class_of_service = (ClassOfService_t) (ClassOfServiceUint_t) {value};"
            raise ValueError(f"program {self.p.name}: PNA has no equivalent of a write to {s.dst.path}")
        return f"{self.ref(s.dst.path)} = {self.expr(s.src)};"

    def do(self, c: Call) -> str:
        if self.pna:
            if c.target == "mark_to_drop":
                return "drop_packet();"
            if c.target == "random":
                raise ValueError(f"program {self.p.name}: random() is v1model's; PNA needs a Random extern")
            obj, _, method = c.target.rpartition(".")
            if method == "read" and obj in self._registers() and len(c.args) == 2:
                return f"{self.expr(c.args[0])} = {obj}.read({self.expr(c.args[1])});"
        return f"{self.call(c)};"

    def _registers(self) -> set[str]:
        return {r.name for ctl in self.p.controls for r in ctl.registers}


# ====================================================================== declarations
def _header_types(w: _Writer) -> list[str]:
    out: list[str] = []
    for t in w.p.header_types():
        if t.source:
            out.append(f"// {t.source}")
        if t.controller:
            out.append(f'@controller_header("{t.controller}")')
        out.append(f"header {p4_type_name(t)} {{")
        for f in t.fields:
            anns = "".join(f"{_ann(a)} " for a in f.annotations)
            out.append(f"{INDENT}{anns}bit<{f.bits}> {f.name};")
        out += ["}", ""]
    return out


def _structs(w: _Writer) -> list[str]:
    out = ["struct headers_t {"]
    out += [f"{INDENT}{p4_type_name(h.type)} {h.name};" for h in w.p.headers]
    out += ["}", "", f"struct {w.p.metadata.name} {{"]
    for f in w.p.metadata.fields:
        anns = "".join(f"{_ann(a)} " for a in f.annotations)
        out.append(f"{INDENT}{anns}bit<{f.bits}> {f.name};")
    out += ["}", ""]
    return out


def _keyset(values: tuple[int | None, ...]) -> str:
    parts = ["_" if v is None else str(v) for v in values]
    return parts[0] if len(parts) == 1 else f"({', '.join(parts)})"


def _parser_state(w: _Writer, st: ParserState, pkt: str) -> list[str]:
    body = [f"{pkt}.extract(hdr.{h});" for h in st.extracts]
    if st.on:
        on = ", ".join(w.expr(e) for e in st.on)
        for c in st.cases:
            if len(c.values) != len(st.on):
                raise ValueError(f"parser state {st.name}: case {c.values} does not match {len(st.on)} "
                                 f"select expressions")
        cases = [f"{_keyset(c.values)}: {c.next};" for c in st.cases]
        body += [f"transition select({on}) {{", *_ind(cases), f"{INDENT}default: {st.default};", "}"]
    else:
        body.append(f"transition {st.default};")
    return [f"state {st.name} {{", *_ind(body), "}"]


def _parser(w: _Writer, signature: str, pkt: str) -> list[str]:
    names = [st.name for st in w.p.parser]
    if "start" not in names:
        raise ValueError(f"program {w.p.name}: the parser has no start state")
    if len(set(names)) != len(names):
        raise ValueError(f"program {w.p.name}: parser states repeat")
    known = {*names, "accept", "reject"}
    for st in w.p.parser:
        for nxt in (st.default, *(c.next for c in st.cases)):
            if nxt not in known:
                raise ValueError(f"parser state {st.name}: next state {nxt!r} is not declared")
    body: list[str] = []
    for i, st in enumerate(w.p.parser):
        if i:
            body.append("")
        body += _parser_state(w, st, pkt)
    return [signature + " {", *_ind(body), "}", ""]


def _counter(w: _Writer, c: Counter) -> str:
    if w.pna:
        return (f"Counter<bit<{PNA_COUNTER_BITS[c.kind]}>, bit<{c.index_bits}>>({c.size}, "
                f"PNA_CounterType_t.{_COUNTER_PNA[c.kind]}) {c.name};")
    return f"counter({c.size}, CounterType.{_COUNTER_V1[c.kind]}) {c.name};"


def _direct_counter(w: _Writer, d: DirectCounter) -> str:
    if w.pna:
        return (f"DirectCounter<bit<{PNA_COUNTER_BITS[d.kind]}>>(PNA_CounterType_t.{_COUNTER_PNA[d.kind]}) "
                f"{d.name};")
    return f"direct_counter(CounterType.{_COUNTER_V1[d.kind]}) {d.name};"


def _register(w: _Writer, r: Register) -> str:
    if w.pna:
        return f"Register<bit<{r.bits}>, bit<{r.index_bits}>>({r.size}) {r.name};"
    return f"register<bit<{r.bits}>>({r.size}) {r.name};"


def _selector(w: _Writer, s: ActionSelector) -> list[str]:
    # p4c turns these into P4Info ActionProfile max_group_size and sum_of_members.max_member_weight
    out = [f"// WCMP: at most {s.max_group_size} members per group, member weight at most {s.max_member_weight}"
           f"{' (one-shot action sets)' if s.oneshot else ''}",
           *selector_annotations(s)]
    if w.pna:
        out.append(f"ActionSelector(PNA_HashAlgorithm_t.TARGET_DEFAULT, 32w{s.size}, 32w{s.output_width}) "
                   f"{s.name};")
    else:
        if s.algorithm not in V1MODEL_HASHES:
            raise ValueError(f"selector {s.name}: v1model has no HashAlgorithm.{s.algorithm}")
        out.append(f"action_selector(HashAlgorithm.{s.algorithm}, 32w{s.size}, 32w{s.output_width}) {s.name};")
    return out


def _action(w: _Writer, a: Action, extra: tuple[Stmt, ...] = ()) -> list[str]:
    params = ", ".join(f"bit<{p.bits}> {p.name}" for p in a.params)
    out = [_ann(x) for x in a.annotations if _ann(x)[1:] not in SCOPE_ANNOTATIONS]
    out += w.block(f"action {a.name}({params})", (*a.body, *extra))
    return out


def _table(w: _Writer, ctl: Control, t: Table) -> list[str]:
    local = {a.name for a in ctl.actions}
    for name in (*t.actions, t.default_action):
        if name not in local and name != "NoAction":
            raise ValueError(f"table {ctl.fq(t.name)}: action {name!r} is not declared in {ctl.name}")
    if t.default_action not in t.actions:
        raise ValueError(f"table {ctl.fq(t.name)}: default action {t.default_action!r} is not one of its actions")
    selectors = {s.name: s for s in ctl.selectors}
    if t.implementation is not None and t.implementation not in selectors:
        raise ValueError(f"table {ctl.fq(t.name)}: implementation {t.implementation!r} is not declared")
    anns = list(table_annotations(ctl, t))
    body: list[str] = []
    if t.keys:
        body.append("key = {")
        body += [f"{INDENT}{w.expr(k.expr, top=False)} : {k.match} @name(\"{k.name}\");" for k in t.keys]
        body.append("}")
    body += ["actions = {", *[f"{INDENT}{_action_ref(ctl, a)};" for a in t.actions], "}"]
    args = ", ".join(str(v) for v in t.default_args)
    body.append(f"{'const ' if t.const_default else ''}default_action = {t.default_action}({args});")
    body.append(f"size = {t.size};")
    if t.implementation is not None:
        body.append(f"{'pna_implementation' if w.pna else 'implementation'} = {t.implementation};")
    if t.direct_counter is not None:
        if t.direct_counter not in {d.name for d in ctl.direct_counters}:
            raise ValueError(f"table {ctl.fq(t.name)}: direct counter {t.direct_counter!r} is not declared")
        body.append(f"{'pna_direct_counter' if w.pna else 'counters'} = {t.direct_counter};")
    return [*anns, f"table {t.name} {{", *_ind(body), "}"]


def _action_ref(ctl: Control, name: str) -> str:
    """An entry of a table's ``actions`` list; p4c reads ``@tableonly``/``@defaultonly`` from here."""
    action = None if name in CORE_ACTIONS else ctl.action(name)
    scope = [_ann(a) for a in (action.annotations if action else ()) if _ann(a)[1:] in SCOPE_ANNOTATIONS]
    return " ".join((*scope, name))


def _pna_counted(ctl: Control) -> dict[str, tuple[Stmt, ...]]:
    """PNA's DirectCounter counts when an action calls ``count()``: the count goes into the actions of
    the counted table that no other table uses (a miss on ``NoAction`` is not counted)."""
    users: dict[str, set[str]] = {}
    for t in ctl.tables:
        for a in t.actions:
            users.setdefault(a, set()).add(t.name)
    extra: dict[str, tuple[Stmt, ...]] = {}
    for d in ctl.direct_counters:
        for a in ctl.table(d.table).actions:
            if a != "NoAction" and users.get(a) == {d.table}:
                extra[a] = (*extra.get(a, ()), Do(Call(f"{d.name}.count")))
    return extra


def _control_locals(w: _Writer, ctl: Control) -> list[str]:
    """Declarations in the order P4 needs them: externs before the actions that use them, actions
    before the tables that list them."""
    out: list[str] = []
    for c in ctl.counters:
        out.append(_counter(w, c))
    for d in ctl.direct_counters:
        out.append(_direct_counter(w, d))
    for r in ctl.registers:
        out.append(_register(w, r))
    for s in ctl.selectors:
        out += _selector(w, s)
    if out:
        out.append("")
    extra = _pna_counted(ctl) if w.pna else {}
    for a in ctl.actions:
        out += [*_action(w, a, extra.get(a.name, ())), ""]
    for t in ctl.tables:
        out += [*_table(w, ctl, t), ""]
    return out


def _control(w: _Writer, ctl: Control, signature: str, *, decls: Iterable[str] = (),
             tail: Iterable[str] = ()) -> list[str]:
    body = [*decls, *_control_locals(w, ctl)]
    apply = w.block("apply", ctl.apply)
    apply[-1:-1] = _ind(tail)
    return [signature + " {", *_ind(body + apply), "}", ""]


def _empty_control(signature: str) -> list[str]:
    return [signature + " {", f"{INDENT}apply {{ }}", "}", ""]


def _checksums(w: _Writer) -> list[str]:
    out: list[str] = []
    for c in w.p.checksums:
        fields = [f"hdr.{c.header}.{f}" for f in c.fields]
        out += [f"update_checksum(hdr.{c.header}.isValid(),", f"{INDENT}{{ {', '.join(fields)} }},",
                f"{INDENT}hdr.{c.header}.{c.target}, HashAlgorithm.csum16);"]
    return out


def _deparser(w: _Writer, signature: str, pkt: str) -> list[str]:
    names = {h.name for h in w.p.headers}
    for h in w.p.deparse:
        if h not in names:
            raise ValueError(f"program {w.p.name}: deparser emits undeclared header {h!r}")
    emits = [f"{pkt}.emit(hdr.{h});" for h in w.p.deparse]
    return [signature + " {", f"{INDENT}apply {{", *_ind(emits, 2), f"{INDENT}}}", "}", ""]


def _constants(w: _Writer) -> list[str]:
    out = [f"const bit<{bits}> {name} = {value};" for name, bits, value in w.p.constants]
    return [*out, ""] if out else []


def _header_comment(w: _Writer) -> list[str]:
    p = w.p
    lines = [
        f"Program {p.name}: role {p.role}, architecture {p.arch}.",
        f"Generated by {GENERATOR} from the program IR (p4/ir.py); do not edit.",
        "Outside this pipeline: PFC, buffer carving and DCQCN are traffic-manager and NIC functions;",
        "they stay in the plan's cc section.",
    ]
    if w.pna:
        lines += [
            "PNA: standard_metadata of the IR is translated: ingress_port <- istd.input_port (cast to",
            "bit<9>), egress_spec -> send_to_port(), priority -> ostd.class_of_service,",
            "mark_to_drop -> drop_packet(). PNA has no egress control: no ECN marking by queue depth",
            "(enq_qdepth) and no transmit counter here. Direct counters count in their table's actions.",
            "WCMP selector hash: PNA_HashAlgorithm_t.TARGET_DEFAULT (pna.p4 names no other).",
            "The packet I/O port CPU_PORT is an assumption: PNA has no fixed CPU port number.",
        ]
    lines += list(p.notes)
    return ["/*", *[f" * {ln}" if ln else " *" for ln in lines], " */", ""]


# ====================================================================== programs
def _v1model(w: _Writer) -> list[str]:
    p = w.p
    meta = p.metadata.name
    out = [*_header_comment(w), "#include <core.p4>", "#include <v1model.p4>", "", *_constants(w),
           *_header_types(w), *_structs(w)]
    out += _parser(w, f"parser FabricParser(packet_in packet, out headers_t hdr, inout {meta} meta, "
                      "inout standard_metadata_t standard_metadata)", "packet")
    out += _empty_control(f"control FabricVerifyChecksum(inout headers_t hdr, inout {meta} meta)")
    out += _control(w, p.ingress, f"control {p.ingress.name}(inout headers_t hdr, inout {meta} meta, "
                                  "inout standard_metadata_t standard_metadata)")
    if p.egress is not None:
        out += _control(w, p.egress, f"control {p.egress.name}(inout headers_t hdr, inout {meta} meta, "
                                     "inout standard_metadata_t standard_metadata)")
        egress = p.egress.name
    else:
        out += _empty_control(f"control FabricEgress(inout headers_t hdr, inout {meta} meta, "
                              "inout standard_metadata_t standard_metadata)")
        egress = "FabricEgress"
    sums = _checksums(w)
    out += [f"control FabricComputeChecksum(inout headers_t hdr, inout {meta} meta) {{", f"{INDENT}apply {{",
            *_ind(sums, 2), f"{INDENT}}}", "}", ""]
    out += _deparser(w, "control FabricDeparser(packet_out packet, in headers_t hdr)", "packet")
    out += [pkginfo_annotation(p),  # P4Info pkg_info.name
            f"V1Switch(FabricParser(), FabricVerifyChecksum(), {p.ingress.name}(), {egress}(), "
            "FabricComputeChecksum(), FabricDeparser()) main;"]
    return out


def _pna(w: _Writer) -> list[str]:
    p = w.p
    if p.egress is not None:
        raise ValueError(f"program {p.name}: PNA has no egress control")
    meta = p.metadata.name
    out = [*_header_comment(w), "#include <core.p4>", "#include <pna.p4>", "", *_constants(w),
           *_header_types(w), *_structs(w)]
    out += _parser(w, f"parser FabricParser(packet_in pkt, out headers_t hdr, inout {meta} meta, "
                      "in pna_main_parser_input_metadata_t istd)", "pkt")
    out += _empty_control(f"control FabricPreControl(in headers_t hdr, inout {meta} meta, "
                          "in pna_pre_input_metadata_t istd, inout pna_pre_output_metadata_t ostd)")
    decls, tail = _pna_checksums(w)
    out += _control(w, p.ingress, f"control {p.ingress.name}(inout headers_t hdr, inout {meta} meta, "
                                  "in pna_main_input_metadata_t istd, inout pna_main_output_metadata_t ostd)",
                    decls=decls, tail=tail)
    out += _deparser(w, f"control FabricDeparser(packet_out pkt, in headers_t hdr, in {meta} meta, "
                        "in pna_main_output_metadata_t ostd)", "pkt")
    out += [pkginfo_annotation(p),  # P4Info pkg_info.name
            f"PNA_NIC(FabricParser(), FabricPreControl(), {p.ingress.name}(), FabricDeparser()) main;"]
    return out


def _pna_checksums(w: _Writer) -> tuple[list[str], list[str]]:
    """PNA's deparser reads ``hdr`` as ``in``: checksums are recomputed at the end of the main control
    with ``InternetChecksum`` (a packet that leaves by ``exit`` keeps its own)."""
    decls: list[str] = []
    tail: list[str] = []
    for i, c in enumerate(w.p.checksums):
        ck = f"{c.header}_checksum" if len(w.p.checksums) == 1 else f"{c.header}_checksum_{i}"
        decls.append(f"InternetChecksum() {ck};")
        fields = ", ".join(f"hdr.{c.header}.{f}" for f in c.fields)
        tail += [f"if (hdr.{c.header}.isValid()) {{",
                 *_ind([f"{ck}.clear();", f"{ck}.add({{ {fields} }});", f"hdr.{c.header}.{c.target} = {ck}.get();"]),
                 "}"]
    return decls, tail


def _check_names(p: Program) -> None:
    names = [("header type", t.name) for t in p.header_types()]
    names += [(f"field of {t.name}", f.name) for t in p.header_types() for f in t.fields]
    names += [("header instance", h.name) for h in p.headers]
    names += [(f"field of {p.metadata.name}", f.name) for f in p.metadata.fields]
    names += [("parser state", st.name) for st in p.parser]
    for c in p.controls:
        names += [("control", c.name)]
        names += [("action", a.name) for a in c.actions]
        names += [(f"parameter of {a.name}", x.name) for a in c.actions for x in a.params]
        names += [("table", t.name) for t in c.tables]
        names += [("object", n) for n in (*(x.name for x in c.selectors), *(x.name for x in c.counters),
                                          *(x.name for x in c.direct_counters), *(x.name for x in c.registers))]
    for what, name in names:
        if name in P4_KEYWORDS or not name.isidentifier() or name == "_":
            raise ValueError(f"program {p.name}: {what} {name!r} is not a P4 identifier")


def generate(program: Program) -> str:
    """The P4_16 text of ``program`` (v1model or PNA by ``program.arch``), ending in a newline.

    Raises ``ValueError`` when the IR uses something the architecture lacks or names an undeclared
    object (a program bug, not a user error)."""
    _check_names(program)
    w = _Writer(program)
    lines = _pna(w) if w.pna else _v1model(w)
    return "\n".join(ln.rstrip() for ln in lines).rstrip() + "\n"
