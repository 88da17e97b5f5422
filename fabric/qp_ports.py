"""RoCE QP source-port placement: choose each QP's UDP source port so that switch hashing spreads QPs.

The ports are placed on the WCMP groups of a Plan (``wcmp`` section) with the switch hash functions
and the flow simulation of :mod:`fabric.hashing`; the result is the Plan's ``qp_ports`` section.

Plan section ``qp_ports`` data shape (contract)::

    {"hash": str, "flows": [{"src": str, "dst": str, "sport": int, "dport": 4791, "path": [str]}],
     "max_load_random": float, "max_load_placed": float, "collisions_random": int,
     "collisions_placed": int, "usable_random": float, "usable_placed": float, "polarize": bool}
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from fabric.errors import ConfigError
from fabric.hashing import (
    CRC_TABLE,
    MAX_HOPS,
    HashConfig,
    Tables,
    crc32_nb,
    encode_tuple,
    simulate,
    switch_hash_nb,
)
from fabric.plan import Provenance, QpPortsSection
from fabric.topology import Fabric
from fabric.traffic import ROCE_SPORT_MAX, ROCE_SPORT_MIN, Demand


@njit(cache=True)
def _route_candidates(kind: int, use_qp: bool, sip: np.uint32, dip: np.uint32, sports: np.ndarray, dport: int,
                      qp: int, start: int, dnode: int, dcol: int, table: np.ndarray, g_off: np.ndarray, g_len: np.ndarray,
                      e_next: np.ndarray, e_link: np.ndarray, seeds: np.ndarray, cx: np.ndarray,
                      keys: np.ndarray, tz: np.ndarray, crc: np.ndarray, out: np.ndarray) -> None:
    """Links (-1 padded) taken by one flow for each candidate source port."""
    buf = np.zeros(16, dtype=np.uint8)
    for c in range(sports.shape[0]):
        n = encode_tuple(buf, sip, dip, sports[c], dport, qp, use_qp)
        base = crc32_nb(buf, n, np.uint32(0), crc) if kind == 0 else np.uint32(0)
        node = start
        hop = 0
        while node != dnode and hop < out.shape[1]:
            g = table[node, dcol]
            if g < 0:
                break
            h = switch_hash_nb(kind, base, node, seeds, cx, keys, tz, buf)
            e = g_off[g] + np.int64(h % np.uint32(g_len[g]))
            out[c, hop] = e_link[e]
            hop += 1
            node = e_next[e]
        for k in range(hop, out.shape[1]):
            out[c, k] = -1



@dataclass
class PlacementResult:
    hash: str
    polarize: bool
    flows: list[dict[str, Any]]
    max_load_random: float
    max_load_placed: float
    collisions_random: int
    collisions_placed: int
    usable_random: float
    usable_placed: float
    seconds: float
    kept_random: bool
    params: dict[str, Any] = field(default_factory=dict)

    def section(self) -> QpPortsSection:
        """The Plan ``qp_ports`` section with its provenance: objective is the placed max load over the
        ideal split, whose bound is 1 (a perfect split); the placement is a heuristic (FEASIBLE)."""
        prov = Provenance(solver=PLACEMENT_SOLVER, status="FEASIBLE", objective=self.max_load_placed, bound=1.0,
                          gap=(self.max_load_placed - 1.0) / max(self.max_load_placed, 1e-12),
                          seconds=round(self.seconds, 6), params=self.params)
        return QpPortsSection.from_dict(self.section_data(), provenance=prov)

    def section_data(self) -> dict[str, Any]:
        return {"hash": self.hash, "flows": self.flows, "max_load_random": self.max_load_random,
                "max_load_placed": self.max_load_placed, "collisions_random": self.collisions_random,
                "collisions_placed": self.collisions_placed, "usable_random": self.usable_random,
                "usable_placed": self.usable_placed, "polarize": self.polarize}

    def summary(self) -> dict[str, Any]:
        return {"hash": self.hash, "polarize": self.polarize, "flows": len(self.flows),
                "max_load_random": self.max_load_random, "max_load_placed": self.max_load_placed,
                "collisions_random": self.collisions_random, "collisions_placed": self.collisions_placed,
                "usable_random": self.usable_random, "usable_placed": self.usable_placed,
                "seconds": self.seconds, "kept_random": self.kept_random}


#: Name of the placement heuristic in the section's provenance.
PLACEMENT_SOLVER = "greedy-min-max"

#: Source ports tried per QP by default (the CLI's ``--candidates``).
DEFAULT_CANDIDATES = 512


def place_ports(fabric: Fabric, demand: Demand, groups: Sequence[dict[str, Any]], cfg: HashConfig | None = None,
                *, candidates: int = DEFAULT_CANDIDATES, seed: int = 0, passes: int = 2) -> PlacementResult:
    """Choose a UDP source port per QP so that hashing spreads the QPs as evenly as capacities allow.

    Greedy, largest QP first: for each QP try ``candidates`` source ports (its current port first,
    the rest drawn from 0xC000-0xFFFF with ``seed``), route each through the groups with the switch
    hash, and keep the port whose path minimises, in order, (1) the highest utilisation on the path
    after adding the QP, (2) the number of path links that already carry as many QPs as a perfect
    split would put there (a new collision), (3) the summed utilisation. Later ``passes`` take each QP
    out and place it again against all the others (its current port stays a candidate, so no move makes
    its own score worse). The demand's own ports are
    the random baseline; if the greedy result were worse than it (max load, then collisions), the
    baseline is kept and ``kept_random`` says so.
    """
    cfg = cfg or HashConfig()
    if candidates < 1:
        raise ConfigError(f"candidates must be >= 1, got {candidates}")
    t0 = time.perf_counter()
    t = Tables(fabric, groups, cfg)
    base = simulate(fabric, demand, groups, cfg, tables=t)
    a = t.flow_arrays(demand.flows)
    rng = np.random.default_rng(seed)
    need = np.ceil(base.fluid_count - 1e-9)
    load = np.zeros(len(t.links))
    count = np.zeros(len(t.links))
    # access links are fixed: add them up front
    for i in range(len(demand.flows)):
        for lk in (a["acc_out"][i], a["acc_in"][i]):
            if lk >= 0:
                load[lk] += a["rate"][i]
                count[lk] += 1
    order = sorted(range(len(demand.flows)), key=lambda i: -demand.flows[i].rate_gbps)
    chosen = [f.sport for f in demand.flows]
    current: dict[int, np.ndarray] = {}
    out = np.full((candidates, MAX_HOPS), -1, dtype=np.int64)
    for _pass in range(passes):
        for i in order:
            f = demand.flows[i]
            rate = f.rate_gbps
            if i in current:  # later passes: take the QP out and place it again against all the others
                load[current[i]] -= rate
                count[current[i]] -= 1
            sports = np.empty(candidates, dtype=np.int64)
            sports[0] = chosen[i]
            if candidates > 1:
                sports[1:] = rng.integers(ROCE_SPORT_MIN, ROCE_SPORT_MAX + 1, candidates - 1)
            _route_candidates(t.kind, cfg.use_qp, a["sip"][i], a["dip"][i], sports, int(a["dport"][i]),
                              int(a["qp"][i]), int(a["start"][i]), int(a["dnode"][i]), int(a["dcol"][i]), t.table,
                              t.g_off, t.g_len, t.e_next, t.e_link, t.seeds, t.cx, t.trow, t.tz, CRC_TABLE, out)
            best, best_c = None, 0
            for c in range(candidates):
                lks = out[c][out[c] >= 0]
                if lks.size == 0:
                    score = (0.0, 0, 0.0)
                else:
                    util = (load[lks] + rate) / t.cap[lks]
                    score = (round(float(util.max()), 12), int(np.sum(count[lks] >= need[lks])), float(util.sum()))
                if best is None or score < best:
                    best, best_c = score, c
            lks = out[best_c][out[best_c] >= 0].copy()
            load[lks] += rate
            count[lks] += 1
            current[i] = lks
            chosen[i] = int(sports[best_c])
    placed_d = demand.with_sports(chosen)
    placed = simulate(fabric, placed_d, groups, cfg, tables=t, record_paths=True)
    kept = False
    if (placed.max_load_ratio, placed.collisions) > (base.max_load_ratio, base.collisions):
        placed_d = demand
        placed = simulate(fabric, demand, groups, cfg, tables=t, record_paths=True)
        kept = True
    flows_out = []
    for i, f in enumerate(placed_d.flows):
        path = [f.src]
        start = t.net.inject(f.src)
        if start != f.src:
            path.append(start)
        if placed.paths is not None:
            for lk in placed.paths[i]:
                if lk < 0:
                    break
                path.append(t.links[lk][1])
        if path[-1] != f.dst:
            path.append(f.dst)
        flows_out.append({"src": f.src, "dst": f.dst, "sport": int(f.sport), "dport": int(f.dport), "path": path})
    return PlacementResult(cfg.kind, cfg.polarize, flows_out, _r(base.max_load_ratio), _r(placed.max_load_ratio),
                           base.collisions, placed.collisions, _r(base.usable_share), _r(placed.usable_share),
                           time.perf_counter() - t0, kept,
                           params={"hash": cfg.kind, "seed": cfg.seed, "polarize": cfg.polarize, "hash_qp": cfg.use_qp,
                                   "candidates": candidates, "passes": passes})


def _r(x: float) -> float:
    return float(round(x, 9)) if math.isfinite(x) else 0.0
