"""The agent's gRPC layer: a P4Runtime v1 service (finsy's protos) over :class:`~p4.agent.device.Device`
and :class:`~p4.agent.arbitration.Arbiter`, which hold every rule; this module only translates requests,
answers and errors, and keeps the state directory.

- A failed Write answers UNKNOWN with one ``p4.v1.Error`` per update, in order (OK ones with
  ``canonical_code`` 0), packed in a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer.
- Read answers stream ``ReadResponse``\\ s under :data:`p4.agent.store.READ_CHUNK_BYTES`, serialized
  straight from the stored entities (no protobuf is built per entry).
- Write and SetForwardingPipelineConfig need the primary's election id for the request's role
  (PERMISSION_DENIED otherwise); Read, Get and Capabilities need none. An unknown device is NOT_FOUND.
- StreamChannel: each stream's arbitration goes to the arbiter and its answers to the streams they name;
  a refused bid ends the stream with the arbiter's status. A PacketOut (spec 16.1) from the primary of
  the stream's (device, role) goes to :meth:`p4.agent.dataplane.Dataplane.packet_out` on the port its
  ``egress_port`` metadata names; a PacketOut from a backup is a StreamError PERMISSION_DENIED, one
  without a dataplane UNIMPLEMENTED, one with bad metadata INVALID_ARGUMENT, one to a port that is down
  UNAVAILABLE (the packet echoed back in ``error.packet_out``; nothing is sent). A frame the pipeline
  punts to the CPU port comes back as a PacketIn with ``ingress_port`` on the stream of the device's
  primary of every role (no role config: every role receives them).
- Dataplane (:mod:`p4.agent.dataplane`): with ``dataplane=True`` each device's DPU pipeline is rebuilt
  by its own worker thread after every Write that changed something and every commit; the gRPC thread
  only sets a flag. The DPU kernels are compiled (:func:`p4.agent.packetio.warm`) before the server
  answers; packets run on each dataplane's packet thread, never on a gRPC thread.
- Port status (:mod:`p4.agent.ports`): every port is up at start; :meth:`P4RuntimeService.set_port_status`
  (not an RPC: tests and labs call it) changes one, the dataplane fails over at once (WCMP members whose
  watch port is down are left out, a group with none left drops), and every stream that arbitrated for
  the device gets a ``StreamMessageResponse.other`` packing ``fabricctl.agent.v1.PortStatus``.
- Interfaces (:mod:`p4.agent.afpacket`, ``ports=``): the dataplanes read and send frames on a lab's
  interfaces through AF_PACKET sockets opened in each switch's namespace, one epoll thread for all.
- State directory: ``arbitration.json`` holds the highest election id per device and role, rewritten
  atomically (:func:`fabric.io.atomic.write_json_atomic`) whenever one rises, read back at start, so a
  restarted agent (even after kill -9) never accepts a lower primary. ``pipeline-<device>.pb`` holds
  each device's committed pipeline (P4Info, device config, cookie), written atomically on every commit
  and committed again at start (:func:`p4.agent.device.save_pipeline`); entries are not kept.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from finsy.proto import p4r, rpc_status

from fabric.io.atomic import write_json_atomic
from p4.agent.arbitration import Arbiter, Notice
from p4.agent.device import NO_PIPELINE, Device, load_pipeline, save_pipeline
from p4.agent.ports import PortTable, port_status_message
from p4.agent.schema import Code, P4Error
from p4.agent.store import frame_entities

#: The P4Runtime version the protos implement (finsy 0.30 vendors v1.5).
P4RUNTIME_API_VERSION = "1.5.0"
SERVICE = "p4.v1.P4Runtime"
NOT_PRIMARY = "Not the primary client for this device and role"
#: 16 MiB: the largest request accepted (writes of many entries); answers stay under 4 MiB.
MAX_MESSAGE_BYTES = 16 << 20
STATE_FILE = "arbitration.json"
_COMMITS = (p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT, p4r.SetForwardingPipelineConfigRequest.COMMIT)
_GRPC_CODES = {c.value[0]: c for c in grpc.StatusCode}


def _u128(msg: Any) -> int:
    return (msg.high << 64) | msg.low


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[Any, ...]) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


def write_error_status(errors: list[P4Error | None]) -> _Status:
    """The UNKNOWN status of a Write with per-update ``errors`` (None: that update succeeded)."""
    st = rpc_status.Status(code=Code.UNKNOWN, message=f"Write failure: {sum(e is not None for e in errors)} of "
                           f"{len(errors)} updates failed")
    for e in errors:
        err = p4r.Error(canonical_code=Code.OK) if e is None else p4r.Error(canonical_code=e.code, message=e.message)
        st.details.add().Pack(err)
    return _Status(grpc.StatusCode.UNKNOWN, st.message, (("grpc-status-details-bin", st.SerializeToString()),))


def read_highest(state_dir: Path | None) -> dict[tuple[int, str], int]:
    if state_dir is None or not (state_dir / STATE_FILE).exists():
        return {}
    doc = json.loads((state_dir / STATE_FILE).read_text())
    return {(int(d["device_id"]), d["role"]): int(d["election_id"]) for d in doc["highest"]}


class _Conn:
    """One StreamChannel: the queue its answers go through (None ends it, a P4Error aborts it)."""

    def __init__(self) -> None:
        self.out: queue.Queue[Any] = queue.Queue()


class P4RuntimeService:
    """The service methods (grpc calls them on its worker threads)."""

    def __init__(self, device_ids: Iterable[int], state_dir: str | Path | None = None, *,
                 dataplane: bool = False) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.devices = {d: Device(d) for d in device_ids}
        if self.state_dir is not None:
            for dev in self.devices.values():
                load_pipeline(self.state_dir, dev)      # the committed pipeline survives a restart
        self.locks = {d: threading.Lock() for d in self.devices}
        self.arb_lock = threading.Lock()
        self.arbiter = Arbiter(self.devices, read_highest(self.state_dir), on_highest=self._persist)
        self.conns: dict[_Conn, None] = {}
        self.dataplanes: dict[int, Any] = {}
        self.ports: dict[int, PortTable] = {}       # devices without a dataplane (theirs: Dataplane.ports)
        if dataplane:
            from p4.agent.dataplane import Dataplane
            from p4.agent.packetio import warm

            warm()
            self.dataplanes = {d: Dataplane(dev, self.locks[d]) for d, dev in self.devices.items()}
            for d, dp in self.dataplanes.items():
                dp.on_punt = lambda port, frame, d=d: self._packet_in(d, port, frame)
            for d in self.dataplanes:
                self._changed(d)  # a pipeline reloaded from the state dir gets its (empty-table) dataplane now

    def _changed(self, device_id: int) -> None:
        dp = self.dataplanes.get(device_id)
        if dp is not None:
            dp.changed()

    def close(self) -> None:
        for dp in self.dataplanes.values():
            dp.close()

    # ------------------------------------------------------------------ ports
    def set_port_status(self, device_id: int, port: int, up: bool) -> bool:
        """Port ``port`` of ``device_id`` went up or down (a test, or a lab's link monitor when a veth
        goes down): the dataplane stops (or resumes) hashing onto WCMP members watching it at once
        (:meth:`p4.agent.dataplane.Dataplane.set_port`), then every stream that arbitrated for the device
        gets a :mod:`p4.agent.ports` PortStatus in ``StreamMessageResponse.other``. True when the status
        changed (no message otherwise); a :class:`P4Error` NOT_FOUND for an unknown device."""
        self._device(device_id)
        dp = self.dataplanes.get(device_id)
        table = dp.ports if dp is not None else self.ports.setdefault(device_id, PortTable())
        changed = dp.set_port(port, up) if dp is not None else table.set(port, up)
        if not changed:
            return False
        msg = port_status_message(device_id, port, up)
        with self.arb_lock:
            conns = [c for c in list(self.conns) if (self.arbiter.role_of(c) or (None,))[0] == device_id]
        for c in conns:
            c.out.put(msg)
        return True

    def port_status(self, device_id: int, port: int) -> bool:
        """Whether ``port`` of ``device_id`` is up (every port is up until :meth:`set_port_status`)."""
        self._device(device_id)
        dp = self.dataplanes.get(device_id)
        table = dp.ports if dp is not None else self.ports.get(device_id)
        return table is None or table.is_up(port)

    # ------------------------------------------------------------------ packets
    def _packet_in(self, device_id: int, port: int, frame: bytes) -> None:
        """A punted frame -> PacketIn to the primary of every role of the device (the agent has no role
        config to filter with, so every role receives them, as Stratum does for a role without one);
        dropped when there is none."""
        meta = self.dataplanes[device_id].controller
        if meta is None:
            return
        with self.arb_lock:
            conns = self.arbiter.primaries(device_id)
        if conns:
            msg = meta.packet_in(port, frame)
            for conn in conns:
                conn.out.put(msg)

    def _packet_out(self, conn: _Conn, packet: Any) -> Any:
        """Hand a PacketOut to the dataplane; the StreamMessageResponse error to send back, or None."""
        with self.arb_lock:
            pair = self.arbiter.role_of(conn)
            primary = pair is not None and self.arbiter.primary_conn(*pair) is conn
        try:
            if pair is None or not primary:
                raise P4Error(Code.PERMISSION_DENIED, "PacketOut from a client that is not the primary")
            dp = self.dataplanes.get(pair[0])
            if dp is None:
                raise P4Error(Code.UNIMPLEMENTED, "PacketOut needs the agent's dataplane (agent serve --dataplane)")
            if dp.controller is None:
                raise P4Error(Code.FAILED_PRECONDITION, NO_PIPELINE)
            port, payload = dp.controller.packet_out(packet)
            if not dp.ports.is_up(port):
                raise P4Error(Code.UNAVAILABLE, f"PacketOut egress port {port} is down")
        except P4Error as e:
            err = p4r.StreamMessageResponse()
            err.error.canonical_code, err.error.message = int(e.code), e.message
            err.error.packet_out.packet_out.CopyFrom(packet)
            return err
        dp.packet_out(port, payload)
        return None

    # ------------------------------------------------------------------ helpers
    def _persist(self, _device: int, _role: str, _eid: int) -> None:
        if self.state_dir is None:
            return
        doc = {"highest": [{"device_id": d, "role": r, "election_id": str(e)}
                           for (d, r), e in sorted(self.arbiter.highest().items())]}
        write_json_atomic(self.state_dir / STATE_FILE, doc)

    @staticmethod
    def _abort(context: Any, e: P4Error) -> None:
        context.abort(_GRPC_CODES[int(e.code)], e.message)

    def _device(self, device_id: int) -> Device:
        d = self.devices.get(device_id)
        if d is None:
            raise P4Error(Code.NOT_FOUND, f"Unknown device id {device_id}")
        return d

    def _check_primary(self, device_id: int, role: str, request: Any) -> None:
        eid = _u128(request.election_id) if request.HasField("election_id") else None
        with self.arb_lock:
            ok = self.arbiter.is_primary(device_id, role, eid)
        if not ok:
            raise P4Error(Code.PERMISSION_DENIED, NOT_PRIMARY)

    def _dispatch(self, notices: list[Notice]) -> None:
        for n in notices:
            msg = p4r.StreamMessageResponse()
            a = msg.arbitration
            a.device_id = n.device_id
            if n.role:
                a.role.name = n.role
            if n.election_id is not None:
                a.election_id.high, a.election_id.low = n.election_id >> 64, n.election_id & ((1 << 64) - 1)
            a.status.code = int(n.code)
            a.status.message = n.message
            n.conn.out.put(msg)   # type: ignore[attr-defined]

    # ------------------------------------------------------------------ unary
    def Capabilities(self, request: Any, context: Any) -> Any:
        return p4r.CapabilitiesResponse(p4runtime_api_version=P4RUNTIME_API_VERSION)

    def SetForwardingPipelineConfig(self, request: Any, context: Any) -> Any:
        try:
            dev = self._device(request.device_id)
            self._check_primary(request.device_id, request.role, request)
            with self.locks[dev.device_id]:
                dev.set_pipeline(request.action, request.config)
                if self.state_dir is not None and request.action in _COMMITS:
                    save_pipeline(self.state_dir, dev)
        except P4Error as e:
            self._abort(context, e)
        self._changed(dev.device_id)
        return p4r.SetForwardingPipelineConfigResponse()

    def GetForwardingPipelineConfig(self, request: Any, context: Any) -> Any:
        try:
            dev = self._device(request.device_id)
            with self.locks[dev.device_id]:
                cfg = dev.get_pipeline(request.response_type)
        except P4Error as e:
            self._abort(context, e)
        return p4r.GetForwardingPipelineConfigResponse(config=cfg)

    def Write(self, request: Any, context: Any) -> Any:
        try:
            dev = self._device(request.device_id)
            self._check_primary(request.device_id, request.role, request)
            with self.locks[dev.device_id]:
                errors = dev.write(request.updates, request.atomicity)
        except P4Error as e:
            self._abort(context, e)
        if any(e is None for e in errors):
            self._changed(dev.device_id)
        if any(e is not None for e in errors):
            context.abort_with_status(write_error_status(errors))
        return p4r.WriteResponse()

    def Read(self, request: Any, context: Any) -> Iterator[bytes]:
        try:
            dev = self._device(request.device_id)
            with self.locks[dev.device_id]:
                blobs = dev.read(request.entities)
        except P4Error as e:
            self._abort(context, e)
        yield from frame_entities(blobs)

    # ------------------------------------------------------------------ stream
    def StreamChannel(self, request_iterator: Iterator[Any], context: Any) -> Iterator[Any]:
        conn = _Conn()
        self.conns[conn] = None

        def reader() -> None:
            try:
                for req in request_iterator:
                    which = req.WhichOneof("update")
                    if which == "arbitration":
                        a = req.arbitration
                        eid = _u128(a.election_id) if a.HasField("election_id") else None
                        role = a.role.name if a.HasField("role") else ""
                        try:
                            with self.arb_lock:
                                notices = self.arbiter.bid(conn, a.device_id, role, eid)
                        except P4Error as e:
                            conn.out.put(e)
                            return
                        self._dispatch(notices)
                    elif which == "packet":
                        err = self._packet_out(conn, req.packet)
                        if err is not None:
                            conn.out.put(err)
                    else:
                        err = p4r.StreamMessageResponse()
                        err.error.canonical_code = Code.UNIMPLEMENTED
                        err.error.message = f"stream message {which} is not supported by this agent yet"
                        conn.out.put(err)
            except Exception:   # noqa: BLE001 - the client went away: grpc ends the iterator with an error
                pass
            finally:
                with self.arb_lock:
                    notices = self.arbiter.drop(conn)
                self._dispatch(notices)
                conn.out.put(None)

        context.add_callback(lambda: conn.out.put(None))
        threading.Thread(target=reader, name="p4rt-stream", daemon=True).start()
        try:
            while True:
                item = conn.out.get()
                if item is None:
                    return
                if isinstance(item, P4Error):
                    self._abort(context, item)
                yield item
        finally:
            self.conns.pop(conn, None)


def _handler(service: P4RuntimeService) -> grpc.GenericRpcHandler:
    ser = lambda m: m.SerializeToString()  # noqa: E731
    raw = lambda b: b  # noqa: E731
    u = grpc.unary_unary_rpc_method_handler
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Write": u(service.Write, p4r.WriteRequest.FromString, ser),
        "Read": grpc.unary_stream_rpc_method_handler(service.Read, p4r.ReadRequest.FromString, raw),
        "SetForwardingPipelineConfig": u(service.SetForwardingPipelineConfig,
                                         p4r.SetForwardingPipelineConfigRequest.FromString, ser),
        "GetForwardingPipelineConfig": u(service.GetForwardingPipelineConfig,
                                         p4r.GetForwardingPipelineConfigRequest.FromString, ser),
        "StreamChannel": grpc.stream_stream_rpc_method_handler(service.StreamChannel,
                                                               p4r.StreamMessageRequest.FromString, ser),
        "Capabilities": u(service.Capabilities, p4r.CapabilitiesRequest.FromString, ser),
    })


#: Worker threads for unary calls (Write, Read, pipeline) on top of the streams.
UNARY_WORKERS = 32
#: StreamChannels per device the agent keeps a thread for (a primary and up to three backups).
STREAMS_PER_DEVICE = 4


class AgentServer:
    """A P4Runtime server for ``device_ids`` on ``listen`` (``host:0`` picks a free port). Constructing
    it does nothing; :meth:`start` binds and returns the port, :meth:`stop` ends it.

    >>> srv = AgentServer("127.0.0.1:0", [1, 2])
    >>> port = srv.start()
    >>> port > 0
    True
    >>> srv.stop()
    """

    def __init__(self, listen: str = "127.0.0.1:0", device_ids: Iterable[int] = (1,),
                 state_dir: str | Path | None = None, max_workers: int | None = None, *, dataplane: bool = False,
                 ports: Any = None, credentials: grpc.ServerCredentials | None = None) -> None:
        self.listen = listen
        #: TLS (``grpc.ssl_server_credentials``) or None for plaintext
        self.credentials = credentials
        self.device_ids = tuple(device_ids)
        #: a :class:`p4.agent.afpacket.PortsConfig`: the dataplanes run on these interfaces (needs dataplane)
        self.ports = ports
        self.io: Any = None
        self.state_dir = state_dir
        # every open StreamChannel holds a worker thread of grpc's sync server: room for a primary and
        # backups on every device, plus the unary calls (28 devices with two controllers ran out at 32)
        self.max_workers = max_workers or UNARY_WORKERS + STREAMS_PER_DEVICE * len(self.device_ids)
        self.dataplane = dataplane
        self.service: P4RuntimeService | None = None
        self._server: grpc.Server | None = None
        self.port = 0

    def start(self) -> int:
        self.service = P4RuntimeService(self.device_ids, self.state_dir, dataplane=self.dataplane)
        if self.ports is not None:
            from p4.agent.afpacket import AfPacketIO

            self.io = AfPacketIO(self.service, self.ports)
            self.io.open()      # sockets inside every switch's namespace before the server answers
            self.io.start()
        opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.max_workers,
                                                              thread_name_prefix="p4rt"), options=opts)
        self._server.add_generic_rpc_handlers((_handler(self.service),))
        self.port = (self._server.add_secure_port(self.listen, self.credentials) if self.credentials is not None
                     else self._server.add_insecure_port(self.listen))
        if self.port == 0:
            raise OSError(f"cannot listen on {self.listen}")
        self._server.start()
        return self.port

    @property
    def address(self) -> str:
        host = self.listen.rpartition(":")[0]
        return f"{host}:{self.port}"

    def set_port_status(self, device_id: int, port: int, up: bool) -> bool:
        """:meth:`P4RuntimeService.set_port_status` of the running server."""
        assert self.service is not None, "start the server first"
        return self.service.set_port_status(device_id, port, up)

    def stop(self, grace: float | None = 0.5) -> None:
        if self._server is not None:
            if self.service is not None:
                for c in list(self.service.conns):
                    c.out.put(None)
            self._server.stop(grace).wait(5)
            self._server = None
        if self.io is not None:
            self.io.stop()
            self.io = None
        if self.service is not None:
            self.service.close()

    def wait(self, timeout: float | None = None) -> bool:
        assert self._server is not None
        return self._server.wait_for_termination(timeout)

