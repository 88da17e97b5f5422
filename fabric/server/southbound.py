"""The controller's southbound: one P4Runtime client (:class:`p4.client.SwitchClient`) per switch
agent, and the I/O that performs the reconciler's actions.

Everything here runs on a thread pool (switches are written in parallel) and reports back by posting
events (:mod:`fabric.server.reconcile`) to the service's queue: a connection that comes up or loses
primacy, a read's canonical entries, a write acknowledged or failed, a port that went down.
Connections that fail are retried every :data:`RECONNECT_S`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc

from fabric.server.reconcile import Acked, Failed, ReadDone, ReadSwitch, SwitchDown, SwitchUp, Write
from p4.client import P4RuntimeError, SwitchClient

#: Seconds between attempts to reach an agent that is not answering (an assumption: short enough that
#: a restarted agent is found within a second, long enough not to spin).
RECONNECT_S = 0.5
#: Updates per WriteRequest (the agent's benchmark writes fastest in batches of about 1,000).
WRITE_BATCH = 1000
#: Threads that talk to switches at once.
DEFAULT_WORKERS = 32


@dataclass(frozen=True)
class AgentRef:
    """Where a switch's agent is: its P4Runtime address and device id."""

    switch: str
    address: str
    device_id: int


@dataclass(frozen=True)
class PortDown:
    """An agent reported a port down (``up`` False) or up: the service maps it to a link event."""

    switch: str
    port: int
    up: bool


def _reason(exc: Exception) -> str:
    """A failure's text: a P4Runtime error as it reads, anything else with its type."""
    return str(exc) if isinstance(exc, P4RuntimeError) else f"{type(exc).__name__}: {exc}"


class Southbound:
    """Clients of every switch; :meth:`perform` does a reconciler action on the pool."""

    def __init__(self, agents: Mapping[str, AgentRef], election_id: tuple[int, int], post: Callable[[Any], None],
                 pipeline_of: Callable[[str], Any], decoder_of: Callable[[str], Any], *,
                 credentials: grpc.ChannelCredentials | None = None, timeout_s: float = 10.0,
                 workers: int = DEFAULT_WORKERS) -> None:
        self.agents = dict(agents)
        self.election_id = election_id
        self.post, self.pipeline_of, self.decoder_of = post, pipeline_of, decoder_of
        self.credentials, self.timeout_s = credentials, timeout_s
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(self.agents) or 1)),
                                       thread_name_prefix="southbound")
        self.clients: dict[str, SwitchClient] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    # ------------------------------------------------------------------ connections
    def start(self) -> None:
        for sw in sorted(self.agents):
            self.pool.submit(self._connect, sw)

    def _connect(self, sw: str) -> None:
        if self._closed.is_set():
            return
        ref = self.agents[sw]
        c = SwitchClient(ref.address, ref.device_id, self.election_id, credentials=self.credentials,
                         timeout_s=self.timeout_s, on_message=functools.partial(self._message, sw),
                         on_primary=functools.partial(self._primacy, sw),
                         on_close=functools.partial(self._closed_stream, sw))
        try:
            primary = c.connect()
        except P4RuntimeError as exc:
            c.close()
            if exc.code == "INVALID_ARGUMENT":        # our election id is held by another controller
                self.election_id = (self.election_id[0], max(0, self.election_id[1] - 1))
            self._retry(sw)
            return
        with self._lock:
            closed = self._closed.is_set()        # close() ran while we connected: it cannot see c
            old = None if closed else self.clients.get(sw)
            if not closed:
                self.clients[sw] = c
        if closed:
            c.close()
            return
        if old is not None and old is not c:
            old.close()
        self.post(SwitchUp(sw, primary=primary))

    def _retry(self, sw: str) -> None:
        if self._closed.is_set():
            return
        t = threading.Timer(RECONNECT_S, lambda: self._submit(self._connect, sw))
        t.daemon = True
        t.start()

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self._closed.is_set():
            try:
                self.pool.submit(fn, *args)
            except RuntimeError:          # pool shut down while a timer fired
                pass

    def _primacy(self, sw: str, c: SwitchClient, primary: bool) -> None:
        if self.clients.get(sw) is c and c.connected:
            self.post(SwitchUp(sw, primary=primary))

    def _closed_stream(self, sw: str, c: SwitchClient) -> None:
        with self._lock:
            current = self.clients.get(sw) is c
            if current:
                del self.clients[sw]
        c.close()                             # its channel: a new client is made on reconnect
        if current and not self._closed.is_set():
            self.post(SwitchDown(sw))
            self._retry(sw)

    def _message(self, sw: str, m: Any) -> None:
        from p4.agent.ports import parse_port_status

        ps = parse_port_status(m)
        if ps is not None:
            self.post(PortDown(sw, ps[1], ps[2]))

    # ------------------------------------------------------------------ actions
    def perform(self, action: Any) -> None:
        """Do ``action`` (:class:`ReadSwitch` or :class:`Write`) on the pool; the result is posted."""
        fn = self._read if isinstance(action, ReadSwitch) else self._write
        self._submit(fn, action)

    def _client(self, sw: str) -> SwitchClient:
        c = self.clients.get(sw)
        if c is None or not c.connected:
            raise P4RuntimeError("UNAVAILABLE", f"switch {sw} is not connected")
        return c

    def _read(self, a: ReadSwitch) -> None:
        try:
            c = self._client(a.switch)
            cookie = c.pipeline_cookie()
            entries = self.decoder_of(a.switch).canonical(c.read_all()) if cookie is not None else None
        except Exception as exc:  # noqa: BLE001 (any error must answer, or the switch stays in flight)
            self.post(Failed(a.switch, None, f"read: {_reason(exc)}"))
            return
        from fabric.server.reconcile import empty

        self.post(ReadDone(a.switch, cookie, entries if entries is not None else empty()))

    def _write(self, a: Write) -> None:
        try:
            pipe = self.pipeline_of(a.switch)
            c = self._client(a.switch)
            if a.pipeline_cookie is not None:
                c.set_pipeline(pipe.p4info, pipe.device_config, a.pipeline_cookie)
            enc = pipe.encoder
            c.write((enc.update(kind, k, v) for kind, k, v in a.changes), batch=WRITE_BATCH)
        except Exception as exc:  # noqa: BLE001 (any error must answer, or the switch stays in flight)
            self.post(Failed(a.switch, a.version, _reason(exc)))
            return
        self.post(Acked(a.switch, a.version, a.entries, pipe.cookie))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            clients = list(self.clients.values())
            self.clients.clear()
        for c in clients:
            c.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
