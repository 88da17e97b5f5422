"""P4Info of the IR programs (p4/p4info.py).

Oracles: the published one-at-a-time hash (Bob Jenkins; test vectors of its Wikipedia page) re-implemented
here independently with ctypes 32-bit arithmetic; IDs, aliases and whole messages that p4c wrote into
its own test outputs (p4lang/p4c ``testdata/p4_16_samples_outputs``: ``fabric_20190420/fabric.p4``,
``action_profile_sum_of_members_annotation.p4``, ``flowlet_switching-bmv2.p4``), reproduced from the
names of the source programs; and the IR itself for the structural checks.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from itertools import count

import pytest
from finsy.proto import p4i
from google.protobuf import text_format

from fabric.errors import ConfigError
from p4 import p4info as P
from p4.ir import (
    Action,
    ActionSelector,
    Control,
    DirectCounter,
    HeaderInstance,
    HeaderType,
    Key,
    Member,
    Param,
    ParserState,
    Program,
    Ref,
    StructType,
    Table,
)
from p4.programs import ROLES, ProgramOptions, build_program, with_limits

VARIANTS = {
    "default": ProgramOptions(),
    "hash_qp": ProgramOptions(hash_qp=True),
    "minimal": ProgramOptions(ipv6=False, vxlan=False, acl=False),
}


def oaat(key: bytes) -> int:
    """Bob Jenkins' one-at-a-time hash, written from its published description with C uint32 wrap."""
    h = ctypes.c_uint32(0)
    for c in key:
        h.value += c
        h.value += h.value << 10
        h.value ^= h.value >> 6
    h.value += h.value << 3
    h.value ^= h.value >> 11
    h.value += h.value << 15
    return h.value


# ============================================================================ the hash and the ids
def test_jenkins_published_vectors():
    assert P.jenkins_one_at_a_time("a") == 0xCA2E9442
    assert P.jenkins_one_at_a_time("The quick brown fox jumps over the lazy dog") == 0x519E91F5
    assert P.jenkins_one_at_a_time(b"") == 0


@pytest.mark.parametrize("name", ["", "a", "NoAction", "FabricIngress.wcmp_group_table", "x" * 300, "é.ü"])
def test_jenkins_matches_independent_implementation(name):
    assert P.jenkins_one_at_a_time(name) == oaat(name.encode())


# (prefix, control-plane name, id) as p4c wrote them in its test outputs
P4C_IDS = [
    (P.ACTION, "NoAction", 21257015),
    (P.ACTION, "nop", 28485346),
    (P.ACTION, "IngressI.drop", 23455883),
    (P.ACTION, "FabricIngress.next.routing_hashed", 20985706),
    (P.TABLE, "FabricIngress.acl.acl", 44104738),
    (P.TABLE, "FabricIngress.forwarding.routing_v4", 41754650),
    (P.TABLE, "IngressI.indirect_ws", 38116258),
    (P.ACTION_PROFILE, "FabricIngress.next.hashed_selector", 291115404),
    (P.ACTION_PROFILE, "IngressI.ap_ws", 285903678),
    (P.COUNTER, "FabricIngress.port_counters_control.egress_port_counter", 314528581),
    (P.DIRECT_COUNTER, "FabricIngress.next.hashed_counter", 322798228),
    (P.DIRECT_COUNTER, "FabricIngress.acl.acl_counter", 319194241),
    (P.REGISTER, "ingress.flowlet_id", 384519412),
    (P.CONTROLLER_HEADER, "packet_in_header_t", 81826293),
    (P.CONTROLLER_HEADER, "packet_out_header_t", 76689799),
]


@pytest.mark.parametrize(("prefix", "name", "want"), P4C_IDS)
def test_symbol_id_reproduces_p4c(prefix, name, want):
    assert P.symbol_id(prefix, name) == want
    assert want >> 24 == prefix


def test_symbol_id_hashes_the_name_without_a_leading_dot():
    assert P.symbol_id(P.ACTION, ".NoAction") != 21257015
    with pytest.raises(ValueError, match="prefix"):
        P.symbol_id(0x42, "x")


def _colliding_pair(prefix: int) -> tuple[str, str]:
    seen: dict[int, str] = {}
    for i in count():
        name = f"C.t{i}"
        low = P.symbol_id(prefix, name)
        if low in seen:
            return seen[low], name
        seen[low] = name
    raise AssertionError  # pragma: no cover


