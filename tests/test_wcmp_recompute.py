"""The warm recompute after failures (column generation from the previous routing, fabric/wcmp/colgen.py)
against the cold LP on the failed fabric: scipy/HiGHS on an independent path formulation on small
fabrics, the arc LP (fabric.wcmp.lp.ComponentLP, GLOP) on medium ones. Two failures at once and spine node
failures included."""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_wcmp import _linprog_mlu

from fabric.builders import clos, rail_optimized
from fabric.errors import InfeasibleError
from fabric.traffic import Demand, all_to_all, permutation, ring_allreduce, uniform
from fabric.wcmp import WcmpPlanner, fail_fabric, solve
from fabric.wcmp.colgen import PathLP
from fabric.wcmp.lp import ComponentLP, components, demand_by_key, make_dest
from fabric.wcmp.paths import Network


def _check_flows(planner: WcmpPlanner) -> None:
    """The planner's per-destination flows conserve every injection and never use a link that is down."""
    net = planner.net
    for k, d in planner.dests.items():
        bal: dict[str, float] = defaultdict(float)
        for (_k, u, v), x in planner.flows[k].items():
            assert x >= 0.0
            if x > 1e-9:
                assert net.capacity_gbps(u, v) > 0, (k, u, v)
            bal[u] += x
            bal[v] -= x
        for u in d.nodes:
            if u != k:
                assert bal[u] == pytest.approx(d.inj.get(u, 0.0), abs=1e-6 * max(1.0, sum(d.inj.values())))


def _arc_lp_mlu(fab, dem) -> float:
    """The arc LP (fabric.wcmp.lp.ComponentLP, GLOP) over every component: the formulation the path LP
    replaces, solved from scratch."""
    net = Network(fab)
    inj, _access = demand_by_key(net, dem)
    dests = {k: make_dest(net, k, v, dem) for k, v in inj.items()}
    best = 0.0
    for keys in components(dests):
        status, u, _bound = ComponentLP(net, [dests[k] for k in keys], "glop", 60.0).solve_min()
        assert status == "OPTIMAL"
        best = max(best, u)
    return best


def _used_colgen(planner: WcmpPlanner) -> bool:
    return any(isinstance(lp, PathLP) for lp in planner.comp_lp.values())


CASES = [
    ("one link", ["leaf2--spine1"], []),
    ("two links at once", ["leaf1--spine2", "leaf3--spine1"], []),
    ("spine node", [], ["spine2"]),
    ("spine node and a link", ["leaf4--spine3"], ["spine1"]),
]


@pytest.mark.parametrize("links,nodes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("gen", [all_to_all, permutation, uniform], ids=lambda g: g.__name__)
def test_recompute_meets_the_linprog_optimum(links, nodes, gen):
    fab = clos(5, 3, 3, 3, host_gbps=100, uplink_gbps=100)
    dem = gen(fab, fab.endpoints(), 90.0, 3)
    planner = WcmpPlanner(fab, dem, certify=False)
    planner.solve()
    warm = planner.fail(links, nodes)
    failed = fail_fabric(fab, links, nodes)[0]
    oracle = _linprog_mlu(failed, dem)
    assert warm.mlu_lp == pytest.approx(oracle, rel=1e-7)
    assert warm.solver.status == "OPTIMAL" and warm.solver.bound <= oracle * (1 + 1e-7)
    assert warm.mlu_lp_fluid == pytest.approx(warm.mlu_lp, rel=1e-6)  # the splits realise the LP value
    assert warm.mlu_lp - 1e-9 <= warm.mlu_wcmp <= warm.mlu_ecmp * (1 + 1e-9)
    _check_flows(planner)
    assert _used_colgen(planner)
    cold = solve(failed, dem, certify=False)
    assert warm.mlu_lp == pytest.approx(cold.mlu_lp, rel=1e-7)
    assert warm.mlu_lp == pytest.approx(_arc_lp_mlu(failed, dem), rel=1e-7)
    assert warm.mlu_ecmp == pytest.approx(cold.mlu_ecmp, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), nfail=st.integers(1, 3), spine=st.booleans(), rate=st.floats(20.0, 150.0))
