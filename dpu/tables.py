"""Match tables for the datapath: exact (hash), longest-prefix (IPv4 and IPv6) and ternary (priority).

Each table is built in Python from entries and compiled to flat numpy arrays; lookups over a whole
batch run in numba kernels and return the matching entry's index (``-1`` on a miss).

- :class:`ExactTable`: open addressing (linear probing) on up to :data:`MAX_KEY_FIELDS` 64-bit
  fields, load factor <= 0.5.
- :class:`LpmTable`: one hash table keyed by (prefix length, masked 128-bit address), probed from the
  longest prefix length present downwards ("binary search on lengths" without the markers: simple,
  and the number of distinct lengths in a routing table is small). IPv4 addresses sit in the top 32
  bits of the 128-bit key, so one implementation serves both families.
- :class:`TernaryTable`: (value, mask) per field and a priority; the highest priority match wins,
  ties go to the entry inserted first (entries are scanned in priority order).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numpy as np
from numba import njit

from dpu.hashmix import GOLDEN_GAMMA, fmix64
from fabric.errors import ConfigError

MAX_KEY_FIELDS = 8
_EMPTY = -1



@njit(cache=True, inline="always")
def hash_step(h, v, f):  # pragma: no cover - numba
    """One link of :func:`hash_row`'s chain: fold key field ``f`` (value ``v``, uint64) into ``h``."""
    return fmix64(h ^ v) + np.uint64(f + 1)


@njit(cache=True, inline="always")
def hash_row(keys, i, nf, salt):  # pragma: no cover - numba
    """Hash of key row ``keys[i, :nf]`` (fmix64 chain from ``salt``): the slot hash of :class:`ExactTable`."""
    h = np.uint64(salt)
    for f in range(nf):
        h = hash_step(h, keys[i, f], f)
    return h


@njit(cache=True)
def _exact_build(keys, slots, mask):  # pragma: no cover - numba
    """Insert row i of ``keys`` at a free slot; returns the index of a duplicate key or -1."""
    n, nf = keys.shape
    for i in range(n):
        h = hash_row(keys, i, nf, 0) & np.uint64(mask)
        s = np.int64(h)
        while slots[s] != -1:
            j = slots[s]
            same = True
            for f in range(nf):
                if keys[j, f] != keys[i, f]:
                    same = False
                    break
            if same:
                return i
            s = (s + 1) & mask
        slots[s] = i
    return -1


@njit(cache=True)
def exact_lookup(tkeys, slots, mask, qkeys, out):  # pragma: no cover - numba
    """``out[i]`` = entry index whose key equals row i of ``qkeys``, or -1."""
    nf = tkeys.shape[1]
    for i in range(qkeys.shape[0]):
        s = np.int64(hash_row(qkeys, i, nf, 0) & np.uint64(mask))
        r = -1
        while slots[s] != -1:
            j = slots[s]
            same = True
            for f in range(nf):
                if tkeys[j, f] != qkeys[i, f]:
                    same = False
                    break
            if same:
                r = j
                break
            s = (s + 1) & mask
        out[i] = r


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


class ExactTable:
    """Exact match on ``len(fields)`` unsigned fields.

    >>> t = ExactTable("l2", ["eth_dst"], [[0xAABBCCDDEEFF], [1]])
    >>> t.lookup(np.array([[1], [2], [0xAABBCCDDEEFF]], dtype=np.uint64)).tolist()
    [1, -1, 0]
    """

    kind = "exact"

    def __init__(self, name: str, fields: Sequence[str], keys: Sequence[Sequence[int]]) -> None:
        if not 1 <= len(fields) <= MAX_KEY_FIELDS:
            raise ConfigError(f"exact table needs 1-{MAX_KEY_FIELDS} key fields", where=f"tables.{name}.key")
        self.name, self.fields = name, list(fields)
        self.keys = np.asarray(keys, dtype=np.uint64).reshape(len(keys), len(fields))
        cap = _pow2_at_least(max(2, 2 * len(keys)))
        self.slots = np.full(cap, _EMPTY, dtype=np.int64)
        self.mask = cap - 1
        dup = _exact_build(self.keys, self.slots, self.mask) if len(keys) else -1
        if dup >= 0:
            raise ConfigError(f"duplicate key {list(map(int, self.keys[dup]))}", where=f"tables.{name}.entries[{dup}]")

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def lookup(self, qkeys: np.ndarray) -> np.ndarray:
        out = np.empty(qkeys.shape[0], dtype=np.int64)
        if len(self) == 0:
            out[:] = -1
            return out
        exact_lookup(self.keys, self.slots, self.mask, np.ascontiguousarray(qkeys, dtype=np.uint64), out)
        return out


