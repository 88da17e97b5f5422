"""The flows the packet model simulates: :class:`Flow`, and how a ``fabric.traffic.Demand`` becomes flows.

Shared by :mod:`fabric.ccsim.packet` (which runs them) and :mod:`fabric.ccsim.scenarios` (which makes
them), so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from fabric.errors import ConfigError
from fabric.traffic import Demand

#: 802.1p priority of a flow that gives none: the default lossless priority of :mod:`fabric.cc`.
DEFAULT_PRIORITY = 3


class Flow(NamedTuple):
    """One simulated flow: ``size_bytes`` from endpoint ``src`` to endpoint ``dst``, starting at ``start_s``.

    Priorities in the plan's ``lossless_priorities`` (default 3) use the lossless class (PFC); any
    other priority uses the lossy class (drops, never paused). With a UDP source port (a RoCEv2
    QP's ECMP entropy, as in ``fabric.traffic.Flow.sport``) the ECMP path is picked by a hash of
    (src, dst, sport, seed); without, by a hash of (src, dst, flow index, seed).

    A plain tuple ``(src, dst, bytes, start_s[, priority[, sport]])`` is accepted wherever a Flow
    is (:func:`as_flow`):

    >>> as_flow(("h1", "h2", 1e6, 0.0))
    Flow(src='h1', dst='h2', size_bytes=1000000.0, start_s=0.0, priority=3, sport=None)
    >>> as_flow(("h1", "h2", 1e6, 0.0, 0, 49152)).sport
    49152
    """

    src: str
    dst: str
    size_bytes: float
    start_s: float
    priority: int = DEFAULT_PRIORITY
    sport: int | None = None


def as_flow(fl: Any, i: int = 0) -> Flow:
    """``fl`` as a :class:`Flow` (a Flow is returned as it is); ``i`` is its index, for the error message."""
    if isinstance(fl, Flow):
        return fl
    if not isinstance(fl, tuple | list) or len(fl) not in (4, 5, 6):
        raise ConfigError(f"flow {i}: expected (src, dst, bytes, start_s[, priority[, sport]]), got {fl!r}")
    return Flow(*fl)


def as_flows(flows: Demand | Iterable[Any], *, duration_s: float) -> list[Flow]:
    """Flows from a list of flows or tuples, or from a ``fabric.traffic.Demand`` whose flows hold their
    rates for ``duration_s`` from t = 0 (:func:`flows_from_demand`)."""
    if isinstance(flows, Demand):
        return flows_from_demand(flows, duration_s=duration_s)
    return [as_flow(fl, i) for i, fl in enumerate(flows)]


def flows_from_demand(demand: Demand, *, bytes_per_src: float | Mapping[str, float] | None = None,
                      duration_s: float | None = None, start_s: float = 0.0,
                      priority: int = DEFAULT_PRIORITY) -> list[Flow]:
    """A ``fabric.traffic.Demand`` (rates) → packet-model flows (bytes), one per QP, in demand order.

    Give exactly one of

    - ``bytes_per_src``: the bytes each source sends in the collective (one number, or per source);
      a source's bytes are split over its flows in proportion to their ``rate_gbps`` (the demand's
      rates are time averages over the collective, so the rate share is the byte share);
    - ``duration_s``: every flow holds its rate for that long (bytes = rate_gbps·1e9/8·duration_s).

    Each flow keeps its UDP source port (``sport``), which the packet model hashes for ECMP, so the
    paths are those the demand's QPs would take.
    """
    if (bytes_per_src is None) == (duration_s is None):
        raise ConfigError("give exactly one of bytes_per_src and duration_s")
    if not demand.flows:
        raise ConfigError(f"demand {demand.name!r} has no flows")
    if duration_s is not None:
        if not duration_s > 0:
            raise ConfigError(f"duration_s must be positive, got {duration_s}")
        return [Flow(f.src, f.dst, f.rate_gbps * 1e9 / 8 * duration_s, start_s, priority, f.sport)
                for f in demand.flows]
    assert bytes_per_src is not None  # checked above: exactly one of the two is given
    src_gbps: dict[str, float] = {}
    for f in demand.flows:
        src_gbps[f.src] = src_gbps.get(f.src, 0.0) + f.rate_gbps
    out = []
    for f in demand.flows:
        total = bytes_per_src if isinstance(bytes_per_src, int | float) else bytes_per_src.get(f.src)
        if total is None or not total > 0:
            raise ConfigError(f"no positive byte count for source {f.src!r}", where="bytes_per_src")
        out.append(Flow(f.src, f.dst, float(total) * f.rate_gbps / src_gbps[f.src], start_s, priority, f.sport))
    return out
