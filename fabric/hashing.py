"""Switch hash functions and the flow-level hashing simulation (numba).

Hash functions (pluggable through :class:`HashConfig`):

- ``crc32``: CRC-32 (IEEE 802.3, reflected, zlib-compatible) over the 13-byte 5-tuple (src IP, dst IP,
  src port, dst port, protocol; plus the 3-byte destination QP when ``use_qp``, as Meta added to
  the hash). CRC is affine: two switches that differ only in the CRC initial value produce hashes
  that differ by a constant XOR, so their low bits stay correlated. Switch ASICs decorrelate tiers by
  taking a different bit window of the hash (a "hash offset"); we model a switch's seed as both the
  initial value and a rotation of the 32-bit result by ``seed % 32``. With ``polarize`` every switch
  uses the same seed, which gives the classic polarisation: the next tier sees only flows whose
  hash already selected it and re-uses the same bits, so part of its uplinks stay idle.
- ``toeplitz``: the Microsoft RSS Toeplitz hash over src IP, dst IP, src port, dst port with a 40-byte
  key; each switch draws its key from its seed (the same key everywhere with ``polarize``).

A group with total weight W is a table of W entries (members replicated by weight); a flow takes
entry ``hash % W``. :func:`simulate` pushes every flow hop by hop through the WCMP groups of a Plan
(``wcmp`` section shape) and returns per-link loads.
QP source-port placement on top of this simulation is :mod:`fabric.qp_ports`.
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from fabric.errors import ConfigError, InfeasibleError
from fabric.topology import Fabric
from fabric.traffic import IPPROTO_UDP, Demand, Flow, endpoint_ip
from fabric.wcmp.paths import Network

#: Microsoft RSS default Toeplitz key ("Verifying the RSS Hash Calculation", Microsoft Learn).
RSS_DEFAULT_KEY = bytes.fromhex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c"
                                "6a42b73bbeac01fa")
#: Longest path a flow may take through the groups before the simulation flags a loop.
MAX_HOPS = 64
HASH_KINDS = ("crc32", "toeplitz")
_K_CRC, _K_TOEPLITZ = 0, 1


def _crc_table() -> np.ndarray:
    t = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t[i] = c
    return t


CRC_TABLE = _crc_table()


@njit(cache=True)
def crc32_nb(data: np.ndarray, n: int, start: np.uint32, table: np.ndarray) -> np.uint32:
    """zlib.crc32(data[:n], start)."""
    c = np.uint32(start) ^ np.uint32(0xFFFFFFFF)
    for i in range(n):
        c = table[(c ^ np.uint32(data[i])) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
    return c ^ np.uint32(0xFFFFFFFF)


@njit(cache=True)
def toeplitz_nb(data: np.ndarray, n: int, key: np.ndarray) -> np.uint32:
    """Microsoft RSS Toeplitz hash of data[:n] with a 40-byte key."""
    result = np.uint32(0)
    window = (np.uint32(key[0]) << np.uint32(24)) | (np.uint32(key[1]) << np.uint32(16)) | \
        (np.uint32(key[2]) << np.uint32(8)) | np.uint32(key[3])
    kbit = 32  # index of the next key bit to shift in
    for i in range(n):
        b = data[i]
        for j in range(8):
            if (b >> (7 - j)) & 1:
                result = np.uint32(result ^ window)
            nxt = np.uint32(0)
            byte = kbit // 8
            if byte < key.shape[0]:
                nxt = np.uint32((key[byte] >> (7 - kbit % 8)) & 1)
            window = np.uint32(((np.uint64(window) << np.uint64(1)) & np.uint64(0xFFFFFFFF)) | np.uint64(nxt))
            kbit += 1
    return result


@njit(cache=True)
def _rotr(x: np.uint32, r: int) -> np.uint32:
    r = r % 32
    if r == 0:
        return x
    return np.uint32(((np.uint64(x) >> np.uint64(r)) | (np.uint64(x) << np.uint64(32 - r))) & np.uint64(0xFFFFFFFF))


@njit(cache=True)
def encode_tuple(buf: np.ndarray, sip: np.uint32, dip: np.uint32, sport: int, dport: int, qp: int, use_qp: bool) -> int:
    for k in range(4):
        buf[k] = (sip >> np.uint32(24 - 8 * k)) & np.uint32(0xFF)
        buf[4 + k] = (dip >> np.uint32(24 - 8 * k)) & np.uint32(0xFF)
    buf[8] = (sport >> 8) & 0xFF
    buf[9] = sport & 0xFF
    buf[10] = (dport >> 8) & 0xFF
    buf[11] = dport & 0xFF
    buf[12] = 17
    if use_qp:
        buf[13] = (qp >> 16) & 0xFF
        buf[14] = (qp >> 8) & 0xFF
        buf[15] = qp & 0xFF
        return 16
    return 13


@njit(cache=True, inline="always")
def switch_hash_nb(kind, base, node, seeds, cx, keys, tz, buf):  # pragma: no cover - numba
    """The hash switch ``node`` computes for a flow whose header bytes are ``buf``.

    CRC32 is affine, so crc(data, seed) = crc(data, 0) ^ cx[seed] for equal lengths: ``base`` is the
    flow's CRC with seed 0, computed once per flow. Toeplitz (RSS) is evaluated over the 12 address
    and port bytes with per-switch byte tables.
    """
    if kind == 0:
        return _rotr(np.uint32(base ^ cx[node]), int(seeds[node] % np.uint32(32)))
    h = np.uint32(0)
    row = keys[node]
    for i in range(12):
        h ^= tz[row, i, buf[i]]
    return h


@njit(cache=True)
def _simulate(kind: int, use_qp: bool, sip: np.ndarray, dip: np.ndarray, sport: np.ndarray, dport: np.ndarray,
              qp: np.ndarray, rate: np.ndarray, start: np.ndarray, dnode: np.ndarray, dcol: np.ndarray,
              acc_out: np.ndarray, acc_in: np.ndarray, table: np.ndarray, g_off: np.ndarray, g_len: np.ndarray, e_next: np.ndarray,
              e_link: np.ndarray, seeds: np.ndarray, cx: np.ndarray, keys: np.ndarray, tz: np.ndarray, crc: np.ndarray,
              n_links: int,
              record: bool, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    load = np.zeros(n_links)
    count = np.zeros(n_links, dtype=np.int64)
    buf = np.zeros(16, dtype=np.uint8)
    bad = -1
    for f in range(sip.shape[0]):
        n = encode_tuple(buf, sip[f], dip[f], sport[f], dport[f], qp[f], use_qp)
        base = crc32_nb(buf, n, np.uint32(0), crc) if kind == 0 else np.uint32(0)
        node = start[f]
        hop = 0
        if acc_out[f] >= 0:
            load[acc_out[f]] += rate[f]
            count[acc_out[f]] += 1
        while node != dnode[f]:
            g = table[node, dcol[f]]
            if g < 0 or hop >= paths.shape[1] - 1:
                bad = f
                break
            h = switch_hash_nb(kind, base, node, seeds, cx, keys, tz, buf)
            e = g_off[g] + np.int64(h % np.uint32(g_len[g]))
            lk = e_link[e]
            load[lk] += rate[f]
            count[lk] += 1
            if record:
                paths[f, hop] = lk
            hop += 1
            node = e_next[e]
        if acc_in[f] >= 0:
            load[acc_in[f]] += rate[f]
            count[acc_in[f]] += 1
    return load, count, bad


# ============================================================================ configuration
@dataclass(frozen=True)
class HashConfig:
    """Which hash every switch runs. ``seed`` mixes into every switch's own seed (derived from its
    name); ``polarize`` gives every switch the same seed/key (the misconfiguration that polarises)."""

    kind: str = "crc32"
    seed: int = 0
    polarize: bool = False
    use_qp: bool = False

    def check(self) -> None:
        if self.kind not in HASH_KINDS:
            raise ConfigError(f"unknown hash {self.kind!r} (expected {', '.join(HASH_KINDS)})")

    def switch_seed(self, name: str) -> int:
        if self.polarize:
            return self.seed & 0xFFFFFFFF
        return (zlib.crc32(name.encode()) ^ (self.seed * 0x9E3779B1)) & 0xFFFFFFFF

    def switch_key(self, name: str) -> bytes:
        if self.polarize and self.seed == 0:
            return RSS_DEFAULT_KEY
        rng = np.random.default_rng(self.switch_seed(name))
        return bytes(rng.integers(0, 256, 40, dtype=np.uint8))


def switch_hash(cfg: HashConfig, switch: str, flow: Flow) -> int:
    """Pure-Python reference of the hash a switch computes for a flow (used by tests and benches)."""
    data = (endpoint_ip(flow.src).to_bytes(4, "big") + endpoint_ip(flow.dst).to_bytes(4, "big")
            + flow.sport.to_bytes(2, "big") + flow.dport.to_bytes(2, "big") + bytes([IPPROTO_UDP]))
    if cfg.use_qp:
        data += (flow.qp or 0).to_bytes(3, "big")
    seed = cfg.switch_seed(switch)
    if cfg.kind == "crc32":
        h = zlib.crc32(data, seed)
        r = seed % 32
        return ((h >> r) | (h << (32 - r))) & 0xFFFFFFFF if r else h
    return toeplitz_py(data[:12], cfg.switch_key(switch))


def toeplitz_tables(key: bytes, nbytes: int = 12) -> np.ndarray:
    """tab[i, v]: Toeplitz contribution of byte value v at byte position i (XOR the 12 lookups)."""
    kbits = int.from_bytes(key, "big")
    klen = len(key) * 8
    windows = np.array([(kbits >> (klen - 32 - b)) & 0xFFFFFFFF for b in range(nbytes * 8)], dtype=np.uint32)
    vals = np.arange(256)
    tab = np.zeros((nbytes, 256), dtype=np.uint32)
    for i in range(nbytes):
        for j in range(8):
            bit = ((vals >> (7 - j)) & 1).astype(bool)
            tab[i, bit] ^= windows[8 * i + j]
    return tab


def toeplitz_py(data: bytes, key: bytes) -> int:
    """Reference Toeplitz hash (Microsoft RSS) in plain Python."""
    kbits = int.from_bytes(key, "big")
    klen = len(key) * 8
    result = 0
    for i, byte in enumerate(data):
        for j in range(8):
            if byte & (0x80 >> j):
                pos = i * 8 + j
                result ^= (kbits >> (klen - 32 - pos)) & 0xFFFFFFFF
    return result


# ============================================================================ tables
class Tables:
    """Numba-ready forwarding state built from WCMP groups (Plan ``wcmp`` shape) on a fabric."""

    def __init__(self, fabric: Fabric, groups: Sequence[dict[str, Any]], cfg: HashConfig,
                 net: Network | None = None) -> None:
        cfg.check()
        self.cfg = cfg
        self.net = net or Network(fabric)
        net = self.net
        self.nodes = list(fabric.graph.nodes)
        self.idx = {n: i for i, n in enumerate(self.nodes)}
        self.links: list[tuple[str, str, int]] = []
        self.link_id: dict[tuple[str, str, int], int] = {}
        caps = []
        for u in net.adj:
            for v, ms in net.adj[u].items():
                for m in ms:
                    self.link_id[(u, v, m.key)] = len(self.links)
                    self.links.append((u, v, m.key))
                    caps.append(m.capacity_gbps)
        self.cap = np.array(caps, dtype=np.float64)
        port_key = {(u, m.port): (v, m.key) for u in net.adj for v, ms in net.adj[u].items() for m in ms}
        dst_keys = sorted({g["dst"] for g in groups})
        self.kidx = {k: self.idx[k] for k in dst_keys}
        n = len(self.nodes)
        dense = n <= 4096
        table = np.full((n, n), -1, dtype=np.int32) if dense else np.zeros((0, 0), dtype=np.int32)
        entries_next: list[int] = []
        entries_link: list[int] = []
        g_off, g_len = [], []
        self._sparse: dict[tuple[int, int], int] = {}
        for gi, g in enumerate(groups):
            sw = g["switch"]
            g_off.append(len(entries_next))
            tot = 0
            for h in g["next_hops"]:
                try:
                    v, key = port_key[(sw, h["port"])]
                except KeyError:
                    raise ConfigError(f"group of {sw} for {g['dst']} uses port {h['port']!r}, which is not "
                                      "an up link of that switch", where="wcmp.groups") from None
                if v != h["node"]:
                    raise ConfigError(f"port {h['port']} of {sw} leads to {v}, not {h['node']}", where="wcmp.groups")
                w = int(h["weight"])
                entries_next += [self.idx[v]] * w
                entries_link += [self.link_id[(sw, v, key)]] * w
                tot += w
            if tot < 1:
                raise ConfigError(f"group of {sw} for {g['dst']} has no weight", where="wcmp.groups")
            g_len.append(tot)
            if dense:
                table[self.idx[sw], self.idx[g["dst"]]] = gi
            self._sparse[(self.idx[sw], self.idx[g["dst"]])] = gi
        self.col: dict[int, int] | None = None
        if not dense:  # large fabric: index destinations densely
            cols = {self.idx[k]: j for j, k in enumerate(dst_keys)}
            table = np.full((n, len(dst_keys)), -1, dtype=np.int32)
            for (a, b), gi in self._sparse.items():
                table[a, cols[b]] = gi
            self.col = cols
        self.table: np.ndarray = table
        self.g_off = np.array(g_off, dtype=np.int64)
        self.g_len = np.array(g_len, dtype=np.int64)
        self.e_next = np.array(entries_next, dtype=np.int64)
        self.e_link = np.array(entries_link, dtype=np.int64)
        self.seeds = np.array([cfg.switch_seed(x) for x in self.nodes], dtype=np.uint32)
        nbytes = 16 if cfg.use_qp else 13
        zero = bytes(nbytes)
        self.cx = np.array([zlib.crc32(zero, int(sd)) ^ zlib.crc32(zero, 0) for sd in self.seeds], dtype=np.uint32)
        # Toeplitz: per switch, the 32-bit contribution of every (byte position, byte value) of the 12 hashed
        # bytes, so that a hop costs 12 lookups (same result as toeplitz_nb; tests compare with the reference)
        self.trow = np.zeros(n, dtype=np.int64)
        if cfg.kind == "toeplitz":
            switches = sorted({self.idx[g["switch"]] for g in groups})
            self.tz = np.zeros((max(1, len(switches)), 12, 256), dtype=np.uint32)
            for r, i in enumerate(switches):
                self.trow[i] = r
                self.tz[r] = toeplitz_tables(cfg.switch_key(self.nodes[i]))
        else:
            self.tz = np.zeros((1, 12, 256), dtype=np.uint32)
        self.kind = _K_CRC if cfg.kind == "crc32" else _K_TOEPLITZ

    def _dcol(self, key: str) -> int:
        i = self.idx[key]
        return self.col[i] if self.col is not None else i

    def flow_arrays(self, flows: Sequence[Flow]) -> dict[str, np.ndarray]:
        net = self.net
        ip_cache: dict[str, int] = {}

        def ip(n: str) -> int:
            v = ip_cache.get(n)
            if v is None:
                v = ip_cache[n] = endpoint_ip(n)
            return v

        m = len(flows)
        a: dict[str, np.ndarray] = {
            "sip": np.empty(m, np.uint32), "dip": np.empty(m, np.uint32), "sport": np.empty(m, np.int64),
            "dport": np.empty(m, np.int64), "qp": np.empty(m, np.int64), "rate": np.empty(m, np.float64),
            "start": np.empty(m, np.int64), "dnode": np.empty(m, np.int64), "dcol": np.empty(m, np.int64),
            "acc_out": np.empty(m, np.int64),
            "acc_in": np.empty(m, np.int64)}
        info: dict[str, tuple[int, int, int]] = {}
        dinfo: dict[str, tuple[int, int, int]] = {}
        for i, f in enumerate(flows):
            si = info.get(f.src)
            if si is None:
                start = net.inject(f.src)
                acc = net.access(f.src, outbound=True)
                si = info[f.src] = (self.idx[start], self._acc(acc), 0)
            di = dinfo.get(f.dst)
            if di is None:
                key = net.dst_key(f.dst)
                acc = net.access(f.dst, outbound=False)
                di = dinfo[f.dst] = (self.idx[key], self._dcol(key) if key in self.kidx else -1, self._acc(acc))
            if di[1] < 0 and di[0] != si[0]:
                raise InfeasibleError(f"no WCMP group leads to {f.dst} (destination {net.dst_key(f.dst)})",
                                      where="qp_ports")
            a["sip"][i], a["dip"][i] = ip(f.src), ip(f.dst)
            a["sport"][i], a["dport"][i], a["qp"][i] = f.sport, f.dport, f.qp or 0
            a["rate"][i] = f.rate_gbps
            a["start"][i], a["acc_out"][i] = si[0], si[1]
            a["dnode"][i], a["dcol"][i], a["acc_in"][i] = di[0], max(di[1], 0), di[2]
        return a

    def _acc(self, acc: tuple[str, str] | None) -> int:
        if acc is None:
            return -1
        u, v = acc
        return self.link_id[(u, v, self.net.members(u, v)[0].key)]


@dataclass
class SimResult:
    """Per directed member link: hashed load (Gb/s) and number of flows; the fluid expectation."""

    load: np.ndarray
    count: np.ndarray
    fluid_load: np.ndarray
    fluid_count: np.ndarray
    routed: np.ndarray  # bool: links routing controls (not fixed access links)
    cap: np.ndarray
    seconds: float
    paths: np.ndarray | None = None

    @property
    def max_load_ratio(self) -> float:
        """Max utilisation with hashing over max utilisation with a perfect (fluid) weighted split."""
        r = self.routed & (self.fluid_load > 0)
        if not r.any():
            return 1.0
        return float(np.max(self.load[self.routed] / self.cap[self.routed]) /
                     np.max(self.fluid_load[r] / self.cap[r]))

    @property
    def collisions(self) -> int:
        """Flows beyond the fewest a link must carry: Σ max(0, flows − ceil(fluid flows)) over routed links."""
        need = np.ceil(self.fluid_count - 1e-9)
        return int(np.sum(np.maximum(0, self.count[self.routed] - need[self.routed])))

    @property
    def usable_share(self) -> float:
        """Σ min(load, capacity) / Σ min(fluid load, capacity) over routed links: the share of what a
        perfect split could carry that hashing still carries (a throughput bound)."""
        fl = np.minimum(self.fluid_load, self.cap)[self.routed].sum()
        if fl <= 0:
            return 1.0
        return float(np.minimum(self.load, self.cap)[self.routed].sum() / fl)


def fluid(tables: Tables, flows: Sequence[Flow], groups: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Expected load and flow count per link when every group splits exactly by weight."""
    net = tables.net
    load = np.zeros(len(tables.links))
    count = np.zeros(len(tables.links))
    by_sw: dict[tuple[str, str], list[tuple[int, str, float]]] = {}
    port_key = {(u, m.port): (v, m.key) for u in net.adj for v, ms in net.adj[u].items() for m in ms}
    for g in groups:
        tot = sum(h["weight"] for h in g["next_hops"])
        lst = []
        for h in g["next_hops"]:
            v, mkey = port_key[(g["switch"], h["port"])]
            lst.append((tables.link_id[(g["switch"], v, mkey)], v, h["weight"] / tot))
        by_sw[(g["switch"], g["dst"])] = lst
    inj: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for f in flows:
        for acc in (net.access(f.src, outbound=True), net.access(f.dst, outbound=False)):
            if acc is not None:
                lid = tables.link_id[(acc[0], acc[1], net.members(*acc)[0].key)]
                load[lid] += f.rate_gbps
                count[lid] += 1
        start, dkey = net.inject(f.src), net.dst_key(f.dst)
        if start != dkey:
            acc_x = inj[dkey][start]
            acc_x[0] += f.rate_gbps
            acc_x[1] += 1
    for key, srcs in inj.items():
        thr: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(2))
        for src_node, rc in srcs.items():
            thr[src_node] += np.asarray(rc)
        order = net.order(key, net.region(key, set(srcs)) | set(thr))
        seen = set()
        for u in order:
            if u == key or u in seen or u not in thr:
                continue
            seen.add(u)
            x = thr[u]
            for lid, v, share in by_sw.get((u, key), ()):
                load[lid] += x[0] * share
                count[lid] += x[1] * share
                thr[v] = thr[v] + x * share
    return load, count


