"""Import of real files nobody on the project wrote: containerlab labs and tests, the Topology Zoo.

The few files that fabricctl once refused are copied into ``tests/data/realworld`` (see its README);
the whole sets are read when ``../shared/data/realworld`` exists (a developer's checkout, CI).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from fabric.errors import ConfigError, TopologyError
from fabric.io import load_fabric
from fabric.io.containerlab import ClabImportWarning, load_clab
from fabric.io.gml import load_gml

DATA = Path(__file__).parent / "data" / "realworld"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld"
NO_SHARED = f"no {SHARED} (the full real-world sets are not in a plain clone)"


def _shared(folder: str, pattern: str) -> list[Path]:
    return sorted((SHARED / folder).glob(pattern)) if (SHARED / folder).is_dir() else []


def _quiet_clab(path: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fab = load_clab(path)
    return fab, [str(w.message) for w in caught if issubclass(w.category, ClabImportWarning)]


def test_kind_from_groups():
    fab, warned = _quiet_clab(DATA / "frr01__frr01.clab.yml")
    assert warned == []
    assert fab.meta["clab_kinds"] == dict.fromkeys(["router1", "router2", "router3", "PC1", "PC2", "PC3"], "linux")
    assert fab.graph.number_of_edges() == 6
    assert fab.meta["clab_exec"]["PC1"][0] == "ip link set eth1 up"


def test_group_from_defaults_and_exec_inherited_from_group():
    fab, _ = _quiet_clab(DATA / "tests__01-smoke__24-basic-groups.clab.yaml")
    assert set(fab.meta["clab_kinds"]) == {"l1", "l2", "l3"}
    assert fab.meta["clab_exec"]["l1"] == ["echo this_is_an_exec_test", "cat /etc/os-release"]
    assert fab.meta["clab_exec"]["l3"] == []


def test_inheritance_order_node_group_kind_defaults(tmp_path):
    p = tmp_path / "inherit.clab.yml"
    p.write_text("""name: inherit
topology:
  defaults:
    kind: linux
    labels: {fabricctl.site: d, fabricctl.pod: 1, fabricctl.plane: d}
    exec: [defaults]
  kinds:
    nokia_srlinux:
      labels: {fabricctl.site: k, fabricctl.pod: 2}
      exec: [kind]
  groups:
    spines:
      kind: nokia_srlinux
      labels: {fabricctl.site: g}
  nodes:
    s1: {group: spines, labels: {fabricctl.site: n}}
    s2: {group: spines}
    h1: {}
    h2: {exec: [node]}
  links:
    - endpoints: [s1:e1-1, h1:eth1]
