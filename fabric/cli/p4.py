"""``fabricctl p4 gen`` and ``fabricctl p4 diff``: P4_16 programs, P4Info and P4Runtime entries from a plan,
and the updates between two plans."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from fabric.cli.common import JSON_HELP, console, emit_json
from fabric.cli.options import legacy_out_dir
from fabric.cli.progress import progress

FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."
#: Fabric ``p4 diff`` reads the plans against when ``--fabric`` is not given (the built-in example).
DEFAULT_DIFF_FABRIC = "example"


def _load(fabric: str, plan_path: Path) -> tuple[Any, Any]:
    from fabric.io import load_fabric
    from fabric.plan import Plan
    from p4.render import check_plan

    fab = load_fabric(fabric)
    plan = Plan.load(plan_path)
    check_plan(fab, plan, file=str(plan_path))
    return fab, plan


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    p4 = groups["p4"]

    @p4.command("gen")
    def gen_cmd(
        fabric: str = typer.Argument(..., help=FABRIC_HELP),
        plan_path: Path = typer.Option(..., "--plan", help="Plan JSON with a wcmp section (cc optional)."),
        out_dir: Path | None = typer.Option(None, "--out-dir", help="Folder (required): programs/<role>.p4, "
                                            ".p4info.txtpb/.bin, entries/<switch>.json."),
        legacy_out: Path | None = typer.Option(None, "--out", hidden=True, help="Deprecated: --out-dir."),
        role: str | None = typer.Option(None, "--role", help="Only this role's program and switches."),
        hash_qp: bool = typer.Option(False, "--hash-qp", help="WCMP hash also covers the BTH destination QP (E-ECMP)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """P4_16 programs and P4Info per switch role, and each switch's P4Runtime WriteRequests."""
        from p4.render import render, roles_for

        out = legacy_out_dir(out_dir, legacy_out, "p4 gen", required=True)
        t0 = time.perf_counter()
        fab, plan = _load(fabric, plan_path)
        with progress("rendering P4 programs, P4Info and entries", quiet=json_out):
            doc: dict[str, Any] = render(fab, plan, out, roles=roles_for(fab, role), hash_qp=hash_qp)
        programs, switches = doc["programs"], doc["switches"]
        doc["seconds"] = round(time.perf_counter() - t0, 4)

        if json_out:
            emit_json(doc)
            return
        from rich.table import Table

        t = Table(title=f"P4 programs for {fab.name} ({len(switches)} switches)")
        for col in ("role", "program", "tables", "actions", "switches", "updates"):
            t.add_column(col)
        for p in programs:
            mine = [s for s in switches if s["role"] == p["role"]]
            t.add_row(p["role"], p["p4"], str(p["tables"]), str(p["actions"]), str(len(mine)),
                      str(sum(s["updates"] for s in mine)))
        console.print(t)
        console.print(f"entries: {out / 'entries'}/<switch>.json, {doc['seconds']:.2f} s")

    @p4.command("diff")
    def diff_cmd(
        old_plan: Path = typer.Argument(..., help="The plan the switch runs now."),
        new_plan: Path = typer.Argument(..., help="The plan to move it to."),
        switch: str = typer.Option(..., "--switch", help="The switch."),
        fabric: str = typer.Option(DEFAULT_DIFF_FABRIC, "--fabric", help=FABRIC_HELP + " Both plans must be for it."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """The fewest P4Runtime updates that take SWITCH from OLD_PLAN to NEW_PLAN, in a safe order."""
        from google.protobuf.json_format import MessageToDict

        from p4.diff import diff_updates
        from p4.programs import build_program
        from p4.runtime import FabricView, program_options, switch_entries

        fab, old = _load(fabric, old_plan)
        _fab, new = _load(fabric, new_plan)
        role = FabricView(fab, new).switch(switch)
        prog = build_program(role, program_options(new))
        a = switch_entries(fab, old, switch, program=prog)
        b = switch_entries(fab, new, switch, program=prog)
        ups = diff_updates(a, b, prog)
        kinds = [u.type for u in ups]
        from finsy.proto import p4r

        doc = {"switch": switch, "updates": [MessageToDict(u) for u in ups],
               "inserts": kinds.count(p4r.Update.INSERT), "modifies": kinds.count(p4r.Update.MODIFY),
               "deletes": kinds.count(p4r.Update.DELETE)}
        if json_out:
            emit_json(doc)
            return
        console.print(f"{switch}: {len(ups)} update(s): {doc['inserts']} insert, {doc['modifies']} modify, "
                      f"{doc['deletes']} delete")
        from p4.p4info import IdMap

        names = IdMap.of(prog).names()
        for u in ups:
            ent = u.entity
            if ent.WhichOneof("entity") == "register_entry":
                what = f"{names[ent.register_entry.register_id]}[{ent.register_entry.index.index}]"
            else:
                what = names[ent.table_entry.table_id]
            console.print(f"  {p4r.Update.Type.Name(u.type):<7} {what}")
