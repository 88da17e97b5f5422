"""Fused fast path: parse + one exact-match lookup + forward in a single numba loop, on one or all cores.

The table-at-a-time pipeline (:mod:`dpu.pipeline`) materialises every parsed field of every packet
(a structure of arrays) and then runs each table over the batch: flexible, but it streams ~640 B of
parse output per packet through memory. For the common "classify on a few fields and forward" case
this kernel parses each packet into one scratch row that stays in L1 (the same
:func:`dpu.parse.parse_link` code and layout constants), looks the key up and writes only the egress
port: this is the figure ``bench/dpu.py`` reports.

What makes it fast (each measured on the benchmark mix, see ``bench/dpu.py``):

- no reference counting in the loop: the parser takes raw pointers (:mod:`dpu.rawptr`); with arrays
  numba did four atomic reference-count updates per packet and layer;
- a software prefetch of the packet :data:`PREFETCH_PACKETS` ahead: a batch much larger than the
  caches streams from memory and the 1500 B packets of the mix break the hardware prefetcher's stride;
- the inner (VXLAN) packet is parsed only when a key column is an ``inner_`` one, and nothing after
  an outer parse error (the egress port depends on neither).

More than one core: the batch is cut into contiguous chunks that threads take in turn; the kernel
releases the GIL (``nogil=True``) and each chunk writes only its own slice of the output, so the result
is the same array whatever the number of threads or chunks. Python threads rather than numba's
``parallel=True``: the only threading layer every numba install has (``workqueue``; pip wheels ship
no OpenMP layer) is not thread-safe (numba's "The Threading Layers" documentation), and the P4 agent
calls the DPU from gRPC threads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from numba import njit

from dpu.packets import LINKTYPE_ETHERNET, PacketBatch
from dpu.parse import C_ERR, COL, INNER, NCOL, ROW, parse_link
from dpu.rawptr import data_ptr, prefetch
from dpu.tables import ExactTable, hash_step

#: Packets ahead whose first byte is prefetched. Measured on the bench mix (1 M packets): 4 ahead
#: gains little (31 Mpps), 10-28 ahead are all within the noise of the best (48-54 Mpps), none 33 Mpps.
PREFETCH_PACKETS = 16
#: Smallest chunk handed to a thread: handing a chunk over costs tens of microseconds, and 16K
#: packets take ~300 us at 50 Mpps (assumption: keeps the hand-over cost under ~10%).
MIN_CHUNK_PACKETS = 16_384
#: Chunks per thread: more chunks than threads, so a thread that loses its core to another process
#: for a while does not hold up the whole batch (the others take its remaining chunks).
CHUNKS_PER_THREAD = 4


@njit(cache=True, nogil=True)
def parse_lookup_forward(data, offsets, lengths, linktypes, key_cols, tkeys, slots, mask, entry_port, miss_port,
                         egress):  # pragma: no cover - numba
    """``egress[i]`` = port of the entry matching packet i's key columns, ``miss_port`` on a miss,
    -1 for a packet that failed to parse.

    ``linktypes`` holds one pcap link type per packet, or a single one for every packet.
    """
    row = np.zeros(ROW, dtype=np.int64)
    rp = data_ptr(row)
    buf = data_ptr(data)
    nf = key_cols.shape[0]
    need_inner = False
    for f in range(nf):
        if key_cols[f] >= INNER:
            need_inner = True
    n = offsets.shape[0]
    per_packet = linktypes.shape[0] == n
    lt = linktypes[0]
    for i in range(n):
        if i + PREFETCH_PACKETS < n:
            prefetch(buf, offsets[i + PREFETCH_PACKETS])
        if per_packet:
            lt = linktypes[i]
        s = offsets[i]
        e = s + lengths[i]
        nxt = parse_link(buf, s, e, rp, 0, True, lt)
        if rp[C_ERR] != 0:
            egress[i] = -1
            continue
        if need_inner:
            if nxt >= 0:
                parse_link(buf, nxt, e, rp, INNER, False, LINKTYPE_ETHERNET)
            else:  # no VXLAN: inner key columns read as 0
                for c in range(NCOL):
                    rp[INNER + c] = 0
        h = np.uint64(0)
        for f in range(nf):
            h = hash_step(h, np.uint64(rp[key_cols[f]]), f)
        slot = np.int64(h & np.uint64(mask))
        r = -1
        while slots[slot] != -1:  # linear probing, as ExactTable builds it
            j = slots[slot]
            same = True
            for f in range(nf):
                if tkeys[j, f] != np.uint64(rp[key_cols[f]]):
                    same = False
                    break
            if same:
                r = j
                break
            slot = (slot + 1) & mask
        egress[i] = entry_port[r] if r >= 0 else miss_port


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@cache
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count (starting threads per batch would cost more than small
    batches) and per process: a child made by fork() has none of its parent's threads."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"dpu-fastpath-{pid}")


def chunk_bounds(n: int, threads: int, min_chunk: int = MIN_CHUNK_PACKETS) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` chunks covering ``range(n)``: about :data:`CHUNKS_PER_THREAD` per
    thread, none shorter than ``min_chunk`` packets (except when ``n`` itself is).

    >>> chunk_bounds(10, 2, min_chunk=3)
    [(0, 3), (3, 6), (6, 10)]
    >>> chunk_bounds(10, 1)
    [(0, 10)]
    """
    k = max(1, min(threads * CHUNKS_PER_THREAD if threads > 1 else 1, n // max(1, min_chunk)))
    edges = [n * j // k for j in range(k + 1)]
    return [(edges[j], edges[j + 1]) for j in range(k)]


def forward_exact(batch: PacketBatch, table: ExactTable, entry_port: np.ndarray, miss_port: int = -1,
                  cores: int | None = 1, min_chunk_packets: int = MIN_CHUNK_PACKETS) -> np.ndarray:
    """Egress port per packet (see :func:`parse_lookup_forward`), on ``cores`` threads (None: every
    core this process may use). The result does not depend on ``cores`` or ``min_chunk_packets``.

    >>> from scapy.layers.l2 import Ether
    >>> from scapy.layers.inet import IP, UDP
    >>> b = PacketBatch.from_scapy([Ether() / IP(dst="10.0.0.1") / UDP(), Ether() / IP(dst="10.0.0.9") / UDP()])
    >>> t = ExactTable("dst", ["ip_dst0"], [[0x0A000001]])
    >>> forward_exact(b, t, np.array([3]), miss_port=7, cores=2).tolist()
    [3, 7]
    """
    threads = available_cores() if cores is None else cores
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"cores must be a positive integer or None, got {cores!r}")
    ports = np.ascontiguousarray(entry_port, dtype=np.int64)
    if ports.shape != (len(table),):
        raise ValueError(f"entry_port needs one port per entry of table {table.name!r} ({len(table)}), "
                         f"got shape {ports.shape}")
    n = len(batch)
    egress = np.empty(n, dtype=np.int64)
    if n == 0:
        return egress
    cols = np.array([COL[c] for c in table.fields], dtype=np.int64)
    data = np.ascontiguousarray(batch.data, dtype=np.uint8)
    offsets = np.ascontiguousarray(batch.offsets, dtype=np.int64)
    lengths = np.ascontiguousarray(batch.lengths, dtype=np.int64)
    per_packet = batch.linktypes is not None
    lts = (np.ascontiguousarray(batch.linktypes, dtype=np.int64) if per_packet
           else np.array([batch.linktype], dtype=np.int64))

    def run(lo: int, hi: int) -> None:
        parse_lookup_forward(data, offsets[lo:hi], lengths[lo:hi], lts[lo:hi] if per_packet else lts, cols,
                             table.keys, table.slots, table.mask, ports, miss_port, egress[lo:hi])

    bounds = chunk_bounds(n, int(threads), max(1, min_chunk_packets))
    if len(bounds) == 1:
        run(0, n)
        return egress
    _run_chunks(run, bounds, min(int(threads), len(bounds)))
    return egress


def _run_chunks(run, bounds: list[tuple[int, int]], threads: int) -> None:
    """Run ``run(lo, hi)`` for every chunk on ``threads`` threads (the caller's is one of them); each
    thread takes the next chunk not yet taken, so a thread that is slowed down takes fewer."""
    lock = threading.Lock()
    todo = iter(bounds)

    def worker() -> None:
        while True:
            with lock:
                chunk = next(todo, None)
            if chunk is None:
                return
            run(*chunk)

    pool = _pool(threads - 1, os.getpid())
    futures = [pool.submit(worker) for _ in range(threads - 1)]
    try:
        worker()
    finally:
        for f in futures:
            f.result()
