"""``fabricctl mcp``: the controller and the planners as an MCP server for AI assistants (fabric.mcp).

Over stdio by default (an assistant starts it as a subprocess); ``--http HOST:PORT`` serves streamable
HTTP on a loopback address instead. Without ``--server`` the read and what-if tools work on files
(``--fabric``, ``--plan``) and there are no act tools; with ``--server`` the plan is the controller's
and the act tools (``apply_plan``, ``fail_link``, ``restore_link``) are there unless ``--read-only``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.ctl import CA_HELP, TOKEN_HELP

#: Hosts ``--http`` accepts: the MCP server has no authentication of its own, so only loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("mcp")
    def mcp_cmd(
        server: str | None = typer.Option(None, "--server", help="Controller HOST:PORT (fabricctl serve); without "
                                          "it the tools work on --fabric and --plan files and cannot act."),
        token: str | None = typer.Option(None, "--token", help=TOKEN_HELP),
        ca: str | None = typer.Option(None, "--ca", help=CA_HELP),
        fabric: str | None = typer.Option(None, "--fabric", help="Topology (file, 'example', 'zoo:<Name>'); with "
                                          "--server optional: the controller's own by default, checked by digest "
                                          "when given."),
        plan: Path | None = typer.Option(None, "--plan", help="Plan file the tools read (without --server)."),
        read_only: bool = typer.Option(False, "--read-only", help="No act tools (apply_plan, fail_link, restore_link)."),
        http: str | None = typer.Option(None, "--http", help="Serve streamable HTTP on this loopback HOST:PORT "
                                        "(path /mcp) instead of stdio."),
    ) -> None:
        """Run an MCP server (stdio) with read, what-if and act tools over the fabric and the controller."""
        from fabric.errors import ConfigError
        from fabric.mcp.app import build_server
        from fabric.mcp.backend import Backend

        if plan is not None and server is not None:
            raise ConfigError("--plan is for files; with --server the plan is the controller's", where="--plan")
        if plan is not None and not plan.is_file():
            raise ConfigError("no such file", file=str(plan), where="--plan")
        host, port = None, 0
        if http is not None:
            host, _, p = http.rpartition(":")
            host = host.strip("[]")
            if not p.isdigit() or not host:
                raise ConfigError(f"wants HOST:PORT, got {http!r}", where="--http")
            if host not in LOOPBACK_HOSTS:
                raise ConfigError(f"only a loopback host ({', '.join(LOOPBACK_HOSTS)}): the server has no "
                                  f"authentication of its own, got {host!r}", where="--http")
            port = int(p)
        backend = Backend(fabric_spec=fabric, plan_path=str(plan) if plan is not None else None, server=server,
                          token=token, ca_file=ca)
        if fabric is not None:
            backend.fabric()        # a bad --fabric is one line now, not on every tool call
        mcp = build_server(backend, read_only=read_only)
        if host is None:
            mcp.run("stdio")
        else:
            mcp.run("streamable-http", host=host, port=port)
