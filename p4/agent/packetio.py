"""Packets in and out of the agent's dataplane: the controller headers of P4Runtime (spec 16.1) and what
one run of the DPU pipeline gives back.

- :class:`ControllerMeta` reads the ``packet_in`` / ``packet_out`` controller packet metadata of a P4Info
  (ids and bit widths, by name, as :func:`p4.p4info.build_p4info` writes them for
  :mod:`p4.programs`): :meth:`ControllerMeta.packet_out` decodes a ``PacketOut`` into its
  ``egress_port`` and payload (INVALID_ARGUMENT when the metadata is missing, unknown, wider than its
  bit width, or names a port at or above :data:`p4.programs.CPU_PORT`); :meth:`ControllerMeta.packet_in`
  builds the ``StreamMessageResponse`` of a punted frame with ``ingress_port`` (canonical bytes).
- :class:`Processed`: the packets one batch leaves on (``out`` with ``egress`` per packet, in input
  order), the frames punted to the CPU port with their ingress port (the frame as received: the
  program's ``packet_in`` header is metadata, not bytes on a port), and the dropped counts.
- :func:`warm` runs a tiny batch (IPv4 UDP routed, LLDP punted, one denied) through a tiny pipeline so
  numba has compiled (or loaded from its cache) every kernel a run needs before a server answers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from finsy.proto import p4r

from dpu.packets import PacketBatch
from p4.agent.schema import Code, P4Error
from p4.programs import CPU_PORT


def _canonical(v: int) -> bytes:
    """P4Runtime canonical bytestring: the shortest big-endian form (at least one byte)."""
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class ControllerMeta:
    """Ids of the controller headers' metadata in one P4Info (module docstring)."""

    ingress_port_id: int | None
    ingress_port_bits: int
    egress_port_id: int | None
    egress_port_bits: int
    out_ids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, p4info: Any) -> ControllerMeta:
        ids: dict[tuple[str, str], tuple[int, int]] = {}
        out_ids: set[int] = set()
        for cp in p4info.controller_packet_metadata:
            for m in cp.metadata:
                ids[(cp.preamble.name, m.name)] = (m.id, m.bitwidth)
                if cp.preamble.name == "packet_out":
                    out_ids.add(m.id)
        ip, eb = ids.get(("packet_in", "ingress_port"), (None, 0)), ids.get(("packet_out", "egress_port"), (None, 0))
        return cls(ip[0], ip[1], eb[0], eb[1], frozenset(out_ids))

    def packet_out(self, msg: Any) -> tuple[int, bytes]:
        """``(egress_port, payload)`` of a ``p4.v1.PacketOut``; raises :class:`P4Error`."""
        if self.egress_port_id is None:
            raise P4Error(Code.FAILED_PRECONDITION, "the P4Info has no packet_out controller header with egress_port")
        port: int | None = None
        for m in msg.metadata:
            if m.metadata_id not in self.out_ids:
                raise P4Error(Code.INVALID_ARGUMENT, f"PacketOut metadata id {m.metadata_id} is not in the "
                              "packet_out controller header")
            if m.metadata_id == self.egress_port_id:
                v = int.from_bytes(m.value, "big")
                if v >> self.egress_port_bits:
                    raise P4Error(Code.INVALID_ARGUMENT, f"PacketOut egress_port {v} does not fit in "
                                  f"{self.egress_port_bits} bits")
                port = v
        if port is None:
            raise P4Error(Code.INVALID_ARGUMENT, "PacketOut without egress_port metadata")
        if port >= CPU_PORT:
            raise P4Error(Code.INVALID_ARGUMENT, f"PacketOut egress_port {port} is not a front-panel port "
                          f"(below the CPU port {CPU_PORT})")
        return port, bytes(msg.payload)

    def packet_in(self, ingress_port: int, payload: bytes) -> Any:
        """The ``StreamMessageResponse`` carrying a punted frame."""
        msg = p4r.StreamMessageResponse()
        msg.packet.payload = payload
        if self.ingress_port_id is not None:
            msg.packet.metadata.add(metadata_id=self.ingress_port_id, value=_canonical(ingress_port))
        return msg


