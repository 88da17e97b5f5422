"""The min-MLU LP, WCMP quantisation and the ECMP baseline against independent oracles."""

from __future__ import annotations

import itertools
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from fabric.builders import clos, example_two_site, fat_tree
from fabric.errors import InfeasibleError
from fabric.plan import Plan
from fabric.topology import Fabric
from fabric.traffic import Demand, Flow, all_to_all, permutation, ring_allreduce, uniform
from fabric.wcmp import Limits, WcmpPlanner, fail_fabric, reduce_group, solve
from fabric.wcmp.paths import Network


# ----------------------------------------------------------------------------- oracle: scipy linprog
def _linprog_mlu(fab: Fabric, demand: Demand) -> float:
    """Path-based min-MLU LP, per (src, dst) pair, over all minimum-hop switch paths (networkx), solved
    by scipy/HiGHS: an independent formulation of what fabric.wcmp solves per destination."""
    g = nx.DiGraph()
    sw = [n for n in fab.graph if fab.role(n) not in ("gpu", "nic", "host")]
    for lk in fab.links(up_only=True):
        if lk.a in sw and lk.b in sw:
            for u, v in ((lk.a, lk.b), (lk.b, lk.a)):
                cap = g.edges[u, v]["cap"] if g.has_edge(u, v) else 0.0
                g.add_edge(u, v, cap=cap + lk.capacity_gbps)
    leaf_of = {e: next(iter(fab.graph.neighbors(e))) for e in fab.endpoints()}
    comms = []
    for (s, d), r in demand.matrix().items():
        a, b = leaf_of[s], leaf_of[d]
        if a != b:
            comms.append((r, [list(zip(p, p[1:], strict=False)) for p in nx.all_shortest_paths(g, a, b)]))
    edges = list(g.edges)
    eidx = {e: i for i, e in enumerate(edges)}
    nvar = sum(len(ps) for _, ps in comms) + 1
    a_ub = np.zeros((len(edges), nvar))
    a_eq = np.zeros((len(comms), nvar))
    b_eq = np.zeros(len(comms))
    col = 0
    for c, (r, ps) in enumerate(comms):
        for p in ps:
            a_eq[c, col] = 1.0
            for e in p:
                a_ub[eidx[e], col] += r
            col += 1
        b_eq[c] = 1.0
    for e, i in eidx.items():
        a_ub[i, -1] = -g.edges[e]["cap"]
    cost = np.zeros(nvar)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(len(edges)), A_eq=a_eq, b_eq=b_eq, bounds=(0, None),
                  method="highs")
    assert res.status == 0
    return float(res.fun)


CASES = [
    ("clos-4x2-perm", lambda: clos(4, 2, 4, 2, host_gbps=100, uplink_gbps=100), permutation, []),
    ("clos-4x2-uniform-fail", lambda: clos(4, 2, 4, 4, host_gbps=100, uplink_gbps=100), uniform,
     ["leaf2--spine1"]),
    ("clos-mixed-speeds", lambda: _mixed(), all_to_all, []),
    ("fat-tree-4-a2a-fail", lambda: fat_tree(4, 100), all_to_all, ["p0-a1--c1-0"]),
    ("fat-tree-4-perm-fail", lambda: fat_tree(4, 100), permutation, ["p1-e0--p1-a0", "p2-a1--c1-1"]),
]


def _mixed() -> Fabric:
    f = clos(3, 3, 2, 3, host_gbps=100, uplink_gbps=100)
    f.add_link("leaf1", "spine2", 400)
    f.add_link("leaf3", "spine3", 200)
    return f


