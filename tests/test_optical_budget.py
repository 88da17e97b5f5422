"""Latency budgets: hand-computed breakdowns, Beijing–Guangzhou on Chinanet, CLI contract."""

from __future__ import annotations

import json
import math

import pytest

from fabric.errors import ConfigError
from fabric.io.gml import load_gml, zoo_path
from fabric.plan import Plan
from fabric.topology import Fabric
from optical.budget import BudgetModel, PairSpec, budgets, path_budget, place_regenerators


def _by_name(r):
    return {c["name"]: (c["us"], c["count"]) for c in r["components"]}


def _haversine_km(lat1, lon1, lat2, lon2, r_km=6371.0088):
    # Written out independently of fabric.constants.great_circle_km.
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))
    return r_km * c


@pytest.fixture
def chain():
    """gpu - leaf - dci ==wdm 300 km== roadm ==wdm 500 km== dci - leaf - gpu."""
    f = Fabric("chain")
    for n, role in (("g1", "gpu"), ("l1", "leaf"), ("d1", "dci"), ("r", "dci"), ("d2", "dci"), ("l2", "leaf"),
                    ("g2", "gpu")):
        f.add_node(n, role)
    f.add_link("g1", "l1", 400)
    f.add_link("l1", "d1", 400)
    f.add_link("d1", "r", 1600, length_km=300, kind="wdm")
    f.add_link("r", "d2", 1600, length_km=500, kind="wdm")
    f.add_link("d2", "l2", 400)
    f.add_link("l2", "g2", 400)
    return f


def test_hand_computed_chain_with_regeneration(chain):
    m = BudgetModel(reach_km=700.0, line_rate_gbps=1600.0)
    r = path_budget(chain, ["g1", "l1", "d1", "r", "d2", "l2", "g2"], m, budget_class="regional")
    c = _by_name(r)
    # 800 km > 700 km reach: one regenerator, at r (300 km then 500 km).
    assert r["regenerators"] == ["r"]
    assert c["fibre"] == (pytest.approx(800 * 4.897), 6)             # count: links on the path
    assert c["transponders"] == (pytest.approx(4 * 5.0), 4)     # 2 ends + 2 at the regenerator
    assert c["fec"] == (pytest.approx(2 * 30.0), 2)
    assert c["regeneration"] == (pytest.approx(100.0), 1)
    assert c["amplifiers"] == (pytest.approx((3 + 6) * 0.1), 9)  # ceil(300/80)-1 + ceil(500/80)-1
    assert c["switches"] == (pytest.approx(4 * 1.0), 4)          # l1, d1, d2, l2
    assert "roadm" not in c                                      # r is regenerated, not passed through
    # Serialisation of 1500 B: 4 hops at 400G (30 ns each) + the optical run at 1.6T (7.5 ns).
    assert c["serialisation"] == (pytest.approx(4 * 0.030 + 0.0075), 5)
    hand = 800 * 4.897 + 20 + 60 + 100 + 0.9 + 4 + 0.1275
    assert r["total_us"] == pytest.approx(hand)
    assert r["budget_us"] == 5000.0 and r["verdict"] == "ok"
    assert r["km"] == pytest.approx(800)


def test_no_regeneration_within_reach_roadm_pass_through(chain):
    m = BudgetModel(reach_km=None)
    r = path_budget(chain, ["d1", "r", "d2"], m, budget_us=100.0)
    c = _by_name(r)
    assert "regeneration" not in c and r["regenerators"] == []
    assert c["roadm"] == (pytest.approx(0.1), 1)
    assert c["transponders"][1] == 2 and c["fec"][1] == 1
    assert r["verdict"] == "over" and "latency" in r["reasons"][0]


def test_regenerator_placement_never_exceeds_reach():
    lengths = [250, 300, 900, 100, 650, 50]
    nodes = list("abcdefg")
    regs = place_regenerators(nodes, lengths, 700)
    # Independent check: split the run at regen nodes / in-line sites and measure each segment.
    segs, acc = [], 0.0
    for i, length in enumerate(lengths):
        u, v = nodes[i], nodes[i + 1]
        if u in regs:
            segs.append(acc)
            acc = 0.0
        inline = [r for r in regs if r.startswith(f"inline:{u}--{v}#")]
        if inline:
            piece = length / (len(inline) + 1)
            segs.extend([acc + piece] + [piece] * (len(inline) - 1))
            acc = piece
        else:
            acc += length
    segs.append(acc)
    assert max(segs) <= 700 + 1e-9
    assert sum(segs) == pytest.approx(sum(lengths))


