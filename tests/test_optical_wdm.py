"""Routing and wavelength assignment: independent checker, ring optimum, blocked reasons, CLI."""

from __future__ import annotations

import json
import math
from collections import Counter

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.errors import ConfigError
from optical.catalog import Transceiver, pick_transceiver
from optical.wdm import Demand, load_demands, plan_wdm

T100 = Transceiver("test-100G", 100.0, 50.0, 1e9, "test")


def ring(n, fibres=1, km=100.0):
    g = nx.cycle_graph([f"n{i}" for i in range(n)])
    nx.set_edge_attributes(g, km, "length_km")
    nx.set_edge_attributes(g, fibres, "fibres")
    return g


def check_rwa(g, demands, data, rate_gbps, n_channels):
    """Independent checker: every lightpath follows fibres from src to dst on ONE wavelength index
    (continuity), no (fibre, wavelength) carries more lightpaths than there are parallel fibres,
    wavelength indices are inside the spectrum, each demand gets ceil(tbps/rate) lightpaths (or is
    listed as blocked), protection legs are link-disjoint from their working leg."""
    use = Counter()
    per_demand = Counter()
    legs = {}
    for lp in data["lightpaths"]:
        r = lp["route"]
        assert r[0] == lp["src"] and r[-1] == lp["dst"]
        assert len(set(r)) == len(r), "route revisits a node"
        assert isinstance(lp["wavelength"], int) and 0 <= lp["wavelength"] < n_channels
        assert lp["rate_gbps"] == rate_gbps
        for u, v in zip(r, r[1:], strict=False):
            assert g.has_edge(u, v), f"no fibre {u}--{v}"
            use[frozenset((u, v)), lp["wavelength"]] += 1
        if not lp["protection"]:
            per_demand[lp["demand"]] += 1
        legs.setdefault(lp["demand"], []).append(lp)
    for (e, w), n in use.items():
        u, v = tuple(e)
        assert n <= g.edges[u, v].get("fibres", 1), f"wavelength {w} used {n}x on {u}--{v}"
    blocked = {b["demand"]: b["lightpaths"] for b in data["blocked"]}
    for i, d in enumerate(demands):
        need = math.ceil(d.tbps * 1000 / rate_gbps - 1e-9)
        assert per_demand[i] + blocked.get(i, 0) == need
        if d.protect:
            work = [lp for lp in legs.get(i, []) if not lp["protection"]]
            prot = [lp for lp in legs.get(i, []) if lp["protection"]]
            assert len(work) == len(prot)
            for a, b in zip(work, prot, strict=True):
                ea = {frozenset(x) for x in zip(a["route"], a["route"][1:], strict=False)}
                eb = {frozenset(x) for x in zip(b["route"], b["route"][1:], strict=False)}
                assert not ea & eb
    # Wavelengths used, max fibre load (recomputed here) and the bound.
    used = len({lp["wavelength"] for lp in data["lightpaths"]})
    assert data["wavelengths_used"] == used
    load = Counter()
    for lp in data["lightpaths"]:
        for u, v in zip(lp["route"], lp["route"][1:], strict=False):
            load[frozenset((u, v))] += 1
    max_load = max((math.ceil(n / g.edges[tuple(e)].get("fibres", 1)) for e, n in load.items()), default=0)
    assert data["max_fiber_load"] == max_load
    assert used >= max_load >= data["lower_bound"]


@pytest.mark.parametrize("n", [5, 6, 7, 9])
def test_ring_all_to_all_known_optimum(n):
    # One lightpath per unordered pair. Counting bound: every pair needs at least its ring distance in
    # fibre-hops; n links share sum(dist) -> load >= ceil(sum/n); (n^2-1)/8 for odd n, ceil(n^2/8) for
    # n = 6. Shortest-path routing on odd rings meets it, and so must the optimal assignment.
    g = ring(n)
    demands = [Demand(f"n{i}", f"n{j}", 0.1) for i in range(n) for j in range(i + 1, n)]
    total = sum(min(j - i, n - (j - i)) for i in range(n) for j in range(i + 1, n))
    optimum = math.ceil(total / n)
    assert optimum == ((n * n - 1) // 8 if n % 2 else math.ceil(n * n / 8))
    r = plan_wdm(g, demands, T100, spectrum_ghz=50 * 40, k=2, solver="cp-sat", time_limit_s=30)
    check_rwa(g, demands, r.data, 100.0, 40)
    assert r.solver_info["status"] == "OPTIMAL"
    assert r.data["wavelengths_used"] == optimum
    assert r.data["lower_bound"] == optimum
    ff = plan_wdm(g, demands, T100, spectrum_ghz=50 * 40, k=2, solver="first-fit")
    check_rwa(g, demands, ff.data, 100.0, 40)
    assert ff.data["wavelengths_used"] >= optimum


def test_blocked_reasons():
    g = nx.Graph()
    g.add_edge("a", "b", length_km=900.0, fibres=1)   # over a 700 km reach
    g.add_edge("b", "c", length_km=100.0, fibres=1)
    g.add_node("island")
    t = pick_transceiver("1.6T")
    demands = [Demand("a", "island", 1.6),                       # no path
               Demand("a", "b", 1.6),                            # needs regeneration (off)
               Demand("b", "c", 1.6, max_latency_ms=0.1),        # 100 km > 0.49 ms > cap
               Demand("b", "c", 1.6, protect=True),              # no disjoint pair on a tree
               Demand("b", "c", 3.2)]                            # spectrum of 1 channel: 2nd blocked
    r = plan_wdm(g, demands, t, spectrum_ghz=200.0, regen=False, solver="cp-sat", time_limit_s=5)
    check_rwa(g, demands, r.data, 1600.0, 1)
    why = {b["demand"]: b for b in r.data["blocked"]}
    assert "no fibre path" in why[0]["reason"]
    assert "reach" in why[1]["reason"] and "regeneration is off" in why[1]["reason"]
    assert "cap" in why[2]["reason"]
    assert "link-disjoint" in why[3]["reason"]
    assert why[4]["lightpaths"] == 1 and "no wavelength free" in why[4]["reason"]
    # With regeneration on, a-b is carried with one in-line regenerator.
    r2 = plan_wdm(g, [Demand("a", "b", 1.6)], t, spectrum_ghz=200.0, regen=True)
    assert r2.data["blocked"] == [] and r2.data["lightpaths"][0]["regenerators"] == ["inline:a--b#1"]


def test_parallel_fibres_reuse_a_wavelength():
    g = nx.Graph()
    g.add_edge("x", "y", length_km=50.0, fibres=2)
    demands = [Demand("x", "y", 0.2)]
    r = plan_wdm(g, demands, T100, spectrum_ghz=50.0)
    check_rwa(g, demands, r.data, 100.0, 1)
    assert r.data["blocked"] == [] and r.data["wavelengths_used"] == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(4, 7), extra=st.integers(0, 4), seed=st.integers(0, 10_000),
       n_dem=st.integers(1, 8), protect=st.booleans(), channels=st.integers(2, 6))
