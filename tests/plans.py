"""Hand-made plan sections for tests: the few fields a test cares about, the rest filled with neutral
values that pass the contract (a lab or renderer test should not need a planner run)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fabric.plan import BudgetsSection, OcsSection, WcmpSection
from fabric.wcmp import Limits
from optical.budget import BudgetModel


def wcmp_section(groups: list[dict[str, Any]], failed_links: list[str] | None = None,
                 **limits: Any) -> WcmpSection:
    """A ``wcmp`` section with these groups (``delta`` defaults to 1.0); ``limits`` override the
    default switch limits (a switch whose groups may weigh more than 256, say)."""
    gs = [{"delta": 1.0, **g} for g in groups]
    return WcmpSection.from_dict({
        "groups": gs, "mlu_lp": 0.0, "mlu_wcmp": 0.0, "mlu_ecmp": 0.0,
        "entries_used": sum(h["weight"] for g in gs for h in g["next_hops"]), "max_delta": 1.0,
        "mlu_access": 0.0, "demand": "hand-made", "failed_links": list(failed_links or []),
        "limits": {**asdict(Limits()), **limits}})


def budgets_section(paths: list[dict[str, Any]], model: dict[str, Any] | None = None) -> BudgetsSection:
    """A ``budgets`` section with these paths (missing per-path fields filled, ``over`` counted)."""
    ps = [{"reasons": [], "great_circle_km": None, "stretch": None, "regenerators": [], **p} for p in paths]
    return BudgetsSection.from_dict({"paths": ps, "over": sum(p["verdict"] == "over" for p in ps),
                                     "model": BudgetModel().as_dict() if model is None else model})


def ocs_section(circuits: dict[str, list[list[int]]]) -> OcsSection:
    """An ``ocs`` section with these cross-connects (figures neutral)."""
    return OcsSection.from_dict({"throughput_scale": 0.0, "lp_bound": 0.0, "gap": 0.0, "mlu": 0.0,
                                 "circuits": circuits, "logical": [], "wiring": {}, "circuit_gbps": 400.0,
                                 "direct_share": 0.0, "dropped": 0, "changed": {}})
