"""The one 64-bit mixing function the DPU model uses for hashing (tables, WCMP member choice, RSS).

MurmurHash3's 64-bit finaliser ``fmix64`` (Austin Appleby, public domain): every input bit affects
every output bit, which is what bucket choice and RSS-like engine selection need.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: 2^64 / golden ratio: the usual odd constant to decorrelate consecutive keys before mixing.
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


@njit(cache=True, inline="always")
def fmix64(x):  # pragma: no cover - numba
    """MurmurHash3 fmix64 of a uint64."""
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x
