"""Port status and data-plane fast failover of the agent (issue 13): a leaf with a WCMP group of two
members on ports A and B, written over P4Runtime as the generated entries are (a one-shot action set);
2,000 flows use both ports; port A down -> every stream of the device (primary and backup) gets a
``fabricctl.agent.v1.PortStatus`` in ``StreamMessageResponse.other`` within a bound, and the next batch
uses only B (the time from ``set_port_status`` to the first batch that avoids A is printed); A up again
-> both used. A group with no member up drops its route's packets (counted); an explicit ``watch_port``
is honoured instead of the member's egress port. Every wait is bounded; the server and channels are
closed even when a check fails."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from agent_client import StreamClient
from finsy.proto import p4r

from dpu.packets import PacketBatch
from p4.agent.dataplane import program_config
from p4.agent.ports import PORT_STATUS_TYPE_URL, parse_port_status
from p4.agent.schema import Code, P4Error
from p4.agent.server import AgentServer
from p4.entries import Nexthop, Route, SwitchEntries, WcmpGroup
from p4.p4info import build_p4info
from p4.programs import ProgramOptions, build_program
from p4.runtime import to_write_requests

TIMEOUT = 20.0
#: A port-status message must reach the streams within this bound (it is sent right after the patch).
REPORT_BOUND_S = 2.0
A, B, C, IN = 1, 2, 5, 3          # the two members' ports, a third next hop's port, the ingress port
N_FLOWS = 2_000


def leaf_entries() -> SwitchEntries:
    """10.1/16 -> group 1 {nh1 on A, nh2 on B}; 10.2/16 -> group 2 {nh1 on A} (dies with A)."""
    nhs = (Nexthop(1, "spine1", "p1", A, 0x0200000000AA, 0x0200000000A1),
           Nexthop(2, "spine2", "p2", B, 0x0200000000AA, 0x0200000000A2),
           Nexthop(3, "spine3", "p5", C, 0x0200000000AA, 0x0200000000A3))
    return SwitchEntries("leaf", "leaf", {"p1": A, "p2": B, "p3": IN, "p5": C}, (IN,), {},
                         (Route("10.1.0.0/16", wcmp_group_id=1), Route("10.2.0.0/16", wcmp_group_id=2)),
                         nhs, (WcmpGroup(1, ((1, 1), (2, 1))), WcmpGroup(2, ((1, 1),))))


def flows(n: int, dst: str = "10.1.0.9") -> PacketBatch:
    """``n`` UDP flows (source ports 10000..) to ``dst``: one scapy template, the source port patched."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    tpl = bytearray(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:aa") /
                          IP(src="10.9.0.1", dst=dst, ttl=64) / UDP(sport=1, dport=4791, chksum=0) /
                          Raw(b"f" * 32)))
    out = []
    for k in range(n):
        tpl[34:36] = (10_000 + k).to_bytes(2, "big")
        out.append(bytes(tpl))
    return PacketBatch.from_bytes(out)


Client = StreamClient



