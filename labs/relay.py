"""Userspace delay relay: the delay backend for kernels without sch_netem.

Runs as its own process (``python -m labs.relay CONFIG``) inside the lab's middle namespace. Every
delayed link is wired ``a:if_a <-> relay:rNa`` and ``relay:rNb <-> b:if_b``; the relay reads frames
from one side with an AF_PACKET socket, takes the kernel's receive time stamp (SO_TIMESTAMPNS, so
time spent before the relay reads the frame counts towards the delay), and sends the frame out of
the other side when its deadline comes: deadlines sit in a heap, the loop sleeps in ``poll`` until
shortly before the next one and busy-waits the rest. At start it calibrates its own overhead: how
late ``poll`` wakes up (sets how early the busy wait begins), what one ``send`` costs and how long a
frame takes through the extra veth hop a relayed link has (measured on a scratch pair ``rcal0``/
``rcal1`` in its namespace; the larger of the two is subtracted from every deadline); while running
it follows how late it sends after a deadline (EWMA, stalls left out) and sends that much earlier.
It runs SCHED_FIFO where allowed (nice -10 otherwise): on a busy machine a relay that waits for a CPU
delays every frame it holds. Jitter (normal, clipped at 0) and loss come from a seeded generator.

Control: a Unix datagram socket; JSON requests ``{"op": "get"}`` (the impairments actually in force,
per link, with counters and the calibration: this is what the lab reads back to verify) and
``{"op": "set", "link": id, "delay_us": .., "jitter_us": .., "loss_pct": ..}``.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import select
import socket
import struct
import sys
import time
from typing import Any

from labs.constants import ETH_P_ALL, PACKET_IGNORE_OUTGOING, PACKET_OUTGOING, SO_TIMESTAMPNS, SOL_PACKET

#: Busy-wait at least this long before a deadline even if poll looked punctual (*assumption*).
MIN_SPIN_NS = 200_000
#: ... and at most this long, so a busy machine does not turn the relay into a CPU hog (*assumption*).
MAX_SPIN_NS = 2_000_000
#: Gain and cap of the running estimate of send lateness that is subtracted from later deadlines
#: (*assumption*: a 1/16 EWMA follows drift within ~50 packets; samples above the cap are scheduling
#: stalls, which cannot be compensated and would pull later packets early, so they are left out).
LATE_EWMA_GAIN = 1 / 16
MAX_LATE_COMP_NS = 50_000
#: Real-time priority of the relay (SCHED_FIFO, lowest level). It sleeps in poll except for the
#: bounded busy-wait before each deadline; the kernel's RT throttling (sched_rt_runtime_us) keeps
#: 5% of every CPU for other tasks even if it is flooded.
RELAY_RT_PRIORITY = 1
#: Fallback nice value of the relay process (*assumption*: -10 gives it ~10x the CPU share of a nice-0 task
#: under contention without the starvation risk of a real-time class while it busy-waits).
RELAY_NICE = -10
#: Frames up to this size are read (veth GSO can hand over 64 KiB super-frames).
MAX_FRAME = 65_600
LATE_STATE = [0]
#: Broadcast frame with the IEEE 802 local experimental ethertype, for calibration and warm-up on
#: the scratch veth pair (nothing listens for it; it never leaves the relay namespace).
WARM_FRAME = b"\xff" * 6 + b"\x02" + b"\x00" * 5 + b"\x88\xb5" + b"\x00" * 46
_CMSG_SPACE = socket.CMSG_SPACE(16)


class Link:
    __slots__ = ("id", "delay_ns", "jitter_ns", "loss", "stats", "rng")

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.id = int(cfg["id"])
        self.delay_ns = int(cfg.get("delay_us", 0) * 1000)
        self.jitter_ns = int(cfg.get("jitter_us", 0) * 1000)
        self.loss = float(cfg.get("loss_pct", 0.0)) / 100.0
        self.rng = random.Random(int(cfg.get("seed", 0)) * 1_000_003 + self.id)
        self.stats = {"ab_packets": 0, "ba_packets": 0, "ab_bytes": 0, "ba_bytes": 0, "dropped": 0,
                      "send_errors": 0, "late_ns_max": 0, "late_ns_sum": 0, "sent": 0,
                      "no_kernel_ts": 0}

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "delay_us": self.delay_ns / 1000, "jitter_us": self.jitter_ns / 1000,
                "loss_pct": self.loss * 100, **self.stats}


def _packet_socket(ifname: str | None) -> socket.socket:
    """A raw packet socket with kernel receive time stamps, on ``ifname`` or (None) on every interface."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # older kernel: outgoing frames are filtered by pkttype below
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    if ifname is not None:
        s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