@pytest.mark.parametrize("name,build,gen,failed", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", [1, 2])
def test_lp_matches_scipy_linprog(name, build, gen, failed, seed):
    fab, _ = fail_fabric(build(), failed)
    dem = gen(fab, fab.endpoints(), 100.0, seed)
    res = solve(fab, dem)
    assert res.solver.status == "OPTIMAL" and res.solver.gap == 0.0
    assert res.mlu_lp == pytest.approx(_linprog_mlu(fab, dem), rel=1e-7, abs=1e-9)
    # the unquantised LP split realised hop by hop reproduces the LP value (destination-based is lossless)
    assert res.mlu_lp_fluid == pytest.approx(res.mlu_lp, rel=1e-6)
    assert res.mlu_lp <= res.mlu_ecmp + 1e-9
    assert res.mlu_lp <= res.mlu_wcmp + 1e-9


# ----------------------------------------------------------------------------- oracle: brute force
def _tiny() -> Fabric:
    f = Fabric("tiny")
    for n, r in (("h1", "host"), ("h2", "host"), ("h3", "host"), ("h4", "host"), ("l1", "leaf"), ("l2", "leaf"),
                 ("s1", "spine"), ("s2", "spine")):
        f.add_node(n, r)
    for h, leaf in (("h1", "l1"), ("h2", "l1"), ("h3", "l2"), ("h4", "l2")):
        f.add_link(h, leaf, 1000)
    f.add_link("l1", "s1", 100)
    f.add_link("l1", "s2", 300)
    f.add_link("l2", "s1", 200)
    f.add_link("l2", "s2", 100)
    return f


def test_lp_matches_brute_force_over_all_splits():
    fab = _tiny()
    dem = Demand([Flow("h1", "h3", 250.0, 50000), Flow("h4", "h2", 180.0, 50001), Flow("h2", "h4", 90.0, 50002)])
    caps = {("l1", "s1"): 100, ("s1", "l2"): 200, ("l1", "s2"): 300, ("s2", "l2"): 100,
            ("l2", "s1"): 200, ("s1", "l1"): 100, ("l2", "s2"): 100, ("s2", "l1"): 300}
    best = np.inf
    steps = np.linspace(0, 1, 101)
    for a, b in itertools.product(steps, steps):  # a: share of l1->l2 traffic via s1; b: l2->l1 via s1
        up = 340.0  # h1->h3 + h2->h4 leave l1
        load = {("l1", "s1"): a * up, ("s1", "l2"): a * up, ("l1", "s2"): (1 - a) * up, ("s2", "l2"): (1 - a) * up,
                ("l2", "s1"): b * 180, ("s1", "l1"): b * 180, ("l2", "s2"): (1 - b) * 180,
                ("s2", "l1"): (1 - b) * 180}
        best = min(best, max(load[e] / caps[e] for e in caps))
    res = solve(fab, dem)
    # the grid contains the optimum's neighbourhood: LP <= grid min <= LP + one grid step of slack
    assert res.mlu_lp <= best + 1e-9
    assert best - res.mlu_lp < 0.02
    # exact optimum: 340 split so that a*340/100 == (1-a)*340/100 ... bottleneck l1->s1 / s2->l2: a = 0.5
    assert res.mlu_lp == pytest.approx(1.7, rel=1e-9)


# ----------------------------------------------------------------------------- properties
def test_symmetric_fat_tree_uniform_wcmp_equals_ecmp():
    fab = fat_tree(4, 100)
    res = solve(fab, all_to_all(fab, fab.endpoints(), 100.0, seed=3))
    assert res.mlu_wcmp == pytest.approx(res.mlu_ecmp, rel=1e-12)
    assert res.mlu_wcmp == pytest.approx(res.mlu_lp, rel=1e-9)
    assert res.max_delta == 1.0
    for g in res.groups:
        assert len({h["weight"] for h in g["next_hops"]}) == 1, g


def test_failed_spine_link_wcmp_beats_ecmp_within_quantisation_bound():
    fab, _ = fail_fabric(clos(4, 2, 4, 4, host_gbps=100, uplink_gbps=100), ["leaf2--spine1"])
    dem = all_to_all(fab, fab.endpoints(), 90.0, seed=1)
    res = solve(fab, dem)
    assert res.mlu_wcmp < res.mlu_ecmp - 1e-6
    # two-tier Clos: one choice per path (at the source leaf), so quantisation costs at most max δ
    assert res.mlu_lp - 1e-9 <= res.mlu_wcmp <= res.mlu_lp * res.max_delta + 1e-9


def test_failed_link_on_fat_tree_wcmp_within_compound_delta():
    fab, _ = fail_fabric(fat_tree(4, 100), ["p0-a1--c1-0"])
    res = solve(fab, all_to_all(fab, fab.endpoints(), 100.0, seed=1), limits=Limits(max_group_weight=4))
    assert res.mlu_wcmp < res.mlu_ecmp
    # three tiers: two choices per up path (edge, agg) so the bound is δ squared
    assert res.mlu_lp - 1e-9 <= res.mlu_wcmp <= res.mlu_lp * res.max_delta ** 2 + 1e-9


@pytest.mark.parametrize("failed,nodes", [(["p0-a1--c1-0"], []), (["p0-e0--p0-a0", "p3-a0--c0-1"], []),
                                          ([], ["c0-0"]), ([], ["p2-a1"])])
def test_warm_recompute_equals_cold_solve(failed, nodes):
    fab = fat_tree(4, 100)
    dem = all_to_all(fab, fab.endpoints(), 100.0, seed=5)
    planner = WcmpPlanner(fab, dem)
    planner.solve()
    warm = planner.fail(failed, nodes)
    cold = solve(fail_fabric(fab, failed, nodes)[0], dem)
    assert warm.mlu_lp == pytest.approx(cold.mlu_lp, rel=1e-7)
    assert warm.mlu_ecmp == pytest.approx(cold.mlu_ecmp, rel=1e-9)
    assert warm.mlu_wcmp == pytest.approx(cold.mlu_wcmp, rel=1e-6)
    assert warm.solver.status == "OPTIMAL"


def test_warm_recompute_on_rail_fabric_reuses_untouched_components():
    fab = example_two_site()
    dem = ring_allreduce(fab, fab.nodes("gpu"), 200.0, seed=1)
    planner = WcmpPlanner(fab, dem)
    base = planner.solve()
    warm = planner.fail(["beijing-su1-rail0--beijing-spine1"])
    cold = solve(fail_fabric(fab, ["beijing-su1-rail0--beijing-spine1"])[0], dem)
    assert warm.solver.warm
    assert warm.mlu_lp == pytest.approx(cold.mlu_lp, rel=1e-9)
    assert warm.mlu_wcmp == pytest.approx(cold.mlu_wcmp, rel=1e-9)
    assert warm.mlu_ecmp == pytest.approx(cold.mlu_ecmp, rel=1e-9)
    assert base.mlu_lp <= warm.mlu_lp * (1 + 1e-12)
    # cumulative: a second failure keeps the first
    again = planner.fail(["shanghai-su1-rail3--shanghai-spine2"])
    assert len(again.failed_links) == 2


def test_unreachable_pair_is_named():
    fab, _ = fail_fabric(clos(2, 1, 2, 1), ["leaf2--spine1"])
    with pytest.raises(InfeasibleError, match=r"no path from leaf1-h\d to leaf2-h\d"):
        solve(fab, permutation(fab, ["leaf1-h1", "leaf2-h1"], 10.0, seed=0))


def test_candidate_paths_are_up_down_in_a_fat_tree():
    fab = fat_tree(4)
    net = Network(fab)
    paths = net.paths("p0-e0-h0", "p3-e1-h1")
    assert len(paths) == 4  # 2 aggs x 2 cores
    tiers = {"host": 0, "leaf": 1, "spine": 2, "superspine": 3}
    for p in paths:
        t = [tiers[fab.role(n)] for n in p]
        peak = t.index(max(t))
        assert t[: peak + 1] == sorted(t[: peak + 1]) and t[peak:] == sorted(t[peak:], reverse=True)


def test_wan_graph_uses_downhill_dag():
    from fabric.io import load_fabric

    fab = load_fabric("zoo:Nsfnet")
    net = Network(fab)
    assert not net.tiered
    a, b = fab.nodes()[0], fab.nodes()[-1]
    # endpoints are needed for demand: attach a host to two cities
    fab.add_node("ha", "host")
    fab.add_node("hb", "host")
    fab.add_link("ha", a, 100)
    fab.add_link("hb", b, 100)
    res = solve(fab, Demand([Flow("ha", "hb", 50.0, 50000)]))
    assert res.solver.status == "OPTIMAL" and res.mlu_lp > 0
    assert res.mlu_lp <= res.mlu_ecmp + 1e-9


# ----------------------------------------------------------------------------- reduction
def _delta(p, w):
    p = np.asarray(p, float) / sum(p)
    tot = sum(w)
    return max((wi / tot) / pi for wi, pi in zip(w, p, strict=True) if wi > 0)


def test_reduce_group_examples():
    assert reduce_group([1, 1, 1, 1]) == ([1, 1, 1, 1], 1.0)
    w, d = reduce_group([2, 1], theta=1.0, max_weight=256)
    assert w == [2, 1] and d == 1.0
    w, d = reduce_group([0.7, 0.3], theta=1.0, max_weight=10)
    assert w == [7, 3] and d == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(shares=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=4),
       theta=st.floats(1.0, 2.0), max_weight=st.integers(1, 9))
