"""Scenarios for the packet model: N-to-1 incast, victim flow, ring all-reduce, simple bottleneck.

Each returns a :class:`Scenario` (a Fabric from :func:`fabric.builders.clos`, flows as
``(src, dst, bytes, start_s)`` and a suggested simulated time). The all-reduce traffic is built by
:func:`ring_allreduce_flows` and passed through :func:`flows_from_demand`, the boundary where a
``fabric.traffic`` Demand's flows will plug in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fabric.builders import clos
from fabric.errors import ConfigError
from fabric.topology import Fabric


@dataclass
class Scenario:
    name: str
    fabric: Fabric
    flows: list[tuple]
    t_end_s: float
    description: str
    expected_s: float | None = None      # rough run length, for sampling (None: t_end_s)


def _clos_for(hosts: int, gbps: float, hosts_per_leaf: int = 8, spines: int = 2) -> Fabric:
    leaves = max(2, math.ceil(hosts / hosts_per_leaf))
    up = max(spines, (hosts_per_leaf // spines) * spines)
    return clos(leaves, spines, hosts_per_leaf, up, host_gbps=gbps, uplink_gbps=gbps)


def incast(n: int = 16, flow_bytes: float = 1e6, gbps: float = 400.0, t_end_s: float = 10e-3) -> Scenario:
    """n senders (on every leaf) each send ``flow_bytes`` to one receiver at t = 0."""
    if n < 1:
        raise ConfigError(f"incast needs at least one sender, got {n}")
    fab = _clos_for(n + 1, gbps)
    hosts = fab.endpoints()
    dst = hosts[0]
    senders = [h for h in hosts if h != dst]
    # spread senders over leaves: round-robin by leaf
    by_leaf: dict[str, list[str]] = {}
    for h in senders:
        by_leaf.setdefault(h.split("-")[0], []).append(h)
    order = [hs[i] for i in range(max(len(v) for v in by_leaf.values())) for hs in by_leaf.values() if i < len(hs)]
    flows = [(s, dst, float(flow_bytes), 0.0) for s in order[:n]]
    return Scenario("incast", fab, flows, t_end_s, f"{n}-to-1 incast of {flow_bytes / 1e6:g} MB at {gbps:g}G",
                    expected_s=min(t_end_s, 1.2 * n * flow_bytes / (gbps * 1e9 / 8) + 20e-6))


def victim(n_long: int = 8, n_short: int = 32, short_bytes: float = 64e3, gbps: float = 400.0,
           t_end_s: float = 3e-3, seed: int = 1, short_priority: int = 3) -> Scenario:
    """Long flows incast onto one receiver; a burst of short flows to a neighbour of it (the victim).

    ``short_priority`` puts the short flows on another 802.1p priority (e.g. 0: lossy, not paused).
    """
    fab = _clos_for(n_long + 8, gbps)
    hosts = fab.endpoints()
    dst, vic = hosts[0], hosts[1]
    remote = [h for h in hosts if not h.startswith(dst.split("-")[0] + "-")]
    rng = random.Random(seed)
    long_src = remote[:n_long] if len(remote) >= n_long else remote
    flows: list[tuple] = [(s, dst, 1e12, 0.0) for s in long_src]
    for i in range(n_short):
        s = remote[rng.randrange(len(remote))]
        flows.append((s, vic, float(short_bytes), t_end_s * 0.3 + i * 5e-6 + rng.random() * 2e-6, short_priority))
    return Scenario("victim", fab, flows, t_end_s,
                    f"{len(long_src)} long flows into {dst}, {n_short} x {short_bytes / 1e3:g} KB to {vic}")


def ring_allreduce_flows(hosts: list[str], data_bytes: float) -> list[tuple[str, str, float]]:
    """Ring all-reduce of ``data_bytes`` per rank: each rank sends 2(n−1)/n·data to the next rank."""
    n = len(hosts)
    if n < 2:
        raise ConfigError("all-reduce needs at least 2 ranks")
    per = 2 * (n - 1) / n * data_bytes
    return [(hosts[i], hosts[(i + 1) % n], per) for i in range(n)]


def flows_from_demand(flows: Iterable[tuple[str, str, float]], start_s: float = 0.0) -> list[tuple[str, str, float, float]]:
    """The boundary for traffic generators: (src, dst, bytes) triples → packet-model flows."""
    return [(s, d, float(b), start_s) for s, d, b in flows]


def allreduce(n: int = 8, data_bytes: float = 4e6, gbps: float = 400.0, t_end_s: float = 5e-3) -> Scenario:
    """Ring all-reduce over n ranks placed round-robin across leaves (every ring hop crosses a spine)."""
    fab = _clos_for(n, gbps, hosts_per_leaf=max(2, math.ceil(n / 2)))
    hosts = fab.endpoints()
    leaves = sorted({h.split("-")[0] for h in hosts})
    per_leaf = {lf: [h for h in hosts if h.startswith(lf + "-")] for lf in leaves}
    ranks = [per_leaf[leaves[i % len(leaves)]][i // len(leaves)] for i in range(n)]
    flows = flows_from_demand(ring_allreduce_flows(ranks, data_bytes))
    return Scenario("allreduce", fab, flows, t_end_s, f"ring all-reduce of {data_bytes / 1e6:g} MB over {n} ranks",
                    expected_s=min(t_end_s, 3 * flows[0][2] / (gbps * 1e9 / 8) + 20e-6))


def bottleneck(n: int = 2, gbps: float = 400.0, t_end_s: float = 10e-3) -> Scenario:
    """n long flows through one switch port: senders and receiver on one leaf (fluid-model check)."""
    fab = clos(1, 1, n + 1, 1, host_gbps=gbps, uplink_gbps=gbps)
    hosts = fab.endpoints()
    flows = [(h, hosts[0], 1e12, 0.0) for h in hosts[1:]]
    return Scenario("bottleneck", fab, flows, t_end_s, f"{n} long flows through one {gbps:g}G port")


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "incast": incast, "victim": victim, "allreduce": allreduce, "bottleneck": bottleneck}


def get(name: str, **kw) -> Scenario:
    try:
        fn = SCENARIOS[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r} (expected one of {', '.join(SCENARIOS)})",
                          where="SCENARIO") from None
    return fn(**kw)
