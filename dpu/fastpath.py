"""Fused fast path: parse + one exact-match lookup + forward in a single numba loop.

The table-at-a-time pipeline (:mod:`dpu.pipeline`) materialises every parsed field of every packet
(a structure of arrays) and then runs each table over the batch: flexible, but it streams ~640 B of
parse output per packet through memory. For the common "classify on a few fields and forward" case
this kernel parses each packet into one scratch row that stays in L1 (the same
:func:`dpu.parse.parse_frame` code and layout constants), looks the key up and writes only the egress
port: this is the figure ``bench/dpu.py`` reports.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dpu.packets import PacketBatch
from dpu.parse import COL, INNER, NCOL, parse_frame
from dpu.tables import ExactTable, hash_row


@njit(cache=True)
def parse_lookup_forward(data, offsets, lengths, key_cols, tkeys, slots, mask, entry_port, miss_port,
                         egress):  # pragma: no cover - numba
    """``egress[i]`` = port of the entry matching packet i's key columns, ``miss_port`` on a miss,
    -1 for a packet that failed to parse."""
    row = np.zeros((1, 2 * NCOL), dtype=np.int64)
    key = np.zeros((1, key_cols.shape[0]), dtype=np.uint64)
    nf = key_cols.shape[0]
    need_inner = False
    for f in range(nf):
        if key_cols[f] >= INNER:
            need_inner = True
    for i in range(offsets.shape[0]):
        s = offsets[i]
        e = s + lengths[i]
        start = s
        for layer in range(2):  # one call site: parse_frame is inlined
            nxt = parse_frame(data, start, e, row, 0, layer * INNER, layer == 0)
            if nxt < 0:
                break
            start = nxt
        if layer == 0 and need_inner:  # no VXLAN: inner key columns read as 0
            for c in range(NCOL):
                row[0, INNER + c] = 0
        if row[0, 0] != 0:
            egress[i] = -1
            continue
        for f in range(nf):
            key[0, f] = np.uint64(row[0, key_cols[f]])
        h = np.int64(hash_row(key, 0, nf, 0) & np.uint64(mask))
        r = -1
        while slots[h] != -1:
            j = slots[h]
            same = True
            for f in range(nf):
                if tkeys[j, f] != key[0, f]:
                    same = False
                    break
            if same:
                r = j
                break
            h = (h + 1) & mask
        egress[i] = entry_port[r] if r >= 0 else miss_port


def forward_exact(batch: PacketBatch, table: ExactTable, entry_port: np.ndarray, miss_port: int = -1) -> np.ndarray:
    """Egress port per packet (see :func:`parse_lookup_forward`)."""
    egress = np.empty(len(batch), dtype=np.int64)
    cols = np.array([COL[c] for c in table.fields], dtype=np.int64)
    if len(batch):
        parse_lookup_forward(batch.data, batch.offsets, batch.lengths, cols, table.keys, table.slots, table.mask,
                             np.asarray(entry_port, dtype=np.int64), miss_port, egress)
    return egress
