"""The agent's dataplane: the store read back into SwitchEntries gives the DPU the same pipeline as the
plan's own entries (p4.dpu.pipeline_doc, for a leaf and a spine of the example plan), and a server with
``dataplane=True`` rebuilds it off the gRPC threads after writes (waits bounded)."""

from __future__ import annotations

import queue
import time

import grpc
import pytest
from finsy.proto import p4r, p4r_grpc

from p4.agent.dataplane import entries_of, program_config, program_of
from p4.agent.schema import Schema
from p4.agent.server import AgentServer
from p4.agent.store import Store
from p4.dpu import pipeline_doc
from p4.p4info import build_p4info
from p4.programs import build_program
from p4.runtime import program_options, switch_entries, to_write_requests


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    from typer.testing import CliRunner

    from fabric.cli.main import app
    from fabric.io import load_fabric
    from fabric.plan import Plan

    d = tmp_path_factory.mktemp("agent-dp")
    for args in (["plan", "wcmp", "example", "--plan", d / "a.json", "--out-dir", d, "--no-png", "--json"],
                 ["plan", "cc", "example", "--plan", d / "a.json"]):
        r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    return load_fabric("example"), Plan.load(d / "a.json")


def test_program_config_round_trip():
    assert program_of(program_config("spine")) == build_program("spine")
    assert program_of(b"leaf") is None and program_of(b"{}") is None


@pytest.mark.parametrize("role", ["leaf", "spine"])
def test_store_entries_give_the_plans_pipeline(example, role):
    fab, plan = example
    sw = fab.nodes((role,))[0]
    prog = build_program(role, program_options(plan))
    e = switch_entries(fab, plan, sw, program=prog)
    s = Store(Schema.of(build_p4info(prog)))
    assert not any(s.write([u for r in to_write_requests(prog, e) for u in r.updates]))
    back = entries_of(prog, s, switch=sw)
    assert pipeline_doc(prog, back) == pipeline_doc(prog, e)
    assert back.routes == e.routes and back.groups == e.groups and back.ecn == e.ecn and back.acl == e.acl


def test_server_rebuilds_the_dpu_after_writes(example):
    fab, plan = example
    sw = fab.nodes(("leaf",))[0]
    opts = program_options(plan)
    prog = build_program("leaf", opts)
    e = switch_entries(fab, plan, sw, program=prog)
    srv = AgentServer("127.0.0.1:0", [1], dataplane=True)
    srv.start()
    ch = grpc.insecure_channel(srv.address)
    q: queue.Queue = queue.Queue()
    q.put(p4r.StreamMessageRequest(arbitration={"device_id": 1, "election_id": {"low": 1}}))
    stream = p4r_grpc.P4RuntimeStub(ch).StreamChannel(iter(q.get, None), timeout=60)   # open until q gets None
    try:
        stub = p4r_grpc.P4RuntimeStub(ch)
        assert next(stream).arbitration.status.code == 0
        sp = p4r.SetForwardingPipelineConfigRequest(device_id=1, action=p4r.SetForwardingPipelineConfigRequest.
                                                    VERIFY_AND_COMMIT, election_id={"low": 1})
        sp.config.p4info.CopyFrom(build_p4info(prog))
        sp.config.p4_device_config = program_config("leaf", opts)
        stub.SetForwardingPipelineConfig(sp, timeout=10)
        for r in to_write_requests(prog, e, election_id=(0, 1)):
            stub.Write(r, timeout=10)
        assert srv.service is not None
        dev, dp = srv.service.devices[1], srv.service.dataplanes[1]
        deadline = time.monotonic() + 60
        while dp.generation != dev.store.generation:
            assert time.monotonic() < deadline, f"dataplane not rebuilt (error: {dp.error})"
            time.sleep(0.02)
        assert dp.error is None and dp.pipeline is not None
        got, want = pipeline_doc(prog, dp.entries), pipeline_doc(prog, e)
        assert got.pop("name") == "fabric_leaf:device1"        # the agent does not know the switch's name
        want.pop("name")
        assert got == want
    finally:
        q.put(None)
        stream.cancel()
        ch.close()
        srv.stop()