# --------------------------------------------------------------------------------------------- LPM


def prefix_to_key(prefix: str, family: int | None = None) -> tuple[int, int, int]:
    """``"10.0.0.0/8"`` -> (hi, lo, length in the 128-bit key space); IPv4 occupies the top 32 bits."""
    try:
        net = ipaddress.ip_network(prefix, strict=True)
    except ValueError as exc:
        raise ConfigError(f"bad prefix {prefix!r}: {exc}") from None
    if family is not None and net.version != family:
        raise ConfigError(f"prefix {prefix} is not IPv{family}")
    v = int(net.network_address)
    if net.version == 4:
        return (v << 32) & 0xFFFFFFFFFFFFFFFF, 0, net.prefixlen
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF, net.prefixlen


@njit(cache=True, inline="always")
def _mask128(hi, lo, length):  # pragma: no cover - numba
    if length == 0:
        return np.uint64(0), np.uint64(0)
    if length <= 64:
        m = np.uint64(0xFFFFFFFFFFFFFFFF) << np.uint64(64 - length) if length < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
        return hi & m, np.uint64(0)
    ml = length - 64
    m = np.uint64(0xFFFFFFFFFFFFFFFF) << np.uint64(64 - ml) if ml < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return hi, lo & m


@njit(cache=True, inline="always")
def _lpm_hash(hi, lo, length):  # pragma: no cover - numba
    return fmix64(fmix64(hi ^ np.uint64(length) * np.uint64(GOLDEN_GAMMA)) ^ lo)


@njit(cache=True)
def _lpm_build(his, los, lens, slots, mask):  # pragma: no cover - numba
    for i in range(his.shape[0]):
        s = np.int64(_lpm_hash(his[i], los[i], lens[i]) & np.uint64(mask))
        while slots[s] != -1:
            j = slots[s]
            if his[j] == his[i] and los[j] == los[i] and lens[j] == lens[i]:
                return i
            s = (s + 1) & mask
        slots[s] = i
    return -1


@njit(cache=True)
def lpm_lookup(his, los, lens, slots, mask, lengths_desc, qhi, qlo, out):  # pragma: no cover - numba
    for i in range(qhi.shape[0]):
        r = -1
        for k in range(lengths_desc.shape[0]):
            ln = lengths_desc[k]
            h, lo = _mask128(qhi[i], qlo[i], ln)
            s = np.int64(_lpm_hash(h, lo, ln) & np.uint64(mask))
            while slots[s] != -1:
                j = slots[s]
                if his[j] == h and los[j] == lo and lens[j] == ln:
                    r = j
                    break
                s = (s + 1) & mask
            if r >= 0:
                break
        out[i] = r


