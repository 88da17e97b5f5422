"""The agent as a real process (``fabricctl agent serve``, started and killed as in test_p4_agent_finsy):

- the committed pipeline survives kill -9: after a restart GetForwardingPipelineConfig(COOKIE_ONLY) gives
  the same cookie (a controller then does not push the pipeline again) and ALL the same P4Info and device
  config, while the tables are empty (entries are not persisted, as on hardware);
- p4runtime-shell, a second third-party client, reads the P4Info and the table entries our own client
  wrote. It pins protobuf < 3.21, so it runs from a venv of its own, built once and cached under the
  system temp dir with a version stamp; when it cannot be built (no index, too slow) the test is skipped
  saying why.

Every subprocess and every RPC is bounded by a timeout; agents are killed in a finally.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from finsy.proto import p4r, p4r_grpc
from test_p4_agent_finsy import start_agent, stop

from p4.agent.device import pipeline_path
from p4.agent.server import P4RuntimeService
from p4.p4info import IdMap, build_p4info
from p4.programs import build_program

T = 10.0
PROG = build_program("leaf")
IDS = IdMap.of(PROG)
INFO = build_p4info(PROG)
ROUTES = 25
SHELL_VERSION = "0.0.6"
#: The shell's venv: built once per (shell version, interpreter), reused by later runs.
SHELL_VENV = Path(tempfile.gettempdir()) / (
    f"fabricctl-p4runtime-shell-{SHELL_VERSION}-py{sys.version_info.major}.{sys.version_info.minor}")
VENV_S, INSTALL_S, SCRIPT_S = 60, 180, 60
_GET = p4r.GetForwardingPipelineConfigRequest


class Client:
    """Our own client with plain stubs: a StreamChannel held open as primary, and unary calls."""

    def __init__(self, address: str, eid: int = 10) -> None:
        self.eid = eid
        self.channel = grpc.insecure_channel(address)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self._req: queue.Queue[Any] = queue.Queue()
        bid = p4r.StreamMessageRequest()
        bid.arbitration.device_id = 1
        bid.arbitration.election_id.low = eid
        self._req.put(bid)
        self.stream = self.stub.StreamChannel(iter(self._req.get, None), timeout=60)
        got = next(self.stream)
        assert got.arbitration.status.code == 0, got

    def set_pipeline(self, cookie: int) -> None:
        req = p4r.SetForwardingPipelineConfigRequest(
            device_id=1, action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        req.election_id.low = self.eid
        req.config.p4info.CopyFrom(INFO)
        req.config.p4_device_config = b"leaf device config"
        req.config.cookie.cookie = cookie
        self.stub.SetForwardingPipelineConfig(req, timeout=T)

    def get(self, response_type: Any) -> Any:
        return self.stub.GetForwardingPipelineConfig(_GET(device_id=1, response_type=response_type), timeout=T).config

    def write_routes(self, n: int) -> None:
        w = p4r.WriteRequest(device_id=1)
        w.election_id.low = self.eid
        for i in range(n):
            u = w.updates.add(type=p4r.Update.INSERT)
            te = u.entity.table_entry
            te.table_id = IDS.table("FabricIngress.routing_v4")
            fm = te.match.add(field_id=1)
            fm.lpm.value, fm.lpm.prefix_len = bytes((10, 0, i, 0)), 24
            te.action.action.action_id = IDS.action("FabricIngress.set_nexthop_id")
            te.action.action.params.add(param_id=1, value=(i + 1).to_bytes(2, "big"))
        self.stub.Write(w, timeout=T)

    def count(self, table: str = "FabricIngress.routing_v4") -> int:
        r = p4r.ReadRequest(device_id=1)
        r.entities.add().table_entry.table_id = IDS.table(table)
        return sum(len(resp.entities) for resp in self.stub.Read(r, timeout=T))

    def close(self) -> None:
        self._req.put(None)
        self.stream.cancel()
        self.channel.close()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """(state dir, start()) where start() runs an agent process; every one started is killed at the end."""
    procs: list[subprocess.Popen[str]] = []
    state = tmp_path / "state"

    def start() -> tuple[subprocess.Popen[str], str]:
        proc, addr = start_agent(tmp_path, state)
        procs.append(proc)
        return proc, addr

    try:
        yield state, start
    finally:
        for p in procs:
            stop(p)


def test_pipeline_survives_kill_9(agent):
    state, start = agent
    proc, addr = start()
    c = Client(addr)
    try:
        c.set_pipeline(cookie=0xC0FFEE)
        c.write_routes(3)
        assert c.count() == 3
    finally:
        c.close()
    assert pipeline_path(state, 1).exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    _proc2, addr2 = start()
    c = Client(addr2)      # the highest election id (10) survived too: 10 is primary again
    try:
        cookie_only = c.get(_GET.COOKIE_ONLY)
        assert cookie_only.cookie.cookie == 0xC0FFEE
        assert not cookie_only.HasField("p4info") and not cookie_only.p4_device_config
        full = c.get(_GET.ALL)
        assert full.p4info == INFO and full.p4_device_config == b"leaf device config"
        assert c.count() == 0                      # entries are not persisted: a restart empties the tables
        c.write_routes(2)                          # the restored pipeline takes writes without a re-push
        assert c.count() == 2
    finally:
        c.close()


def test_damaged_saved_pipeline_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    pipeline_path(state, 1).write_bytes(b"\xff\xff not a protobuf")
    with pytest.raises(ValueError, match=r"pipeline-1\.pb: saved forwarding pipeline config does not parse"):
        P4RuntimeService([1], state)


# ---------------------------------------------------------------------- p4runtime-shell
def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(stderr: str) -> str:
    """The end of pip's stderr without its WARNING lines (what says why it failed)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("WARNING:")]
    return " | ".join(lines)[-500:]


