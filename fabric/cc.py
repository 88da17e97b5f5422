"""Congestion-control parameters for a lossless RoCE fabric: PFC, ECN, DCQCN and HPCC per port group.

Formulas and published values come from ../shared/REFERENCE.md ("Congestion control and lossless
Ethernet"); every constant below names its source, and values that are not from a source are marked
*assumption* (override them through the arguments).

- **PFC headroom** exactly as SONiC's Mellanox plug-in (sonic-swss
  ``cfgmgr/buffer_headroom_mellanox.lua``) computes it: :mod:`fabric.headroom`, whose names are
  re-exported here (xoff/xon/size per speed, cable, lane count; shared headroom pool by
  ``over_subscribe_ratio``).
- **ECN** Kmin/Kmax/Pmax and **DCQCN** NIC parameters from a named profile (``paper``,
  ``nvidia``, ``production``), scaled linearly with the port's line rate from the rate the profile
  was published for (thresholds and rate steps scale, timers do not).
- **HPCC** (η, maxStage, W_AI) as the alternative algorithm.
- **Buffer check** (:func:`fabric.headroom.check_buffer`): on every switch the lossless headroom
  (headroom × lossless priorities, summed over its lossless ports, plus the shared headroom pool when
  one is on) must leave at least ``min_shared_fraction`` of the buffer shared; otherwise
  :class:`~fabric.errors.InfeasibleError` names the switch and its ports.

Plan section ``cc`` (shape shared with renderers, see ../helper brief)::

    {"profile": str, "switch_model": str, "switch_buffer_bytes": int, "lossless_priorities": [3, 4],
     "port_groups": [{"speed_gbps": float, "cable_m": float, "switch_model": str, "lossless": bool,
                      "ports": ["node:port", ...],
                      "pfc": {"xoff_bytes", "xon_bytes", "headroom_bytes", "pause_quanta", ...},
                      "ecn": {"kmin_bytes", "kmax_bytes", "pmax"},
                      "dcqcn": {...}, "hpcc": {...}}],
     "buffer": [{"switch": str, "headroom_bytes": int, "buffer_bytes": int, "shared_bytes": int}]}
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from typing import Any

from fabric.errors import ConfigError

# PFC headroom, switch models and the buffer check live in fabric.headroom; re-exported here.
from fabric.headroom import (  # noqa: F401 - re-exported: fabric.cc is the public face of cc planning
    CABLE_SPEED_M_S,
    DEFAULT_CABLE_M,
    DEFAULT_DYNAMIC_ALPHA,
    DEFAULT_LOSSLESS_MTU_BYTES,
    DEFAULT_LOSSLESS_PRIORITIES,
    DEFAULT_MIN_SHARED_FRACTION,
    DEFAULT_OVER_SUBSCRIBE_RATIO,
    DEFAULT_PORT_MTU_BYTES,
    DEFAULT_SMALL_PACKET_PERCENT,
    DEFAULT_SWITCH_MODEL,
    MIN_PACKET_BYTES,
    PAUSE_QUANTA,
    PAUSE_QUANTUM_BITS,
    SWITCH_HOP_US,
    SWITCH_MODELS,
    Headroom,
    SwitchModel,
    cell_occupancy,
    check_buffer,
    pause_quanta,
    sonic_headroom,
)
from fabric.plan import CcSection, Provenance
from fabric.topology import ENDPOINT_ROLES, SWITCH_ROLES, Fabric


# ----------------------------------------------------------------------------- constants (sources)
@dataclass(frozen=True)
class Profile:
    """Published ECN + DCQCN values at ``ref_gbps``; rates and thresholds scale with line rate.

    The reaction-point (RP) knobs below the first block are NVIDIA ConnectX firmware parameters
    (NVIDIA "DCQCN Parameters", Mellanox community DOC-2790, and DOCA "DCQCN CC Parameters"; the
    firmware names are in brackets); their defaults here are those of the DCQCN paper's RP, so
    that a profile that does not set them behaves as the paper's algorithm.
    """

    name: str
    source: str
    ref_gbps: float
    kmin_bytes: float
    kmax_bytes: float
    pmax: float
    g: float                       # alpha gain [(1024 - dce_tcp_g) / 1024]
    alpha_timer_us: float          # alpha update period [dce_tcp_rtt]
    rate_increase_timer_us: float  # T [rpg_time_reset]
    byte_counter_bytes: float      # B at ref_gbps [rpg_byte_reset]
    fast_recovery_steps: int       # F [rpg_threshold]
    rai_mbps: float                # additive increase at ref_gbps [rpg_ai_rate]
    rhai_mbps: float               # hyper increase at ref_gbps [rpg_hai_rate]
    min_rate_mbps: float           # at ref_gbps [rpg_min_rate]
    cnp_interval_us: float         # NP generates at most one CNP per flow per interval [min_time_between_cnps]
    rate_reduce_period_us: float   # RP cuts at most once per period, CNPs in between coalesce [rate_reduce_monitor_period]
    max_cut_fraction: float        # largest single cut [1 - rpg_min_dec_fac / 100]
    alpha_update_before_cut: bool = False   # firmware updates alpha (with this CNP) before cutting
    #: [clamp_tgt_rate] on every cut the target rate R_T becomes the current rate (the paper's RP).
    clamp_tgt_rate: bool = True
    #: [clamp_tgt_rate_after_time_inc] with clamp_tgt_rate off, R_T also becomes the current rate on a
    #: cut when the rate-increase timer raised the rate since the last cut (a byte-counter increase
    #: always clamps: "not only due to the byte counter"); otherwise R_T keeps its value.
    clamp_tgt_rate_after_time_inc: bool = True
    #: [rate_to_set_on_first_cnp] Mb/s, not scaled; 0: the first CNP cuts like any other.
    rate_to_set_on_first_cnp_mbps: float = 0.0
    #: [initial_alpha_value / 1024] alpha taken at the first CNP of a flow.
    initial_alpha: float = 1.0
    #: [rpg_gd] a cut is R_C x min(alpha / 2^(rpg_gd - 10), max_cut_fraction); 11 = alpha / 2 (paper).
    rpg_gd: int = 11
    #: [rpg_max_rate, 0 = line rate] a flow whose rate is back at line rate leaves the rate limiter, so
    #: its next CNP is a first CNP again (alpha re-initialised). Off for the paper's RP.
    release_at_line_rate: bool = False
    assumptions: tuple[str, ...] = ()


#: NVIDIA ConnectX ``dce_tcp_g`` (DcQcnDceAlphaG) default 1019, fixed point with 10 fraction bits. Every
#: alpha period the firmware does α ← (G/1024)·α + (1024 − G)/1024 if a CNP came, else α ← (G/1024)·α
#: (NVIDIA "DCQCN Parameters", Mellanox community DOC-2790 / DOCA "DCQCN CC Parameters"), i.e. the
#: paper's α ← (1 − g)·α + g with g = (1024 − G)/1024 = 5/1024 (not G/1024, which would make α memoryless).
NVIDIA_DCE_TCP_G = 1019
NVIDIA_G = (1024 - NVIDIA_DCE_TCP_G) / 1024
#: ConnectX-4+ firmware defaults (DOC-2790 / DOCA "DCQCN CC Parameters", and the same values in
#: ``mlxconfig -d <dev> query`` listings of ConnectX NICs): alpha update period dce_tcp_rtt 1 µs,
#: initial_alpha_value 1023 (/1024), rate_to_set_on_first_cnp 0 (off), rpg_min_dec_fac 50 % (a cut
#: keeps at least half the rate), rpg_min_rate 1 Mb/s, rpg_gd 11 (cut = α/2),
#: rate_reduce_monitor_period 4 µs, clamp_tgt_rate 0, clamp_tgt_rate_after_time_inc 1,
#: rpg_time_reset 300 µs, rpg_byte_reset 32767 B, rpg_threshold 1, rpg_ai_rate 5 Mb/s,
#: rpg_hai_rate 50 Mb/s; NP: min_time_between_cnps 4 µs.
NVIDIA_DCE_TCP_RTT_US = 1.0
NVIDIA_INITIAL_ALPHA_VALUE = 1023
NVIDIA_RATE_TO_SET_ON_FIRST_CNP_MBPS = 0.0
NVIDIA_RPG_MIN_DEC_FAC = 50
NVIDIA_RPG_MIN_RATE_MBPS = 1.0
NVIDIA_RPG_GD = 11
NVIDIA_RATE_REDUCE_MONITOR_PERIOD_US = 4.0
NVIDIA_CLAMP_TGT_RATE = False
NVIDIA_CLAMP_TGT_RATE_AFTER_TIME_INC = True
NVIDIA_RPG_TIME_RESET_US = 300.0
NVIDIA_RPG_BYTE_RESET_BYTES = 32_767
NVIDIA_RPG_THRESHOLD = 1
NVIDIA_RPG_AI_RATE_MBPS = 5.0
NVIDIA_RPG_HAI_RATE_MBPS = 50.0
NVIDIA_MIN_TIME_BETWEEN_CNPS_US = 4.0

#: The firmware knobs of the nvidia and production profiles (everything but the ECN thresholds).
_NVIDIA_NIC: dict[str, Any] = dict(
    g=NVIDIA_G, alpha_timer_us=NVIDIA_DCE_TCP_RTT_US, rate_increase_timer_us=NVIDIA_RPG_TIME_RESET_US,
    byte_counter_bytes=NVIDIA_RPG_BYTE_RESET_BYTES, fast_recovery_steps=NVIDIA_RPG_THRESHOLD,
    rai_mbps=NVIDIA_RPG_AI_RATE_MBPS, rhai_mbps=NVIDIA_RPG_HAI_RATE_MBPS, min_rate_mbps=NVIDIA_RPG_MIN_RATE_MBPS,
    cnp_interval_us=NVIDIA_MIN_TIME_BETWEEN_CNPS_US, rate_reduce_period_us=NVIDIA_RATE_REDUCE_MONITOR_PERIOD_US,
    max_cut_fraction=1.0 - NVIDIA_RPG_MIN_DEC_FAC / 100, alpha_update_before_cut=True,
    clamp_tgt_rate=NVIDIA_CLAMP_TGT_RATE, clamp_tgt_rate_after_time_inc=NVIDIA_CLAMP_TGT_RATE_AFTER_TIME_INC,
    rate_to_set_on_first_cnp_mbps=NVIDIA_RATE_TO_SET_ON_FIRST_CNP_MBPS,
    initial_alpha=NVIDIA_INITIAL_ALPHA_VALUE / 1024, rpg_gd=NVIDIA_RPG_GD, release_at_line_rate=True)
_NVIDIA_NIC_ASSUMPTIONS = (
    "rate steps (rpg_ai_rate 5, rpg_hai_rate 50, rpg_min_rate 1 Mb/s) are taken per 25G and scaled with "
    "line rate (REFERENCE.md); the firmware applies them as written",
    "alpha (g = (1024 - dce_tcp_g 1019)/1024 = 5/1024 per 1 us) is updated before the cut (firmware order)",
    "clamp_tgt_rate_after_time_inc read as: R_T <- R_C on a cut after a timer or a byte-counter increase, "
    "R_T kept after no increase (our reading of the documentation's wording)",
    "the first CNP cuts at once; later CNPs within rate_reduce_monitor_period coalesce into one cut at the "
    "period's end",
    "a flow whose rate is back at line rate leaves the rate limiter (rpg_max_rate 0 = line rate), so its "
    "next CNP is a first CNP (alpha = initial_alpha_value)")

PROFILES: dict[str, Profile] = {
    # DCQCN paper (Zhu et al., SIGCOMM 2015) at 40G (REFERENCE.md).
    "paper": Profile(
        "paper", "DCQCN paper (Zhu et al., SIGCOMM 2015) at 40G", 40.0,
        kmin_bytes=5_000, kmax_bytes=200_000, pmax=0.01, g=1 / 256, alpha_timer_us=55.0,
        rate_increase_timer_us=55.0, byte_counter_bytes=10e6, fast_recovery_steps=5, rai_mbps=40.0,
        rhai_mbps=400.0, min_rate_mbps=40.0, cnp_interval_us=50.0, rate_reduce_period_us=50.0,
        max_cut_fraction=0.5,
        assumptions=("rhai_mbps = 10 x rai_mbps (NVIDIA ratio; the paper gives no value)",
                     "min_rate_mbps = rai_mbps (assumption)",
                     "rate_reduce_period_us = cnp_interval_us (the paper's RP cuts once per CNP)")),
    # NVIDIA ConnectX firmware defaults, rates per 25G. ECN thresholds are NVIDIA's RoCE
    # configuration guide values at 100G (Kmin 150 KB, Kmax 1500 KB; unverified), rescaled to 25G.
    "nvidia": Profile(
        "nvidia", "NVIDIA ConnectX firmware defaults (per 25G)", 25.0,
        kmin_bytes=150_000 / 4, kmax_bytes=1_500_000 / 4, pmax=1.0, **_NVIDIA_NIC,
        assumptions=("ECN Kmin 150 KB / Kmax 1500 KB at 100G, Pmax 100% (NVIDIA guide, unverified)",
                     *_NVIDIA_NIC_ASSUMPTIONS)),
    # Alibaba production ECN thresholds per 25G (REFERENCE.md) with NVIDIA NIC defaults.
    "production": Profile(
        "production", "Alibaba production ECN (per 25G) + NVIDIA NIC defaults", 25.0,
        kmin_bytes=100_000, kmax_bytes=400_000, pmax=0.20, **_NVIDIA_NIC,
        assumptions=("NIC values as in the nvidia profile", *_NVIDIA_NIC_ASSUMPTIONS)),
}
DEFAULT_PROFILE = "nvidia"

#: HPCC (Li et al., SIGCOMM 2019): η 0.95, maxStage 5 (REFERENCE.md). W_AI = BDP·(1−η)/N with N the
#: expected number of concurrent flows on a link (*assumption*: 16).
HPCC_ETA = 0.95
HPCC_MAX_STAGE = 5
HPCC_EXPECTED_FLOWS = 16


# ----------------------------------------------------------------------------- ECN / DCQCN / HPCC
def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown cc profile {name!r} (expected one of {', '.join(PROFILES)})",
                          where="--profile") from None


def ecn_params(profile: Profile | str, speed_gbps: float) -> dict[str, Any]:
    """Kmin/Kmax (bytes) scaled with line rate, Pmax unchanged.

    >>> ecn_params("production", 100)
    {'kmin_bytes': 400000, 'kmax_bytes': 1600000, 'pmax': 0.2}
    """
    p = get_profile(profile) if isinstance(profile, str) else profile
    s = speed_gbps / p.ref_gbps
    return {"kmin_bytes": int(round(p.kmin_bytes * s)), "kmax_bytes": int(round(p.kmax_bytes * s)),
            "pmax": p.pmax}


def dcqcn_params(profile: Profile | str, speed_gbps: float) -> dict[str, Any]:
    """NIC DCQCN parameters for a port speed: rate steps scale with line rate; timers, the byte counter and
    ``rate_to_set_on_first_cnp_mbps`` (an absolute firmware rate) do not.

    >>> d = dcqcn_params("nvidia", 400)
    >>> (d["rai_mbps"], d["min_rate_mbps"], d["initial_alpha"], d["clamp_tgt_rate"], d["rpg_gd"])
    (80.0, 16.0, 0.9990234375, False, 11)
    """
    p = get_profile(profile) if isinstance(profile, str) else profile
    s = speed_gbps / p.ref_gbps
    return {
        "g": p.g, "alpha_timer_us": p.alpha_timer_us, "rate_increase_timer_us": p.rate_increase_timer_us,
        "byte_counter_bytes": int(round(p.byte_counter_bytes)),
        "fast_recovery_steps": p.fast_recovery_steps,
        "rai_mbps": p.rai_mbps * s, "rhai_mbps": p.rhai_mbps * s, "min_rate_mbps": p.min_rate_mbps * s,
        "cnp_interval_us": p.cnp_interval_us, "rate_reduce_period_us": p.rate_reduce_period_us,
        "max_cut_fraction": p.max_cut_fraction, "alpha_update_before_cut": p.alpha_update_before_cut,
        "clamp_tgt_rate": p.clamp_tgt_rate, "clamp_tgt_rate_after_time_inc": p.clamp_tgt_rate_after_time_inc,
        "rate_to_set_on_first_cnp_mbps": p.rate_to_set_on_first_cnp_mbps, "initial_alpha": p.initial_alpha,
        "rpg_gd": p.rpg_gd, "release_at_line_rate": p.release_at_line_rate,
        "line_rate_gbps": speed_gbps,
    }


def hpcc_params(speed_gbps: float, base_rtt_us: float, *, eta: float = HPCC_ETA,
                max_stage: int = HPCC_MAX_STAGE, expected_flows: int = HPCC_EXPECTED_FLOWS) -> dict[str, Any]:
    """HPCC parameters: η, maxStage, the BDP window and W_AI = BDP·(1−η)/N."""
    bdp = speed_gbps * 1e9 / 8 * base_rtt_us * 1e-6
    return {"eta": eta, "max_stage": max_stage, "base_rtt_us": round(base_rtt_us, 3),
            "bdp_bytes": int(round(bdp)), "w_ai_bytes": int(round(bdp * (1 - eta) / expected_flows)),
            "expected_flows": expected_flows}


# ----------------------------------------------------------------------------- per-fabric planning
def cable_m_of(fabric: Fabric, a: str, b: str, length_km: float) -> float:
    """Cable length in metres: the link's own length, else the tier default (assumption)."""
    if length_km > 0:
        return length_km * 1000.0
    ra, rb = fabric.role(a), fabric.role(b)
    if ra in ENDPOINT_ROLES or rb in ENDPOINT_ROLES:
        return DEFAULT_CABLE_M["endpoint"]
    if {ra, rb} <= {"leaf", "spine"}:
        return DEFAULT_CABLE_M["leaf-spine"]
    return DEFAULT_CABLE_M["above"]


