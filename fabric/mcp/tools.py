"""The MCP tools as plain functions: each takes a :class:`~fabric.mcp.backend.Backend` and typed
arguments and returns JSON data, by calling one existing library or API function:

=================  ==========================================================================
tool               what it calls
=================  ==========================================================================
fabric_summary     :meth:`fabric.topology.Fabric.summary`
find_nodes         :meth:`Fabric.nodes` / :meth:`Fabric.node` (filtered by name, role, site)
plan_show          :class:`fabric.plan.Plan` (the current plan: ``--plan`` or the controller's)
plan_diff          :func:`fabric.plan.diff.diff` (``DiffPlans`` on a controller)
link_status        :meth:`Fabric.find_link` / ``links_between`` and :func:`link_loads`
hot_links          :func:`link_loads`: :func:`fabric.hashing.simulate` of the plan's WCMP groups
budget_check       :func:`optical.budget.budgets` (pairs, or :func:`optical.budget.all_hubs_pairs`)
cc_parameters      :func:`fabric.server.planning.cc_section` (:func:`fabric.cc.plan_cc`)
events             ``Watch`` (:meth:`fabric.server.client.ControllerClient.watch`)
what_if_fail       :class:`fabric.wcmp.WcmpPlanner` ``solve`` + ``fail``, :func:`fabric.plan.diff.diff`,
                   :func:`optical.budget.budgets` on :func:`fabric.wcmp.fail_fabric`
what_if_demand     :class:`WcmpPlanner` on a generated collective (:func:`fabric.traffic.generate`)
=================  ==========================================================================

The demand a WCMP computation is for is the controller's recipe (:func:`fabric.server.planning.
wcmp_demand` and :func:`~fabric.server.planning.wcmp_planner`): the same options (``demand``,
``rate_gbps``, ``seed``, ``qps_per_pair``) with the same defaults as ``ComputePlan wcmp``, so a tool
called without options describes the plan a default ``ctl compute wcmp`` made. Errors are
:class:`fabric.errors.FabricError` (one line), as in the CLI.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from fabric.errors import ConfigError
from fabric.mcp.backend import Backend
from fabric.plan import SECTIONS, Plan
from fabric.topology import Fabric

#: Flows listed per hot link (the busiest first); the count is always given in full.
MAX_FLOWS_PER_LINK = 10
#: Nodes ``find_nodes`` returns at most unless told otherwise.
DEFAULT_FIND_LIMIT = 100
#: Events ``events`` returns at most, and seconds it waits for the controller's history to stream.
DEFAULT_EVENTS_LIMIT = 50
EVENTS_WAIT_S = 1.0


def recipe(demand: str | None = None, rate_gbps: float | None = None, seed: int | None = None,
           qps_per_pair: int | None = None) -> dict[str, Any]:
    """The ``ComputePlan wcmp`` options these arguments stand for (unset ones keep the defaults)."""
    out: dict[str, Any] = {}
    for k, v in (("demand", demand), ("rate_gbps", rate_gbps), ("seed", seed), ("qps_per_pair", qps_per_pair)):
        if v is not None:
            out[k] = v
    return out


def _demand(fab: Fabric, options: dict[str, Any]) -> Any:
    from fabric.server.planning import wcmp_demand

    return wcmp_demand(fab, options, None)


# ============================================================================ read
def fabric_summary(b: Backend) -> dict[str, Any]:
    fab = b.fabric()
    return {**fab.summary(), "digest": fab.digest(), "source": b.fabric_source()}


def find_nodes(b: Backend, name: str | None = None, role: str | None = None, site: str | None = None,
               limit: int = DEFAULT_FIND_LIMIT) -> dict[str, Any]:
    """Nodes whose name matches ``name`` (a glob, ``*spine*``, or a substring), of ``role``, at ``site``."""
    fab = b.fabric()
    if limit < 1:
        raise ConfigError(f"must be >= 1, got {limit}", where="limit")
    pat = name if name is None or any(c in name for c in "*?[") else f"*{name}*"
    hits = []
    for n in fab.nodes(role):
        d = fab.node(n)
        if site is not None and d.get("site") != site:
            continue
        if pat is not None and not fnmatch.fnmatchcase(n, pat):
            continue
        hits.append({"name": n, "role": d.get("role"), "site": d.get("site"), "degree": fab.graph.degree(n)})
    return {"count": len(hits), "nodes": hits[:limit], "truncated": len(hits) > limit}


def plan_show(b: Backend, section: str | None = None) -> dict[str, Any]:
    """The current plan: each section's provenance, and one section's data when asked."""
    plan, source = b.current_plan()
    if plan is None:
        raise ConfigError(f"there is no current plan ({source})", where="plan")
    doc = plan.to_dict()
    if section is not None and section not in SECTIONS:
        raise ConfigError(f"unknown section {section!r} (sections: {', '.join(SECTIONS)})", where="section")
    if section is not None and section not in doc["sections"]:
        raise ConfigError(f"the plan has no {section} section (it has: {', '.join(doc['sections']) or 'none'})",
                          where="section")
    return {"source": source, "fabric": doc["fabric"], "fabric_digest": doc["fabric_digest"],
            "schema_version": doc["schema_version"],
            "sections": {k: v["provenance"] for k, v in doc["sections"].items()},
            "data": doc["sections"][section]["data"] if section is not None else None}


def plan_diff(b: Backend, old: str, new: str) -> dict[str, Any]:
    """What changed from plan ``old`` to ``new``: controller versions (numbers) or plan files."""
    if b.has_server and old.strip().isdigit() and new.strip().isdigit():
        with b.client() as c:
            return dict(c.diff(int(old), int(new)))
    from fabric.plan.diff import diff

    return diff(b.plan_at(old), b.plan_at(new))


def link_loads(fab: Fabric, plan: Plan | None, options: dict[str, Any]) -> dict[str, Any]:
    """Per directed link: the plan's WCMP groups carrying the recipe's demand, split exactly by weight
    (``planned``) and hashed flow by flow as the switches do (``hashed``, CRC-32 of the 5-tuple), with
    the flows each link carries. Without a plan (or without its wcmp section) the groups are solved
    for the recipe first. Links down in the plan (its ``failed_links``) are down here too."""
    import numpy as np

    from fabric.hashing import HashConfig, Tables, simulate
    from fabric.server.planning import wcmp_planner
    from fabric.wcmp import fail_fabric

    demand = _demand(fab, options)
    notes: list[str] = []
    if plan is not None and plan.wcmp is not None:
        plan.check_fabric(fab)
        groups, failed, groups_from = plan.wcmp.group_dicts(), list(plan.wcmp.failed_links), "plan"
        if plan.wcmp.demand != demand.name:
            notes.append(f"the plan's groups were computed for {plan.wcmp.demand!r}; loads here are of "
                         f"{demand.name!r}")
    else:
        res = wcmp_planner(fab, demand, options).solve()
        groups, failed, groups_from = res.groups, [], "solved"
    on, _down = fail_fabric(fab, failed)
    cfg = HashConfig()
    tables = Tables(on, groups, cfg)
    sim = simulate(on, demand, groups, cfg, tables=tables, record_paths=True)
    assert sim.paths is not None
    crossing: dict[int, list[int]] = {}
    for f, row in enumerate(sim.paths):
        for lid in row[row >= 0]:
            crossing.setdefault(int(lid), []).append(f)
    links = []
    for lid in np.flatnonzero(sim.routed):
        u, v, key = tables.links[lid]
        cap = float(sim.cap[lid])
        flows = sorted(crossing.get(int(lid), []), key=lambda i: -demand.flows[i].rate_gbps)
        links.append({"from": u, "to": v, "key": int(key), "capacity_gbps": cap,
                      "gbps_planned": float(sim.fluid_load[lid]), "util_planned": float(sim.fluid_load[lid]) / cap,
                      "gbps_hashed": float(sim.load[lid]), "util_hashed": float(sim.load[lid]) / cap,
                      "flows": len(flows),
                      "top_flows": [{"src": demand.flows[i].src, "dst": demand.flows[i].dst,
                                     "sport": int(demand.flows[i].sport), "rate_gbps": demand.flows[i].rate_gbps}
                                    for i in flows[:MAX_FLOWS_PER_LINK]]})
    return {"groups_from": groups_from, "demand": demand.name, "failed_links": failed,
            "hash": {"kind": cfg.kind, "seed": cfg.seed}, "links": links, "notes": notes}


def link_status(b: Backend, a: str, b_end: str | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The links of node ``a`` (or between ``a`` and ``b_end``; ``a`` may also be a link spec
    ``x--y``, ``x--y#key``, ``x:port--y:port``): attributes, whether the plan has them failed, and
    their planned and hashed utilisation each way."""
    fab = b.fabric()
    if "--" in a:
        found = [fab.find_link(a)]
    elif b_end is not None:
        found = fab.links_between(a, b_end)
        if not found:
            fab.node(a)
            fab.node(b_end)
            raise ConfigError(f"no link between {a} and {b_end}", where="b")
    else:
        fab.node(a)
        found = [lk for v in fab.graph.neighbors(a) for lk in fab.links_between(a, v)]
    plan, source = b.current_plan()
    loads = link_loads(fab, plan, options or {})
    by_dir = {(x["from"], x["to"], x["key"]): x for x in loads["links"]}
    failed = set(loads["failed_links"])
    out = []
    for lk in found:
        dirs = {}
        for u, v in ((lk.a, lk.b), (lk.b, lk.a)):
            x = by_dir.get((u, v, lk.key))
            dirs[f"{u}->{v}"] = (None if x is None else
                                 {k: x[k] for k in ("gbps_planned", "util_planned", "gbps_hashed", "util_hashed",
                                                    "flows")})
        out.append({"link": lk.name, "a": lk.a, "b": lk.b, "key": lk.key, "capacity_gbps": lk.capacity_gbps,
                    "length_km": lk.length_km, "latency_us": lk.latency_us, "kind": lk.kind, "up": lk.up,
                    "tier": fab.tier_of_link(lk.a, lk.b),
                    "failed_in_plan": any(fab.find_link(s) == lk for s in failed),
                    "load": dirs})
    return {"plan": source, "groups_from": loads["groups_from"], "demand": loads["demand"], "links": out,
            "notes": loads["notes"]}


