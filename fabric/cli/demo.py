"""``fabricctl demo``: the end-to-end run on built-in example data."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import console


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("demo")
    def demo(out: Path = typer.Option(Path("fabricctl-out"), "--out", help="Folder for the artefacts.")) -> None:
        """Run the whole chain on a built-in two-site rail-optimised fabric; artefacts go to --out."""
        from fabric.demo import run_demo

        ctx = run_demo(out, console)
        console.rule("[bold]artefacts")
        for p in ctx.artefacts:
            console.print(f"  {p}")
