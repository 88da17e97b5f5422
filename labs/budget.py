"""Latency budgets checked in a running lab: measured one-way delay per path against its budget.

Input is the Plan's ``budgets`` section (shape in the brief: ``{"paths": [{"src", "dst", "path",
"km", "components", "total_us", "budget_us", "budget_class", "verdict"}]}``) or a file holding either
a whole Plan or just that dict. A path passes when the measured mean one-way delay from ``src`` to
``dst`` is at most ``budget_us`` times the lab's delay scale (a lab built with shortened delays
shortens its budgets the same way, and says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fabric.errors import ConfigError
from fabric.io.reader import read_document
from labs.constants import DEFAULT_PROBE_COUNT
from labs.lab import Lab


def load_budgets(path: str | Path) -> dict[str, Any]:
    """The ``budgets`` data from a Plan file or a bare ``{"paths": [...]}`` file."""
    p = Path(path)
    obj = read_document(p, what="budgets file", formats=("json",)).data
    if isinstance(obj, dict) and "sections" in obj:  # a whole Plan
        from fabric.plan import Plan

        plan = Plan.from_dict(obj, file=str(p))
        if plan.budgets is None:
            raise ConfigError("the plan has no budgets section (run `fabricctl plan budget` first)",
                              file=str(p), where="sections.budgets")
        obj = plan.budgets.to_dict()
    return validate_budgets(obj, str(p))


def validate_budgets(obj: Any, file: str | None = None) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("paths"), list):
        raise ConfigError("expected a budgets section: an object with a list 'paths'", file=file, where="budgets")
    for i, row in enumerate(obj["paths"]):
        where = f"budgets.paths[{i}]"
        if not isinstance(row, dict):
            raise ConfigError("each path must be an object", file=file, where=where)
        for key in ("src", "dst"):
            if not isinstance(row.get(key), str):
                raise ConfigError(f"{key!r} must be a node name", file=file, where=f"{where}.{key}")
        b = row.get("budget_us")
        if not isinstance(b, int | float) or isinstance(b, bool) or not b > 0:
            raise ConfigError(f"budget_us must be a positive number, got {b!r}", file=file, where=f"{where}.budget_us")
    return obj


def check(lab: Lab, budgets: dict[str, Any], count: int = DEFAULT_PROBE_COUNT) -> dict[str, Any]:
    """Measure every path; ``ok`` is False when any measured path is over its budget."""
    from labs.probe import latency

    scale = float(lab.state.get("delay_scale", 1.0))
    rows = []
    nodes = set(lab.nodes())
    for p in budgets["paths"]:
        row: dict[str, Any] = {"src": p["src"], "dst": p["dst"], "budget_us": p["budget_us"],
                               "planned_us": p.get("total_us"), "budget_class": p.get("budget_class")}
        if p["src"] not in nodes or p["dst"] not in nodes:
            row.update(verdict="skipped", reason="node not in this lab")
            rows.append(row)
            continue
        m = latency(lab, p["src"], p["dst"], count=count)
        measured_us = m["one_way_ms"]["mean"] * 1000
        limit = p["budget_us"] * scale
        row.update(measured_us=measured_us, measured_p99_us=m["one_way_ms"]["p99"] * 1000,
                   limit_us=limit, verdict="ok" if measured_us <= limit else "over")
        rows.append(row)
    over = [r for r in rows if r["verdict"] == "over"]
    return {"ok": not over, "violations": len(over), "checked": sum(r["verdict"] != "skipped" for r in rows),
            "delay_scale": scale, "rate_scale": lab.state.get("rate_scale"), "paths": rows}
