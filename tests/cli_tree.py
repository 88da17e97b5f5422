"""The built ``fabricctl`` command tree for tests that check every command: ``{"plan wcmp": command, ...}``."""

from __future__ import annotations

from typing import Any


def leaf_commands() -> dict[str, Any]:
    """Every command (not the noun groups) of the app users get, by its path (``"plan wcmp"``)."""
    import typer.main

    from fabric.cli.main import app

    out: dict[str, Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if not subs:
            out[" ".join(path)] = cmd
            return
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out
