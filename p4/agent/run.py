"""Running the agent as a process: :func:`serve` is what ``fabricctl agent serve`` does, and
``python -m p4.agent.run`` (:func:`main`) runs it without the CLI's imports, which is how a lab starts its
agent (a second or more less on a busy 2-core machine)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from fabric.errors import ConfigError, FabricError
from fabric.io.atomic import announce
from p4.agent import DEFAULT_LISTEN
from p4.agent.afpacket import PortsConfig
from p4.agent.server import AgentServer


def serve(listen: str, device_ids: Iterable[int], state_dir: str | Path | None = None, *,
          port_file: str | Path | None = None, dataplane: bool = True, ports: str | Path | None = None,
          tls_dir: str | Path | None = None) -> None:
    """What ``fabricctl agent serve`` does (and ``python -m p4.agent.run``, the lean start a lab
    uses): check the options, start an :class:`AgentServer` (with the ``ports`` file's AF_PACKET I/O), print
    ``{"listen", "port", "devices", "pid", "state_dir", "interfaces"}`` as one JSON line (and write it to
    ``port_file`` atomically), serve until SIGINT or SIGTERM. ``tls_dir``: serve TLS with its
    ``server.pem``/``server.key`` (``fabricctl certs init``). Bad options are a ConfigError."""
    if not listen.rpartition(":")[2].isdigit():
        raise ConfigError(f"--listen wants HOST:PORT, got {listen!r}", where="--listen")
    cfg = None
    if ports is not None:
        cfg = PortsConfig.load(ports)
        if not dataplane:
            raise ConfigError("--ports needs the dataplane (drop --no-dataplane)", where="--ports")
    ids = sorted(set(device_ids) | set(cfg.device_ids if cfg is not None else ()))
    if any(d < 0 for d in ids):
        raise ConfigError("device ids are unsigned", where="--device-id")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    creds = None
    if tls_dir is not None:
        import grpc

        d = Path(tls_dir)
        try:
            creds = grpc.ssl_server_credentials([((d / "server.key").read_bytes(), (d / "server.pem").read_bytes())])
        except OSError as exc:
            raise ConfigError(f"cannot read the server certificate: {exc.strerror} (run 'fabricctl certs init "
                              f"{d}')", file=str(d), where="--tls-dir") from None
    srv = AgentServer(listen, ids, state_dir, dataplane=dataplane, ports=cfg, credentials=creds)
    srv.start()
    doc = {"listen": srv.address, "port": srv.port, "devices": ids, "pid": os.getpid(),
           "state_dir": str(state_dir) if state_dir is not None else None,
           "interfaces": len(srv.io.ports) if srv.io is not None else 0}
    announce(doc, port_file)
    while not done.wait(3600):
        pass
    srv.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m p4.agent.run --ports FILE [--listen H:P] [--port-file F] [--marker TAG]``: the agent
    as ``fabricctl agent serve --ports`` runs it, without the CLI's imports (a lab starts it this way: one
    second less on a 2-core machine). A bad option is one line on stderr and exit 2."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m p4.agent.run")
    ap.add_argument("--ports", required=True)
    ap.add_argument("--listen", default=DEFAULT_LISTEN)
    ap.add_argument("--port-file")
    ap.add_argument("--state-dir")
    ap.add_argument("--marker", help="a tag kept in the command line (labs find their agent by it)")
    args = ap.parse_args(argv)
    try:
        serve(args.listen, (), args.state_dir, port_file=args.port_file, ports=args.ports)
    except FabricError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
