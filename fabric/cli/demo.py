"""``fabricctl demo``: the end-to-end run on built-in example data."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import JSON_HELP, console, emit_json
from fabric.cli.options import OUT_DIR_HELP, legacy_out_dir
from fabric.cli.progress import shown


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("demo")
    def demo(out_dir: Path | None = typer.Option(None, "--out-dir", help=OUT_DIR_HELP),
             legacy_out: Path | None = typer.Option(None, "--out", hidden=True, help="Deprecated: --out-dir."),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP + " The stages' lines are not printed.")) -> None:
        """Run the whole chain on a built-in two-site rail-optimised fabric; artefacts go to --out-dir."""
        from rich.console import Console

        from fabric.demo import run_demo

        out = legacy_out_dir(out_dir, legacy_out, "demo")
        # --json: the stages' lines would only repeat the JSON, so they go nowhere (quiet=True)
        ctx = run_demo(out, Console(quiet=True) if json_out else console, show_progress=shown(json_out))
        if json_out:
            emit_json({"out": str(out), "results": ctx.results, "artefacts": [str(p) for p in ctx.artefacts],
                       "plan_sections": ctx.plan.present()})
            return
        console.rule("[bold]artefacts")
        for p in ctx.artefacts:
            console.print(f"  {p}")