@contextmanager
def leaf(watch: dict[int, int] | None = None) -> Iterator[tuple[AgentServer, Any, list[Client]]]:
    """An agent with one device loaded with :func:`leaf_entries` by a primary (election 2), and a backup
    (election 1); ``watch``: next hop id -> the watch_port to set on group members of that next hop."""
    srv = AgentServer("127.0.0.1:0", [1], dataplane=True)
    clients: list[Client] = []
    try:
        srv.start()
        primary = Client(srv.address, 1, 2)
        clients.append(primary)
        assert primary.recv("arbitration").arbitration.status.code == Code.OK
        backup = Client(srv.address, 1, 1)
        clients.append(backup)
        assert backup.recv("arbitration").arbitration.status.code == Code.ALREADY_EXISTS
        opts = ProgramOptions()
        prog = build_program("leaf", opts)
        sp = p4r.SetForwardingPipelineConfigRequest(device_id=1,
                                                    action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        sp.election_id.low = 2
        sp.config.p4info.CopyFrom(build_p4info(prog))
        sp.config.p4_device_config = program_config("leaf", opts)
        primary.stub.SetForwardingPipelineConfig(sp, timeout=TIMEOUT)
        reqs = to_write_requests(prog, leaf_entries(), device_id=1, election_id=(0, 2))
        n_sets = 0
        for r in reqs:
            for u in r.updates:
                ta = u.entity.table_entry.action
                if ta.WhichOneof("type") == "action_profile_action_set":
                    n_sets += 1
                    for a in ta.action_profile_action_set.action_profile_actions:
                        nh = int.from_bytes(a.action.params[0].value, "big")
                        if watch and nh in watch:
                            a.watch_port = watch[nh].to_bytes(2, "big")
            primary.stub.Write(r, timeout=TIMEOUT)
        assert n_sets == 2                      # the groups are one-shot action sets, as p4 gen writes them
        assert srv.service is not None
        dp = srv.service.dataplanes[1]
        assert dp.wait_current(TIMEOUT), dp.error
        yield srv, dp, clients
    finally:
        for c in clients:
            c.close()
        srv.stop()


def ports_used(dp: Any, batch: PacketBatch) -> tuple[dict[int, int], Any]:
    res = dp.process(batch, IN).result(TIMEOUT)
    vals, counts = np.unique(res.egress, return_counts=True)
    return dict(zip(vals.tolist(), counts.tolist(), strict=True)), res


def test_port_down_reported_and_wcmp_fails_over_at_once():
    batch = flows(N_FLOWS)
    with leaf() as (srv, dp, (primary, backup)):
        used, _ = ports_used(dp, batch)
        assert set(used) == {A, B} and sum(used.values()) == N_FLOWS
        assert min(used.values()) > 0.4 * N_FLOWS             # equal weights: roughly half each

        t0 = time.perf_counter()
        assert srv.set_port_status(1, A, False) is True
        t_first, took = None, []
        deadline = time.monotonic() + TIMEOUT
        while t_first is None and time.monotonic() < deadline:
            u, res = ports_used(dp, batch)
            took.append(u)
            if A not in u:
                t_first = time.perf_counter() - t0
        assert t_first is not None, f"no batch avoided port {A} within {TIMEOUT}s: {took}"
        assert len(took) == 1, f"the first batch after set_port_status still used port {A}: {took}"
        assert took[0] == {B: N_FLOWS}                         # every flow moved to B, none dropped
        assert dp.failover_dropped == 0
        for c in (primary, backup):                            # every stream of the device is told
            t_msg, m = c.recv_timed("other", REPORT_BOUND_S)
            assert m.other.type_url == PORT_STATUS_TYPE_URL
            dev, port, up, ts = parse_port_status(m)
            assert (dev, port, up) == (1, A, False) and ts > 0
            assert t_msg - t0 < REPORT_BOUND_S
        print(f"\nfailover: set_port_status -> first batch ({N_FLOWS} flows) without port {A}: "
              f"{t_first * 1e3:.2f} ms; port-status on the stream after {(t_msg - t0) * 1e3:.2f} ms")
        assert srv.service is not None and srv.service.port_status(1, A) is False

        # the same status again changes nothing and sends nothing
        assert srv.set_port_status(1, A, False) is False
        with pytest.raises(queue.Empty):
            primary.recv_timed("other", 0.2)

        # A comes back: both used again, and reported
        assert srv.set_port_status(1, A, True) is True
        used, _ = ports_used(dp, batch)
        assert set(used) == {A, B} and min(used.values()) > 0.4 * N_FLOWS
        for c in (primary, backup):
            assert parse_port_status(c.recv_timed("other", REPORT_BOUND_S)[1])[:3] == (1, A, True)
        assert srv.service.port_status(1, A) is True


def test_group_with_no_member_up_drops_and_counts():
    with leaf() as (srv, dp, _clients):
        batch = flows(200, dst="10.2.0.9")                     # group 2: only nh1 on A
        used, res = ports_used(dp, batch)
        assert used == {A: 200}
        srv.set_port_status(1, A, False)
        used, res = ports_used(dp, batch)
        assert used == {} and res.dropped == 200 and res.no_route == 0
        assert dp.failover_dropped == 200
        # group 1 still forwards on B meanwhile
        assert ports_used(dp, flows(100))[0] == {B: 100}
        # a rebuild of the pipeline (what a Write causes) keeps the failover: the port is still down
        old = dp.base
        dp.changed()
        deadline = time.monotonic() + TIMEOUT
        while dp.base is old and time.monotonic() < deadline:
            time.sleep(0.005)
        assert dp.base is not old and dp.error is None
        assert ports_used(dp, batch)[0] == {}
        srv.set_port_status(1, A, True)
        assert ports_used(dp, batch)[0] == {A: 200}
        assert dp.failover_dropped == 400


def test_explicit_watch_port_is_honoured():
    # nh1's member (egress A) watches port C: A going down does not prune it (spec: the watch port
    # decides), C going down does
    with leaf(watch={1: C}) as (srv, dp, _clients):
        batch = flows(N_FLOWS)
        srv.set_port_status(1, A, False)
        assert set(ports_used(dp, batch)[0]) == {A, B}
        srv.set_port_status(1, C, False)
        assert ports_used(dp, batch)[0] == {B: N_FLOWS}


def test_set_port_status_errors():
    srv = AgentServer("127.0.0.1:0", [1], dataplane=False)
    try:
        srv.start()
        with pytest.raises(P4Error) as ei:
            srv.set_port_status(9, 1, False)
        assert ei.value.code == Code.NOT_FOUND
        assert srv.set_port_status(1, 4, False) is True          # no dataplane: the status is still kept
        assert srv.service is not None and srv.service.port_status(1, 4) is False
        assert srv.service.port_status(1, 5) is True
        with pytest.raises(ValueError):
            srv.set_port_status(1, -1, False)
    finally:
        srv.stop()
