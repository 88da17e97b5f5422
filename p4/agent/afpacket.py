"""The agent's dataplane on real interfaces: AF_PACKET I/O inside a lab's switch namespaces.

One agent process serves every switch of a lab (one P4Runtime device each). Its sockets are opened
inside each switch's network namespace (``setns`` from the opening thread and back: a socket keeps the
namespace it was made in) and kept for the life of the process, so one thread can serve them all with
one ``epoll``. Why one process and not one per switch: the numba kernels are compiled or loaded once
(about 0.3-0.6 s and ~200 MiB per Python process with numba; 28 processes would cost ~6 GiB and several
seconds on 2 cores), one gRPC server serves every device (the lab's client makes one channel), and the
dataplane's work is serial under the GIL anyway (the DPU kernels hold it), so several processes would
only buy parallelism on more cores than a lab machine has. The price: a busy switch delays the others'
packets by one batch, and a crash takes every switch down at once (``lab down`` still removes it).

Per port (``device_id``, P4 port number, interface) one ``AF_PACKET``/``SOCK_RAW`` socket bound to the
interface, non-blocking, with ``PACKET_IGNORE_OUTGOING`` so the frames this agent sends are not read
back (``PACKET_OUTGOING``; Linux >= 4.20). The loop (:meth:`AfPacketIO.serve`, its own thread, never a
gRPC thread): wait on epoll, drain every ready socket into one preallocated buffer (fixed slots of
:data:`SLOT_BYTES`; up to :data:`BATCH_FRAMES` frames), then per device run its DPU pipeline once on the
device's frames (their slots in place, the ingress port per frame:
:meth:`p4.agent.dataplane.Dataplane.run_batch`), and send each frame out of the socket of its egress port.
Frames the pipeline punts go to the controller as PacketIn (the server's ``on_punt``); a controller's
PacketOut goes straight to the port's socket (:attr:`p4.agent.dataplane.Dataplane.sink`).

ARP and frames for the switch itself are the kernel's: the lab keeps the switch's address in its
namespace with ``ip_forward=0``, so the namespace's own stack answers ARP for it on every port (hosts
keep their kernel stack and reach their gateway as usual) and answers pings to it, while it drops
transit packets without a word (with forwarding off, ``ip_error`` sends no ICMP). The agent sees the
same frames and its pipeline drops them (no route for ARP or for the switch's own address). Answering
ARP in the agent instead would need a table the P4 program does not have and would race the kernel,
which answers anyway.

Port status from the kernel (a link monitor): per namespace one rtnetlink socket subscribed to link
events (``RTMGRP_LINK``), in the same epoll, plus one dump at start. A port is up while its interface is
administratively up and has carrier (``IFF_UP`` and ``IFF_LOWER_UP``: a veth loses carrier when its peer
goes down), and every change goes to :meth:`p4.agent.server.P4RuntimeService.set_port_status`, so the
dataplane stops hashing onto WCMP members behind a dead link at once and every client gets the
PortStatus message, whoever took the link down (``ip link set ... down`` in either namespace).

A control socket (UNIX datagram, JSON) answers ``{"op": "status"}`` (per device: packets in and out,
drops, send errors, whether the dataplane reflects the written entries) and ``{"op": "port", "device_id",
"port", "up"}`` (:meth:`p4.agent.server.P4RuntimeService.set_port_status`: a lab's link monitor).

The configuration (``fabricctl agent serve --ports FILE``) is JSON::

    {"devices": [{"device_id": 1, "name": "leaf1", "netns": "/run/netns/lab.leaf1",
                  "ports": {"1": "eth1", "2": "eth2"}}],
     "control": "/run/fabricctl/labs/lab.agent.sock"}
"""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dpu.packets import PacketBatch
from fabric.errors import ConfigError
from labs.constants import ETH_P_ALL, PACKET_IGNORE_OUTGOING, SOL_PACKET
from labs.netns import entered

#: Bytes per receive slot: a 1500-byte MTU frame with its Ethernet and VLAN headers fits (*assumption*:
#: labs run the default veth MTU with TX offloads off, so no frame is larger; larger ones are counted in
#: ``truncated`` and dropped).
SLOT_BYTES = 2048
#: Frames one loop iteration drains before it runs the pipelines (*assumption*: large enough to amortise
#: the ~70 us fixed cost of a pipeline run, small enough to keep a frame's wait under a millisecond).
BATCH_FRAMES = 256
#: Receive buffer per socket (bytes): bursts of a flow-split (2,000 frames) fit while the loop is busy.
RCVBUF_BYTES = 4 << 20
#: epoll wait, s: how often the loop looks at its stop flag when no frame arrives.
POLL_S = 0.2
#: rtnetlink (linux/rtnetlink.h, linux/if.h): the link multicast group, link messages, the interface
#: flags that make a port up, and the ``ifinfomsg`` / ``nlmsghdr`` layouts.
RTMGRP_LINK = 1
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
_NLMSG = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")


