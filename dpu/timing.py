"""Per-packet timing model of a DPU datapath (numba): does a :class:`~dpu.spec.DpuSpec` hold 400 Gb/s
at <= 30 us one-way?

Per packet ``i`` (times in ns):

1. arrives on the wire: first bit at ``t_i``; arrival times come from a profile at a load (fraction
   of line rate; deterministic gaps or Poisson idle gaps) or from a pcap's sizes and gaps;
2. is fully received after serialisation ``8 L_i / rate`` plus MAC/PHY/FEC latency: ``a_i``;
3. is hashed (RSS over its flow) to a fast-path engine, or with probability ``exception_fraction``
   to an exception core; each engine is a FIFO server (Lindley recursion
   ``start = max(a_i, end of previous packet on that engine)``), dropping when its queue holds
   ``*_queue_packets`` packets; a pipelined engine adds a pure pipeline delay after its occupancy;
4. optionally passes the shared inline-crypto engine (in order);
5. is DMA'd to host memory over PCIe, in arrival order (a reorder buffer: packets leave in the order
   they came, so ``start = max(ready_i, end_{i-1})``), bandwidth from lanes x GT/s x encoding and the
   TLP overheads; the shared packet buffer drops a packet whose arrival finds it full;
6. is in host memory after the PCIe latency. One-way latency = that time - ``t_i``.

Exception-path packets use DMA bandwidth (reserved at arrival) but are delivered out of band (they
do not hold up the in-order fast path). The simulation runs in chunks with state carried over, so
memory stays flat for a second of 400G (33 M packets); latency percentiles come from a 1 ns
histogram (to 1 ms) plus a 1 us histogram (to 1 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from dpu.hashmix import GOLDEN_GAMMA, fmix64
from dpu.spec import TARGET_GBPS, TARGET_LATENCY_US, DpuSpec
from fabric.constants import ETHERNET_WIRE_OVERHEAD_BYTES
from fabric.errors import ConfigError

#: Frame-size profiles: (sizes in bytes, probabilities). Sources: REFERENCE.md line-rate rows (64 B,
#: 1500 B); "simple IMIX" 64/594/1518 B at 7:4:1 (the common tester profile, cf. RFC 6985 for IMIX
#: definitions); RoCEv2 with a 4096 B MTU: payload + Eth 14 + IPv4 20 + UDP 8 + BTH 12 + ICRC 4 + FCS 4.
PROFILES: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "64": ((64,), (1.0,)),
    "1500": ((1500,), (1.0,)),
    "imix": ((64, 594, 1518), (7 / 12, 4 / 12, 1 / 12)),
    "roce4k": ((4096 + 62,), (1.0,)),
}
#: Flows in generated traffic (RSS spreads flows, not packets). *assumption*: 4096 concurrent flows;
#: override with ``flows=`` (a single RoCE QP is 1).
DEFAULT_FLOWS = 4096
#: Traffic profile of a check when none is given: the simple IMIX above (*assumption*: a mix of sizes,
#: the usual tester default, rather than the 64 B worst case).
DEFAULT_PROFILE = "imix"
#: Packets one check simulates (*assumption*: 10^6 packets put about 1,000 samples above the p99.9).
DEFAULT_PACKETS = 1_000_000
#: Offered load as a fraction of line rate: 1.0, line rate, which is what the 400 Gb/s target asks.
DEFAULT_LOAD = 1.0
#: Arrival processes of generated traffic: Poisson (random idle gaps) or deterministic (evenly spaced).
ARRIVALS = ("poisson", "deterministic")
#: Default arrivals (*assumption*: a real link's gaps are closer to random than to evenly spaced).
DEFAULT_ARRIVALS = "poisson"
#: Seed of generated traffic (*assumption*: any fixed seed, so that a check is reproducible).
DEFAULT_SEED = 0
CHUNK = 1 << 20
HIST_BINS = 1 << 20  # fine: 1 ns bins to 1.05 ms; coarse: 1 us bins to 1.05 s

# parameter vector indices
(P_LINE, P_OCC_A, P_OCC_B, P_DELAY, P_EXC_A, P_EXC_B, P_CRYPTO_NS_PER_B, P_DMA_PACK, P_DMA_MPS, P_DMA_TLP,
 P_DMA_OVH, P_DMA_NS_PER_B, P_PCIE_LAT, P_MACPHY, P_BUFFER, P_ENG_CAP, P_EXC_CAP, NPAR) = range(18)
# stats vector indices
(S_DELIVERED, S_FRAME_BYTES, S_WIRE_BYTES, S_DROP_ENG, S_DROP_EXC, S_DROP_BUF, S_LAT_SUM, S_LAT_MAX,
 S_FIRST_T, S_LAST_DONE, S_WAIT_ENG, S_WAIT_EXC, S_WAIT_CRYPTO, S_WAIT_DMA, S_BUSY_CRYPTO, S_BUSY_DMA,
 S_OFFERED, S_OFFERED_WIRE_BYTES, S_LAST_ARRIVAL, S_N_EXC, S_DMA_LAST, S_CRYPTO_LAST, S_T_NEXT,
 NSTAT) = range(24)

STAGES = ("engines", "exception", "crypto", "pcie_dma")


# ---------------------------------------------------------------------------------------- kernels


@njit(cache=True, inline="always")
def _rand(state):  # pragma: no cover - numba
    """splitmix64 step (Steele et al., OOPSLA 2014): a fast seeded generator; returns 64 random bits."""
    state[0] += np.uint64(GOLDEN_GAMMA)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _uniform(state):  # pragma: no cover - numba
    return np.float64(_rand(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)



@njit(cache=True)
def gen_chunk(n, t_start, load, poisson, line_gbps, sizes, cum, n_flows, engines, exc_cores, exc_frac,
              crypto_frac, state, t0, length, lane, path):  # pragma: no cover - numba
    """Fill ``n`` packets of generated traffic; returns the first-bit time of the next packet."""
    t = t_start
    nf = np.uint64(n_flows)
    ne = np.uint64(engines)
    nx = np.uint64(exc_cores)
    one_size = sizes.shape[0] == 1
    for i in range(n):
        k = 0
        if not one_size:
            u = _uniform(state)
            while k < sizes.shape[0] - 1 and u > cum[k]:
                k += 1
        L = sizes[k]
        wire_ns = (L + 20) * 8.0 / line_gbps
        t0[i] = t
        length[i] = L
        h = fmix64(_rand(state) % nf + np.uint64(GOLDEN_GAMMA))
        p = 0
        if exc_frac > 0.0 and _uniform(state) < exc_frac:
            p = 1
            lane[i] = np.int64(h % nx)
        else:
            lane[i] = np.int64(h % ne)
        if crypto_frac > 0.0 and _uniform(state) < crypto_frac:
            p |= 2
        path[i] = p
        if poisson and load < 1.0:
            t += wire_ns - wire_ns * (1.0 / load - 1.0) * math.log(1.0 - _uniform(state))
        else:
            t += wire_ns / load
    return t


@njit(cache=True)
def sim_chunk(t0, length, lane, path, par, st, last_eng, ring_eng, head_eng, busy_eng, last_exc, ring_exc,
              head_exc, busy_exc, hist_f, hist_c):  # pragma: no cover - numba
    """Run packets through the stages; all state lives in the arrays passed in (chunks chain)."""
    line = par[P_LINE]
    eng_cap = np.int64(par[P_ENG_CAP])
    exc_cap = np.int64(par[P_EXC_CAP])
    dma_last = st[S_DMA_LAST]
    crypto_last = st[S_CRYPTO_LAST]
    for i in range(t0.shape[0]):
        t = t0[i]
        L = length[i]
        e = lane[i]
        st[S_OFFERED] += 1
        st[S_OFFERED_WIRE_BYTES] += L + 20
        if st[S_OFFERED] == 1:
            st[S_FIRST_T] = t
        a = t + L * 8.0 / line + par[P_MACPHY]
        st[S_LAST_ARRIVAL] = a
        if par[P_DMA_PACK] > 0:
            dma_b = L * (1.0 + par[P_DMA_TLP] / par[P_DMA_MPS]) + par[P_DMA_OVH]
        else:
            dma_b = L + math.ceil(L / par[P_DMA_MPS]) * par[P_DMA_TLP] + par[P_DMA_OVH]
        dma_s = dma_b * par[P_DMA_NS_PER_B]
        backlog = dma_last - a
        if backlog > 0.0 and backlog / par[P_DMA_NS_PER_B] + L > par[P_BUFFER]:
            st[S_DROP_BUF] += 1
            continue
        if path[i] & 1:  # exception path: out of band, uses DMA bandwidth
            if exc_cap > 0 and ring_exc[e, head_exc[e]] > a:
                st[S_DROP_EXC] += 1
                continue
            s = par[P_EXC_A] + par[P_EXC_B] * L
            start = max(a, last_exc[e])
            end = start + s
            last_exc[e] = end
            busy_exc[e] += s
            if exc_cap > 0:
                ring_exc[e, head_exc[e]] = end
                head_exc[e] = (head_exc[e] + 1) % exc_cap
            st[S_WAIT_EXC] += start - a
            st[S_N_EXC] += 1
            dma_last = max(dma_last, a) + dma_s
            st[S_BUSY_DMA] += dma_s
            done = end + dma_s + par[P_PCIE_LAT]
        else:
            if eng_cap > 0 and ring_eng[e, head_eng[e]] > a:
                st[S_DROP_ENG] += 1
                continue
            s = par[P_OCC_A] + par[P_OCC_B] * L
            start = max(a, last_eng[e])
            end = start + s
            last_eng[e] = end
            busy_eng[e] += s
            if eng_cap > 0:
                ring_eng[e, head_eng[e]] = end
                head_eng[e] = (head_eng[e] + 1) % eng_cap
            st[S_WAIT_ENG] += start - a
            ready = end + par[P_DELAY]
            if path[i] & 2:
                cs = max(ready, crypto_last)
                cy = L * par[P_CRYPTO_NS_PER_B]
                crypto_last = cs + cy
                st[S_WAIT_CRYPTO] += cs - ready
                st[S_BUSY_CRYPTO] += cy
                ready = crypto_last
            ds = max(ready, dma_last)
            dma_last = ds + dma_s
            st[S_WAIT_DMA] += ds - ready
            st[S_BUSY_DMA] += dma_s
            done = dma_last + par[P_PCIE_LAT]
        lat = done - t
        st[S_DELIVERED] += 1
        st[S_FRAME_BYTES] += L
        st[S_WIRE_BYTES] += L + 20
        st[S_LAT_SUM] += lat
        if lat > st[S_LAT_MAX]:
            st[S_LAT_MAX] = lat
        if done > st[S_LAST_DONE]:
            st[S_LAST_DONE] = done
        b = np.int64(lat)
        if b < hist_f.shape[0]:
            hist_f[b] += 1
        else:
            c = min(np.int64(lat / 1000.0), hist_c.shape[0] - 1)
            hist_c[c] += 1
    st[S_DMA_LAST] = dma_last
    st[S_CRYPTO_LAST] = crypto_last


@njit(cache=True)
def lindley(arrivals, service):  # pragma: no cover - numba
    """Waiting times of a single FIFO server: ``w_{n+1} = max(0, w_n + s_n - (a_{n+1} - a_n))``."""
    n = arrivals.shape[0]
    w = np.zeros(n)
    for i in range(1, n):
        w[i] = max(0.0, w[i - 1] + service[i - 1] - (arrivals[i] - arrivals[i - 1]))
    return w


# ------------------------------------------------------------------------------------------- model


def spec_params(spec: DpuSpec) -> np.ndarray:
    """The spec as the kernel's parameter vector (ns, bytes)."""
    par = np.zeros(NPAR)
    clk = spec.engine_clock_ghz
    total_fixed = spec.engine_total_cycles(0.0)
    par[P_LINE] = spec.line_rate_gbps
    if spec.engine_pipelined:
        par[P_OCC_A] = spec.initiation_cycles / clk
        par[P_DELAY] = max(0.0, (total_fixed - spec.initiation_cycles) / clk)
    else:
        par[P_OCC_A] = total_fixed / clk
    par[P_OCC_B] = spec.cycles_per_byte / clk
    par[P_EXC_A] = spec.exception_cycles_per_packet / spec.exception_clock_ghz
    par[P_EXC_B] = spec.exception_cycles_per_byte / spec.exception_clock_ghz
    par[P_CRYPTO_NS_PER_B] = 8.0 / spec.crypto_gbps
    par[P_DMA_PACK] = 1.0 if spec.dma_packing else 0.0
    par[P_DMA_MPS] = spec.pcie_mps_bytes
    par[P_DMA_TLP] = spec.pcie_tlp_overhead_bytes
    par[P_DMA_OVH] = spec.dma_overhead_bytes_per_packet
    par[P_DMA_NS_PER_B] = 8.0 / spec.pcie_raw_gbps
    par[P_PCIE_LAT] = spec.pcie_latency_us * 1000.0
    par[P_MACPHY] = spec.mac_phy_latency_us * 1000.0
    par[P_BUFFER] = spec.buffer_bytes
    par[P_ENG_CAP] = spec.engine_queue_packets
    par[P_EXC_CAP] = spec.exception_queue_packets
    return par


