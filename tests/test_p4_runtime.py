"""p4.runtime and p4.diff: Plan -> P4Runtime WriteRequests, and the updates between two plans.

The oracles are independent of the code under test: the plan itself (its groups, read directly), the
fabric's links and :class:`fabric.wcmp.paths.Network`, and a small in-memory P4Runtime table store
that applies protobuf updates (keyed by table id and match bytes, register id and index), refuses an
insert of an existing entry or a delete of a missing one, and checks after every update that no route
or group names a group or next hop the switch does not have.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from finsy.proto import p4r

from fabric.errors import ConfigError
from fabric.io import load_fabric
from fabric.plan import Plan
from fabric.traffic import endpoint_ip
from fabric.wcmp.paths import Network
from fabric.wcmp.planner import fail_fabric
from p4.diff import changed_switches, diff_updates
from p4.entries import AclEntry, Route, SwitchEntries
from p4.p4info import IdMap
from p4.programs import CPU_PORT, ProgramOptions, build_program
from p4.runtime import (
    FabricView,
    canonical,
    port_mac,
    port_numbers,
    read_entries,
    switch_entries,
    to_write_requests,
)

FAILED = "beijing-su1-rail0--beijing-spine1"


# ---------------------------------------------------------------------- fixtures: plans made by the CLI
@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """Plans of the example fabric: ``a`` (wcmp + cc), ``b`` (the same after --fail), ``bare`` (cc only),
    and the output of ``p4 gen`` for ``a``."""
    from typer.testing import CliRunner

    from fabric.cli.main import app

    d = tmp_path_factory.mktemp("p4rt")
    run = CliRunner().invoke

    def ok(args):
        r = run(app, [str(x) for x in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r

    ok(["plan", "wcmp", "example", "--plan", d / "a.json", "--out-dir", d, "--no-png", "--json"])
    ok(["plan", "wcmp", "example", "--fail", FAILED, "--plan", d / "b.json", "--out-dir", d, "--no-png", "--json"])
    for p in ("a.json", "b.json", "bare.json"):
        ok(["plan", "cc", "example", "--plan", d / p])
    gen = ok(["p4", "gen", "example", "--plan", d / "a.json", "--out-dir", d / "out", "--json"])
    return {"dir": d, "a": Plan.load(d / "a.json"), "b": Plan.load(d / "b.json"), "fabric": load_fabric("example"),
            "gen": json.loads(gen.stdout)}


def _program(fab, switch, plan=None):
    from p4.runtime import program_options

    return build_program(fab.role(switch), program_options(plan) if plan is not None else ProgramOptions())


def _switches(fab):
    return fab.nodes(("leaf", "spine", "dci"))


# ---------------------------------------------------------------------- an in-memory P4Runtime switch
class Switch:
    """Tables keyed by (table id, match bytes, priority); registers by (id, index). Applies updates
    with P4Runtime's errors and checks references after each one."""

    def __init__(self, program):
        names = IdMap.of(program).names()
        ids = {v: k for k, v in names.items()}
        self.t_route = {ids["FabricIngress.routing_v4"], ids["FabricIngress.routing_v6"]}
        self.t_group, self.t_nh = ids["FabricIngress.wcmp_group_table"], ids["FabricIngress.nexthop_table"]
        self.t_acl = ids["FabricIngress.acl"]
        self.a_nh, self.a_grp = ids["FabricIngress.set_nexthop_id"], ids["FabricIngress.set_wcmp_group_id"]
        self.a_acl_nh = ids["FabricIngress.acl_set_nexthop_id"]
        self.tables: dict = {}
        self.registers: dict = {}

    @staticmethod
    def _key(te):
        return te.table_id, tuple(sorted((m.field_id, m.SerializeToString(deterministic=True)) for m in te.match)), \
            te.priority

    def apply(self, u):
        ent = u.entity
        if ent.WhichOneof("entity") == "register_entry":
            assert u.type == p4r.Update.MODIFY, "registers are only ever modified"
            r = ent.register_entry
            k = (r.register_id, r.index.index)
            v = int.from_bytes(r.data.bitstring, "big")
            if v:
                self.registers[k] = v
            else:
                self.registers.pop(k, None)
            return
        te = ent.table_entry
        k = self._key(te)
        if u.type == p4r.Update.INSERT:
            assert k not in self.tables, f"INSERT of an existing entry {k}"
            self.tables[k] = te.action.SerializeToString(deterministic=True)
        elif u.type == p4r.Update.MODIFY:
            assert k in self.tables, f"MODIFY of a missing entry {k}"
            self.tables[k] = te.action.SerializeToString(deterministic=True)
        else:
            assert u.type == p4r.Update.DELETE
            assert k in self.tables, f"DELETE of a missing entry {k}"
            del self.tables[k]
        self.check_references()

    def _ids(self, table):
        return {int.from_bytes(_exact(m), "big") for (t, m, _p) in self.tables if t == table}

    def check_references(self):
        nhs, groups = self._ids(self.t_nh), self._ids(self.t_group)
        for (t, _m, _p), raw in self.tables.items():
            ta = p4r.TableAction.FromString(raw)
            if t == self.t_group:
                for m in ta.action_profile_action_set.action_profile_actions:
                    assert _param(m.action) in nhs, "a group names a missing next hop"
            elif t in self.t_route or t == self.t_acl:
                a = ta.action
                if a.action_id in (self.a_nh, self.a_acl_nh):
                    assert _param(a) in nhs, "a route names a missing next hop"
                elif a.action_id == self.a_grp:
                    assert _param(a) in groups, "a route names a missing group"

    def state(self):
        return dict(self.tables), dict(self.registers)


