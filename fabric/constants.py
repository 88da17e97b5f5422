"""Physical constants and unit conversions, each with its source (../shared/REFERENCE.md).

Units are in names everywhere in fabricctl: ``capacity_gbps``, ``length_km``, ``latency_us``.
"""

from __future__ import annotations

import math

#: One-way propagation in standard single-mode fibre at 1550 nm, µs per km
#: (group index ≈ 1.468, SMF-28 1.4682; REFERENCE.md "Physics and line rates").
FIBRE_US_PER_KM = 4.897

#: Planning rule of thumb for fibre latency, µs per km (REFERENCE.md).
FIBRE_PLANNING_US_PER_KM = 5.0

#: Ethernet per-frame overhead on the wire: 8 B preamble/SFD + 12 B inter-frame gap (IEEE 802.3).
ETHERNET_WIRE_OVERHEAD_BYTES = 20

#: Mean Earth radius used for great-circle distances, km (IUGG mean radius R1).
EARTH_RADIUS_KM = 6371.0088

#: Default ratio of fibre route length to great-circle distance. Fibre follows roads, railways and
#: rights of way, so it is longer than the geodesic; 1.0 reproduces the REFERENCE.md figure
#: (Beijing–Guangzhou 1,890 km -> 9.3 ms). Planners that need real fibre length should pass a factor
#: (1.2-1.5 are common planning values; *assumption*, override per study). The MIIT 2023 rule of
#: "≤1.5x the theoretical latency" bounds it from above for hub-to-hub direct links.
DEFAULT_ROUTE_FACTOR = 1.0

#: Speed of light in vacuum, m/s.
SPEED_OF_LIGHT_M_S = 299_792_458.0


def fibre_latency_us(length_km: float, us_per_km: float = FIBRE_US_PER_KM) -> float:
    """One-way propagation delay of a fibre span.

    >>> round(fibre_latency_us(1000.0), 1)
    4897.0
    """
    return length_km * us_per_km


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in km between two points given in degrees.

    >>> round(great_circle_km(39.9075, 116.39723, 23.11667, 113.25))
    1890
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def wire_bits(frame_bytes: int) -> int:
    """Bits a frame occupies on the wire including preamble and inter-frame gap."""
    return (frame_bytes + ETHERNET_WIRE_OVERHEAD_BYTES) * 8


def line_rate_pps(rate_gbps: float, frame_bytes: int) -> float:
    """Packets per second at line rate: rate / ((L + 20) * 8).

    >>> round(line_rate_pps(400, 64) / 1e6, 1)
    595.2
    """
    return rate_gbps * 1e9 / wire_bits(frame_bytes)


def serialisation_ns(frame_bytes: int, rate_gbps: float) -> float:
    """Time to put ``frame_bytes`` on a link (frame only, no preamble), ns.

    >>> serialisation_ns(1500, 400)
    30.0
    """
    return frame_bytes * 8 / rate_gbps