class LpmTable:
    """Longest-prefix match over IPv4 or IPv6 prefixes (``family`` 4 or 6).

    >>> t = LpmTable("rt", 4, ["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0"])
    >>> t.lookup_text(["10.1.2.3", "10.9.9.9", "192.0.2.1"]).tolist()
    [1, 0, 2]
    """

    kind = "lpm"

    def __init__(self, name: str, family: int, prefixes: Sequence[str]) -> None:
        if family not in (4, 6):
            raise ConfigError(f"family must be 4 or 6, got {family!r}", where=f"tables.{name}.family")
        self.name, self.family = name, family
        ks = []
        for k, p in enumerate(prefixes):
            try:
                ks.append(prefix_to_key(p, family))
            except ConfigError as exc:
                raise ConfigError(exc.reason, where=f"tables.{name}.entries[{k}].prefix") from None
        self.his = np.array([k[0] for k in ks], dtype=np.uint64)
        self.los = np.array([k[1] for k in ks], dtype=np.uint64)
        self.lens = np.array([k[2] for k in ks], dtype=np.int64)
        cap = _pow2_at_least(max(2, 2 * len(ks)))
        self.slots = np.full(cap, _EMPTY, dtype=np.int64)
        self.mask = cap - 1
        dup = _lpm_build(self.his, self.los, self.lens, self.slots, self.mask) if ks else -1
        if dup >= 0:
            raise ConfigError(f"duplicate prefix {prefixes[dup]}", where=f"tables.{name}.entries[{dup}]")
        self.lengths_desc = np.array(sorted(set(self.lens.tolist()), reverse=True), dtype=np.int64)

    def __len__(self) -> int:
        return int(self.his.shape[0])

    def lookup(self, qhi: np.ndarray, qlo: np.ndarray) -> np.ndarray:
        out = np.empty(qhi.shape[0], dtype=np.int64)
        if len(self) == 0:
            out[:] = -1
            return out
        lpm_lookup(self.his, self.los, self.lens, self.slots, self.mask, self.lengths_desc,
                   np.ascontiguousarray(qhi, dtype=np.uint64), np.ascontiguousarray(qlo, dtype=np.uint64), out)
        return out

    def lookup_text(self, addrs: Sequence[str]) -> np.ndarray:
        keys = [prefix_to_key(f"{a}/{32 if self.family == 4 else 128}", self.family) for a in addrs]
        return self.lookup(np.array([k[0] for k in keys], dtype=np.uint64),
                           np.array([k[1] for k in keys], dtype=np.uint64))


def words_to_key(w0: np.ndarray, w1: np.ndarray, w2: np.ndarray, w3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parsed address words (``ip_dst0..3``) -> (hi, lo) 128-bit key halves."""
    hi = (w0.astype(np.uint64) << np.uint64(32)) | w1.astype(np.uint64)
    lo = (w2.astype(np.uint64) << np.uint64(32)) | w3.astype(np.uint64)
    return hi, lo


# ----------------------------------------------------------------------------------------- ternary


@njit(cache=True)
def ternary_lookup(values, masks, qkeys, out):  # pragma: no cover - numba
    """Entries are pre-sorted by priority (highest first); first match wins."""
    n, nf = values.shape
    for i in range(qkeys.shape[0]):
        r = -1
        for j in range(n):
            ok = True
            for f in range(nf):
                if (qkeys[i, f] & masks[j, f]) != values[j, f]:
                    ok = False
                    break
            if ok:
                r = j
                break
        out[i] = r


class TernaryTable:
    """Ternary match: each entry is ``[(value, mask), ...]`` per field and an integer priority
    (higher wins; equal priorities: the earlier entry wins). Lookup returns the original entry index.

    >>> t = TernaryTable("acl", ["ip_proto", "l4_dport"], [[(17, 255), (0, 0)], [(17, 255), (4791, 65535)]], [1, 5])
    >>> t.lookup(np.array([[17, 4791], [17, 53], [6, 80]], dtype=np.uint64)).tolist()
    [1, 0, -1]
    """

    kind = "ternary"

    def __init__(self, name: str, fields: Sequence[str], matches: Sequence[Sequence[tuple[int, int]]],
                 priorities: Sequence[int]) -> None:
        if not 1 <= len(fields) <= MAX_KEY_FIELDS:
            raise ConfigError(f"ternary table needs 1-{MAX_KEY_FIELDS} key fields", where=f"tables.{name}.key")
        self.name, self.fields = name, list(fields)
        n = len(matches)
        order = sorted(range(n), key=lambda k: (-priorities[k], k))
        self.order = np.array(order, dtype=np.int64)
        self.values = np.zeros((n, len(fields)), dtype=np.uint64)
        self.masks = np.zeros((n, len(fields)), dtype=np.uint64)
        for row, k in enumerate(order):
            if len(matches[k]) != len(fields):
                raise ConfigError(f"entry has {len(matches[k])} fields, table key has {len(fields)}",
                                  where=f"tables.{name}.entries[{k}].match")
            for f, (v, m) in enumerate(matches[k]):
                self.values[row, f] = int(v) & int(m)
                self.masks[row, f] = int(m)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def lookup(self, qkeys: np.ndarray) -> np.ndarray:
        out = np.empty(qkeys.shape[0], dtype=np.int64)
        if len(self) == 0:
            out[:] = -1
            return out
        ternary_lookup(self.values, self.masks, np.ascontiguousarray(qkeys, dtype=np.uint64), out)
        hit = out >= 0
        out[hit] = self.order[out[hit]]
        return out
