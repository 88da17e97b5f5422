"""PacketIn for every role (issue 13): a frame the pipeline punts goes to the primary of the default role
and to the primary of a non-default role, and not to a backup. The agent has no role config, so every role
receives PacketIns (as Stratum does for a role without one). In-process agent, plain grpc stubs; every
wait is bounded and the server is stopped even when a check fails."""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc
import pytest
from agent_client import TIMEOUT, StreamClient
from finsy.proto import p4r, p4r_grpc

from dpu.packets import PacketBatch
from p4.agent.schema import Code
from p4.agent.server import AgentServer
from p4.entries import AclEntry, SwitchEntries
from p4.programs import ProgramOptions, build_program
from p4.runtime import to_write_requests

LLDP = bytes.fromhex("0180c200000e" "020000000007" "88cc") + b"\x02\x07" * 20
IN_PORT = 3


class RoleStream:
    """A StreamChannel that bids for ``(device 1, role)``; its messages read into a queue by a thread."""

    def __init__(self, address: str, role: str, election: int) -> None:
        self.channel = grpc.insecure_channel(address)
        self.req: queue.Queue[Any] = queue.Queue()
        self.resp: queue.Queue[Any] = queue.Queue()
        self.stream = p4r_grpc.P4RuntimeStub(self.channel).StreamChannel(iter(self.req.get, None), timeout=60)
        threading.Thread(target=self._read, daemon=True).start()
        bid = p4r.StreamMessageRequest()
        bid.arbitration.device_id, bid.arbitration.election_id.low = 1, election
        bid.arbitration.role.name = role
        self.req.put(bid)

    def _read(self) -> None:
        try:
            for m in self.stream:
                self.resp.put(m)
        except grpc.RpcError:
            pass

    def recv(self, kind: str, timeout: float) -> Any:
        while True:
            m = self.resp.get(timeout=timeout)
            if m.WhichOneof("update") == kind:
                return m

    def close(self) -> None:
        self.req.put(None)
        self.stream.cancel()
        self.channel.close()


def test_packet_in_reaches_the_primary_of_every_role_and_no_backup():
    srv = AgentServer("127.0.0.1:0", [1], dataplane=True)
    streams: list[Any] = []
    try:
        srv.start()
        default = StreamClient(srv.address, 1, 2)
        streams.append(default)
        assert default.recv("arbitration").arbitration.status.code == Code.OK
        opts = ProgramOptions()
        e = SwitchEntries("leaf", "leaf", {"p1": 1, "p3": IN_PORT}, (1, IN_PORT), {}, (), (), (), (),
                          (AclEntry(100, (("ether_type", 0x88CC, 0xFFFF),), "punt_to_cpu"),))
        default.load("leaf", opts, to_write_requests(build_program("leaf", opts), e, device_id=1, election_id=(0, 2)))
        monitor = RoleStream(srv.address, "monitor", 1)
        streams.append(monitor)
        assert monitor.recv("arbitration", TIMEOUT).arbitration.status.code == Code.OK   # primary of its role
        backup = RoleStream(srv.address, "", 1)
        streams.append(backup)
        assert backup.recv("arbitration", TIMEOUT).arbitration.status.code == Code.ALREADY_EXISTS
        assert srv.service is not None
        dp = srv.service.dataplanes[1]
        assert dp.wait_current(TIMEOUT), dp.error
        res = dp.process(PacketBatch.from_bytes([LLDP]), IN_PORT).result(TIMEOUT)
        assert res.punted == [(IN_PORT, LLDP)]
        for s in (default, monitor):
            pin = s.recv("packet", TIMEOUT).packet
            assert pin.payload == LLDP and [(m.metadata_id, m.value) for m in pin.metadata] == [(1, bytes([IN_PORT]))]
        with pytest.raises(queue.Empty):
            backup.recv("packet", 0.5)
    finally:
        for s in streams:
            s.close()
        srv.stop()
