"""Lab layout, containerlab parsing and export: pure functions, no root needed."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plans import budgets_section, wcmp_section

from fabric.builders import clos, example_two_site
from fabric.errors import ConfigError, LabError
from fabric.plan import Plan, WcmpSection
from fabric.topology import Fabric
from labs.clab import dump_clab, export_clab, parse_clab, state_from_fabric
from labs.lab import Lab
from labs.routing import check_lab_name, layout, ns_name, resolve_routes


def diamond() -> Fabric:
    f = Fabric("diamond")
    for n, r in [("h1", "host"), ("s1", "leaf"), ("s2", "spine"), ("s3", "spine"), ("s4", "leaf"), ("h2", "host")]:
        f.add_node(n, role=r)
    for a, b in [("h1", "s1"), ("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s3", "s4"), ("s4", "h2")]:
        f.add_link(a, b, 400)
    return f


def wcmp_plan(w2: int = 3, w3: int = 1) -> Plan:
    p = Plan.new(diamond())
    p.add(wcmp_section([{"switch": "s1", "dst": "s4", "delta": 0.0, "next_hops": [
        {"node": "s2", "port": "eth2", "weight": w2}, {"node": "s3", "port": "eth3", "weight": w3}]}],
        max_group_weight=max(256, w2 + w3)), fabric=diamond())
    return p


def test_ecmp_routes_match_networkx_shortest_paths():
    """Oracle: the next hops the kernel will use (after default-route compression) are exactly the
    first hops of networkx's all shortest paths that do not transit an endpoint."""
    fab = clos(4, 2, 2)
    lay = layout(fab)
    g = nx.Graph(fab.graph)
    endpoints = set(fab.endpoints())
    for n in fab.nodes():
        got = resolve_routes(lay, n)
        for d in fab.nodes():
            if d == n:
                continue
            first = {p[1] for p in nx.all_shortest_paths(g, n, d) if not (set(p[1:-1]) & endpoints)}
            assert {m for _i, m, _w in got[d]} == first, (n, d)


def test_every_node_gets_a_distinct_address_and_prefixed_namespace():
    fab = example_two_site()
    lay = layout(fab)
    assert len(set(lay.address.values())) == len(fab)
    assert all(ns_name("x.", n).startswith("x.") for n in fab.nodes())
    wan = [lp for lp in lay.links if fab.node(lp.a)["role"] == "dci" and fab.node(lp.b)["role"] == "dci"
           and fab.node(lp.a)["site"] != fab.node(lp.b)["site"]]
    assert wan and all(lp.delay_us > 1000 for lp in wan)
    # compression keeps route tables small: an endpoint needs one default route
    assert all(len(lay.routes[g]) == 1 for g in fab.endpoints())


def test_wcmp_group_becomes_weighted_next_hops():
    lay = layout(diamond(), wcmp_plan())
    got = resolve_routes(lay, "s1")
    assert sorted((m, w) for _i, m, w in got["h2"]) == [("s2", 3), ("s3", 1)]
    assert sorted((m, w) for _i, m, w in got["s4"]) == [("s2", 3), ("s3", 1)]
    assert lay.wcmp_groups_applied == 1


def test_wcmp_weights_scaled_into_kernel_range():
    lay = layout(diamond(), wcmp_plan(1000, 10))
    got = resolve_routes(lay, "s1")
    assert sorted(w for _i, _m, w in got["h2"]) == [3, 256]
    assert any("scaled" in n for n in lay.notes)


@pytest.mark.parametrize("group, match", [
    ({"switch": "s1", "dst": "nope", "next_hops": [{"node": "s2", "port": "eth2", "weight": 1}]}, "not a node"),
    ({"switch": "s1", "dst": "s4", "next_hops": [{"node": "s4", "port": "eth2", "weight": 1}]}, "not an up link"),
])
def test_invalid_wcmp_group_names_the_field(group, match):
    p = Plan.new(diamond())
    p.add(wcmp_section([group]), fabric=diamond())
    with pytest.raises(ConfigError, match=match) as ei:
        layout(diamond(), p, plan_file="plan.json")
    assert "wcmp.groups[0]" in str(ei.value) and "plan.json" in str(ei.value)


def test_a_zero_weight_never_reaches_a_lab():
    """The Plan contract refuses it before any renderer sees it."""
    with pytest.raises(ConfigError, match=r"wcmp.data.groups\[0\].next_hops\[0\].weight: must be >= 1"):
        wcmp_section([{"switch": "s1", "dst": "s4", "next_hops": [{"node": "s2", "port": "eth2", "weight": 0}]}])


@pytest.mark.parametrize("name", ["", "Upper", "a_b", "x" * 30, "-a"])
def test_invalid_lab_names(name):
    with pytest.raises(ConfigError):
        check_lab_name(name)


