"""Switch hashes, the numba flow simulation and QP source-port placement against references."""

from __future__ import annotations

import ipaddress
import json
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.builders import clos, example_two_site, fat_tree
from fabric.hashing import (
    CRC_TABLE,
    RSS_DEFAULT_KEY,
    HashConfig,
    Tables,
    crc32_nb,
    simulate,
    simulate_reference,
    toeplitz_nb,
    toeplitz_py,
)
from fabric.plan import Plan
from fabric.qp_ports import place_ports
from fabric.traffic import Demand, Flow, all_to_all, permutation, ring_allreduce
from fabric.wcmp import ecmp_groups, fail_fabric, solve


@settings(max_examples=50, deadline=None)
@given(data=st.binary(min_size=0, max_size=40), start=st.integers(0, 2**32 - 1))
def test_crc32_matches_zlib(data, start):
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(1, dtype=np.uint8)
    assert int(crc32_nb(buf, len(data), np.uint32(start), CRC_TABLE)) == zlib.crc32(data, start)


# Microsoft "Verifying the RSS Hash Calculation": IPv4 with TCP ports, default key.
RSS_VECTORS = [
    ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x51CCC178),
    ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xC626B0EA),
    ("24.19.198.95", 12898, "12.22.207.184", 38024, 0x5C2B394A),
    ("38.27.205.30", 48228, "209.142.163.6", 2217, 0xAFC7327F),
    ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x10E828A2),
]


@pytest.mark.parametrize("src,sport,dst,dport,expected", RSS_VECTORS)
def test_toeplitz_matches_microsoft_rss_vectors(src, sport, dst, dport, expected):
    data = (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + sport.to_bytes(2, "big")
            + dport.to_bytes(2, "big"))
    key = np.frombuffer(RSS_DEFAULT_KEY, dtype=np.uint8)
    assert toeplitz_py(data, RSS_DEFAULT_KEY) == expected
    assert int(toeplitz_nb(np.frombuffer(data, dtype=np.uint8), 12, key)) == expected


def _failed_fat_tree():
    fab, _ = fail_fabric(fat_tree(4, 100), ["p0-a1--c1-0"])
    dem = all_to_all(fab, fab.endpoints(), 60.0, seed=2, qps_per_pair=3)
    return fab, dem, solve(fab, dem).groups


@pytest.mark.parametrize("kind", ["crc32", "toeplitz"])
@pytest.mark.parametrize("polarize", [False, True])
def test_numba_simulation_matches_python_reference(kind, polarize):
    fab, dem, groups = _failed_fat_tree()
    ecmp = {(g["switch"], g["dst"]): len(g["next_hops"]) for g in ecmp_groups(fab)}
    # real WCMP groups: some differ from ECMP (a member dropped or weights unequal)
    assert any(len({h["weight"] for h in g["next_hops"]}) > 1 or len(g["next_hops"]) < ecmp[(g["switch"], g["dst"])]
               for g in groups)
    cfg = HashConfig(kind=kind, seed=7, polarize=polarize)
    sim = simulate(fab, dem, groups, cfg)
    ref = simulate_reference(fab, dem, groups, cfg)
    t = Tables(fab, groups, cfg)
    got = {t.links[i]: x for i, x in enumerate(sim.load) if x > 0}
    assert got.keys() == ref.keys()
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-12)
    # fluid expectation conserves the same total as the hashed loads
    assert sim.fluid_load.sum() == pytest.approx(sim.load.sum(), rel=1e-9)


def test_hashing_is_deterministic_for_a_seed():
    fab, dem, groups = _failed_fat_tree()
    a = simulate(fab, dem, groups, HashConfig(seed=3)).load
    b = simulate(fab, dem, groups, HashConfig(seed=3)).load
    c = simulate(fab, dem, groups, HashConfig(seed=4)).load
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _agg_core_used(fab, sim, t):
    up = [i for i, (u, v, _k) in enumerate(t.links) if fab.role(u) == "spine" and fab.role(v) == "superspine"]
    return np.count_nonzero(sim.load[up] > 0) / len(up)


def test_same_seed_on_every_tier_polarises_crc32():
    fab = fat_tree(4, 100)
    hosts = fab.endpoints()
    rng = np.random.default_rng(0)
    flows = [Flow(hosts[i % 4], hosts[12 + (i % 4)], 1.0, int(rng.integers(0xC000, 0x10000))) for i in range(400)]
    dem = Demand(flows)
    groups = ecmp_groups(fab)
    pol = HashConfig(kind="crc32", seed=5, polarize=True)
    ok = HashConfig(kind="crc32", seed=5)
    used_pol = _agg_core_used(fab, simulate(fab, dem, groups, pol), Tables(fab, groups, pol))
    used_ok = _agg_core_used(fab, simulate(fab, dem, groups, ok), Tables(fab, groups, ok))
    # pod 0's aggs: with one seed each agg only ever picks the core whose index equals its own
    pod0 = [lk for lk in Tables(fab, groups, pol).links if lk[0].startswith("p0-a") and lk[1].startswith("c")]
    assert len(pod0) == 4
    sim_pol = simulate(fab, dem, groups, pol)
    t = Tables(fab, groups, pol)
    assert sum(1 for lk in pod0 if sim_pol.load[t.link_id[lk]] > 0) == 2
    sim_ok = simulate(fab, dem, groups, ok)
    t2 = Tables(fab, groups, ok)
    assert sum(1 for lk in pod0 if sim_ok.load[t2.link_id[lk]] > 0) == 4
    assert used_pol < used_ok


