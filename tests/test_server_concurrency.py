"""The controller under concurrent events and with a misbehaving southbound (review fixes).

Two topology events reported at once (two agents' port-status messages, or two API calls) must both
end up in the desired plan, and the two ends of one link reporting it down are one failure, not two
plan versions. A real in-process agent serves every switch of the example fabric."""

from __future__ import annotations

import threading
import time

import pytest

from fabric.io import load_fabric
from fabric.plan import Plan
from fabric.server.desired import managed_switches
from fabric.server.reconcile import Failed, Write, empty
from fabric.server.service import Controller
from fabric.server.southbound import AgentRef, Southbound
from fabric.server.store import Store
from p4.client import SwitchClient

LINKS = (("beijing-su1-rail0", "beijing-spine1"), ("beijing-su1-rail1", "beijing-spine2"))


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    from p4.agent.server import AgentServer

    d = tmp_path_factory.mktemp("conc")
    fab = load_fabric("example")
    switches = managed_switches(fab)
    srv = AgentServer("127.0.0.1:0", range(1, len(switches) + 1), state_dir=d / "agent")
    srv.start()
    refs = {s: AgentRef(s, srv.address, i) for i, s in enumerate(switches, 1)}
    ctl = Controller(Store(d / "ctl.db"), refs)
    ctl.start()
    try:
        ctl.submit_fabric(fab)
        v = ctl.compute_plan("wcmp", apply=True)["version"]
        assert ctl.wait_converged(v, 60)
        yield ctl, v
    finally:
        ctl.stop()
        ctl.store.close()
        srv.stop()


def _at_once(*calls):
    """Run the calls on threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, fn):
        barrier.wait()
        try:
            out[i] = fn()
        except Exception as exc:  # noqa: BLE001 (the test asserts on it)
            out[i] = exc

    ts = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return out


def _failed_links(ctl: Controller) -> list[str]:
    return Plan.from_dict(ctl.store.plan(ctl.desired_version)).wcmp.failed_links


def test_two_links_down_at_once_are_both_in_the_plan_and_both_ends_are_one_failure(applied):
    ctl, v = applied
    (l1, l2) = LINKS
    # two different links at once: the later plan is computed from the earlier one, not from v
    r1, r2 = _at_once(lambda: ctl.report_event("link_down", *l1, timeout_s=60),
                      lambda: ctl.report_event("link_down", *l2, timeout_s=60))
    assert isinstance(r1, dict) and isinstance(r2, dict), (r1, r2)
    assert ctl.wait_converged(max(r1["plan_version"], r2["plan_version"]), 60)
    assert len(_failed_links(ctl)) == 2
    # both links back at once: the version before the failures, converged
    r1, r2 = _at_once(lambda: ctl.report_event("link_up", *l1, timeout_s=60),
                      lambda: ctl.report_event("link_up", *l2, timeout_s=60))
    assert isinstance(r1, dict) and isinstance(r2, dict), (r1, r2)
    assert ctl.desired_version == v and ctl.wait_converged(v, 60)

    # both ends of one link report it down at once (each agent sees its port go down): one version
    before = len(ctl.store.plans())
    r1, r2 = _at_once(lambda: ctl.report_event("link_down", *l1, timeout_s=60),
                      lambda: ctl.report_event("link_down", *reversed(l1), timeout_s=60))
    assert isinstance(r1, dict) and isinstance(r2, dict), (r1, r2)
    assert r1["plan_version"] == r2["plan_version"] == ctl.desired_version
    assert len(ctl.store.plans()) <= before + 1 and len(_failed_links(ctl)) == 1
    assert ctl.wait_converged(ctl.desired_version, 60)
    # the same failure again changes nothing and writes nothing
    again = ctl.report_event("link_down", *l1, timeout_s=60)
    assert again["plan_version"] == ctl.desired_version and again["updates"] == 0
    back = ctl.report_event("link_up", *l1, timeout_s=60)
    assert back["plan_version"] == v and ctl.wait_converged(v, 60)


def test_a_failure_then_its_restore_at_once_ends_on_the_version_before(applied):
    """The failure's plan is written to the store after its push; a restore handled by the planner
    meanwhile made the version before desired again. The late write must not set desired back to the
    failure's version (it is recorded as superseded in the audit log)."""
    ctl, v = applied
    l1 = LINKS[0]
    downs = []
    for _ in range(5):                  # the race is not forced: try a few times, each must end at v
        r1, r2 = _at_once(lambda: ctl.report_event("link_down", *l1, timeout_s=60),
                          lambda: (time.sleep(0.005), ctl.report_event("link_up", *l1, timeout_s=60))[1])
        assert isinstance(r1, dict) and isinstance(r2, dict), (r1, r2)
        downs.append(r1["plan_version"])
        failures = _failed_links(ctl)        # both calls returned: both plans are in the store
        if failures:                    # the restore was handled first: undo with another restore
            ctl.report_event("link_up", *l1, timeout_s=60)
        assert ctl.store.desired() == ctl.desired_version == v, (downs, ctl.store.desired(), ctl.desired_version)
        assert ctl.wait_converged(v, 60)