@dataclass
class Processed:
    """What one batch did in the dataplane (module docstring)."""

    out: PacketBatch
    egress: np.ndarray
    punted: list[tuple[int, bytes]] = field(default_factory=list)
    packets: int = 0
    dropped: int = 0
    no_route: int = 0
    ttl_expired: int = 0
    generation: int = -1

    def frames(self) -> list[tuple[int, bytes]]:
        """``(egress port, frame)`` of every packet sent out of a port, in input order."""
        return [(int(p), self.out.packet(i)) for i, p in enumerate(self.egress)]

    def per_port(self) -> dict[int, list[bytes]]:
        d: dict[int, list[bytes]] = {}
        for p, f in self.frames():
            d.setdefault(p, []).append(f)
        return d


def empty_batch() -> PacketBatch:
    return PacketBatch.from_bytes([])


def run_pipeline(pipeline: Any, batch: PacketBatch, ingress_port: int | np.ndarray, generation: int = -1) -> Processed:
    """Run ``batch`` through ``pipeline`` (None: no program, every packet dropped) -> :class:`Processed`."""
    n = len(batch)
    ports = np.broadcast_to(np.asarray(ingress_port, np.int64), (n,))
    if pipeline is None:
        return Processed(empty_batch(), np.zeros(0, np.int64), [], n, n, 0, 0, generation)
    res = pipeline.run(batch, ingress_port=ports)
    punt = res.keep & (res.egress == CPU_PORT)
    fwd = np.flatnonzero(res.keep & (res.egress != CPU_PORT))
    punted = [(int(ports[i]), batch.packet(int(i))) for i in np.flatnonzero(punt)]
    return Processed(res.out.take(fwd), res.egress[fwd].copy(), punted, n, n - int(res.keep.sum()),
                     int(res.no_route.sum()), int(res.ttl_expired.sum()), generation)


_warm_lock = threading.Lock()
_warmed = False


def warm() -> None:
    """Compile (or load from numba's cache) the kernels a dataplane run needs (module docstring); once
    per process."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        from p4.dpu import to_pipeline
        from p4.entries import AclEntry, EcnThresholds, Nexthop, Route, SwitchEntries, WcmpGroup
        from p4.programs import build_program

        # what a lab's entries use: a lone next hop, a WCMP group (the hash and member selection), DSCP
        # to traffic class, ECN thresholds on an egress port, the LLDP punt (checked: a run of the
        # example's leaf, spine and DCI entries afterwards compiles no new kernel signature)
        e = SwitchEntries("warm", "leaf", {"p1": 1, "p2": 2}, (1, 2), {26: 3},
                          (Route("10.0.0.0/8", nexthop_id=1), Route("10.1.0.0/16", wcmp_group_id=1)),
                          (Nexthop(1, "n", "p1", 1, 0x020000000001, 0x020000000002),
                           Nexthop(2, "m", "p2", 2, 0x020000000001, 0x020000000003)),
                          (WcmpGroup(1, ((1, 3), (2, 1))),), (EcnThresholds(1, 10, 100, 600),),
                          (AclEntry(100, (("ether_type", 0x88CC, 0xFFFF),), "punt_to_cpu"),))
        pipe = to_pipeline(build_program("leaf"), e)
        eth = bytes.fromhex("020000000001" "020000000009")
        udp = bytes.fromhex("04d2162e00080000")
        ip_a = bytes.fromhex("4568001c0000000040110000" "0a000001" "0a000002")     # DSCP 26, to the lone hop
        ip_b = bytes.fromhex("4500001c0000000040110000" "0a000001" "0a010002")     # to the WCMP group
        lldp = eth + b"\x88\xcc" + bytes(46)
        frames = [eth + b"\x08\x00" + ip_a + udp, lldp, eth + b"\x08\x00" + ip_b + udp,
                  eth + b"\x08\x00" + ip_b + udp]
        run_pipeline(pipe, PacketBatch.from_bytes(frames), np.array([2, 2, 7, 1], np.int64))
        _warmed = True


__all__ = ["ControllerMeta", "Processed", "run_pipeline", "warm"]