def _exact(match):
    fm = p4r.FieldMatch.FromString(match[0][1])
    return fm.exact.value


def _param(action):
    return int.from_bytes(action.params[0].value, "big")


def _install(program, entries):
    sw = Switch(program)
    for wr in to_write_requests(program, entries):
        for u in wr.updates:
            sw.apply(u)
    return sw


# ---------------------------------------------------------------------- entries files
def test_gen_writes_programs_and_entries_that_parse_as_write_requests(plans):
    out = plans["dir"] / "out"
    doc = plans["gen"]
    assert {p["role"] for p in doc["programs"]} == {"leaf", "spine", "dci"}
    for p in doc["programs"]:
        assert Path(p["p4"]).read_text().strip() and Path(p["p4info"]).exists()
        assert Path(p["p4info"]).with_suffix(".bin").exists()
        assert p["tables"] > 0 and p["actions"] > 0 and p["selectors"] == 1
    fab = plans["fabric"]
    assert sorted(s["name"] for s in doc["switches"]) == sorted(_switches(fab))
    assert set(doc) == {"programs", "switches", "seconds"}
    for s in doc["switches"]:
        assert set(s) >= {"name", "role", "updates", "wcmp_groups", "routes"}
        reqs = read_entries(out / "entries" / f"{s['name']}.json")
        assert all(isinstance(r, p4r.WriteRequest) for r in reqs)
        assert sum(len(r.updates) for r in reqs) == s["updates"]
        assert all(r.device_id == 1 and (r.election_id.high, r.election_id.low) == (0, 1) for r in reqs)
        # levels in order: next hops & base, then groups, then routes
        prog = _program(fab, s["name"], plans["a"])
        names = IdMap.of(prog).names()
        tables = [{names[u.entity.table_entry.table_id] for u in r.updates if u.entity.HasField("table_entry")}
                  for r in reqs]
        assert "FabricIngress.nexthop_table" in tables[0] and "FabricIngress.routing_v4" in tables[-1]
        assert all("routing" not in t for lv in tables[:-1] for t in lv)
        assert all(u.type == p4r.Update.INSERT for r in reqs for u in r.updates
                   if u.entity.HasField("table_entry"))


