"""p4.gen: the P4_16 text of every role's program, with and without the optional parts.

The structural checks read the text with their own regular expressions (not the generator's code) and
compare the declarations with the IR; the compiler test runs p4c's ``p4test`` where one is installed
(``P4TEST`` in the environment, else ``p4test`` on PATH) and compares its P4Info with the IR's names.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections import Counter as Multiset

import pytest

from p4.gen import generate
from p4.ir import Action, Call, Const, Control, Do, Key, Program, Ref, Table
from p4.programs import NIC_ROLE, ROLES, ProgramOptions, build_program

OPTION_SETS = [ProgramOptions(hash_qp=q, ipv6=v6, vxlan=vx, acl=acl)
               for q, v6, vx, acl in itertools.product((False, True), repeat=4)]
CASES = [(role, opts) for role in ROLES for opts in OPTION_SETS]


def _id(case: tuple[str, ProgramOptions]) -> str:
    role, o = case
    return f"{role}-qp{int(o.hash_qp)}-v6{int(o.ipv6)}-vx{int(o.vxlan)}-acl{int(o.acl)}"


@pytest.fixture(params=CASES, ids=[_id(c) for c in CASES])
def prog_text(request) -> tuple[Program, str]:
    role, opts = request.param
    prog = build_program(role, opts)
    return prog, generate(prog)


# ============================================================================ independent text reader
def _code(text: str) -> str:
    """The text without comments and string literals (so braces in them do not count)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"[^"\n]*"', '""', text)


DECL = {
    "header": re.compile(r"^\s*header\s+(\w+)_t\s*\{"),
    "state": re.compile(r"^\s*state\s+(\w+)\s*\{"),
    "action": re.compile(r"^\s*action\s+(\w+)\s*\("),
    "table": re.compile(r"^\s*table\s+(\w+)\s*\{"),
    "selector": re.compile(r"^\s*(?:action_selector|ActionSelector)\s*\(.*\)\s+(\w+)\s*;"),
    "counter": re.compile(r"^\s*(?:counter|Counter\s*<[^;]*>)\s*\(.*\)\s+(\w+)\s*;"),
    "direct_counter": re.compile(r"^\s*(?:direct_counter|DirectCounter\s*<[^;]*>)\s*\(.*\)\s+(\w+)\s*;"),
    "register": re.compile(r"^\s*(?:register|Register)\s*<[^;]*>\s*\(.*\)\s+(\w+)\s*;"),
}
CONTROL = re.compile(r"^control\s+(\w+)\s*\(")


def declarations(text: str) -> dict[str, list[str]]:
    """Every declaration of each kind; objects inside a control are named ``<Control>.<name>``."""
    found: dict[str, list[str]] = {k: [] for k in DECL}
    control, depth = None, 0
    for line in _code(text).splitlines():
        if depth == 0:
            m = CONTROL.match(line)
            control = m.group(1) if m else None
        for kind, rx in DECL.items():
            m = rx.match(line)
            if m:
                name = m.group(1)
                found[kind].append(f"{control}.{name}" if control and kind not in ("header", "state") else name)
        depth += line.count("{") - line.count("}")
    return found


def ir_declarations(prog: Program) -> dict[str, list[str]]:
    return {
        "header": [t.name for t in prog.header_types()],
        "state": [s.name for s in prog.parser],
        "action": [c.fq(a.name) for c, a in prog.actions()],
        "table": [c.fq(t.name) for c, t in prog.tables()],
        "selector": [c.fq(s.name) for c, s in prog.selectors()],
        "counter": [c.fq(x.name) for c in prog.controls for x in c.counters],
        "direct_counter": [c.fq(x.name) for c in prog.controls for x in c.direct_counters],
        "register": [c.fq(x.name) for c in prog.controls for x in c.registers],
    }