def test_collisions_are_probed_in_sorted_name_order():
    a, b = sorted(_colliding_pair(P.TABLE))
    base = P.symbol_id(P.TABLE, a)
    assert P.symbol_id(P.TABLE, b) == base
    for order in ([a, b], [b, a]):     # declaration order does not matter: names are sorted
        ids = P.IdMap({P.TABLE: dict.fromkeys(order)})
        assert ids.table(a) == base and ids.table(b) == base + 1


def test_explicit_id_wins_and_others_probe_around_it():
    taken = P.symbol_id(P.ACTION, "C.a")
    ids = P.IdMap({P.ACTION: {"C.a": None, "C.b": taken & 0xFFFFFF}})   # @id without prefix: prefix added
    assert ids.action("C.b") == taken
    assert ids.action("C.a") == taken + 1
    with pytest.raises(ConfigError, match="wrong 8-bit prefix"):
        P.IdMap({P.ACTION: {"C.a": (P.TABLE << 24) | 5}})
    with pytest.raises(ConfigError, match="multiple declarations"):
        P.IdMap({P.ACTION: {"C.a": 5, "C.b": 5}})


def test_id_annotation_in_the_ir():
    prog = _mini(table_annotations=("@id(0x02000043)",))
    assert P.IdMap.of(prog).table("IngressI.indirect_ws") == 0x02000043
    assert P.build_p4info(prog).tables[0].preamble.annotations == []     # @id is not copied


# ============================================================================ whole messages p4c wrote
def _mini(*, table_annotations: tuple[str, ...] = (), default_args: tuple[int, ...] = ()) -> Program:
    """p4c's action_profile_sum_of_members_annotation.p4, its selector half, as IR."""
    ingress = Control(
        "IngressI",
        actions=(Action("drop"), Action("set_fwd", (Param("fwd_type", 3),))),
        tables=(Table("indirect_ws", (Key(Ref("meta.hash1"), "selector", "hash1"),), ("drop", "NoAction"),
                      "NoAction", const_default=True, implementation="ap_ws", annotations=table_annotations),
                Table("classify", (Key(Ref("standard_metadata.ingress_port"), "exact", "ig_port"),),
                      ("set_fwd",), "set_fwd", default_args or (0,), const_default=True)),
        selectors=(ActionSelector("ap_ws", "identity", 1024, 10, 200, 4000, oneshot=False),))
    return Program("sum_of_members", "test", "v1model", (), StructType("M", (Member("hash1", 32),)),
                   (ParserState("start"),), ingress, Control("EgressI"))


EXPECTED_MINI = """
pkg_info { arch: "v1model" name: "sum_of_members" }
tables {
  preamble { id: 38116258 name: "IngressI.indirect_ws" alias: "indirect_ws" }
  action_refs { id: 23455883 }
  action_refs { id: 21257015 }
  const_default_action_id: 21257015
  initial_default_action { action_id: 21257015 }
  implementation_id: 285903678
  size: 1024
}
tables {
  preamble { id: %(classify)d name: "IngressI.classify" alias: "classify" }
  match_fields { id: 1 name: "ig_port" bitwidth: 9 match_type: EXACT }
  action_refs { id: %(set_fwd)d }
  const_default_action_id: %(set_fwd)d
  initial_default_action { action_id: %(set_fwd)d arguments { param_id: 1 value: "\\000" } }
  size: 1024
}
actions { preamble { id: 21257015 name: "NoAction" alias: "NoAction" annotations: "@noWarn(\\"unused\\")" } }
actions { preamble { id: 23455883 name: "IngressI.drop" alias: "drop" } }
actions {
  preamble { id: %(set_fwd)d name: "IngressI.set_fwd" alias: "set_fwd" }
  params { id: 1 name: "fwd_type" bitwidth: 3 }
}
action_profiles {
  preamble { id: 285903678 name: "IngressI.ap_ws" alias: "ap_ws" }
  table_ids: 38116258
  with_selector: true
  size: 1024
  max_group_size: 200
  sum_of_members { max_member_weight: 4000 }
}
type_info {}
"""