@dataclass
class Traffic:
    """Where packets come from: a named profile, or explicit arrays (pcap, tests)."""

    name: str
    sizes: tuple[int, ...] = ()
    probs: tuple[float, ...] = ()
    # explicit trace (first-bit times ns, frame bytes, flow hash); gaps scaled to the load when given
    t0_ns: np.ndarray | None = None
    length: np.ndarray | None = None
    flow_hash: np.ndarray | None = None

    @property
    def mean_frame_bytes(self) -> float:
        if self.length is not None:
            return float(self.length.mean()) if len(self.length) else 0.0
        return float(np.dot(self.sizes, self.probs))


def profile(name: str) -> Traffic:
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r} (64, 1500, imix, roce4k or a pcap file)", where="--profile")
    s, p = PROFILES[name]
    return Traffic(name, s, p)


def pcap_traffic(path: str) -> Traffic:
    """Sizes and gaps of a capture; flows from the parsed 5-tuple (RSS input)."""
    from dpu.packets import read_pcap, require_ethernet
    from dpu.parse import parse

    batch = require_ethernet(read_pcap(path))
    if len(batch) == 0:
        raise ConfigError("capture has no packets", file=str(path))
    res = parse(batch)
    h = np.zeros(len(batch), dtype=np.uint64)
    for col in ("ip_src0", "ip_src1", "ip_src2", "ip_src3", "ip_dst0", "ip_dst1", "ip_dst2", "ip_dst3",
                "ip_proto", "l4_sport", "l4_dport"):
        h = (h * np.uint64(0x100000001B3)) ^ res[col].astype(np.uint64)
    ts = batch.timestamps_ns.astype(np.float64)
    return Traffic(f"pcap:{path}", t0_ns=ts - ts[0], length=batch.wire_lengths.astype(np.int64), flow_hash=h)


