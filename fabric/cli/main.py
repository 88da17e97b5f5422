"""The ``fabricctl`` entry point: ``fabricctl <noun> <verb>`` (DESIGN.md, CLI shape).

Command modules are discovered: every module in :mod:`fabric.cli` other than this one and
``common`` defines ``register(app, groups)`` and adds its commands to the noun groups in ``groups``
(``topo``, ``plan``, ``dpu``, ``p4``, ``lab``, ``sim``) or to ``app`` itself. A noun group with no
commands is not shown. A :class:`~fabric.errors.FabricError` anywhere becomes one line on stderr and
exit status 2; a check that fails exits 1; any other exception is a bug and becomes one line naming
where it came from and exit status 3 (``FABRICCTL_DEBUG=1`` lets the traceback through). A usage error
(unknown option, missing argument, a value of the wrong type) is one line on stderr and exit status 2,
not Rich's boxed panel. ``--version`` prints the version; ``--install-completion``/``--show-completion``
are typer's shell completion.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from fabric.errors import FabricError

#: Exit statuses: 0 ok, 1 a check failed (a budget violated), 2 a user error (bad file, option or value),
#: 3 an internal error (a bug: anything else that escaped a command), 130 interrupted (Ctrl-C).
EXIT_CHECK_FAILED, EXIT_USER_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130
#: Set to any value to see the traceback of an internal error instead of one line.
DEBUG_ENV = "FABRICCTL_DEBUG"
#: The program's name in usage lines, help and shell completion (``_FABRICCTL_COMPLETE``), however it is
#: started (the ``fabricctl`` script, ``python -m fabric.cli.main``).
PROG = "fabricctl"
#: The distribution whose version ``--version`` prints (pyproject.toml ``[project] name``).
DIST = "fabricctl"


def _passthrough() -> tuple[type[BaseException], ...]:
    """Exceptions the CLI framework uses for its own exits (typer >= 0.29 vendors click; older ones
    use click's)."""
    out: list[type[BaseException]] = [typer.Exit, typer.Abort]
    base = getattr(typer, "exceptions", None)
    if base is not None and hasattr(base, "TyperException"):
        out.append(base.TyperException)
    try:
        import click

        out.append(click.exceptions.ClickException)
    except ImportError:
        pass
    return tuple(out)


_PASSTHROUGH = _passthrough()


def _click_exceptions() -> Any:
    """The module with click's exception classes (vendored by typer >= 0.29, else click's own)."""
    try:
        from typer._click import exceptions
    except ImportError:  # typer < 0.29 uses click
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def version() -> str:
    """The installed version of fabricctl (``unknown`` when it runs from a tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version(DIST)
    except PackageNotFoundError:
        return "unknown"


def usage_line(exc: Any, prog: str = PROG) -> str:
    """One line for a click usage error: ``error: fabricctl plan wcmp: No such option: --frob (see
    'fabricctl plan wcmp --help')``."""
    ctx = getattr(exc, "ctx", None)  # None for some parser errors ("requires an argument")
    path = ctx.command_path if ctx is not None else prog
    hint = f" (see '{prog} --help')"
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        hint = f" (see '{path} {ctx.help_option_names[0]}')"
    return f"error: {path}: {exc.format_message()}{hint}".replace("\n", " ")


def _origin(exc: BaseException) -> str:
    """`` in module.function`` of the innermost frame of fabricctl's own code, for the one-line message."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        mod = tb.tb_frame.f_globals.get("__name__", "")
        if mod.split(".")[0] in ("fabric", "dpu", "optical", "p4", "labs"):
            where = f" in {mod}.{tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return where

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
        except BrokenPipeError:
            raise  # stdout closed by the reader (| head): the framework exits quietly
        except FabricError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except OSError as exc:
            name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {name}{exc.strerror or exc}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except _PASSTHROUGH:
            raise  # usage errors, typer.Exit(n), aborts: the command-line framework's own exits
        except Exception as exc:  # noqa: BLE001 - the one error boundary: nothing escapes as a traceback
            if os.environ.get(DEBUG_ENV):
                raise
            where = _origin(exc)
            typer.echo(f"error: internal error{where}: {type(exc).__name__}: {str(exc) or '(no message)'}"
                       f" (this is a bug in fabricctl; {DEBUG_ENV}=1 shows the traceback)".replace("\n", " "),
                       err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        """Usage errors as one line (typer would draw a Rich panel with the usage above it)."""
        del prog_name  # always PROG, however it was started (a test runner passes "root")
        if not standalone_mode:
            return super().main(args, PROG, complete_var, False, windows_expand_args, **extra)
        exc = _click_exceptions()
        try:
            rv = super().main(args, PROG, complete_var, False, windows_expand_args, **extra)
        except exc.UsageError as e:
            if type(e).__name__ != "NoArgsIsHelpError":  # the help was printed: exit 2, nothing more
                typer.echo(usage_line(e), err=True)
            sys.exit(e.exit_code)
        except exc.ClickException as e:
            typer.echo(f"error: {e.format_message()}".replace("\n", " "), err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(EXIT_CHECK_FAILED)
        except KeyboardInterrupt:  # while parsing, before a command runs
            typer.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else 0)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {version()}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(cls=FabricGroup, no_args_is_help=True, add_completion=True,
                      pretty_exceptions_enable=False, rich_markup_mode="rich",
                      help="fabricctl: network fabric controller and packet-path emulator for AI compute centres.")

    @app.callback()
    def root(_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                           help="Print the version and exit.")) -> None:
        """fabricctl: network fabric controller and packet-path emulator for AI compute centres."""
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
    try:
        app(prog_name=PROG)
    except KeyboardInterrupt:  # before the command line is parsed
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
