"""``fabricctl p4 gen`` and ``fabricctl p4 diff``: P4_16 programs, P4Info and P4Runtime entries from a plan,
and the updates between two plans."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from fabric.cli.common import JSON_HELP, console, emit_json
from fabric.errors import ConfigError

FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."
#: Fabric ``p4 diff`` reads the plans against when ``--fabric`` is not given (the built-in example).
DEFAULT_DIFF_FABRIC = "example"


def _load(fabric: str, plan_path: Path) -> tuple[Any, Any]:
    from fabric.io import load_fabric
    from fabric.plan import Plan

    fab = load_fabric(fabric)
    plan = Plan.load(plan_path)
    try:
        plan.check_fabric(fab)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=str(plan_path)) from None
    if plan.wcmp is None:
        raise ConfigError("the plan has no 'wcmp' section: run 'fabricctl plan wcmp' first", file=str(plan_path))
    return fab, plan


def _roles(fab: Any, role: str | None) -> list[str]:
    from p4.programs import ROLES

    present = [r for r in ROLES if fab.nodes(r)]
    if role is None:
        return [r for r in present if r != "nic"]
    if role not in ROLES:
        raise ConfigError(f"no program for role {role!r} (roles: {', '.join(ROLES)})", where="--role")
    if role not in present:
        raise ConfigError(f"fabric {fab.name!r} has no {role} (it has: {', '.join(present) or 'no switches'})",
                          where="--role")
    return [role]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    p4 = groups["p4"]

    @p4.command("gen")
    def gen_cmd(
        fabric: str = typer.Argument(..., help=FABRIC_HELP),
        plan_path: Path = typer.Option(..., "--plan", help="Plan JSON with a wcmp section (cc optional)."),
        out: Path = typer.Option(..., "--out", help="Folder: programs/<role>.p4, .p4info.txtpb/.bin, entries/<switch>.json."),
        role: str | None = typer.Option(None, "--role", help="Only this role's program and switches."),
        hash_qp: bool = typer.Option(False, "--hash-qp", help="WCMP hash also covers the BTH destination QP (E-ECMP)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """P4_16 programs and P4Info per switch role, and each switch's P4Runtime WriteRequests."""
        from fabric.io.atomic import write_text_atomic
        from p4.gen import generate
        from p4.p4info import write_p4info
        from p4.programs import build_program
        from p4.runtime import (
            Encoder,
            FabricView,
            program_options,
            switch_entries,
            to_write_requests,
            write_entries,
        )

        t0 = time.perf_counter()
        fab, plan = _load(fabric, plan_path)
        roles = _roles(fab, role)
        opts = program_options(plan, hash_qp=hash_qp)
        view = FabricView(fab, plan)
        programs: list[dict[str, Any]] = []
        switches: list[dict[str, Any]] = []
        pdir = out / "programs"
        pdir.mkdir(parents=True, exist_ok=True)
        for r in roles:
            prog = build_program(r, opts)
            p4_path = pdir / f"{r}.p4"
            write_text_atomic(p4_path, generate(prog))
            txt, _bin = write_p4info(prog, pdir / r)
            programs.append({"role": r, "p4": str(p4_path), "p4info": str(txt), "tables": len(prog.tables()),
                             "actions": len(prog.actions()), "selectors": len(prog.selectors())})
            if r == "nic":
                continue
            enc = Encoder(prog)
            for s in fab.nodes(r):
                e = switch_entries(fab, plan, s, program=prog, view=view)
                reqs = to_write_requests(prog, e, encoder=enc)
                path = write_entries(out, s, reqs)
                switches.append({"name": s, "role": r, "updates": sum(len(q.updates) for q in reqs),
                                 "wcmp_groups": len(e.groups), "routes": len(e.routes), "file": str(path)})
        doc = {"programs": programs, "switches": switches, "seconds": round(time.perf_counter() - t0, 4)}
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