def base_rtt_us(cable_m_max: float, hops: int = 4, mtu_bytes: int = 4096, speed_gbps: float = 400.0) -> float:
    """Base RTT estimate over ``hops`` links: 2·hops·(cable + serialisation + switch latency)."""
    per_hop = cable_m_max / CABLE_SPEED_M_S * 1e6 + mtu_bytes * 8 / (speed_gbps * 1e3) + SWITCH_HOP_US
    return 2 * hops * per_hop


@dataclass(frozen=True)
class CcOptions:
    profile: str = DEFAULT_PROFILE
    switch_model: str = DEFAULT_SWITCH_MODEL
    switch_buffer_bytes: int | None = None
    port_mtu_bytes: int = DEFAULT_PORT_MTU_BYTES
    lossless_mtu_bytes: int = DEFAULT_LOSSLESS_MTU_BYTES
    small_packet_percent: float = DEFAULT_SMALL_PACKET_PERCENT
    lossless_priorities: tuple[int, ...] = DEFAULT_LOSSLESS_PRIORITIES
    min_shared_fraction: float = DEFAULT_MIN_SHARED_FRACTION
    #: Shared headroom pool: 0 = off (SONiC's default); N > 0 = on, pool = Σ xoff / N (fabric.headroom).
    over_subscribe_ratio: float = DEFAULT_OVER_SUBSCRIBE_RATIO
    #: SerDes lanes of every port; None = from the speed and the model's lane rate (fabric.headroom.port_lanes).
    port_lanes: int | None = None