def simulate(fabric: Fabric, demand: Demand, groups: Sequence[dict[str, Any]], cfg: HashConfig | None = None, *,
             tables: Tables | None = None, record_paths: bool = False, with_fluid: bool = True) -> SimResult:
    """Hash every flow hop by hop through ``groups`` (numba) and return per-link loads.

    >>> from fabric.builders import clos
    >>> from fabric.traffic import permutation
    >>> from fabric.wcmp import solve
    >>> fab = clos(2, 4, 4, 4)
    >>> d = permutation(fab, fab.endpoints(), 100, seed=1)
    >>> r = simulate(fab, d, solve(fab, d).groups)
    >>> int(r.count.sum()) > 0, r.max_load_ratio >= 1.0
    (True, True)
    """
    cfg = cfg or HashConfig()
    t = tables or Tables(fabric, groups, cfg)
    a = t.flow_arrays(demand.flows)
    paths = np.full((len(demand.flows) if record_paths else 1, MAX_HOPS), -1, dtype=np.int64)
    t0 = time.perf_counter()
    load, count, bad = _simulate(t.kind, cfg.use_qp, a["sip"], a["dip"], a["sport"], a["dport"], a["qp"], a["rate"],
                                 a["start"], a["dnode"], a["dcol"], a["acc_out"], a["acc_in"], t.table, t.g_off, t.g_len,
                                 t.e_next, t.e_link, t.seeds, t.cx, t.trow, t.tz, CRC_TABLE, len(t.links), record_paths, paths)
    secs = time.perf_counter() - t0
    if bad >= 0:
        f = demand.flows[bad]
        raise InfeasibleError(f"flow {f.src} -> {f.dst} (sport {f.sport}) reached a switch without a group for "
                              f"its destination or looped", where="qp_ports")
    routed = _routed_mask(t)
    if with_fluid:
        fl, fc = fluid(t, demand.flows, groups)
    else:
        fl, fc = np.zeros(len(t.links)), np.zeros(len(t.links))
    return SimResult(load, count, fl, fc, routed, t.cap, secs, paths if record_paths else None)


