"""The Fabric model and builders: counts against formulas, bisection against max-flow, errors pinned."""

from __future__ import annotations

import networkx as nx
import pytest

from fabric import builders
from fabric.constants import great_circle_km
from fabric.errors import TopologyError
from fabric.topology import Fabric


@pytest.mark.parametrize("k", [4, 8, 16])
def test_fat_tree_counts_follow_al_fares(k):
    f = builders.fat_tree(k)
    c = f.counts_by_role()
    assert c["host"] == k**3 // 4
    assert c["leaf"] + c["spine"] + c["superspine"] == 5 * k**2 // 4
    assert c["superspine"] == k**2 // 4
    assert f.graph.number_of_edges() == 3 * k**3 // 4
    # every switch uses exactly k ports
    for sw in f.nodes(["leaf", "spine"]):
        assert f.graph.degree(sw) == k
    for core in f.nodes("superspine"):
        assert f.graph.degree(core) == k


@pytest.mark.parametrize("fab, hand", [
    (builders.fat_tree(4, 400), 16 / 2 * 400),                         # k^3/8 x 400
    (builders.fat_tree(8, 100), 128 / 2 * 100),
    (builders.clos(4, 2, 8, 2, host_gbps=100, uplink_gbps=100), 400),  # 2 leaves x 2 uplinks x 100
    (builders.clos(6, 3, 4, 6), 3 * 4 * 400),                          # host side binds: 3 leaves x 4 x 400
    (builders.rail_optimized(8, 8, servers_per_su=4), 1 * 8 * 4 * 400),
    (builders.rail_optimized(4, 4), 8 * 400),                          # one SU: half the GPUs x 400
    (builders.dual_plane(8, 4, servers_per_segment=2), 2 * 4 * 400 * 2),  # 2 segs x 4 rails x 400 x 2 planes
])
def test_bisection_formula_matches_hand_value_and_max_flow(fab, hand):
    value, method = fab.bisection_gbps()
    assert method.startswith("formula")
    assert value == pytest.approx(hand)
    # independent oracle: max-flow min cut across the same halving
    assert fab.cut_across_halves_gbps() == pytest.approx(value)


def test_dual_plane_hand_value():
    # 8 servers of 4 GPUs, segments of 2 servers: 4 segments; per plane cut = 2 segments x 4 rails x
    # min(2 x 200, 1 x 400) = 3,200; two planes: 6,400
    f = builders.dual_plane(8, 4, servers_per_segment=2)
    assert f.bisection_gbps()[0] == 6400
    assert set(f.counts_by_role()) == {"gpu", "leaf", "spine"}
    planes = {f.node(n).get("plane") for n in f.nodes("leaf")}
    assert planes == {"A", "B"}
    # each GPU has exactly one port in each plane
    for g in f.nodes("gpu"):
        assert sorted(f.node(nb)["plane"] for nb in f.graph[g]) == ["A", "B"]


@pytest.mark.parametrize("fab", [builders.fat_tree(4), builders.clos(4, 2, 3), builders.rail_optimized(8, 4, servers_per_su=4),
                                 builders.dual_plane(4, 2, servers_per_segment=2)])
def test_diameter_formula_matches_bfs(fab):
    d, method = fab.diameter_hops()
    assert method.startswith("formula")
    assert d == nx.diameter(nx.Graph(fab.graph))


def test_rail_optimized_wires_gpu_i_to_rail_i_leaf():
    f = builders.rail_optimized(8, 8, servers_per_su=4)
    assert f.counts_by_role() == {"gpu": 64, "leaf": 16, "spine": 4}
    for g in f.nodes("gpu"):
        (leaf,) = list(f.graph[g])
        assert f.node(leaf)["rail"] == f.node(g)["rail"]
    assert f.oversubscription() == {"leaf": 1.0}


def test_clos_oversubscription_and_capacity_by_tier():
    f = builders.clos(4, 2, 8, 2, host_gbps=100, uplink_gbps=100)
    assert f.oversubscription() == {"leaf": 4.0}
    assert f.capacity_by_tier() == {"host-leaf": 3200.0, "leaf-spine": 800.0}
    assert f.capacity_gbps_total() == 4000.0


def test_clos_rejects_uneven_uplinks():
    with pytest.raises(TopologyError, match="clos: uplinks_per_leaf \\(3\\) must be a positive multiple of spines \\(2\\)"):
        builders.clos(2, 2, 2, 3)