def table_bodies(text: str) -> dict[str, str]:
    """``table name { ... }`` bodies by table name (tables have no nested blocks but ``key``/``actions``)."""
    out = {}
    for m in re.finditer(r"\btable\s+(\w+)\s*\{", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out[m.group(1)] = text[m.end():i - 1]
    return out


# ============================================================================ (1) declarations vs IR
def test_every_ir_object_declared_once_and_no_others(prog_text):
    prog, text = prog_text
    got, want = declarations(text), ir_declarations(prog)
    for kind in DECL:
        dup = [n for n, k in Multiset(got[kind]).items() if k > 1]
        assert not dup, f"{kind} declared more than once: {dup}"
        assert sorted(got[kind]) == sorted(want[kind]), f"{kind}: text {got[kind]} != IR {want[kind]}"


def test_tables_keys_actions_and_properties(prog_text):
    prog, text = prog_text
    bodies = table_bodies(_code(text.replace('@name("', "@name(<").replace('")', ">)")))
    for _ctl, t in prog.tables():
        body = bodies[t.name]
        names = re.findall(r"@name\(<(\w+)>\)", body)
        kinds = re.findall(r":\s*(\w+)\s+@name", body)
        assert names == [k.name for k in t.keys], t.name
        assert kinds == [k.match for k in t.keys], t.name
        acts = re.search(r"actions\s*=\s*\{([^}]*)\}", body)
        assert acts and [a.strip() for a in acts.group(1).split(";") if a.strip()] == list(t.actions)
        assert re.search(rf"default_action\s*=\s*{t.default_action}\(", body)
        assert re.search(rf"size\s*=\s*{t.size};", body)
        impl = re.search(r"(?:pna_)?implementation\s*=\s*(\w+);", body)
        assert (impl.group(1) if impl else None) == t.implementation
        dc = re.search(r"(?:counters|pna_direct_counter)\s*=\s*(\w+);", body)
        assert (dc.group(1) if dc else None) == t.direct_counter


def test_selector_annotations_and_oneshot(prog_text):
    prog, text = prog_text
    for _c, s in prog.selectors():
        m = re.search(rf"((?:^[ ]*@.*\n)+)[ ]*(?:action_selector|ActionSelector)\((\S+), 32w(\d+), "
                      rf"32w(\d+)\) {s.name};", text, re.M)
        assert m, s.name
        anns = [a.strip() for a in m.group(1).splitlines()]
        assert f"@max_group_size({s.max_group_size})" in anns
        assert int(m.group(3)) == s.size and int(m.group(4)) == s.output_width
        algo = "PNA_HashAlgorithm_t.TARGET_DEFAULT" if prog.arch == "pna" else f"HashAlgorithm.{s.algorithm}"
        assert m.group(2) == algo
    for _c, t in prog.tables():
        has = re.search(rf"@oneshot\s*\n\s*table {t.name} \{{", text) is not None
        assert has == (t.implementation is not None), t.name


def test_references_are_declared(prog_text):
    """Tables applied, actions listed, headers extracted/emitted, states transitioned to all exist."""
    prog, text = prog_text
    code = _code(text)
    decl = declarations(text)
    tables = {n.split(".")[-1] for n in decl["table"]}
    assert set(re.findall(r"(\w+)\.apply\(\)", code)) == tables
    actions = {n.split(".")[-1] for n in decl["action"]} | {"NoAction"}
    for body in table_bodies(code).values():
        acts = re.search(r"actions\s*=\s*\{([^}]*)\}", body)
        assert acts
        assert {a.strip() for a in acts.group(1).split(";") if a.strip()} <= actions
    instances = set(re.findall(r"^\s*\w+_t\s+(\w+);", code.split("struct headers_t {")[1].split("}")[0], re.M))
    assert instances == {h.name for h in prog.headers}
    used = set(re.findall(r"\.(?:extract|emit)\(hdr\.(\w+)\)", code))
    assert used <= instances
    assert re.findall(r"\.emit\(hdr\.(\w+)\)", code) == list(prog.deparse)
    states = set(decl["state"]) | {"accept", "reject"}
    parser_part = code.split("parser FabricParser")[1].split("\ncontrol ")[0]
    ptargets = set(re.findall(r"transition\s+(\w+);", parser_part)) | set(
        re.findall(r":\s*(\w+);\s*$", parser_part, re.M))
    assert ptargets <= states


def test_checker_sees_a_duplicate_and_a_missing_declaration():
    """The text reader above is an oracle that can fail: an extra or a lost table shows."""
    prog = build_program("leaf")
    text = generate(prog)
    start = text.index("    table dscp_to_tc {")
    block = text[start:text.index("    }\n", start) + 6]
    twice = declarations(text.replace(block, block + "\n" + block))["table"]
    assert twice.count("FabricIngress.dscp_to_tc") == 2
    gone = declarations(text.replace(block, ""))["table"]
    assert sorted(gone) != sorted(ir_declarations(prog)["table"])


def test_scope_annotations_on_action_references():
    """p4c reads @defaultonly/@tableonly from the table's actions list, not from the declaration."""
    t = Table("t", (Key(Ref("meta.dscp"), "exact", "dscp"),), ("a", "b"), "b")
    ctl = Control("FabricIngress", actions=(Action("a", annotations=("tableonly",)),
                                            Action("b", annotations=("@defaultonly",))), tables=(t,))
    text = generate(_tiny(ctl))
    assert re.search(r"actions = \{\s*@tableonly a;\s*@defaultonly b;\s*\}", text)
    assert re.search(r"^    action a\(\) \{", text, re.M) and "@tableonly\n    action" not in text


def test_keyword_names_refused():
    ctl = Control("FabricIngress", actions=(Action("default"),))
    with pytest.raises(ValueError, match="action 'default' is not a P4 identifier"):
        generate(_tiny(ctl))


# ============================================================================ (2) well-formed text
def test_balanced_and_statements_terminated(prog_text):
    _prog, text = prog_text
    code = _code(text)
    for o, c in ("{}", "()", "<>"):
        if o == "<":
            continue  # comparison operators make <> counts meaningless
        depth = 0
        for ch in code:
            depth += (ch == o) - (ch == c)
            assert depth >= 0, f"unbalanced {o}{c}"
        assert depth == 0, f"unbalanced {o}{c}"
    paren = 0
    for n, line in enumerate(code.splitlines(), 1):
        s = line.strip()
        paren += s.count("(") - s.count(")")
        if not s or s.startswith("@") or s.startswith("#include"):
            continue
        ok = s.endswith(("{", "}", ";")) or (s.endswith(",") and paren > 0)
        assert ok, f"line {n} does not end a statement: {line!r}"
    assert not re.search(r"[ \t]+$", text, re.M), "trailing whitespace"
    assert "\t" not in text and text.endswith(";\n")
    assert all((len(ln) - len(ln.lstrip(" "))) % 4 == 0 for ln in text.splitlines() if not ln.startswith(" *"))


def test_architecture_shape(prog_text):
    prog, text = prog_text
    assert f"role {prog.role}, architecture {prog.arch}" in text
    assert "DCQCN" in text and "PFC" in text
    if prog.arch == "v1model":
        assert "#include <v1model.p4>" in text and "#include <pna.p4>" not in text
        assert re.search(r"^V1Switch\(FabricParser\(\), FabricVerifyChecksum\(\), FabricIngress\(\), FabricEgress\(\), "
                         r"FabricComputeChecksum\(\), FabricDeparser\(\)\) main;$", text, re.M)
        for name, bits, value in prog.constants:
            assert f"const bit<{bits}> {name} = {value};" in text
        assert text.count("update_checksum(") == len(prog.checksums)
        assert "HashAlgorithm.csum16" in text
        assert '@controller_header("packet_in")\nheader packet_in_t {' in text
        assert '@controller_header("packet_out")\nheader packet_out_t {' in text
        assert "random(meta.ecn_draw, 32w0, 32w65535);" in text
        assert "register<bit<32>>(512) ecn_kmin;" in text
        assert "ecn_kmin.read(meta.ecn_kmin, (bit<32>) standard_metadata.egress_port);" in text
    else:
        assert "#include <pna.p4>" in text and "v1model" not in text.split("*/")[1]
        assert re.search(r"^PNA_NIC\(FabricParser\(\), FabricPreControl\(\), FabricIngress\(\), "
                         r"FabricDeparser\(\)\) main;$", text, re.M)
        code = _code(text)
        assert "standard_metadata" not in code and "mark_to_drop" not in code
        assert "CounterType." not in code.replace("PNA_CounterType_t.", "")
        assert "send_to_port((PortId_t) (PortIdUint_t) port);" in code
        assert "drop_packet();" in code
        assert "pna_implementation = wcmp_group_selector;" in code


# ============================================================================ (3) deterministic
def test_deterministic():
    for role in ROLES:
        for opts in (OPTION_SETS[0], OPTION_SETS[-1]):
            a = generate(build_program(role, opts))
            b = generate(build_program(role, opts))
            assert a == b and a.encode() == b.encode()


def test_options_change_the_text():
    full = generate(build_program("leaf", ProgramOptions(hash_qp=True)))
    bare = generate(build_program("leaf", ProgramOptions(ipv6=False, vxlan=False, acl=False)))
    assert "meta.dest_qp : selector" in full and "dest_qp : selector" not in bare
    assert "header ipv6_t" in full and "header ipv6_t" not in bare
    assert "table acl" in full and "table acl" not in bare


# ============================================================================ rendering details and errors
def _tiny(ctl: Control, arch: str = "v1model") -> Program:
    base = build_program("leaf" if arch == "v1model" else NIC_ROLE)
    return Program(name="t", role=base.role, arch=arch, headers=base.headers, metadata=base.metadata,
                   parser=base.parser, ingress=ctl, egress=None, deparse=base.deparse)


def test_sized_constants_and_calls():
    ctl = Control("FabricIngress", actions=(Action("a", body=(Do(Call("f", (Const(255, 8), Const(7)), (16,))),)),))
    text = generate(_tiny(ctl))
    assert "f<bit<16>>(8w255, 7);" in text


def test_undeclared_action_refused():
    t = Table("t", (Key(Ref("meta.dscp"), "exact", "dscp"),), ("nope",), "nope")
    with pytest.raises(ValueError, match="action 'nope' is not declared"):
        generate(_tiny(Control("FabricIngress", tables=(t,))))


def test_pna_refuses_what_it_lacks():
    ctl = Control("FabricIngress", actions=(Action("a", body=(Do(Call("random", (Ref("meta.ecn_draw"),))),)),))
    with pytest.raises(ValueError, match="random"):
        generate(_tiny(ctl, "pna"))
    ctl = Control("FabricIngress", actions=(Action("a", body=(Do(Call("f", (Ref("standard_metadata.enq_qdepth"),))),)),))
    with pytest.raises(ValueError, match="enq_qdepth"):
        generate(_tiny(ctl, "pna"))


# ============================================================================ (4) the reference compiler
def _p4test() -> str | None:
    return os.environ.get("P4TEST") or shutil.which("p4test")


P4TEST = _p4test()


@pytest.mark.skipif(P4TEST is None, reason="p4test (p4lang/p4c) not found: set P4TEST or put p4test on PATH")
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_p4test_compiles_and_p4info_names_match(case, tmp_path):
    from finsy.proto import p4i
    from google.protobuf import text_format

    from p4.p4info import build_p4info

    role, opts = case
    prog = build_program(role, opts)
    src = tmp_path / f"{role}.p4"
    src.write_text(generate(prog))
    cmd = [str(P4TEST), "--std", "p4-16", str(src)]
    info = tmp_path / "out.p4info.txtpb"
    if prog.arch == "v1model":
        cmd += ["--p4runtime-files", str(info)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    warnings = [ln for ln in run.stderr.splitlines() if "warning" in ln.lower()]
    assert not warnings, "\n".join(warnings)
    if prog.arch != "v1model":
        return
    p4info = text_format.Parse(info.read_text(), p4i.P4Info())
    assert sorted(t.preamble.name for t in p4info.tables) == sorted(c.fq(t.name) for c, t in prog.tables())
    used = {c.fq(a) for c, t in prog.tables() for a in t.actions}
    assert {a.preamble.name for a in p4info.actions} == used
    assert sorted(p.preamble.name for p in p4info.action_profiles) == sorted(c.fq(s.name) for c, s in prog.selectors())
    for t in p4info.tables:
        _c, it = prog.find_table(t.preamble.name)
        assert [m.name for m in t.match_fields] == [k.name for k in it.keys if k.match != "selector"]
    # and the ids p4c derived are the ones p4.p4info derives from the same names
    ours = build_p4info(prog)
    for kind in ("tables", "actions", "action_profiles", "counters", "direct_counters", "registers",
                 "controller_packet_metadata"):
        def ids(info, kind=kind):
            return {x.preamble.name: x.preamble.id for x in getattr(info, kind)}
        assert ids(p4info) == ids(ours), kind
