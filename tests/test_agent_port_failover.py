"""Fast failover beyond WCMP groups (issue 13): a route to a lone next hop (what ``p4 gen`` writes for a
group of one member) whose port goes down drops its packets in the dataplane, counted as failover drops,
instead of sending them out of a dead port; back up, it forwards again. A PacketOut to a port that is
down is a StreamError UNAVAILABLE with the packet echoed and nothing sent. In-process agent, loaded over
plain grpc stubs; every wait is bounded and the server is stopped even when a check fails."""

from __future__ import annotations

import numpy as np
from agent_client import StreamClient
from test_p4_agent_failover import IN, TIMEOUT, flows

from p4.agent.schema import Code
from p4.agent.server import AgentServer
from p4.entries import Nexthop, Route, SwitchEntries
from p4.programs import ProgramOptions, build_program
from p4.runtime import to_write_requests

A, B = 1, 2


def entries() -> SwitchEntries:
    """10.1/16 -> next hop 1 on port A, 10.2/16 -> next hop 2 on port B (no groups)."""
    nhs = (Nexthop(1, "h1", "p1", A, 0x0200000000AA, 0x0200000000A1),
           Nexthop(2, "h2", "p2", B, 0x0200000000AA, 0x0200000000A2))
    return SwitchEntries("leaf", "leaf", {"p1": A, "p2": B, "p3": IN}, (IN,), {},
                         (Route("10.1.0.0/16", nexthop_id=1), Route("10.2.0.0/16", nexthop_id=2)), nhs, ())


def test_lone_next_hop_on_a_down_port_drops_and_packet_out_is_refused():
    srv = AgentServer("127.0.0.1:0", [1], dataplane=True)
    client = None
    try:
        srv.start()
        client = StreamClient(srv.address, 1, 2)
        assert client.recv("arbitration").arbitration.status.code == Code.OK
        opts = ProgramOptions()
        client.load("leaf", opts, to_write_requests(build_program("leaf", opts), entries(), device_id=1,
                                                    election_id=(0, 2)))
        assert srv.service is not None
        dp = srv.service.dataplanes[1]
        assert dp.wait_current(TIMEOUT), dp.error
        to_a, to_b = flows(100, "10.1.0.9"), flows(100, "10.2.0.9")
        res = dp.process(to_a, IN).result(TIMEOUT)
        assert np.all(res.egress == A) and len(res.egress) == 100

        assert srv.set_port_status(1, A, False) is True
        res = dp.process(to_a, IN).result(TIMEOUT)
        assert len(res.egress) == 0 and res.dropped == 100
        assert dp.failover_dropped == 100
        res = dp.process(to_b, IN).result(TIMEOUT)                 # the other route is untouched
        assert np.all(res.egress == B) and len(res.egress) == 100

        client.packet_out(A, to_b.packet(0))
        err = client.recv("error").error
        assert err.canonical_code == Code.UNAVAILABLE and err.message == f"PacketOut egress port {A} is down"
        assert err.packet_out.packet_out.payload == to_b.packet(0)
        assert dp.tx.empty()                                       # nothing was sent

        assert srv.set_port_status(1, A, True) is True
        res = dp.process(to_a, IN).result(TIMEOUT)
        assert np.all(res.egress == A) and len(res.egress) == 100 and dp.failover_dropped == 100
        client.packet_out(A, to_b.packet(0))
        assert dp.tx.get(timeout=TIMEOUT) == (A, to_b.packet(0))
    finally:
        if client is not None:
            client.close()
        srv.stop()
