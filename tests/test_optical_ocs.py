"""OCS circuit allocation: brute force on tiny instances, an independent cross-connect checker, the
LP bound against SciPy/HiGHS, churn-minimal reconfiguration, CLI contract."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plans import ocs_section
from scipy.optimize import linprog

from fabric.errors import ConfigError
from fabric.plan import Plan
from optical.ocs import (
    Current,
    OcsSpec,
    circuits_from_plan,
    load_block_demand,
    load_blocks,
    make_spec,
    map_to_ocs,
    plan_ocs,
    random_demand,
)


# ----------------------------------------------------------------------------- independent oracles
def scipy_theta(spec, demand, n=None):
    """Max throughput scale over direct + one-transit paths with SciPy/HiGHS (full path formulation,
    no column generation). ``n``: fixed circuits {(i, j): count}; None: circuits continuous within
    block degrees (the LP bound)."""
    nb = len(spec.blocks)
    c = spec.circuit_gbps
    pairs = [(i, j) for i in range(nb) for j in range(i + 1, nb) if spec.capable(i, j)]
    pid = {p: k for k, p in enumerate(pairs)}
    cols = []
    for (s, t) in demand:
        if (min(s, t), max(s, t)) in pid:
            cols.append((s, t, [(s, t)]))
        for m in range(nb):
            if m not in (s, t) and (min(s, m), max(s, m)) in pid and (min(m, t), max(m, t)) in pid:
                cols.append((s, t, [(s, m), (m, t)]))
    P, F = len(pairs), len(cols)
    nv = 1 + P + F
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    for (s, t), d in demand.items():
        row = np.zeros(nv)
        row[0] = -d
        for k, (a, b, _arcs) in enumerate(cols):
            if (a, b) == (s, t):
                row[1 + P + k] = 1
        a_eq.append(row)
        b_eq.append(0.0)
    for (i, j) in pairs:
        for arc in ((i, j), (j, i)):
            row = np.zeros(nv)
            row[1 + pid[(i, j)]] = -c
            for k, (_a, _b, arcs) in enumerate(cols):
                if arc in arcs:
                    row[1 + P + k] = 1
            a_ub.append(row)
            b_ub.append(0.0)
    for b in range(nb):
        row = np.zeros(nv)
        for p in pairs:
            if b in p:
                row[1 + pid[p]] = 1
        a_ub.append(row)
        b_ub.append(spec.uplinks[b])
    bounds = [(0, None)] * nv
    if n is not None:
        for p, k in pid.items():
            bounds[1 + k] = (n.get(p, 0), n.get(p, 0))
    obj = np.zeros(nv)
    obj[0] = -1
    r = linprog(obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert r.status == 0
    return -r.fun


def check_cross_connects(spec, data):
    """Every OCS connects each port to at most one other port, only ports wired to a block, never a
    block to itself; returns the block-pair circuit counts the cross-connects make."""
    idx = {b: i for i, b in enumerate(spec.blocks)}
    counts = {}
    assert set(data["circuits"]) <= set(spec.ocs)
    for o, pairs in data["circuits"].items():
        k = spec.ocs.index(o)
        owner = {}
        nxt = 0
        for b in range(len(spec.blocks)):       # the documented numbering: contiguous, block order
            for _ in range(spec.wiring[b][k]):
                owner[nxt] = b
                nxt += 1
        assert nxt <= spec.ports
        seen = set()
        for pa, pb in pairs:
            for x in (pa, pb):
                assert x in owner, f"{o}: port {x} is not wired to any block"
                assert x not in seen, f"{o}: port {x} used twice"
                seen.add(x)
            assert owner[pa] != owner[pb], f"{o}: {pa}-{pb} loops a block to itself"
            p = tuple(sorted((owner[pa], owner[pb])))
            counts[p] = counts.get(p, 0) + 1
        for b, ports in data["wiring"][o].items():
            assert all(owner[x] == idx[b] for x in ports)
    logical = {tuple(sorted((idx[r["a"]], idx[r["b"]]))): r["circuits"] for r in data["logical"]}
    assert counts == logical
    return counts


def brute_force(spec, demand):
    """Best throughput over every integer circuit vector within block degrees (one OCS)."""
    nb = len(spec.blocks)
    pairs = [(i, j) for i in range(nb) for j in range(i + 1, nb)]
    best = 0.0
    for combo in itertools.product(*[range(min(spec.uplinks[i], spec.uplinks[j]) + 1) for i, j in pairs]):
        deg = [0] * nb
        for (i, j), c in zip(pairs, combo, strict=True):
            deg[i] += c
            deg[j] += c
        if any(deg[b] > spec.uplinks[b] for b in range(nb)):
            continue
        n = dict(zip(pairs, combo, strict=True))
        try:
            best = max(best, scipy_theta(spec, demand, n))
        except AssertionError:
            continue
    return best


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_brute_force_tiny(seed):
    rnd = random.Random(seed)
    ups = [rnd.choice([2, 3]) for _ in range(4)]
    spec = make_spec(ups, 1, circuit_gbps=100.0)
    demand = {(s, t): float(rnd.randint(10, 200)) for s in range(4) for t in range(4)
              if s != t and rnd.random() < 0.7}
    best = brute_force(spec, demand)
    r = plan_ocs(spec, demand, time_limit_s=5)
    d = r.data
    counts = check_cross_connects(spec, d)
    ours = scipy_theta(spec, demand, counts)
    assert d["throughput_scale"] == pytest.approx(ours, rel=1e-6)      # reported = what circuits carry
    assert d["lp_bound"] == pytest.approx(scipy_theta(spec, demand), rel=1e-6)
    assert d["throughput_scale"] <= best + 1e-9 <= d["lp_bound"] + 2e-9
    assert d["throughput_scale"] == pytest.approx(best, rel=1e-6)      # optimal on tiny instances
    assert d["gap"] == pytest.approx((d["lp_bound"] - ours) / d["lp_bound"], abs=1e-6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nb=st.integers(3, 7), k=st.integers(1, 4), seed=st.integers(0, 10_000), skew=st.sampled_from([0.0, 1.5]))
def test_random_instances_valid_and_below_bound(nb, k, seed, skew):
    rnd = random.Random(seed)
    spec = make_spec([rnd.randint(2, 6) for _ in range(nb)], k)
    demand = random_demand(nb, seed=seed, skew=skew)
    r = plan_ocs(spec, demand, time_limit_s=5, workers=1)
    counts = check_cross_connects(spec, r.data)
    assert r.data["lp_bound"] == pytest.approx(scipy_theta(spec, demand), rel=1e-6)
    assert r.data["throughput_scale"] == pytest.approx(scipy_theta(spec, demand, counts), rel=1e-6)
    assert r.data["throughput_scale"] <= r.data["lp_bound"] * (1 + 1e-9)


def test_non_uniform_wiring_respected():
    spec = load_blocks("optical/data/blocks-small.yaml")
    demand = load_block_demand("optical/data/block-demand-small.yaml", spec)
    r = plan_ocs(spec, demand, time_limit_s=5)
    counts = check_cross_connects(spec, r.data)
    agg6 = spec.blocks.index("agg6")
    assert not r.data["circuits"]["ocs3"] or all(
        x not in r.data["wiring"]["ocs3"].get("agg6", []) for pr in r.data["circuits"]["ocs3"] for x in pr)
    assert sum(c for p, c in counts.items() if agg6 in p) <= 8
    assert r.data["throughput_scale"] <= r.data["lp_bound"] + 1e-9
    assert r.data["dropped"] == 0


def test_euler_split_uniform_no_drops():
    # Two ports per block on each of 8 OCS: every split has even capacities, where Petersen's
    # 2-factor argument guarantees a split (with one port per OCS odd cycles can make it impossible).
    rnd = random.Random(7)
    spec = make_spec([16] * 12, 8)
    circ = {}
    deg = [0] * 12
    for _ in range(400):
        i, j = sorted(rnd.sample(range(12), 2))
        if deg[i] < 16 and deg[j] < 16:
            circ[i, j] = circ.get((i, j), 0) + 1
            deg[i] += 1
            deg[j] += 1
    per_ocs, dropped, info = map_to_ocs(spec, circ)
    assert dropped == 0 and info["euler_splits"] == 7
    total = {}
    for k, d in enumerate(per_ocs):
        for b in range(12):
            assert sum(c for p, c in d.items() if b in p) <= spec.wiring[b][k]
        for p, c in d.items():
            total[p] = total.get(p, 0) + c
    assert total == circ


def test_reconfiguration_unchanged_demand_changes_nothing(tmp_path):
    spec = make_spec([6] * 6, 3)
    demand = random_demand(6, seed=3, skew=1.0)
    first = plan_ocs(spec, demand, time_limit_s=5)
    plan = Plan(fabric="t")
    plan.add(first.section)
    cur = circuits_from_plan(plan, spec)
    again = plan_ocs(spec, demand, current=cur, tolerance=0.01, time_limit_s=5)
    ch = again.data["changed"]
    assert ch["from_current"] and ch["added"] == 0 and ch["removed"] == 0
    assert ch["kept"] == sum(len(v) for v in first.data["circuits"].values())
    assert again.data["circuits"] == first.data["circuits"]


def test_reconfiguration_changes_fewer_than_from_scratch():
    spec = make_spec([6] * 6, 3)
    d1 = random_demand(6, seed=3, skew=1.0)
    d2 = random_demand(6, seed=4, skew=1.0)
    first = plan_ocs(spec, d1, time_limit_s=5)
    plan = Plan(fabric="t")
    plan.add(first.section)
    cur = circuits_from_plan(plan, spec)
    fresh = plan_ocs(spec, d2, time_limit_s=5)
    tol = 0.05
    re = plan_ocs(spec, d2, current=cur, tolerance=tol, time_limit_s=5)
    check_cross_connects(spec, re.data)
    assert re.data["throughput_scale"] >= (1 - tol) * fresh.data["throughput_scale"] - 1e-9
    old = {o: {tuple(sorted(x)) for x in v} for o, v in first.data["circuits"].items()}
    scratch_changes = sum(len(old[o] ^ {tuple(sorted(x)) for x in v}) for o, v in fresh.data["circuits"].items())
    ch = re.data["changed"]
    assert ch["added"] + ch["removed"] <= scratch_changes


def test_current_plan_validation():
    spec = make_spec([4] * 3, 2)
    plan = Plan(fabric="t")
    # a port cross-connected twice never gets into a plan: the section's contract refuses it
    with pytest.raises(ConfigError, match=r"circuits.ocs1\[1\]: port 0 is already cross-connected"):
        ocs_section({"ocs1": [[0, 2], [0, 3]]})
    plan.add(ocs_section({"ocs1": [[0, 9]]}))  # valid as a section, not on this OCS's wiring
    with pytest.raises(ConfigError, match="circuits.ocs1: port 9 is not wired to a block"):
        circuits_from_plan(plan, spec)
    plan.add(ocs_section({"ocs9": []}))
    with pytest.raises(ConfigError, match="unknown OCS"):
        circuits_from_plan(plan, spec)
    with pytest.raises(ConfigError, match="no ocs section"):
        circuits_from_plan(Plan(fabric="t"), spec)
    assert isinstance(Current({}, {}, [{}, {}]), Current)


def test_blocks_file_errors(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text("ocs: 2\nocs_ports: 4\nblocks:\n  - {name: a, uplinks: 6}\n  - {name: b, uplinks: 6}\n")
    with pytest.raises(ConfigError, match="OCS ocs1 is wired to 6 block ports but has 4"):
        load_blocks(p)
    p.write_text("ocs: 2\nblocks:\n  - {name: a, uplinks: 0}\n  - {name: b, uplinks: 2}\n")
    with pytest.raises(ConfigError, match=r"blocks\[0\]\.uplinks"):
        load_blocks(p)
    p.write_text("ocs: [x, y]\nblocks:\n  - {name: a, ocs: {z: 2}}\n  - {name: b, uplinks: 2}\n")
    with pytest.raises(ConfigError, match="unknown OCS 'z'"):
        load_blocks(p)
    spec = make_spec({"a": 2, "b": 2}, 1)
    p.write_text("matrix:\n  a: {c: 10}\n")
    with pytest.raises(ConfigError, match="unknown block 'c'"):
        load_block_demand(p, spec)


def test_cli_ocs_json_plan_and_current(cli, tmp_path):
    plan = tmp_path / "plan.json"
    args = ["plan", "ocs", "optical/data/blocks-small.yaml", "--demand", "optical/data/block-demand-small.yaml"]
    r = cli([*args, "--json", "--plan", plan])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    for key in ("throughput_scale", "lp_bound", "gap", "circuits", "changed", "solver"):
        assert key in data
    assert Plan.load(plan).ocs.to_dict()["circuits"] == data["circuits"]
    r2 = cli([*args, "--current", plan, "--json"])
    assert r2.exit_code == 0
    assert json.loads(r2.stdout)["changed"]["added"] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("blocks: 3\n")
    r3 = cli(["plan", "ocs", bad, "--demand", "optical/data/block-demand-small.yaml"])
    assert r3.exit_code == 2 and "bad.yaml" in r3.output


def test_spec_port_numbering():
    spec = OcsSpec(["a", "b"], [3, 2], ["o1", "o2"], [[2, 1], [1, 1]])
    assert spec.port_ids == [[[0, 1], [2]], [[0], [1]]]