def _all_bytes(msg):
    for fd, value in msg.ListFields():
        vals = value if fd.is_repeated else [value]
        for v in vals:
            if fd.type == fd.TYPE_MESSAGE:
                yield from _all_bytes(v)
            elif fd.type == fd.TYPE_BYTES:
                yield fd.name, v


def test_values_are_canonical_bytestrings_and_lpm_values_masked(plans):
    fab, plan = plans["fabric"], plans["a"]
    seen = 0
    for s in _switches(fab):
        prog = _program(fab, s, plan)
        for r in to_write_requests(prog, switch_entries(fab, plan, s, program=prog)):
            for name, b in _all_bytes(r):
                assert len(b) >= 1 and (len(b) == 1 or b[0] != 0), (s, name, b)
                seen += 1
    assert seen > 1000
    # a /24 route on a hand-made switch: the value is masked, the prefix length kept
    prog = build_program("leaf")
    e = SwitchEntries("l", "leaf", {}, (), {}, (Route("10.1.2.3/24", nexthop_id=1), Route("0.0.0.0/0", nexthop_id=1)),
                      (), ())
    ups = [u for r in to_write_requests(prog, e) for u in r.updates]
    lpm = [u.entity.table_entry.match for u in ups]
    assert lpm[0][0].lpm.value == bytes([10, 1, 2, 0]) and lpm[0][0].lpm.prefix_len == 24
    assert len(lpm[1]) == 0  # a default route matches on nothing (P4Runtime: /0 is omitted)


# ---------------------------------------------------------------------- the plan's groups on the switches
def _forwarding(sw, program):
    """From the installed state: endpoint address -> {egress port: weight} (one member: weight None)."""
    names = IdMap.of(program).names()
    nh_port, groups, routes = {}, {}, {}
    for (t, m, _p), raw in sw.tables.items():
        ta = p4r.TableAction.FromString(raw)
        if names[t] == "FabricIngress.nexthop_table":
            nh_port[int.from_bytes(_exact(m), "big")] = int.from_bytes(ta.action.params[0].value, "big")
        elif names[t] == "FabricIngress.wcmp_group_table":
            groups[int.from_bytes(_exact(m), "big")] = {_param(x.action): x.weight
                                                        for x in ta.action_profile_action_set.action_profile_actions}
        elif names[t] == "FabricIngress.routing_v4":
            fm = p4r.FieldMatch.FromString(m[0][1])
            assert fm.lpm.prefix_len == 32
            routes[int.from_bytes(fm.lpm.value, "big")] = (names[ta.action.action_id], _param(ta.action))
    out = {}
    for ip, (action, arg) in routes.items():
        if action.endswith("set_wcmp_group_id"):
            out[ip] = {nh_port[nh]: w for nh, w in groups[arg].items()}
        else:
            out[ip] = {nh_port[arg]: None}
    return out, groups


@pytest.mark.parametrize("which", ["a", "b"])
def test_every_wcmp_group_of_the_plan_is_on_its_switch_with_its_weights(plans, which):
    fab, plan = plans["fabric"], plans[which]
    on, _ = fail_fabric(fab, plan.wcmp.failed_links)
    net = Network(on)
    behind: dict[str, list[str]] = {}
    for e in on.endpoints():
        behind.setdefault(net.dst_key(e), []).append(e)
    checked = 0
    for s, by_dst in plan.wcmp.by_switch().items():
        prog = _program(fab, s, plan)
        sw = _install(prog, switch_entries(fab, plan, s, program=prog))
        fwd, groups = _forwarding(sw, prog)
        multi = set()
        for dst, g in by_dst.items():
            want = {int(h.port.removeprefix("eth")): h.weight for h in g.next_hops}
            multi |= {tuple(sorted(want.items()))} if len(want) > 1 else set()
            for e in behind[dst]:
                got = fwd[endpoint_ip(e)]
                if len(want) == 1:
                    assert set(got) == set(want), (s, dst, e)
                else:
                    assert got == want, (s, dst, e)
                checked += 1
        assert len(groups) == len(multi), f"{s}: one group per distinct (members, weights)"
    assert checked > 100


