"""A P4Runtime client for the agent's tests: a StreamChannel read into a queue, and the calls the tests
make (load a pipeline and entries, PacketOut). Plain grpc stubs on finsy's protos, so error tests see
the exact codes and messages; the third-party client tests use finsy itself."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import grpc
from finsy.proto import p4r, p4r_grpc

from p4.agent.dataplane import program_config
from p4.p4info import build_p4info
from p4.programs import build_program

#: Bound of every wait on the agent, s.
TIMEOUT = 20.0


class StreamClient:
    """One client of one device: its StreamChannel read by a thread into a queue (with arrival times),
    plus a stub for the unary calls."""

    def __init__(self, address: str, device_id: int, election: int = 1) -> None:
        self.device_id, self.election = device_id, election
        self.channel = grpc.insecure_channel(address)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self.req: queue.Queue[Any] = queue.Queue()
        self.resp: queue.Queue[Any] = queue.Queue()
        self.stream = self.stub.StreamChannel(iter(self.req.get, None), timeout=120)
        threading.Thread(target=self._read, daemon=True).start()
        bid = p4r.StreamMessageRequest()
        bid.arbitration.device_id, bid.arbitration.election_id.low = device_id, election
        self.req.put(bid)

    def _read(self) -> None:
        try:
            for m in self.stream:
                self.resp.put((time.perf_counter(), m))
        except grpc.RpcError:
            pass

    def recv_timed(self, kind: str, timeout: float = TIMEOUT) -> tuple[float, Any]:
        """(arrival time, message) of the next stream message of ``kind``, others skipped."""
        deadline = time.monotonic() + timeout
        while True:
            t, m = self.resp.get(timeout=max(0.0, deadline - time.monotonic()))
            if m.WhichOneof("update") == kind:
                return t, m

    def recv(self, kind: str, timeout: float = TIMEOUT) -> Any:
        """The next stream message of ``kind`` (``arbitration``, ``packet``, ``error``, ``other``)."""
        return self.recv_timed(kind, timeout)[1]

    def load(self, role: str, opts: Any, requests: list[Any]) -> None:
        sp = p4r.SetForwardingPipelineConfigRequest(device_id=self.device_id,
                                                    action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        sp.election_id.low = self.election
        sp.config.p4info.CopyFrom(build_p4info(build_program(role, opts)))
        sp.config.p4_device_config = program_config(role, opts)
        self.stub.SetForwardingPipelineConfig(sp, timeout=TIMEOUT)
        for r in requests:
            self.stub.Write(r, timeout=TIMEOUT)

    def packet_out(self, port: int, frame: bytes, meta_id: int = 1) -> None:
        m = p4r.StreamMessageRequest()
        m.packet.payload = frame
        m.packet.metadata.add(metadata_id=meta_id, value=port.to_bytes(2, "big"))
        self.req.put(m)

    def close(self) -> None:
        self.req.put(None)
        self.stream.cancel()
        self.channel.close()
