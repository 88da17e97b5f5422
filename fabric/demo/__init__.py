"""``fabricctl demo``: the whole chain on built-in data, one stage per planner/renderer.

Stages are modules in this package named ``sNN_<name>.py`` and run in NN order; each defines
``TITLE`` and ``run(ctx: DemoContext) -> None``. A stage adds its artefacts under ``ctx.out_dir``,
its plan section to ``ctx.plan`` and a one-line result to ``ctx.results``; a stage that cannot run
here (a lab without root) calls ``ctx.skip(reason)``. The plan is written at the end.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from fabric.plan import Plan, Section
from fabric.topology import Fabric


class StageSkipped(Exception):
    """Raised by :meth:`DemoContext.skip`."""


@dataclass
class DemoContext:
    out_dir: Path
    console: Console
    fabric: Fabric | None = None
    plan: Plan = field(default_factory=Plan)
    results: dict[str, Any] = field(default_factory=dict)
    artefacts: list[Path] = field(default_factory=list)

    def skip(self, reason: str) -> NoReturn:
        raise StageSkipped(reason)

    def add(self, section: Section, fabric: Fabric | None = None) -> None:
        """Add a stage's section to the demo plan, stamped with the time now (the demo is the caller
        that owns the clock; the plan model reads none)."""
        self.plan.add(section, fabric=fabric, created_unix=round(time.time(), 3))

    def artefact(self, name: str) -> Path:
        p = self.out_dir / name
        self.artefacts.append(p)
        return p


def stages() -> list[tuple[str, str, Callable[[DemoContext], None]]]:
    """(module name, title, run) for every stage, in order."""
    import fabric.demo as pkg

    out = []
    for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not m.name.startswith("s"):
            continue
        mod = importlib.import_module(f"fabric.demo.{m.name}")
        out.append((m.name, getattr(mod, "TITLE", m.name), mod.run))
    return out


def run_demo(out_dir: Path, console: Console, *, show_progress: bool = False) -> DemoContext:
    """Run every stage; ``show_progress``: a transient spinner on stderr per stage (the CLI passes
    :func:`fabric.cli.progress.shown`: on a terminal, not with ``--json``)."""
    from fabric.cli.progress import progress

    ctx = DemoContext(out_dir=out_dir, console=console, plan=Plan(created_unix=round(time.time(), 3)))
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = stages()
    for i, (_name, title, fn) in enumerate(todo):
        console.rule(f"[bold]{title}")
        t0 = time.perf_counter()
        try:
            with progress(f"stage {i + 1}/{len(todo)}: {title}", quiet=not show_progress):
                fn(ctx)
            console.print(f"[green]done[/] in {time.perf_counter() - t0:.2f} s")
        except StageSkipped as why:
            console.print(f"[yellow]skipped[/]: {why}")
            ctx.results[title] = f"skipped: {why}"
    plan_path = ctx.artefact("plan.json")
    ctx.plan.save(plan_path)
    return ctx