def test_attached_endpoints_route_to_their_port_with_derived_macs(plans):
    fab, plan = plans["fabric"], plans["a"]
    leaf = "beijing-su1-rail0"
    prog = _program(fab, leaf, plan)
    e = switch_entries(fab, plan, leaf, program=prog)
    routes = {r.prefix: r for r in e.routes}
    nhs = {n.id: n for n in e.nexthops}
    gpus = [lk for lk in fab.links() if leaf in (lk.a, lk.b) and fab.role(lk.b if lk.a == leaf else lk.a) == "gpu"]
    assert gpus
    for lk in gpus:
        gpu, gport, lport = (lk.b, lk.port_b, lk.port_a) if lk.a == leaf else (lk.a, lk.port_a, lk.port_b)
        ip = endpoint_ip(gpu)
        r = routes[f"{ip >> 24}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}/32"]
        nh = nhs[r.nexthop_id]
        assert nh.port == int(lport.removeprefix("eth")) and nh.neighbor == gpu
        assert nh.src_mac == port_mac(leaf, lport) and nh.dst_mac == port_mac(gpu, gport)
        for mac in (nh.src_mac, nh.dst_mac):
            assert mac >> 40 & 0x03 == 0x02  # locally administered, unicast
    assert e.admit_ports == tuple(sorted(port_numbers(fab, leaf).values()))
    assert e.acl == (AclEntry(100, (("ether_type", 0x88CC, 0xFFFF),), "punt_to_cpu"),)


