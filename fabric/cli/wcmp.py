"""``fabricctl plan wcmp`` and ``fabricctl plan ports``: load-balancing weights and QP source ports."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from fabric.cli.common import JSON_HELP, add_section, console, emit_json, err_console
from fabric.cli.options import OUT_DIR_HELP, at_least, non_negative, planner_out, positive
from fabric.cli.progress import progress
from fabric.errors import ConfigError
from fabric.qp_ports import DEFAULT_CANDIDATES
from fabric.traffic import DEFAULT_COLLECTIVE, DEFAULT_RATE_GBPS
from fabric.wcmp import DEFAULT_LP_TIME_LIMIT_S
from fabric.wcmp.reduce import (
    DEFAULT_MAX_GROUP_WEIGHT,
    DEFAULT_MAX_GROUPS,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_TABLE_SIZE,
    DEFAULT_THETA0,
)

FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."
DEMAND_HELP = ("Traffic: ring, tree, all-to-all, permutation, incast, uniform (over the job's GPUs, or all "
               "GPUs), or a CSV/YAML file of flows. Default: the job's collective, else ring.")


class HashKind(StrEnum):
    crc32 = "crc32"
    toeplitz = "toeplitz"


class SolverKind(StrEnum):
    auto = "auto"
    glop = "glop"
    pdlp = "pdlp"


def _demand(fab: Any, demand: str | None, job: Path | None, rate_gbps: float | None, seed: int | None,
            qps: int | None) -> Any:
    from fabric import traffic

    j = traffic.load_job(job, fab) if job is not None else None
    kind = demand or (j.collective if j and j.collective else DEFAULT_COLLECTIVE)
    rate = rate_gbps if rate_gbps is not None else (j.rate_gbps if j and j.rate_gbps else DEFAULT_RATE_GBPS)
    sd = seed if seed is not None else (j.seed if j else 0)
    q = qps if qps is not None else (j.qps_per_pair if j else 1)
    if kind not in traffic.KINDS:
        p = Path(kind)
        if not p.exists():
            raise ConfigError(f"--demand: not a demand kind ({', '.join(traffic.KINDS)}) and no such file",
                              file=kind)
        return traffic.load_demand(p, fab)
    if j is not None:
        gpus = j.gpus
    else:
        gpus = fab.nodes("gpu") or fab.endpoints()
        if not gpus:
            raise ConfigError(f"fabric {fab.name!r} has no endpoints (gpu, nic, host) to generate {kind!r} "
                              "traffic for; attach hosts or give --demand a flows file")
    return traffic.generate(kind, fab, gpus, rate, sd, qps_per_pair=q, job=j.name if j else None)


def _limits(max_group: int, max_weight: int, table_size: int, max_groups: int, theta0: float) -> Any:
    from fabric.wcmp import Limits

    lim = Limits(max_members=max_group, max_group_weight=max_weight, table_size=table_size,
                 max_groups=max_groups, theta0=theta0)
    lim.check()
    return lim


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    plan = groups["plan"]

    @plan.command("wcmp")
    def wcmp_cmd(
        fabric: str = typer.Argument(..., help=FABRIC_HELP),
        demand: str | None = typer.Option(None, "--demand", help=DEMAND_HELP),
        job: Path | None = typer.Option(None, "--job", help="Job file (YAML): gpus or place, collective, rate."),
        rate_gbps: float | None = typer.Option(None, "--rate-gbps", callback=positive("Gb/s"), help=f"Rate each GPU sends, Gb/s (default {DEFAULT_RATE_GBPS:g})."),
        qps_per_pair: int | None = typer.Option(None, "--qps-per-pair", callback=at_least(1), help="QPs per communicating pair."),
        seed: int | None = typer.Option(None, "--seed", callback=non_negative(), help="Seed of the demand generator."),
        fail: list[str] = typer.Option([], "--fail", help="Link(s) to fail (a--b, a--b#key, a:port--b:port); repeat or separate by commas."),
        fail_node: list[str] = typer.Option([], "--fail-node", help="Node(s) whose links all fail; repeat or separate by commas."),
        max_group: int = typer.Option(DEFAULT_MAX_MEMBERS, "--max-group", callback=at_least(1), help=f"Max members per group (default {DEFAULT_MAX_MEMBERS}, REFERENCE.md)."),
        max_weight: int = typer.Option(DEFAULT_MAX_GROUP_WEIGHT, "--max-weight", callback=at_least(1), help=f"Max total weight per group (default {DEFAULT_MAX_GROUP_WEIGHT}, SONiC PINS ToR)."),
        table_size: int = typer.Option(DEFAULT_TABLE_SIZE, "--table-size", callback=at_least(1), help=f"Entries per switch (default {DEFAULT_TABLE_SIZE:,}, Tomahawk-2 class)."),
        max_groups: int = typer.Option(DEFAULT_MAX_GROUPS, "--max-groups", callback=at_least(1), help=f"Distinct groups per switch (default {DEFAULT_MAX_GROUPS:,}, SONiC PINS)."),
        theta0: float = typer.Option(DEFAULT_THETA0, "--theta0", callback=at_least(1.0), help="Initial oversubscription bound of the reduction."),
        solver: SolverKind = typer.Option(SolverKind.auto, "--solver", help="LP solver (auto: GLOP, PDLP when large)."),
        time_limit: float = typer.Option(DEFAULT_LP_TIME_LIMIT_S, "--time-limit", callback=positive("seconds"), help="LP time limit per component, s."),
        no_balance: bool = typer.Option(False, "--no-balance", help="Skip the phase that keeps splits close to ECMP."),
        max_mlu: float | None = typer.Option(None, "--max-mlu", callback=positive(), help="Exit 1 when the WCMP MLU exceeds this."),
        out: Path | None = typer.Option(None, "-o", "--out", help="Plan file to write (*.json; default: the --plan "
                                        "file, else OUT_DIR/plan.json)."),
        out_dir: Path | None = typer.Option(None, "--out-dir", help=OUT_DIR_HELP + " The PNG goes here."),
        plan_path: Path | None = typer.Option(None, "--plan", help="Plan file to add the section to (default OUT_DIR/plan.json)."),
        png: bool = typer.Option(True, "--png/--no-png", help="Write OUT_DIR/wcmp-util.png."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Optimal ECMP/WCMP weights: LP min-MLU, integer WCMP groups within switch limits, ECMP baseline."""
        from fabric.io import load_fabric
        from fabric.wcmp import WcmpPlanner
        from fabric.wcmp.report import plot_utilisation, wcmp_table

        out, folder = planner_out(out, out_dir, "plan wcmp")
        fab = load_fabric(fabric)
        fail = [x.strip() for item in fail for x in item.split(",") if x.strip()]
        fail_node = [x.strip() for item in fail_node for x in item.split(",") if x.strip()]
        dem = _demand(fab, demand, job, rate_gbps, seed, qps_per_pair)
        limits = _limits(max_group, max_weight, table_size, max_groups, theta0)
        planner = WcmpPlanner(fab, dem, limits=limits, solver=solver.value, time_limit_s=time_limit,
                              balance=not no_balance)
        with progress("solving the min-MLU LP and WCMP groups", quiet=json_out) as p:
            res = planner.solve()
            base = res
            if fail or fail_node:
                p.update("recomputing after the failure")
                res = planner.fail(fail, fail_node)
        summary = res.summary()
        summary["groups"] = res.groups
        if fail or fail_node:
            summary["baseline"] = {"mlu_lp": base.mlu_lp, "mlu_wcmp": base.mlu_wcmp, "mlu_ecmp": base.mlu_ecmp,
                                   "seconds_total": base.seconds_total}
            summary["recompute_seconds"] = res.seconds_total
        ppath = out or plan_path or folder / "plan.json"  # written; read from --plan when given
        add_section(ppath, res.section(), fab, read_from=plan_path)
        summary["plan"] = str(ppath)
        if png:
            img = folder / "wcmp-util.png"
            plot_utilisation(res, img)
            summary["png"] = str(img)
        if json_out:
            emit_json(summary)
        else:
            console.print(wcmp_table(summary))
            if fail or fail_node:
                console.print(f"before the failure: MLU LP {base.mlu_lp:.4f}, WCMP {base.mlu_wcmp:.4f}, "
                              f"ECMP {base.mlu_ecmp:.4f}; recomputed in {res.seconds_total * 1000:.1f} ms "
                              f"(cold solve {base.seconds_total * 1000:.1f} ms)")
            for note in res.notes:
                console.print(f"[yellow]note[/]: {note}")
            console.print(f"plan: {ppath}" + (f", plot: {summary['png']}" if png else ""))
        if max_mlu is not None and res.mlu_wcmp > max_mlu:
            err_console.print(f"check failed: WCMP MLU {res.mlu_wcmp:.4f} > --max-mlu {max_mlu}")
            raise typer.Exit(1)

    @plan.command("ports")
    def ports_cmd(
        fabric: str = typer.Argument(..., help=FABRIC_HELP),
        job: Path = typer.Option(..., "--job", help="Job file (YAML): gpus or place, collective, rate, qps_per_pair."),
        hash_kind: HashKind = typer.Option(HashKind.crc32, "--hash", help="Switch hash function."),
        demand: str | None = typer.Option(None, "--demand", help=DEMAND_HELP),
        rate_gbps: float | None = typer.Option(None, "--rate-gbps", callback=positive("Gb/s"), help="Rate each GPU sends, Gb/s."),
        qps_per_pair: int | None = typer.Option(None, "--qps-per-pair", callback=at_least(1), help="QPs per communicating pair."),
        seed: int | None = typer.Option(None, "--seed", callback=non_negative(), help="Seed of the random ports and of the hash seeds."),
        polarize: bool = typer.Option(False, "--polarize", help="Same hash seed on every switch (polarisation)."),
        hash_qp: bool = typer.Option(False, "--hash-qp", help="CRC32 also hashes the destination QP (as Meta does)."),
        candidates: int = typer.Option(DEFAULT_CANDIDATES, "--candidates", callback=at_least(1), help="Source ports tried per QP when placing."),
        out: Path | None = typer.Option(None, "-o", "--out", help="Plan file to write (*.json; default: the --plan "
                                        "file, else OUT_DIR/plan.json)."),
        out_dir: Path | None = typer.Option(None, "--out-dir", help=OUT_DIR_HELP + " The default plan goes here."),
        plan_path: Path | None = typer.Option(None, "--plan", help="Plan file (default OUT_DIR/plan.json). Its wcmp "
                                              "section's groups are used when it has one."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Place RoCE QP source ports on the plan's WCMP groups so that hashing spreads them; compare with
        random ports. Without a wcmp section in the plan, WCMP is solved first (and said so)."""
        from fabric.hashing import HashConfig
        from fabric.io import load_fabric
        from fabric.plan import Plan
        from fabric.qp_ports import place_ports
        from fabric.wcmp import WcmpPlanner, fail_fabric

        out, folder = planner_out(out, out_dir, "plan ports")
        fab = load_fabric(fabric)
        dem = _demand(fab, demand, job, rate_gbps, seed, qps_per_pair)
        ppath = out or plan_path or folder / "plan.json"  # written; read from --plan when given
        source = plan_path or ppath
        existing = Plan.load(source) if source.exists() else None
        if existing is not None:
            existing.check_fabric(fab)
        cfg = HashConfig(kind=hash_kind.value, seed=seed or 0, polarize=polarize, use_qp=hash_qp)
        with progress("placing source ports", quiet=json_out):
            if existing is not None and existing.wcmp is not None:
                groups_from = "plan"
                groups = existing.wcmp.group_dicts()
                # the groups were computed with these links down: hash over the same fabric state
                on, _down = fail_fabric(fab, existing.wcmp.failed_links)
            else:
                groups_from = "solved"
                groups, on = WcmpPlanner(fab, dem).solve().groups, fab
            pr = place_ports(on, dem, groups, cfg, candidates=candidates, seed=seed or 0)
        add_section(ppath, pr.section(), fab, read_from=plan_path)
        summary = pr.summary()
        summary["groups_from"] = groups_from
        summary["plan"] = str(ppath)
        if json_out:
            emit_json(summary)
            return
        from rich.table import Table

        t = Table(title=f"QP source ports ({cfg.kind}{', polarised' if polarize else ''}), {len(dem.flows)} QPs")
        for col in ("ports", "max load / ideal", "collisions", "usable share"):
            t.add_column(col)
        t.add_row("random", f"{pr.max_load_random:.3f}", str(pr.collisions_random), f"{pr.usable_random:.3f}")
        t.add_row("placed", f"{pr.max_load_placed:.3f}", str(pr.collisions_placed), f"{pr.usable_placed:.3f}")
        console.print(t)
        console.print(f"groups: {'from the plan' if groups_from == 'plan' else 'solved (the plan had no wcmp section)'}"
                      f"; plan: {ppath}")
