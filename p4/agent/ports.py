"""Port oper status of the agent's devices, how a change is reported on the stream, and the dataplane's fast
failover onto the members whose watch port is up.

Oper status: every port of a device is up at start (a port never named is up);
:meth:`p4.agent.server.P4RuntimeService.set_port_status` (``device_id, port, up``) changes it (tests now,
a lab's link monitor when a veth goes down). :class:`PortTable` holds the ports that are down.

Report on the stream: P4Runtime v1 has no port-status message (controllers get it from gNMI's
``/interfaces/interface/state/oper-status``), so the agent sends a ``StreamMessageResponse`` whose
``other`` (a ``google.protobuf.Any``) packs a :data:`PortStatus`, a message of this agent::

    package fabricctl.agent.v1;
    message PortStatus {
      enum OperStatus { OPER_STATUS_UNKNOWN = 0; OPER_STATUS_UP = 1; OPER_STATUS_DOWN = 2; }
      uint64 device_id = 1;
      bytes port = 2;            // the port number as a P4Runtime canonical bytestring, as watch_port is
      OperStatus oper_status = 3;
      int64 timestamp_ns = 4;    // wall clock (time.time_ns) when the agent saw the change
    }

with type URL :data:`PORT_STATUS_TYPE_URL`. Every stream that has arbitrated for the device (primary
and backups, any role) gets one message per change; setting a port to the state it has sends nothing. A
client that does not know the type ignores it (an ``Any`` it cannot unpack); :func:`parse_port_status`
reads one back.

Fast failover (P4Runtime spec, ActionProfileAction / ActionProfileGroup.Member ``watch_kind``): a member
of a WCMP group whose watch port is down is not selected, decided by the dataplane itself, before any
controller reacts (as SONiC does with BFD-driven next-hop-group pruning). The watch port is the member's
``watch_port`` (bytes, big-endian port number) or deprecated ``watch`` (int32) when the entries set one,
otherwise the member's own egress port (its next hop's port): the entries ``p4 gen`` writes set none, and
a member whose link is down cannot carry traffic anyway. :func:`failover` derives the running pipeline
from the one built from the entries: down members get weight 0 in the group's cumulative weights, and a
route (or any entry) whose group has no member left gets the DPU's ``drop`` instead of ``wcmp``, so its
packets are dropped (counted in :attr:`Live.dead_entries`' table counters) rather than sent to a dead
port; an entry sending straight out of a down port (a route to a lone next hop) drops the same way. It
is a shallow copy that shares the tables' counters; a port coming back up derives it again from
the unpatched pipeline, so the member is used again.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from finsy.proto import p4r
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

from dpu.actions import A_DROP, A_FORWARD, A_SET_NEXTHOP, A_WCMP

PACKAGE = "fabricctl.agent.v1"


def _build_port_status() -> Any:
    pool = descriptor_pool.Default()
    name = f"{PACKAGE}.PortStatus"
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    except KeyError:
        pass
    f = descriptor_pb2.FileDescriptorProto(name="fabricctl/agent/v1/port_status.proto", package=PACKAGE,
                                           syntax="proto3")
    m = f.message_type.add(name="PortStatus")
    e = m.enum_type.add(name="OperStatus")
    for i, n in enumerate(("OPER_STATUS_UNKNOWN", "OPER_STATUS_UP", "OPER_STATUS_DOWN")):
        e.value.add(name=n, number=i)
    F = descriptor_pb2.FieldDescriptorProto
    m.field.add(name="device_id", number=1, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    m.field.add(name="port", number=2, type=F.TYPE_BYTES, label=F.LABEL_OPTIONAL)
    m.field.add(name="oper_status", number=3, type=F.TYPE_ENUM, label=F.LABEL_OPTIONAL,
                type_name=f".{name}.OperStatus")
    m.field.add(name="timestamp_ns", number=4, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


#: The message class of ``fabricctl.agent.v1.PortStatus`` (module docstring).
PortStatus = _build_port_status()
PORT_STATUS_TYPE_URL = f"type.googleapis.com/{PACKAGE}.PortStatus"
UP, DOWN = 1, 2


def _canonical(v: int) -> bytes:
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


def port_status_message(device_id: int, port: int, up: bool, timestamp_ns: int | None = None) -> Any:
    """The ``StreamMessageResponse`` reporting ``port`` of ``device_id`` up or down."""
    ps = PortStatus(device_id=device_id, port=_canonical(port), oper_status=UP if up else DOWN,
                    timestamp_ns=time.time_ns() if timestamp_ns is None else timestamp_ns)
    msg = p4r.StreamMessageResponse()
    msg.other.Pack(ps)
    return msg


def parse_port_status(msg: Any) -> tuple[int, int, bool, int] | None:
    """``(device_id, port, up, timestamp_ns)`` of a port-status ``StreamMessageResponse``; None for any
    other message."""
    if msg.WhichOneof("update") != "other" or msg.other.type_url != PORT_STATUS_TYPE_URL:
        return None
    ps = PortStatus()
    any_pb2.Any.Unpack(msg.other, ps)
    return int(ps.device_id), int.from_bytes(ps.port, "big"), ps.oper_status == UP, int(ps.timestamp_ns)


class PortTable:
    """The ports of one device that are down (every other port is up). Thread-safe."""

    def __init__(self) -> None:
        self._down: set[int] = set()
        self._lock = threading.Lock()

    def set(self, port: int, up: bool) -> bool:
        """Record ``port``'s status; True when it changed."""
        if port < 0:
            raise ValueError(f"port {port} is negative")
        with self._lock:
            was_up = port not in self._down
            if was_up == up:
                return False
            if up:
                self._down.discard(port)
            else:
                self._down.add(port)
            return True

    def is_up(self, port: int) -> bool:
        with self._lock:
            return port not in self._down

    def down(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._down)