def test_whole_p4info_matches_p4c_output():
    """p4c's output for the selector table (ids, selector fields, NoAction with @noWarn, initial default
    action, empty type_info), plus a table with a const default action with an argument as p4c writes
    fabric.p4's fwd_classifier (``value: "\\000"`` for a bit<3> zero)."""
    want = p4i.P4Info()
    text_format.Parse(EXPECTED_MINI % {"classify": P.symbol_id(P.TABLE, "IngressI.classify"),
                                       "set_fwd": P.symbol_id(P.ACTION, "IngressI.set_fwd")}, want)
    got = P.build_p4info(_mini())
    assert got == want, text_format.MessageToString(got)


def test_default_arguments_are_padded_to_the_parameter_width():
    got = P.build_p4info(_mini(default_args=(5,)))
    assert got.tables[1].initial_default_action.arguments[0].value == b"\x05"
    with pytest.raises(ValueError, match="does not fit"):
        P.build_p4info(_mini(default_args=(8,)))


def test_fabric_hashed_table_reproduced():
    """fabric.p4's FabricIngress.next.hashed: selector keys are no match fields, implementation and
    direct counter ids as p4c wrote them."""
    ctl = Control(
        "FabricIngress.next",
        actions=(Action("output_hashed", (Param("port_num", 9),)),
                 Action("routing_hashed", (Param("port_num", 9), Param("smac", 48), Param("dmac", 48)))),
        tables=(Table("hashed", (Key(Ref("meta.next_id"), "exact", "next_id"),
                                 Key(Ref("hdr.ipv4.dst"), "selector", "ipv4_dst"),
                                 Key(Ref("meta.l4_sport"), "selector", "l4_sport")),
                      ("output_hashed", "routing_hashed"), "output_hashed", (0,),
                      implementation="hashed_selector", direct_counter="hashed_counter"),),
        selectors=(ActionSelector("hashed_selector", "crc16", 1024, 16, 16, 1, oneshot=False),),
        direct_counters=(DirectCounter("hashed_counter", "packets_and_bytes", "hashed"),))
    prog = Program("fabric", "test", "v1model", (HeaderInstance("ipv4", HeaderType.from_dpu("ipv4")),),
                   StructType("M", (Member("next_id", 32), Member("l4_sport", 16))), (ParserState("start"),), ctl)
    info = P.build_p4info(prog)
    (t,) = info.tables
    assert t.preamble.id == 47960972 and t.preamble.alias == "hashed"
    assert [(m.id, m.name, m.bitwidth, m.match_type) for m in t.match_fields] == [(1, "next_id", 32, p4i.MatchField.EXACT)]
    assert [r.id for r in t.action_refs] == [27301117, 20985706]
    assert t.implementation_id == 291115404 and list(t.direct_resource_ids) == [322798228]
    assert info.direct_counters[0].direct_table_id == 47960972
    assert info.direct_counters[0].spec.unit == p4i.CounterSpec.BOTH
    assert [(p.id, p.name, p.bitwidth) for p in info.actions[1].params] == [(1, "port_num", 9), (2, "smac", 48),
                                                                              (3, "dmac", 48)]


def test_controller_headers_reproduce_fabric_p4():
    pin = HeaderType("packet_in_header", (Member("ingress_port", 9), Member("_pad", 7)), controller="packet_in")
    pout = HeaderType("packet_out_header", (Member("egress_port", 9), Member("_pad", 7)), controller="packet_out")
    prog = Program("fabric", "test", "v1model", (HeaderInstance("packet_in", pin), HeaderInstance("packet_out", pout)),
                   StructType("M", ()), (ParserState("start"),), Control("FabricIngress"))
    ids = P.IdMap.of(prog)
    assert ids.controller_header("packet_in") == 81826293 == ids.controller_header("packet_in_header_t")
    info = P.build_p4info(prog)
    cp = {c.preamble.name: c for c in info.controller_packet_metadata}
    assert cp["packet_out"].preamble.id == 76689799
    assert list(cp["packet_in"].preamble.annotations) == ['@controller_header("packet_in")']
    assert cp["packet_in"].preamble.alias == "packet_in"
    assert [(m.id, m.name, m.bitwidth) for m in cp["packet_in"].metadata] == [(1, "ingress_port", 9), (2, "_pad", 7)]


# ============================================================================ our programs, every role
def _program_params():
    for role in ROLES:
        for vname, opts in VARIANTS.items():
            yield pytest.param(role, opts, id=f"{role}-{vname}")


