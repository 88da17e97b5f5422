"""``fabricctl agent serve``: the P4Runtime switch agent (:mod:`p4.agent`) for one or more devices.

The noun group ``agent`` is added here (``register``), so the entry point needs no change. Once bound,
the command prints one JSON line on stdout, ``{"listen": "HOST:PORT", "port": PORT, "devices": [...],
"pid": PID, "state_dir": ..., "interfaces": N}``, and writes the same document to ``--port-file`` (atomically) when given; it serves
until SIGINT or SIGTERM. With ``--ports FILE`` (:mod:`p4.agent.afpacket`) the dataplanes forward frames on
the interfaces the file names, inside their network namespaces (what ``lab up --switch p4`` starts).
"""

from __future__ import annotations

import json
import os
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
        ports: Path | None = typer.Option(None, "--ports", help="JSON file: per device its network namespace and "
                                          "port number -> interface; the dataplanes then forward frames on those "
                                          "interfaces (AF_PACKET; its devices are served, --device-id adds more)."),
        marker: str | None = typer.Option(None, "--marker", help="A tag kept in the command line (labs find "
                                          "their agent by it); not used otherwise."),
    ) -> None:
        """Serve P4Runtime v1 (Capabilities, pipeline config, Write, Read, StreamChannel arbitration)."""
        from fabric.errors import ConfigError
        from fabric.io.atomic import write_text_atomic
        from p4.agent.server import AgentServer

        if not listen.rpartition(":")[2].isdigit():
            raise ConfigError(f"--listen wants HOST:PORT, got {listen!r}", where="--listen")
        cfg = None
        if ports is not None:
            from p4.agent.afpacket import PortsConfig

            cfg = PortsConfig.load(ports)
            if not dataplane:
                raise ConfigError("--ports needs the dataplane (drop --no-dataplane)", where="--ports")
        ids = sorted(set(device_id) | set(cfg.device_ids if cfg is not None else ()))
        if any(d < 0 for d in ids):
            raise ConfigError("device ids are unsigned", where="--device-id")
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        srv = AgentServer(listen, ids, state_dir, dataplane=dataplane, ports=cfg)
        srv.start()
        doc = {"listen": srv.address, "port": srv.port, "devices": ids, "pid": os.getpid(),
               "state_dir": str(state_dir) if state_dir is not None else None,
               "interfaces": len(srv.io.ports) if srv.io is not None else 0}
        line = json.dumps(doc)
        if port_file is not None:
            write_text_atomic(port_file, line + "\n")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        while not done.wait(3600):
            pass
        srv.stop()
