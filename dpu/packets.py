"""Packet batches and fast pcap I/O.

A :class:`PacketBatch` is one contiguous ``uint8`` buffer plus per-packet offset, captured length,
wire length and timestamp arrays: the shape numba kernels want (no Python objects per packet).

Classic pcap (microsecond and nanosecond magic, either byte order) is read and written with numba
kernels that walk the record headers; reading is zero-copy (the batch's buffer is the file's bytes).
pcapng (section header, interface description, enhanced and simple packet blocks) is read in Python.
A truncated or corrupt file raises :class:`~fabric.errors.PacketError` naming the byte offset; a
packet captured shorter than it was on the wire (snaplen) is flagged per packet in
:attr:`PacketBatch.truncated`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from fabric.errors import PacketError
from fabric.io.atomic import atomic_open

#: pcap link type for Ethernet (tcpdump.org LINKTYPE_ETHERNET).
LINKTYPE_ETHERNET = 1
#: Classic pcap magic numbers (tcpdump.org pcap file format / draft-ietf-opsawg-pcap).
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
#: pcapng block types (draft-ietf-opsawg-pcapng): section header, interface description, enhanced
#: packet, simple packet.
PCAPNG_SHB, PCAPNG_IDB, PCAPNG_EPB, PCAPNG_SPB = 0x0A0D0D0A, 0x00000001, 0x00000006, 0x00000003
PCAPNG_BOM = 0x1A2B3C4D
#: Largest snap length we accept in a record header (tcpdump's MAXIMUM_SNAPLEN is 262144).
MAX_SNAPLEN = 262_144
PCAP_GLOBAL_HEADER_BYTES = 24
PCAP_RECORD_HEADER_BYTES = 16


@dataclass
class PacketBatch:
    """Packets as one buffer plus arrays.

    Attributes
    ----------
    data: ``uint8`` buffer holding every packet's captured bytes.
    offsets: ``int64`` start of each packet in ``data``.
    lengths: ``int64`` captured length of each packet.
    wire_lengths: ``int64`` original length on the wire (>= ``lengths``).
    timestamps_ns: ``int64`` capture time, ns since the epoch (or since the start for generated batches).
    linktype: pcap link type (1 = Ethernet).

    >>> b = PacketBatch.from_bytes([b"ab", b"cde"])
    >>> len(b), b.packet(1), int(b.lengths.sum())
    (2, b'cde', 5)
    """

    data: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    wire_lengths: np.ndarray
    timestamps_ns: np.ndarray
    linktype: int = LINKTYPE_ETHERNET
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    @property
    def truncated(self) -> np.ndarray:
        """Per packet: captured shorter than on the wire (snap length)."""
        return self.lengths < self.wire_lengths

    def packet(self, i: int) -> bytes:
        o = int(self.offsets[i])
        return self.data[o:o + int(self.lengths[i])].tobytes()

    def __iter__(self):
        for i in range(len(self)):
            yield self.packet(i)

    @classmethod
    def from_bytes(cls, packets: Sequence[bytes], timestamps_ns: Iterable[int] | None = None,
                   wire_lengths: Iterable[int] | None = None) -> PacketBatch:
        """Build a batch from raw frames (copies them into one buffer)."""
        lengths = np.fromiter((len(p) for p in packets), dtype=np.int64, count=len(packets))
        offsets = np.zeros(len(packets), dtype=np.int64)
        if len(packets) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        data = np.frombuffer(b"".join(packets), dtype=np.uint8).copy()
        ts = (np.zeros(len(packets), dtype=np.int64) if timestamps_ns is None
              else np.asarray(list(timestamps_ns), dtype=np.int64))
        wl = lengths.copy() if wire_lengths is None else np.asarray(list(wire_lengths), dtype=np.int64)
        return cls(data, offsets, lengths, wl, ts)

    @classmethod
    def from_scapy(cls, packets: Iterable) -> PacketBatch:
        """Build a batch from scapy packets (their ``time`` becomes the timestamp)."""
        pkts = list(packets)
        raw = [bytes(p) for p in pkts]
        ts = [int(round(float(getattr(p, "time", 0.0)) * 1e9)) for p in pkts]
        return cls.from_bytes(raw, ts)

    def take(self, index: np.ndarray | slice) -> PacketBatch:
        """A new batch (sharing ``data``) with the packets selected by an index or boolean mask."""
        idx = index if isinstance(index, slice) else np.asarray(index)
        return PacketBatch(self.data, self.offsets[idx], self.lengths[idx], self.wire_lengths[idx],
                           self.timestamps_ns[idx], self.linktype)

    def compact(self) -> PacketBatch:
        """A copy whose buffer holds exactly its packets, back to back."""
        total = int(self.lengths.sum())
        out = np.empty(total, dtype=np.uint8)
        offs = np.zeros(len(self), dtype=np.int64)
        if len(self) > 1:
            np.cumsum(self.lengths[:-1], out=offs[1:])
        _gather(self.data, self.offsets, self.lengths, out, offs)
        return PacketBatch(out, offs, self.lengths.copy(), self.wire_lengths.copy(),
                           self.timestamps_ns.copy(), self.linktype)


@njit(cache=True)
def _gather(src, src_off, lengths, dst, dst_off):  # pragma: no cover - numba
    for i in range(src_off.shape[0]):
        s = src_off[i]
        d = dst_off[i]
        for k in range(lengths[i]):
            dst[d + k] = src[s + k]


# ---------------------------------------------------------------------------------------------- pcap


@njit(cache=True)
def _rd32(buf, p, big):  # pragma: no cover - numba
    if big:
        return (np.int64(buf[p]) << 24) | (np.int64(buf[p + 1]) << 16) | (np.int64(buf[p + 2]) << 8) | buf[p + 3]
    return (np.int64(buf[p + 3]) << 24) | (np.int64(buf[p + 2]) << 16) | (np.int64(buf[p + 1]) << 8) | buf[p]


@njit(cache=True)
def _scan_pcap(buf, big, ns, offsets, lengths, wire, ts, fill):  # pragma: no cover - numba
    """Walk record headers. Returns (count, error_offset, error_code); error_code 0 = ok,
    1 = truncated record header, 2 = truncated packet data, 3 = caplen above MAX_SNAPLEN."""
    p = PCAP_GLOBAL_HEADER_BYTES
    n = buf.shape[0]
    i = 0
    while p < n:
        if p + PCAP_RECORD_HEADER_BYTES > n:
            return i, p, 1
        sec = _rd32(buf, p, big)
        frac = _rd32(buf, p + 4, big)
        incl = _rd32(buf, p + 8, big)
        orig = _rd32(buf, p + 12, big)
        if incl > MAX_SNAPLEN:
            return i, p + 8, 3
        if p + PCAP_RECORD_HEADER_BYTES + incl > n:
            return i, p, 2
        if fill:
            offsets[i] = p + PCAP_RECORD_HEADER_BYTES
            lengths[i] = incl
            wire[i] = max(orig, incl)
            ts[i] = sec * 1_000_000_000 + (frac if ns else frac * 1000)
        i += 1
        p += PCAP_RECORD_HEADER_BYTES + incl
    return i, p, 0


_SCAN_ERRORS = {1: "truncated record header", 2: "truncated packet data (record runs past end of file)",
                3: f"captured length above {MAX_SNAPLEN} (corrupt record header)"}


def read_pcap(path: str | os.PathLike[str]) -> PacketBatch:
    """Read a classic pcap (or pcapng) file into a batch.

    Raises :class:`PacketError` naming the file and byte offset of a truncated or corrupt record.
    """
    p = Path(path)
    raw = p.read_bytes()
    if len(raw) >= 4 and struct.unpack("<I", raw[:4])[0] == PCAPNG_SHB:
        return _read_pcapng(raw, str(p))
    if len(raw) < PCAP_GLOBAL_HEADER_BYTES:
        raise PacketError(f"file is {len(raw)} bytes, shorter than a pcap global header "
                          f"({PCAP_GLOBAL_HEADER_BYTES} B)", file=str(p), where="byte 0")
    magic_le = struct.unpack("<I", raw[:4])[0]
    magic_be = struct.unpack(">I", raw[:4])[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        big, magic = False, magic_le
    elif magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        big, magic = True, magic_be
    else:
        raise PacketError(f"not a pcap file (magic 0x{magic_le:08x})", file=str(p), where="byte 0")
    ns = magic == PCAP_MAGIC_NS
    linktype = struct.unpack((">" if big else "<") + "I", raw[20:24])[0] & 0xFFFF
    buf = np.frombuffer(raw, dtype=np.uint8)
    empty = np.empty(0, dtype=np.int64)
    count, off, code = _scan_pcap(buf, big, ns, empty, empty, empty, empty, False)
    if code:
        raise PacketError(f"{_SCAN_ERRORS[code]} in record {count}", file=str(p), where=f"byte {off}")
    offsets = np.empty(count, dtype=np.int64)
    lengths = np.empty(count, dtype=np.int64)
    wire = np.empty(count, dtype=np.int64)
    ts = np.empty(count, dtype=np.int64)
    _scan_pcap(buf, big, ns, offsets, lengths, wire, ts, True)
    return PacketBatch(buf, offsets, lengths, wire, ts, linktype, {"file": str(p), "format": "pcap"})


def _read_pcapng(raw: bytes, name: str) -> PacketBatch:
    """pcapng reader (Python; block walk). Supports SHB, IDB (if_tsresol), EPB, SPB; skips others."""
    pos = 0
    endian = "<"
    ifaces: list[tuple[int, int, int]] = []  # (linktype, snaplen, ticks per second)
    offs: list[int] = []
    lens: list[int] = []
    wires: list[int] = []
    tss: list[int] = []
    n = len(raw)
    while pos < n:
        if pos + 12 > n:
            raise PacketError("truncated pcapng block header", file=name, where=f"byte {pos}")
        btype = struct.unpack_from(endian + "I", raw, pos)[0]
        if btype == PCAPNG_SHB:
            bom = raw[pos + 8:pos + 12]
            if struct.unpack("<I", bom)[0] == PCAPNG_BOM:
                endian = "<"
            elif struct.unpack(">I", bom)[0] == PCAPNG_BOM:
                endian = ">"
            else:
                raise PacketError("bad pcapng byte-order magic", file=name, where=f"byte {pos + 8}")
            ifaces = []
        blen = struct.unpack_from(endian + "I", raw, pos + 4)[0]
        if blen < 12 or blen % 4 or pos + blen > n:
            raise PacketError(f"pcapng block length {blen} invalid or past end of file", file=name,
                              where=f"byte {pos + 4}")
        body = pos + 8
        if btype == PCAPNG_IDB:
            lt, _res, snap = struct.unpack_from(endian + "HHI", raw, body)
            tps = 1_000_000
            opt = body + 8
            while opt + 4 <= pos + blen - 4:
                code, olen = struct.unpack_from(endian + "HH", raw, opt)
                if code == 0:
                    break
                if code == 9 and olen >= 1:  # if_tsresol
                    v = raw[opt + 4]
                    tps = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
                opt += 4 + ((olen + 3) // 4) * 4
            ifaces.append((lt, snap, tps))
        elif btype == PCAPNG_EPB:
            iface, th, tl, cap, orig = struct.unpack_from(endian + "IIIII", raw, body)
            if iface >= len(ifaces):
                raise PacketError(f"packet names interface {iface} that was not described", file=name,
                                  where=f"byte {body}")
            if body + 20 + cap > pos + blen - 4:
                raise PacketError("packet data runs past its block", file=name, where=f"byte {body + 12}")
            ticks = (th << 32) | tl
            tps = ifaces[iface][2]
            offs.append(body + 20)
            lens.append(cap)
            wires.append(max(orig, cap))
            tss.append(ticks * 1_000_000_000 // tps)
        elif btype == PCAPNG_SPB:
            if not ifaces:
                raise PacketError("simple packet block before any interface", file=name, where=f"byte {pos}")
            orig = struct.unpack_from(endian + "I", raw, body)[0]
            snap = ifaces[0][1] or orig
            cap = min(orig, snap, blen - 16)
            offs.append(body + 4)
            lens.append(cap)
            wires.append(orig)
            tss.append(0)
        trailer = struct.unpack_from(endian + "I", raw, pos + blen - 4)[0]
        if trailer != blen:
            raise PacketError(f"pcapng block trailer length {trailer} != {blen}", file=name,
                              where=f"byte {pos + blen - 4}")
        pos += blen
    linktype = ifaces[0][0] if ifaces else LINKTYPE_ETHERNET
    buf = np.frombuffer(raw, dtype=np.uint8)
    return PacketBatch(buf, np.array(offs, dtype=np.int64), np.array(lens, dtype=np.int64),
                       np.array(wires, dtype=np.int64), np.array(tss, dtype=np.int64), linktype,
                       {"file": name, "format": "pcapng"})


@njit(cache=True)
def _fill_pcap(out, data, offsets, lengths, wire, ts):  # pragma: no cover - numba
    p = PCAP_GLOBAL_HEADER_BYTES
    for i in range(offsets.shape[0]):
        sec = ts[i] // 1_000_000_000
        nsec = ts[i] - sec * 1_000_000_000
        vals = (sec, nsec, lengths[i], wire[i])
        for k in range(4):
            v = vals[k]
            out[p] = v & 0xFF
            out[p + 1] = (v >> 8) & 0xFF
            out[p + 2] = (v >> 16) & 0xFF
            out[p + 3] = (v >> 24) & 0xFF
            p += 4
        s = offsets[i]
        for k in range(lengths[i]):
            out[p + k] = data[s + k]
        p += lengths[i]
    return p


def require_ethernet(batch: PacketBatch) -> PacketBatch:
    """The datapath parses Ethernet frames only; other link types are a user error, not garbage."""
    if batch.linktype != LINKTYPE_ETHERNET:
        raise PacketError(f"link type {batch.linktype} is not Ethernet (1); re-capture on an Ethernet "
                          "interface or convert the file", file=batch.meta.get("file"), where="link type")
    return batch


def pcap_bytes(batch: PacketBatch) -> np.ndarray:
    """The batch as a classic little-endian, nanosecond-resolution pcap file image."""
    total = PCAP_GLOBAL_HEADER_BYTES + PCAP_RECORD_HEADER_BYTES * len(batch) + int(batch.lengths.sum())
    out = np.empty(total, dtype=np.uint8)
    snap = max(MAX_SNAPLEN, int(batch.lengths.max()) if len(batch) else 0)
    out[:PCAP_GLOBAL_HEADER_BYTES] = np.frombuffer(
        struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, snap, batch.linktype), dtype=np.uint8)
    if len(batch):
        _fill_pcap(out, batch.data, batch.offsets, batch.lengths, batch.wire_lengths, batch.timestamps_ns)
    return out


def write_pcap(path: str | os.PathLike[str], batch: PacketBatch) -> None:
    """Write a classic pcap file (nanosecond timestamps), atomically."""
    image = pcap_bytes(batch)
    with atomic_open(path, "wb") as fh:
        fh.write(image.data)
