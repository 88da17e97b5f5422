"""``fabricctl demo``: the end-to-end run on built-in example data."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import DEFAULT_OUT_DIR, JSON_HELP, console, emit_json, err_console


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("demo")
    def demo(out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", help="Folder for the artefacts."),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP + " Progress goes to stderr.")) -> None:
        """Run the whole chain on a built-in two-site rail-optimised fabric; artefacts go to --out."""
        from fabric.demo import run_demo

        ctx = run_demo(out, err_console if json_out else console)
        if json_out:
            emit_json({"out": str(out), "results": ctx.results, "artefacts": [str(p) for p in ctx.artefacts],
                       "plan_sections": ctx.plan.present()})
            return
        console.rule("[bold]artefacts")
        for p in ctx.artefacts:
            console.print(f"  {p}")
