"""A P4Runtime client for one device: the controller's southbound (:mod:`fabric.server`) and any
tool that loads a switch (plain grpc stubs on finsy's protos, threads, no asyncio).

It keeps one StreamChannel open (read by a thread), bids for primacy with an election id, and knows at
every moment whether it is primary (the server tells every client on each change of primary). Unary
calls: pipeline cookie and push, Write with the per-update ``p4.v1.Error`` details decoded from the
``grpc-status-details-bin`` trailer, and wildcard Reads decoded to canonical entries
(:class:`p4.decode.Decoder`). Other stream messages (PacketIn, port status, digests) go to
``on_message``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from finsy.proto import p4r, p4r_grpc, rpc_status

#: Seconds every unary call and the arbitration wait may take before the client gives up.
DEFAULT_TIMEOUT_S = 10.0
#: Largest message the client accepts (Reads of big tables arrive in several messages below this;
#: P4Runtime servers default to 4 MiB, gRPC's default receive limit).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: google.rpc.Code NOT_FOUND: the arbitration answer when the device has no primary.
NOT_FOUND = 5

log = logging.getLogger("p4.client")


def pipeline_cookie(device_config: bytes) -> int:
    """The pipeline cookie (uint64) of a device config: the first 8 bytes of its SHA-256. Whoever loads
    a switch (a lab, the controller) uses it, so the same program always has the same cookie and a
    client that finds it in place pushes no pipeline."""
    import hashlib

    return int.from_bytes(hashlib.sha256(device_config).digest()[:8], "big")


class P4RuntimeError(Exception):
    """A P4Runtime call failed: ``code`` (grpc.StatusCode name), ``message``, and for a Write the
    per-update errors (``None`` for the updates that succeeded)."""

    def __init__(self, code: str, message: str, errors: Sequence[UpdateError | None] = ()) -> None:
        self.code, self.message, self.errors = code, message, list(errors)
        failed = [e for e in self.errors if e is not None]
        first = f"; first failed update #{self.errors.index(failed[0])}: {failed[0]}" if failed else ""
        super().__init__(f"{code}: {message}{first}")


@dataclass(frozen=True)
class UpdateError:
    """One ``p4.v1.Error`` of a failed Write."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message}".strip()


def _code_name(code: int) -> str:
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return str(c.name)
    return str(code)


def write_errors(exc: grpc.RpcError) -> list[UpdateError | None]:
    """The per-update errors of a failed Write, in update order (``[]`` when the server sent none)."""
    md = dict(exc.trailing_metadata() or ())  # type: ignore[attr-defined]
    raw = md.get("grpc-status-details-bin")
    if not raw:
        return []
    st = rpc_status.Status.FromString(raw)
    out: list[UpdateError | None] = []
    for any_ in st.details:
        err = p4r.Error()
        if not any_.Unpack(err):
            continue
        out.append(None if err.canonical_code == 0 else UpdateError(_code_name(err.canonical_code), err.message))
    return out