def test_ecn_registers_and_dscp_from_the_cc_section(plans):
    fab, plan = plans["fabric"], plans["a"]
    cc = plan.cc
    s = "beijing-spine1"
    prog = _program(fab, s, plan)
    sw = _install(prog, switch_entries(fab, plan, s, program=prog))
    names = IdMap.of(prog).names()
    regs = {(names[r], i): v for (r, i), v in sw.registers.items()}
    groups = {p: g.ecn for g in cc.port_groups for p in g.ports}
    n = 0
    for port, num in port_numbers(fab, s).items():
        ecn = groups.get(f"{s}:{port}")
        if ecn is None:
            continue
        kmin, kmax = -(-ecn.kmin_bytes // cc.port_mtu_bytes), -(-ecn.kmax_bytes // cc.port_mtu_bytes)
        assert regs.get(("FabricEgress.ecn_kmin", num), 0) == kmin
        assert regs[("FabricEgress.ecn_kmax", num)] == kmax
        slope = regs[("FabricEgress.ecn_slope", num)]
        # the program marks with probability (depth - kmin) * slope / 2^16: pmax at kmax
        assert math.isclose((kmax - kmin) * slope / 65536, ecn.pmax, rel_tol=0.01)
        n += 1
    assert n > 0
    e = switch_entries(fab, plan, s, program=prog)
    assert e.dscp_to_tc[26] == 3 and set(e.dscp_to_tc.values()) == set(cc.lossless_priorities)
    assert all(d >> 3 == tc for d, tc in e.dscp_to_tc.items())


# ---------------------------------------------------------------------- p4 diff
def test_diff_applied_to_the_old_entries_gives_the_new_ones_in_a_safe_order(plans):
    fab, a, b = plans["fabric"], plans["a"], plans["b"]
    changed = 0
    for s in _switches(fab):
        prog = _program(fab, s, b)
        old, new = switch_entries(fab, a, s, program=prog), switch_entries(fab, b, s, program=prog)
        sw = _install(prog, old)
        ups = diff_updates(old, new, prog)
        for u in ups:
            sw.apply(u)  # checks references after every update
        assert sw.state() == _install(prog, new).state(), s
        # minimal: nothing is written for an entry that did not change, and no entry is touched twice
        keys = [u.entity.SerializeToString(deterministic=True) for u in ups if u.type == p4r.Update.DELETE]
        assert len(keys) == len(set(keys))
        assert (len(ups) == 0) == (canonical(prog, old).flat() == canonical(prog, new).flat())
        back = diff_updates(new, old, prog)
        sw2 = _install(prog, new)
        for u in back:
            sw2.apply(u)
        assert sw2.state() == _install(prog, old).state()
        changed += bool(ups)
    assert changed >= 2  # both ends of the failed link at least
    touched = changed_switches(fab, a, b)
    assert touched is not None and {"beijing-su1-rail0", "beijing-spine1"} <= touched
    for s in set(_switches(fab)) - touched:
        prog = _program(fab, s, b)
        assert switch_entries(fab, a, s, program=prog) == switch_entries(fab, b, s, program=prog)


def test_diff_modifies_only_what_changed():
    prog = build_program("leaf")
    e1 = SwitchEntries("l", "leaf", {}, (), {}, (Route("10.0.0.1/32", nexthop_id=1), Route("10.0.0.2/32", nexthop_id=1)),
                       (), ())
    e2 = SwitchEntries("l", "leaf", {}, (), {}, (Route("10.0.0.1/32", nexthop_id=1), Route("10.0.0.2/32", nexthop_id=2)),
                       (), ())
    ups = diff_updates(e1, e2, prog)
    assert [u.type for u in ups] == [p4r.Update.MODIFY]
    assert diff_updates(e1, e1, prog) == []


def test_derived_view_gives_the_entries_of_a_fresh_one(plans):
    fab, a, b = plans["fabric"], plans["a"], plans["b"]
    va = FabricView(fab, a)
    for s in _switches(fab):
        switch_entries(fab, a, s, program=_program(fab, s, a), view=va)
    vb = va.derive(b)
    for s in _switches(fab):
        prog = _program(fab, s, b)
        assert switch_entries(fab, b, s, program=prog, view=vb) == switch_entries(fab, b, s, program=prog)


def test_endpoints_behind_a_destination_match_the_network_rule(plans):
    fab, b = plans["fabric"], plans["b"]
    on, _ = fail_fabric(fab, b.wcmp.failed_links)
    net, view = Network(on), FabricView(fab, b)
    for e in fab.endpoints():
        assert e in view.endpoints_of(net.dst_key(e))


# ---------------------------------------------------------------------- refusals
def test_group_over_the_switch_limits_is_refused_naming_switch_and_destination(plans):
    fab, plan = plans["fabric"], plans["a"]
    s, dst = next((g.switch, g.dst) for g in plan.wcmp.groups if len(g.next_hops) >= 2
                  and fab.role(g.switch) == "leaf")
    small = build_program("leaf", ProgramOptions(max_group_size=1))
    with pytest.raises(ConfigError, match=f"{s}.*{dst}.*max_group_size 1"):
        switch_entries(fab, plan, s, program=small)
    light = build_program("leaf", ProgramOptions(max_member_weight=0))
    with pytest.raises(ConfigError, match=f"{s}.*{dst}.*member weight 0"):
        switch_entries(fab, plan, s, program=light)


def test_port_numbers_and_refusal_at_the_cpu_port():
    from fabric.topology import Fabric

    f = Fabric("t")
    f.add_node("s", "leaf")
    f.add_node("t", "spine")
    f.add_node("u", "spine")
    f.add_link("s", "t", 400, port_a="eth3", port_b="eth1")
    f.add_link("s", "u", 400, port_a="up0", port_b="eth2")
    assert port_numbers(f, "s") == {"up0": 1, "eth3": 3}
    f.add_node("v", "spine")
    f.add_link("s", "v", 400, port_a=f"eth{CPU_PORT}", port_b="eth1")
    with pytest.raises(ConfigError, match="CPU port"):
        port_numbers(f, "s")


def test_refusals_in_the_library(plans):
    fab, plan = plans["fabric"], plans["a"]
    prog = build_program("leaf")
    with pytest.raises(ConfigError, match="no 'wcmp' section"):
        switch_entries(fab, Plan.load(plans["dir"] / "bare.json"), "beijing-su1-rail0", program=prog)
    with pytest.raises(ConfigError, match="no switch 'nope'"):
        switch_entries(fab, plan, "nope", program=prog)
    with pytest.raises(ConfigError, match="not a switch"):
        switch_entries(fab, plan, fab.nodes("gpu")[0], program=prog)
    with pytest.raises(ConfigError, match="program is for role"):
        switch_entries(fab, plan, "beijing-spine1", program=prog)


def _one_line_exit_2(r):
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]


