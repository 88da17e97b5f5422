"""The controller (fabric/server/service.py) end to end against a real agent process serving every
switch of the example fabric (28 P4Runtime devices): apply, fail a link, restore, restart, repair.

The oracle for what a switch must hold is p4.runtime derived afresh from the stored plan (not the
controller's warm derivation), read back from the agent by an independent backup client."""

from __future__ import annotations

import time

import pytest

from fabric.io import load_fabric
from fabric.plan import Plan
from fabric.server.desired import managed_switches
from fabric.server.service import Controller, NotFoundError, PreconditionError
from fabric.server.spawn import spawn_agents
from fabric.server.store import Store
from p4.client import SwitchClient
from p4.decode import Decoder
from p4.programs import build_program
from p4.runtime import all_switch_entries, canonical, program_options

LINK = ("beijing-su1-rail0", "beijing-spine1")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("ctl")
    fab = load_fabric("example")
    agents = spawn_agents(managed_switches(fab), d / "agents")
    try:
        yield d, fab, agents
    finally:
        agents.stop()


def _switch_state(agents, fab, plan):
    """What every switch holds (read by a backup client) vs what the plan says it must hold."""
    opts = program_options(plan)
    progs = {r: build_program(r, opts) for r in {fab.role(s) for s in agents.refs}}
    want = {s: canonical(progs[fab.role(s)], e) for s, e in all_switch_entries(fab, plan, progs).items()}
    got = {}
    for s, ref in agents.refs.items():
        with SwitchClient(ref.address, ref.device_id, None) as c:     # an observer: no election id
            c.connect()
            got[s] = Decoder(progs[fab.role(s)]).canonical(c.read_all())
    return got, want


def _controller(d, agents):
    c = Controller(Store(d / "ctl.db"), agents.refs)
    c.start()
    return c


def test_apply_fail_restore_restart_and_repair(world):
    d, fab, agents = world
    ctl = _controller(d, agents)
    try:
        with pytest.raises(PreconditionError):
            ctl.report_event("link_down", *LINK)
        ctl.submit_fabric(fab)
        v1 = ctl.compute_plan("wcmp")["version"]
        v2 = ctl.compute_plan("cc", base_version=v1)["version"]
        out = ctl.apply(v2, wait=True, timeout_s=60)
        assert out["converged"] and out["switches_updated"] == 28 and out["updates"] > 500
        got, want = _switch_state(agents, fab, Plan.from_dict(ctl.store.plan(v2)))
        assert got == want
        st = ctl.status()
        assert st["plan_version"] == v2 and st["converged"]
        assert all(s["connected"] and s["primary"] and s["applied_version"] == v2 for s in st["switches"])

        # a link fails: v3, only the switches whose groups changed are written, and they hold v3
        ev = ctl.report_event("link_down", *LINK, timeout_s=60)
        print("link down:", ev)
        v3 = ev["plan_version"]
        assert v3 > v2 and 0 < ev["switches_updated"] < 28 and ev["updates"] > 0
        assert ev["total_ms"] >= ev["recompute_ms"] + ev["push_ms"] > 0
        assert ctl.wait_converged(v3, 30)
        plan3 = Plan.from_dict(ctl.store.plan(v3))
        assert len(plan3.wcmp.failed_links) == 1
        assert plan3.wcmp == ctl._plan(v3).wcmp and plan3.cc == ctl._plan(v3).cc   # stored == what was pushed
        assert plan3.cc is not None and plan3.cc == Plan.from_dict(ctl.store.plan(v2)).cc   # the failure keeps cc
        got, want = _switch_state(agents, fab, plan3)
        assert got == want
        # unknown links and nodes are NOT_FOUND; the failure set did not change
        with pytest.raises(NotFoundError):
            ctl.report_event("link_down", "beijing-spine1", "no-such-node")
        with pytest.raises(NotFoundError):
            ctl.report_event("node_down", "ghost")
        # restore: back to the version before the failure, without a recompute
        back = ctl.report_event("link_up", *LINK, timeout_s=60)
        assert back["plan_version"] == v2 and back["push_ms"] > 0 and back["switches_updated"] > 0
        assert ctl.wait_converged(v2, 30)
        got, want = _switch_state(agents, fab, Plan.from_dict(ctl.store.plan(v2)))
        assert got == want
        assert [e.kind for e in ctl.store.events()] == ["link_down", "link_up"]
    finally:
        ctl.stop()
        ctl.store.close()

    # a rogue client takes a switch while no controller runs and leaves a foreign route
    ref = agents.refs["beijing-spine2"]
    prog = build_program("spine", program_options(Plan.from_dict(Store(d / "ctl.db").plan(v2))))
    from p4.runtime import Encoder

    with SwitchClient(ref.address, ref.device_id, (5, 0)) as rogue:
        assert rogue.connect()
        route = next(k for k in Decoder(prog).canonical(rogue.read_all()).levels["route"])
        foreign = ("t", route[1], (("ipv4_dst", "lpm", 0x0A630000, 16),), 0)
        value = Decoder(prog).canonical(rogue.read_all()).levels["route"][route]
        rogue.write([Encoder(prog).update("INSERT", foreign, value)])

    # restart: the controller takes over above the rogue's id, reads every switch, and writes only the
    # one DELETE that repairs spine2 (no reinstall storm)
    ctl = _controller(d, agents)
    try:
        deadline = time.monotonic() + 60
        while not ctl.status()["converged"]:
            assert time.monotonic() < deadline, ctl.status()
            time.sleep(0.05)
        p = ctl.progress[v2]
        assert p.writes == {"beijing-spine2": 1}
        got, want = _switch_state(agents, fab, Plan.from_dict(ctl.store.plan(v2)))
        assert got == want
    finally:
        ctl.stop()
        ctl.store.close()


