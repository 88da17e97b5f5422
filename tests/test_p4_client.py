"""p4.client.SwitchClient against the agent (p4/agent/server.py) on loopback: arbitration (primary,
backup, take-over above a departed controller's election id), pipeline cookie, Write with per-update
errors, and wildcard Read decoded back to the canonical entries that were written."""

from __future__ import annotations

import time

import pytest

from p4.agent.dataplane import program_config
from p4.agent.server import AgentServer
from p4.client import P4RuntimeError, SwitchClient
from p4.decode import Decoder
from p4.entries import Nexthop, Route, SwitchEntries, WcmpGroup
from p4.p4info import build_p4info
from p4.programs import build_program
from p4.runtime import Encoder, canonical

PROG = build_program("leaf")
ENTRIES = SwitchEntries("leaf1", "leaf", {"p1": 1, "p2": 2}, (1, 2), {26: 3},
                        (Route("10.0.0.0/8", wcmp_group_id=1), Route("10.9.0.1/32", nexthop_id=2)),
                        (Nexthop(1, "s1", "p1", 1, 0x0200000000AA, 0x0200000000A1),
                         Nexthop(2, "s2", "p2", 2, 0x0200000000AA, 0x0200000000A2)),
                        (WcmpGroup(1, ((1, 3), (2, 1))),))


@pytest.fixture
def agent(tmp_path):
    srv = AgentServer("127.0.0.1:0", [1, 2], state_dir=tmp_path / "state")
    srv.start()
    clients: list[SwitchClient] = []

    def client(eid, device=1, **kw):
        c = SwitchClient(srv.address, device, (0, eid), timeout_s=10, **kw)
        clients.append(c)
        return c

    try:
        yield client
    finally:
        for c in clients:
            c.close()
        srv.stop()


def _wait(pred, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_load_write_read_back_and_per_update_errors(agent):
    c = agent(10)
    assert c.connect() is True
    assert c.pipeline_cookie() is None
    c.set_pipeline(build_p4info(PROG), program_config("leaf"), cookie=0xFEED)
    assert c.pipeline_cookie() == 0xFEED
    want = canonical(PROG, ENTRIES)
    enc = Encoder(PROG)
    ups = [enc.update("MODIFY" if k[0] == "r" else "INSERT", k, v) for k, v in want.flat().items()]
    assert c.write(ups, batch=3) == len(ups)
    assert Decoder(PROG).canonical(c.read_all()).levels == want.levels
    # the same inserts again: every one ALREADY_EXISTS, reported per update in order
    first_nh = next(k for k in want.flat() if k[1].endswith("nexthop_table"))
    fresh = ("t", first_nh[1], (("nexthop_id", "exact", 99, None),), 0)
    with pytest.raises(P4RuntimeError) as e:
        c.write([enc.update("INSERT", first_nh, want.flat()[first_nh]),
                 enc.update("INSERT", fresh, want.flat()[first_nh])])
    assert e.value.code == "UNKNOWN"
    assert [x.code if x else None for x in e.value.errors] == ["ALREADY_EXISTS", None]
    assert "first failed update #0: ALREADY_EXISTS" in str(e.value)


def test_backup_cannot_write_and_a_new_controller_takes_over_above_the_old_id(agent):
    a = agent(10)
    assert a.connect() is True
    b = agent(5)
    assert b.connect() is False and a.primary
    with pytest.raises(P4RuntimeError) as e:
        b.set_pipeline(build_p4info(PROG), program_config("leaf"), cookie=1)
    assert e.value.code == "PERMISSION_DENIED"
    a.close()
    # the backup hears that no one is primary and takes over just above the departed primary's id
    _wait(lambda: b.primary)
    assert b.election_id == (0, 11)
    c = agent(1)                      # a third controller with a stale low id stays backup...
    assert c.connect() is False
    b.close()                         # ...until the primary leaves
    _wait(lambda: c.primary)
    assert c.election_id == (0, 12)


def test_take_over_can_be_turned_off(agent):
    a = agent(10)
    assert a.connect()
    b = agent(5, take_over=False)
    assert b.connect() is False
    a.close()
    _wait(lambda: b.last_arbitration.status.code == 5)   # NOT_FOUND: no primary
    time.sleep(0.2)
    assert not b.primary and b.election_id == (0, 5)


def test_a_live_primary_is_never_outbid_and_unknown_devices_are_refused(agent):
    a = agent(10)
    assert a.connect()
    assert agent(3).connect() is False and a.primary
    with pytest.raises(P4RuntimeError) as e:
        agent(1, device=99).connect()
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(P4RuntimeError) as e:
        agent(10).connect()
    assert e.value.code == "INVALID_ARGUMENT"
