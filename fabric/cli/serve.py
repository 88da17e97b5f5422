"""``fabricctl serve`` (the controller service) and ``fabricctl certs init`` (its TLS certificates)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import typer

from fabric.cli.common import console

#: Where ``serve`` listens by default: loopback only (say --listen 0.0.0.0:PORT to be reached).
DEFAULT_LISTEN = "127.0.0.1:50051"
#: Seconds in-flight API calls get to finish when the service is asked to stop.
STOP_GRACE_S = 2.0


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    certs = groups.setdefault("certs", typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                                                   help="TLS certificates for the controller service."))

    @app.command("serve")
    def serve_cmd(
        db: Path = typer.Option(..., "--db", help="The controller's store (SQLite file; created if missing)."),
        listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help="HOST:PORT of the API (port 0: any free port)."),
        fabric: str | None = typer.Option(None, "--fabric", help="Submit this topology at start (file, 'example', "
                                          "'zoo:<Name>'); default: the store's latest."),
        agents: str | None = typer.Option(None, "--agents", help="'spawn' (one local agent for every switch) or a "
                                          "file mapping switch -> {address, device_id}; none: no southbound."),
        agent_dataplane: bool = typer.Option(False, "--agent-dataplane/--no-agent-dataplane",
                                             help="Spawned agents run the DPU dataplane (off: control plane only)."),
        tls_dir: Path | None = typer.Option(None, "--tls-dir", help="TLS with DIR/server.pem and server.key (made by "
                                            "'fabricctl certs init DIR') on the API, and to the agents (checked "
                                            "against DIR/ca.pem; spawned agents serve DIR's certificate)."),
        token_file: Path | None = typer.Option(None, "--token-file", help="Require a bearer token from this file "
                                               "(lines 'TOKEN' or 'NAME TOKEN') on every call."),
        port_file: Path | None = typer.Option(None, "--port-file", help="Also write the bound address here (JSON)."),
        http: str | None = typer.Option(None, "--http", help="HOST:PORT of the web view and /metrics (port 0: any "
                                        "free port); needs the same token as the API when --token-file is set."),
        plots_dir: Path | None = typer.Option(None, "--plots-dir", help="With --http: the folder 'fabricctl sim cc "
                                              "--out-dir DIR' writes PNG plots to; the web view shows the newest."),
    ) -> None:
        """Run the controller: gRPC API, SQLite store, reconciler, P4Runtime southbound."""
        from fabric.errors import ConfigError
        from fabric.io import load_fabric
        from fabric.io.atomic import announce
        from fabric.server.desired import managed_switches
        from fabric.server.grpc_api import build_server, load_tokens
        from fabric.server.service import Controller, fabric_from_store
        from fabric.server.spawn import load_agents, reuse_or_spawn
        from fabric.server.store import Store

        if not listen.rpartition(":")[2].isdigit():
            raise ConfigError(f"--listen wants HOST:PORT, got {listen!r}", where="--listen")
        if plots_dir is not None and (http is None or not plots_dir.is_dir()):
            raise ConfigError("needs --http" if http is None else f"{plots_dir}: no such folder", where="--plots-dir")
        tokens = load_tokens(token_file) if token_file is not None else None
        store = Store(db)
        fab = load_fabric(fabric) if fabric is not None else None
        if fab is None and store.fabrics():
            digest, name, _t = store.fabrics()[-1]
            got = store.fabric(digest)
            fab = fabric_from_store(got[1], name) if got else None
        spawned = None
        refs = {}
        if agents == "spawn":
            if fab is None:
                raise ConfigError("--agents spawn needs a fabric (--fabric FILE, or one in the store)", where="--agents")
            spawned = reuse_or_spawn(managed_switches(fab), Path(f"{db}.agents"), dataplane=agent_dataplane,
                                     tls_dir=tls_dir)
            refs = spawned.refs
        elif agents is not None:
            refs = load_agents(agents)
        # southbound TLS: agents are checked against the same CA (spawned ones serve DIR's server certificate)
        sb_creds = None
        if tls_dir is not None:
            from fabric.server.grpc_api import channel_credentials

            sb_creds = channel_credentials(tls_dir / "ca.pem")
        ctl = Controller(store, refs, credentials=sb_creds)
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        ctl.start()
        if fab is not None:
            ctl.submit_fabric(fab, who="serve")
        web = metrics = None
        if http is not None:
            from fabric.web.app import WebServer, build_app
            from fabric.web.live import LiveView
            from fabric.web.metrics import Metrics

            metrics = Metrics(LiveView(ctl))
            web = WebServer(build_app(ctl, tokens=tokens, metrics=metrics, plots_dir=plots_dir), http)
        server, port = build_server(ctl, listen, tls_dir=tls_dir, tokens=tokens,
                                    interceptors=[metrics.interceptor()] if metrics is not None else [])
        http_port = web.start() if web is not None else None
        host = listen.rpartition(":")[0]
        doc = {"listen": f"{host}:{port}", "port": port, "pid": os.getpid(), "db": str(db),
               "switches": len(refs), "agents": spawned.address if spawned else agents,
               "agent_pid": spawned.proc_pid if spawned else None, "tls": tls_dir is not None,
               "tokens": tokens is not None,
               "http": f"{web.host}:{http_port}" if web is not None else None}
        announce(doc, port_file)
        while not done.wait(3600):
            pass
        server.stop(STOP_GRACE_S).wait()
        if web is not None:
            web.stop()
        ctl.stop()
        store.close()
        if spawned is not None:
            spawned.stop()

    @certs.command("init")
    def certs_init(directory: Path = typer.Argument(..., help="Folder for ca.pem, server.pem/key, client.pem/key."),
                   host: list[str] = typer.Option([], "--host", help="Another name or address of the server "
                                                  "(localhost, 127.0.0.1 and ::1 are always in)."),
                   force: bool = typer.Option(False, "--force", help="Replace an existing CA."),
                   json_out: bool = typer.Option(False, "--json", help="Print the files as JSON.")) -> None:
        """Make a private CA and the controller's server and client certificates."""
        from fabric.cli.common import emit_json
        from fabric.server.certs import init_certs

        files = init_certs(directory, hosts=host, force=force)
        if json_out:
            emit_json(files)
        else:
            for name, path in files.items():
                console.print(f"{name:12} {path}")
