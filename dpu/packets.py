"""Packet batches and fast pcap I/O.

A :class:`PacketBatch` is one contiguous ``uint8`` buffer plus per-packet offset, captured length,
wire length and timestamp arrays: the shape numba kernels want (no Python objects per packet).

Classic pcap (microsecond and nanosecond magic, either byte order) is read and written with numba
kernels that walk the record headers; reading is zero-copy (the batch's buffer is the file's bytes).
pcapng (sections, interface descriptions with any timestamp resolution, enhanced, simple and obsolete
packet blocks; other blocks skipped) is read in Python; packets keep their interface's link type.
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
from fabric.io.reader import read_bytes

#: pcap link types (tcpdump.org link-layer header types registry). The parser reads Ethernet, BSD
#: loopback (NULL, LOOP), Linux cooked capture v1/v2 and raw IP; other link types are reported per
#: packet (``parse_error`` ``unsupported_linktype``), never parsed as Ethernet.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_ALT = 12  # DLT_RAW on most platforms, written unmapped by some tools (Wireshark: raw IP)
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
PARSED_LINKTYPES = frozenset({LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW_ALT, LINKTYPE_RAW, LINKTYPE_LOOP,
                              LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2})
INT64_MAX = (1 << 63) - 1
#: Classic pcap magic numbers (tcpdump.org pcap file format / draft-ietf-opsawg-pcap).
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
#: pcapng block types (draft-ietf-opsawg-pcapng): section header, interface description, enhanced
#: packet, simple packet.
PCAPNG_SHB, PCAPNG_IDB, PCAPNG_EPB, PCAPNG_SPB = 0x0A0D0D0A, 0x00000001, 0x00000006, 0x00000003
#: Obsolete packet block (draft-ietf-opsawg-pcapng appendix A), still read by Wireshark.
PCAPNG_OPB = 0x00000002
#: IDB options: if_tsresol (resolution exponent), if_tsoffset (seconds added to every timestamp).
PCAPNG_IF_TSRESOL, PCAPNG_IF_TSOFFSET = 9, 14
PCAPNG_BOM = 0x1A2B3C4D
#: Largest snap length we accept in a record header (tcpdump's MAXIMUM_SNAPLEN is 262144).
MAX_SNAPLEN = 262_144
#: Largest capture read (1 GiB; ``FABRICCTL_MAX_CAPTURE_BYTES`` raises it): the whole file is read into
#: memory and its packets indexed (about twice the file in all), so this keeps ``dpu parse`` within a
#: few GiB; a FIFO or ``/dev/zero`` is refused before reading (:func:`fabric.io.reader.read_bytes`).
MAX_CAPTURE_BYTES = 1024 * 1024 * 1024
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
    linktype: pcap link type (1 = Ethernet) of the file (of its first interface for pcapng).
    linktypes: ``int64`` link type per packet, or None when every packet has ``linktype`` (pcapng
        files with interfaces of different link types set it); read it through :attr:`link_types`.

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
    linktypes: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    @property
    def link_types(self) -> np.ndarray:
        """Per packet: its pcap link type (``int64``)."""
        if self.linktypes is not None:
            return self.linktypes
        return np.full(len(self), self.linktype, dtype=np.int64)

    @property
    def uniform_linktype(self) -> int | None:
        """The link type every packet has, or None when they differ."""
        if self.linktypes is None or len(self.linktypes) == 0:
            return self.linktype
        first = int(self.linktypes[0])
        return first if bool((self.linktypes == first).all()) else None

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
                           self.timestamps_ns[idx], self.linktype,
                           linktypes=None if self.linktypes is None else self.linktypes[idx])

    def compact(self) -> PacketBatch:
        """A copy whose buffer holds exactly its packets, back to back."""
        total = int(self.lengths.sum())
        out = np.empty(total, dtype=np.uint8)
        offs = np.zeros(len(self), dtype=np.int64)
        if len(self) > 1:
            np.cumsum(self.lengths[:-1], out=offs[1:])
        _gather(self.data, self.offsets, self.lengths, out, offs)
        return PacketBatch(out, offs, self.lengths.copy(), self.wire_lengths.copy(),
                           self.timestamps_ns.copy(), self.linktype,
                           linktypes=None if self.linktypes is None else self.linktypes.copy())


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
    raw = read_bytes(p, what="capture", allow_empty=True, max_bytes=MAX_CAPTURE_BYTES, cap="MAX_CAPTURE_BYTES")
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


def _tsresol_ticks(v: int) -> tuple[int, int]:
    """``if_tsresol`` byte as (base, exponent): high bit set, 2^-exp; else 10^-exp (pcapng 4.2)."""
    return (2, v & 0x7F) if v & 0x80 else (10, v)


def _ticks_to_ns(ticks: int, base: int, exp: int, offset_s: int) -> int:
    """Timestamp ticks of resolution ``base**-exp`` (+ if_tsoffset seconds) in ns, exactly when the
    resolution is a divisor of 1 ns-multiples (10^-0..10^-9, 2^-0..2^0), else rounded toward -inf.
    Python ints: no overflow whatever the resolution; the caller saturates to int64."""
    if base == 10 and exp <= 9:
        ns = ticks * 10 ** (9 - exp)
    else:
        ns = (ticks * 1_000_000_000) // (base ** exp)
    return ns + offset_s * 1_000_000_000


class _Block:
    """Bounds-checked reads inside one pcapng block: a short block is a PacketError naming the offset."""

    def __init__(self, raw: bytes, name: str, endian: str, pos: int, blen: int, what: str) -> None:
        self.raw, self.name, self.endian, self.pos, self.end, self.what = raw, name, endian, pos, pos + blen - 4, what

    def need(self, off: int, size: int, what: str) -> None:
        if off + size > self.end:
            raise PacketError(f"{self.what} too short for its {what} ({self.end + 4 - self.pos} B block)",
                              file=self.name, where=f"byte {off}")

    def unpack(self, fmt: str, off: int, what: str) -> tuple:
        self.need(off, struct.calcsize(fmt), what)
        return struct.unpack_from(self.endian + fmt, self.raw, off)


def _read_pcapng(raw: bytes, name: str) -> PacketBatch:
    """pcapng reader (Python; block walk, draft-ietf-opsawg-pcapng).

    Sections (SHB, either byte order; interface ids restart in each), interface descriptions (link
    type, snap length, ``if_tsresol`` in any power of 2 or 10, ``if_tsoffset``), enhanced, simple and
    obsolete packet blocks; other block types are skipped. Each packet gets its interface's link type
    (:attr:`PacketBatch.linktypes` when they differ) and its timestamp in ns (exact where the
    resolution allows; a time beyond the int64 ns range is saturated and counted in
    ``meta["timestamps_saturated"]``). SPBs have no timestamp (0).
    """
    pos = 0
    endian = "<"
    ifaces: list[tuple[int, int, int, int, int]] = []  # (linktype, snaplen, base, exponent, offset s)
    all_linktypes: list[int] = []
    offs: list[int] = []
    lens: list[int] = []
    wires: list[int] = []
    tss: list[int] = []
    lts: list[int] = []
    saturated = 0
    n = len(raw)
    seen_shb = False
    while pos < n:
        if pos + 12 > n:
            raise PacketError(f"truncated pcapng block header ({n - pos} B left, need 12)", file=name,
                              where=f"byte {pos}")
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
            seen_shb = True
        elif not seen_shb:
            raise PacketError("pcapng file does not start with a section header block", file=name,
                              where=f"byte {pos}")
        blen = struct.unpack_from(endian + "I", raw, pos + 4)[0]
        if blen < 12 or blen % 4 or pos + blen > n:
            raise PacketError(f"pcapng block length {blen} invalid or past end of file ({n - pos} B left)",
                              file=name, where=f"byte {pos + 4}")
        body = pos + 8
        if btype == PCAPNG_SHB:
            blk = _Block(raw, name, endian, pos, blen, "section header block")
            major, _minor = blk.unpack("HH", body + 4, "version")
            blk.need(body + 8, 8, "section length")
            if major != 1:
                raise PacketError(f"pcapng major version {major} (only 1 is defined)", file=name,
                                  where=f"byte {body + 4}")
        elif btype == PCAPNG_IDB:
            blk = _Block(raw, name, endian, pos, blen, "interface description block")
            lt, _res, snap = blk.unpack("HHI", body, "link type and snap length")
            base, exp, tsoff = 10, 6, 0
            opt = body + 8
            while opt + 4 <= blk.end:
                code, olen = blk.unpack("HH", opt, "option header")
                if code == 0:
                    break
                blk.need(opt + 4, olen, f"option {code} ({olen} B)")
                if code == PCAPNG_IF_TSRESOL and olen >= 1:
                    base, exp = _tsresol_ticks(raw[opt + 4])
                elif code == PCAPNG_IF_TSOFFSET and olen >= 8:
                    tsoff = struct.unpack_from(endian + "q", raw, opt + 4)[0]
                opt += 4 + ((olen + 3) // 4) * 4
            ifaces.append((lt, snap, base, exp, tsoff))
            all_linktypes.append(lt)
        elif btype in (PCAPNG_EPB, PCAPNG_OPB):
            what = "enhanced packet block" if btype == PCAPNG_EPB else "packet block"
            blk = _Block(raw, name, endian, pos, blen, what)
            if btype == PCAPNG_EPB:
                iface, th, tl, cap, orig = blk.unpack("IIIII", body, "packet header")
            else:
                iface, _drops, th, tl, cap, orig = blk.unpack("HHIIII", body, "packet header")
            if iface >= len(ifaces):
                raise PacketError(f"packet names interface {iface} that was not described "
                                  f"({len(ifaces)} in this section)", file=name, where=f"byte {body}")
            if cap > MAX_SNAPLEN:
                raise PacketError(f"captured length {cap} above {MAX_SNAPLEN} (corrupt block)", file=name,
                                  where=f"byte {body + 12}")
            if body + 20 + cap > blk.end:
                raise PacketError("packet data runs past its block", file=name, where=f"byte {body + 12}")
            lt, _snap, base, exp, tsoff = ifaces[iface]
            ns = _ticks_to_ns((th << 32) | tl, base, exp, tsoff)
            if not -INT64_MAX - 1 <= ns <= INT64_MAX:
                saturated += 1
                ns = INT64_MAX if ns > 0 else -INT64_MAX - 1
            offs.append(body + 20)
            lens.append(cap)
            wires.append(max(orig, cap))
            tss.append(ns)
            lts.append(lt)
        elif btype == PCAPNG_SPB:
            blk = _Block(raw, name, endian, pos, blen, "simple packet block")
            if not ifaces:
                raise PacketError("simple packet block before any interface", file=name, where=f"byte {pos}")
            (orig,) = blk.unpack("I", body, "packet length")
            snap = ifaces[0][1] or orig
            cap = min(orig, snap, blk.end - (body + 4), MAX_SNAPLEN)
            offs.append(body + 4)
            lens.append(cap)
            wires.append(max(orig, cap))
            tss.append(0)
            lts.append(ifaces[0][0])
        trailer = struct.unpack_from(endian + "I", raw, pos + blen - 4)[0]
        if trailer != blen:
            raise PacketError(f"pcapng block trailer length {trailer} != {blen}", file=name,
                              where=f"byte {pos + blen - 4}")
        pos += blen
    linktype = all_linktypes[0] if all_linktypes else LINKTYPE_ETHERNET
    lt_arr = np.array(lts, dtype=np.int64)
    meta: dict = {"file": name, "format": "pcapng"}
    if saturated:
        meta["timestamps_saturated"] = saturated
    buf = np.frombuffer(raw, dtype=np.uint8)
    return PacketBatch(buf, np.array(offs, dtype=np.int64), np.array(lens, dtype=np.int64),
                       np.array(wires, dtype=np.int64), np.array(tss, dtype=np.int64), linktype, meta,
                       linktypes=lt_arr if len(set(lts)) > 1 else None)


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
    lt = batch.uniform_linktype
    if lt != LINKTYPE_ETHERNET:
        what = (f"link type {lt} is" if lt is not None
                else "link types " + ", ".join(str(int(v)) for v in np.unique(batch.link_types)) + " are")
        raise PacketError(f"{what} not Ethernet (1); re-capture on an Ethernet "
                          "interface or convert the file", file=batch.meta.get("file"), where="link type")
    return batch


def pcap_bytes(batch: PacketBatch) -> np.ndarray:
    """The batch as a classic little-endian, nanosecond-resolution pcap file image."""
    linktype = batch.uniform_linktype
    if linktype is None:
        raise PacketError("packets of different link types cannot share one pcap file",
                          file=batch.meta.get("file"), where="link type")
    total = PCAP_GLOBAL_HEADER_BYTES + PCAP_RECORD_HEADER_BYTES * len(batch) + int(batch.lengths.sum())
    out = np.empty(total, dtype=np.uint8)
    snap = max(MAX_SNAPLEN, int(batch.lengths.max()) if len(batch) else 0)
    out[:PCAP_GLOBAL_HEADER_BYTES] = np.frombuffer(
        struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, snap, linktype), dtype=np.uint8)
    if len(batch):
        _fill_pcap(out, batch.data, batch.offsets, batch.lengths, batch.wire_lengths, batch.timestamps_ns)
    return out


def write_pcap(path: str | os.PathLike[str], batch: PacketBatch) -> None:
    """Write a classic pcap file (nanosecond timestamps), atomically."""
    image = pcap_bytes(batch)
    with atomic_open(path, "wb") as fh:
        fh.write(image.data)
