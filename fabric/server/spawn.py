"""``--agents spawn``: one local agent process (``fabricctl agent serve``) serving every switch of the
fabric as its own P4Runtime device, so that the controller, the demo and the tests run on one machine
with one command. Device ids are 1..N in switch-name order. Agents given in a file instead
(``--agents FILE``) are read by :func:`load_agents`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fabric.errors import ConfigError
from fabric.server.southbound import AgentRef
from labs.teardown import cmdline, pid_alive

#: Seconds to wait for a spawned agent to bind its port (it imports numba and grpc first).
SPAWN_TIMEOUT_S = 60.0


class SpawnedAgents:
    """The agent process and where each switch is on it. ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, proc: subprocess.Popen[bytes] | None, address: str, refs: dict[str, AgentRef], *,
                 pid: int | None = None, record: Path | None = None) -> None:
        self.proc, self.address, self.refs = proc, address, refs
        self.proc_pid = proc.pid if proc is not None else pid
        self.record = record

    def alive(self) -> bool:
        return self.proc_pid is not None and pid_alive(self.proc_pid)

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the agent (SIGTERM, then SIGKILL) and forget it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout_s)
        elif self.proc_pid is not None and pid_alive(self.proc_pid):
            os.kill(self.proc_pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while pid_alive(self.proc_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(self.proc_pid):
                os.kill(self.proc_pid, signal.SIGKILL)
        if self.record is not None:
            self.record.unlink(missing_ok=True)


def reuse_or_spawn(switches: list[str], state_dir: str | os.PathLike[str], *, dataplane: bool = False,
                   tls_dir: str | os.PathLike[str] | None = None) -> SpawnedAgents:
    """The agent a previous run of the service spawned for the same switches, when it is still running
    (a controller killed with -9 and restarted finds its switches as it left them and repairs only what
    differs), else a new one (a stale one is ended first). The record is ``state_dir/agent.json``."""
    d = Path(state_dir)
    record = d / "agent.json"
    try:
        doc = json.loads(record.read_text())
    except (OSError, ValueError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("pid"), int):
        old = SpawnedAgents(None, str(doc.get("address")), {}, pid=doc["pid"], record=record)
        ours = f" {d / 'agent-state'} " in f" {cmdline(doc['pid'])} "     # that argument, exactly
        tls = str(tls_dir) if tls_dir is not None else None
        if (old.alive() and ours and doc.get("switches") == switches and doc.get("dataplane") == dataplane
                and doc.get("tls_dir") == tls):
            old.refs = {s: AgentRef(s, old.address, i) for i, s in enumerate(switches, 1)}
            return old
        if old.alive() and ours:
            old.stop()
    sp = spawn_agents(switches, d, dataplane=dataplane, tls_dir=tls_dir)
    from fabric.io.atomic import write_text_atomic

    write_text_atomic(record, json.dumps({"pid": sp.proc_pid, "address": sp.address, "switches": switches,
                                          "dataplane": dataplane,
                                          "tls_dir": str(tls_dir) if tls_dir is not None else None}) + "\n")
    sp.record = record
    return sp


def spawn_agents(switches: list[str], state_dir: str | os.PathLike[str], *, dataplane: bool = False,
                 listen: str = "127.0.0.1:0", tls_dir: str | os.PathLike[str] | None = None) -> SpawnedAgents:
    """Start one agent for ``switches`` (device ids 1..N in the order given) with its state under
    ``state_dir``; returns when it listens. The dataplane is off by default: the controller's loop is
    about the control plane, and rebuilding hundreds of DPU pipelines would only cost CPU."""
    if not switches:
        raise ConfigError("the fabric has no switches for agents to serve")
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    port_file = d / f"agent-{os.getpid()}-{time.monotonic_ns()}.json"
    args = [sys.executable, "-m", "fabric.cli.main", "agent", "serve", "--listen", listen,
            "--state-dir", str(d / "agent-state"), "--port-file", str(port_file),
            "--dataplane" if dataplane else "--no-dataplane"]
    if tls_dir is not None:
        args += ["--tls-dir", str(tls_dir)]
    for i in range(1, len(switches) + 1):
        args += ["--device-id", str(i)]
    log = open(d / "agent.log", "ab")  # noqa: SIM115 (the child writes to it after we return)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    log.close()
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    try:
        while not port_file.exists():
            if proc.poll() is not None:
                tail = (d / "agent.log").read_text(errors="replace")[-400:].strip().splitlines()
                raise ConfigError(f"the spawned agent exited with status {proc.returncode}: "
                                  f"{tail[-1] if tail else 'no output'}", file=str(d / "agent.log"))
            if time.monotonic() > deadline:
                raise ConfigError(f"the spawned agent did not listen within {SPAWN_TIMEOUT_S:g} s",
                                  file=str(d / "agent.log"))
            time.sleep(0.05)
        doc = json.loads(port_file.read_text())
    except BaseException:
        # timeout, Ctrl-C (which its own session does not get) or a bad port file: no orphan agent
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise
    port_file.unlink()
    address = doc["listen"]
    refs = {s: AgentRef(s, address, i) for i, s in enumerate(switches, 1)}
    return SpawnedAgents(proc, address, refs)


def load_agents(path: str | os.PathLike[str]) -> dict[str, AgentRef]:
    """An agents file: ``{"SWITCH": {"address": "HOST:PORT", "device_id": N}, ...}`` (JSON or YAML)."""
    from fabric.io.reader import read_document

    p = str(path)
    doc: Any = read_document(p, what="agents file").data
    if not isinstance(doc, dict) or not doc:
        raise ConfigError("an agents file maps switch names to {address, device_id}", file=p)
    out = {}
    for sw, v in doc.items():
        where = f"{sw}"
        if not isinstance(v, dict) or not isinstance(v.get("address"), str) or ":" not in v["address"]:
            raise ConfigError("needs 'address: HOST:PORT'", file=p, where=where)
        dev = v.get("device_id", 1)
        if isinstance(dev, bool) or not isinstance(dev, int) or dev < 0:
            raise ConfigError(f"device_id must be an unsigned integer, got {dev!r}", file=p, where=where)
        out[str(sw)] = AgentRef(str(sw), v["address"], dev)
    return out