def simulate_indexed(t: Tables, endpoints: Sequence[str], src: np.ndarray, dst: np.ndarray, sport: np.ndarray,
                     rate: np.ndarray, dport: int = 4791) -> tuple[np.ndarray, np.ndarray, float]:
    """Vectorised entry for large flow sets: flow i goes from ``endpoints[src[i]]`` to
    ``endpoints[dst[i]]``. Returns (load, count, kernel seconds); no Flow objects are built."""
    per = t.flow_arrays([Flow(e, e, 1.0, 0) for e in endpoints])  # per-endpoint columns
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    m = src.shape[0]
    t0 = time.perf_counter()
    load, count, bad = _simulate(t.kind, t.cfg.use_qp, per["sip"][src], per["dip"][dst], np.asarray(sport, np.int64),
                                 np.full(m, dport, np.int64), np.zeros(m, np.int64), np.asarray(rate, np.float64),
                                 per["start"][src], per["dnode"][dst], per["dcol"][dst], per["acc_out"][src],
                                 per["acc_in"][dst], t.table, t.g_off, t.g_len, t.e_next, t.e_link, t.seeds, t.cx, t.trow,
                                 t.tz, CRC_TABLE, len(t.links), False, np.full((1, MAX_HOPS), -1, dtype=np.int64))
    secs = time.perf_counter() - t0
    if bad >= 0:
        raise InfeasibleError(f"flow {endpoints[src[bad]]} -> {endpoints[dst[bad]]} found no group", where="hashing")
    return load, count, secs


