"""``fabricctl plan ocs|wdm|budget``: optical planning (OCS circuits, wavelengths, latency budgets).

Thin: parse arguments, call :mod:`optical`, render a table or ``--json``, optionally add the section
to a plan file (``--plan FILE``, written atomically). ``plan budget`` exits 1 when any path is over
budget; ``plan wdm`` exits 0 even with blocked demands (they are reported with reasons).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fabric.cli.common import JSON_HELP, add_section, console, emit_json, err_console
from fabric.cli.options import PLAN_OUT_HELP, at_least, in_range, non_negative, plan_files, positive
from fabric.cli.progress import progress
from fabric.constants import DEFAULT_ROUTE_FACTOR
from fabric.plan import Plan
from optical import constants as C

FIBRES_HELP = ("Fibre graph: a Topology Zoo GML file, zoo:<Name> (e.g. zoo:Chinanet), our YAML, "
               "a containerlab file or 'example' (the demo's two-site fabric).")
PLAN_HELP = "Add this result as a section of this plan file (created if missing, written atomically)."
ROUTE_FACTOR_HELP = f"GML only: fibre km = great circle x this (default {DEFAULT_ROUTE_FACTOR})."


def load_fibres(spec: str, route_factor: float | None) -> Any:
    """Load FIBRES; ``route_factor`` (fibre km / great-circle km) applies to GML input only."""
    from fabric.errors import ConfigError
    from fabric.io import load_fabric

    if route_factor is not None:  # >= 1 (the option's check)
        from fabric.io.gml import load_gml, zoo_path

        if spec.startswith("zoo:"):
            return load_gml(zoo_path(spec[4:]), route_factor=route_factor)
        if spec.lower().endswith(".gml"):
            return load_gml(spec, route_factor=route_factor)
        raise ConfigError("--route-factor applies to GML input only", where="--route-factor")
    return load_fabric(spec)


def _save_section(plan_path: Path | None, out: Path | None, section: Any, fabric: Any = None) -> None:
    """Add the section to ``--plan`` (written back there) or to the plan written to ``-o/--out``."""
    read_from, target = plan_files(plan_path, out)
    if target is None:
        return
    add_section(target, section, fabric, read_from=read_from)
    err_console.print(f"wrote section {section.NAME!r} to {target}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    plan = groups["plan"]

    @plan.command("budget")
    def budget(fibres: str = typer.Argument(..., help=FIBRES_HELP),
               pairs: str = typer.Option(..., "--pairs", help="Pairs file (YAML/JSON, see README) or "
                                         "'all-hubs' (the eight national hub cities; needs zoo:Chinanet)."),
               rate: str = typer.Option(C.DEFAULT_LINE_RATE, "--rate", help="Line rate per wavelength (sets reach and "
                                        "serialisation): 400G, 800G or 1.6T."),
               regen: bool = typer.Option(True, "--regen/--no-regen", help="Insert regeneration when a run "
                                          "exceeds the transceiver reach."),
               stretch_max: float = typer.Option(C.STRETCH_MAX, "--stretch-max", callback=non_negative(), help="Max fibre km / great-circle km "
                                                 "(the 1.5x rule); 0 disables."),
               city_ms: float = typer.Option(C.BUDGET_CLASSES_MS["city"], "--city-ms", callback=positive("milliseconds"), help="Budget of class city, ms."),
               regional_ms: float = typer.Option(C.BUDGET_CLASSES_MS["regional"], "--regional-ms", callback=positive("milliseconds"), help="Budget of class regional, ms."),
               hub_ms: float = typer.Option(C.BUDGET_CLASSES_MS["hub"], "--hub-ms", callback=positive("milliseconds"), help="Budget of class hub, ms."),
               transponder_us: float | None = typer.Option(None, callback=non_negative(), help=f"Per transponder, µs (default {C.TRANSPONDER_US:g}, assumption)."),
               fec_us: float | None = typer.Option(None, callback=non_negative(), help=f"Per FEC decode, µs (default {C.FEC_US:g})."),
               regen_us: float | None = typer.Option(None, callback=non_negative(), help=f"Per regeneration site, µs (default {C.REGEN_US:g})."),
               switch_us: float | None = typer.Option(None, callback=non_negative(), help=f"Per packet switch, µs (default {C.SWITCH_US:g}, assumption)."),
               route_factor: float | None = typer.Option(None, "--route-factor", callback=at_least(1.0), help=ROUTE_FACTOR_HELP),
               plan_file: Path | None = typer.Option(None, "--plan", help=PLAN_HELP),
               out: Path | None = typer.Option(None, "-o", "--out", help=PLAN_OUT_HELP),
               json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Latency budget per path: fibre, devices, FEC, serialisation; verdict per path (exit 1 if any is over)."""
        from optical.budget import BudgetModel, all_hubs_pairs, budgets_section, load_pairs
        from optical.catalog import pick_transceiver

        fab = load_fibres(fibres, route_factor)
        t = pick_transceiver(rate)
        over: dict[str, Any] = {k: v for k, v in (("transponder_us", transponder_us), ("fec_us", fec_us),
                                                  ("regen_us", regen_us), ("switch_us", switch_us)) if v is not None}
        model = BudgetModel(line_rate_gbps=t.rate_gbps, reach_km=t.reach_km if regen else None,
                            classes_ms={"city": city_ms, "regional": regional_ms, "hub": hub_ms},
                            stretch_max=stretch_max, **over)
        specs = all_hubs_pairs(fab) if pairs == "all-hubs" else load_pairs(pairs)
        sec = budgets_section(fab, specs, model, file=None if pairs == "all-hubs" else pairs,
                              params={"fibres": fibres, "pairs": pairs, "rate_gbps": t.rate_gbps})
        data = sec.to_dict()
        n_over = data["over"]
        _save_section(plan_file, out, sec, fab)
        if json_out:
            emit_json(data)
        else:
            tab = Table(title=f"latency budgets on {fab.name} ({len(data['paths'])} paths, {n_over} over)")
            for col in ("src", "dst", "hops", "km", "fibre µs", "devices µs", "total µs", "budget µs",
                        "class", "verdict"):
                tab.add_column(col, no_wrap=col in ("src", "dst"))
            for r in data["paths"]:
                fibre = sum(c["us"] for c in r["components"] if c["name"] == "fibre")
                verdict = "[green]ok" if r["verdict"] == "ok" else "[red]over"
                tab.add_row(r["src"], r["dst"], str(max(0, len(r["path"]) - 1)), f"{r['km']:.0f}", f"{fibre:.0f}",
                            f"{r['total_us'] - fibre:.1f}", f"{r['total_us']:.0f}", f"{r['budget_us']:.0f}",
                            r["budget_class"], verdict)
            console.print(tab)
            for r in data["paths"]:
                for why in r["reasons"]:
                    err_console.print(f"[red]over[/] {r['src']} -> {r['dst']}: {why}")
        if n_over:
            raise typer.Exit(1)

    @plan.command("wdm")
    def wdm(fibres: str = typer.Argument(..., help=FIBRES_HELP),
            demand: Path = typer.Option(..., "--demand", help="Demand file (YAML/JSON): demands in Tb/s "
                                        "between sites (see README)."),
            rate: str = typer.Option(C.DEFAULT_LINE_RATE, "--rate", help="Line rate per wavelength: 400G, 800G or 1.6T."),
            protect: bool = typer.Option(False, "--protect", help="1+1 protection on link-disjoint paths "
                                         "for every demand."),
            band: str = typer.Option(C.DEFAULT_BAND, "--band", help="Usable spectrum per fibre: C or C+L."),
            regen: bool = typer.Option(True, "--regen/--no-regen", help="Allow regeneration sites when a "
                                       "route exceeds the reach (otherwise such routes are not used)."),
            k: int = typer.Option(C.WDM_K_PATHS, "-k", "--k-paths", callback=at_least(1), help="Candidate routes per demand (k shortest)."),
            solver: str = typer.Option(C.WDM_SOLVER, "--solver", help="cp-sat or first-fit (the baseline)."),
            time_limit: float = typer.Option(C.WDM_TIME_LIMIT_S, "--time-limit", callback=positive("seconds"), help="CP-SAT time limit, s."),
            route_factor: float | None = typer.Option(None, "--route-factor", callback=at_least(1.0), help=ROUTE_FACTOR_HELP),
            plan_file: Path | None = typer.Option(None, "--plan", help=PLAN_HELP),
            out: Path | None = typer.Option(None, "-o", "--out", help=PLAN_OUT_HELP),
            json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Routing and wavelength assignment with wavelength continuity (CP-SAT, or first-fit on k shortest paths)."""
        from fabric.errors import ConfigError
        from optical.catalog import band_ghz, pick_transceiver
        from optical.wdm import load_demands, plan_wdm

        if solver not in ("cp-sat", "first-fit"):
            raise ConfigError(f"unknown solver {solver!r} (expected cp-sat or first-fit)", where="--solver")
        fab = load_fibres(fibres, route_factor)
        t = pick_transceiver(rate)
        spectrum = band_ghz(band)
        demands = load_demands(demand, protect_default=protect)
        with progress(f"routing and assigning wavelengths ({solver}, limit {time_limit:g} s)", quiet=json_out):
            res = plan_wdm(fab, demands, t, spectrum_ghz=spectrum, k=k, regen=regen, solver=solver,
                           time_limit_s=time_limit, file=str(demand))
        data = res.data
        _save_section(plan_file, out, res.section, fab)
        if json_out:
            emit_json({**data, "solver": res.solver_info})
            return
        si = res.solver_info
        console.print(f"[bold]{si['name']}[/] {si['status']}: {data['wavelengths_used']} wavelengths used "
                      f"(lower bound {data['lower_bound']}, max fibre load {data['max_fiber_load']}, "
                      f"{data['channels']} channels of {t.channel_ghz:g} GHz at {t.rate_gbps:g}G), "
                      f"{len(data['lightpaths'])} lightpaths, {len(data['blocked'])} demands blocked, "
                      f"{si['seconds']:.2f} s")
        tab = Table(title="lightpaths")
        for col in ("src", "dst", "route", "λ", "rate G", "protection", "km", "regenerators"):
            tab.add_column(col)
        for lp in data["lightpaths"]:
            tab.add_row(lp["src"], lp["dst"], " > ".join(lp["route"]), str(lp["wavelength"]),
                        f"{lp['rate_gbps']:g}", "yes" if lp["protection"] else "", f"{lp['km']:.0f}",
                        ", ".join(lp["regenerators"]))
        console.print(tab)
        for b in data["blocked"]:
            err_console.print(f"[yellow]blocked[/] {b['src']} -> {b['dst']} ({b['lightpaths']} lightpaths): "
                              f"{b['reason']}")

    @plan.command("ocs")
    def ocs(blocks: Path = typer.Argument(..., help="Blocks file (YAML/JSON): aggregation blocks, "
                                          "uplinks, OCS devices and wiring (see README)."),
            demand: Path = typer.Option(..., "--demand", help="Block-to-block demand matrix, Gb/s."),
            current: Path | None = typer.Option(None, "--current", help="A plan file with the current "
                                                "ocs section: change as few circuits as possible."),
            tolerance: float = typer.Option(C.OCS_TOLERANCE, "--tolerance", callback=in_range(0, 1, hi_open=True), help="With --current: accept throughput "
                                            "within this fraction of the LP bound (or what a from-scratch plan "
                                            "carries, if less), changing as few circuits as possible."),
            time_limit: float = typer.Option(C.OCS_TIME_LIMIT_S, "--time-limit", callback=positive("seconds"), help="CP-SAT and local-search time limit, s."),
            eval_time_limit: float = typer.Option(C.OCS_EVAL_TIME_LIMIT_S, "--eval-time-limit", callback=positive("seconds"), help="Time limit of each "
                                                  "evaluation of placed circuits, s."),
            evaluate: str = typer.Option(C.OCS_EVALUATOR, "--evaluate", help="Throughput of the placed circuits: "
                                         "lp (exact GLOP LP), flow (flow deviation, fast, a feasible "
                                         "routing) or auto (lp on small instances, flow on large ones)."),
            plan_file: Path | None = typer.Option(None, "--plan", help=PLAN_HELP),
            out: Path | None = typer.Option(None, "-o", "--out", help=PLAN_OUT_HELP),
            json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """OCS circuits between aggregation blocks: LP bound, integer circuits (CP-SAT), per-OCS port pairs."""
        from optical.ocs import circuits_from_plan, load_block_demand, load_blocks, plan_ocs

        spec = load_blocks(blocks)
        dem = load_block_demand(demand, spec)
        cur = circuits_from_plan(Plan.load(current), spec, file=str(current)) if current else None
        with progress(f"placing OCS circuits (LP bound, CP-SAT, limit {time_limit:g} s)", quiet=json_out):
            res = plan_ocs(spec, dem, current=cur, tolerance=tolerance, time_limit_s=time_limit,
                           eval_time_limit_s=eval_time_limit, evaluator=evaluate)
        _save_section(plan_file, out, res.section)
        if json_out:
            emit_json({**res.data, "solver": res.solver_info})
            return
        d = res.data
        console.print(f"throughput scale {d['throughput_scale']:.4f} (LP bound {d['lp_bound']:.4f}, gap "
                      f"{d['gap']:.2%}); {sum(len(v) for v in d['circuits'].values())} circuits on "
                      f"{len(d['circuits'])} OCS; {d['direct_share']:.0%} of traffic on direct paths")
        ch = d["changed"]
        if ch.get("from_current"):
            console.print(f"reconfiguration: kept {ch['kept']}, added {ch['added']}, removed {ch['removed']}")
        tab = Table(title="circuits between blocks")
        for col in ("block a", "block b", "circuits"):
            tab.add_column(col)
        for row in d["logical"]:
            tab.add_row(row["a"], row["b"], str(row["circuits"]))
        console.print(tab)
