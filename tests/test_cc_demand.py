"""The collective scenarios come from the fabric.traffic Demand generators (issue 7)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fabric import traffic
from fabric.ccsim import scenarios
from fabric.ccsim.packet import PacketConfig, simulate
from fabric.errors import ConfigError


def _leaf(h: str) -> str:
    return h.split("-")[0]


@pytest.mark.parametrize("n", [2, 5, 8])
def test_allreduce_flows_are_the_ring_generators_pairs(n):
    sc = scenarios.allreduce(n, 2e6, seed=3)
    # independent oracle: the ranks in the order the scenario documents (round-robin over leaves),
    # each sending to the next one, the last to the first
    hosts = sc.fabric.endpoints()
    leaves = sorted({_leaf(h) for h in hosts})
    ranks = [[h for h in hosts if _leaf(h) == leaves[i % len(leaves)]][i // len(leaves)] for i in range(n)]
    ring = [(ranks[i], ranks[(i + 1) % n]) for i in range(n)]
    assert [(f.src, f.dst) for f in sc.flows] == ring
    gen = traffic.ring_allreduce(sc.fabric, ranks, 400.0, 3, per_rail=False)
    assert [(f.src, f.dst) for f in sc.flows] == gen.pairs()
    assert [f.sport for f in sc.flows] == [f.sport for f in gen.flows]          # the QPs' source ports
    # bytes: 2(n-1) steps of data/n per rank
    assert all(f.size_bytes == pytest.approx(2 * (n - 1) / n * 2e6) for f in sc.flows)
    assert sc.demand is not None and sc.demand.pairs() == ring


def test_alltoall_flows_are_every_ordered_pair():
    n, data = 6, 3e6
    sc = scenarios.alltoall(n, data, seed=2)
    ranks = sorted({f.src for f in sc.flows})
    assert len(ranks) == n
    oracle = sorted((a, b) for a in ranks for b in ranks if a != b)
    assert sorted((f.src, f.dst) for f in sc.flows) == oracle
    assert sorted((f.src, f.dst) for f in sc.flows) == sorted(traffic.all_to_all(sc.fabric, ranks, 1.0).pairs())
    # each rank sends one shard (data/n) to each peer
    assert all(f.size_bytes == pytest.approx(data / n) for f in sc.flows)
    per_src = {r: sum(f.size_bytes for f in sc.flows if f.src == r) for r in ranks}
    assert all(v == pytest.approx((n - 1) / n * data) for v in per_src.values())


def test_flows_from_demand_splits_bytes_by_rate_and_keeps_sports():
    fab, ranks = scenarios._ranks(4, 400.0)
    d = traffic.tree_allreduce(fab, ranks, 100.0, 1, per_rail=False, qps_per_pair=2)
    fl = scenarios.flows_from_demand(d, bytes_per_src=1e6)
    for r in ranks:                                       # a source's bytes add up to what it sends
        assert sum(f.size_bytes for f in fl if f.src == r) == pytest.approx(1e6)
    shares = {(f.src, f.dst, f.sport): f.rate_gbps for f in d.flows}
    for f in fl:
        assert f.size_bytes == pytest.approx(1e6 * shares[(f.src, f.dst, f.sport)] / 100.0)
    fl = scenarios.flows_from_demand(d, duration_s=1e-3)
    assert fl[0].size_bytes == pytest.approx(d.flows[0].rate_gbps * 1e9 / 8 * 1e-3)
    with pytest.raises(ConfigError, match="exactly one"):
        scenarios.flows_from_demand(d)
    with pytest.raises(ConfigError, match="not a ring"):
        scenarios.ring_bytes_per_src(d, 1e6)


def test_simulate_takes_a_demand():
    fab, ranks = scenarios._ranks(4, 400.0)
    d = traffic.permutation(fab, ranks, 100.0, seed=4)
    r = simulate(fab, d, PacketConfig(cc="dcqcn", t_end_s=200e-6))
    m = r.metrics()
    assert m["flows"] == 4 and m["drops"] == 0
    # each flow offers 100 Gb/s for 200 us = 2.5 MB, well under line rate: all of it is delivered
    assert np.allclose(r.delivered_bytes, 100e9 / 8 * 200e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ["allreduce", "alltoall"])
def test_collective_determinism_for_a_seed(name):
    a, b, c = (scenarios.get(name, n=6, data_bytes=1e6, seed=s) for s in (5, 5, 6))
    assert a.flows == b.flows
    assert [f.sport for f in a.flows] != [f.sport for f in c.flows]
    ra = simulate(a.fabric, a.flows, PacketConfig(t_end_s=a.t_end_s, seed=5))
    rb = simulate(b.fabric, b.flows, PacketConfig(t_end_s=b.t_end_s, seed=5))
    assert ra.stats == rb.stats
    assert np.array_equal(ra.finish_s, rb.finish_s) and np.array_equal(ra.queue_bytes, rb.queue_bytes)
    assert ra.metrics()["completed"] == len(a.flows) and ra.metrics()["drops"] == 0


def test_cli_alltoall_and_allreduce(cli):
    keys = None
    for name in ("allreduce", "alltoall"):
        r = cli(["sim", "cc", name, "--senders", "4", "--flow-kb", "400", "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output[r.output.index("{"):])
        assert doc["scenario"] == name and doc["completed"] == doc["flows"] == (4 if name == "allreduce" else 12)
        assert keys is None or set(doc) == keys
        keys = set(doc)
    assert cli(["sim", "cc", "alltoall", "--senders", "1"]).exit_code == 2
