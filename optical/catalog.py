"""Transceiver catalogue and fibre spectrum for wavelength planning.

A :class:`Transceiver` is one coherent interface type: line rate per wavelength, channel width on
the grid and unregenerated reach. Numbers carry their source in ``source``; where no public source
was at hand the entry says *assumption* and the figure is a default to override, not a fact.

>>> pick_transceiver(1600).name
'1.6T-LH'
>>> channels(C_BAND_GHZ, pick_transceiver("1.6T"))
24
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabric.errors import ConfigError
from optical.constants import C_BAND_GHZ, CL_BAND_GHZ


@dataclass(frozen=True)
class Transceiver:
    name: str
    rate_gbps: float
    channel_ghz: float
    reach_km: float
    source: str


#: The catalogue, one entry per rate (the planner picks by rate).
CATALOG: tuple[Transceiver, ...] = (
    Transceiver("400G-ZR+", 400.0, 75.0, 1500.0,
                "rate and 75 GHz grid: OIF 400ZR IA / OpenZR+ MSA; reach 1,500 km is an *assumption* "
                "(OpenZR+ class long-haul modes)"),
    Transceiver("800G-LH", 800.0, 150.0, 1000.0,
                "rate and 150 GHz channel: OIF 800ZR class (~118 GBaud); reach 1,000 km is an *assumption*"),
    Transceiver("1.6T-LH", 1600.0, 200.0, 700.0,
                "1.6 Tb/s single wavelength at up to 200 GBaud (Ciena WaveLogic 6 Extreme); reach: 700 km "
                "field trial (Telstra/Ericsson 2024), both via REFERENCE.md; 200 GHz channel is an *assumption*"),
)

#: Usable spectrum per fibre by band name.
BANDS_GHZ: dict[str, float] = {"C": C_BAND_GHZ, "C+L": CL_BAND_GHZ}


def parse_rate_gbps(rate: str | float) -> float:
    """``"1.6T"``, ``"800G"``, ``"400"`` or a number of Gb/s -> Gb/s."""
    if isinstance(rate, int | float):
        value = float(rate)
    else:
        text = str(rate).strip().upper().removesuffix("B/S").removesuffix("BPS")
        mult = 1.0
        if text.endswith("T"):
            mult, text = 1000.0, text[:-1]
        elif text.endswith("G"):
            text = text[:-1]
        try:
            value = float(text) * mult
        except ValueError:
            raise ConfigError(f"cannot read rate {rate!r} (write 400G, 800G or 1.6T)", where="rate") from None
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"rate must be positive, got {rate!r}", where="rate")
    return value


def pick_transceiver(rate: str | float, catalog: tuple[Transceiver, ...] = CATALOG) -> Transceiver:
    """The catalogue entry with exactly this line rate."""
    gbps = parse_rate_gbps(rate)
    for t in catalog:
        if abs(t.rate_gbps - gbps) < 1e-9:
            return t
    have = ", ".join(f"{t.rate_gbps:g}G" for t in catalog)
    raise ConfigError(f"no transceiver at {gbps:g} Gb/s in the catalogue (have {have})", where="rate")


def band_ghz(band: str) -> float:
    try:
        return BANDS_GHZ[band.upper()]
    except KeyError:
        raise ConfigError(f"unknown band {band!r} (expected {', '.join(BANDS_GHZ)})", where="band") from None


def channels(spectrum_ghz: float, t: Transceiver) -> int:
    """Number of wavelength slots of ``t`` in ``spectrum_ghz`` (fixed grid)."""
    return int(spectrum_ghz // t.channel_ghz)