def _ir_objects(prog: Program) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in ("tables", "actions", "action_profiles", "counters",
                                                  "direct_counters", "registers")}
    for c in prog.controls:
        out["tables"] |= {c.fq(t.name) for t in c.tables}
        out["actions"] |= {c.fq(a.name) for a in c.actions}
        out["actions"] |= {a for t in c.tables for a in t.actions if a == "NoAction"}
        out["action_profiles"] |= {c.fq(s.name) for s in c.selectors}
        out["counters"] |= {c.fq(k.name) for k in c.counters}
        out["direct_counters"] |= {c.fq(d.name) for d in c.direct_counters}
        out["registers"] |= {c.fq(r.name) for r in c.registers}
    return out


PROGRAMS = list(_program_params())

PREFIX_OF = {"tables": P.TABLE, "actions": P.ACTION, "action_profiles": P.ACTION_PROFILE, "counters": P.COUNTER,
             "direct_counters": P.DIRECT_COUNTER, "registers": P.REGISTER,
             "controller_packet_metadata": P.CONTROLLER_HEADER}


@pytest.mark.parametrize(("role", "opts"), PROGRAMS)
def test_every_ir_object_once_with_the_right_prefix(role, opts):
    prog = build_program(role, opts)
    info = P.build_p4info(prog)
    for kind, names in _ir_objects(prog).items():
        got = [e.preamble.name for e in getattr(info, kind)]
        assert sorted(got) == sorted(names), kind
        assert len(set(got)) == len(got), kind
        assert len({e.preamble.alias for e in getattr(info, kind)}) == len(got), kind
    all_ids = [e.preamble.id for kind in PREFIX_OF for e in getattr(info, kind)]
    assert len(all_ids) == len(set(all_ids))
    for kind, prefix in PREFIX_OF.items():
        assert all(e.preamble.id >> 24 == prefix for e in getattr(info, kind)), kind
    assert {c.preamble.name for c in info.controller_packet_metadata} == {"packet_in", "packet_out"}
    assert info.pkg_info.arch == prog.arch and info.pkg_info.name == prog.name


@pytest.mark.parametrize(("role", "opts"), PROGRAMS)
def test_references_follow_the_ir(role, opts):
    prog = build_program(role, opts)
    info = P.build_p4info(prog)
    ids = P.IdMap.of(prog)
    by_id = {e.preamble.id: e for kind in PREFIX_OF for e in getattr(info, kind)}
    tables = {t.preamble.name: t for t in info.tables}
    referenced: set[str] = set()
    for c, t in prog.tables():
        m = tables[c.fq(t.name)]
        assert m.preamble.id == ids.table(c.fq(t.name))
        assert [by_id[r.id].preamble.name for r in m.action_refs] == [c.fq(a) for a in t.actions]
        referenced |= {c.fq(a) for a in t.actions}
        assert by_id[m.initial_default_action.action_id].preamble.name == c.fq(t.default_action)
        assert (m.const_default_action_id != 0) == t.const_default
        assert m.size == t.size
        fields = [(f.id, f.name, f.match_type) for f in m.match_fields]
        want = [(i, k.name, getattr(p4i.MatchField, k.match.upper())) for i, k in enumerate(t.keys, 1)
                if k.match != "selector"]
        assert fields == want
        if t.implementation:
            ap = by_id[m.implementation_id]
            assert ap.preamble.name == c.fq(t.implementation) and m.preamble.id in ap.table_ids
            assert ap.with_selector
        else:
            assert m.implementation_id == 0
        if t.direct_counter:
            (dc_id,) = m.direct_resource_ids
            assert by_id[dc_id].preamble.name == c.fq(t.direct_counter)
            assert by_id[dc_id].direct_table_id == m.preamble.id
        else:
            assert list(m.direct_resource_ids) == []
    assert referenced == {a.preamble.name for a in info.actions}   # no action the tables do not use
    for c, a in prog.actions():
        m = by_id[ids.action(c.fq(a.name))]
        assert [(p.id, p.name, p.bitwidth) for p in m.params] == [(i, p.name, p.bits) for i, p in enumerate(a.params, 1)]
        assert all(ids.param(c.fq(a.name), p.name) == i for i, p in enumerate(a.params, 1))


