"""``fabricctl plan show PLAN`` and ``fabricctl plan diff OLD NEW``: what a plan holds, what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fabric.cli.common import JSON_HELP, console, emit_json


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @groups["plan"].command("show")
    def show(plan: Path = typer.Argument(..., help="A plan JSON file."),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Show the sections of a plan, how each was computed, and the fabric it was made for."""
        from fabric.plan import SECTIONS, Plan, short_digest

        p = Plan.load(plan)
        if json_out:
            emit_json(p.to_dict())
            return
        digest = p.fabric_digest or "unknown (a plan written before fabric digests)"
        t = Table(title=f"plan {plan} (fabric {p.fabric or '?'}, schema {p.schema_version})")
        for col in ("section", "solver", "status", "objective", "bound", "gap", "seconds", "fabric"):
            t.add_column(col)
        for s in SECTIONS:
            sec = p.get(s)
            if sec is None:
                t.add_row(s, "-", "empty", "", "", "", "", "")
                continue
            pv = sec.provenance  # type: ignore[attr-defined]
            if not sec.NEEDS_FABRIC:
                fab = "none needed"
            elif pv.fabric_digest is None:
                fab = "unknown"
            else:
                fab = "this plan's" if pv.fabric_digest == p.fabric_digest else short_digest(pv.fabric_digest)
            t.add_row(s, pv.solver, pv.status, _num(pv.objective), _num(pv.bound), _num(pv.gap),
                      _num(pv.seconds), fab)
        console.print(t)
        console.print(f"fabric digest: {digest}")

    @groups["plan"].command("diff")
    def diff_cmd(old: Path = typer.Argument(..., help="The older plan JSON file."),
                 new: Path = typer.Argument(..., help="The newer plan JSON file."),
                 json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """What changed from OLD to NEW, per section: WCMP groups added/removed/re-weighted per switch,
        QP source ports, OCS cross-connects, lightpaths, budgets, cc port groups."""
        from fabric.plan import Plan, short_digest
        from fabric.plan.diff import diff

        d = diff(Plan.load(old), Plan.load(new))
        if json_out:
            emit_json(d)
            return
        if d["same_fabric"] is False:
            console.print(f"[yellow]the plans are for different fabrics[/]: {d['old']['fabric']} "
                          f"({short_digest(d['old']['fabric_digest'])}) -> {d['new']['fabric']} "
                          f"({short_digest(d['new']['fabric_digest'])})")
        if not d["sections"]:
            console.print("both plans are empty")
        for name, sec in d["sections"].items():
            console.print(f"[bold]{name}[/]: {sec['status']}")
            if sec["status"] != "changed":
                continue
            for line in _lines(name, sec):
                console.print(f"  {line}")


def _lines(name: str, sec: dict[str, Any]) -> list[str]:
    out = [f"{k}: {v[0]} -> {v[1]}" for k, v in sec["fields"].items()]
    if name == "wcmp":
        for sw, c in sec["per_switch"].items():
            out.append(f"{sw}: {c['added']} added, {c['removed']} removed, {c['reweighted']} re-weighted")
        for g in sec["groups_reweighted"]:
            out.append(f"  {g['switch']} -> {g['dst']}: {_weights(g['old'])} => {_weights(g['new'])}")
    else:
        for k, v in sec.items():
            if k not in ("status", "fields") and isinstance(v, list) and v:
                out.append(f"{k}: {len(v)}")
    return out


def _weights(hops: list[dict[str, Any]]) -> str:
    return " ".join(f"{h['node']}:{h['port']}x{h['weight']}" for h in hops) or "(none)"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"