def hot_links(b: Backend, top: int = 10, basis: str = "planned", options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``top`` directed links by utilisation (``planned``: exact weighted split of the plan's
    groups; ``hashed``: flow by flow through the switch hash), with the flows crossing each."""
    if top < 1:
        raise ConfigError(f"must be >= 1, got {top}", where="top")
    if basis not in ("planned", "hashed"):
        raise ConfigError(f"must be 'planned' or 'hashed', got {basis!r}", where="basis")
    fab = b.fabric()
    plan, source = b.current_plan()
    loads = link_loads(fab, plan, options or {})
    key = f"util_{basis}"
    ranked = sorted(loads["links"], key=lambda x: (-x[key], x["from"], x["to"], x["key"]))
    return {"plan": source, "basis": basis, "groups_from": loads["groups_from"], "demand": loads["demand"],
            "failed_links": loads["failed_links"], "hash": loads["hash"],
            "links": [{"link": f"{x['from']}->{x['to']}#{x['key']}", **x} for x in ranked[:top]],
            "notes": loads["notes"]}


def budget_pairs(fab: Fabric, pairs: list[dict[str, Any]] | None, hubs: bool) -> list[Any]:
    """:class:`optical.budget.PairSpec` for ``pairs`` (``{src, dst, class?, budget_ms?, via?}``, as a
    pairs file) or every pair of the eight hub cities."""
    from optical.budget import PairSpec, all_hubs_pairs
    from optical.constants import BUDGET_CLASSES_MS

    if hubs:
        return all_hubs_pairs(fab)
    if not pairs:
        raise ConfigError("give pairs ([{src, dst, class?, budget_ms?}]) or hubs=true", where="pairs")
    out = []
    for i, p in enumerate(pairs):
        cls = p.get("class")
        if cls is not None and cls not in BUDGET_CLASSES_MS:
            raise ConfigError(f"unknown class {cls!r} (expected {', '.join(BUDGET_CLASSES_MS)})",
                              where=f"pairs[{i}].class")
        bms = p.get("budget_ms")
        if bms is not None and not (isinstance(bms, int | float) and bms > 0):
            raise ConfigError(f"must be a number > 0, got {bms!r}", where=f"pairs[{i}].budget_ms")
        out.append(PairSpec(p["src"], p["dst"], cls, None if bms is None else float(bms) * 1000.0,
                            tuple(p.get("via") or ())))
    return out


def budget_model(rate: str) -> Any:
    """The budget model of ``plan budget --rate RATE`` with its other defaults."""
    from optical.budget import BudgetModel
    from optical.catalog import pick_transceiver

    t = pick_transceiver(rate)
    return BudgetModel(line_rate_gbps=t.rate_gbps, reach_km=t.reach_km)


def budget_check(b: Backend, pairs: list[dict[str, Any]] | None = None, hubs: bool = False,
                 rate: str = "1.6T") -> dict[str, Any]:
    """Latency budget per pair (``plan budget``): components, total, verdict; ``over`` counts violations."""
    from optical.budget import budgets

    fab = b.fabric()
    return budgets(fab, budget_pairs(fab, pairs, hubs), budget_model(rate))


def cc_parameters(b: Backend, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """PFC headroom, ECN and DCQCN per port group (``plan cc``; options are :class:`fabric.cc.CcOptions`
    fields, as ``ComputePlan cc`` takes them)."""
    from fabric.server.planning import cc_section

    return cc_section(b.fabric(), options or {}).to_dict()


def events(b: Backend, since: int = 0, limit: int = DEFAULT_EVENTS_LIMIT) -> dict[str, Any]:
    """The controller's event log after event ``since`` (at most ``limit``, oldest first)."""
    if since < 0:
        raise ConfigError(f"must be >= 0, got {since}", where="since")
    if limit < 1:
        raise ConfigError(f"must be >= 1, got {limit}", where="limit")
    out: list[dict[str, Any]] = []
    with b.client() as c:
        for e in c.watch(since, timeout_s=EVENTS_WAIT_S):
            if e["event_id"] == 0:
                continue  # a live notification, not a stored event
            out.append(e)
            if len(out) >= limit:
                break
    return {"events": out, "count": len(out)}


# ============================================================================ what-if
def _mlu(res: Any) -> dict[str, Any]:
    return {"mlu_lp": res.mlu_lp, "mlu_wcmp": res.mlu_wcmp, "mlu_ecmp": res.mlu_ecmp,
            "mlu_access": res.mlu_access, "entries_used": res.entries_used, "groups": len(res.groups),
            "failed_links": list(res.failed_links), "solver": res.solver.name, "status": res.solver.status,
            "seconds": res.seconds_total}


def what_if_fail(b: Backend, links: list[str] | None = None, nodes: list[str] | None = None,
                 options: dict[str, Any] | None = None, pairs: list[dict[str, Any]] | None = None,
                 rate: str = "1.6T") -> dict[str, Any]:
    """What happens if ``links``/``nodes`` fail, changing nothing: the recipe's WCMP plan (with the
    current plan's failures) before and after (warm recompute), the switches whose groups would
    change, and the latency budgets (``pairs``; default the current plan's budgets pairs) over after."""
    from fabric.plan.diff import diff
    from fabric.server.planning import wcmp_planner
    from fabric.wcmp import fail_fabric
    from optical.budget import budgets

    links, nodes = list(links or []), list(nodes or [])
    if not links and not nodes:
        raise ConfigError("name at least one link (a--b) or node to fail", where="links")
    fab = b.fabric()
    opts = dict(options or {})
    plan, source = b.current_plan()
    if plan is not None:
        plan.check_fabric(fab)
    already = list(plan.wcmp.failed_links) if plan is not None and plan.wcmp is not None else []
    planner = wcmp_planner(fab, _demand(fab, opts), opts)
    before = planner.fail(already) if already else planner.solve()
    before_section = before.section()
    after = planner.fail(links, nodes)
    old, new = Plan.new(fab), Plan.new(fab)
    old.add(before_section, fabric=fab)
    new.add(after.section(), fabric=fab)
    d = diff(old, new)["sections"].get("wcmp", {})
    per_switch = d.get("per_switch", {}) if d.get("status") == "changed" else {}
    specs = [{"src": p.src, "dst": p.dst, "class": p.budget_class,
              "budget_ms": None if p.budget_us is None else p.budget_us / 1000.0}
             for p in (plan.budgets.paths if plan is not None and plan.budgets is not None else [])]
    want = pairs if pairs is not None else specs
    budget: dict[str, Any] = {"pairs": len(want), "over_before": 0, "over_after": 0, "violations": []}
    if want:
        model = budget_model(rate)
        ps = budget_pairs(fab, want, False)
        failed_fab, _down = fail_fabric(fab, [*already, *links], nodes)
        bb, ba = budgets(fab, ps, model), budgets(failed_fab, ps, model)
        budget = {"pairs": len(ps), "over_before": bb["over"], "over_after": ba["over"],
                  "violations": [{"src": r["src"], "dst": r["dst"], "path": r["path"], "total_us": r["total_us"],
                                  "budget_us": r["budget_us"], "reasons": r["reasons"],
                                  "was_ok": q["verdict"] == "ok"}
                                 for q, r in zip(bb["paths"], ba["paths"], strict=True) if r["verdict"] == "over"]}
    return {"plan": source, "demand": before.demand, "already_failed": already, "fail_links": links,
            "fail_nodes": nodes, "before": _mlu(before), "after": _mlu(after),
            "switches_changed": sorted(per_switch), "per_switch": per_switch, "budgets": budget,
            "notes": after.notes}


def what_if_demand(b: Backend, collective: str = "ring", gpus: list[str] | None = None, servers: int | None = None,
                   gpus_per_server: int | None = None, rate_gbps: float | None = None, seed: int = 0,
                   qps_per_pair: int = 1, top: int = 5, name: str = "what-if") -> dict[str, Any]:
    """A job's collective (``gpus``, or ``servers`` placed at random as a job file's ``place``) planned
    on the fabric as it is (with the current plan's failures): MLU LP/WCMP/ECMP, its hottest links;
    and, when the current plan has groups for every destination, its MLU on those groups unchanged."""
    from fabric import traffic
    from fabric.errors import InfeasibleError
    from fabric.hashing import HashConfig, Tables, simulate
    from fabric.traffic import DEFAULT_RATE_GBPS
    from fabric.wcmp import WcmpPlanner, fail_fabric

    if top < 1:
        raise ConfigError(f"must be >= 1, got {top}", where="top")
    if qps_per_pair < 1:
        raise ConfigError(f"must be >= 1, got {qps_per_pair}", where="qps_per_pair")
    fab = b.fabric()
    if gpus:
        members = list(gpus)
        for g in members:
            fab.node(g)
    elif servers is not None:
        members = traffic.place_job(fab, servers, gpus_per_server, seed)
    else:
        members = fab.nodes("gpu") or fab.endpoints()
    rate = DEFAULT_RATE_GBPS if rate_gbps is None else rate_gbps
    if not rate > 0:
        raise ConfigError(f"must be > 0, got {rate}", where="rate_gbps")
    demand = traffic.generate(collective, fab, members, rate, seed, qps_per_pair=qps_per_pair, job=name)
    plan, source = b.current_plan()
    failed = list(plan.wcmp.failed_links) if plan is not None and plan.wcmp is not None else []
    on, _down = fail_fabric(fab, failed)
    res = WcmpPlanner(on, demand).solve()
    hot = sorted(res.util_wcmp.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    current: dict[str, Any] = {"mlu": None, "reason": "no wcmp section in the current plan"}
    if plan is not None and plan.wcmp is not None:
        groups = plan.wcmp.group_dicts()
        try:
            cfg = HashConfig()
            sim = simulate(on, demand, groups, cfg, tables=Tables(on, groups, cfg))
            r = sim.routed
            current = {"mlu": float((sim.fluid_load[r] / sim.cap[r]).max()) if r.any() else 0.0, "reason": ""}
        except InfeasibleError as exc:
            current = {"mlu": None, "reason": f"the plan's groups do not reach every destination: {exc}"}
    return {"plan": source, "demand": demand.name, "gpus": len(members), "flows": len(demand.flows),
            "total_gbps": demand.total_gbps(), "failed_links": failed, "replanned": _mlu(res),
            "hot_links": [{"link": f"{u}->{v}#{k}", "util": x} for (u, v, k), x in hot],
            "on_current_plan": current, "notes": res.notes}