def test_failed_link_changes_views_and_drops_formulas():
    f = builders.clos(2, 2, 2)
    lk = f.links_between("leaf1", "spine1")[0]
    f.set_link_up(lk.a, lk.b, lk.key, False)
    assert f.capacity_by_tier()["leaf-spine"] == 3 * 400
    value, method = f.bisection_gbps()
    assert "upper bound" in method
    assert value == 400  # leaf1 now has one uplink left
    assert f.summary()["links_down"] == 1


def test_multi_site_wan_length_from_great_circle():
    a = builders.clos(2, 2, 2)
    b = builders.clos(2, 2, 2)
    f = builders.multi_site([builders.Site("bj", a, 39.9075, 116.39723), builders.Site("gz", b, 23.11667, 113.25)],
                            [builders.WanLink("bj", "gz", count=2)], route_factor=1.2)
    wan = [lk for lk in f.links() if lk.kind == "wdm"]
    assert len(wan) == 2
    assert wan[0].length_km == pytest.approx(great_circle_km(39.9075, 116.39723, 23.11667, 113.25) * 1.2)
    assert wan[0].latency_us == pytest.approx(wan[0].length_km * 4.897)
    assert f.counts_by_role() == {"host": 8, "leaf": 4, "spine": 4, "dci": 2}
    assert f.sites() == ["bj", "gz"]
    # between the sites the spine->DCI uplinks bind (2 spines x 400G), not the 2 x 1.6T WAN
    assert f.bisection_gbps()[0] == 800


def test_multi_site_errors():
    a = builders.clos(2, 2, 2)
    with pytest.raises(TopologyError, match="unknown site 'xx'"):
        builders.multi_site({"bj": a}, [("bj", "xx", 10.0)])
    with pytest.raises(TopologyError, match="no length_km and a site has no coordinates"):
        builders.multi_site({"bj": a, "sh": builders.clos(2, 2, 2)}, [("bj", "sh")])


def test_example_two_site():
    f = builders.example_two_site()
    assert f.counts_by_role() == {"gpu": 64, "leaf": 16, "spine": 8, "dci": 4}
    assert f.validate() == []
    wan = [lk for lk in f.links() if lk.kind == "wdm"]
    assert len(wan) == 2 and all(lk.capacity_gbps == 1600 for lk in wan)


@pytest.mark.parametrize("call, message", [
    (lambda f: f.add_link("a", "a", 100), "link a--a: a link cannot connect a node to itself"),
    (lambda f: f.add_link("a", "zz", 100), "link a--zz: unknown node 'zz'"),
    (lambda f: f.add_link("a", "b", 0), "link a--b: capacity_gbps must be positive and finite, got 0"),
    (lambda f: f.add_link("a", "b", -5), "link a--b: capacity_gbps must be positive and finite, got -5"),
    (lambda f: f.add_link("a", "b", 10, length_km=-1), "link a--b: length_km must be zero or positive and finite, got -1"),
    (lambda f: f.add_link("a", "b", 10, kind="smoke"), "link a--b: unknown link kind 'smoke'"),
    (lambda f: f.add_node("a", "leaf"), "node 'a': duplicate node name"),
    (lambda f: f.add_node("c", "router"), "node 'c': unknown role 'router'"),
    (lambda f: f.add_node("c", "leaf", lat=100.0, lon=0.0), "node 'c': coordinates out of range"),
])
def test_model_errors_are_pinned(call, message):
    f = Fabric("t")
    f.add_node("a", "leaf")
    f.add_node("b", "spine")
    with pytest.raises(TopologyError) as exc:
        call(f)
    assert str(exc.value).startswith(message)


def test_ports_are_unique_per_node_and_parallel_links_are_kept():
    f = Fabric("t")
    f.add_node("a", "leaf")
    f.add_node("b", "spine")
    l1 = f.add_link("a", "b", 100)
    l2 = f.add_link("a", "b", 100)
    assert (l1.port_a, l2.port_a) == ("eth1", "eth2")
    assert len(f.links_between("a", "b")) == 2
    with pytest.raises(TopologyError, match="port 'eth1' of node 'a' is already used"):
        f.add_link("a", "b", 100, port_a="eth1")
    assert f.find_link("a--b#1") == l2
    assert f.find_link("a:eth2--b:eth2") == l2
    with pytest.raises(TopologyError, match="no such link"):
        f.find_link("a--c")


def test_validate_warns_on_isolated_and_components():
    f = Fabric("t")
    f.add_node("a", "leaf")
    f.add_node("b", "host")
    assert any("isolated" in w for w in f.validate())
    assert any("connected components" in w for w in f.validate())