#: Name of the ``cc`` planner in the section's provenance: closed-form SONiC headroom, not a solver.
CC_SOLVER = "sonic-headroom-formula"


def cc_section(fabric: Fabric, options: CcOptions | None = None) -> CcSection:
    """:func:`plan_cc` as the Plan's typed ``cc`` section, with its provenance (options as params)."""
    import time

    o = options or CcOptions()
    t0 = time.perf_counter()
    data = plan_cc(fabric, o)
    params = {**asdict(o), "lossless_priorities": list(o.lossless_priorities),
              "switch_buffer_bytes": data["switch_buffer_bytes"]}
    prov = Provenance(solver=CC_SOLVER, status="OK", seconds=round(time.perf_counter() - t0, 6), params=params)
    return CcSection.from_dict(data, provenance=prov)


def plan_cc(fabric: Fabric, options: CcOptions | None = None) -> dict[str, Any]:
    """Compute the ``cc`` plan section for every switch port of a fabric.

    Ports on ``wdm`` links (between sites) are not lossless: PFC cannot span hundreds of km (the
    headroom would be the whole buffer); their group has ``lossless: false`` and its ``pfc`` shows
    the headroom that *would* be needed. Raises :class:`InfeasibleError` if headroom does not fit.
    """
    o = options or CcOptions()
    prof = get_profile(o.profile)
    if o.switch_model not in SWITCH_MODELS:
        raise ConfigError(f"unknown switch model {o.switch_model!r} (expected one of {', '.join(SWITCH_MODELS)})")
    model = SWITCH_MODELS[o.switch_model]
    if o.switch_buffer_bytes is not None:
        if not o.switch_buffer_bytes > 0:
            raise ConfigError(f"switch buffer must be positive, got {o.switch_buffer_bytes} bytes",
                              where="--switch-buffer")
        model = replace(model, buffer_bytes=int(o.switch_buffer_bytes))
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    port_group: dict[str, tuple[Any, ...]] = {}
    max_cable = 0.0
    for link in fabric.links(up_only=False):
        cable = round(cable_m_of(fabric, link.a, link.b, link.length_km), 3)
        lossless = link.kind != "wdm"
        if lossless:
            max_cable = max(max_cable, cable)
        for node, port in ((link.a, link.port_a), (link.b, link.port_b)):
            if fabric.role(node) not in SWITCH_ROLES:
                continue
            key = (model.name, float(link.capacity_gbps), cable, lossless)
            name = f"{node}:{port}"
            groups[key].append(name)
            port_group[name] = key
    rtt = base_rtt_us(max_cable)
    out_groups = []
    head_of: dict[tuple[Any, ...], Headroom] = {}
    for key in sorted(groups, key=lambda k: (not k[3], k[1], k[2])):
        _m, speed, cable, lossless = key
        h = sonic_headroom(speed, cable, model, port_mtu_bytes=o.port_mtu_bytes,
                           lossless_mtu_bytes=o.lossless_mtu_bytes, small_packet_percent=o.small_packet_percent,
                           lanes=o.port_lanes, over_subscribe_ratio=o.over_subscribe_ratio)
        head_of[key] = h
        pfc = {"xoff_bytes": h.xoff_bytes, "xon_bytes": h.xon_bytes, "headroom_bytes": h.headroom_bytes,
               "pause_quanta": h.pause_quanta, "peer_response_bytes": round(h.peer_response_bytes, 1),
               "cable_bytes": round(h.cable_bytes, 1), "propagation_bytes": round(h.propagation_bytes, 1),
               "cell_occupancy": round(h.cell_occupancy, 4)}
        out_groups.append({
            "speed_gbps": speed, "cable_m": cable, "switch_model": model.name, "lossless": lossless,
            "ports": sorted(groups[key]), "pfc": pfc, "ecn": ecn_params(prof, speed),
            "dcqcn": dcqcn_params(prof, speed), "hpcc": hpcc_params(speed, rtt),
        })
    buffer = check_buffer(port_group, head_of, model, len(o.lossless_priorities), o.min_shared_fraction,
                          over_subscribe_ratio=o.over_subscribe_ratio)
    warnings = ecn_before_pfc_warnings(out_groups, buffer)
    return {"profile": prof.name, "profile_source": prof.source, "profile_assumptions": list(prof.assumptions),
            "switch_model": model.name, "switch_buffer_bytes": model.buffer_bytes,
            "lossless_priorities": list(o.lossless_priorities), "port_mtu_bytes": o.port_mtu_bytes,
            "lossless_mtu_bytes": o.lossless_mtu_bytes, "small_packet_percent": o.small_packet_percent,
            "port_groups": out_groups, "buffer": buffer, "model": asdict(model), "warnings": warnings}


def ecn_before_pfc_warnings(groups: list[dict[str, Any]], buffer: list[dict[str, Any]],
                            dyn_alpha: float = DEFAULT_DYNAMIC_ALPHA) -> list[str]:
    """ECN should act before PFC: warn where Kmax is above the PFC trigger of a single ingress port.

    The trigger is estimated as dyn_alpha x (smallest shared buffer of any switch), i.e. an empty
    switch with one congested ingress (assumption; see :data:`DEFAULT_DYNAMIC_ALPHA`).
    """
    if not buffer:
        return []
    trigger = dyn_alpha * min(r["shared_bytes"] for r in buffer)
    out = []
    for g in groups:
        if g["lossless"] and g["ecn"]["kmax_bytes"] > trigger:
            out.append(f"{g['speed_gbps']:g}G {g['cable_m']:g} m ports: ECN Kmax {g['ecn']['kmax_bytes']:,} B is above "
                       f"the estimated PFC trigger {trigger:,.0f} B, so PFC may pause before ECN marks every packet")
    return out