def watch_of(action: Any) -> int | None:
    """The watch port an ``ActionProfileAction`` names (``watch_port`` bytes or deprecated ``watch``), or
    None when it names none (empty ``watch_port`` counts as none)."""
    kind = action.WhichOneof("watch_kind")
    if kind == "watch_port" and action.watch_port:
        return int.from_bytes(action.watch_port, "big")
    if kind == "watch":
        return int(action.watch)
    return None


@dataclasses.dataclass
class Live:
    """A pipeline as failover runs it: ``pipeline`` and, per table index, the entries turned to drop
    because their group has no member up (their packet counters count the dropped packets)."""

    pipeline: Any
    dead_entries: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    down_members: int = 0
    dead_groups: tuple[str, ...] = ()


def failover(base: Any, watch: dict[int, list[int | None]], down: Iterable[int]) -> Live:
    """``base`` (a :class:`dpu.pipeline.Pipeline` from :func:`p4.dpu.to_pipeline`) with the members whose
    watch port is in ``down`` left out (module docstring). ``watch``: per WCMP group id, each member's
    watch port in the group's member order (None: its own egress port). An entry that sends straight out
    of a down port (``set_nexthop`` to a next hop on it, ``forward`` to it: the routes of single-member
    groups ``p4 gen`` writes) drops too, counted like a dead group's."""
    down = frozenset(down)
    if base is None or not down:
        return Live(base)
    groups = getattr(base, "group_index", None) or {}
    dead: list[int] = []
    out_members = 0
    live = copy.copy(base)
    if groups:
        cum = base.mem_cum.copy()
        for g, gi in groups.items():
            ws = watch.get(int(g[1:]), []) if g[:1] == "g" and g[1:].isdigit() else []
            o, n = int(base.grp_off[gi]), int(base.grp_len[gi])
            total, prev = 0, 0
            for k in range(n):
                w = int(base.mem_cum[o + k]) - prev
                prev = int(base.mem_cum[o + k])
                wp = ws[k] if k < len(ws) and ws[k] is not None else int(base.mem_port[o + k])
                if wp in down:
                    w = 0
                    out_members += 1
                total += w
                cum[o + k] = total
            if total == 0:
                dead.append(gi)
        live.mem_cum = cum
    nh_index = getattr(base, "nexthop_index", None) or {}
    dead_nh = [hi for hi in nh_index.values() if int(base.nh_port[hi]) in down]
    dead_entries: dict[int, np.ndarray] = {}
    if dead or dead_nh:
        tables = []
        dead_a, nh_a, down_a = (np.array(x, np.int64) for x in (dead, dead_nh, sorted(down)))
        for ti, t in enumerate(base.tables):
            if len(t.act):
                p0 = t.params[:, 0]
                mask = (((t.act == A_WCMP) & np.isin(p0, dead_a)) | ((t.act == A_SET_NEXTHOP) & np.isin(p0, nh_a))
                        | ((t.act == A_FORWARD) & np.isin(p0, down_a)))
            else:
                mask = np.zeros(0, bool)
            m0 = int(t.miss_params[0]) if len(t.miss_params) else -1
            miss_dead = ((t.miss_act == A_WCMP and m0 in dead) or (t.miss_act == A_SET_NEXTHOP and m0 in dead_nh)
                         or (t.miss_act == A_FORWARD and m0 in down))
            if mask.any() or miss_dead:
                act = t.act.copy()
                act[mask] = A_DROP
                t = dataclasses.replace(t, act=act, miss_act=A_DROP if miss_dead else t.miss_act)
                dead_entries[ti] = np.flatnonzero(mask)
            tables.append(t)
        live.tables = tables
    return Live(live, dead_entries, out_members, tuple(g for g, gi in groups.items() if gi in dead))


__all__ = ["PORT_STATUS_TYPE_URL", "Live", "PortStatus", "PortTable", "failover", "parse_port_status",
           "port_status_message", "watch_of"]
