"""The ``fabricctl`` entry point: ``fabricctl <noun> <verb>`` (DESIGN.md, CLI shape).

Command modules are discovered: every module in :mod:`fabric.cli` other than this one and
``common`` defines ``register(app, groups)`` and adds its commands to the noun groups in ``groups``
(``topo``, ``plan``, ``dpu``, ``p4``, ``lab``, ``sim``) or to ``app`` itself. A noun group with no
commands is not shown. A :class:`~fabric.errors.FabricError` anywhere becomes one line on stderr and
exit status 2; a check that fails exits 1.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import typer
from typer.core import TyperGroup

from fabric.errors import FabricError

#: Noun groups and their help text.
NOUNS: dict[str, str] = {
    "topo": "Build, import, check, show and draw topologies.",
    "plan": "Planners: load balancing, congestion control, optical, budgets; show a plan.",
    "dpu": "DPU datapath model: parse and process packets, check timing against 400G / 30 us.",
    "p4": "Generate P4_16 programs, P4Info and P4Runtime entries from a plan.",
    "lab": "Labs in Linux network namespaces: build, probe, check, tear down.",
    "agent": "P4Runtime switch agent (dataplane: the DPU running the P4 program).",
    "sim": "Simulators (congestion control).",
}


class FabricGroup(TyperGroup):
    """Turns user errors into one line and exit status 2 (never a traceback)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FabricError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {name}{exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None


def build_app() -> typer.Typer:
    app = typer.Typer(cls=FabricGroup, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode="rich",
                      help="fabricctl: network fabric controller and packet-path emulator for AI compute centres.")
    groups = {noun: typer.Typer(no_args_is_help=True, help=text, pretty_exceptions_enable=False)
              for noun, text in NOUNS.items()}
    import fabric.cli as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name in ("main", "common"):
            continue
        module = importlib.import_module(f"fabric.cli.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app, groups)
    for noun, sub in groups.items():
        if sub.registered_commands or sub.registered_groups:
            app.add_typer(sub, name=noun)
    return app


app = build_app()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