def test_reduce_group_is_optimal_against_exhaustive_search(shares, theta, max_weight):
    w, d = reduce_group(shares, theta, max_weight=max_weight, max_members=8)
    assert sum(w) <= max_weight and all(x >= 0 for x in w) and sum(w) >= 1
    assert d == pytest.approx(_delta(shares, w), rel=1e-12)
    best = min(_delta(shares, v) for v in itertools.product(range(max_weight + 1), repeat=len(shares))
               if 0 < sum(v) <= max_weight)
    assert d >= best - 1e-12
    if best <= theta:
        assert d <= theta + 1e-12
    else:
        assert d == pytest.approx(best, rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(max_members=st.integers(1, 4), max_weight=st.integers(1, 16), table=st.integers(40, 400),
       seed=st.integers(0, 50))
def test_reduction_respects_every_switch_limit(max_members, max_weight, table, seed):
    fab, _ = fail_fabric(clos(4, 4, 2, 4, host_gbps=100, uplink_gbps=100), ["leaf1--spine2", "leaf3--spine4"])
    lim = Limits(max_members=max_members, max_group_weight=max_weight, table_size=table)
    try:
        res = solve(fab, uniform(fab, fab.endpoints(), 100.0, seed), limits=lim)
    except InfeasibleError as exc:  # a table too small for one entry per member is reported, never exceeded
        assert "table_size" in str(exc)
        return
    per_switch: dict[str, dict] = {}
    for g in res.groups:
        ws = [h["weight"] for h in g["next_hops"]]
        assert 1 <= len(ws) <= max_members and sum(ws) <= max_weight
        assert g["delta"] >= 1.0 - 1e-9
        sig = tuple((h["node"], h["port"], h["weight"]) for h in g["next_hops"])
        per_switch.setdefault(g["switch"], {})[sig] = sum(ws)
    for distinct in per_switch.values():
        assert sum(distinct.values()) <= table
    assert res.entries_used == sum(sum(d.values()) for d in per_switch.values())


# ----------------------------------------------------------------------------- CLI
def test_cli_plan_wcmp_json_plan_and_png(cli, tmp_path):
    r = cli(["plan", "wcmp", "example", "--demand", "ring", "--out-dir", tmp_path, "--json",
             "--fail", "beijing-su1-rail0--beijing-spine1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for k in ("mlu_lp", "mlu_wcmp", "mlu_ecmp", "groups", "entries_used", "max_delta"):
        assert k in out
    assert {"status", "seconds", "gap"} <= set(out["solver"])
    assert out["mlu_wcmp"] < out["mlu_ecmp"]
    assert out["baseline"]["mlu_lp"] <= out["mlu_lp"] * (1 + 1e-12)
    assert (tmp_path / "wcmp-util.png").read_bytes()[:4] == b"\x89PNG"
    sec = Plan.load(tmp_path / "plan.json").wcmp
    assert sec is not None and sec.provenance.solver == "GLOP" and sec.provenance.status == "OPTIMAL"
    g = sec.to_dict()["groups"][0]
    assert set(g) == {"switch", "dst", "next_hops", "delta"}
    assert set(g["next_hops"][0]) == {"node", "port", "weight"}
    for k in ("mlu_lp", "mlu_wcmp", "mlu_ecmp", "entries_used", "max_delta"):
        assert k in sec.to_dict()


def test_cli_errors_exit_2_with_one_line(cli, tmp_path):
    r = cli(["plan", "wcmp", "example", "--demand", "ring", "--out-dir", tmp_path, "--fail", "nosuch--link"])
    assert r.exit_code == 2 and "no such link" in r.output and "Traceback" not in r.output
    r = cli(["plan", "wcmp", "example", "--demand", "ring", "--out-dir", tmp_path, "--fail-node", "beijing-dci1",
             "--fail-node", "beijing-dci2"])
    assert r.exit_code == 2 and "no path from" in r.output
    assert not (tmp_path / "plan.json").exists()
    r = cli(["plan", "wcmp", "example", "--demand", "bogus", "--out-dir", tmp_path])
    assert r.exit_code == 2 and "not a demand kind" in r.output


def test_cli_max_mlu_check_exits_1(cli, tmp_path):
    r = cli(["plan", "wcmp", "example", "--demand", "all-to-all", "--out-dir", tmp_path, "--max-mlu", "0.5",
             "--no-png"])
    assert r.exit_code == 1


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), max_weight=st.integers(2, 6), fail=st.sampled_from(
    [["p0-a1--c1-0"], ["p1-e0--p1-a0"], ["p2-a0--c0-1", "p3-e1--p3-a1"]]))
def test_installed_groups_never_worse_than_ecmp(seed, max_weight, fail):
    # groups in a k=4 fat-tree have at most 2 members, so ECMP itself fits every max_weight >= 2
    fab, _ = fail_fabric(fat_tree(4, 100), fail)
    res = solve(fab, uniform(fab, fab.endpoints(), 100.0, seed), limits=Limits(max_group_weight=max_weight))
    assert res.mlu_lp - 1e-9 <= res.mlu_wcmp <= res.mlu_ecmp * (1 + 1e-9)


def test_dual_plane_endpoints_split_over_planes():
    from fabric.builders import dual_plane

    fab = dual_plane(4, 2, servers_per_segment=2, spines_per_plane=2, uplinks_per_leaf=2)
    dem = permutation(fab, fab.nodes("gpu"), 300.0, seed=1)
    res = solve(fab, dem)
    # every GPU sends 300 Gb/s over its two 200G plane ports: 300/400 is a lower bound, and reachable
    assert res.mlu_lp == pytest.approx(0.75, rel=1e-9) and res.mlu_access == 0.0
    nic = [g for g in res.groups if fab.role(g["switch"]) == "gpu"]
    assert nic and all({fab.node(h["node"])["plane"] for h in g["next_hops"]} == {"A", "B"} for g in nic)


def test_pdlp_agrees_with_glop_and_reports_a_bound():
    fab, _ = fail_fabric(fat_tree(4, 100), ["p0-a1--c1-0"])
    dem = all_to_all(fab, fab.endpoints(), 100.0, seed=1)
    glop = solve(fab, dem, solver="glop", certify=False)
    pdlp = solve(fab, dem, solver="pdlp", certify=False)
    assert "PDLP" in pdlp.solver.name and glop.solver.name == "GLOP"
    assert pdlp.mlu_lp == pytest.approx(glop.mlu_lp, rel=1e-4)
    assert pdlp.solver.bound <= pdlp.solver.objective + 1e-12


def test_recompute_when_failures_force_longer_paths():
    fab = clos(3, 2, 2, 2, host_gbps=100, uplink_gbps=100)
    dem = all_to_all(fab, fab.endpoints(), 60.0, seed=2)
    planner = WcmpPlanner(fab, dem)
    planner.solve()
    planner.fail(["leaf1--spine1"])
    res = planner.fail(["leaf2--spine2"])  # leaf1 -> leaf2 now needs leaf1-spine2-leaf3-spine1-leaf2
    # new candidate edges appeared: the old optimum bounds nothing, so column generation from the previous
    # flows runs until no path prices out (warm: it starts from them), and must still meet the cold optimum
    assert res.solver.warm
    cold = solve(fail_fabric(fab, ["leaf1--spine1", "leaf2--spine2"])[0], dem)
    assert res.mlu_lp == pytest.approx(cold.mlu_lp, rel=1e-9)
    assert res.mlu_ecmp == pytest.approx(cold.mlu_ecmp, rel=1e-9)
    assert res.mlu_wcmp == pytest.approx(cold.mlu_wcmp, rel=1e-9)
    assert len(res.failed_links) == 2


def test_cli_job_and_demand_file(cli, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("name: j\nplace: {servers: 5, gpus_per_server: 6, seed: 3}\ncollective: all-to-all\nrate_gbps: 100\n")
    r = cli(["plan", "wcmp", "example", "--job", job, "--out-dir", tmp_path, "--json", "--no-png"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["demand"] == "all-to-all (30 GPUs)" and out["mlu_lp"] <= out["mlu_ecmp"] + 1e-12
    flows = tmp_path / "flows.csv"
    flows.write_text("src,dst,rate_gbps\nbeijing-s1-g0,shanghai-s2-g0,300\nbeijing-s2-g1,beijing-s3-g1,200\n")
    r = cli(["plan", "wcmp", "example", "--demand", flows, "--out-dir", tmp_path, "--json", "--no-png"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["mlu_access"] == pytest.approx(0.75)
    flows.write_text("src,dst,rate_gbps\nbeijing-s1-g0,nowhere,300\n")
    r = cli(["plan", "wcmp", "example", "--demand", flows, "--out-dir", tmp_path, "--no-png"])
    assert r.exit_code == 2 and "flows.csv: line 2: dst 'nowhere' is not an endpoint" in r.output
