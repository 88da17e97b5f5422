"""The controller's planning pieces: the failure path's section built from the previous one (typed
again only where groups changed) equals the planner's own section; failure sets; recipe options."""

from __future__ import annotations

import pytest

from fabric.errors import ConfigError
from fabric.io import load_fabric
from fabric.server.planning import (
    FailurePlanner,
    FailureSet,
    WcmpState,
    link_spec,
    next_wcmp_section,
    wcmp_demand,
    wcmp_planner,
)


@pytest.fixture(scope="module")
def example():
    return load_fabric("example")


@pytest.mark.parametrize("links,nodes", [(["beijing-su1-rail0--beijing-spine1"], []),
                                         (["beijing-su1-rail0--beijing-spine1", "shanghai-su1-rail3--shanghai-spine2"], []),
                                         ([], ["beijing-spine2"])])
def test_incremental_section_equals_the_planners_section(example, links, nodes):
    fp = FailurePlanner(example, wcmp_demand(example, {}, None), {})
    base = fp.solve(FailureSet())
    old = WcmpState.of(base.section(), base.groups)
    target = FailureSet(frozenset(link_spec(example, *s.split("--")) for s in links), frozenset(nodes))
    res = fp.solve(target)
    assert fp.last_warm
    state, changed = next_wcmp_section(old, res, fabric_digest="sha256:x", created_unix=5.0)
    want = res.section().with_provenance(fabric_digest="sha256:x", created_unix=5.0)
    assert state.section == want
    before = {(g.switch, g.dst): g for g in old.section.groups}
    after = {(g.switch, g.dst): g for g in want.groups}
    differ = {k[0] for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == differ and changed       # exactly the switches whose groups changed
    # unchanged groups are the very same objects (not typed again)
    same = [k for k in after if before.get(k) == after[k]]
    assert same and all(state.typed[k] is old.typed[k] for k in same)
    # a raw state from the typed section (a plan loaded from the store) gives the same result
    state2, changed2 = next_wcmp_section(WcmpState.of(old.section), res, fabric_digest="sha256:x", created_unix=5.0)
    assert state2.section == want and changed2 == changed


def test_failure_planner_is_warm_from_a_subset_and_cold_otherwise(example):
    fp = FailurePlanner(example, wcmp_demand(example, {}, None), {})
    one = FailureSet(frozenset({link_spec(example, "beijing-su1-rail0", "beijing-spine1")}))
    fp.solve(FailureSet())
    fp.solve(one)
    assert fp.last_warm
    fp.solve(FailureSet())                     # a restore: the planner cannot go back warm
    assert not fp.last_warm
    fp.prepare(one)
    assert fp.ready_for(one) and not fp.ready_for(FailureSet())
    assert one.with_link(next(iter(one.links)), False) == FailureSet()


def test_recipe_options_are_checked(example):
    with pytest.raises(ConfigError, match="unknown wcmp option"):
        wcmp_planner(example, None, {"bogus": 1})
    with pytest.raises(ConfigError, match="solver"):
        wcmp_planner(example, None, {"solver": "cplex"})
    for bad in ({"rate_gbps": 0}, {"rate_gbps": float("nan")}, {"seed": -1}, {"qps_per_pair": 0},
                {"demand": "gossip"}, {"shuffle_seed": True}):
        with pytest.raises(ConfigError):
            wcmp_demand(example, bad, None)
    with pytest.raises(ConfigError, match="no link"):
        link_spec(example, "beijing-spine1", "shanghai-spine1")
    shuffled = wcmp_demand(example, {"shuffle_seed": 7}, None)
    plain = wcmp_demand(example, {}, None)
    assert shuffled.flows != plain.flows and len(shuffled.flows) == len(plain.flows)
