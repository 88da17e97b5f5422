"""The agent's dataplane: the DPU running the committed program with the store's entries
(:func:`p4.dpu.to_pipeline`), rebuilt off the gRPC threads after writes.

The device config names the program: :func:`program_config` writes ``{"fabricctl_program": {"role",
"options"}}`` (JSON; the IR is rebuilt from :func:`p4.programs.build_program`, which is deterministic);
a device config that is not one runs no dataplane (the agent still serves P4Runtime).
:func:`entries_of` reads the store back into :class:`p4.entries.SwitchEntries`, the inverse of
:func:`p4.runtime.canonical` for the tables the program has (port names become ``p<N>``; neighbours are
unknown to a switch and left empty; routes, next hops, groups, ECN ports in the order
:func:`p4.runtime.switch_entries` gives them; an indirect entry naming an action profile member or
group is read through :meth:`p4.agent.store.Snapshot.action_set`, as the one-shot set it stands for),
so the DPU sees what it would see for the plan itself.

:class:`Dataplane` owns one worker thread: :meth:`Dataplane.changed` only sets a flag; the worker takes a
snapshot of the entries under the device lock (references to the stored bytes), decodes them and
builds the pipeline outside it, and publishes it with the
store generation it reflects (:attr:`Dataplane.generation`). A rebuild error is kept in
:attr:`Dataplane.error`, never raised into a Write.

Packets (:mod:`p4.agent.packetio`) go through a second worker thread, so packet work never runs on a
gRPC thread and never holds the device lock: :meth:`Dataplane.process` (a :class:`~dpu.packets.PacketBatch`
and its ingress port(s)) and :meth:`Dataplane.process_pcap` return a :class:`concurrent.futures.Future` of
a :class:`~p4.agent.packetio.Processed`, run on the pipeline published last (:meth:`Dataplane.wait_current`
waits until it reflects the store); with ``emit=True`` the forwarded frames also go to :attr:`Dataplane.tx`,
the queue of ``(port, frame)`` the dataplane sends out of its ports (a lab drains it onto interfaces, a
test reads it). :meth:`Dataplane.packet_out` puts a controller's frame on :attr:`Dataplane.tx` as the
program's ``packet_out`` branch does (straight to the named port, no tables). Frames the pipeline punts
to the CPU port go to :attr:`Dataplane.on_punt` (the server sends them as PacketIn) with their ingress port.
A full :attr:`Dataplane.tx` drops the frame and counts it in :attr:`Dataplane.tx_dropped`. With
:attr:`Dataplane.sink` set (a lab's :mod:`p4.agent.afpacket`), frames go to it instead of the queue.

Fast failover (:mod:`p4.agent.ports`): :attr:`Dataplane.base` is the pipeline built from the entries and
:attr:`Dataplane.pipeline` the one packets run on, ``failover(base)`` for the ports down in
:attr:`Dataplane.ports`; :meth:`Dataplane.set_port` derives it again at once (no rebuild, no device lock),
and every rebuild publishes its pipeline through the same step, both under one lock, so a port change and
a rebuild cannot undo each other. Packets of a route whose group has no member up are dropped and counted
in :attr:`Dataplane.failover_dropped`.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict
from typing import Any

import numpy as np
from finsy.proto import p4r

from dpu.packets import PacketBatch, read_pcap
from p4.agent.packetio import ControllerMeta, Processed, run_pipeline
from p4.agent.ports import Live, PortTable, failover, watch_of
from p4.agent.store import Snapshot
from p4.entries import AclEntry, EcnThresholds, Nexthop, Route, SwitchEntries, WcmpGroup
from p4.ir import Program

KEY = "fabricctl_program"
#: Frames :attr:`Dataplane.tx` holds before it drops (a reader that stopped must not grow memory).
TX_QUEUE_FRAMES = 65_536


def program_config(role: str, options: Any = None) -> bytes:
    """The device config that names ``build_program(role, options)``."""
    from p4.programs import ProgramOptions

    opts = options if options is not None else ProgramOptions()
    return json.dumps({KEY: {"role": role, "options": asdict(opts)}}, sort_keys=True).encode()


def program_of(device_config: bytes) -> Program | None:
    """The program a device config names, or None when it names none."""
    from p4.programs import ProgramOptions, build_program

    try:
        doc = json.loads(device_config.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or KEY not in doc:
        return None
    spec = doc[KEY]
    return build_program(spec["role"], ProgramOptions(**spec.get("options", {})))


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _prefix(v6: bool, addr: int, plen: int) -> str:
    raw = addr.to_bytes(16 if v6 else 4, "big")
    return f"{socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw)}/{plen}"


def entries_of(program: Program, store: Any, switch: str = "agent") -> SwitchEntries:
    """The entries of a :class:`~p4.agent.store.Store` or of its snapshot as :class:`SwitchEntries` of
    ``program`` (module docstring)."""
    return entries_and_watch(program, store, switch)[0]


def entries_and_watch(program: Program, store: Any,
                      switch: str = "agent") -> tuple[SwitchEntries, dict[int, list[int | None]]]:
    """:func:`entries_of` and, per WCMP group id, each member's watch port in the order of the group's
    ``members`` (None: the entry names none; :func:`p4.agent.ports.watch_of`)."""
    from p4.p4info import IdMap

    if not isinstance(store, Snapshot):
        store = store.snapshot()

    names = IdMap.of(program).names()
    local = {i: n.rpartition(".")[2] for i, n in names.items()}
    field_names = {(t.id, f.id): f.name for t in store.schema.tables.values() for f in t.fields.values()}
    nexthops: list[Nexthop] = []
    admit: list[int] = []
    dscp: dict[int, int] = {}
    routes: list[tuple[tuple[bool, int, int], Route]] = []
    groups: list[WcmpGroup] = []
    watch: dict[int, list[int | None]] = {}
    acl: list[AclEntry] = []
    for tid, blobs in store.entries.items():
        table = local.get(tid)
        for blob in blobs:
            te = p4r.Entity.FromString(blob).table_entry
            match = {field_names[(tid, m.field_id)]: m for m in te.match}
            ta = store.action_set(te)     # members and groups of an indirect table resolved to a one-shot set
            act = ta.action
            params = [_int(p.value) for p in sorted(act.params, key=lambda p: p.param_id)]
            aname = local.get(act.action_id, "")
            if table == "nexthop_table":
                port, src, dst = params
                nexthops.append(Nexthop(_int(match["nexthop_id"].exact.value), "", f"p{port}", port, src, dst))
            elif table == "port_admit":
                admit.append(_int(match["ingress_port"].exact.value))
            elif table == "dscp_to_tc":
                dscp[_int(match["dscp"].exact.value)] = params[0]
            elif table in ("routing_v4", "routing_v6"):
                v6 = table == "routing_v6"
                fm = next(iter(match.values()), None)
                addr, plen = (_int(fm.lpm.value), fm.lpm.prefix_len) if fm is not None else (0, 0)
                nh, grp = (params[0], 0) if aname == "set_nexthop_id" else (0, params[0])
                routes.append(((v6, addr, plen), Route(_prefix(v6, addr, plen), nh, grp)))
            elif table == "wcmp_group_table":
                acts = ta.action_profile_action_set.action_profile_actions
                trip = sorted(((_int(a.action.params[0].value), a.weight, watch_of(a)) for a in acts),
                              key=lambda t: (t[0], t[1], -1 if t[2] is None else t[2]))
                gid = _int(match["wcmp_group_id"].exact.value)
                groups.append(WcmpGroup(gid, tuple((n, w) for n, w, _p in trip)))
                watch[gid] = [p for _n, _w, p in trip]
            elif table == "acl":
                m = tuple((n, _int(f.ternary.value), _int(f.ternary.mask)) for n, f in match.items())
                acl.append(AclEntry(te.priority, m, aname, params[0] if aname == "acl_set_nexthop_id" else 0))
    regs = {local.get(rid): cells for rid, cells in store.registers.items()}
    ecn_ports = sorted({i for n in ("ecn_kmin", "ecn_kmax", "ecn_slope") for i in regs.get(n, {})})
    ecn = tuple(EcnThresholds(p, *(_int(regs.get(n, {}).get(p, b"\x00")) for n in ("ecn_kmin", "ecn_kmax", "ecn_slope")))
                for p in ecn_ports)
    ports = sorted({*admit, *(h.port for h in nexthops), *ecn_ports})
    return SwitchEntries(
        switch=switch, role=program.role, ports={f"p{p}": p for p in ports}, admit_ports=tuple(sorted(admit)),
        dscp_to_tc=dict(sorted(dscp.items())), routes=tuple(r for _k, r in sorted(routes, key=lambda kr: kr[0])),
        nexthops=tuple(sorted(nexthops, key=lambda n: n.id)), groups=tuple(sorted(groups, key=lambda g: g.id)),
        ecn=ecn, acl=tuple(sorted(acl, key=lambda a: -a.priority))), watch


class Dataplane:
    """The DPU pipeline of one device, rebuilt by a worker thread (module docstring)."""

    def __init__(self, device: Any, lock: threading.Lock) -> None:
        self.device = device
        self.lock = lock
        self.pipeline: Any = None
        self.entries: SwitchEntries | None = None
        #: the pipeline built from the entries, before :func:`p4.agent.ports.failover`
        self.base: Any = None
        self.watch: dict[int, list[int | None]] = {}
        #: the device's port oper status (every port up at start)
        self.ports = PortTable()
        #: packets dropped because every member of their route's group is down
        self.failover_dropped = 0
        self._live = Live(None)
        self._pl_lock = threading.Lock()
        self.generation = -1
        self.error: str | None = None
        self._wake = threading.Event()
        self._stop = False
        self._program: tuple[bytes, Program | None] = (b"", None)
        self.controller: ControllerMeta | None = None
        self.tx: queue.Queue[tuple[int, bytes]] = queue.Queue(TX_QUEUE_FRAMES)
        self.tx_dropped = 0
        self.on_punt: Callable[[int, bytes], None] | None = None
        #: where frames leaving a port go instead of :attr:`tx` (a lab's AF_PACKET sockets)
        self.sink: Callable[[int, bytes], None] | None = None
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"dpu-{device.device_id}", daemon=True)
        self._thread.start()
        self._pkt_thread = threading.Thread(target=self._packets, name=f"dpu-pkt-{device.device_id}", daemon=True)
        self._pkt_thread.start()

    def changed(self) -> None:
        self._wake.set()

    def set_port(self, port: int, up: bool) -> bool:
        """Record ``port`` up or down and, when that changed it, publish the pipeline with the members
        watching a down port left out (:func:`p4.agent.ports.failover`), at once, on the caller's thread
        (numpy on the group arrays, no rebuild; the device lock is not taken). The next batch the packet
        worker takes runs on it. True when the status changed."""
        with self._pl_lock:
            if not self.ports.set(port, up):
                return False
            self._publish(self.base, self.watch)
        return True

    def _publish(self, base: Any, watch: dict[int, list[int | None]]) -> None:
        """Under ``_pl_lock``: ``base`` with failover for the ports down now becomes the running pipeline."""
        live = failover(base, watch, self.ports.down())
        self.base, self.watch, self._live = base, watch, live
        self.pipeline = live.pipeline

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._jobs.put(None)
        self._thread.join(5)
        self._pkt_thread.join(5)

    # ------------------------------------------------------------------ packets
    def process(self, batch: PacketBatch, ingress_port: int | np.ndarray = 0, *,
                emit: bool = False) -> Future[Processed]:
        """Run ``batch`` (arrived on ``ingress_port``, one or one per packet) on the packet worker."""
        fut: Future[Processed] = Future()
        self._jobs.put(("run", batch, ingress_port, emit, fut))
        return fut

    def process_pcap(self, path: str | os.PathLike[str], ingress_port: int | np.ndarray = 0, *,
                     emit: bool = False) -> Future[Processed]:
        """:meth:`process` of the packets of a pcap / pcapng file."""
        return self.process(read_pcap(path), ingress_port, emit=emit)

    def packet_out(self, port: int, frame: bytes) -> None:
        """Send ``frame`` out of ``port`` (a controller's PacketOut), in order with forwarded frames."""
        self._jobs.put(("out", port, frame))

    def wait_current(self, timeout: float) -> bool:
        """Wait until the published pipeline reflects the store's entries (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                store = self.device.store
                want = store.generation if store is not None else None
            if want is None or (self.generation == want and self.pipeline is not None) or self.error is not None:
                return want is not None and self.error is None
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def _send(self, port: int, frame: bytes) -> None:
        sink = self.sink
        if sink is not None:
            sink(port, frame)
            return
        try:
            self.tx.put_nowait((port, frame))
        except queue.Full:
            self.tx_dropped += 1

    def run_batch(self, batch: PacketBatch, ports: int | np.ndarray) -> Processed:
        """Run ``batch`` on the pipeline published last, on the caller's thread: failover drops counted,
        punted frames handed to :attr:`on_punt`. The packet worker runs its jobs through this; a lab's
        AF_PACKET loop (:mod:`p4.agent.afpacket`) calls it directly and sends the frames itself."""
        live = self._live
        pipe = live.pipeline
        before = {ti: int(pipe.tables[ti].cnt_pkts[idx].sum()) for ti, idx in live.dead_entries.items()}
        res = run_pipeline(pipe, batch, ports, self.generation)
        for ti, n in before.items():
            self.failover_dropped += int(pipe.tables[ti].cnt_pkts[live.dead_entries[ti]].sum()) - n
        cb = self.on_punt
        if cb is not None:
            for p, f in res.punted:
                try:
                    cb(p, f)
                except Exception:  # noqa: BLE001 - a failing sink must not stop the dataplane
                    pass
        return res

    def _packets(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job[0] == "out":
                self._send(job[1], job[2])
                continue
            _kind, batch, ports, emit, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                res = self.run_batch(batch, ports)
            except Exception as exc:  # noqa: BLE001 - the caller's future carries it
                fut.set_exception(exc)
                continue
            if emit:
                for p, f in res.frames():
                    self._send(p, f)
            fut.set_result(res)

    def _run(self) -> None:
        from p4.dpu import to_pipeline

        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            with self.lock:
                dev = self.device
                store, pipe = dev.store, dev.pipeline
                if store is None or pipe is None:
                    continue
                cfg = pipe.config.p4_device_config
                if self._program[0] != cfg or not cfg:
                    self._program = (cfg, program_of(cfg))
                self.controller = ControllerMeta.of(pipe.config.p4info)
                program = self._program[1]
                if program is None:
                    with self._pl_lock:
                        self._publish(None, {})
                    self.entries = None
                    continue
                snap = store.snapshot()      # under the lock: references only; decoding happens outside
            gen = snap.generation
            try:
                entries, watch = entries_and_watch(program, snap, switch=f"device{dev.device_id}")
                built = to_pipeline(program, entries)
                with self._pl_lock:
                    self._publish(built, watch)
                self.entries, self.generation, self.error = entries, gen, None
            except Exception as exc:  # noqa: BLE001 - kept for status, never raised into a Write
                self.error = f"{type(exc).__name__}: {exc}"