def test_not_root_gives_one_clear_error(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        Lab(diamond(), name="t-notroot").up()


def test_cli_not_root_exit_2(cli, monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    r = cli(["lab", "up", "example", "--name", "t-notroot", "--state-dir", tmp_path])
    assert r.exit_code == 2
    assert "needs root" in r.output


CLAB = {"name": "t", "topology": {"nodes": {"a": {"kind": "linux", "image": "alpine", "exec": ["true"]},
                                            "b": {"kind": "linux"}, "br": {"kind": "bridge"}},
                                  "links": [{"endpoints": ["a:eth1", "b:eth1"], "delay": "10ms", "jitter": "250us",
                                             "loss": 0.5, "rate": "1gbit"},
                                            {"endpoints": [{"node": "a", "interface": "eth2"},
                                                           {"node": "br", "interface": "p1"}]}]}}


def test_clab_parse_impairments_and_notes():
    spec = parse_clab(CLAB, "t.clab.yml")
    l0, l1 = spec.links
    assert (l0["delay_us"], l0["jitter_us"], l0["loss_pct"], l0["rate_bps"]) == (10_000.0, 250.0, 0.5, 1e9)
    assert l1["delay_us"] == 0 and l1["rate_bps"] is None
    assert any("images are ignored" in n for n in spec.notes)


@pytest.mark.parametrize("patch, match", [
    ({"kind": "nokia_srlinux"}, "cannot run as a namespace"),
    ({"link": {"endpoints": ["a:eth1"]}}, "two entries"),
    ({"link": {"endpoints": ["a:eth9", "zz:eth1"]}}, "unknown node"),
    ({"link": {"endpoints": ["a:eth1", "b:eth7"]}}, "used by two links"),
    ({"link": {"endpoints": ["a:eth8", "b:eth8"], "delay": "soon"}}, "not a duration"),
    ({"link": {"endpoints": ["a:eth8", "b:eth8"], "rate": "fast"}}, "not a rate"),
    ({"link": {"endpoints": ["a:eth8", "b:eth8"], "loss": 120}}, "percentage"),
    ({"link": {"endpoints": ["a:this-name-is-too-long", "b:eth8"]}}, "not a valid Linux name"),
])
def test_clab_invalid_inputs_name_the_field(patch, match):
    import copy

    data = copy.deepcopy(CLAB)
    if "kind" in patch:
        data["topology"]["nodes"]["b"]["kind"] = patch["kind"]
    if "link" in patch:
        data["topology"]["links"].append(patch["link"])
    with pytest.raises(ConfigError, match=match) as ei:
        parse_clab(data, "t.clab.yml")
    assert "t.clab.yml" in str(ei.value) and "topology." in str(ei.value)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.sampled_from(["us", "ms", "s", ""]))
def test_clab_duration_round_trip(value, unit):
    data = {"topology": {"nodes": {"a": {"kind": "linux"}, "b": {"kind": "linux"}},
                         "links": [{"endpoints": ["a:e1", "b:e1"], "delay": f"{value!r}{unit}"}]}}
    got = parse_clab(data).links[0]["delay_us"]
    factor = {"us": 1.0, "ms": 1000.0, "s": 1e6, "": 1000.0}[unit]
    assert got == pytest.approx(value * factor, rel=1e-9, abs=1e-9)


def test_export_round_trips_through_the_clab_parser():
    fab = diamond()
    st_ = state_from_fabric(fab, wcmp_plan(), name="diamond", rate_scale=0.001)
    topo = export_clab(st_)
    import yaml

    spec = parse_clab(yaml.safe_load(dump_clab(topo)))
    assert set(spec.nodes) == set(fab.nodes())
    assert len(spec.links) == len(list(fab.links()))
    assert all(lk["rate_bps"] == pytest.approx(400e6) for lk in spec.links)
    s1 = "\n".join(spec.nodes["s1"]["exec"])
    assert "weight 3" in s1 and "weight 1" in s1


def test_cli_export_from_fabric(cli, tmp_path):
    out = tmp_path / "x.clab.yml"
    r = cli(["lab", "export", "--fabric", "example", "-o", out, "--json"])
    assert r.exit_code == 0, r.output
    import yaml

    spec = parse_clab(yaml.safe_load(out.read_text()))
    assert len(spec.nodes) == len(example_two_site())
    wan = [lk for lk in spec.links if lk["delay_us"] > 1000]
    assert len(wan) == 2


def test_cli_user_errors_exit_2(cli, tmp_path):
    sd = ["--state-dir", tmp_path]
    r = cli(["lab", "status", *sd])
    assert r.exit_code == 0 and "no lab is up" in r.output
    r = cli(["lab", "probe", "a", "b", *sd])
    assert r.exit_code == 2 and "no lab is up" in r.output
    r = cli(["lab", "check", *sd])
    assert r.exit_code == 2 and "no lab is up" in r.output
    bad = tmp_path / "b.json"
    bad.write_text('{"paths": [{"src": "a", "dst": "b", "budget_us": -1}]}')
    r = cli(["lab", "check", "--budgets", bad, *sd])
    assert r.exit_code == 2 and "b.json" in r.output and "budgets.paths[0].budget_us" in r.output
    r = cli(["lab", "up", tmp_path / "missing.yaml", *sd])
    assert r.exit_code == 2 and "missing.yaml" in r.output
    clab = tmp_path / "x.clab.yml"
    clab.write_text("name: x\ntopology:\n  nodes:\n    r1: {kind: nokia_srlinux}\n")
    r = cli(["lab", "up", clab, *sd])
    assert r.exit_code == 2 and "topology.nodes.r1.kind" in r.output
    r = cli(["lab", "up", "example", "--name", "Bad_Name", *sd])
    assert r.exit_code == 2 and "--name" in r.output


def test_budgets_from_a_plan_file(tmp_path):
    from labs.budget import load_budgets

    p = Plan(fabric="x")
    p.add(budgets_section([{"src": "a", "dst": "b", "path": ["a", "b"], "km": 1.0, "components": [],
                            "total_us": 5.0, "budget_us": 10.0, "budget_class": "city", "verdict": "ok"}]),
          fabric=diamond())
    p.save(tmp_path / "plan.json")
    assert load_budgets(tmp_path / "plan.json")["paths"][0]["budget_us"] == 10.0
    (tmp_path / "np.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="np.json"):
        load_budgets(tmp_path / "np.json")


def test_planner_wcmp_section_gives_one_route_per_prefix():
    """The load-balancing planner's real groups (incl. groups for directly connected leaves) map onto
    routes without installing a neighbour's /32 twice (the kernel refuses that with EEXIST)."""
    from fabric.traffic import ring_allreduce
    from fabric.wcmp import WcmpPlanner

    fab = example_two_site()
    res = WcmpPlanner(fab, ring_allreduce(fab, fab.nodes("gpu"), 200.0, seed=1)).fail(
        ["beijing-su1-rail0--beijing-spine1"])
    plan = Plan.new(fab)
    plan.add(res.section(), fabric=fab)
    lay = layout(fab, plan)
    assert lay.wcmp_groups_applied > 0
    for n in lay.nodes:
        prefixes = [d for d, _ in lay.routes[n]]
        neighbour_prefixes = {f"{lay.address[m]}/32" for m in lay.neighbours[n]}
        assert len(prefixes) == len(set(prefixes)), n
        assert not neighbour_prefixes & set(prefixes), n
    # the link the plan failed comes up down, and no route of any destination uses it
    down = [lp for lp in lay.links if not lp.up]
    assert [(lp.a, lp.b) for lp in down] == [("beijing-su1-rail0", "beijing-spine1")]
    table = resolve_routes(lay, "beijing-su1-rail0")
    assert all(m != "beijing-spine1" for d, hops in table.items() for _, m, _ in hops)
    bad = Plan.new(fab)
    bad.add(WcmpSection.from_dict({**res.section_data(), "failed_links": ["nowhere--else"]}), fabric=fab)
    with pytest.raises(ConfigError, match=r"wcmp.failed_links\[0\]: no such link"):
        layout(fab, bad)


def test_lab_clab_files_expand_env_and_export_quotes_numeric_strings(tmp_path, monkeypatch):
    """labs/clab.py reads containerlab files as containerlab does (${VAR:=default} before parsing) and
    writes YAML that reads back the same (a string like '1e3' stays a string under YAML 1.2)."""
    from labs.clab import load_clab

    monkeypatch.delenv("FABRICCTL_TEST_ADDR", raising=False)
    f = tmp_path / "t.clab.yml"
    f.write_text("name: t\ntopology:\n  nodes:\n    h1: {kind: linux, exec: ['ip addr add ${FABRICCTL_TEST_ADDR:=10.0.0.1/24} dev eth1']}\n"
                 "    h2: {kind: linux}\n  links:\n    - endpoints: [h1:eth1, h2:eth1]\n")
    spec = load_clab(f)
    assert spec.nodes["h1"]["exec"] == ["ip addr add 10.0.0.1/24 dev eth1"]
    import yaml

    from fabric.io.reader import Dumper, parse_yaml

    text = yaml.dump({"site": "1e3"}, Dumper=Dumper)
    assert parse_yaml(text).data == {"site": "1e3"}
