"""WCMP group reduction (Zhou et al., EuroSys 2014; REFERENCE.md) and the switch limits it must fit.

A group's real split p becomes integer weights w' (one member per physical port): for table sizes
T = 1, 2, ... :func:`reduce_group` water-fills T entries to minimise the oversubscription
δ = max_i (w'_i/Σw') / p_i and returns the smallest T with δ ≤ θ (or the least δ within the limits).
:func:`fit_switch` reduces every group of one switch, relaxing θ stepwise until the switch's distinct
groups fit its table (groups with equal members and weights share one table group, as switch SDKs do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from fabric.errors import ConfigError, InfeasibleError

#: A node's split towards one destination: (u, D) -> [(next node, member link key, share)].
Weights = dict[tuple[str, str], list[tuple[str, int, float]]]

#: Switch limits (REFERENCE.md "Switch limits seen in practice"): 256 members per ECMP group and 16K
#: entries per switch (Tomahawk-2 class); 3,968 WCMP groups and 256 max group weight on ToRs (SONiC
#: PINS SAI-P4; 512 on other switches, we use the stricter ToR value everywhere by default).
DEFAULT_MAX_MEMBERS = 256
DEFAULT_TABLE_SIZE = 16_384
DEFAULT_MAX_GROUPS = 3_968
DEFAULT_MAX_GROUP_WEIGHT = 256
#: θ schedule for fitting a switch's table: start exact, relax multiplicatively by 2% per step
#: (*assumption*: Zhou et al. relax θ stepwise without fixing the step).
DEFAULT_THETA0 = 1.0
DEFAULT_THETA_STEP = 0.02
#: Above this many LP variables the automatic choice is PDLP instead of GLOP (*assumption*: where


@dataclass(frozen=True)
class Limits:
    """Switch limits and the θ schedule; every field is a CLI option."""

    max_members: int = DEFAULT_MAX_MEMBERS
    max_group_weight: int = DEFAULT_MAX_GROUP_WEIGHT
    table_size: int = DEFAULT_TABLE_SIZE
    max_groups: int = DEFAULT_MAX_GROUPS
    theta0: float = DEFAULT_THETA0
    theta_step: float = DEFAULT_THETA_STEP

    def check(self) -> None:
        for name in ("max_members", "max_group_weight", "table_size", "max_groups"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.theta0 >= 1.0:
            raise ConfigError(f"theta0 must be >= 1, got {self.theta0}")
        if not self.theta_step > 0:
            raise ConfigError(f"theta_step must be > 0, got {self.theta_step}")


# ============================================================================ group reduction
@njit(cache=True)
def _fill(p: np.ndarray, total: int) -> np.ndarray:
    """Water-fill ``total`` integer entries over shares ``p`` minimising max_i w_i / p_i."""
    n = p.shape[0]
    w = np.floor(p * total).astype(np.int64)
    rest = total - w.sum()
    for _ in range(rest):
        best = -1
        best_key = np.inf
        for i in range(n):
            if p[i] <= 0:
                continue
            key = (w[i] + 1) / p[i]
            if key < best_key:
                best_key = key
                best = i
        w[best] += 1
    return w


@njit(cache=True)
def _delta(p: np.ndarray, w: np.ndarray) -> float:
    tot = w.sum()
    d = 0.0
    for i in range(p.shape[0]):
        if w[i] > 0:
            r = (w[i] / tot) / p[i]
            if r > d:
                d = r
    return d


@njit(cache=True)
def _reduce(p: np.ndarray, theta: float, max_weight: int) -> tuple[np.ndarray, float]:
    best_w = _fill(p, 1)
    best_d = _delta(p, best_w)
    if best_d <= theta:
        return best_w, best_d
    for total in range(2, max_weight + 1):
        w = _fill(p, total)
        d = _delta(p, w)
        if d <= theta:
            return w, d
        if d < best_d - 1e-12:
            best_d = d
            best_w = w
    return best_w, best_d


def reduce_group(shares: Sequence[float], theta: float = DEFAULT_THETA0, *,
                 max_weight: int = DEFAULT_MAX_GROUP_WEIGHT,
                 max_members: int = DEFAULT_MAX_MEMBERS) -> tuple[list[int], float]:
    """Integer weights for a split ``shares`` (non-negative, any scale) and their δ.

    Returns the smallest group (total weight) whose oversubscription δ = max_i (w_i/Σw)/p_i is at
    most ``theta``; if none fits in ``max_weight``, the one with the least δ. At most ``max_members``
    weights are non-zero (the largest shares are kept). Weights are divided by their gcd.

    >>> reduce_group([0.5, 0.25, 0.25])
    ([2, 1, 1], 1.0)
    >>> reduce_group([0.5, 0.3, 0.2], theta=1.3, max_weight=10)
    ([2, 1, 1], 1.25)
    >>> reduce_group([0.5, 0.3, 0.2], theta=1.1, max_weight=10)
    ([5, 3, 2], 1.0)
    """
    p = np.asarray(shares, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not np.all(np.isfinite(p)) or p.sum() <= 0:
        raise ConfigError(f"group shares must be non-negative with a positive sum, got {list(shares)}")
    p = p / p.sum()
    keep = p
    if np.count_nonzero(p) > max_members:
        order = np.argsort(-p, kind="stable")
        keep = np.zeros_like(p)
        keep[order[:max_members]] = p[order[:max_members]]
        keep = keep / keep.sum()
    w, _ = _reduce(keep, float(theta), int(max_weight))
    g = int(np.gcd.reduce(w[w > 0])) if np.any(w > 0) else 1
    w = w // max(g, 1)
    return [int(x) for x in w], float(_delta(p, w))


# ============================================================================ quantisation
class Reducer:
    """Memoised :func:`reduce_group` (many groups repeat the same split)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.memo: dict[tuple[Any, ...], tuple[list[int], float]] = {}

    def __call__(self, shares: Sequence[float], theta: float) -> tuple[list[int], float]:
        k = (tuple(round(x, 12) for x in shares), theta)
        got = self.memo.get(k)
        if got is None:
            if len(shares) == 1:
                got = ([1], 1.0)
            else:
                got = reduce_group(shares, theta, max_weight=self.limits.max_group_weight,
                                   max_members=self.limits.max_members)
            self.memo[k] = got
        return got


def fit_switch(sw: str, keys: list[tuple[str, str]], ideal: Weights, reducer: Reducer,
                limits: Limits) -> tuple[dict[tuple[str, str], tuple[list[int], float]], int, float]:
    """Reduce every group of one switch, relaxing θ until its distinct groups fit the table."""
    theta = limits.theta0
    while True:
        reduced = {gk: reducer([w for _v, _k, w in ideal[gk]], theta) for gk in keys}
        distinct: dict[tuple[Any, ...], int] = {}
        for gk, (w, _d) in reduced.items():
            sig = tuple((v, k, wi) for (v, k, _p), wi in zip(ideal[gk], w, strict=True) if wi > 0)
            distinct.setdefault(sig, sum(w))
        if len(distinct) > limits.max_groups:
            raise InfeasibleError(f"switch {sw} needs {len(distinct)} distinct groups, more than max_groups "
                                  f"{limits.max_groups}", where="wcmp")
        entries = sum(distinct.values())
        if entries <= limits.table_size:
            return reduced, entries, theta
        if all(sum(w) <= sum(1 for x in w if x) for w, _d in reduced.values()):
            raise InfeasibleError(f"switch {sw} needs {entries} entries even with one entry per member, "
                                  f"more than table_size {limits.table_size}", where="wcmp")
        theta *= 1 + limits.theta_step