def test_cli_bad_inputs_exit_2_with_one_line(cli, plans, tmp_path):
    d = plans["dir"]
    out = tmp_path / "o"
    assert "no 'wcmp' section" in _one_line_exit_2(cli(["p4", "gen", "example", "--plan", d / "bare.json", "--out-dir", out]))
    assert "no superspine" in _one_line_exit_2(cli(["p4", "gen", "example", "--plan", d / "a.json", "--out-dir", out,
                                                     "--role", "superspine"]))
    assert "no program for role" in _one_line_exit_2(cli(["p4", "gen", "example", "--plan", d / "a.json", "--out-dir", out,
                                                           "--role", "router"]))
    assert "no switch 'nope'" in _one_line_exit_2(cli(["p4", "diff", d / "a.json", d / "b.json", "--switch", "nope"]))
    assert "not for fabric" in _one_line_exit_2(cli(["p4", "gen", "zoo:Abilene", "--plan", d / "a.json", "--out-dir", out]))
    assert "not for fabric" in _one_line_exit_2(cli(["p4", "diff", d / "a.json", d / "b.json", "--switch", "x",
                                                     "--fabric", "zoo:Abilene"]))
    # a group over the switch limits: the plan says each group may have at most 1 member
    raw = json.loads((d / "a.json").read_text())
    raw["sections"]["wcmp"]["data"]["limits"]["max_members"] = 1
    (tmp_path / "over.json").write_text(json.dumps(raw))
    assert "max_members" in _one_line_exit_2(cli(["p4", "gen", "example", "--plan", tmp_path / "over.json",
                                                   "--out-dir", out]))


