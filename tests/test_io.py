"""Topology files: our YAML (round trip, pinned errors), containerlab, Topology Zoo GML."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric import builders
from fabric.constants import great_circle_km
from fabric.errors import ConfigError, FabricError, TopologyError
from fabric.io import load_fabric
from fabric.io.containerlab import fabric_to_clab, load_clab, save_clab, validate_clab_dict
from fabric.io.gml import load_gml, zoo_path
from fabric.io.yamlio import fabric_to_dict, load_yaml, save_yaml
from fabric.topology import LINK_KINDS, ROLES, Fabric

DATA = Path(__file__).parent / "data"

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


@st.composite
def fabrics(draw):
    node_names = draw(st.lists(names, min_size=2, max_size=12, unique=True))
    f = Fabric(draw(names))
    for n in node_names:
        kw = {}
        if draw(st.booleans()):
            kw["site"] = draw(names)
        if draw(st.booleans()):
            kw["lat"] = draw(st.floats(-90, 90, allow_nan=False))
            kw["lon"] = draw(st.floats(-180, 180, allow_nan=False))
        if draw(st.booleans()):
            kw["asn"] = draw(st.integers(1, 2**32 - 1))
        if draw(st.booleans()):
            kw["rail"] = draw(st.integers(0, 15))
        f.add_node(n, draw(st.sampled_from(ROLES)), **kw)
    for _ in range(draw(st.integers(0, 20))):
        a, b = draw(st.sampled_from(node_names)), draw(st.sampled_from(node_names))
        if a == b:
            continue
        f.add_link(a, b, draw(st.floats(0.001, 1e5, allow_nan=False)),
                   length_km=draw(st.sampled_from([0.0, 0.002, 12.5, 1890.38])),
                   kind=draw(st.sampled_from(LINK_KINDS)), up=draw(st.booleans()))
    return f


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fab=fabrics())
def test_yaml_round_trip_is_lossless(fab, tmp_path):
    p = tmp_path / "f.yaml"
    save_yaml(fab, p)
    back = load_yaml(p)
    assert fabric_to_dict(back) == fabric_to_dict(fab)
    assert back.summary()["capacity_gbps_total"] == pytest.approx(fab.summary()["capacity_gbps_total"])


@pytest.mark.parametrize("make", [lambda: builders.fat_tree(4), lambda: builders.dual_plane(4, 2),
                                  builders.example_two_site])
def test_yaml_and_clab_round_trips_of_builders(make, tmp_path):
    fab = make()
    save_yaml(fab, tmp_path / "f.yaml")
    assert fabric_to_dict(load_yaml(tmp_path / "f.yaml")) == fabric_to_dict(fab)
    save_clab(fab, tmp_path / "f.clab.yml")
    want = {k: v for k, v in fabric_to_dict(fab).items() if k != "generated_by"}
    assert fabric_to_dict(load_fabric(tmp_path / "f.clab.yml")) == want


def test_saved_builder_file_keeps_exact_formulas_until_edited(tmp_path):
    p = tmp_path / "ft.yaml"
    save_yaml(builders.fat_tree(4), p)
    assert load_yaml(p).bisection_gbps() == (3200.0, "formula k^3/8 x capacity (Al-Fares full bisection)")
    text = p.read_text().replace("capacity_gbps: 400.0", "capacity_gbps: 100.0", 1)  # edit one link
    p.write_text(text)
    value, method = load_yaml(p).bisection_gbps()
    assert "upper bound" in method


def test_builder_form(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text("name: ft\nbuilder: {name: fat_tree, params: {k: 4}}\n")
    f = load_yaml(p)
    assert f.counts_by_role()["host"] == 16 and f.name == "ft"
    assert f.bisection_gbps()[1].startswith("formula")


BASE = "name: x\nnodes:\n  - {name: a, role: leaf}\n  - {name: b, role: spine}\n"


@pytest.mark.parametrize("text, cls, message", [
    ("name: x\nnodes: [\n", ConfigError, "line 3, column 1: YAML syntax error"),
    ("nodes: []\n", ConfigError, "line 1: (top level): missing required field 'name'"),
    (BASE + "colour: red\n", ConfigError, "line 5: colour: unknown key(s) 'colour'"),
    (BASE + "links:\n  - {a: a, b: b, capacity_gbps: 1, speed: 3}\n", ConfigError,
     "line 6: links[0].speed: unknown key(s) 'speed'"),
    (BASE + "links:\n  - {a: a, b: c, capacity_gbps: 1}\n", TopologyError, "line 6: links[0].b: unknown node 'c' (link a--c)"),
    (BASE + "  - {name: a, role: host}\n", TopologyError, "line 5: nodes[2].name: duplicate node name"),
    (BASE + "links:\n  - {a: a, b: b, capacity_gbps: 0}\n", ConfigError, "line 6: links[0].capacity_gbps: must be > 0, got 0"),
    (BASE + "links:\n  - {a: a, b: b, capacity_gbps: -400}\n", ConfigError,
     "line 6: links[0].capacity_gbps: must be > 0, got -400"),
    (BASE + "links:\n  - {a: a, b: b}\n", ConfigError, "line 6: links[0]: missing required field 'capacity_gbps'"),
    ("name: x\nnodes:\n  - {name: a}\n", ConfigError, "line 3: nodes[0]: missing required field 'role'"),
    (BASE + "links:\n  - {a: a, b: a, capacity_gbps: 1}\n", TopologyError,
     "line 6: links[0]: a link cannot connect a node to itself"),
    ("name: x\nnodes:\n  - {name: a, role: router}\n", ConfigError, "line 3: nodes[0].role: must be one of gpu, nic"),
    (BASE + "links:\n  - {a: a, b: b, capacity_gbps: fast}\n", ConfigError,
     "line 6: links[0].capacity_gbps: must be of type number, got 'fast'"),
    ("- just\n- a list\n", ConfigError, "a topology file must be a mapping"),
])
def test_yaml_errors_name_file_line_path_and_reason(tmp_path, text, cls, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(cls) as exc:
        load_yaml(p)
    assert str(exc.value).startswith(f"{p}: {message}"), str(exc.value)
    assert "\n" not in str(exc.value)


def test_containerlab_import_of_example():
    f = load_fabric(DATA / "srl02.clab.yml")
    assert f.name == "srl02-linux"
    assert f.role("r1") == "leaf" and f.role("br-clab") == "leaf" and f.role("client1") == "host"
    lk = f.find_link("client2--br-clab")
    assert (lk.port_a, lk.port_b, lk.capacity_gbps, lk.length_km) == ("eth1", "eth2", 10.0, 2.5)
    assert f.meta["clab_exec"]["r1"] == ["ip addr add 192.168.0.1/30 dev e1-1"]
    assert f.meta["impairments"][2]["delay_ms"] == 1


def test_containerlab_export_is_accepted_shape():
    data = fabric_to_clab(builders.clos(2, 2, 2))
    validate_clab_dict(data)
    assert {nd["kind"] for nd in data["topology"]["nodes"].values()} == {"linux"}
    assert all(len(lk["endpoints"]) == 2 and all(":" in e for e in lk["endpoints"]) for lk in data["topology"]["links"])


def test_containerlab_errors(tmp_path):
    p = tmp_path / "bad.clab.yml"
    p.write_text("name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n    - endpoints: ['a:eth1', 'b:eth1']\n")
    with pytest.raises(TopologyError, match=r"bad.clab.yml: line 6: topology.links\[0\].endpoints\[1\]: unknown node 'b'"):
        load_clab(p)
    p.write_text("name: x\ntopology:\n  nodes:\n    a: {}\n")
    with pytest.raises(ConfigError, match="node has no 'kind'"):
        load_clab(p)


def test_chinanet_import():
    f = load_gml(zoo_path("Chinanet"))
    assert len(f) == 42 and f.graph.number_of_edges() == 66
    assert sorted(f.meta["no_coordinates"]) == [f"International Link {i}" for i in (1, 2, 3, 4)]
    bj, gz = f.node("Beijing"), f.node("Guangzhou")
    km = great_circle_km(bj["lat"], bj["lon"], gz["lat"], gz["lon"])
    assert km == pytest.approx(1890, abs=5)
    assert km * 4.897 / 1000 == pytest.approx(9.3, abs=0.05)  # REFERENCE.md: 9.3 ms one way


def test_gml_multigraph_files_and_route_factor():
    cernet = load_gml(zoo_path("Cernet"))
    assert cernet.graph.number_of_edges() == 59  # duplicate edge kept as a parallel link
    a = load_gml(zoo_path("Abilene"))
    b = load_gml(zoo_path("Abilene"), route_factor=1.5)
    la = sorted(lk.length_km for lk in a.links())
    lb = sorted(lk.length_km for lk in b.links())
    assert lb == pytest.approx([x * 1.5 for x in la])


def test_gml_without_coordinates_when_lengths_required():
    with pytest.raises(TopologyError, match="Internet2.gml: link .* needs a length but .* has no Latitude/Longitude"):
        load_gml(zoo_path("Internet2"), require_lengths=True)
    f = load_gml(zoo_path("Internet2"))
    assert len(f.meta["no_coordinates"]) == 20  # reported, not guessed


def test_gml_syntax_error(tmp_path):
    p = tmp_path / "bad.gml"
    p.write_text("graph [\n node [ id 0 \n")
    with pytest.raises(ConfigError, match="bad.gml: not a valid GML file"):
        load_gml(p)


def test_load_fabric_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_fabric(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="no built-in Topology Zoo file 'Nowhere'"):
        load_fabric("zoo:Nowhere")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(FabricError, match="cannot tell the format"):
        load_fabric(tmp_path / "x.txt")
