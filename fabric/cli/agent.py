"""``fabricctl agent serve``: the P4Runtime switch agent (:mod:`p4.agent`) for one or more devices.

The noun group ``agent`` is added here (``register``), so the entry point needs no change. Once bound,
the command prints one JSON line on stdout, ``{"listen": "HOST:PORT", "port": PORT, "devices": [...],
"pid": PID, "state_dir": ..., "interfaces": N}``, and writes the same document to ``--port-file`` (atomically) when given; it serves
until SIGINT or SIGTERM. With ``--ports FILE`` (:mod:`p4.agent.afpacket`) the dataplanes forward frames on
the interfaces the file names, inside their network namespaces (what ``lab up --switch p4`` starts).
"""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.options import non_negative
from p4.agent import DEFAULT_DEVICE_IDS, DEFAULT_LISTEN


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    agent = groups["agent"]

    @agent.command("serve")
    def serve_cmd(
        listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help="HOST:PORT to serve on (port 0: any free port)."),
        device_id: list[int] = typer.Option(list(DEFAULT_DEVICE_IDS), "--device-id", callback=non_negative(),
                                            help="A device id to serve (repeat for several; P4Runtime ids are unsigned)."),
        state_dir: Path | None = typer.Option(None, "--state-dir", help="Folder for state kept across restarts "
                                              "(the highest election id per device and role)."),
        port_file: Path | None = typer.Option(None, "--port-file", help="Also write the bound address here (JSON)."),
        dataplane: bool = typer.Option(True, "--dataplane/--no-dataplane", help="Rebuild each device's DPU pipeline "
                                       "from its entries after writes (when the device config names a program)."),
        ports: Path | None = typer.Option(None, "--ports", help="JSON file: per device its network namespace and "
                                          "port number -> interface; the dataplanes then forward frames on those "
                                          "interfaces (AF_PACKET; its devices are served, --device-id adds more)."),
        marker: str | None = typer.Option(None, "--marker", help="A tag kept in the command line (labs find "
                                          "their agent by it); not used otherwise."),
        tls_dir: Path | None = typer.Option(None, "--tls-dir", help="Serve TLS with DIR/server.pem and server.key "
                                            "(made by 'fabricctl certs init DIR')."),
    ) -> None:
        """Serve P4Runtime v1 (Capabilities, pipeline config, Write, Read, StreamChannel arbitration)."""
        from p4.agent.run import serve

        serve(listen, device_id, state_dir, port_file=port_file, dataplane=dataplane, ports=ports, tls_dir=tls_dir)