def test_cli_diff_json(cli, plans):
    d = plans["dir"]
    r = cli(["p4", "diff", d / "a.json", d / "b.json", "--switch", "beijing-su1-rail0", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"switch", "updates", "inserts", "modifies", "deletes"}
    assert doc["inserts"] + doc["modifies"] + doc["deletes"] == len(doc["updates"]) > 0
    kinds = [u["type"] for u in doc["updates"]]
    assert kinds == sorted(kinds, key=lambda k: k == "DELETE")  # deletes last
    same = cli(["p4", "diff", d / "a.json", d / "a.json", "--switch", "beijing-su1-rail0", "--json"])
    assert json.loads(same.stdout)["updates"] == []


def test_changed_switches_is_everything_when_cc_data_changes(plans):
    import dataclasses

    fab, a, b = plans["fabric"], plans["a"], plans["b"]
    assert changed_switches(fab, a, a) == set()
    other = dataclasses.replace(b, cc=dataclasses.replace(b.cc, lossless_priorities=[3]))
    assert changed_switches(fab, a, other) is None


# ---------------------------------------------------------------------- protobuf JSON without protobufs
@pytest.mark.parametrize("which", ["a", "b"])
def test_json_encoder_gives_what_message_to_dict_gives(plans, which):
    """MessageToDict (and json.dumps(..., indent=1)) of to_write_requests is the oracle, for every switch
    of the example fabric's plan and of the plan after a link failure; ParseDict gives the messages back."""
    from google.protobuf.json_format import MessageToDict, ParseDict

    from p4.runtime import Encoder, JsonEncoder, entries_text, program_options, requests_json

    fab, plan = plans["fabric"], plans[which]
    progs = {r: build_program(r, program_options(plan)) for r in ("leaf", "spine", "dci")}
    encs = {r: (Encoder(p), JsonEncoder(p)) for r, p in progs.items()}
    view = FabricView(fab, plan)
    kinds = set()
    for s in _switches(fab):
        r = fab.role(s)
        enc, jenc = encs[r]
        can = canonical(progs[r], switch_entries(fab, plan, s, program=progs[r], view=view))
        reqs = to_write_requests(progs[r], can, encoder=enc)
        oracle = requests_json(reqs)
        fast = jenc.requests(can)
        assert fast == oracle, s
        assert [ParseDict(d, p4r.WriteRequest()) for d in fast] == reqs, s
        assert entries_text(progs[r], can, encoder=jenc) == json.dumps(oracle, indent=1), s
        # the single updates of a diff: every kind, with and without a value
        for k, v in can.flat().items():
            kinds.add((k[0], len(k[2]) if k[0] == "t" else 0, v[0]))
            for kind, val in (("INSERT", v), ("MODIFY", v), ("DELETE", v), ("DELETE", None)):
                u = jenc.update(kind, k, val)
                assert u == MessageToDict(enc.update(kind, k, val)), (s, kind, k)
                assert jenc.update_text(kind, k, val) == json.dumps(u, indent=1).replace("\n", "\n   ")
    # the plan exercises registers, exact/lpm/ternary matches, actions and one-shot action sets
    assert {"r", "t"} <= {k[0] for k in kinds} and {"a", "s", "v"} <= {k[2] for k in kinds}


def test_entries_files_from_text_equal_those_from_messages(plans, tmp_path):
    from p4.runtime import entries_text, write_entries

    fab, plan = plans["fabric"], plans["a"]
    out = plans["dir"] / "out" / "entries"
    for s in _switches(fab):
        prog = _program(fab, s, plan)
        e = switch_entries(fab, plan, s, program=prog)
        path = write_entries(tmp_path, s, entries_text(prog, e))
        assert path.read_bytes() == (out / f"{s}.json").read_bytes()
        assert read_entries(path) == to_write_requests(prog, e)


@pytest.mark.parametrize("links", [["beijing-su1-rail0--beijing-spine1", "beijing-su1-rail3--beijing-spine2"],
                                   ["beijing-spine1--beijing-dci1"],
                                   ["shanghai-su1-rail5--shanghai-spine4"]])
def test_derived_view_after_any_failure_gives_the_entries_of_a_fresh_one(links):
    """FabricView.derive keeps the endpoints behind every node but the flipped links' ends (a leaf-spine
    or spine-DCI failure changes no switch's endpoints; a plan cannot fail a single-homed GPU's link:
    its demand would have no path, and the section refuses an infinite access MLU)."""
    from fabric.wcmp import WcmpPlanner

    fab = load_fabric("example")
    planner = WcmpPlanner(fab, ring_allreduce_for(fab))
    plans = []
    for res in (planner.solve(), planner.fail(links)):
        p = Plan.new(fab)
        p.add(res.section(), fabric=fab)
        plans.append(p)
    va = FabricView(fab, plans[0])
    for s in _switches(fab):
        switch_entries(fab, plans[0], s, program=_program(fab, s, plans[0]), view=va)
    vb = va.derive(plans[1])
    for s in _switches(fab):
        prog = _program(fab, s, plans[1])
        assert switch_entries(fab, plans[1], s, program=prog, view=vb) == switch_entries(fab, plans[1], s, program=prog), s


def ring_allreduce_for(fab):
    from fabric.traffic import ring_allreduce

    return ring_allreduce(fab, fab.nodes("gpu"), 200.0, seed=1)