@dataclass
class SimResult:
    spec: str
    traffic: str
    load: float | None
    packets: int
    stats: np.ndarray
    hist_f: np.ndarray
    hist_c: np.ndarray
    busy_eng: np.ndarray
    busy_exc: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return int(self.stats[S_DELIVERED])

    @property
    def dropped(self) -> int:
        return int(self.stats[S_DROP_ENG] + self.stats[S_DROP_EXC] + self.stats[S_DROP_BUF])

    @property
    def duration_ns(self) -> float:
        """Offered window: first bit of the first packet to the last arrival."""
        return max(1e-9, self.stats[S_LAST_ARRIVAL] - self.stats[S_FIRST_T])

    def percentile_us(self, q: float) -> float:
        n = self.delivered
        if n == 0:
            return 0.0
        need = math.ceil(q * n)
        cf = np.cumsum(self.hist_f)
        if cf[-1] >= need:
            return float(np.searchsorted(cf, need)) / 1000.0
        cc = np.cumsum(self.hist_c) + cf[-1]
        return float(np.searchsorted(cc, need) + 1)  # 1 us bins

    def utilisation(self) -> dict[str, float]:
        d = self.duration_ns
        return {"engines": float(self.busy_eng.max() / d) if self.busy_eng.size else 0.0,
                "exception": float(self.busy_exc.max() / d) if self.busy_exc.size else 0.0,
                "crypto": float(self.stats[S_BUSY_CRYPTO] / d),
                "pcie_dma": float(self.stats[S_BUSY_DMA] / d)}

    def mean_wait_us(self) -> dict[str, float]:
        n = max(1, self.delivered)
        ne = max(1.0, self.stats[S_N_EXC])
        return {"engines": float(self.stats[S_WAIT_ENG] / max(1.0, n - self.stats[S_N_EXC]) / 1000),
                "exception": float(self.stats[S_WAIT_EXC] / ne / 1000),
                "crypto": float(self.stats[S_WAIT_CRYPTO] / n / 1000),
                "pcie_dma": float(self.stats[S_WAIT_DMA] / n / 1000)}

    def summary(self) -> dict[str, Any]:
        d = self.duration_ns
        return {
            "throughput_gbps": float(self.stats[S_WIRE_BYTES] * 8 / d),
            "frame_gbps": float(self.stats[S_FRAME_BYTES] * 8 / d),
            "offered_gbps": float(self.stats[S_OFFERED_WIRE_BYTES] * 8 / d),
            "mpps": float(self.delivered / d * 1000),
            "latency_us": {"p50": self.percentile_us(0.5), "p99": self.percentile_us(0.99),
                           "p999": self.percentile_us(0.999), "max": float(self.stats[S_LAT_MAX] / 1000),
                           "mean": float(self.stats[S_LAT_SUM] / max(1, self.delivered) / 1000)},
            "dropped": self.dropped,
            "dropped_by_stage": {"engines": int(self.stats[S_DROP_ENG]), "exception": int(self.stats[S_DROP_EXC]),
                                 "buffer": int(self.stats[S_DROP_BUF])},
            "packets": int(self.stats[S_OFFERED]),
            "delivered": self.delivered,
            "simulated_us": d / 1000,
            "utilisation": self.utilisation(),
            "mean_wait_us": self.mean_wait_us(),
        }