def test_leaf_match_field_widths_and_selector():
    prog = build_program("leaf", with_limits(ProgramOptions(hash_qp=True), max_members=128, max_group_weight=512,
                                             table_size=4096, max_groups=1024))
    info = P.build_p4info(prog)
    widths = {(t.preamble.alias, f.name): f.bitwidth for t in info.tables for f in t.match_fields}
    assert widths[("routing_v4", "ipv4_dst")] == 32
    assert widths[("routing_v6", "ipv6_dst")] == 128
    assert widths[("port_admit", "ingress_port")] == 9
    assert widths[("port_admit", "vlan_id")] == 12
    assert widths[("acl", "ether_type")] == 16 and widths[("acl", "dscp")] == 6
    wcmp = next(t for t in info.tables if t.preamble.alias == "wcmp_group_table")
    assert [f.name for f in wcmp.match_fields] == ["wcmp_group_id"]       # selector keys hash, not match
    assert "@oneshot" in wcmp.preamble.annotations
    (ap,) = info.action_profiles
    assert (ap.size, ap.max_group_size, ap.sum_of_members.max_member_weight) == (4096, 128, 512)
    regs = {r.preamble.alias: r for r in info.registers}
    assert set(regs) == {"ecn_kmin", "ecn_kmax", "ecn_slope"}
    assert all(r.type_spec.bitstring.bit.bitwidth == 32 and r.size == 512 for r in regs.values())
    assert {c.preamble.alias: c.spec.unit for c in info.counters} == {"port_rx": p4i.CounterSpec.BOTH,
                                                                       "port_tx": p4i.CounterSpec.BOTH}


def test_nic_is_pna_with_the_same_port_width():
    """p4.gen casts PNA's ``istd.input_port`` to the IR's bit<9>: the key is 9 bits, no ``PortId_t``."""
    info = P.build_p4info(build_program("nic"))
    assert info.pkg_info.arch == "pna"
    admit = next(t for t in info.tables if t.preamble.alias == "port_admit")
    assert (admit.match_fields[0].bitwidth, admit.match_fields[0].type_name.name) == (9, "")
    assert len(info.type_info.new_types) == 0


def test_ids_stable_across_programs():
    maps = [P.IdMap.of(build_program(r, o)) for r in ROLES for o in VARIANTS.values()]
    by_name: dict[str, set[int]] = {}
    for m in maps:
        for i, n in m.names().items():
            by_name.setdefault(n, set()).add(i)
    assert all(len(v) == 1 for v in by_name.values()), {n: v for n, v in by_name.items() if len(v) > 1}
    assert by_name["NoAction"] == {21257015}
    for n, (i,) in by_name.items():      # no collisions in our programs: every id is the plain hash
        assert i & 0xFFFFFF == P.jenkins_one_at_a_time(n) & 0xFFFFFF