@dataclass
class DeviceStats:
    """Counters of one device's AF_PACKET I/O."""

    rx: int = 0
    tx: int = 0
    dropped: int = 0
    no_port: int = 0
    send_errors: int = 0
    truncated: int = 0
    punted: int = 0
    batches: int = 0
    recv_errors: int = 0
    pipeline_errors: int = 0


@dataclass
class _Port:
    device_id: int
    port: int
    ifname: str
    sock: socket.socket


@dataclass
class PortsConfig:
    """The parsed ``--ports`` file (module docstring)."""

    devices: list[dict[str, Any]]
    control: str | None = None
    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PortsConfig:
        file = str(path)
        try:
            doc = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=file) from None
        except ValueError as exc:
            raise ConfigError(f"not JSON: {exc}", file=file) from None
        return cls.from_dict(doc, file=file)

    @classmethod
    def from_dict(cls, doc: Any, *, file: str | None = None) -> PortsConfig:
        if not isinstance(doc, dict) or not isinstance(doc.get("devices"), list):
            raise ConfigError("wants an object with a list 'devices'", file=file)
        seen: set[int] = set()
        names = {}
        for i, d in enumerate(doc["devices"]):
            where = f"devices[{i}]"
            if not isinstance(d, dict):
                raise ConfigError("must be an object", file=file, where=where)
            dev = d.get("device_id")
            if not isinstance(dev, int) or isinstance(dev, bool) or dev < 0 or dev in seen:
                raise ConfigError(f"device_id must be a new unsigned integer, got {dev!r}", file=file, where=where)
            seen.add(dev)
            if not isinstance(d.get("netns"), str) or not isinstance(d.get("ports"), dict):
                raise ConfigError("needs 'netns' (a path) and 'ports' (port number -> interface)", file=file,
                                  where=where)
            for k, v in d["ports"].items():
                if not str(k).isdigit() or not isinstance(v, str) or not v:
                    raise ConfigError(f"port {k!r}: wants a port number and an interface name", file=file,
                                      where=f"{where}.ports")
            names[dev] = str(d.get("name", dev))
        ctl = doc.get("control")
        if ctl is not None and not isinstance(ctl, str):
            raise ConfigError("'control' must be a path", file=file, where="control")
        return cls(doc["devices"], ctl, names)

    @property
    def device_ids(self) -> list[int]:
        return [int(d["device_id"]) for d in self.devices]


def open_port_socket(ifname: str) -> socket.socket:
    """A non-blocking AF_PACKET socket bound to ``ifname`` in the calling thread's namespace, not reading
    back what it sends."""
    # protocol 0 at creation, ETH_P_ALL at bind: a socket made with a protocol hooks every interface at
    # once, and re-binding it unhooks first, which waits for an RCU grace period (synchronize_net,
    # ~14 ms a socket here: 3.7 s for the example's 257 ports); this way bind hooks one interface only
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        s.bind((ifname, ETH_P_ALL))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


