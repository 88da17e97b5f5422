"""Packet-level discrete-event model of a small leaf-spine fabric (numba kernel in :mod:`.kernel`).

Model (each simplification is a stated assumption):

- Every link is two directed links, each with an egress FIFO at its sender, a transmitter at the
  link's rate (``bytes / rate`` per packet) and a one-way delay = cable propagation (cable length
  from :func:`fabric.cc.cable_m_of`) + a per-hop forwarding latency (:data:`fabric.cc.SWITCH_HOP_US`).
- Switch buffer: one shared pool per switch = buffer − lossless headroom reserved on its ports.
  Dynamic threshold (``dyn_alpha``, :data:`fabric.cc.DEFAULT_DYNAMIC_ALPHA`, *assumption* 1/8): with PFC an
  ingress port pauses its upstream when its buffered bytes reach dyn_alpha·(free shared buffer);
  pause and resume frames take the cable's delay (MAC frames skip the forwarding latency); bytes
  beyond the pause level + xoff
  (headroom) are dropped and counted as ``headroom_overflows``. Without PFC an egress queue drops
  above dyn_alpha·(free shared buffer). One lossless priority carries data; CNPs and ACKs are
  control frames that are neither queued nor paused (they arrive after the path's one-way delay).
- Two traffic classes per port, served round-robin: lossless (the plan's lossless priorities,
  paused by PFC per class) and lossy (everything else: dropped at the dynamic threshold, never
  paused), so a pause on the RoCE priority does not stop other traffic.
- ECN: RED-style marking at egress enqueue (0 below Kmin, linear to Pmax at Kmax, 1 above) with
  per-port Kmin/Kmax/Pmax from the plan's port group; ``ecn_mark_at="dequeue"`` marks instead when a
  packet leaves a switch queue, on the queue it leaves behind (marks stop as soon as the queue falls
  below Kmin instead of one queue-drain time later).
- Flows (:class:`fabric.ccsim.flows.Flow`): bytes from one endpoint to another from a start time,
  on an 802.1p priority (lossless class or lossy class), ECMP path from a hash of the flow (its UDP
  source port when it has one); :func:`simulate` also takes a ``fabric.traffic.Demand``
  (:func:`fabric.ccsim.flows.flows_from_demand`).
- NICs: flows start at line rate; a NIC queue of ``nic_queue_pkts`` packets per host port.
  ``dcqcn``: rate-based RP (CNP cut, alpha timer, byte counter + timer increase with fast recovery,
  additive and hyper increase), NP sends at most one CNP per flow per ``cnp_interval``. ConnectX
  firmware knobs (:class:`fabric.cc.Profile`): the first CNP sets α = initial_alpha (and starts the α
  timer) or the rate to rate_to_set_on_first_cnp; a cut is min(α·2^(10−rpg_gd), max cut); at most one
  cut per rate_reduce_monitor_period (later CNPs coalesce into one cut at the period's end); the
  target follows the current rate on a cut only with clamp_tgt_rate, or after a byte-counter
  increase, or a timer increase with clamp_tgt_rate_after_time_inc; a flow back at line rate leaves
  the rate limiter (its next CNP is a first CNP) with release_at_line_rate.
  ``dctcp``: window-based, per-ACK ECN echo, α per window, cut once per window.
  ``hpcc``: window-based from per-hop INT (queue/(B·T) + txRate/B, max over hops), η and maxStage.
  ``none``: line rate. Lost packets are counted, not retransmitted (a flow ends when every byte is
  delivered or lost).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from fabric.cc import (
    CABLE_SPEED_M_S,
    DEFAULT_DYNAMIC_ALPHA,
    DEFAULT_PROFILE,
    SWITCH_HOP_US,
    CcOptions,
    cable_m_of,
    plan_cc,
)
from fabric.ccsim import kernel as K
from fabric.ccsim.flows import DEFAULT_PRIORITY, Flow, as_flow, as_flows
from fabric.errors import ConfigError
from fabric.topology import ENDPOINT_ROLES, Fabric


@dataclass
class PacketConfig:
    cc: str = "dcqcn"
    pfc: bool = True
    ecn: bool | None = None           # default: on for dcqcn and dctcp
    profile: str = DEFAULT_PROFILE
    mtu_bytes: int = 4096             # RoCE MTU (assumption: 4096 B payload per packet)
    t_end_s: float = 2e-3
    samples: int = 400
    sample_dt_s: float | None = None  # default t_end_s / samples
    seed: int = 1
    dyn_alpha: float = DEFAULT_DYNAMIC_ALPHA
    switch_buffer_bytes: int | None = None
    nic_queue_pkts: int = 4
    max_packets: int = 1 << 18
    dctcp_g: float = 1 / 16
    ecn_override: dict[str, float] = field(default_factory=dict)     # kmin_bytes, kmax_bytes, pmax
    dcqcn_override: dict[str, float] = field(default_factory=dict)   # any dcqcn key of fabric.cc
    ecn_mark_at: str = "enqueue"      # "enqueue" (RED at egress enqueue) or "dequeue" (queue left behind)


@dataclass
class PacketResult:
    t_s: np.ndarray
    queue_bytes: np.ndarray       # (samples, directed links)
    rcv_bytes: np.ndarray         # (samples, flows)
    rate_Bps: np.ndarray          # (samples, flows): sender rate (DCQCN R_C, window/RTT)
    flows: list[Flow]
    finish_s: np.ndarray
    lost_bytes: np.ndarray
    sent_bytes: np.ndarray
    dl_names: list[str]
    max_queue_bytes: np.ndarray
    pause_frames: np.ndarray      # per directed link (frames its receiver sent upstream)
    paused_s: np.ndarray          # per directed link (time its sender was paused)
    drops_per_dl: np.ndarray
    stats: dict[str, int]
    ideal_fct_s: np.ndarray
    line_Bps: np.ndarray
    config: PacketConfig
    wall_s: float = 0.0
    delivered_bytes: np.ndarray | None = None   # per flow at the end of the run

    def metrics(self) -> dict[str, Any]:
        from fabric.ccsim.metrics import summarise

        return summarise(self)


def _hash(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode())


def build_network(fabric: Fabric, flows: list[Flow], cfg: PacketConfig, plan: dict[str, Any] | None = None):
    """Arrays for the kernel: directed links, nodes, flow paths, and the cc parameters used."""
    if cfg.cc not in K.CC_KINDS:
        raise ConfigError(f"unknown cc {cfg.cc!r} (expected one of {', '.join(K.CC_KINDS)})", where="--cc")
    if not flows:
        raise ConfigError("no flows to simulate")
    if cfg.ecn_mark_at not in ("enqueue", "dequeue"):
        raise ConfigError(f"ecn_mark_at must be 'enqueue' or 'dequeue', got {cfg.ecn_mark_at!r}")
    if plan is None:
        plan = plan_cc(fabric, CcOptions(profile=cfg.profile, switch_buffer_bytes=cfg.switch_buffer_bytes))
    port_group: dict[str, dict[str, Any]] = {}
    for grp in plan["port_groups"]:
        for p in grp["ports"]:
            port_group[p] = grp
    buffer_bytes = cfg.switch_buffer_bytes or plan["switch_buffer_bytes"]
    nodes = fabric.nodes()
    nid = {n: i for i, n in enumerate(nodes)}
    links = list(fabric.links(up_only=True))
    n_dl = 2 * len(links)
    dl_src = np.empty(n_dl, np.int64)
    dl_dst = np.empty(n_dl, np.int64)
    dl_rate = np.empty(n_dl)
    dl_prop = np.empty(n_dl)
    dl_kmin = np.full(n_dl, 1e18)
    dl_kmax = np.full(n_dl, 2e18)
    dl_pmax = np.zeros(n_dl)
    dl_xoff = np.full(n_dl, 1e18)
    dl_xon = np.zeros(n_dl)
    dl_names: list[str] = []
    reserved = np.zeros(len(nodes))
    by_pair: dict[tuple[str, str], list[int]] = {}
    for e, ln in enumerate(links):
        cable = cable_m_of(fabric, ln.a, ln.b, ln.length_km)
        prop = cable / CABLE_SPEED_M_S + SWITCH_HOP_US * 1e-6
        for j, (u, pu, v, pv) in enumerate(((ln.a, ln.port_a, ln.b, ln.port_b), (ln.b, ln.port_b, ln.a, ln.port_a))):
            d = 2 * e + j
            dl_src[d], dl_dst[d] = nid[u], nid[v]
            dl_rate[d] = ln.capacity_gbps * 1e9 / 8
            dl_prop[d] = prop
            dl_names.append(f"{u}:{pu}->{v}:{pv}")
            by_pair.setdefault((u, v), []).append(d)
            g_out = port_group.get(f"{u}:{pu}")          # egress port: ECN
            if g_out is not None:
                ecn = {**g_out["ecn"], **cfg.ecn_override}
                dl_kmin[d], dl_kmax[d], dl_pmax[d] = ecn["kmin_bytes"], ecn["kmax_bytes"], ecn["pmax"]
            g_in = port_group.get(f"{v}:{pv}")           # ingress port at v: PFC headroom
            if g_in is not None and g_in["lossless"]:
                dl_xoff[d], dl_xon[d] = g_in["pfc"]["xoff_bytes"], g_in["pfc"]["xon_bytes"]
                if cfg.pfc:
                    reserved[nid[v]] += g_in["pfc"]["headroom_bytes"]
    node_host = np.array([1 if fabric.role(n) in ENDPOINT_ROLES else 0 for n in nodes], np.int64)
    node_shared = np.maximum(buffer_bytes - reserved, 0.0)
    # flows: up-down shortest paths, one picked by a hash of the flow (ECMP), parallel links likewise
    G = fabric.up_graph()
    simple = nx.Graph(G)
    flows = [as_flow(fl, i) for i, fl in enumerate(flows)]
    fl_size = np.array([f.size_bytes for f in flows], float)
    fl_start = np.array([f.start_s for f in flows], float)
    off, path, rev, line, ideal = [0], [], [], [], []
    dcqcn = None
    lossless_prios = set(plan.get("lossless_priorities", [DEFAULT_PRIORITY]))
    cls = []
    for i, fl in enumerate(flows):
        src, dst, size, prio = fl.src, fl.dst, fl.size_bytes, fl.priority
        key = ("sport", fl.sport) if fl.sport is not None else i   # ECMP entropy: the QP's UDP source port
        if not (isinstance(prio, int) and 0 <= prio <= 7):
            raise ConfigError(f"flow {i}: priority must be an integer 0-7, got {prio!r}")
        cls.append(0 if prio in lossless_prios else 1)
        for n in (src, dst):
            if n not in nid or fabric.role(n) not in ENDPOINT_ROLES:
                raise ConfigError(f"flow {i}: {n!r} is not an endpoint of the fabric")
        if src == dst:
            raise ConfigError(f"flow {i}: source and destination are both {src!r}")
        if not size > 0:
            raise ConfigError(f"flow {i}: size must be positive, got {size}")
        cands = sorted(nx.all_shortest_paths(simple, src, dst))
        hops = cands[_hash(src, dst, key, cfg.seed) % len(cands)]
        dls = []
        for u, v in zip(hops, hops[1:], strict=False):
            opts = by_pair[(u, v)]
            dls.append(opts[_hash(u, v, src, dst, key, cfg.seed) % len(opts)])
        path.extend(dls)
        off.append(len(path))
        rev.append(sum(dl_prop[x] for x in dls))
        rate0 = dl_rate[dls[0]]
        line.append(rate0)
        bott = min(dl_rate[x] for x in dls)
        ideal.append(size / bott + sum(dl_prop[x] for x in dls) + sum(cfg.mtu_bytes / dl_rate[x] for x in dls[1:]))
        if dcqcn is None:
            leaf_port = dl_names[dls[0]].split("->", 1)[1]
            grp = port_group.get(leaf_port)
            dcqcn = dict(grp["dcqcn"]) if grp else None
    if dcqcn is None:
        from fabric.cc import dcqcn_params

        dcqcn = dcqcn_params(cfg.profile, line[0] * 8 / 1e9)
    dcqcn.update(cfg.dcqcn_override)
    base_rtt = 2 * max(rev)
    scale = dcqcn.get("line_rate_gbps", line[0] * 8 / 1e9)
    ecn_on = cfg.ecn if cfg.ecn is not None else cfg.cc in ("dcqcn", "dctcp")
    from fabric.cc import hpcc_params

    hp = hpcc_params(line[0] * 8 / 1e9, base_rtt * 1e6)
    vals = {
        "cc": K.CC_KINDS[cfg.cc], "pfc": float(cfg.pfc), "ecn": float(ecn_on), "g": dcqcn["g"],
        "alpha_timer_s": dcqcn["alpha_timer_us"] * 1e-6, "rate_timer_s": dcqcn["rate_increase_timer_us"] * 1e-6,
        "byte_counter_bytes": dcqcn["byte_counter_bytes"], "fast_recovery_steps": dcqcn["fast_recovery_steps"],
        "rai_Bps": dcqcn["rai_mbps"] * 1e6 / 8, "rhai_Bps": dcqcn["rhai_mbps"] * 1e6 / 8,
        "min_rate_Bps": dcqcn["min_rate_mbps"] * 1e6 / 8, "cnp_interval_s": dcqcn["cnp_interval_us"] * 1e-6,
        "dctcp_g": cfg.dctcp_g, "hpcc_eta": hp["eta"], "hpcc_max_stage": hp["max_stage"],
        "hpcc_w_ai_bytes": hp["w_ai_bytes"], "base_rtt_s": base_rtt,
        "sample_dt_s": cfg.sample_dt_s or cfg.t_end_s / max(cfg.samples, 1), "t_end_s": cfg.t_end_s, "seed": cfg.seed,
        "nic_queue_pkts": cfg.nic_queue_pkts, "mtu_bytes": cfg.mtu_bytes, "dyn_alpha": cfg.dyn_alpha,
        "alpha_first": float(dcqcn.get("alpha_update_before_cut", False)),
        "max_cut": dcqcn.get("max_cut_fraction", 0.5), "mark_dequeue": float(cfg.ecn_mark_at == "dequeue"),
        **firmware_cfg(dcqcn),
    }
    del scale
    cfgv = K.cfg_vector(vals)
    return dict(
        cfg=cfgv, dl_src=dl_src, dl_dst=dl_dst, dl_rate=dl_rate, dl_prop=dl_prop, dl_kmin=dl_kmin,
        dl_kmax=dl_kmax, dl_pmax=dl_pmax, dl_xoff=dl_xoff, dl_xon=dl_xon, node_host=node_host,
        node_shared=node_shared, fl_size=fl_size, fl_start=fl_start, fl_off=np.array(off, np.int64),
        fl_path=np.array(path, np.int64), fl_rev=np.array(rev), fl_line=np.array(line),
        fl_cls=np.array(cls, np.int64),
    ), dict(dl_names=dl_names, ideal=np.array(ideal), params=vals, dcqcn=dcqcn)


def firmware_cfg(dcqcn: dict[str, Any]) -> dict[str, float]:
    """The kernel's ConnectX firmware RP entries from a ``dcqcn`` dict (:func:`fabric.cc.dcqcn_params`);
    a key that is absent (a plan written before it existed) takes the DCQCN paper's RP behaviour."""
    for k in ("rate_reduce_period_us", "rpg_gd", "initial_alpha", "rate_to_set_on_first_cnp_mbps"):
        v = dcqcn.get(k)
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
            raise ConfigError(f"dcqcn {k} must be a number >= 0, got {v!r}")
    gd = dcqcn.get("rpg_gd", 11)
    a0 = dcqcn.get("initial_alpha", 1.0)
    if not 0.0 < a0 <= 1.0:
        raise ConfigError(f"dcqcn initial_alpha must be in (0, 1], got {a0!r}")
    return {"clamp_tgt": float(bool(dcqcn.get("clamp_tgt_rate", True))),
            "clamp_tgt_after_time_inc": float(bool(dcqcn.get("clamp_tgt_rate_after_time_inc", True))),
            "rate_first_cnp_Bps": dcqcn.get("rate_to_set_on_first_cnp_mbps", 0.0) * 1e6 / 8,
            "initial_alpha": a0, "gd_scale": 2.0 ** (10 - gd),
            "rate_reduce_s": dcqcn.get("rate_reduce_period_us", dcqcn.get("cnp_interval_us", 0.0)) * 1e-6,
            "release_at_line": float(bool(dcqcn.get("release_at_line_rate", False)))}


