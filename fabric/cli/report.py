"""``fabricctl report``: one self-contained HTML file (map, utilisation, budgets, cc) without a service."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import JSON_HELP, console, emit_json, err_console
from fabric.cli.options import at_least, non_negative, positive
from fabric.traffic import DEFAULT_COLLECTIVE, DEFAULT_RATE_GBPS
from fabric.web.views import DEFAULT_LEVEL, MAP_FULL_NODES

FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."
#: Relative difference between the report's busiest link and the plan's MLU above which the demand is
#: said not to be the plan's (the fluid evaluation and the planner agree to rounding, see tests).
DEMAND_MISMATCH = 1e-6


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("report")
    def report_cmd(
        fabric: str = typer.Argument(..., help=FABRIC_HELP),
        plan_path: Path = typer.Option(..., "--plan", help="Plan file (its wcmp, budgets and cc sections are shown)."),
        out: Path = typer.Option(..., "-o", "--out", help="HTML file to write."),
        demand: str | None = typer.Option(None, "--demand", help="The plan's traffic: ring, tree, all-to-all, "
                                          "permutation, incast, uniform, or a CSV/YAML file of flows "
                                          f"(default {DEFAULT_COLLECTIVE}, as plan wcmp)."),
        rate_gbps: float = typer.Option(DEFAULT_RATE_GBPS, "--rate-gbps", callback=positive("Gb/s"),
                                        help=f"Rate each GPU sends, Gb/s (default {DEFAULT_RATE_GBPS:g})."),
        qps_per_pair: int | None = typer.Option(None, "--qps-per-pair", callback=at_least(1),
                                                help="QPs per communicating pair (default 1)."),
        seed: int | None = typer.Option(None, "--seed", callback=non_negative(),
                                        help="Seed of the demand generator (default 0)."),
        level: str = typer.Option(DEFAULT_LEVEL, "--level", help="Map detail: auto (every node up to "
                                  f"{MAP_FULL_NODES:,} nodes), full, aggregate (by rail)."),
        plots_dir: Path | None = typer.Option(None, "--plots-dir", help="Folder of 'fabricctl sim cc --out-dir DIR' "
                                              "PNG plots: the newest are embedded in the report."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Write the web view's map, link utilisation (WCMP and ECMP) and latency budgets to one HTML file."""
        from fabric import traffic
        from fabric.errors import ConfigError
        from fabric.io import load_fabric
        from fabric.plan import Plan
        from fabric.server.planning import wcmp_demand
        from fabric.web import views
        from fabric.web.report import report_data, write_report

        if level not in views.LEVELS:
            raise ConfigError(f"must be one of {', '.join(views.LEVELS)}, got {level!r}", where="--level")
        if plots_dir is not None and not plots_dir.is_dir():
            raise ConfigError("no such folder", file=str(plots_dir), where="--plots-dir")
        fab = load_fabric(fabric)
        plan = Plan.load(plan_path)
        plan.check_fabric(fab)
        dem = None
        if plan.wcmp is not None:
            kind = demand or DEFAULT_COLLECTIVE
            if kind in traffic.KINDS:
                opts = {"demand": kind, "rate_gbps": rate_gbps, "seed": seed, "qps_per_pair": qps_per_pair}
                dem = wcmp_demand(fab, {k: v for k, v in opts.items() if v is not None}, None)
            elif Path(kind).exists():
                dem = traffic.load_demand(kind, fab)
            else:
                raise ConfigError(f"not a demand kind ({', '.join(traffic.KINDS)}) and no such file", file=kind,
                                  where="--demand")
        data = report_data(fab, plan, dem, level=level, plots_dir=plots_dir)
        size = write_report(out, data)
        doc = {"out": str(out), "bytes": size, "nodes": data["map"]["counts"]["nodes"],
               "map_level": data["map"]["level"], "mlu_wcmp": data["utilisation"]["wcmp"]["mlu"],
               "mlu_ecmp": data["utilisation"]["ecmp"]["mlu"], "budgets_over": data["budgets"]["over"],
               "plots": [p["name"] for p in data["plots"]["plots"]], "warnings": []}
        if plan.wcmp is not None:
            want = max(plan.wcmp.mlu_wcmp, plan.wcmp.mlu_access)
            if abs(doc["mlu_wcmp"] - want) > DEMAND_MISMATCH * max(1.0, want):
                doc["warnings"].append(f"the busiest link carries {doc['mlu_wcmp']:.4f} under this demand but the plan "
                                       f"says {want:.4f}: is --demand the plan's demand?")
        if json_out:
            emit_json(doc)
        else:
            for w in doc["warnings"]:
                err_console.print(f"warning: {w}")
            console.print(f"wrote {out} ({size:,} bytes): {doc['nodes']:,} nodes ({doc['map_level']} map), "
                          f"WCMP max {doc['mlu_wcmp']:.3f}, ECMP max {doc['mlu_ecmp']:.3f}, "
                          f"{doc['budgets_over']} budget(s) over")
