"""``fabricctl agent serve``: the P4Runtime switch agent (:mod:`p4.agent`) for one or more devices.

The noun group ``agent`` is added here (``register``), so the entry point needs no change. Once bound,
the command prints one JSON line on stdout, ``{"listen": "HOST:PORT", "port": PORT, "devices": [...],
"state_dir": ...}``, and writes the same document to ``--port-file`` (atomically) when given; it serves
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import typer

from p4.agent import DEFAULT_DEVICE_IDS, DEFAULT_LISTEN


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    agent = groups["agent"]

    @agent.command("serve")
    def serve_cmd(
        listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help="HOST:PORT to serve on (port 0: any free port)."),
        device_id: list[int] = typer.Option(list(DEFAULT_DEVICE_IDS), "--device-id", help="A device id to serve (repeat for several)."),
        state_dir: Path | None = typer.Option(None, "--state-dir", help="Folder for state kept across restarts "
                                              "(the highest election id per device and role)."),
        port_file: Path | None = typer.Option(None, "--port-file", help="Also write the bound address here (JSON)."),
        dataplane: bool = typer.Option(True, "--dataplane/--no-dataplane", help="Rebuild each device's DPU pipeline "
                                       "from its entries after writes (when the device config names a program)."),
    ) -> None:
        """Serve P4Runtime v1 (Capabilities, pipeline config, Write, Read, StreamChannel arbitration)."""
        from fabric.errors import ConfigError
        from fabric.io.atomic import write_text_atomic
        from p4.agent.server import AgentServer

        if not listen.rpartition(":")[2].isdigit():
            raise ConfigError(f"--listen wants HOST:PORT, got {listen!r}", where="--listen")
        ids = sorted(set(device_id))
        if any(d < 0 for d in ids):
            raise ConfigError("device ids are unsigned", where="--device-id")
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        srv = AgentServer(listen, ids, state_dir, dataplane=dataplane)
        srv.start()
        doc = {"listen": srv.address, "port": srv.port, "devices": ids,
               "state_dir": str(state_dir) if state_dir is not None else None}
        line = json.dumps(doc)
        if port_file is not None:
            write_text_atomic(port_file, line + "\n")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        while not done.wait(3600):
            pass
        srv.stop()