""")
    fab = load_clab(p)
    assert fab.meta["clab_kinds"] == {"s1": "nokia_srlinux", "s2": "nokia_srlinux", "h1": "linux", "h2": "linux"}
    assert (fab.node("s1")["site"], fab.node("s2")["site"], fab.node("h1")["site"]) == ("n", "g", "d")
    assert (fab.node("s1")["pod"], fab.node("h1")["pod"], fab.node("s1")["plane"]) == (2, 1, "d")
    assert fab.role("s1") == "leaf" and fab.role("h1") == "host"
    assert fab.meta["clab_exec"] == {"s1": ["kind"], "s2": ["kind"], "h1": ["defaults"], "h2": ["node"]}


def test_unknown_group_and_missing_kind_are_refused(tmp_path):
    p = tmp_path / "bad.clab.yml"
    p.write_text("name: x\ntopology:\n  nodes:\n    a: {group: nope}\n")
    with pytest.raises(ConfigError, match=r"line 4: topology.nodes.a.group: group 'nope' is not defined"):
        load_clab(p)
    p.write_text("name: x\ntopology:\n  groups: {g: {image: alpine}}\n  nodes:\n    a: {group: g}\n")
    with pytest.raises(ConfigError, match=r"node has no 'kind' \(nor has its group or topology.defaults\)"):
        load_clab(p)


@pytest.mark.parametrize(("name", "links", "warned"), [
    ("tests__01-smoke__03-linux-nodes-to-bridge-and-host.clab.yml", 2,
     ["line 25: topology.links[2]: skipped link l1:eth3 -- host:l1-01-03-eth3: 'host' is the container host's "
      "network namespace, not a node of the fabric"]),
    ("tests__01-smoke__16-mgmtnetinterface.clab.yml", 0,
     ["line 10: topology.links[0]: skipped link l1:eth1 -- mgmt-net:l1eth1: 'mgmt-net' is the management network "
      "bridge, not a node of the fabric"]),
    ("tests__01-smoke__macvlan.clab.yml", 0,
     ["line 16: topology.links[0]: skipped link l1:eth1 -- macvlan:ens3: 'macvlan' is a macvlan "
      "interface on a host interface, not a node of the fabric"]),
    ("tests__01-smoke__01-linux-nodes.clab.yml", 3,
     ["line 70: topology.links[3]: skipped host link from l2:eth4: its other end is a host interface, not a node "
      "of the fabric",
      "line 77: topology.links[4]: skipped mgmt-net link from l2:eth5: its other end is the management network "
      "bridge, not a node of the fabric",
      "line 84: topology.links[5]: skipped dummy link from l2:somedummy: its other end is a dummy interface, not a "
      "node of the fabric"]),
    ("tests__08-vxlan__01-vxlan.clab.yml", 0,
     ["line 28: topology.links[0]: skipped vxlan link from srl1:e1-1: its other end is a VxLAN tunnel, not a node "
      "of the fabric"]),
    ("sr-sim__sr-14s-components.clab.yaml", 0,
     [f"line {113 + i}: topology.links[{i}]: skipped link sr-14s:{i + 1}/1/c1/1 -- sr-14s:{i + 4}/1/c1/1: a "
      "loopback cable between two interfaces of the same node (a fabric link joins two distinct nodes)"
      for i in range(3)]),
])
def test_special_endpoints_and_loopback_cables_are_skipped_with_a_warning(name, links, warned):
    path = DATA / name
    fab, got = _quiet_clab(path)
    assert got == [f"{path}: {w}" for w in warned]
    assert fab.meta["import_warnings"] == got
    assert fab.graph.number_of_edges() == links


def test_bridge_node_is_a_switch():
    fab, _ = _quiet_clab(DATA / "tests__01-smoke__03-linux-nodes-to-bridge-and-host.clab.yml")
    assert fab.role("br-01-03-clab") == "leaf" and fab.role("l1") == "host" and fab.role("hostnode") == "host"
    assert {(lk.a, lk.b) for lk in fab.links()} == {("l1", "br-01-03-clab"), ("br-01-03-clab", "l1")}


def test_go_template_rendered_with_no_variables(tmp_path):
    path = DATA / "tests__01-smoke__30-bridge-reconcile.clab.yml"
    with pytest.warns(ClabImportWarning, match="rendered its Go template directives with no variable set"):
        fab = load_clab(path)
    assert sorted((lk.port_a, lk.port_b) for lk in fab.links()) == [("eth1", "e2"), ("eth2", "e3")]
    p = tmp_path / "t.clab.yml"
    p.write_text("name: t\ntopology:\n  nodes:\n    a: {kind: linux}\n{{- if .two }}\n    b: {kind: linux}\n"
                 "{{- end }}\n  links:\n    - endpoints: [a:eth1, b:eth1]\n")
    with pytest.warns(ClabImportWarning), pytest.raises(TopologyError, match=r"line 9: .*unknown node 'b'"):
        load_clab(p)  # line numbers are the file's, not the rendered text's
    p.write_text("name: t\ntopology:\n  nodes:\n    a: {kind: {{ .kind }}}\n")
    with pytest.raises(ConfigError, match=r"line 4: Go template directive '\{\{ .kind \}\}'.*render the file first"):
        load_clab(p)


def test_janet_backbone_with_bare_boolean():
    fab = load_gml(DATA / "Janetbackbone-v2.gml")
    assert len(fab) == 29 and fab.graph.number_of_edges() == 45


def test_gml_bare_words(tmp_path):
    p = tmp_path / "w.gml"
    p.write_text('graph [\n  node [ id 0 label "a" flag true kind core Latitude 1 Longitude 2 ]\n'
                 '  node [ id 1 label "b" flag False ]\n  edge [ source 0 target 1 ]\n]\n')
    fab = load_gml(p)
    assert len(fab) == 2 and fab.graph.number_of_edges() == 1


#: Files of the real-world set that fabricctl refuses, with the reason (none today).
CLAB_REFUSED: dict[str, str] = {}


@pytest.mark.skipif(not _shared("containerlab", "*"), reason=NO_SHARED)
@pytest.mark.parametrize("path", _shared("containerlab", "*"), ids=lambda p: p.name)
def test_every_containerlab_file_imports(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClabImportWarning)
        if path.name in CLAB_REFUSED:
            with pytest.raises((ConfigError, TopologyError), match=CLAB_REFUSED[path.name]):
                load_fabric(path, fmt="clab")
            return
        fab = load_fabric(path, fmt="clab")
    assert len(fab) > 0


@pytest.mark.skipif(not _shared("topologyzoo-all", "*.gml"), reason=NO_SHARED)
@pytest.mark.parametrize("path", _shared("topologyzoo-all", "*.gml"), ids=lambda p: p.name)
def test_every_zoo_file_loads(path):
    fab = load_gml(path)
    assert len(fab) > 0
