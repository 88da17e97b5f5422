"""Demand generators, job placement and demand files."""

from __future__ import annotations

from collections import Counter

import pytest

from fabric.builders import clos, rail_optimized
from fabric.errors import ConfigError
from fabric.traffic import (
    ROCEV2_UDP_DPORT,
    all_to_all,
    incast,
    load_demand,
    load_job,
    permutation,
    place_job,
    ring_allreduce,
    tree_allreduce,
    uniform,
)


@pytest.fixture
def rail():
    return rail_optimized(8, 4, servers_per_su=4, spines=2, uplinks_per_leaf=2)


def test_ring_is_per_rail_and_every_gpu_sends_and_receives_once(rail):
    gpus = rail.nodes("gpu")
    d = ring_allreduce(rail, gpus, 100.0, seed=1)
    assert len(d.flows) == len(gpus)
    assert Counter(f.src for f in d.flows) == Counter(gpus) == Counter(f.dst for f in d.flows)
    for f in d.flows:
        assert rail.node(f.src)["rail"] == rail.node(f.dst)["rail"]
        assert f.dport == ROCEV2_UDP_DPORT and 0xC000 <= f.sport <= 0xFFFF
    assert d.total_gbps() == pytest.approx(100.0 * len(gpus))
    one = ring_allreduce(rail, gpus, 100.0, seed=1, per_rail=False, qps_per_pair=2)
    assert len(one.flows) == 2 * len(gpus) and sum(one.matrix().values()) == pytest.approx(100.0 * len(gpus))


def test_generators_are_deterministic_for_a_seed(rail):
    gpus = rail.nodes("gpu")
    for gen in (ring_allreduce, tree_allreduce, all_to_all, permutation, incast, uniform):
        a, b, c = gen(rail, gpus, 50.0, 3), gen(rail, gpus, 50.0, 3), gen(rail, gpus, 50.0, 4)
        assert a.to_rows() == b.to_rows()
        assert a.to_rows() != c.to_rows()


def test_permutation_is_a_derangement_and_all_to_all_rates():
    fab = clos(4, 2, 4)
    eps = fab.endpoints()
    d = permutation(fab, eps, 80.0, seed=9)
    assert sorted(f.dst for f in d.flows) == sorted(eps)
    assert all(f.src != f.dst for f in d.flows)
    a2a = all_to_all(fab, eps, 150.0, seed=0)
    assert len(a2a.flows) == len(eps) * (len(eps) - 1)
    sent = Counter()
    for f in a2a.flows:
        sent[f.src] += f.rate_gbps
    assert all(v == pytest.approx(150.0) for v in sent.values())
    inc = incast(fab, eps, 10.0, seed=0, target=eps[3])
    assert {f.dst for f in inc.flows} == {eps[3]} and len(inc.flows) == len(eps) - 1


def test_halving_doubling_partners():
    fab = clos(1, 1, 8)
    eps = fab.endpoints()
    d = tree_allreduce(fab, eps, 100.0, seed=0)
    m = d.matrix()
    assert set(m) == {(eps[i], eps[i ^ (1 << k)]) for i in range(8) for k in range(3)}
    assert sum(r for (s, _), r in m.items() if s == eps[0]) == pytest.approx(100.0)
    d6 = tree_allreduce(fab, eps[:6], 100.0, seed=0)  # ranks 4, 5 fold onto 0, 1
    assert (eps[4], eps[0]) in d6.matrix() and (eps[1], eps[5]) in d6.matrix()


def test_place_job_partially_filled_servers(rail):
    gpus = place_job(rail, servers=3, gpus_per_server=2, seed=1)
    assert len(gpus) == 6
    servers = Counter(rail.node(g)["label"] for g in gpus)
    assert len(servers) == 3 and set(servers.values()) == {2}
    assert place_job(rail, 3, 2, seed=1) == gpus
    with pytest.raises(ConfigError, match="gpus_per_server"):
        place_job(rail, 2, 9)


def test_job_file(rail, tmp_path):
    p = tmp_path / "job.yaml"
    p.write_text("name: t\nplace: {servers: 2, gpus_per_server: 3, seed: 2}\ncollective: all-to-all\nrate_gbps: 50\n")
    job = load_job(p, rail)
    assert job.name == "t" and len(job.gpus) == 6 and job.collective == "all-to-all" and job.rate_gbps == 50
    p.write_text("gpus: [s1-g0, nosuch]\n")
    with pytest.raises(ConfigError, match=r"job.yaml.*unknown endpoint 'nosuch'"):
        load_job(p, rail)
    p.write_text("gpus: [s1-g0, s2-g0]\ncolour: red\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['colour'\]"):
        load_job(p, rail)
    p.write_text("gpus: [s1-g0, s2-g0]\ncollective: gossip\n")
    with pytest.raises(ConfigError, match="collective"):
        load_job(p, rail)


def test_demand_csv_and_yaml(rail, tmp_path):
    c = tmp_path / "d.csv"
    c.write_text("src,dst,rate_gbps,sport\ns1-g0,s5-g0,100,50000\ns2-g1,s6-g1,50,\n")
    d = load_demand(c, rail)
    assert len(d.flows) == 2 and d.flows[0].sport == 50000 and d.matrix()[("s2-g1", "s6-g1")] == 50
    c.write_text("src,dst,rate_gbps\ns1-g0,s5-g0,-3\n")
    with pytest.raises(ConfigError, match=r"d.csv: line 2: rate_gbps must be positive"):
        load_demand(c, rail)
    c.write_text("src,dst,rate_gbps\ns1-g0,spine1,3\n")
    with pytest.raises(ConfigError, match="not an endpoint"):
        load_demand(c, rail)
    y = tmp_path / "d.yaml"
    y.write_text("matrix: {s1-g0: {s5-g0: 10, s6-g0: 20}}\n")
    assert load_demand(y, rail).total_gbps() == 30
    y.write_text("flows: [{src: s1-g0, dst: s5-g0, rate_gbps: 1, sport: 70000}]\n")
    with pytest.raises(ConfigError, match=r"flows\[0\]: sport must be 0..65535"):
        load_demand(y, rail)


def test_servers_are_distinct_per_site():
    from fabric.builders import example_two_site
    from fabric.traffic import servers_of

    fab = example_two_site()
    servers = servers_of(fab)
    assert len(servers) == 8 and all(len(g) == 8 for g in servers.values())
    assert len(place_job(fab, servers=8, gpus_per_server=6, seed=3)) == 48
