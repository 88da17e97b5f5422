"""What a lab takes from the Plan: link delays from its ``budgets`` model, ECMP next hops from the
load-balancing planner's own groups (``fabric.wcmp.ecmp_groups``). Pure layout, no root, except the
one test that checks a real lab records where its delays came from."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from fabric.builders import Site, WanLink, clos, example_two_site, multi_site
from fabric.errors import ConfigError
from fabric.plan import Plan
from fabric.topology import Fabric
from fabric.wcmp import ecmp_groups
from fabric.wcmp.paths import Network
from labs.clab import state_from_fabric
from labs.routing import Layout, layout, resolve_routes
from optical.budget import BudgetModel, PairSpec, budgets, run_latency_us

WAN_KM = 800.0  # past the default 700 km reach: the model's regenerator counts too


def two_site(km: float = WAN_KM) -> Fabric:
    sites = [Site(s, clos(2, 1, 1, name=s), dci_nodes=1) for s in ("west", "east")]
    return multi_site(sites, [WanLink("west", "east", length_km=km)], name="two-site")


class PlanData:
    """Stands in for a Plan through the one accessor labs read it by, ``Plan.section_data``."""

    def __init__(self, **sections: dict) -> None:
        self.sections = sections

    def section_data(self, name: str) -> dict | None:
        return self.sections.get(name)


def real_plan(fab: Fabric, name: str, data: dict) -> Plan:
    """A real Plan holding one section (whichever way this Plan version adds sections)."""
    if hasattr(Plan, "set"):
        p = Plan(fabric=fab.name)
        p.set(name, data)
        return p
    from fabric.plan import SECTION_TYPES  # typed sections

    p = Plan.new(fab)
    p.add(SECTION_TYPES[name].from_dict(data), fabric=fab)
    return p


def budgets_data(fab: Fabric, model: BudgetModel, src: str = "west-dci1", dst: str = "east-dci1") -> dict:
    """The budgets section the optical planner computes with ``model``."""
    return budgets(fab, [PairSpec(src, dst, "hub")], model)


def budgets_plan(fab: Fabric, model: BudgetModel) -> PlanData:
    return PlanData(budgets=budgets_data(fab, model))


def wan_link(lay: Layout):
    (lp,) = [lp for lp in lay.links if lp.delay_model == "optical.budget"]
    return lp


# ------------------------------------------------------------------------------------ delays
def test_without_budgets_the_default_model_gives_the_delays():
    fab = two_site()
    lay = layout(fab)
    assert lay.delay_source == "default" and lay.delay_model == BudgetModel().as_dict()
    assert wan_link(lay).delay_us == pytest.approx(run_latency_us(["a", "b"], [WAN_KM], BudgetModel())[0])
    assert layout(fab, Plan(fabric=fab.name)).delay_source == "default"  # a plan without budgets


@pytest.mark.parametrize("change", [{"transponder_us": 40.0}, {"us_per_km": 5.2}, {"fec_us": 0.0},
                                    {"reach_km": None}, {"line_rate_gbps": 100.0}])
def test_a_plan_made_with_another_model_gives_other_delays(change):
    fab = two_site()
    model = replace(BudgetModel(), **change)
    lay = layout(fab, budgets_plan(fab, model))
    assert lay.delay_source == "plan" and lay.delay_model == model.as_dict()
    want = run_latency_us(["a", "b"], [WAN_KM], model)[0]
    assert wan_link(lay).delay_us == pytest.approx(want)
    assert wan_link(lay).delay_us != pytest.approx(wan_link(layout(fab)).delay_us)
    # every other link with a length is fibre at the plan's us/km
    for lp, lk in zip(lay.links, fab.links(), strict=True):
        if lk.kind != "wdm":
            assert lp.delay_us == pytest.approx(lk.length_km * model.us_per_km)


def test_wan_link_delay_is_the_plans_own_figure_for_that_link():
    """Oracle: for a path that is exactly one WAN link, the plan's per-path total is the link's delay."""
    fab = Fabric("line")
    fab.add_node("a", "dci")
    fab.add_node("b", "dci")
    fab.add_link("a", "b", 1600, length_km=WAN_KM, kind="wdm")
    model = BudgetModel(transponder_us=25.0, amplifier_us=1.0, us_per_km=5.0)
    data = budgets_data(fab, model, "a", "b")
    (lp,) = layout(fab, PlanData(budgets=data)).links
    assert lp.delay_us == pytest.approx(data["paths"][0]["total_us"])


def test_a_real_plans_budgets_section_is_read():
    fab = two_site()
    model = BudgetModel(transponder_us=40.0)
    lay = layout(fab, real_plan(fab, "budgets", budgets_data(fab, model)))
    assert lay.delay_source == "plan"
    assert wan_link(lay).delay_us == pytest.approx(run_latency_us(["a", "b"], [WAN_KM], model)[0])


def test_exported_state_records_the_delay_source():
    fab = two_site()
    model = BudgetModel(transponder_us=40.0)
    st = state_from_fabric(fab, budgets_plan(fab, model))
    assert st["delay_source"] == "plan" and st["delay_model"]["transponder_us"] == 40.0
    assert state_from_fabric(fab)["delay_source"] == "default"


@pytest.mark.parametrize("model, where, match", [
    (None, "budgets.model", "records no model"),
    ({"warp_factor": 9}, "budgets.model.warp_factor", "unknown budget model parameter"),
    ({"us_per_km": "fast"}, "budgets.model.us_per_km", "must be a number > 0"),
    ({"us_per_km": 0}, "budgets.model.us_per_km", "> 0"),
    ({"transponder_us": -1.0}, "budgets.model.transponder_us", ">= 0"),
    ({"frame_bytes": 1.5}, "budgets.model.frame_bytes", "integer"),
    ({"reach_km": True}, "budgets.model.reach_km", "number"),
    ({"classes_ms": {"city": -1}}, "budgets.model.classes_ms.city", "> 0"),
])
def test_invalid_budget_model_names_the_field(model, where, match):
    fab = two_site()
    data = {"paths": [], "over": 0}
    if model is not None:
        data["model"] = model
    plan = PlanData(budgets=data)
    with pytest.raises(ConfigError, match=match) as ei:
        layout(fab, plan, plan_file="plan.json")
    assert where in str(ei.value) and "plan.json" in str(ei.value)


def test_a_partial_model_keeps_the_other_defaults():
    fab = two_site()
    plan = PlanData(budgets={"paths": [], "over": 0, "model": {"transponder_us": 40.0}})
    got = wan_link(layout(fab, plan)).delay_us
    assert got == pytest.approx(run_latency_us(["a", "b"], [WAN_KM], BudgetModel(transponder_us=40.0))[0])


# ------------------------------------------------------------------------------------ ECMP
def wan_square() -> Fabric:
    """A WAN where the planner's downhill DAG (by km) differs from min-hop routing: from ``a`` to
    ``d`` the direct way (``a-c-d``, 2 hops, 1010 km) and the long way round (``a-b-e-c-d``, 4 hops,
    40 km) are both downhill, while a min-hop BFS would only take ``c``."""
    f = Fabric("wan-square")
    for n in "abcde":
        f.add_node(n, "dci")
    for a, b, km in [("a", "c", 1000.0), ("a", "b", 10.0), ("b", "e", 10.0), ("e", "c", 10.0), ("c", "d", 10.0)]:
        f.add_link(a, b, 400, length_km=km)
    for n in "ad":
        f.add_node(f"h{n}", "host")
        f.add_link(f"h{n}", n, 400)
    return f


def dual_homed() -> Fabric:
    """h1 is attached to two leaves: it must never become transit between them."""
    f = Fabric("dual")
    for n, r in [("h1", "host"), ("l1", "leaf"), ("l2", "leaf"), ("s1", "spine"), ("l3", "leaf"), ("h2", "host")]:
        f.add_node(n, r)
    for a, b in [("h1", "l1"), ("h1", "l2"), ("l1", "s1"), ("l2", "s1"), ("l3", "s1"), ("h2", "l3")]:
        f.add_link(a, b, 100)
    return f


def down_link(fab: Fabric, spec: str) -> Fabric:
    lk = fab.find_link(spec)
    fab.set_link_up(lk.a, lk.b, lk.key, False)
    return fab


@pytest.mark.parametrize("fab", [clos(4, 2, 2), example_two_site(), wan_square(), dual_homed(),
                                 down_link(clos(4, 2, 2), "leaf1--spine1")], ids=lambda f: f.name)
def test_ecmp_fallback_is_the_planners_ecmp_groups(fab):
    """Without a wcmp section, every switch's route to every destination is exactly the group
    ``fabric.wcmp.ecmp_groups`` gives for that destination's key (same member links, weight 1), and
    an endpoint's route is its planner successors' member links. Every fabric here is connected, so
    every (node, destination) pair has one."""
    lay = layout(fab)
    net = Network(fab)
    port_if = {}
    for lp, lk in zip(lay.links, fab.links(), strict=True):
        port_if[(lk.a, lk.port_a)], port_if[(lk.b, lk.port_b)] = lp.if_a, lp.if_b
    key = {d: net.dst_key(d) if net.is_endpoint[d] else d for d in fab.nodes()}
    groups = {(g["switch"], g["dst"]): sorted((port_if[(g["switch"], h["port"])], h["node"], h["weight"])
                                               for h in g["next_hops"])
              for g in ecmp_groups(fab, list(dict.fromkeys(key.values())))}
    for n in fab.nodes():
        table = resolve_routes(lay, n)
        for d in fab.nodes():
            if d == n or d in lay.neighbours[n]:
                continue
            if net.is_endpoint[n]:
                want = sorted((port_if[(n, m.port)], v, 1) for v in net.successors(n, key[d])
                              for m in net.members(n, v))
            else:
                want = groups[(n, key[d])]
            assert want and sorted(table[d]) == want, (n, d)


def test_wan_routes_follow_the_planners_dag_not_min_hop():
    lay = layout(wan_square())
    assert sorted(m for _i, m, _w in resolve_routes(lay, "a")["d"]) == ["b", "c"]
    assert sorted(m for _i, m, _w in resolve_routes(lay, "a")["hd"]) == ["b", "c"]


def test_a_dual_homed_endpoint_is_never_transit():
    lay = layout(dual_homed())
    for sw, dst in [("l1", "l2"), ("l2", "l1"), ("l1", "h2"), ("l2", "h2")]:
        assert [m for _i, m, _w in resolve_routes(lay, sw)[dst]] == ["s1"], (sw, dst)
    # the endpoint itself sends on both of its leaves towards a leaf it is not attached to
    assert sorted(m for _i, m, _w in resolve_routes(lay, "h1")["h2"]) == ["l1", "l2"]


def test_the_ecmp_fallback_calls_the_planner(monkeypatch):
    """The fallback is the planner's function, not a copy: a changed ecmp_groups changes the routes."""
    import fabric.wcmp

    fab = clos(4, 2, 2)
    real = fabric.wcmp.ecmp_groups

    def first_member_only(*a, **kw):
        return [dict(g, next_hops=g["next_hops"][:1]) for g in real(*a, **kw)]

    monkeypatch.setattr(fabric.wcmp, "ecmp_groups", first_member_only)
    lay = layout(fab)
    assert all(len(hops) == 1 for n in lay.nodes for _d, hops in lay.routes[n])


# ------------------------------------------------------------------------------------ a real lab
@pytest.mark.needs_root
def test_a_lab_records_where_its_delays_came_from(tmp_path):
    from labs.lab import Lab

    fab = two_site(100.0)
    model = BudgetModel(transponder_us=40.0)
    name = f"tp{os.getpid() % 100000}-src"
    lab = Lab(fab, budgets_plan(fab, model), name=name, state_dir=tmp_path, delay_scale=0.01)
    try:
        lab.up()
        assert lab.state["delay_source"] == "plan" and lab.state["delay_model"]["transponder_us"] == 40.0
        assert lab.status()["delay_source"] == "plan"
        (rec,) = [r for r in lab.state["links"] if r["delay_model"] == "optical.budget"]
        assert rec["model_delay_us"] == pytest.approx(run_latency_us(["a", "b"], [100.0], model)[0])
        assert lab.link(rec["a"], rec["b"]).impairment()["delay_us"] == pytest.approx(rec["delay_us"], abs=0.01)
    finally:
        if Path(tmp_path / f"{name}.json").exists():
            lab.down()