def test_an_agent_reporting_a_port_down_makes_the_controller_reroute(tmp_path):
    """The failure loop started by the switch itself: the agent's port-status message on the stream
    (fabricctl.agent.v1.PortStatus) -> a link_down event (who: agent:<switch>) -> plan N+1 pushed; the
    port coming back up restores the version before."""
    from fabric.server.southbound import AgentRef
    from p4.agent.server import AgentServer
    from p4.runtime import port_numbers

    fab = load_fabric("example")
    switches = managed_switches(fab)
    srv = AgentServer("127.0.0.1:0", range(1, len(switches) + 1), state_dir=tmp_path / "agent")
    srv.start()
    refs = {s: AgentRef(s, srv.address, i) for i, s in enumerate(switches, 1)}
    ctl = Controller(Store(tmp_path / "ctl.db"), refs)
    ctl.start()
    try:
        ctl.submit_fabric(fab)
        v = ctl.compute_plan("wcmp", apply=True)["version"]
        assert ctl.wait_converged(v, 60)
        leaf, spine = LINK
        (lk,) = fab.links_between(leaf, spine)
        port = port_numbers(fab, leaf)[lk.port_a if lk.a == leaf else lk.port_b]
        assert srv.set_port_status(refs[leaf].device_id, port, False)

        def wait_for(pred, timeout_s=60.0):
            deadline = time.monotonic() + timeout_s
            while not pred():
                assert time.monotonic() < deadline
                time.sleep(0.02)

        wait_for(lambda: ctl.desired_version not in (None, v) and ctl.status()["converged"])
        ev = ctl.store.events()[-1]
        assert (ev.kind, ev.a, ev.b, ev.body["who"]) == ("link_down", leaf, spine, f"agent:{leaf}")
        wait_for(lambda: "total_ms" in ctl.store.events()[-1].body)
        plan = Plan.from_dict(ctl.store.plan(ctl.desired_version))
        assert len(plan.wcmp.failed_links) == 1
        assert srv.set_port_status(refs[leaf].device_id, port, True)
        wait_for(lambda: ctl.desired_version == v and ctl.status()["converged"])
    finally:
        ctl.stop()
        ctl.store.close()
        srv.stop()