def test_recompute_random_failures_against_linprog(seed, nfail, spine, rate):
    fab = clos(4, 3, 3, 3, host_gbps=100, uplink_gbps=100)
    rng = np.random.default_rng(seed)
    links = [f"leaf{rng.integers(1, 5)}--spine{rng.integers(1, 4)}" for _ in range(nfail)]
    links = list(dict.fromkeys(links))
    nodes = [f"spine{rng.integers(1, 4)}"] if spine else []
    nodes = [n for n in nodes if all(not lk.endswith(n) for lk in links)]
    dem = uniform(fab, fab.endpoints(), rate, seed)
    planner = WcmpPlanner(fab, dem, certify=False)
    planner.solve()
    failed = fail_fabric(fab, links, nodes)[0]
    try:
        oracle = _linprog_mlu(failed, dem)
    except (nx.NetworkXNoPath, nx.NodeNotFound):  # a leaf is cut off: the recompute must name the pair
        with pytest.raises(InfeasibleError, match="no path from"):
            planner.fail(links, nodes)
        return
    warm = planner.fail(links, nodes)
    assert warm.mlu_lp == pytest.approx(oracle, rel=1e-7, abs=1e-9)
    assert warm.mlu_lp_fluid == pytest.approx(warm.mlu_lp, rel=1e-6)
    _check_flows(planner)


def test_recompute_twice_cumulative_equals_cold_of_both():
    fab = clos(5, 3, 3, 3, host_gbps=100, uplink_gbps=100)
    dem = all_to_all(fab, fab.endpoints(), 90.0, 1)
    planner = WcmpPlanner(fab, dem, certify=False)
    planner.solve()
    planner.fail(["leaf1--spine1"])
    again = planner.fail(["leaf2--spine3"])
    assert again.mlu_lp == pytest.approx(_linprog_mlu(fail_fabric(fab, ["leaf1--spine1", "leaf2--spine3"])[0], dem),
                                         rel=1e-7)
    assert _used_colgen(planner)


@pytest.mark.parametrize("links,nodes", [(["su1-rail0--spine1"], []), (["su1-rail0--spine1", "su2-rail0--spine3"], []),
                                         ([], ["spine2"])], ids=["one", "two", "spine-node"])
def test_medium_rail_fabric_shuffled_ring_against_the_arc_lp(links, nodes):
    # 128 servers x 8 GPUs, 4 SUs: shuffled rings put traffic across spines; the healthy fabric is certified
    # (no LP), the failed one is not, so the recompute runs column generation from the ECMP flows
    fab = rail_optimized(128, 8, servers_per_su=32, spines=8, uplinks_per_leaf=32)
    gpus = fab.nodes("gpu")
    shuffled = [gpus[i] for i in np.random.default_rng(3).permutation(len(gpus))]
    dem = ring_allreduce(fab, shuffled, 400.0, seed=1)
    planner = WcmpPlanner(fab, dem)
    planner.solve()
    warm = planner.fail(links, nodes)
    failed = fail_fabric(fab, links, nodes)[0]
    assert warm.mlu_lp == pytest.approx(_arc_lp_mlu(failed, dem), rel=1e-7)
    cold = solve(failed, dem, certify=False)
    assert warm.mlu_lp == pytest.approx(cold.mlu_lp, rel=1e-7)
    assert warm.mlu_ecmp == pytest.approx(cold.mlu_ecmp, rel=1e-9)
    assert warm.mlu_lp_fluid == pytest.approx(warm.mlu_lp, rel=1e-6)
    assert warm.mlu_lp - 1e-9 <= warm.mlu_wcmp <= warm.mlu_ecmp * (1 + 1e-9)
    assert not [n for n in warm.notes if "skipped" in n]
    _check_flows(planner)
    # a whole spine down leaves the fabric symmetric: ECMP meets the cut bound, no LP at all
    assert _used_colgen(planner) == (not nodes)


def test_second_phase_moves_no_more_than_phase_one():
    fab = clos(5, 3, 3, 3, host_gbps=100, uplink_gbps=100)
    dem = all_to_all(fab, fab.endpoints(), 90.0, 2)
    moved = {}
    for balance in (False, True):
        planner = WcmpPlanner(fab, dem, certify=False, balance=balance)
        planner.solve()
        before = {k: dict(f) for k, f in planner.flows.items()}
        planner.fail(["leaf2--spine1"])
        moved[balance] = sum(abs(planner.flows[k].get(e, 0.0) - before[k].get(e, 0.0))
                             for k in planner.flows for e in set(planner.flows[k]) | set(before[k]))
    assert moved[True] <= moved[False] + 1e-6


def test_demand_with_one_flow_recomputes():
    fab = clos(3, 2, 2, 2, host_gbps=100, uplink_gbps=100)
    from fabric.traffic import Flow

    dem = Demand([Flow("leaf1-h1", "leaf2-h1", 150.0, 50000)])
    planner = WcmpPlanner(fab, dem, certify=False)
    planner.solve()
    warm = planner.fail(["leaf1--spine1"])
    assert warm.mlu_lp == pytest.approx(1.5)
