"""``fabricctl plan cc`` (PFC/ECN/DCQCN per port group), ``fabricctl sim cc`` and ``sim cc-tune``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from fabric.cli.common import JSON_HELP, console, emit_json, err_console

FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @groups["plan"].command("cc")
    def plan_cc_cmd(fabric: str = typer.Argument(..., help=FABRIC_HELP),
                    profile: str = typer.Option("nvidia", "--profile", help="paper | nvidia | production."),
                    switch_buffer: float | None = typer.Option(None, "--switch-buffer",
                                                               help="Switch packet buffer in MB (MiB)."),
                    switch_model: str = typer.Option("spectrum-2", "--switch-model", help="ASIC figures."),
                    plan: Path | None = typer.Option(None, "--plan", help="Plan JSON to add the section to."),
                    out: Path | None = typer.Option(None, "-o", "--out", help="Plan JSON to write (default: --plan)."),
                    json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """PFC xoff/xon/headroom (SONiC formula), ECN and DCQCN/HPCC parameters per port group."""
        from fabric.cc import CcOptions, plan_cc
        from fabric.io import load_fabric
        from fabric.plan import Plan, Provenance

        fab = load_fabric(fabric)
        buf = None if switch_buffer is None else int(switch_buffer * 1024 * 1024)
        t0 = time.perf_counter()
        opts = CcOptions(profile=profile, switch_model=switch_model, switch_buffer_bytes=buf)
        data = plan_cc(fab, opts)
        secs = time.perf_counter() - t0
        target = out or plan
        if target is not None:
            p = Plan.load_or_new(plan, fabric=fab.name)
            p.fabric = p.fabric or fab.name
            p.set("cc", data, Provenance(solver="sonic-headroom-formula", status="OK", seconds=round(secs, 4),
                                         params={"profile": profile, "switch_model": switch_model,
                                                 "switch_buffer_bytes": data["switch_buffer_bytes"]}))
            p.save(target)
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
        if target is not None:
            err_console.print(f"wrote cc section to {target}")

    _register_sim(groups)


def _register_sim(groups: dict[str, typer.Typer]) -> None:
    try:
        from fabric.cli import _cc_sim
    except ImportError:  # pragma: no cover - simulator not present
        return
    _cc_sim.register_sim(groups)