def test_random_instances_pass_checker(n, extra, seed, n_dem, protect, channels):
    import random

    rnd = random.Random(seed)
    g = ring(n)
    nodes = list(g.nodes)
    for _ in range(extra):
        u, v = rnd.sample(nodes, 2)
        g.add_edge(u, v, length_km=float(rnd.randint(50, 400)), fibres=rnd.randint(1, 2))
    demands = []
    for _ in range(n_dem):
        u, v = rnd.sample(nodes, 2)
        demands.append(Demand(u, v, rnd.choice([0.1, 0.2, 0.3]), protect and rnd.random() < 0.5))
    ff = plan_wdm(g, demands, T100, spectrum_ghz=50.0 * channels, k=3, solver="first-fit")
    check_rwa(g, demands, ff.data, 100.0, channels)
    cp = plan_wdm(g, demands, T100, spectrum_ghz=50.0 * channels, k=3, solver="cp-sat", time_limit_s=5,
                  workers=1)
    check_rwa(g, demands, cp.data, 100.0, channels)
    served = lambda d: len([x for x in d["lightpaths"] if not x["protection"]])  # noqa: E731
    assert served(cp.data) >= served(ff.data)
    if cp.solver_info["status"] == "OPTIMAL" and served(cp.data) == served(ff.data):
        assert cp.data["wavelengths_used"] <= ff.data["wavelengths_used"]


def test_demand_file_errors(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("demands:\n  - {src: a, dst: b, tbps: -1}\n")
    with pytest.raises(ConfigError, match=r"demands\[0\]\.tbps"):
        load_demands(p)
    p.write_text("demands:\n  - {src: a, dst: a, tbps: 1}\n")
    with pytest.raises(ConfigError, match="same"):
        load_demands(p)
    p.write_text("demands:\n  - {src: a, dst: b, tbps: 1, colour: red}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_demands(p)


def test_cli_wdm_chinanet_json_and_plan(cli, tmp_path):
    from fabric.io.gml import load_gml, zoo_path
    from optical.fibre import wdm_site_graph

    p = tmp_path / "d.yaml"
    p.write_text("demands:\n  - {src: Beijing, dst: Shanghai, tbps: 3.2, protect: true}\n"
                 "  - {src: Guangzhou, dst: Chengdu, tbps: 1.6}\n"
                 "  - {src: Beijing, dst: Guangzhou, tbps: 1.6, max_latency_ms: 5}\n")
    plan = tmp_path / "plan.json"
    r = cli(["plan", "wdm", "zoo:Chinanet", "--demand", p, "--rate", "1.6T", "--json", "--plan", plan])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    for key in ("wavelengths_used", "lower_bound", "max_fiber_load", "blocked", "lightpaths", "solver"):
        assert key in data
    g = wdm_site_graph(load_gml(zoo_path("Chinanet")))
    check_rwa(g, load_demands(p), data, 1600.0, data["channels"])
    assert [b["demand"] for b in data["blocked"]] == [2]
    from fabric.plan import Plan

    assert Plan.load(plan).wdm.to_dict()["wavelengths_used"] == data["wavelengths_used"]


def test_cli_wdm_protect_flag_and_bad_site(cli, tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("demands:\n  - {src: beijing, dst: shanghai, tbps: 1.6}\n")
    r = cli(["plan", "wdm", "example", "--demand", p, "--protect", "--json"])
    data = json.loads(r.stdout)
    assert r.exit_code == 0
    # The example has two WAN fibres between the same two sites: the same route twice, not disjoint.
    assert data["blocked"] and "link-disjoint" in data["blocked"][0]["reason"]
    p.write_text("demands:\n  - {src: beijing, dst: atlantis, tbps: 1.6}\n")
    r = cli(["plan", "wdm", "example", "--demand", p])
    assert r.exit_code == 2 and "atlantis" in r.output and "demands[0].dst" in r.output
