"""The agent as a real process, driven by finsy (a third-party P4Runtime client): primary, pipeline,
the example plan's entries written and read back equal, a backup's Write refused, failover to the
backup, and the highest election id kept across a kill -9 of the agent.

Every wait is bounded (asyncio.wait_for, subprocess timeouts); the agent process is killed in a finally.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from finsy import P4TableEntry, Switch, SwitchOptions
from finsy.p4client import P4ClientError
from finsy.proto import p4r, p4r_grpc

from p4.agent.schema import Code

REPO = Path(__file__).resolve().parents[1]
STEP_S = 15.0


def start_agent(tmp: Path, state_dir: Path, *devices: int) -> tuple[subprocess.Popen, str]:
    port_file = tmp / f"port-{time.monotonic_ns()}.json"
    args = [sys.executable, "-m", "fabric.cli.main", "agent", "serve", "--listen", "127.0.0.1:0",
            "--state-dir", str(state_dir), "--port-file", str(port_file)]
    for d in devices or (1,):
        args += ["--device-id", str(d)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=5)
            pytest.fail(f"agent did not start (rc {proc.returncode}): {err[-2000:]}")
        time.sleep(0.05)
    return proc, json.loads(port_file.read_text())["listen"]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def plan_files(tmp_path_factory):
    """The example fabric's plan (wcmp + cc), a leaf's program files (P4Info by write_p4info, the P4 text
    as device config) and its canonical WriteRequests."""
    from typer.testing import CliRunner

    from fabric.cli.main import app
    from fabric.io import load_fabric
    from fabric.plan import Plan
    from p4.gen import generate
    from p4.p4info import write_p4info
    from p4.programs import build_program
    from p4.runtime import program_options, switch_entries, to_write_requests

    d = tmp_path_factory.mktemp("agent-plan")
    run = CliRunner().invoke
    for args in (["plan", "wcmp", "example", "--plan", d / "a.json", "--out-dir", d, "--no-png", "--json"],
                 ["plan", "cc", "example", "--plan", d / "a.json"]):
        r = run(app, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    fab, plan = load_fabric("example"), Plan.load(d / "a.json")
    leaf = fab.nodes(("leaf",))[0]
    prog = build_program("leaf", program_options(plan))
    txt, _bin = write_p4info(prog, d / "leaf")
    blob = d / "leaf.p4"
    blob.write_text(generate(prog))
    reqs = to_write_requests(prog, switch_entries(fab, plan, leaf, program=prog))
    return {"p4info": txt, "p4blob": blob, "requests": reqs, "program": prog}


def run_async(coro, timeout=60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(pred, what, timeout=STEP_S):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _canon_tables(entities) -> set[bytes]:
    return {e.SerializeToString(deterministic=True) for e in entities}


def test_finsy_primary_pipeline_entries_backup_failover_and_restart(tmp_path, plan_files):
    state = tmp_path / "state"
    proc, addr = start_agent(tmp_path, state)
    try:
        opts = SwitchOptions(p4info=plan_files["p4info"], p4blob=plan_files["p4blob"], device_id=1)
        written = [u.entity for r in plan_files["requests"] for u in r.updates]
        tables = [e for e in written if e.WhichOneof("entity") == "table_entry"]
        registers = [e for e in written if e.WhichOneof("entity") == "register_entry"]
        assert tables and registers and any(e.table_entry.action.HasField("action_profile_action_set")
                                            for e in tables)

        # sw1 leaves while sw2 stays: enter and exit by hand (bounded by run_async's timeout)
        async def body():
            sw1 = Switch("sw1", addr, opts(initial_election_id=20))
            await sw1.__aenter__()
            try:
                assert sw1.is_primary and sw1.primary_id == 20
                for r in plan_files["requests"]:
                    await asyncio.wait_for(sw1.write(list(r.updates)), STEP_S)
                back = [g.encode(sw1.p4info) async for g in sw1.read(P4TableEntry())]
                assert _canon_tables(back) == _canon_tables(tables)
                sw2 = Switch("sw2", addr, opts(initial_election_id=10))
                await sw2.__aenter__()
                try:
                    assert not sw2.is_primary and sw2.primary_id == 20
                    with pytest.raises(P4ClientError) as ei:
                        await asyncio.wait_for(sw2.write([plan_files["requests"][0].updates[0]]), STEP_S)
                    assert ei.value.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
                    again = [g.encode(sw2.p4info) async for g in sw2.read(P4TableEntry())]
                    assert _canon_tables(again) == _canon_tables(tables)
                    await sw1.__aexit__(None, None, None)
                    sw1 = None
                    await until(lambda: sw2.is_primary, "the backup to become primary")
                    assert sw2.election_id == 20
                    await asyncio.wait_for(sw2.write([p4r.Update(type=p4r.Update.MODIFY, entity=registers[0])]),
                                           STEP_S)
                finally:
                    await sw2.__aexit__(None, None, None)
            finally:
                if sw1 is not None:
                    await sw1.__aexit__(None, None, None)

        run_async(body())
        saved = json.loads((state / "arbitration.json").read_text())
        assert saved["highest"] == [{"device_id": 1, "role": "", "election_id": "20"}]

        # kill -9 and restart: the highest election id survives; a lower bid finds no primary
        os.kill(proc.pid, signal.SIGKILL)
        stop(proc)
        proc, addr = start_agent(tmp_path, state)
        with grpc.insecure_channel(addr) as ch:
            stub = p4r_grpc.P4RuntimeStub(ch)
            req = p4r.StreamMessageRequest()
            req.arbitration.device_id = 1
            req.arbitration.election_id.low = 15
            stream = stub.StreamChannel(iter([req]), timeout=STEP_S)
            first = next(stream)
            assert first.arbitration.status.code == Code.NOT_FOUND
            assert first.arbitration.election_id.low == 20
            stream.cancel()
    finally:
        stop(proc)
