"""Measurements inside a running lab: ICMP ping, UDP time-stamp probes, flow splits.

Both ends of a probe are sockets of *this* process, each created inside its node's namespace, so one
clock (CLOCK_REALTIME) stamps both ends and one-way delay is measured directly: the sender stamps the
send time, the receiver takes the kernel's receive time stamp (SO_TIMESTAMPNS). RTT is the sum of the
two one-way times (the receiver's turnaround is excluded, as NTP does).

The flow split sends UDP packets to port 4791 (RoCEv2) with a different source port per flow from a
raw socket, and counts the packets each next hop's interface transmitted (kernel interface counters).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

from fabric.errors import LabError
from labs import netns
from labs.constants import DEFAULT_PROBE_COUNT, DEFAULT_SPLIT_FLOWS, ROCEV2_UDP_PORT, SO_TIMESTAMPNS
from labs.lab import Lab

_PROBE = struct.Struct("!4sIq")  # magic, sequence, sender time ns
_MAGIC = b"FBPR"


def _stats_ms(values_ns: list[int]) -> dict[str, float]:
    if not values_ns:
        return {"min": float("nan"), "mean": float("nan"), "p50": float("nan"), "p99": float("nan")}
    v = sorted(values_ns)
    p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
    return {"min": v[0] / 1e6, "mean": sum(v) / len(v) / 1e6, "p50": v[(len(v) - 1) // 2] / 1e6, "p99": p99 / 1e6}


def _recv_stamped(s: socket.socket) -> tuple[bytes, int, Any]:
    data, anc, _f, addr = s.recvmsg(2048, socket.CMSG_SPACE(16))
    ts = time.time_ns()
    for level, typ, val in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16])
            ts = sec * 1_000_000_000 + nsec
    return data, ts, addr


def latency(lab: Lab, a: str, b: str, count: int = DEFAULT_PROBE_COUNT, *, timeout_s: float = 2.0,
            interval_s: float = 0.0, size: int = 64) -> dict[str, Any]:
    """RTT and one-way delay between nodes ``a`` and ``b`` over ``count`` UDP probes.

    Returns ``rtt_ms`` and ``one_way_ms`` (a to b) and ``one_way_back_ms`` (b to a), each with
    ``min``, ``mean``, ``p99``; ``sent``, ``lost``; plus the lab's rate and delay scales.
    """
    if count < 1:
        raise LabError("--count must be at least 1")
    ip_a, ip_b = lab.ip(a), lab.ip(b)
    sa = netns.socket_in(lab.namespace(a).fd, socket.AF_INET, socket.SOCK_DGRAM)
    sb = netns.socket_in(lab.namespace(b).fd, socket.AF_INET, socket.SOCK_DGRAM)
    fwd, back, rtt = [], [], []
    lost = 0
    try:
        for s in (sa, sb):
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.settimeout(timeout_s)
        sa.bind(("", 0))  # the kernel picks the source address of the route to b
        sb.bind(("", 0))
        port_b = sb.getsockname()[1]
        pad = b"\0" * max(0, size - _PROBE.size)
        # one warm-up probe resolves ARP along the path; it is not counted
        for seq in range(-1, count):
            t_tx = time.time_ns()
            sa.sendto(_PROBE.pack(_MAGIC, seq & 0xFFFFFFFF, t_tx) + pad, (ip_b, port_b))
            try:
                while True:
                    data, t_rx_b, back_to = _recv_stamped(sb)
                    if data[:4] == _MAGIC and _PROBE.unpack(data[:_PROBE.size])[1] == seq & 0xFFFFFFFF:
                        break
                t_tx_b = time.time_ns()
                sb.sendto(data, back_to)
                while True:
                    data2, t_rx_a, _ = _recv_stamped(sa)
                    if data2[:4] == _MAGIC and _PROBE.unpack(data2[:_PROBE.size])[1] == seq & 0xFFFFFFFF:
                        break
            except TimeoutError:
                if seq >= 0:
                    lost += 1
                continue
            if seq < 0:
                continue
            fwd.append(t_rx_b - t_tx)
            back.append(t_rx_a - t_tx_b)
            rtt.append((t_rx_b - t_tx) + (t_rx_a - t_tx_b))
            if interval_s:
                time.sleep(interval_s)
    finally:
        sa.close()
        sb.close()
    if not rtt:
        raise LabError(f"no probe from {a} ({ip_a}) to {b} ({ip_b}) came back: no route, or an impairment drops all")
    return {"src": a, "dst": b, "sent": count, "lost": lost, "rtt_ms": _stats_ms(rtt),
            "one_way_ms": _stats_ms(fwd), "one_way_back_ms": _stats_ms(back),
            "rate_scale": lab.state.get("rate_scale"), "delay_scale": lab.state.get("delay_scale"),
            "method": "UDP probes, sender time stamp vs kernel receive time stamp (one clock)"}


def _checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    x = sum(struct.unpack(f"!{len(b) // 2}H", b))
    x = (x >> 16) + (x & 0xFFFF)
    x += x >> 16
    return ~x & 0xFFFF


def ping(lab: Lab, a: str, dst_ip: str, count: int = 3, timeout_s: float = 2.0) -> dict[str, Any]:
    """ICMP echo from node ``a`` to ``dst_ip`` (answered by the destination's kernel)."""
    s = netns.socket_in(lab.namespace(a).fd, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout_s)
    ident = os.getpid() & 0xFFFF
    rtts, lost = [], 0
    try:
        for seq in range(count):
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"fabricctl-ping"
            pkt = hdr[:2] + struct.pack("!H", _checksum(hdr)) + hdr[4:]
            t0 = time.perf_counter_ns()
            s.sendto(pkt, (dst_ip, 0))
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    data, addr = s.recvfrom(2048)
                except TimeoutError:
                    lost += 1
                    break
                ihl = (data[0] & 0x0F) * 4
                typ, _code, _ck, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if typ == 0 and rid == ident and rseq == seq and addr[0] == dst_ip:
                    rtts.append(time.perf_counter_ns() - t0)
                    break
                if time.monotonic() > deadline:
                    lost += 1
                    break
    finally:
        s.close()
    return {"src": a, "dst": dst_ip, "sent": count, "received": len(rtts), "lost": lost,
            "rtt_ms": _stats_ms(rtts)}


# ---------------------------------------------------------------------------------------- flow split
def split_point(lab: Lab, a: str, b: str) -> tuple[str, list[tuple[str, str, int]]]:
    """The first node on the way from ``a`` to ``b`` whose route to ``b`` has several next hops, and
    those next hops ``(ifname, neighbour, weight)`` as installed (from the lab's route tables)."""
    st = lab.state
    for n in (a, b):
        if n not in st.get("nodes", {}):
            raise LabError(f"no node {n!r} in lab {lab.name!r}")
    if "routes" not in st:
        raise LabError("this lab has no route tables (containerlab labs route as their exec lines say)")
    addr = {n: d["ip"] for n, d in st["nodes"].items()}
    node, seen = a, set()
    while node != b and node not in seen:
        seen.add(node)
        nb = st["neighbours"][node]
        if b in nb:
            hops = [(i, b, 1) for i in nb[b]]
        else:
            table = {d: h for d, h in st["routes"][node]}
            hops = [tuple(h) for h in table.get(f"{addr[b]}/32", table.get("0.0.0.0/0", []))]
        if len(hops) > 1:
            return node, hops  # type: ignore[return-value]
        if not hops:
            break
        node = hops[0][1]
    raise LabError(f"traffic from {a} to {b} does not split anywhere (a single path)")


def _udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + struct.pack("!HHHH", sport, dport, udp_len, 0) + payload


def flow_split(lab: Lab, a: str, b: str, flows: int = DEFAULT_SPLIT_FLOWS, *, packets_per_flow: int = 1,
               first_sport: int = 49152, seed: int = 0) -> dict[str, Any]:
    """Send ``flows`` UDP flows to port 4791 from ``a`` to ``b`` (source port varies per flow) and
    compare the packets counted on each next hop at the split point with the planned weights."""
    import random

    if flows < 1:
        raise LabError("--flows must be at least 1")
    node, hops = split_point(lab, a, b)
    ns_ = lab.namespace(node)
    ip_a, ip_b = lab.ip(a), lab.ip(b)
    rng = random.Random(seed)
    ports = rng.sample(range(first_sport, 65536), min(flows, 65536 - first_sport))
    if len(ports) < flows:
        raise LabError(f"at most {65536 - first_sport} flows with distinct source ports")
    sink = netns.socket_in(lab.namespace(b).fd, socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((ip_b, ROCEV2_UDP_PORT))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    raw = netns.socket_in(lab.namespace(a).fd, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        # resolve ARP before counting: along the path, and from the split switch to every next hop
        raw.sendto(_udp_frame(ip_a, ip_b, 1, ROCEV2_UDP_PORT, b"warmup"), (ip_b, 0))
        for _ifn, nbr, _w in hops:
            ping(lab, node, lab.ip(nbr), count=1, timeout_s=1.0)
        time.sleep(0.05)
        before = {ifn: ns_.link_stats(ifn)["tx_packets"] for ifn, _, _ in hops}
        payload = b"\0" * 32
        for _ in range(packets_per_flow):
            for sp in ports:
                raw.sendto(_udp_frame(ip_a, ip_b, sp, ROCEV2_UDP_PORT, payload), (ip_b, 0))
        time.sleep(0.05 + 0.0)
        after = {ifn: ns_.link_stats(ifn)["tx_packets"] for ifn, _, _ in hops}
    finally:
        raw.close()
        sink.close()
    counts = {ifn: after[ifn] - before[ifn] for ifn in before}
    total = sum(counts.values())
    wsum = sum(w for _, _, w in hops)
    rows: list[dict[str, Any]] = []
    for ifn, nbr, w in hops:
        rows.append({"next_hop": nbr, "interface": ifn, "weight": w, "planned_share": w / wsum,
                     "packets": counts[ifn], "measured_share": counts[ifn] / total if total else 0.0})
    max_err = max(abs(r["measured_share"] - r["planned_share"]) for r in rows)
    return {"src": a, "dst": b, "switch": node, "flows": flows, "packets_per_flow": packets_per_flow,
            "packets_counted": total, "packets_sent": flows * packets_per_flow, "next_hops": rows,
            "max_share_error": max_err, "switch_kind": lab.state.get("switch", "kernel"),
            "hash": ("P4 WCMP action selector (DPU dataplane of the switch agent)" if lab.state.get("switch") == "p4"
                     else "kernel fib_multipath_hash_policy=1 (L4 5-tuple)"),
            "rate_scale": lab.state.get("rate_scale"), "delay_scale": lab.state.get("delay_scale")}


def throughput(lab: Lab, a: str, b: str, seconds: float = 1.0, port: int = 5201) -> dict[str, Any]:
    """TCP goodput from ``a`` to ``b`` for ``seconds`` (both ends in this process, receiver in a
    thread): checks that a link's shaped rate is what the lab says it is."""
    import threading

    ip_b = lab.ip(b)
    srv = netns.socket_in(lab.namespace(b).fd, socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip_b, port))
    srv.listen(1)
    got: dict[str, float] = {"bytes": 0, "first": 0.0, "last": 0.0}

    def receive() -> None:
        conn, _ = srv.accept()
        with conn:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    break
                now = time.perf_counter()
                if not got["bytes"]:
                    got["first"] = now
                got["bytes"] += len(data)
                got["last"] = now

    th = threading.Thread(target=receive, daemon=True)
    th.start()
    cli = netns.socket_in(lab.namespace(a).fd, socket.AF_INET, socket.SOCK_STREAM)
    try:
        cli.connect((ip_b, port))
        chunk = b"\0" * 65536
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            cli.sendall(chunk)
    finally:
        cli.close()
        th.join(timeout=seconds + 10)
        srv.close()
    span = got["last"] - got["first"]
    return {"src": a, "dst": b, "bytes": got["bytes"], "seconds": span,
            "goodput_bps": 8 * got["bytes"] / span if span > 0 else 0.0}
