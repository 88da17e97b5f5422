"""Constants of the optical planners, each with its source or marked as an *assumption*.

Figures come from ../shared/REFERENCE.md unless another source is named. Every assumption is a
default a user can override (CLI flags, :class:`optical.budget.BudgetModel` fields); none is a fact
that a test relies on beyond the arithmetic it drives.
"""

from __future__ import annotations

from fabric.constants import FIBRE_US_PER_KM

__all__ = [
    "FIBRE_US_PER_KM", "TRANSPONDER_US", "FEC_US", "REGEN_US", "AMPLIFIER_US", "AMPLIFIER_SPAN_KM",
    "ROADM_US", "SWITCH_US", "OCS_US", "DEVICE_MAX_US", "FRAME_BYTES", "BUDGET_CLASSES_MS",
    "STRETCH_MAX", "CITY_MAX_KM", "REGIONAL_MAX_KM", "HUB_CITIES", "C_BAND_GHZ", "CL_BAND_GHZ",
    "DEFAULT_LINE_RATE", "WDM_K_PATHS", "WDM_TIME_LIMIT_S", "OCS_TOLERANCE", "OCS_TIME_LIMIT_S", "OCS_EVAL_TIME_LIMIT_S",
]

# --------------------------------------------------------------------------- device latencies (µs)
#: One coherent transponder / OTN mapping stage, one end, FEC excluded. *Assumption*: 5 µs, well under
#: the MIIT 2023 target of ≤30 µs per inter-centre transmission device (REFERENCE.md, "Device latency").
TRANSPONDER_US = 5.0
#: Forward error correction decode, once per electrically terminated segment: ≈30 µs for standard
#: FEC (Huawei planning guide via REFERENCE.md; soft-decision FEC more, *unverified* per vendor).
FEC_US = 30.0
#: One electrical (OEO) regeneration site: 100 µs (Huawei planning guide via REFERENCE.md).
REGEN_US = 100.0
#: One optical line amplifier (EDFA): 100 ns (Huawei planning guide via REFERENCE.md).
AMPLIFIER_US = 0.1
#: Amplifier spacing on long-haul fibre, km. *Assumption*: 80 km, the usual span length.
AMPLIFIER_SPAN_KM = 80.0
#: Optical pass-through of a ROADM (wavelength-selective switches, a few metres of fibre).
#: *Assumption*: 0.1 µs.
ROADM_US = 0.1
#: A packet switch on the path (leaf, spine, DCI router), port to port. *Assumption*: 1 µs
#: (cut-through data-centre switches are typically 0.5-1 µs).
SWITCH_US = 1.0
#: An optical circuit switch passes light through mirrors: no buffering. *Assumption*: 0.01 µs.
OCS_US = 0.01
#: Upper limit per inter-centre transmission device (MIIT 2023 challenge list via REFERENCE.md).
DEVICE_MAX_US = 30.0
#: Frame used for serialisation delay, bytes (REFERENCE.md example: 1500 B -> 7.5 ns at 1.6T).
FRAME_BYTES = 1500

# --------------------------------------------------------------------------- budgets
#: Latency budget classes, one-way ms: within a city 1 ms, hub to nearby provinces 5 ms, between
#: national hubs 20 ms (CAICT 2024, China Mobile, SCIO Aug 2024; REFERENCE.md).
BUDGET_CLASSES_MS: dict[str, float] = {"city": 1.0, "regional": 5.0, "hub": 20.0}
#: Direct links between hub clusters at most 1.5x the great-circle ("theoretical") latency
#: (MIIT 2023 action plan; REFERENCE.md).
STRETCH_MAX = 1.5
#: Automatic budget class by great-circle distance. *Assumption*: up to 100 km is one city, up to
#: 1,000 km a hub and its nearby provinces; farther is hub to hub.
CITY_MAX_KM = 100.0
REGIONAL_MAX_KM = 1000.0
#: The eight national hub nodes, one city each, all present in Topology Zoo's Chinanet (REFERENCE.md).
HUB_CITIES: tuple[str, ...] = ("Beijing", "Shanghai", "Guangzhou", "Chengdu", "Guiyang", "Hohhot",
                               "Lanzhou", "Yinchuan")

# --------------------------------------------------------------------------- spectrum
#: Usable C band per fibre, GHz. *Assumption*: 4.8 THz (extended C band, 191.3-196.1 THz on the
#: ITU-T G.694.1 grid).
C_BAND_GHZ = 4800.0
#: Usable C+L band per fibre, GHz. *Assumption*: twice the C band (L band 4.8 THz).
CL_BAND_GHZ = 9600.0

# --------------------------------------------------------------------------- planner defaults
#: Line rate per wavelength when none is given: the 1.6 Tb/s links between centres this project plans for.
DEFAULT_LINE_RATE = "1.6T"
#: Candidate routes per WDM demand (k shortest). *Assumption*: 4 covers the disjoint routes of the
#: national backbone graphs we ship while keeping CP-SAT small.
WDM_K_PATHS = 4
#: CP-SAT time limit of the WDM assignment, s.
WDM_TIME_LIMIT_S = 10.0
#: Usable spectrum per fibre when none is named: the C band (:data:`C_BAND_GHZ`; C+L doubles it).
DEFAULT_BAND = "C"
#: WDM solver when none is named: CP-SAT (exact, with a bound); ``first-fit`` is the baseline.
WDM_SOLVER = "cp-sat"
#: With current circuits: accept a throughput within this fraction of the best found (fewer changes).
OCS_TOLERANCE = 0.01
#: CP-SAT and local-search time limit of the OCS planner, s.
OCS_TIME_LIMIT_S = 10.0
#: Time limit of each evaluation of placed OCS circuits, s.
OCS_EVAL_TIME_LIMIT_S = 120.0
#: How the OCS planner evaluates placed circuits when not told: ``auto`` (the exact LP on small
#: instances, flow deviation on large ones).
OCS_EVALUATOR = "auto"