def test_ids_stable_across_runs():
    code = ("from p4.programs import build_program; from p4.p4info import IdMap;"
            "print(sorted(IdMap.of(build_program('spine')).names().items()))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert outs.pop().strip() == str(sorted(P.IdMap.of(build_program("spine")).names().items()))


def test_idmap_lookups_and_errors():
    ids = P.IdMap.of(build_program("leaf"))
    assert ids.match_field("FabricIngress.wcmp_group_table", "wcmp_group_id") == 1
    with pytest.raises(KeyError):
        ids.match_field("FabricIngress.wcmp_group_table", "nope")
    with pytest.raises(KeyError, match="no table"):
        ids.table("FabricIngress.nope")
    assert ids.counter("FabricEgress.port_tx") >> 24 == P.COUNTER
    assert ids.direct_counter("FabricIngress.acl_counter") >> 24 == P.DIRECT_COUNTER
    assert ids.register("FabricEgress.ecn_kmin") >> 24 == P.REGISTER
    assert ids.selector("FabricIngress.wcmp_group_selector") >> 24 == P.ACTION_PROFILE
    assert ids.names()[ids.table("FabricIngress.acl")] == "FabricIngress.acl"
    assert len(ids) == len(ids.names()) == len(list(ids))


@pytest.mark.parametrize("role", ROLES)
def test_text_and_binary_round_trip(role, tmp_path):
    prog = build_program(role)
    txt, binary = P.write_p4info(prog, tmp_path / "programs" / role)
    assert txt.name == f"{role}.p4info.txtpb" and binary.name == f"{role}.p4info.bin"
    want = P.build_p4info(prog)
    assert P.read_p4info(txt) == want == P.read_p4info(binary)
    assert txt.read_text().startswith("# proto-file: p4/config/v1/p4info.proto\n")
    assert not [p for p in txt.parent.iterdir() if p.name.startswith(".")]    # no temporary left


# ============================================================================ helpers and errors
def test_field_resolver():
    prog = build_program("leaf")
    assert P.field_bits(prog, "hdr.ipv4.ttl") == 8
    assert P.field_bits(prog, "hdr.inner_ipv6.src") == 128
    assert P.field_bits(prog, "meta.dest_qp") == 24
    assert P.field_bits(prog, "standard_metadata.egress_spec") == 9
    assert P.field_bits(prog, "standard_metadata.enq_qdepth") == 19
    for bad in ("hdr.ipv4.nope", "hdr.nope.ttl", "meta.nope", "standard_metadata.nope", "x.y"):
        with pytest.raises(ValueError, match="nope|resolve"):
            P.field_bits(prog, bad)


def test_action_scope_from_annotations():
    ctl = Control("C", actions=(Action("a", annotations=("@defaultonly",)), Action("b", annotations=("tableonly",)),
                                Action("c", annotations=("@tableonly", "@defaultonly"))),
                  tables=(Table("t", (Key(Ref("meta.x"), "exact", "x"),), ("a", "b"), "a"),))
    prog = Program("p", "test", "v1model", (), StructType("M", (Member("x", 8),)), (ParserState("start"),), ctl)
    (t,) = P.build_p4info(prog).tables
    assert [(r.scope, list(r.annotations)) for r in t.action_refs] == [
        (p4i.ActionRef.DEFAULT_ONLY, ["@defaultonly"]), (p4i.ActionRef.TABLE_ONLY, ["@tableonly"])]
    with pytest.raises(ConfigError, match="both"):
        P.action_scope(ctl.action("c"))


def test_bad_references_are_config_errors():
    ctl = Control("C", tables=(Table("t", (Key(Ref("meta.x"), "exact", "x"),), ("NoAction",), "NoAction",
                                     implementation="missing"),))
    prog = Program("p", "test", "v1model", (), StructType("M", (Member("x", 8),)), (ParserState("start"),), ctl)
    with pytest.raises(ConfigError, match="missing"):
        P.build_p4info(prog)


def test_annotation_helpers_for_gen():
    prog = build_program("leaf")
    sel = prog.ingress.selectors[0]
    assert P.selector_annotations(sel) == (f"@max_group_size({sel.max_group_size})",
                                           '@selector_size_semantics("sum_of_members")',
                                           f"@max_member_weight({sel.max_member_weight})")
    assert P.pkginfo_annotation(prog) == '@pkginfo(name="fabric_leaf")'
    assert P.p4_type_name(prog.headers[0].type) == "packet_in_t"


@pytest.mark.parametrize(("role", "opts"), PROGRAMS)
def test_p4info_names_what_the_program_text_declares(role, opts):
    """Structural check until p4test is available: what the P4Info names is declared in p4.gen's text,
    with the annotations p4c reads the P4Info fields from, and vice versa."""
    import re

    gen = pytest.importorskip("p4.gen")
    prog = build_program(role, opts)
    text = gen.generate(prog)
    info = P.build_p4info(prog)
    local = lambda e: e.preamble.name.rsplit(".", 1)[-1]  # noqa: E731
    assert set(re.findall(r"^\s*(?:@\S+\s+)*table (\w+) \{", text, re.M)) == {local(t) for t in info.tables}
    assert set(re.findall(r"^\s*action (\w+)\(", text, re.M)) == {local(a) for a in info.actions} - {"NoAction"}
    for t in info.tables:
        for f in t.match_fields:
            assert f'@name("{f.name}")' in text
    for kind in ("action_profiles", "counters", "direct_counters", "registers"):
        for e in getattr(info, kind):
            assert re.search(rf"\) {local(e)};", text), (kind, local(e))
    for s in prog.ingress.selectors:
        assert all(a in text for a in P.selector_annotations(s))
    for c in info.controller_packet_metadata:
        assert f'@controller_header("{c.preamble.name}")' in text
    for h in prog.controller_headers():
        assert f"header {P.p4_type_name(h)} {{" in text
    assert P.pkginfo_annotation(prog) in text
