"""PFC headroom of a lossless port, computed as SONiC's Mellanox plug-in computes it.

Source of truth: ``cfgmgr/buffer_headroom_mellanox.lua`` in sonic-net/sonic-swss (read at commit
e6b0c5b5, 2026-08-21; the file's last change is 422271e7, 2026-08-01), run by ``buffermgrd`` for each
(speed, cable length, port MTU, gearbox, lane count) of a port. Its arithmetic, in its own units:

- speed in Mb/s, cable length in metres;
  ``bytes_on_cable = 2 · cable · speed_mbps · 1e9 / 198e6 / (8 · 1000)`` (= bytes in flight both ways);
- ``peer_response = pause_quanta(speed) · 512 / 8`` from the plug-in's table (IEEE 802.3 Annex 31B),
  else the ASIC table's ``peer_response_time`` × 1024 for a speed the table lacks;
- ``gearbox = speed_mbps · gearbox_delay / (8 · 1024)`` (0 without a gearbox), counted twice;
- Spectrum-4/5 add ``speed_mbps / 1000 · 120 / 8`` bytes "on tile";
- ``propagation = port_mtu + cable + 2 · gearbox + mac_phy + peer_response (+ tile)``;
- cell occupancy: worst-case factor ``w = ceil(cell / 64)`` for cells above 128 B (else
  ``ceil(2 · cell / (1 + cell))``); the small-packet percentage ``s`` is counted by bytes,
  ``b = 100 · 64 / ((s · 64 + (100 − s) · lossless_mtu) / 100)`` (as written: without a factor s/100, so
  s = 50 gives b = 11.8 %, s = 0 gives 6.25 % at MTU 1024), and occupancy = ``(100 − b + b · w) / 100``;
- ``xoff = ceil_1K(lossless_mtu + propagation · occupancy)``; Spectrum-6 adds 18 KiB; without a shared
  headroom pool and ``s ≠ 100`` it adds 2 KiB when that still stays below the rounded worst case
  ``ceil_1K(lossless_mtu + propagation · w)``;
- 8-lane ports: pipeline latency × 2 and the port MTU added to the size;
- ``xon = ceil_1K(pipeline_latency)``; ``size = ceil_1K(xoff + xon + 8-lane MTU)``, or ``ceil_1K(xon)``
  with a shared headroom pool (enabled by a non-zero over-subscribe ratio).

The ASIC figures (cell size, pipeline latency, mac/phy delay, default peer response) are the
``ASIC_TABLE`` entries of sonic-net/sonic-buildimage ``platform/mellanox/asic_table.j2`` (read at
086b03bd, 2026-08-23); the lossless traffic pattern defaults are ``LOSSLESS_TRAFFIC_PATTERN|AZURE`` of
``files/build_templates/buffers_config.j2`` (same commit). Buffer sizes and SerDes lane rates are
data-sheet figures and marked *assumption*. The shared headroom pool's size per switch follows
``cfgmgr/buffer_pool_mellanox.lua`` (sonic-swss, same commit): private headroom 10 KiB per lossless port,
pool = ``ceil((Σ xoff − private) / over_subscribe_ratio)``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fabric.errors import ConfigError, InfeasibleError

# ----------------------------------------------------------------------------- constants (sources)
#: Signal speed in a cable, m/s (buffer_headroom_mellanox.lua ``speed_of_light``).
CABLE_SPEED_M_S = 198e6
#: Pause quanta the peer needs to react, per operating speed in Mb/s (buffer_headroom_mellanox.lua
#: ``pause_quanta_per_speed``, which cites IEEE 802.3 31B.3.7). Speeds not listed use the ASIC
#: table's ``peer_response_time`` instead.
PAUSE_QUANTA_BY_MBPS: dict[int, int] = {800000: 905, 400000: 905, 200000: 453, 100000: 394, 50000: 147,
                                        40000: 118, 25000: 80, 10000: 67, 1000: 2, 100: 1}
#: The same table keyed by Gb/s.
PAUSE_QUANTA: dict[float, int] = {mbps / 1000: q for mbps, q in sorted(PAUSE_QUANTA_BY_MBPS.items())}
#: One pause quantum is 512 bit times (IEEE 802.3 Annex 31B; the plug-in's ``* 512 / 8``).
PAUSE_QUANTUM_BITS = 512
#: Smallest Ethernet frame for the worst-case cell occupancy, bytes (plug-in ``minimal_packet_size``).
MIN_PACKET_BYTES = 64
#: Bits per byte and the plug-in's divisors: cable bytes divide by 8·1000, gearbox bytes by 8·1024.
_CABLE_DIVISOR = 8 * 1000
_GEARBOX_DIVISOR = 8 * 1024
#: Rounding unit of xoff, xon and size, bytes (plug-in ``math.ceil(x / 1024) * 1024``).
ROUND_BYTES = 1024
#: Added to xoff without a shared headroom pool when the small-packet percentage is below 100 and the
#: result stays more than this below the rounded worst case, bytes (plug-in ``headroom_compensation``).
HEADROOM_COMPENSATION_BYTES = 2 * 1024
#: Added to xoff on Spectrum-6 for its packet-buffer accounting, bytes (plug-in
#: ``spectrum6_headroom_compensation``).
SPECTRUM6_COMPENSATION_BYTES = 18 * 1024
#: Spectrum-4/5 hold ``speed_mbps / 1000 · 120 / 8`` bytes "on tile" (plug-in ``kb_on_tile``): 120 ns of
#: traffic.
TILE_DELAY_NS = 120
#: Generations whose headroom adds the bytes on tile (the plug-in tests the ASIC key's last digit).
TILE_GENERATIONS = (4, 5)
#: Lane count at which the plug-in doubles the pipeline latency and adds the port MTU (``ARGV[5] == "8"``).
EIGHT_LANES = 8
#: SONiC default port MTU, bytes (sonic-swss cfgmgr/buffermgrdyn.h ``DEFAULT_MTU_STR``; sonic-buildimage
#: src/sonic-config-engine/minigraph.py sets 9100 on every port).
DEFAULT_PORT_MTU_BYTES = 9100
#: ``LOSSLESS_TRAFFIC_PATTERN|AZURE``: lossless MTU 1024 B, small packets 50 % (sonic-buildimage
#: files/build_templates/buffers_config.j2; 50 since #20632, 2024-12, before that 100).
DEFAULT_LOSSLESS_MTU_BYTES = 1024
DEFAULT_SMALL_PACKET_PERCENT = 50.0
#: Shared headroom pool off by default: SONiC's ``DEFAULT_LOSSLESS_BUFFER_PARAMETER`` has an
#: ``over_subscribe_ratio`` only on SKUs that define ``shp`` (buffers_config.j2 then sets "1").
DEFAULT_OVER_SUBSCRIBE_RATIO = 0.0
#: Private headroom per lossless port when the shared headroom pool is on, bytes
#: (sonic-swss cfgmgr/buffer_pool_mellanox.lua ``private_headroom``).
SHP_PRIVATE_HEADROOM_BYTES = 10 * 1024
#: Shared headroom pool size the pool plug-in uses when its computed size is 0, bytes
#: (buffer_pool_mellanox.lua).
SHP_MIN_BYTES = 655360
#: Lossless priorities (PGs) per port: RoCE data on 3 and 4 (assumption: the usual SONiC/NVIDIA setup).
DEFAULT_LOSSLESS_PRIORITIES: tuple[int, ...] = (3, 4)
#: Fraction of a switch buffer that must stay shared after reserving lossless headroom (assumption).
DEFAULT_MIN_SHARED_FRACTION = 0.25
#: Cable length by tier when a link has no length (assumption: SONiC buffer templates use 5 m
#: server-ToR, 40 m ToR-leaf and 300 m above).
DEFAULT_CABLE_M: dict[str, float] = {"endpoint": 5.0, "leaf-spine": 40.0, "above": 300.0}
#: Dynamic-threshold factor of the shared buffer: a queue (or a PFC ingress counter) may hold
#: alpha x (free shared buffer) (assumption: 1/8, a Broadcom-style dynamic_th of -3).
DEFAULT_DYNAMIC_ALPHA = 1 / 8
#: Per-hop switch forwarding latency used for base RTT estimates, µs (assumption: cut-through
#: switches are 0.3-1 µs; 1 µs is conservative).
SWITCH_HOP_US = 1.0

#: SONiC's ASIC_TABLE per Mellanox ASIC, as written there: (cell_size B, pipeline_latency KiB,
#: mac_phy_delay KiB, peer_response_time KiB) (sonic-buildimage platform/mellanox/asic_table.j2).
SONIC_ASIC_TABLE: dict[str, tuple[int, str, str, str]] = {
    "spectrum": (96, "19", "0.8", "3.8"),
    "spectrum-2": (144, "19", "0.8", "3.8"),
    "spectrum-3": (144, "19", "0.8", "3.8"),
    "spectrum-4": (192, "19", "0.8", "3.8"),
    "spectrum-5": (192, "19", "0.8", "3.8"),
    "spectrum-6": (256, "42", "0.8", "3.8"),
}


@dataclass(frozen=True)
class SwitchModel:
    """ASIC figures the headroom formula needs. ``buffer_bytes`` is the packet buffer of one switch.

    ``pipeline_latency_bytes``, ``mac_phy_bytes`` and ``peer_response_bytes`` are the ASIC table's KiB
    figures × 1024, as the plug-in reads them; ``generation`` is N of Spectrum-N (the plug-in adds the
    bytes on tile for 4 and 5 and 18 KiB for 6); ``lane_gbps`` is the SerDes lane rate, which makes a
    port of 8 × ``lane_gbps`` an 8-lane port (*assumption*, data sheets).
    """

    name: str
    cell_bytes: int
    pipeline_latency_bytes: float
    mac_phy_bytes: float
    buffer_bytes: int
    gearbox_delay_ns: float = 0.0
    peer_response_bytes: float = float("3.8") * 1024
    generation: int = 2
    lane_gbps: float = 50.0


def asic_model(name: str, buffer_bytes: int, *, generation: int, lane_gbps: float,
               gearbox_delay_ns: float = 0.0) -> SwitchModel:
    """A :class:`SwitchModel` from :data:`SONIC_ASIC_TABLE` (KiB strings read as the plug-in reads them)."""
    cell, pipeline_kib, mac_phy_kib, peer_kib = SONIC_ASIC_TABLE[name]
    return SwitchModel(name, cell, float(pipeline_kib) * 1024, float(mac_phy_kib) * 1024, buffer_bytes,
                       gearbox_delay_ns=gearbox_delay_ns, peer_response_bytes=float(peer_kib) * 1024,
                       generation=generation, lane_gbps=lane_gbps)


_MIB = 1024 * 1024
#: Switch models: SONiC's ASIC table figures; buffers are the vendor's data-sheet packet-buffer figures
#: (*assumption*, unverified: Spectrum 16 MB, Spectrum-2 42 MB, Spectrum-3 64 MB, Spectrum-4 160 MB;
#: override with --switch-buffer) and lane rates 25/50/50/100 Gb/s (*assumption*: Spectrum NRZ 25G,
#: Spectrum-2/3 50G PAM4, Spectrum-4 100G PAM4 SerDes).
SWITCH_MODELS: dict[str, SwitchModel] = {
    "spectrum": asic_model("spectrum", 16 * _MIB, generation=1, lane_gbps=25.0),
    "spectrum-2": asic_model("spectrum-2", 42 * _MIB, generation=2, lane_gbps=50.0),
    "spectrum-3": asic_model("spectrum-3", 64 * _MIB, generation=3, lane_gbps=50.0),
    "spectrum-4": asic_model("spectrum-4", 160 * _MIB, generation=4, lane_gbps=100.0),
}
DEFAULT_SWITCH_MODEL = "spectrum-2"


# ----------------------------------------------------------------------------- PFC headroom
@dataclass(frozen=True)
class Headroom:
    """SONiC headroom for one port (bytes). ``xoff``, ``xon`` and ``headroom`` (the plug-in's ``size``)
    are rounded up to 1 KiB; ``pause_quanta`` is 0 where the speed is not in the plug-in's table (the
    peer response is then the ASIC table's); ``compensated`` says the 2 KiB small-packet compensation
    was added; ``shared_headroom_pool`` that ``headroom`` is the private part (xon) only."""

    xoff_bytes: int
    xon_bytes: int
    headroom_bytes: int
    pause_quanta: int
    peer_response_bytes: float
    cable_bytes: float
    propagation_bytes: float
    cell_occupancy: float
    lanes: int = 4
    eight_lane: bool = False
    worst_case_factor: int = 1
    compensated: bool = False
    shared_headroom_pool: bool = False


def _mbps(speed_gbps: float) -> float:
    """Port speed in Mb/s as SONiC writes it (an integer string such as ``400000``)."""
    mbps = float(speed_gbps) * 1000.0
    return float(round(mbps)) if abs(mbps - round(mbps)) < 1e-6 else mbps


def pause_quanta(speed_gbps: float) -> int:
    """Pause quanta for a port speed from the plug-in's table, 0 for a speed it does not list."""
    mbps = _mbps(speed_gbps)
    return PAUSE_QUANTA_BY_MBPS.get(int(mbps), 0) if mbps == int(mbps) else 0


def worst_case_factor(cell_bytes: int) -> int:
    """Cells a minimum-size packet may occupy per its own size, rounded up (plug-in)."""
    if cell_bytes > 2 * MIN_PACKET_BYTES:
        w = cell_bytes / MIN_PACKET_BYTES
    else:
        w = (2 * cell_bytes) / (1 + cell_bytes)
    return math.ceil(w)


def cell_occupancy(cell_bytes: int, small_packet_percent: float,
                   lossless_mtu_bytes: int = DEFAULT_LOSSLESS_MTU_BYTES) -> float:
    """Worst-case buffer cells used per byte, with the plug-in's "by byte" small-packet share
    ``100 · 64 / mean packet size`` (its expression, kept as written: 6.25 % for 0 % small packets)."""
    s = float(small_packet_percent)
    by_byte = 100 * MIN_PACKET_BYTES / ((s * MIN_PACKET_BYTES + (100 - s) * lossless_mtu_bytes) / 100)
    return (100 - by_byte + by_byte * worst_case_factor(cell_bytes)) / 100


def _ceil_1k(x: float) -> int:
    """Round up to a multiple of 1 KiB exactly as the plug-in does (``math.ceil(x / 1024) * 1024``)."""
    return math.ceil(x / ROUND_BYTES) * ROUND_BYTES


def port_lanes(speed_gbps: float, model: SwitchModel) -> int:
    """SerDes lanes of a port: speed / lane rate, rounded up (*assumption*: the fewest lanes that carry it)."""
    return max(1, math.ceil(speed_gbps / model.lane_gbps - 1e-9))


def _model(model: SwitchModel | str) -> SwitchModel:
    if isinstance(model, SwitchModel):
        return model
    try:
        return SWITCH_MODELS[model]
    except KeyError:
        raise ConfigError(f"unknown switch model {model!r} (expected one of {', '.join(SWITCH_MODELS)})",
                          where="--switch-model") from None


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def sonic_headroom(speed_gbps: float, cable_m: float, model: SwitchModel | str = DEFAULT_SWITCH_MODEL, *,
                   port_mtu_bytes: int = DEFAULT_PORT_MTU_BYTES,
                   lossless_mtu_bytes: int = DEFAULT_LOSSLESS_MTU_BYTES,
                   small_packet_percent: float = DEFAULT_SMALL_PACKET_PERCENT,
                   lanes: int | None = None,
                   over_subscribe_ratio: float = DEFAULT_OVER_SUBSCRIBE_RATIO) -> Headroom:
    """PFC xoff/xon/headroom of one port, as SONiC's Mellanox plug-in computes them (see module doc).

    ``lanes`` defaults to :func:`port_lanes`; a non-zero ``over_subscribe_ratio`` turns the shared
    headroom pool on, which makes the port's reserved headroom xon alone.

    >>> h = sonic_headroom(100, 5)
    >>> (h.xoff_bytes, h.xon_bytes, h.headroom_bytes, h.compensated)
    (48128, 19456, 67584, True)
    """
    m = _model(model)
    if not (_finite(speed_gbps) and speed_gbps > 0):
        raise ConfigError(f"port speed must be a positive number of Gb/s, got {speed_gbps}")
    if not (_finite(cable_m) and cable_m >= 0):
        raise ConfigError(f"cable length must be zero or a positive number of metres, got {cable_m}")
    if not (_finite(port_mtu_bytes) and port_mtu_bytes > 0):
        raise ConfigError(f"port MTU must be a positive number of bytes, got {port_mtu_bytes}")
    if not (_finite(lossless_mtu_bytes) and lossless_mtu_bytes > 0):
        raise ConfigError(f"lossless MTU must be a positive number of bytes, got {lossless_mtu_bytes}")
    if not (_finite(small_packet_percent) and 0 <= small_packet_percent <= 100):
        raise ConfigError(f"small-packet percentage must be within 0..100, got {small_packet_percent}")
    if not (_finite(over_subscribe_ratio) and over_subscribe_ratio >= 0):
        raise ConfigError(f"over-subscribe ratio must be zero (no shared headroom pool) or positive, "
                          f"got {over_subscribe_ratio}", where="--over-subscribe-ratio")
    n_lanes = port_lanes(speed_gbps, m) if lanes is None else lanes
    if isinstance(n_lanes, bool) or not isinstance(n_lanes, int) or n_lanes < 1:
        raise ConfigError(f"lane count must be a positive integer, got {lanes!r}")

    speed = _mbps(speed_gbps)                       # the plug-in's port_speed, Mb/s
    eight = n_lanes == EIGHT_LANES
    pipeline = m.pipeline_latency_bytes * 2 if eight else m.pipeline_latency_bytes
    speed_overhead = port_mtu_bytes if eight else 0
    shp = over_subscribe_ratio != 0
    w = worst_case_factor(m.cell_bytes)
    occ = cell_occupancy(m.cell_bytes, small_packet_percent, lossless_mtu_bytes)
    gearbox = 0.0 if m.gearbox_delay_ns == 0 else speed * m.gearbox_delay_ns / _GEARBOX_DIVISOR
    quanta = pause_quanta(speed_gbps)
    peer = quanta * PAUSE_QUANTUM_BITS / 8 if quanta else m.peer_response_bytes
    tile = speed / 1000 * TILE_DELAY_NS / 8 if m.generation in TILE_GENERATIONS else 0
    cable = 2 * float(cable_m) * speed * 1000000000 / CABLE_SPEED_M_S / _CABLE_DIVISOR
    prop = port_mtu_bytes + cable + 2 * gearbox + m.mac_phy_bytes + peer + tile

    xoff = _ceil_1k(lossless_mtu_bytes + prop * occ)
    if m.generation == 6:
        xoff += SPECTRUM6_COMPENSATION_BYTES
    compensated = False
    if not shp and small_packet_percent != 100:
        worst = _ceil_1k(lossless_mtu_bytes + prop * w)
        if xoff + HEADROOM_COMPENSATION_BYTES < worst:
            xoff += HEADROOM_COMPENSATION_BYTES
            compensated = True
    xon = _ceil_1k(pipeline)
    size = _ceil_1k(xon if shp else xoff + xon + speed_overhead)
    return Headroom(xoff, xon, size, quanta, peer, cable, prop, occ, lanes=n_lanes, eight_lane=eight,
                    worst_case_factor=w, compensated=compensated, shared_headroom_pool=shp)


# ----------------------------------------------------------------------------- buffer check
def shared_headroom_pool_bytes(xoff_total_bytes: float, lossless_ports: int, over_subscribe_ratio: float) -> int:
    """Size of a switch's shared headroom pool (buffer_pool_mellanox.lua): the xoff of every lossless PG
    less the private headroom of every lossless port, divided by the over-subscribe ratio."""
    if not over_subscribe_ratio:
        return 0
    acc = max(0.0, xoff_total_bytes - lossless_ports * SHP_PRIVATE_HEADROOM_BYTES)
    pool = math.ceil(acc / over_subscribe_ratio)
    return pool if pool != 0 else SHP_MIN_BYTES


def check_buffer(port_group: dict[str, tuple[Any, ...]], head_of: dict[tuple[Any, ...], Headroom],
                 model: SwitchModel, priorities: int, min_shared_fraction: float, *,
                 over_subscribe_ratio: float = DEFAULT_OVER_SUBSCRIBE_RATIO) -> list[dict[str, Any]]:
    """Per switch: lossless headroom must leave ``min_shared_fraction`` of the buffer shared.

    Without a shared headroom pool a switch reserves ``size`` per lossless PG; with one (non-zero
    ``over_subscribe_ratio``) it reserves xon per PG, 10 KiB private headroom per lossless port and the
    pool (:func:`shared_headroom_pool_bytes`). ``port_group`` maps ``node:port`` to its group key, whose
    last item says whether the port is lossless. Raises :class:`InfeasibleError` naming every switch
    that does not fit and its lossless ports.
    """
    per_switch: dict[str, list[tuple[str, int]]] = defaultdict(list)
    xoff_of: dict[str, float] = defaultdict(float)
    for port, key in port_group.items():
        if key[-1]:
            sw = port.split(":", 1)[0]
            per_switch[sw].append((port, head_of[key].headroom_bytes * priorities))
            xoff_of[sw] += head_of[key].xoff_bytes * priorities
    allowed = int(model.buffer_bytes * (1.0 - min_shared_fraction))
    rows, bad = [], []
    for sw in sorted(per_switch):
        ports = per_switch[sw]
        need = sum(h for _p, h in ports)
        if over_subscribe_ratio:
            need += len(ports) * SHP_PRIVATE_HEADROOM_BYTES
            need += shared_headroom_pool_bytes(xoff_of[sw], len(ports), over_subscribe_ratio)
        rows.append({"switch": sw, "headroom_bytes": need, "buffer_bytes": model.buffer_bytes,
                     "shared_bytes": model.buffer_bytes - need, "lossless_ports": len(ports)})
        if need > allowed:
            worst = sorted(ports, key=lambda ph: (-ph[1], ph[0]))
            bad.append(f"{sw} needs {need:,} B of headroom for ports "
                       + ", ".join(f"{p} ({h:,} B)" for p, h in worst[:4])
                       + (f" and {len(worst) - 4} more" if len(worst) > 4 else ""))
    if bad:
        more = f"; and {len(bad) - 4} more switch(es)" if len(bad) > 4 else ""
        raise InfeasibleError(f"lossless headroom does not fit the switch buffer ({model.buffer_bytes:,} B, "
                              f"at most {allowed:,} B may be headroom with {min_shared_fraction:.0%} kept "
                              f"shared): " + "; ".join(bad[:4]) + more, where="buffer check")
    return rows