def simulate(spec: DpuSpec, traffic: Traffic, load: float | None = DEFAULT_LOAD, packets: int = DEFAULT_PACKETS, *,
             seed: int = DEFAULT_SEED, poisson: bool = DEFAULT_ARRIVALS == "poisson", flows: int = DEFAULT_FLOWS, chunk: int = CHUNK) -> SimResult:
    """Simulate ``packets`` packets of ``traffic`` at ``load`` x line rate through ``spec``.

    ``load=None`` (explicit traces only) keeps the trace's own gaps.
    """
    if load is None and traffic.t0_ns is None:
        load = 1.0
    if load is not None and not 0 < load <= 1.0:
        raise ConfigError(f"load must be in (0, 1], got {load}", where="--load")
    if flows < 1:
        raise ConfigError(f"flows must be >= 1, got {flows}", where="--flows")
    par = spec_params(spec)
    st = np.zeros(NSTAT)
    E, X = spec.engines, spec.exception_cores
    ring_eng = np.zeros((E, max(1, spec.engine_queue_packets)))
    ring_exc = np.zeros((X, max(1, spec.exception_queue_packets)))
    head_eng, head_exc = np.zeros(E, np.int64), np.zeros(X, np.int64)
    last_eng, last_exc = np.zeros(E), np.zeros(X)
    busy_eng, busy_exc = np.zeros(E), np.zeros(X)
    hist_f, hist_c = np.zeros(HIST_BINS, np.int64), np.zeros(HIST_BINS, np.int64)
    state = np.array([seed], dtype=np.uint64)
    rng = np.random.default_rng(seed)
    if traffic.t0_ns is None:
        sizes = np.asarray(traffic.sizes, dtype=np.int64)
        cum = np.cumsum(np.asarray(traffic.probs, dtype=np.float64))
        t0 = np.empty(min(chunk, packets))
        length = np.empty(min(chunk, packets), np.int64)
        lane = np.empty(min(chunk, packets), np.int64)
        path = np.empty(min(chunk, packets), np.int8)
        t = 0.0
        done = 0
        while done < packets:
            n = min(chunk, packets - done)
            t = gen_chunk(n, t, float(load or 1.0), poisson, spec.line_rate_gbps, sizes, cum, flows, E, X,
                          spec.exception_fraction, spec.crypto_fraction, state, t0, length, lane, path)
            sim_chunk(t0[:n], length[:n], lane[:n], path[:n], par, st, last_eng, ring_eng, head_eng, busy_eng,
                      last_exc, ring_exc, head_exc, busy_exc, hist_f, hist_c)
            done += n
    else:
        t0, length, lane, path = trace_arrays(spec, traffic, load, packets, rng)
        sim_chunk(t0, length, lane, path, par, st, last_eng, ring_eng, head_eng, busy_eng, last_exc, ring_exc,
                  head_exc, busy_exc, hist_f, hist_c)
    return SimResult(spec.name, traffic.name, load, packets, st, hist_f, hist_c, busy_eng, busy_exc)