def calibrate(probe_if: str = "lo", rounds: int = 200) -> dict[str, int]:
    """Measure this process's poll wake-up lateness (p99) and the cost of one AF_PACKET send."""
    p = select.poll()
    late = []
    for _ in range(rounds // 4):
        t0 = time.time_ns()
        p.poll(1)
        late.append(time.time_ns() - t0 - 1_000_000)
    late.sort()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((probe_if, 0))
    frame = b"\x00" * 12 + b"\x88\xb5" + b"\x00" * 46  # IEEE 802 local experimental ethertype
    costs = []
    for _ in range(rounds):
        t0 = time.time_ns()
        s.send(frame)
        costs.append(time.time_ns() - t0)
    s.close()
    costs.sort()
    p99 = late[min(len(late) - 1, int(0.99 * len(late)))]
    return {"poll_late_p99_ns": int(max(0, p99)), "send_cost_ns": int(costs[len(costs) // 2]),
            "spin_ns": int(min(MAX_SPIN_NS, max(MIN_SPIN_NS, p99 + 100_000)))}


def calibrate_transit(rounds: int = 200) -> int:
    """Median time from ``send`` on one end of a veth pair to the kernel receive time stamp on the
    other, measured on a scratch pair (``rcal0``/``rcal1``) in the relay's namespace: the extra hop a
    relayed link has over a direct one. Subtracted from every deadline."""
    from labs.nlbatch import Batch

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    b = Batch(None, "relay")
    try:
        b.veth("rcal0", 0, own, "rcal1", 0)
        b.flush()
        for name in ("rcal0", "rcal1"):
            b.link_up(socket.if_nametoindex(name), name)
        b.flush()
    finally:
        b.close()
        os.close(own)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.bind(("rcal0", 0))
    rx = _packet_socket("rcal1")
    rx.setblocking(True)
    rx.settimeout(1.0)
    frame = WARM_FRAME
    samples = []
    try:
        for _ in range(rounds):
            t0 = time.time_ns()
            tx.send(frame)
            _data, anc, _f, _addr = rx.recvmsg(MAX_FRAME, _CMSG_SPACE)
            for level, typ, val in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    samples.append(sec * 1_000_000_000 + nsec - t0)
    except OSError:
        pass
    finally:
        tx.close()
        rx.close()
    samples.sort()
    return int(samples[len(samples) // 2]) if samples else 0


def _enter_netns(path: str) -> None:
    import ctypes

    from labs.constants import CLONE_NEWNET

    lc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    if lc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns", path)
    os.close(fd)


def serve(cfg: dict[str, Any]) -> None:
    _enter_netns(cfg["netns_path"])
    # a relay that waits for a CPU delays every frame it holds: ask the scheduler for priority
    sched = "other"
    if cfg.get("realtime", True):
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RELAY_RT_PRIORITY))
            sched = "fifo"
        except OSError:
            pass
    if sched == "other":
        try:
            os.setpriority(os.PRIO_PROCESS, 0, RELAY_NICE)
            sched = f"nice {RELAY_NICE}"
        except OSError:
            pass
    links: dict[int, Link] = {}
    # One packet socket for every interface of the namespace, demultiplexed by the interface a
    # frame came in on: binding or closing a packet socket waits for an RCU grace period
    # (synchronize_net), so one socket per interface made a 60-link relay take seconds to start
    # and to die. in-interface -> (out-interface, link, direction "ab"|"ba")
    route: dict[str, tuple[str, Link, str]] = {}
    for lc in cfg["links"]:
        lk = Link(lc)
        links[lk.id] = lk
        route[lc["relay_if_a"]] = (lc["relay_if_b"], lk, "ab")
        route[lc["relay_if_b"]] = (lc["relay_if_a"], lk, "ba")
    cal = calibrate()
    cal["transit_ns"] = calibrate_transit()
    sock = _packet_socket(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    warm = cal["transit_ns"] > 0
    cal["scheduler"] = sched  # type: ignore[assignment]
    spin_ns = cal["spin_ns"]
    #: what a relayed link adds beyond its delay: the extra veth hop out of the relay namespace
    send_cost = max(cal["send_cost_ns"], cal["transit_ns"])
    ctl_path = cfg["control"]
    try:
        os.unlink(ctl_path)
    except FileNotFoundError:
        pass
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ctl.bind(ctl_path)
    ctl.setblocking(False)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(ctl.fileno(), select.POLLIN)
    heap: list[tuple[int, int, str, bytes, Link, bool]] = []
    seq = 0
    ready_file = cfg.get("ready_file")
    if ready_file:
        with open(ready_file + ".tmp", "w") as fh:
            json.dump({"pid": os.getpid(), "calibration": cal}, fh)
        os.replace(ready_file + ".tmp", ready_file)
    ctl_fd = ctl.fileno()
    late_ewma = 0.0
    while True:
        now = time.time_ns()
        while heap and heap[0][0] <= now:
            deadline, _, out, frame, lk, timed = heapq.heappop(heap)
            # lateness is taken before send: a veth send also runs the receiving namespaces'
            # forwarding in this syscall, which is path delay, not relay delay
            late = time.time_ns() - deadline
            try:
                sock.sendto(frame, (out, 0))
            except OSError:
                lk.stats["send_errors"] += 1
            # online part of the self-calibration: how late sends land after their target
            if timed and late < MAX_LATE_COMP_NS:  # a scheduling stall says nothing about the usual lateness
                late_ewma += (late - late_ewma) * LATE_EWMA_GAIN
            LATE_STATE[0] = int(late_ewma)
            st = lk.stats
            st["sent"] += 1
            st["late_ns_sum"] += late
            if late > st["late_ns_max"]:
                st["late_ns_max"] = late
            now = time.time_ns()
        if heap:
            wait = heap[0][0] - now
            timeout_ms = int((wait - spin_ns) // 1_000_000) if wait > spin_ns + 1_000_000 else 0
        else:
            timeout_ms = 1000
        events = poller.poll(timeout_ms)
        if timeout_ms and heap and warm:
            # after a sleep the first send through a veth is ~20 µs slower (cold code paths): warm
            # it up with a frame on the scratch pair while busy-waiting for the deadline
            try:
                sock.sendto(WARM_FRAME, ("rcal0", 0))
            except OSError:
                pass
        for fd, _ev in events:
            if fd == ctl_fd:
                _control(ctl, links, cal)
                continue
            while True:
                try:
                    data, anc, _flags, addr = sock.recvmsg(MAX_FRAME, _CMSG_SPACE)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or addr[0] not in route:
                    continue  # our own sends, the scratch pair, lo
                out, lk, direction = route[addr[0]]
                ts = 0
                for level, typ, val in anc:
                    if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", val[:16])
                        ts = sec * 1_000_000_000 + nsec
                if not ts:
                    ts = time.time_ns()
                    lk.stats["no_kernel_ts"] += 1
                if lk.loss and lk.rng.random() < lk.loss:
                    lk.stats["dropped"] += 1
                    continue
                d = lk.delay_ns
                if lk.jitter_ns:
                    d = max(0, int(lk.rng.gauss(d, lk.jitter_ns)))
                lk.stats[direction + "_packets"] += 1
                lk.stats[direction + "_bytes"] += len(data)
                seq += 1
                comp = int(late_ewma) if d > late_ewma > 0 else 0
                target = ts + d - send_cost - comp
                # only frames the loop had to wait for tell how well it hits a deadline
                heapq.heappush(heap, (target, seq, out, data, lk, target > time.time_ns() + spin_ns))


def _control(ctl: socket.socket, links: dict[int, Link], cal: dict[str, int]) -> None:
    while True:
        try:
            msg, peer = ctl.recvfrom(65536)
        except BlockingIOError:
            return
        try:
            req = json.loads(msg)
            if req.get("op") == "set":
                lk = links[int(req["link"])]
                if "delay_us" in req:
                    lk.delay_ns = int(float(req["delay_us"]) * 1000)
                if "jitter_us" in req:
                    lk.jitter_ns = int(float(req["jitter_us"]) * 1000)
                if "loss_pct" in req:
                    lk.loss = float(req["loss_pct"]) / 100.0
            reply = {"ok": True, "pid": os.getpid(), "calibration": cal, "late_comp_ns": LATE_STATE[0],
                     "links": [lk.public() for lk in links.values()]}
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": str(exc)}
        if peer:
            try:
                ctl.sendto(json.dumps(reply).encode(), peer)
            except OSError:
                pass


def main(argv: list[str]) -> int:
    # argv: CONFIG_PATH MARKER (the marker names the lab in the command line, for `lab down`)
    with open(argv[0]) as fh:
        cfg = json.load(fh)
    try:
        serve(cfg)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
