"""``fabricctl plan show PLAN``: what a plan holds, section by section, with its provenance."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from fabric.cli.common import JSON_HELP, console, emit_json
from fabric.plan import SECTIONS, Plan


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @groups["plan"].command("show")
    def show(plan: Path = typer.Argument(..., help="A plan JSON file."),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Show the sections of a plan and how each was computed."""
        p = Plan.load(plan)
        if json_out:
            emit_json(p.to_dict())
            return
        t = Table(title=f"plan {plan} (fabric {p.fabric or '?'}, schema {p.schema_version})")
        for col in ("section", "solver", "status", "objective", "bound", "gap", "seconds", "keys"):
            t.add_column(col)
        for s in SECTIONS:
            sec = p.get(s)
            if sec is None:
                t.add_row(s, "-", "empty", "", "", "", "", "")
                continue
            pv = sec.provenance
            t.add_row(s, pv.solver, pv.status, _num(pv.objective), _num(pv.bound), _num(pv.gap),
                      _num(pv.seconds), ", ".join(list(sec.data)[:6]))
        console.print(t)


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"