def _southbound(posted: list, pipeline_of) -> Southbound:
    return Southbound({"s": AgentRef("s", "127.0.0.1:1", 1)}, (0, 1), posted.append, pipeline_of,
                      lambda sw: None, timeout_s=0.5)


def test_a_write_that_raises_anything_is_reported_failed_not_left_in_flight():
    """An error other than P4RuntimeError in a write (here: no pipeline for the switch) must still
    answer with Failed: otherwise the switch stays in flight and is never written again."""
    posted: list = []

    def no_pipeline(sw):
        raise KeyError(sw)

    sb = _southbound(posted, no_pipeline)
    try:
        sb.perform(Write("s", 3, (), empty()))
        deadline = time.monotonic() + 10
        while not posted:
            assert time.monotonic() < deadline, "no answer to the write"
            time.sleep(0.01)
        assert isinstance(posted[0], Failed) and posted[0].version == 3 and "KeyError" in posted[0].error
    finally:
        sb.close()


def test_a_closed_stream_closes_its_client_channel():
    """When a switch's stream ends, its client (channel, reader thread) is closed before the
    reconnect makes a new one: a channel per agent restart must not leak."""
    posted: list = []
    sb = _southbound(posted, lambda sw: None)
    c = SwitchClient("127.0.0.1:1", 1, timeout_s=0.5)
    try:
        sb.clients["s"] = c
        sb._closed_stream("s", c)
        with pytest.raises(ValueError, match="closed channel"):
            c.pipeline_cookie()
    finally:
        sb.close()
        c.close()


def test_a_message_callback_that_raises_does_not_end_the_stream(tmp_path):
    """The client's stream reader survives an ``on_message`` that raises: before, the reader thread
    died, the client counted itself disconnected while the server still held its stream (and its
    election id), so a reconnect was refused."""
    from p4.agent.server import AgentServer

    srv = AgentServer("127.0.0.1:0", [1], state_dir=tmp_path / "agent")
    srv.start()
    seen: list = []

    def bad(m):
        seen.append(m)
        raise RuntimeError("callback bug")

    try:
        with SwitchClient(srv.address, 1, (0, 1), on_message=bad, timeout_s=5) as c:
            assert c.connect()
            assert srv.set_port_status(1, 1, False)
            deadline = time.monotonic() + 10
            while not seen:
                assert time.monotonic() < deadline, "no port status message"
                time.sleep(0.01)
            assert srv.set_port_status(1, 1, True)
            while len(seen) < 2:
                assert time.monotonic() < deadline, "the stream ended after the first message"
                time.sleep(0.01)
            assert c.connected and c.primary
    finally:
        srv.stop()