def trace_arrays(spec: DpuSpec, traffic: Traffic, load: float | None, packets: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrays for an explicit trace, repeated to ``packets``. A gap is the packet's wire time at our
    line rate plus the trace's idle time after it; with a ``load`` the idle times are scaled so the
    offered rate is ``load`` x line rate."""
    assert traffic.length is not None and traffic.t0_ns is not None and traffic.flow_hash is not None
    m = len(traffic.length)
    reps = max(1, math.ceil(packets / m))
    length = np.tile(traffic.length, reps)[:packets].astype(np.int64)
    gaps = np.diff(traffic.t0_ns)
    gaps = np.concatenate([gaps, [np.median(gaps) if len(gaps) else 0.0]])
    gaps = np.tile(gaps, reps)[:packets].astype(np.float64)
    wire = (length + ETHERNET_WIRE_OVERHEAD_BYTES) * 8.0 / spec.line_rate_gbps
    idle = np.maximum(gaps - wire, 0.0)  # the trace's idle time after each packet, at our line rate
    if load is not None:  # keep the idle pattern, scale it so the offered rate is load x line rate
        want = wire.sum() * (1.0 / load - 1.0)
        idle = idle * (want / idle.sum()) if idle.sum() > 0 else np.full(len(idle), want / len(idle))
    gaps = wire + idle
    t0 = np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    fh = np.tile(traffic.flow_hash, reps)[:packets]
    exc = rng.random(packets) < spec.exception_fraction
    lane = np.where(exc, fh % np.uint64(spec.exception_cores), fh % np.uint64(spec.engines)).astype(np.int64)
    path = exc.astype(np.int8)
    if spec.crypto_fraction > 0:
        path |= (rng.random(packets) < spec.crypto_fraction).astype(np.int8) << 1
    return t0, length, lane, path


def stage_capacities(spec: DpuSpec, traffic: Traffic) -> dict[str, dict[str, float]]:
    """Analytic capacity of each stage for the traffic's mean frame, in line-rate Gb/s and Mpps."""
    L = traffic.mean_frame_bytes
    if traffic.length is not None:
        occ = float(np.mean([spec.engine_occupancy_ns(x) for x in np.unique(traffic.length)]))
        dma = float(np.mean([spec.dma_ns(x) for x in traffic.length[:10000]]))
    else:
        occ = float(sum(p * spec.engine_occupancy_ns(s) for s, p in zip(traffic.sizes, traffic.probs, strict=True)))
        dma = float(sum(p * spec.dma_ns(s) for s, p in zip(traffic.sizes, traffic.probs, strict=True)))
    wire_bits = (L + ETHERNET_WIRE_OVERHEAD_BYTES) * 8
    fast = 1 - spec.exception_fraction
    out = {"engines": spec.engines / occ * 1e3 / fast if occ else math.inf,
           "exception": (spec.exception_cores / spec.exception_ns(L) * 1e3 / spec.exception_fraction
                         if spec.exception_fraction else math.inf),
           "crypto": (spec.crypto_gbps / (L * 8) * 1e3 / spec.crypto_fraction if spec.crypto_fraction else math.inf),
           "pcie_dma": 1e3 / dma}
    return {k: {"mpps": v, "gbps": v * wire_bits / 1e3} for k, v in out.items()}


def why_not_sustainable(res: SimResult, target_us: float) -> str | None:
    """None when the run is sustainable (no drops, p99.9 <= target, every stage below 100%), else why."""
    s = res.summary()
    util = s["utilisation"]
    worst = max(util, key=lambda k: util[k])
    if util[worst] >= 1.0:
        return f"{worst} saturates (utilisation {util[worst]:.2f} at load {res.load})"
    if s["dropped"]:
        by = {k: v for k, v in s["dropped_by_stage"].items() if v}
        return f"drops at load {res.load} (" + ", ".join(f"{k} queue {v}" for k, v in by.items()) + ")"
    if s["latency_us"]["p999"] > target_us:
        waits = s["mean_wait_us"]
        q = max(waits, key=lambda k: waits[k])
        return (f"p99.9 {s['latency_us']['p999']:.2f} us > {target_us:g} us at load {res.load}, "
                f"queueing in {q} (mean wait {waits[q]:.2f} us, utilisation {util[q]:.2f})")
    return None


def max_sustainable(spec: DpuSpec, traffic: Traffic, *, packets: int = 200_000, seed: int = DEFAULT_SEED,
                    poisson: bool = DEFAULT_ARRIVALS == "poisson", flows: int = DEFAULT_FLOWS, target_us: float = TARGET_LATENCY_US,
                    iterations: int = 10) -> tuple[float, str | None]:
    """Highest offered load (line-rate Gb/s) with no drops, p99.9 <= target and every stage below 100%
    utilisation, by bisection on the load (upper bound: line rate); with the reason the next higher
    load tried failed (None when line rate is sustainable)."""

    def why(load: float) -> str | None:
        res = simulate(spec, traffic, load, packets, seed=seed, poisson=poisson, flows=flows)
        return why_not_sustainable(res, target_us)

    first = why(1.0)
    if first is None:
        return spec.line_rate_gbps, None
    lo, hi, reason = 0.0, 1.0, first
    for _ in range(iterations):
        mid = (lo + hi) / 2
        r = why(mid)
        if r is None:
            lo = mid
        else:
            hi, reason = mid, r
    return lo * spec.line_rate_gbps, reason


def max_sustainable_gbps(spec: DpuSpec, traffic: Traffic, **kw: Any) -> float:
    return max_sustainable(spec, traffic, **kw)[0]


def check(spec: DpuSpec, traffic: Traffic, load: float | None = DEFAULT_LOAD, packets: int = DEFAULT_PACKETS, *,
          seed: int = DEFAULT_SEED, poisson: bool = DEFAULT_ARRIVALS == "poisson", flows: int = DEFAULT_FLOWS, target_gbps: float = TARGET_GBPS,
          target_us: float = TARGET_LATENCY_US, search_packets: int = 200_000) -> dict[str, Any]:
    """Simulate at ``load`` and search the max sustainable load; verdict against the targets."""
    res = simulate(spec, traffic, load, packets, seed=seed, poisson=poisson, flows=flows)
    s = res.summary()
    msg, limit = max_sustainable(spec, traffic, packets=search_packets, seed=seed,
                                 poisson=poisson, flows=flows, target_us=target_us)
    caps = stage_capacities(spec, traffic)
    meets_400g = spec.line_rate_gbps >= target_gbps and msg >= target_gbps * (1 - 1e-9)
    meets_30us = s["latency_us"]["p999"] <= target_us and s["dropped"] == 0
    reasons = []
    if spec.line_rate_gbps < target_gbps:
        reasons.append(f"line rate {spec.line_rate_gbps:g} Gb/s is below {target_gbps:g} Gb/s")
    util = s["utilisation"]
    worst = max(util, key=lambda k: util[k])
    if not meets_400g:
        reasons.append(f"max sustainable {msg:.1f} Gb/s < {target_gbps:g} Gb/s: {limit}")
    if not meets_30us:
        here = why_not_sustainable(res, target_us)
        reasons.append(f"at load {load}: {here}")
    verdict = "pass" if meets_400g and meets_30us else "fail"
    return {
        "spec": spec.name,
        "profile": traffic.name,
        "load": load,
        **s,
        "max_sustainable_gbps": msg,
        "meets_400g": bool(meets_400g),
        "meets_30us": bool(meets_30us),
        "verdict": verdict,
        "reason": "; ".join(reasons) if reasons else (
            f"holds {target_gbps:g} Gb/s with p99.9 {s['latency_us']['p999']:.2f} us <= {target_us:g} us; "
            f"busiest stage {worst} at {util[worst]:.2f}"),
        "stage_capacity": {k: {m: (None if math.isinf(x) else x) for m, x in v.items()} for k, v in caps.items()},
        "latency_criterion": "p999",
        "targets": {"gbps": target_gbps, "latency_us": target_us},
    }