class AfPacketIO:
    """AF_PACKET I/O of a service's dataplanes (module docstring). :meth:`open` makes the sockets,
    :meth:`start` runs the loop in a thread, :meth:`stop` ends it and closes them."""

    def __init__(self, service: Any, config: PortsConfig) -> None:
        self.service = service
        self.config = config
        self.ports: list[_Port] = []
        self.stats = {d: DeviceStats() for d in config.device_ids}
        self._by_fd: dict[int, _Port] = {}
        self._out: dict[tuple[int, int], socket.socket] = {}
        self._ctl: socket.socket | None = None
        #: rtnetlink socket fd -> (its ifindex -> (device, port)) of one namespace (the link monitor)
        self._monitors: dict[int, tuple[socket.socket, dict[int, tuple[int, int]]]] = {}
        #: link events seen and port changes they made (for status)
        self.link_events = 0
        self.port_changes = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """One socket per port, each made inside its device's namespace. On an error the sockets made
        so far are closed (an agent in a long-lived process that fails to open leaks nothing)."""
        try:
            self._open()
        except BaseException:
            self.stop()
            raise

    def _open(self) -> None:
        for d in self.config.devices:
            dev = int(d["device_id"])
            if dev not in self.service.dataplanes:
                raise ConfigError(f"device {dev} has no dataplane in this agent", where="--ports")
            try:
                fd = os.open(d["netns"], os.O_RDONLY)
            except OSError as exc:
                raise ConfigError(f"cannot open namespace {d['netns']}: {exc.strerror}", where="--ports") from None
            try:
                with entered(fd, d["netns"]):
                    index: dict[int, tuple[int, int]] = {}
                    for num, ifname in sorted(d["ports"].items(), key=lambda kv: int(kv[0])):
                        try:
                            ifindex = socket.if_nametoindex(ifname)
                            s = open_port_socket(ifname)
                        except OSError as exc:
                            raise ConfigError(f"cannot open AF_PACKET on {ifname}: {exc.strerror}",
                                              where=f"--ports device {dev}") from None
                        index[ifindex] = (dev, int(num))
                        p = _Port(dev, int(num), ifname, s)
                        self.ports.append(p)
                        self._by_fd[s.fileno()] = p
                        self._out[(dev, int(num))] = s
                    mon = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
                    self._monitors[mon.fileno()] = (mon, index)
                    mon.bind((0, RTMGRP_LINK))
                    mon.setblocking(False)
                    # the state now: one dump, read by the loop like any event
                    mon.send(_NLMSG.pack(_NLMSG.size + _IFINFO.size, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
                             + _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
            finally:
                os.close(fd)
        for dev in self.config.device_ids:
            self.service.dataplanes[dev].sink = lambda port, frame, dev=dev: self._send_one(dev, port, frame)
        if self.config.control:
            try:
                os.unlink(self.config.control)
            except FileNotFoundError:
                pass
            self._ctl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._ctl.bind(self.config.control)
            self._ctl.setblocking(False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="afpacket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(5)
        for p in self.ports:
            p.sock.close()
        for mon, _index in self._monitors.values():
            mon.close()
        if self._ctl is not None:
            self._ctl.close()
            if self.config.control:
                try:
                    os.unlink(self.config.control)
                except FileNotFoundError:
                    pass

    # ------------------------------------------------------------------ sending
    def _send_one(self, dev: int, port: int, frame: Any) -> None:
        st = self.stats[dev]
        s = self._out.get((dev, port))
        if s is None:
            st.no_port += 1
            return
        try:
            s.send(frame)
            st.tx += 1
        except OSError:  # ENOBUFS from a full TBF queue, ENETDOWN on a link set down: the frame is lost
            st.send_errors += 1

    # ------------------------------------------------------------------ the loop
    def serve(self) -> None:
        ep = select.epoll()
        for fd in self._by_fd:
            ep.register(fd, select.EPOLLIN)
        ctl_fd = self._ctl.fileno() if self._ctl is not None else -1
        if ctl_fd >= 0:
            ep.register(ctl_fd, select.EPOLLIN)
        for fd in self._monitors:
            ep.register(fd, select.EPOLLIN)
        buf = np.zeros(BATCH_FRAMES * SLOT_BYTES, np.uint8)
        slots = [buf.data[i * SLOT_BYTES:(i + 1) * SLOT_BYTES] for i in range(BATCH_FRAMES)]
        zeros = np.zeros(BATCH_FRAMES, np.int64)
        offsets = np.arange(BATCH_FRAMES, dtype=np.int64) * SLOT_BYTES
        trunc = socket.MSG_TRUNC
        try:
            while not self._stop:
                try:
                    events = ep.poll(POLL_S)
                except InterruptedError:
                    continue
                n = 0
                lengths: list[int] = []
                devs: list[int] = []      # per device that got frames, in order: [device, first, last + 1]
                ports: list[int] = []
                for fd, _ev in events:
                    if fd == ctl_fd:
                        self._control()
                        continue
                    if fd in self._monitors:
                        self._links(*self._monitors[fd])
                        continue
                    p = self._by_fd[fd]
                    st = self.stats[p.device_id]
                    recv, port, n0 = p.sock.recv_into, p.port, n
                    while n < BATCH_FRAMES:
                        try:
                            k = recv(slots[n], SLOT_BYTES, trunc)
                        except BlockingIOError:
                            break
                        except OSError:  # ENETDOWN once when the interface goes down: the loop goes on
                            st.recv_errors += 1
                            break
                        if k > SLOT_BYTES:
                            st.truncated += 1
                            continue
                        lengths.append(k)
                        ports.append(port)
                        n += 1
                    if n > n0:
                        devs.append(p.device_id)
                        devs.append(n0)
                        devs.append(n)
                if n:
                    self._forward(buf, offsets, np.array(lengths, np.int64), zeros, devs, np.array(ports, np.int64))
        finally:
            ep.close()

    def _forward(self, buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, zeros: np.ndarray,
                 devs: list[int], ports: np.ndarray) -> None:
        """Run each device's frames of this batch through its pipeline and send the results. ``devs``:
        ``device, first slot, end slot`` per socket drained, in order."""
        spans: dict[int, list[tuple[int, int]]] = {}
        for i in range(0, len(devs), 3):
            spans.setdefault(devs[i], []).append((devs[i + 1], devs[i + 2]))
        for dev, runs in spans.items():
            if len(runs) == 1:
                a, b = runs[0]
                sel: Any = slice(a, b)
                count = b - a
            else:
                sel = np.concatenate([np.arange(a, b) for a, b in runs])
                count = len(sel)
            ln = lengths[sel]
            batch = PacketBatch(buf, offsets[sel], ln, ln, zeros[:count])
            st = self.stats[dev]
            st.rx += count
            st.batches += 1
            try:
                res = self.service.dataplanes[dev].run_batch(batch, ports[sel])
            except Exception:  # noqa: BLE001 - one device's failure must not stop the others' forwarding
                st.pipeline_errors += 1
                st.dropped += count
                continue
            st.dropped += res.dropped
            st.punted += len(res.punted)
            out = res.out
            data = out.data.data
            offs, lens = out.offsets.tolist(), out.lengths.tolist()
            socks = self._out
            tx = errors = 0
            for i, port in enumerate(res.egress.tolist()):
                sock = socks.get((dev, port))
                if sock is None:
                    st.no_port += 1
                    continue
                o = offs[i]
                try:
                    sock.send(data[o:o + lens[i]])
                    tx += 1
                except OSError:  # as in _send_one
                    errors += 1
            st.tx += tx
            st.send_errors += errors

    # ------------------------------------------------------------------ link monitor
    def _links(self, mon: socket.socket, index: dict[int, tuple[int, int]]) -> None:
        """Read the link messages waiting on one namespace's rtnetlink socket; report port changes."""
        while True:
            try:
                data = mon.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:      # ENOBUFS: events were lost; the next message of each link says its state
                continue
            off = 0
            while off + _NLMSG.size <= len(data):
                ln, typ = _NLMSG.unpack_from(data, off)[:2]
                if ln < _NLMSG.size:
                    break
                if typ in (RTM_NEWLINK, RTM_DELLINK) and ln >= _NLMSG.size + _IFINFO.size:
                    _fam, _type, ifindex, flags, _chg = _IFINFO.unpack_from(data, off + _NLMSG.size)
                    port = index.get(ifindex)
                    if port is not None:
                        self.link_events += 1
                        up = typ == RTM_NEWLINK and flags & IFF_UP != 0 and flags & IFF_LOWER_UP != 0
                        if self.service.set_port_status(port[0], port[1], up):
                            self.port_changes += 1
                off += (ln + 3) & ~3

    # ------------------------------------------------------------------ control
    def status(self) -> dict[str, Any]:
        """Per device: its I/O counters and whether its dataplane reflects the written entries."""
        out = {}
        for dev, st in self.stats.items():
            dp = self.service.dataplanes[dev]
            store = dp.device.store
            out[str(dev)] = {"name": self.config.names.get(dev, str(dev)), **st.__dict__,
                             "generation": dp.generation,
                             "current": store is not None and dp.pipeline is not None and dp.generation == store.generation,
                             "error": dp.error, "failover_dropped": dp.failover_dropped,
                             "ports_down": sorted(dp.ports.down())}
        return out

    def _control(self) -> None:
        assert self._ctl is not None
        while True:
            try:
                msg, peer = self._ctl.recvfrom(65536)
            except BlockingIOError:
                return
            try:
                req = json.loads(msg)
                op = req.get("op")
                if op == "status":
                    reply: dict[str, Any] = {"ok": True, "pid": os.getpid(), "time_unix": time.time(),
                                             "link_events": self.link_events, "port_changes": self.port_changes,
                                             "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                                             "devices": self.status()}
                elif op == "port":
                    changed = self.service.set_port_status(int(req["device_id"]), int(req["port"]), bool(req["up"]))
                    reply = {"ok": True, "changed": changed}
                else:
                    reply = {"ok": False, "error": f"unknown op {op!r}"}
            except Exception as exc:  # noqa: BLE001 - a bad request gets an answer, never ends the loop
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            if peer:
                try:
                    self._ctl.sendto(json.dumps(reply).encode(), peer)
                except OSError:
                    pass


def control_request(path: str, req: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to an agent's control socket and return its JSON answer (OSError / ValueError
    when it does not answer)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fabricctl-agent-") as d:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(os.path.join(d, "c.sock"))
            s.settimeout(timeout_s)
            s.sendto(json.dumps(req).encode(), path)
            reply: dict[str, Any] = json.loads(s.recv(1 << 20))
            return reply
        finally:
            s.close()


__all__ = ["BATCH_FRAMES", "SLOT_BYTES", "AfPacketIO", "DeviceStats", "PortsConfig", "control_request",
           "open_port_socket"]