def simulate(fabric: Fabric, flows: list[Flow] | Any, cfg: PacketConfig | None = None,
             plan: dict[str, Any] | None = None) -> PacketResult:
    """Run the packet model on ``fabric`` for ``flows``; parameters from ``plan`` (a cc section) or computed.

    ``flows`` is a list of :class:`~fabric.ccsim.flows.Flow` (or plain tuples of the same fields) or a
    ``fabric.traffic.Demand`` (each of its flows then sends ``rate_gbps`` × ``cfg.t_end_s`` bytes from
    t = 0 on its own UDP source port).
    """
    import time

    cfg = cfg or PacketConfig()
    flows = as_flows(flows, duration_s=cfg.t_end_s)
    arrays, meta = build_network(fabric, flows, cfg, plan)
    n_dl = len(arrays["dl_src"])
    n_fl = len(flows)
    S = max(cfg.samples, 1)
    out_t = np.zeros(S)
    out_q = np.zeros((S, n_dl))
    out_rcv = np.zeros((S, n_fl))
    out_rate = np.zeros((S, n_fl))
    res_flow = np.zeros((n_fl, K.N_RF))
    res_dl = np.zeros((n_dl, K.N_RD))
    stats = np.zeros(K.N_STATS, np.int64)
    heap = cfg.max_packets + 8 * n_fl + 4 * n_dl + 64
    t0 = time.perf_counter()
    K.run_kernel(arrays["cfg"], arrays["dl_src"], arrays["dl_dst"], arrays["dl_rate"], arrays["dl_prop"],
                 arrays["dl_kmin"], arrays["dl_kmax"], arrays["dl_pmax"], arrays["dl_xoff"], arrays["dl_xon"],
                 arrays["node_host"], arrays["node_shared"], arrays["fl_size"], arrays["fl_start"],
                 arrays["fl_off"], arrays["fl_path"], arrays["fl_rev"], arrays["fl_line"], arrays["fl_cls"],
                 heap, cfg.max_packets,
                 out_t, out_q, out_rcv, out_rate, res_flow, res_dl, stats)
    wall = time.perf_counter() - t0
    st = {n: int(stats[i]) for i, n in enumerate(K.STATS)}
    if st["overflow"]:
        raise ConfigError("event list overflow: raise max_packets or shorten the run")
    k = st["samples"]
    return PacketResult(out_t[:k], out_q[:k], out_rcv[:k], out_rate[:k], flows, res_flow[:, K.RF_FINISH_S],
                        res_flow[:, K.RF_LOST_BYTES], res_flow[:, K.RF_SENT_BYTES], meta["dl_names"],
                        res_dl[:, K.RD_MAX_QUEUE_BYTES], res_dl[:, K.RD_PAUSE_FRAMES], res_dl[:, K.RD_PAUSED_S],
                        res_dl[:, K.RD_DROPS], st, meta["ideal"], arrays["fl_line"], cfg, wall,
                        res_flow[:, K.RF_RCV_BYTES].copy())


def line_rate_fct_s(size_bytes: float, rate_Bps: float) -> float:
    return size_bytes / rate_Bps if rate_Bps > 0 else math.inf


# Named defaults for callers (``fabricctl sim cc``), read from PacketConfig so that the two cannot drift.
#: Congestion control the packet model runs unless told otherwise: DCQCN (Zhu et al., SIGCOMM 2015),
#: the RoCEv2 scheme whose parameters :mod:`fabric.cc` plans (REFERENCE.md).
DEFAULT_CC: str = PacketConfig.cc
#: Seed of the packet model's ECMP hashes and of the seeded scenarios (*assumption*: any fixed seed,
#: so that a run is reproducible).
DEFAULT_SEED: int = PacketConfig.seed
