"""A small P4Runtime client over grpc (finsy's protos): what a lab needs to load its switches.

:class:`LoadClient` holds one channel to one agent; :meth:`LoadClient.arbitrate` opens a StreamChannel
per device and bids with one election id (the stream must stay open while the client writes: the
primary is whoever holds the stream), :meth:`LoadClient.set_pipeline` commits a P4Info and device config
(VERIFY_AND_COMMIT), :meth:`LoadClient.write` sends WriteRequests (each stamped with the device and
election id), :meth:`LoadClient.count_entries` reads every table entry of a device back (a wildcard
Read) and counts them. Errors are :class:`fabric.errors.LabError` naming the device, with the gRPC
status and, for a failed Write, the first per-update ``p4.v1.Error``.

The lab bids with election id 1, the lowest a primary can have, so any controller that connects later
with a higher one takes over.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from typing import Any

import grpc
from finsy.proto import p4r, p4r_grpc, rpc_status

from fabric.errors import LabError

#: Election id the lab's client bids with (module docstring).
LAB_ELECTION_ID = 1
#: Bound of every call to the agent, s.
CALL_TIMEOUT_S = 20.0
#: The largest message the client sends or accepts (the agent's limit: 16 MiB).
MAX_MESSAGE_BYTES = 16 << 20


def _first_error(err: grpc.RpcError) -> str:
    """The first failed update's message of a Write's UNKNOWN status, else the status details."""
    for key, value in (err.trailing_metadata() or ()):   # type: ignore[attr-defined]
        if key == "grpc-status-details-bin":
            st = rpc_status.Status.FromString(value)
            for d in st.details:
                e = p4r.Error()
                d.Unpack(e)
                if e.canonical_code:
                    return f"{e.message} (code {e.canonical_code})"
    return str(err.details())   # type: ignore[attr-defined]


class LoadClient:
    """One client of one agent (module docstring)."""

    def __init__(self, address: str, election_id: int = LAB_ELECTION_ID) -> None:
        self.address, self.election_id = address, election_id
        opts = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self.channel = grpc.insecure_channel(address, options=opts)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self._streams: dict[int, tuple[queue.Queue[Any], Any]] = {}

    def __enter__(self) -> LoadClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _eid(self, msg: Any) -> None:
        msg.election_id.high, msg.election_id.low = self.election_id >> 64, self.election_id & ((1 << 64) - 1)

    def arbitrate(self, device_ids: Iterable[int]) -> None:
        """Become primary of every device (one open stream each); LabError when one refuses."""
        for dev in device_ids:
            q: queue.Queue[Any] = queue.Queue()
            stream = self.stub.StreamChannel(iter(q.get, None))
            self._streams[dev] = (q, stream)
            bid = p4r.StreamMessageRequest()
            bid.arbitration.device_id = dev
            self._eid(bid.arbitration)
            q.put(bid)
            try:
                for m in stream:
                    if m.WhichOneof("update") == "arbitration":
                        if m.arbitration.status.code != 0:
                            raise LabError(f"not primary: {m.arbitration.status.message}",
                                           where=f"agent {self.address}, device {dev}")
                        break
            except grpc.RpcError as e:
                raise LabError(f"arbitration failed: {e.code().name}: {e.details()}",  # type: ignore[attr-defined]
                               where=f"agent {self.address}, device {dev}") from None

    def set_pipeline(self, device_id: int, p4info: Any, device_config: bytes, cookie: int = 0) -> None:
        req = p4r.SetForwardingPipelineConfigRequest(
            device_id=device_id, action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        self._eid(req)
        req.config.p4info.CopyFrom(p4info)
        req.config.p4_device_config = device_config
        req.config.cookie.cookie = cookie
        try:
            self.stub.SetForwardingPipelineConfig(req, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as e:
            raise LabError(f"SetForwardingPipelineConfig: {e.code().name}: {e.details()}",  # type: ignore[attr-defined]
                           where=f"agent {self.address}, device {device_id}") from None

    def write(self, device_id: int, requests: Iterable[Any]) -> int:
        """Send ``requests`` to ``device_id`` in order; the number of updates written."""
        n = 0
        for r in requests:
            r.device_id = device_id
            self._eid(r)
            try:
                self.stub.Write(r, timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as e:
                raise LabError(f"Write: {e.code().name}: {_first_error(e)}",  # type: ignore[attr-defined]
                               where=f"agent {self.address}, device {device_id}") from None
            n += len(r.updates)
        return n

    def read_entities(self, device_id: int) -> Iterator[Any]:
        """Every table entry of ``device_id`` (a wildcard Read of all tables)."""
        req = p4r.ReadRequest(device_id=device_id)
        req.entities.add().table_entry.SetInParent()
        try:
            for resp in self.stub.Read(req, timeout=CALL_TIMEOUT_S):
                yield from resp.entities
        except grpc.RpcError as e:
            raise LabError(f"Read: {e.code().name}: {e.details()}",  # type: ignore[attr-defined]
                           where=f"agent {self.address}, device {device_id}") from None

    def count_entries(self, device_id: int) -> int:
        return sum(1 for _ in self.read_entities(device_id))

    def close(self) -> None:
        for q, stream in self._streams.values():
            q.put(None)
            stream.cancel()
        self._streams.clear()
        self.channel.close()


__all__ = ["LAB_ELECTION_ID", "LoadClient"]