def _routed_mask(t: Tables) -> np.ndarray:
    net = t.net
    fixed = set()
    for e in net.fabric.endpoints():
        for outbound in (True, False):
            acc = net.access(e, outbound=outbound)
            if acc is not None:
                for m in net.members(*acc):
                    fixed.add(t.link_id[(acc[0], acc[1], m.key)])
    mask = np.ones(len(t.links), dtype=bool)
    if fixed:
        mask[list(fixed)] = False
    return mask


def simulate_reference(fabric: Fabric, demand: Demand, groups: Sequence[dict[str, Any]],
                       cfg: HashConfig | None = None) -> dict[tuple[str, str, int], float]:
    """Pure-Python reference of :func:`simulate` (hashes with zlib / plain Python): loads per link."""
    cfg = cfg or HashConfig()
    net = Network(fabric)
    port_key = {(u, m.port): (v, m.key) for u in net.adj for v, ms in net.adj[u].items() for m in ms}
    table: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for g in groups:
        entries = []
        for h in g["next_hops"]:
            entries += [port_key[(g["switch"], h["port"])]] * int(h["weight"])
        table[(g["switch"], g["dst"])] = entries
    load: dict[tuple[str, str, int], float] = defaultdict(float)
    for f in demand.flows:
        for acc in (net.access(f.src, outbound=True), net.access(f.dst, outbound=False)):
            if acc is not None:
                load[(acc[0], acc[1], net.members(*acc)[0].key)] += f.rate_gbps
        node, key = net.inject(f.src), net.dst_key(f.dst)
        hops = 0
        while node != key:
            entries = table[(node, key)]
            v, k = entries[switch_hash(cfg, node, f) % len(entries)]
            load[(node, v, k)] += f.rate_gbps
            node = v
            hops += 1
            if hops > MAX_HOPS:
                raise InfeasibleError("loop in the reference simulation")
    return dict(load)