def test_balls_into_bins_usable_share():
    """N line-rate flows hashed onto N equal spine paths use 1-(1-1/N)^N of capacity (REFERENCE.md)."""
    n = 8
    fab = clos(2, n, n, n, host_gbps=100, uplink_gbps=100)
    src = [f"leaf1-h{i + 1}" for i in range(n)]
    dst = [f"leaf2-h{i + 1}" for i in range(n)]
    groups = ecmp_groups(fab)
    cfg = HashConfig(kind="crc32", seed=1)
    t = Tables(fab, groups, cfg)
    rng = np.random.default_rng(11)
    shares = []
    for _ in range(300):
        ports = rng.integers(0xC000, 0x10000, n)
        dem = Demand([Flow(s, d, 100.0, int(p)) for s, d, p in zip(src, dst, ports, strict=True)])
        shares.append(simulate(fab, dem, groups, cfg, tables=t).usable_share)
    expected = 1 - (1 - 1 / n) ** n  # 0.6564
    assert abs(np.mean(shares) - expected) < 0.03


def test_placement_is_collision_free_when_possible():
    n = 8
    fab = clos(2, n, n, n, host_gbps=100, uplink_gbps=100)
    dem = Demand([Flow(f"leaf1-h{i + 1}", f"leaf2-h{i + 1}", 100.0, 0xC000 + i) for i in range(n)])
    for kind in ("crc32", "toeplitz"):
        pr = place_ports(fab, dem, ecmp_groups(fab), HashConfig(kind=kind), candidates=256)
        assert pr.collisions_placed == 0 and pr.max_load_placed == pytest.approx(1.0)
        assert pr.usable_placed == pytest.approx(1.0)
        assert pr.collisions_random > 0  # 8 sequential ports on 8 links do collide
        for f in pr.flows:
            assert f["dport"] == 4791 and f["path"][0] == f["src"] and f["path"][-1] == f["dst"]
            assert len(f["path"]) == 5


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 1000), kind=st.sampled_from(["crc32", "toeplitz"]))
def test_placed_ports_never_worse_than_random(seed, kind):
    fab, _ = fail_fabric(clos(3, 4, 4, 4, host_gbps=100, uplink_gbps=100), ["leaf1--spine2"])
    dem = permutation(fab, fab.endpoints(), 50.0, seed=seed, qps_per_pair=2)
    pr = place_ports(fab, dem, solve(fab, dem).groups, HashConfig(kind=kind, seed=seed), candidates=64, seed=seed)
    assert (pr.max_load_placed, pr.collisions_placed) <= (pr.max_load_random, pr.collisions_random)
    assert pr.max_load_placed >= 1.0 - 1e-9


def test_cli_plan_ports(cli, tmp_path):
    fab = example_two_site()
    gpus = fab.nodes("gpu")[:16] + fab.nodes("gpu")[32:48]
    job = tmp_path / "job.yaml"
    job.write_text("name: j1\ngpus: [" + ", ".join(gpus) + "]\ncollective: ring\nrate_gbps: 200\nqps_per_pair: 2\n")
    r = cli(["plan", "ports", "example", "--job", job, "--hash", "toeplitz", "--out-dir", tmp_path, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for k in ("max_load_random", "max_load_placed", "collisions_random", "collisions_placed"):
        assert k in out
    assert out["max_load_placed"] <= out["max_load_random"]
    sec = Plan.load(tmp_path / "plan.json").qp_ports
    assert sec is not None and sec.to_dict()["hash"] == "toeplitz"
    f = sec.to_dict()["flows"][0]
    assert set(f) == {"src", "dst", "sport", "dport", "path"} and f["dport"] == 4791
    r = cli(["plan", "ports", "example", "--job", tmp_path / "missing.yaml", "--out-dir", tmp_path])
    assert r.exit_code == 2 and "missing.yaml" in r.output


def test_ring_on_rails_stays_on_rail_leaves():
    fab = example_two_site()
    dem = ring_allreduce(fab, fab.nodes("gpu")[:32], 100.0, seed=0)
    pr = place_ports(fab, dem, solve(fab, dem).groups, candidates=8)
    for f in pr.flows:  # same rail, same site, one SU: gpu-leaf-gpu
        assert len(f["path"]) == 3


def test_dual_plane_simulation_matches_reference():
    from fabric.builders import dual_plane

    fab = dual_plane(4, 2, servers_per_segment=2, spines_per_plane=2, uplinks_per_leaf=2)
    dem = all_to_all(fab, fab.nodes("gpu"), 100.0, seed=4, qps_per_pair=2)
    groups = solve(fab, dem).groups
    cfg = HashConfig(kind="toeplitz", seed=2)
    sim = simulate(fab, dem, groups, cfg)
    t = Tables(fab, groups, cfg)
    for k, v in simulate_reference(fab, dem, groups, cfg).items():
        assert sim.load[t.link_id[k]] == pytest.approx(v, rel=1e-12)
