"""``fabricctl plan cc`` (PFC/ECN/DCQCN per port group), ``fabricctl sim cc`` and ``sim cc-tune``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from fabric.cc import DEFAULT_OVER_SUBSCRIBE_RATIO, DEFAULT_PROFILE, DEFAULT_SWITCH_MODEL
from fabric.cli.common import JSON_HELP, add_section, console, emit_json, err_console
from fabric.cli.options import (
    PLAN_OUT_HELP,
    at_least,
    legacy_out_dir,
    non_negative,
    plan_files,
    positive,
)
from fabric.cli.progress import progress

FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @groups["plan"].command("cc")
    def plan_cc_cmd(fabric: str = typer.Argument(..., help=FABRIC_HELP),
                    profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help="paper | nvidia | production."),
                    switch_buffer: float | None = typer.Option(None, "--switch-buffer", callback=positive("MiB"),
                                                               help="Switch packet buffer in MB (MiB)."),
                    switch_model: str = typer.Option(DEFAULT_SWITCH_MODEL, "--switch-model", help="ASIC figures."),
                    over_subscribe_ratio: float = typer.Option(
                        DEFAULT_OVER_SUBSCRIBE_RATIO, "--over-subscribe-ratio", callback=non_negative(),
                        help="Shared headroom pool: 0 = off (SONiC default); N > 0 = pool of sum(xoff)/N, "
                             "each PG reserves xon only."),
                    plan: Path | None = typer.Option(None, "--plan", help="Plan JSON to add the section to."),
                    out: Path | None = typer.Option(None, "-o", "--out", help=PLAN_OUT_HELP),
                    json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """PFC xoff/xon/headroom (SONiC formula), ECN and DCQCN/HPCC parameters per port group."""
        from fabric.cc import CcOptions, cc_section
        from fabric.io import load_fabric

        fab = load_fabric(fabric)
        buf = None if switch_buffer is None else int(switch_buffer * 1024 * 1024)
        opts = CcOptions(profile=profile, switch_model=switch_model, switch_buffer_bytes=buf,
                         over_subscribe_ratio=over_subscribe_ratio)
        sec = cc_section(fab, opts)
        data = sec.to_dict()
        read_from, target = plan_files(plan, out)
        if target is not None:
            add_section(target, sec, fab, read_from=read_from)
        if json_out:
            emit_json(data if target is None else {**data, "plan_file": str(target)})
            return
        t = Table(title=f"cc plan for {fab.name} (profile {data['profile']}, {data['switch_model']}, "
                        f"buffer {data['switch_buffer_bytes'] / 2**20:.1f} MiB)")
        for col in ("speed", "cable m", "ports", "lossless", "xoff B", "xon B", "headroom B", "Kmin B",
                    "Kmax B", "Pmax", "R_AI Mb/s"):
            t.add_column(col, justify="right")
        for g in data["port_groups"]:
            t.add_row(f"{g['speed_gbps']:g}G", f"{g['cable_m']:g}", str(len(g["ports"])),
                      "yes" if g["lossless"] else "no (wdm)", f"{g['pfc']['xoff_bytes']:,}",
                      f"{g['pfc']['xon_bytes']:,}", f"{g['pfc']['headroom_bytes']:,}",
                      f"{g['ecn']['kmin_bytes']:,}", f"{g['ecn']['kmax_bytes']:,}", f"{g['ecn']['pmax']:g}",
                      f"{g['dcqcn']['rai_mbps']:g}")
        console.print(t)
        worst = max(data["buffer"], key=lambda r: r["headroom_bytes"], default=None)
        if worst:
            console.print(f"buffer check ok: largest headroom {worst['headroom_bytes']:,} B on {worst['switch']} "
                          f"of {worst['buffer_bytes']:,} B")
        for w in data["warnings"]:
            err_console.print(f"[yellow]warning[/]: {w}")
        if target is not None:
            err_console.print(f"wrote cc section to {target}")

    _register_sim(groups)


def _scenario(name: str, senders: int | None, flow_kb: float | None, gbps: float, t_end_us: float | None,
              seed: int):
    from fabric.ccsim import scenarios

    kw: dict = {"gbps": gbps}
    if name in ("allreduce", "alltoall", "victim"):
        kw["seed"] = seed
    if senders is not None:
        kw["n" if name in ("incast", "allreduce", "alltoall", "bottleneck") else "n_long"] = senders
    if flow_kb is not None:
        key = {"incast": "flow_bytes", "allreduce": "data_bytes", "alltoall": "data_bytes",
               "victim": "short_bytes"}.get(name)
        if key is None:
            from fabric.errors import ConfigError

            raise ConfigError(f"--flow-kb does not apply to scenario {name!r}", where="--flow-kb")
        kw[key] = flow_kb * 1e3
    if t_end_us is not None:
        kw["t_end_s"] = t_end_us * 1e-6
    return scenarios.get(name, **kw)


def _plan_for(sim_fabric, plan_path: Path | None, profile: str) -> dict | None:
    """The sim fabric's cc data, with ECN/DCQCN/PFC values taken from a plan's matching port groups."""
    if plan_path is None:
        return None
    from fabric.cc import CcOptions, plan_cc
    from fabric.errors import ConfigError
    from fabric.plan import Plan

    p = Plan.load(plan_path)
    if p.cc is None:
        raise ConfigError("the plan has no 'cc' section (run 'fabricctl plan cc' first)", file=str(plan_path))
    src = p.cc.to_dict()
    try:
        groups = [g for g in src["port_groups"] if g.get("lossless", True)]
        data = plan_cc(sim_fabric, CcOptions(profile=src.get("profile", profile)))
        for g in data["port_groups"]:
            same = [h for h in groups if h["speed_gbps"] == g["speed_gbps"]]
            if not same:
                continue
            h = min(same, key=lambda h: abs(h["cable_m"] - g["cable_m"]))
            g["ecn"], g["dcqcn"], g["pfc"] = dict(h["ecn"]), dict(h["dcqcn"]), dict(h["pfc"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"malformed cc section: missing {exc}", file=str(plan_path), where="sections.cc") from None
    return data


def _register_sim(groups: dict[str, typer.Typer]) -> None:
    from fabric.ccsim.packet import DEFAULT_CC, DEFAULT_SEED
    from fabric.ccsim.scenarios import DEFAULT_GBPS, DEFAULT_TUNE_SCENARIO
    from fabric.ccsim.tune import DEFAULT_VERIFY

    sim = groups["sim"]

    @sim.command("cc")
    def sim_cc(scenario: str = typer.Argument(..., help="incast | victim | allreduce | alltoall | bottleneck."),
               cc: str = typer.Option(DEFAULT_CC, "--cc", help="dcqcn | hpcc | dctcp | none."),
               pfc: bool = typer.Option(True, "--pfc/--no-pfc", help="PFC pause/resume on lossless ports."),
               plan: Path | None = typer.Option(None, "--plan", help="Plan JSON whose cc section sets the parameters."),
               profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help="Profile when no --plan is given."),
               senders: int | None = typer.Option(None, "--senders", callback=at_least(1), help="incast/bottleneck: flows; allreduce/alltoall: ranks; victim: long flows."),
               flow_kb: float | None = typer.Option(None, "--flow-kb", callback=positive("kB"), help="Flow size (incast), data per rank (allreduce, alltoall), short flows (victim)."),
               gbps: float = typer.Option(DEFAULT_GBPS, "--gbps", callback=positive("Gb/s"), help="Port speed."),
               t_end_us: float | None = typer.Option(None, "--t-end-us", callback=positive("microseconds"), help="Simulated time limit."),
               seed: int = typer.Option(DEFAULT_SEED, "--seed", callback=non_negative(), help="Seed of the ECMP hashes and the seeded scenarios."),
               out_dir: Path | None = typer.Option(None, "--out-dir", help="Folder for the PNG plot (none without it)."),
               legacy_out: Path | None = typer.Option(None, "--out", hidden=True, help="Deprecated: --out-dir."),
               json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Packet-level simulation of a scenario: queues, PFC pauses, drops, FCT slowdown, Jain's index.

        Exits 1 if PFC was on and bytes were lost (the lossless configuration failed).
        """
        from fabric.ccsim.metrics import plot, series
        from fabric.ccsim.packet import PacketConfig, simulate

        out = legacy_out_dir(out_dir, legacy_out, "sim cc", default=None) if (out_dir or legacy_out) else None
        sc = _scenario(scenario, senders, flow_kb, gbps, t_end_us, seed)
        data = _plan_for(sc.fabric, plan, profile)
        cfg = PacketConfig(cc=cc, pfc=pfc, profile=profile, t_end_s=sc.t_end_s, seed=seed,
                           sample_dt_s=(sc.expected_s or sc.t_end_s) / 400)
        with progress(f"simulating {sc.description} ({cc}, pfc {'on' if pfc else 'off'})", quiet=json_out):
            res = simulate(sc.fabric, sc.flows, cfg, data)
        m = res.metrics()
        doc = {"scenario": sc.name, "description": sc.description, "cc": cc, "pfc": pfc,
               "profile": (data or {}).get("profile", profile), "plan": str(plan) if plan else None, **m,
               "series": series(res)}
        if out is not None:
            png = out / f"cc-{sc.name}-{cc}{'' if pfc else '-nopfc'}.png"
            plot(res, png, f"{sc.description}: {cc}, PFC {'on' if pfc else 'off'}")
            doc["plot"] = str(png)
        failed = pfc and (m["drops"] > 0 or m["lost_bytes"] > 0)
        if json_out:
            emit_json(doc)
        else:
            t = Table(title=f"{sc.description}: {cc}, PFC {'on' if pfc else 'off'}", show_header=False)
            sd = m["fct_slowdown"]
            rows = [("flows completed", f"{m['completed']}/{m['flows']}"),
                    ("drops", f"{m['drops']} ({m['lost_bytes']:,.0f} B)"),
                    ("PFC pause frames", f"{m['pfc_pause_frames']} ({m['pfc_paused_s'] * 1e6:,.1f} us paused in all)"),
                    ("ECN marks / CNPs", f"{m['ecn_marks']} / {m['cnps']}"),
                    ("FCT slowdown p50/p95/p99", " / ".join("-" if sd[k] is None else f"{sd[k]:.2f}" for k in ("p50", "p95", "p99"))),
                    ("Jain's index", f"{m['jain']:.3f}"),
                    ("bottleneck", f"{m['bottleneck']['link']}: max {m['bottleneck']['max_queue_bytes']:,.0f} B, "
                                   f"mean {m['bottleneck']['mean_queue_bytes']:,.0f} B"),
                    ("events", f"{m['events']:,} in {m['wall_s']:.3f} s ({m['simulated_s'] * 1e6:,.0f} us simulated)")]
            for k, v in rows:
                t.add_row(k, v)
            console.print(t)
            if "plot" in doc:
                console.print(f"plot: {doc['plot']}")
        if failed:
            raise typer.Exit(1)

    @sim.command("cc-tune")
    def sim_cc_tune(scenario: str = typer.Argument(DEFAULT_TUNE_SCENARIO, help="incast | victim | allreduce | alltoall | bottleneck."),
                    cc: str = typer.Option(DEFAULT_CC, "--cc", help="dcqcn (ECN thresholds + DCQCN rate timer)."),
                    profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help="Starting profile."),
                    target_queue_kb: float | None = typer.Option(None, "--target-queue-kb", callback=positive("kB"), help="Max bottleneck queue."),
                    target_p99: float | None = typer.Option(None, "--target-p99", callback=at_least(1.0), help="Max p99 FCT slowdown (>= 1: the ideal FCT)."),
                    senders: int | None = typer.Option(None, "--senders", callback=at_least(1)),
                    flow_kb: float | None = typer.Option(None, "--flow-kb", callback=positive("kB")),
                    gbps: float = typer.Option(DEFAULT_GBPS, "--gbps", callback=positive("Gb/s")),
                    t_end_us: float | None = typer.Option(None, "--t-end-us", callback=positive("microseconds")),
                    verify: int = typer.Option(DEFAULT_VERIFY, "--verify", callback=at_least(1), help="Fluid-screened sets to verify in the packet model."),
                    json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Search ECN Kmin/Kmax/Pmax and the DCQCN rate timer for a scenario (fluid sweep, packet check).

        Exits 1 if no candidate meets the targets (the best one is still reported).
        """
        from fabric.ccsim.tune import tune

        sc = _scenario(scenario, senders, flow_kb, gbps, t_end_us, DEFAULT_SEED)
        with progress(f"tuning for {sc.description} (fluid sweep, then {verify} packet runs)", quiet=json_out):
            rep = tune(sc, profile=profile, cc=cc, verify=verify, seed=DEFAULT_SEED,
                       target_queue_bytes=None if target_queue_kb is None else target_queue_kb * 1e3,
                       target_p99=target_p99)
        if json_out:
            emit_json(rep)
        else:
            t = Table(title=f"cc-tune {sc.description} ({cc}); fluid sweep {rep['fluid_sweep']['sets']} sets "
                            f"in {rep['fluid_sweep']['seconds']} s, {rep['fluid_sweep']['feasible']} feasible")
            for col in ("candidate", "Kmin B", "Kmax B", "Pmax", "T us", "max q B", "p99 slowdown", "drops", "PFC"):
                t.add_column(col)
            cands = [("baseline", rep["baseline"])] + [(f"#{i + 1}", c) for i, c in enumerate(rep["verified"])]
            for name, c in cands:
                v, ev = c["values"], c["packet"]
                p99 = ev["fct_slowdown"]["p99"]
                t.add_row(name + (" *" if v == rep["chosen"] else ""), f"{v['kmin_bytes']:,}", f"{v['kmax_bytes']:,}",
                          f"{v['pmax']:g}", f"{v['rate_increase_timer_us']:g}", f"{ev['max_queue_bytes']:,.0f}",
                          "-" if p99 is None else f"{p99:.2f}", str(ev["drops"]), str(ev["pfc_pause_frames"]))
            console.print(t)
            console.print(f"chosen (*): {rep['chosen']}; targets {'met' if rep['met'] else 'NOT met'}")
        if not rep["met"]:
            raise typer.Exit(1)