class SwitchClient:
    """One client of device ``device_id`` at ``address``. ``connect()`` opens the stream and bids;
    ``primary`` follows the server's arbitration messages. ``election_id`` None bids without one: an
    observer that reads and can never be primary. Use as a context manager or ``close()``."""

    def __init__(self, address: str, device_id: int, election_id: tuple[int, int] | None = (0, 1), *,
                 role: str = "", credentials: grpc.ChannelCredentials | None = None,
                 metadata: Sequence[tuple[str, str]] = (), timeout_s: float = DEFAULT_TIMEOUT_S,
                 on_message: Callable[[Any], None] | None = None,
                 on_primary: Callable[[SwitchClient, bool], None] | None = None,
                 on_close: Callable[[SwitchClient], None] | None = None, take_over: bool = True) -> None:
        self.address, self.device_id, self.election_id, self.role = address, device_id, election_id, role
        self.timeout_s, self.on_message = timeout_s, on_message
        self.on_primary, self.on_close, self.take_over = on_primary, on_close, take_over
        self.metadata = tuple(metadata)
        opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        self.channel = (grpc.secure_channel(address, credentials, options=opts) if credentials is not None
                        else grpc.insecure_channel(address, options=opts))
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self.primary = False
        self.connected = False
        self.last_arbitration: Any = None
        self.stream_error: str | None = None
        self._requests: queue.Queue[Any] = queue.Queue()
        self._arbitrated = threading.Event()
        self._stream: Any = None
        self._reader: threading.Thread | None = None
        self._outbidding = False

    # ------------------------------------------------------------------ stream and arbitration
    def _bid(self) -> Any:
        m = p4r.StreamMessageRequest()
        m.arbitration.device_id = self.device_id
        if self.election_id is not None:
            m.arbitration.election_id.high, m.arbitration.election_id.low = self.election_id
        if self.role:
            m.arbitration.role.name = self.role
        return m

    def connect(self) -> bool:
        """Open the StreamChannel, bid, and wait for the answer; True when primary.

        With ``take_over`` (the default), whenever the device has no primary but has seen a higher
        election id than ours (a previous controller's, which the server remembers), the client bids
        once more just above it; the id in use is :attr:`election_id`. A live primary with a higher
        id is never outbid (we stay backup, and take over when it leaves). Raises
        :class:`P4RuntimeError` when the server refuses the bid (unknown device, election id in use)
        or does not answer within the timeout."""
        self._stream = self.stub.StreamChannel(iter(self._requests.get, None), metadata=self.metadata or None)
        self._reader = threading.Thread(target=self._read, name=f"p4rt-{self.address}-{self.device_id}",
                                        daemon=True)
        self._arbitrated.clear()
        self._reader.start()
        self._requests.put(self._bid())
        self._wait_arbitration()
        if self._outbidding:
            self._arbitrated.clear()
            self._wait_arbitration()
        return self.primary

    def _wait_arbitration(self) -> None:
        if not self._arbitrated.wait(self.timeout_s):
            self.close()
            raise P4RuntimeError("DEADLINE_EXCEEDED", f"no arbitration answer from {self.address} "
                                 f"device {self.device_id} within {self.timeout_s:g} s")
        if self.stream_error is not None:
            code, _, message = self.stream_error.partition(": ")
            raise P4RuntimeError(code, message)

    def rebid(self, election_id: tuple[int, int] | None) -> None:
        """Bid again with another election id on the open stream (answer arrives asynchronously)."""
        self.election_id = election_id
        self._requests.put(self._bid())

    def _read(self) -> None:
        try:
            for m in self._stream:
                if m.WhichOneof("update") == "arbitration":
                    self._arbitration(m.arbitration)
                elif self.on_message is not None:
                    try:
                        self.on_message(m)
                    except Exception:  # noqa: BLE001 (a callback's error must not end the stream)
                        log.exception("on_message of %s device %s", self.address, self.device_id)
        except grpc.RpcError as exc:
            self.stream_error = f"{exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]
        finally:
            was = self.primary
            self.connected = self.primary = False
            self._arbitrated.set()
            if was and self.on_primary is not None:
                self.on_primary(self, False)
            if self.on_close is not None:
                self.on_close(self)

    def _arbitration(self, a: Any) -> None:
        self.last_arbitration = a
        highest = (a.election_id.high, a.election_id.low)
        was = self.primary
        self.primary = a.status.code == 0 and highest == self.election_id
        self.connected = True
        self._outbidding = False
        if (self.take_over and self.election_id is not None and a.status.code == NOT_FOUND
                and highest >= self.election_id):
            high, low = highest
            self._outbidding = True
            self.rebid((high + 1, 0) if low == (1 << 64) - 1 else (high, low + 1))
        self._arbitrated.set()
        if self.primary != was and self.on_primary is not None:
            self.on_primary(self, self.primary)

    def send(self, message: Any) -> None:
        """Put a ``StreamMessageRequest`` (e.g. a PacketOut) on the stream."""
        self._requests.put(message)

    # ------------------------------------------------------------------ unary calls
    def _call(self, fn: Any, request: Any) -> Any:
        try:
            return fn(request, timeout=self.timeout_s, metadata=self.metadata or None)
        except grpc.RpcError as exc:
            raise P4RuntimeError(exc.code().name, exc.details() or "") from None  # type: ignore[attr-defined]

    def pipeline_cookie(self) -> int | None:
        """The cookie of the device's pipeline, ``None`` when it has none."""
        req = p4r.GetForwardingPipelineConfigRequest(
            device_id=self.device_id, response_type=p4r.GetForwardingPipelineConfigRequest.COOKIE_ONLY)
        try:
            resp = self._call(self.stub.GetForwardingPipelineConfig, req)
        except P4RuntimeError as exc:
            if exc.code == "FAILED_PRECONDITION":
                return None
            raise
        return int(resp.config.cookie.cookie) if resp.config.HasField("cookie") else None

    def set_pipeline(self, p4info: Any, device_config: bytes, cookie: int) -> None:
        """VERIFY_AND_COMMIT ``p4info`` with ``device_config`` under ``cookie`` (this wipes the tables)."""
        req = p4r.SetForwardingPipelineConfigRequest(
            device_id=self.device_id, action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        if self.election_id is not None:
            req.election_id.high, req.election_id.low = self.election_id
        if self.role:
            req.role = self.role
        req.config.p4info.CopyFrom(p4info)
        req.config.p4_device_config = device_config
        req.config.cookie.cookie = cookie
        self._call(self.stub.SetForwardingPipelineConfig, req)

    def write(self, updates: Iterable[Any], *, batch: int = 1000) -> int:
        """Write ``updates`` (``p4.v1.Update``) in order, ``batch`` per WriteRequest; returns how many
        were written. On the first failed request raises :class:`P4RuntimeError` with its per-update
        errors (CONTINUE_ON_ERROR: the other updates of that request were applied)."""
        n = 0
        pending: list[Any] = []

        def flush() -> None:
            nonlocal n
            if not pending:
                return
            req = p4r.WriteRequest(device_id=self.device_id, atomicity=p4r.WriteRequest.CONTINUE_ON_ERROR)
            if self.election_id is not None:
                req.election_id.high, req.election_id.low = self.election_id
            if self.role:
                req.role = self.role
            req.updates.extend(pending)
            try:
                self.stub.Write(req, timeout=self.timeout_s, metadata=self.metadata or None)
            except grpc.RpcError as exc:
                raise P4RuntimeError(exc.code().name, exc.details() or "",  # type: ignore[attr-defined]
                                     write_errors(exc)) from None
            n += len(pending)
            pending.clear()

        for u in updates:
            pending.append(u)
            if len(pending) >= batch:
                flush()
        flush()
        return n

    def read(self, entities: Iterable[Any]) -> Iterator[Any]:
        """Every entity matching ``entities`` (wildcards allowed), across the response stream."""
        req = p4r.ReadRequest(device_id=self.device_id)
        req.entities.extend(entities)
        if self.role:
            req.role = self.role
        try:
            for resp in self.stub.Read(req, timeout=self.timeout_s, metadata=self.metadata or None):
                yield from resp.entities
        except grpc.RpcError as exc:
            raise P4RuntimeError(exc.code().name, exc.details() or "") from None  # type: ignore[attr-defined]

    def read_all(self) -> list[Any]:
        """Every table entry and register entry of the device (what canonical entries hold)."""
        return list(self.read([p4r.Entity(table_entry=p4r.TableEntry()),
                               p4r.Entity(register_entry=p4r.RegisterEntry())]))

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._requests.put(None)
        if self._stream is not None:
            self._stream.cancel()
        self.channel.close()

    def __enter__(self) -> SwitchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
