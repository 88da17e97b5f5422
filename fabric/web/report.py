"""``fabricctl report``: the web view's map, utilisation and budgets as one self-contained HTML file.

The page is the live view's (same JavaScript and stylesheet, inlined) reading documents embedded in
the file instead of the API: nothing is fetched, no service runs.
"""

from __future__ import annotations

import os
from typing import Any

from fabric.plan import Plan
from fabric.topology import Fabric
from fabric.web import views
from fabric.web.plots import embedded_plots


def report_data(fab: Fabric, plan: Plan, demand: Any, *, level: str = "auto",
                top: int = views.DEFAULT_TOP, plots_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The documents the page reads: ``map``, ``utilisation`` (per mode, as ``/api/utilisation``),
    ``budgets``, ``cc``, ``plots`` (as ``/api/cc/plots``, each PNG inlined as a data URI in ``src``)."""
    plan.check_fabric(fab)
    failed = list(plan.wcmp.failed_links) if plan.wcmp is not None else []
    fmap = views.fabric_map(fab, level, down=views.failed_link_ids(fab, failed)) | {"version": 1}
    util: dict[str, Any] = {}
    for mode in views.MODES:
        per_link: dict[str, float] = {}
        if plan.wcmp is not None and demand is not None:
            from fabric import contract

            groups = [contract.dump(g) for g in plan.wcmp.groups]
            per_link = views.planned_utilisation(fab, groups, demand, mode=mode, failed_links=failed)
        util[mode] = {"version": 1, "mode": mode, "level": fmap["level"],
                      "links": views.aggregate_utilisation(per_link, fmap), "busiest": views.busiest(per_link, top),
                      "mlu": max(per_link.values(), default=0.0), "measured": None,
                      "measured_note": "planned utilisation (offline report)"}
    return {"map": fmap, "utilisation": util, "budgets": views.budgets_view(plan), "cc": views.cc_view(plan),
            "plots": embedded_plots(plots_dir)}


def write_report(path: str | os.PathLike[str], data: dict[str, Any]) -> int:
    """Write the self-contained page atomically; returns its size in bytes."""
    from fabric.io.atomic import write_text_atomic
    from fabric.web.app import page

    html = page("report", data, inline=True)
    write_text_atomic(path, html)
    return len(html.encode("utf-8"))