def test_token_check_takes_any_text_and_names_the_token():
    """Tokens are compared as bytes in constant time: a non-ASCII token in the file (or a presented
    one) used to raise TypeError from hmac.compare_digest, failing every call instead of refusing it."""
    from fabric.server.grpc_api import _TokenInterceptor, token_name

    tokens = {"s3cret-token-0123456789": "ops", "tökén-with-accents-0123": "lab"}
    tok = _TokenInterceptor(tokens, lambda method, why: None)
    assert tok.who([("authorization", "Bearer s3cret-token-0123456789")]) == "ops"
    assert tok.who([("authorization", "Bearer tökén-with-accents-0123")]) == "lab"
    assert tok.who([("authorization", "Bearer wrong")]) is None
    assert tok.who([("authorization", "Bearer ünknown")]) is None
    assert token_name(tokens, "") is None


def _zombie_children() -> set[int]:
    import os
    from pathlib import Path

    out = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            out.add(int(p.name))
    return out


def test_an_agent_that_does_not_listen_in_time_is_killed_and_reaped(tmp_path, monkeypatch):
    from fabric.errors import ConfigError
    from fabric.server import spawn

    before = _zombie_children()
    monkeypatch.setattr(spawn, "SPAWN_TIMEOUT_S", 0.0)
    with pytest.raises(ConfigError, match="did not listen"):
        spawn.spawn_agents(["s1"], tmp_path)
    assert _zombie_children() <= before


def test_plan_listing_names_each_versions_sections(applied):
    ctl, v = applied
    v2 = ctl.compute_plan("cc", base_version=v)["version"]
    for _ in range(2):                       # the second listing from what the first read
        got = {p["version"]: p["sections"] for p in ctl.plans()}
        assert got == {r.version: sorted(ctl.store.plan(r.version)["sections"]) for r in ctl.store.plans()}
        assert got[v] == ["wcmp"] and got[v2] == ["cc", "wcmp"]


def test_an_agent_event_that_fails_reports_to_watchers_and_never_kills_its_thread(applied, monkeypatch):
    """The thread a port-status message starts has no caller: an error that is not a FabricError
    (here the store refusing the event) went to threading's excepthook as a traceback and nowhere else."""
    import sqlite3

    ctl, v = applied
    q = ctl.watch()
    escaped: list = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ctl.store, "add_event", refuse)
    try:
        t = threading.Thread(target=ctl._agent_event, args=("link_down", *LINKS[0]))
        t.start()
        t.join(30)
        msg = q.get(timeout=5)
        while msg["kind"] != "error":
            msg = q.get(timeout=5)
        assert "OperationalError: database is locked" in msg["body"]["error"] and not escaped
    finally:
        ctl.unwatch(q)
    assert ctl.desired_version == v


def test_calls_naming_older_fabrics_and_many_recipes_keep_bounded_memory(tmp_path):
    """Each call naming an older fabric read it back from the store and kept it forever (the digest
    cache held the object), and every recipe's warm planner stayed in memory: each is hundreds of MB
    on the 8,192-GPU fabric."""
    from fabric.builders import clos
    from fabric.server.service import MEMO_FABRICS, MEMO_PLANNERS

    ctl = Controller(Store(tmp_path / "ctl.db"))
    ctl.start()
    try:
        old = ctl.submit_fabric(clos(2, 2, 2))
        ctl.submit_fabric(clos(3, 2, 2))
        for _ in range(6):
            ctl.compute_plan("cc", fabric_digest=old)
        assert len(ctl._digests) <= 2
        for i in range(MEMO_PLANNERS + 3):
            ctl.compute_plan("wcmp", options={"max_members": 8 + i})
        assert len(ctl.planners) == MEMO_PLANNERS and len(ctl._loaded) <= MEMO_FABRICS
    finally:
        ctl.stop()
        ctl.store.close()