def test_beijing_guangzhou_on_chinanet():
    f = load_gml(zoo_path("Chinanet"))
    r = budgets(f, [PairSpec("Beijing", "Guangzhou")])["paths"][0]
    a, b = f.node("Beijing"), f.node("Guangzhou")
    gc = _haversine_km(a["lat"], a["lon"], b["lat"], b["lon"])
    assert gc == pytest.approx(1890, abs=5)                    # REFERENCE.md: ~1,890 km
    assert r["path"] == ["Beijing", "Guangzhou"]               # a direct link in Chinanet
    assert r["km"] == pytest.approx(gc, rel=1e-6)
    c = _by_name(r)
    assert c["fibre"][0] == pytest.approx(gc * 4.897, rel=1e-6)
    assert c["fibre"][0] / 1000 == pytest.approx(9.26, abs=0.01)  # 9.3 ms one-way (REFERENCE.md)
    n_regen = math.ceil(gc / 700) - 1                           # 1.6T reach 700 km
    assert c["regeneration"][1] == n_regen == 2
    assert c["amplifiers"][1] == math.ceil(gc / 80) - 1
    hand = gc * 4.897 + (2 + 2 * n_regen) * 5 + (1 + n_regen) * 30 + n_regen * 100 + \
        (math.ceil(gc / 80) - 1) * 0.1 + 1500 * 8 / 1600 / 1000
    assert r["total_us"] == pytest.approx(hand, rel=1e-9)
    assert r["budget_class"] == "hub" and r["budget_us"] == 20000.0 and r["verdict"] == "ok"
    assert r["stretch"] == pytest.approx(1.0, abs=1e-6)


def test_stretch_rule_flags_detours():
    f = load_gml(zoo_path("Chinanet"))
    r = budgets(f, [PairSpec("Lanzhou", "Yinchuan", "hub")])["paths"][0]
    assert r["stretch"] > 1.5 and r["verdict"] == "over" and "great circle" in r["reasons"][0]
    r2 = budgets(f, [PairSpec("Lanzhou", "Yinchuan", "hub")], BudgetModel(stretch_max=0))["paths"][0]
    assert r2["verdict"] == "ok"


def test_unknown_length_links_are_not_used():
    f = load_gml(zoo_path("Chinanet"))
    r = budgets(f, [PairSpec("Beijing", "Hong Kong")])["paths"][0]
    assert not any(n.startswith("International") for n in r["path"])


def test_pairs_file_errors(tmp_path):
    from optical.budget import load_pairs

    p = tmp_path / "p.yaml"
    p.write_text("pairs:\n  - {src: a, dst: b, class: galaxy}\n")
    with pytest.raises(ConfigError, match=r"pairs\[0\]\.class.*unknown class 'galaxy'"):
        load_pairs(p)
    p.write_text("pairs:\n  - {src: a, dest: b}\n")
    with pytest.raises(ConfigError, match=r"unknown key"):
        load_pairs(p)
    p.write_text("pairs: [\n")
    with pytest.raises(ConfigError, match=r"line 2, column 1: YAML syntax error"):
        load_pairs(p)


def test_cli_budget_all_hubs_json_and_plan(cli, tmp_path):
    plan = tmp_path / "plan.json"
    r = cli(["plan", "budget", "zoo:Chinanet", "--pairs", "all-hubs", "--json", "--plan", plan])
    data = json.loads(r.stdout)
    assert len(data["paths"]) == 28
    keys = {"src", "dst", "path", "km", "components", "total_us", "budget_us", "budget_class", "verdict"}
    assert all(keys <= set(p) for p in data["paths"])
    any_over = any(p["verdict"] == "over" for p in data["paths"])
    assert r.exit_code == (1 if any_over else 0)
    # Every hub pair is within 20 ms on Chinanet's shortest paths.
    assert all(p["total_us"] < 20000 for p in data["paths"])
    sec = Plan.load(plan).budgets
    assert sec is not None and len(sec.to_dict()["paths"]) == 28


def test_cli_budget_ok_exit_0_and_over_exit_1(cli, tmp_path):
    p = tmp_path / "pairs.yaml"
    p.write_text("pairs:\n  - {src: Beijing, dst: Tianjin, class: city}\n")
    assert cli(["plan", "budget", "zoo:Chinanet", "--pairs", p]).exit_code == 0
    p.write_text("pairs:\n  - {src: Beijing, dst: Guangzhou, budget_ms: 5}\n")
    r = cli(["plan", "budget", "zoo:Chinanet", "--pairs", p, "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["paths"][0]["verdict"] == "over"


def test_cli_budget_bad_input_exit_2_no_plan_written(cli, tmp_path):
    p = tmp_path / "pairs.yaml"
    p.write_text("pairs:\n  - {src: Atlantis, dst: Beijing}\n")
    plan = tmp_path / "plan.json"
    r = cli(["plan", "budget", "zoo:Chinanet", "--pairs", p, "--plan", plan])
    assert r.exit_code == 2 and "Atlantis" in r.output
    assert not plan.exists()
    assert cli(["plan", "budget", "example", "--pairs", "all-hubs"]).exit_code == 2