def _shell_python() -> Path:
    """The venv's python with p4runtime-shell importable, building the venv if needed (once: a file lock
    keeps parallel runs from building it twice); pytest.skip with the reason when it cannot be built."""
    py = SHELL_VENV / "bin" / "python"
    stamp = SHELL_VENV / "fabricctl-ok"
    SHELL_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(str(SHELL_VENV) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and py.exists():
            return py
        try:
            r = _run([sys.executable, "-m", "venv", "--clear", str(SHELL_VENV)], VENV_S)
            if r.returncode != 0:
                pytest.skip(f"p4runtime-shell: python -m venv failed: {_tail(r.stderr)}")
            r = _run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                      f"p4runtime-shell=={SHELL_VERSION}"], INSTALL_S)
            if r.returncode != 0:
                pytest.skip(f"p4runtime-shell=={SHELL_VERSION} cannot be installed in its own venv "
                            f"(pip exit {r.returncode}): {_tail(r.stderr)}")
            r = _run([str(py), "-c", "import p4runtime_sh.shell"], VENV_S)
            if r.returncode != 0:
                pytest.skip(f"p4runtime-shell installed but does not import: {_tail(r.stderr)}")
        except subprocess.TimeoutExpired as exc:
            pytest.skip(f"p4runtime-shell: building its venv took longer than {exc.timeout:.0f} s "
                        f"({' '.join(map(str, exc.cmd))[:200]})")
        stamp.write_text(SHELL_VERSION + "\n")
        return py


SHELL_SCRIPT = textwrap.dedent("""
    import json, sys
    import p4runtime_sh.shell as sh
    from p4.v1 import p4runtime_pb2

    addr = sys.argv[1]
    sh.setup(device_id=1, grpc_addr=addr, election_id=(1, 0), verbose=False)
    try:
        info = sh.context.p4info
        routes = list(sh.TableEntry("FabricIngress.routing_v4").read())
        direct = sh.client.get_p4info()     # P4INFO_AND_COOKIE once more, through the client itself
        prefixes = sorted(te.msg().match[0].lpm.prefix_len for te in routes)
        out = {"tables": sorted(t.preamble.name for t in info.tables), "routes": len(routes),
               "prefix_lens": sorted(set(prefixes)), "actions": len(direct.actions),
               "first_value": routes[0].msg().match[0].lpm.value.hex() if routes else None}
    finally:
        sh.teardown()
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_p4runtime_shell_reads_pipeline_and_entries(agent, tmp_path):
    py = _shell_python()
    _state, start = agent
    _proc, addr = start()
    c = Client(addr)
    try:
        c.set_pipeline(cookie=42)
        c.write_routes(ROUTES)
    finally:
        c.close()
    script = tmp_path / "shell_read.py"
    script.write_text(SHELL_SCRIPT)
    try:
        r = _run([str(py), str(script), addr], SCRIPT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"p4runtime-shell script did not finish in {SCRIPT_S} s")
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["tables"] == sorted(t.preamble.name for t in INFO.tables)
    assert got["actions"] == len(INFO.actions)
    assert got["routes"] == ROUTES and got["prefix_lens"] == [24]
    assert got["first_value"] in {bytes((10, 0, i, 0)).hex() for i in range(ROUTES)}   # canonical: 4 bytes
