"""Scenarios for the packet model: N-to-1 incast, victim flow, ring all-reduce, all-to-all, simple bottleneck.

Each returns a :class:`Scenario` (a Fabric from :func:`fabric.builders.clos`, its
:class:`fabric.ccsim.flows.Flow` list and a suggested simulated time). The collective scenarios take
their traffic from the Demand generators of :mod:`fabric.traffic` (:func:`fabric.traffic.ring_allreduce`,
:func:`fabric.traffic.all_to_all`); :func:`fabric.ccsim.flows.flows_from_demand` turns a Demand's rates
into bytes per flow and keeps each QP's UDP source port for ECMP.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from fabric import traffic
from fabric.builders import DEFAULT_PORT_GBPS, clos
from fabric.ccsim.flows import Flow, as_flow, flows_from_demand
from fabric.errors import ConfigError
from fabric.topology import Fabric
from fabric.traffic import Demand

#: Port speed of every built-in scenario unless told otherwise, Gb/s (each scenario's ``gbps``
#: default: the 400G ports of :data:`fabric.builders.DEFAULT_PORT_GBPS`).
DEFAULT_GBPS = DEFAULT_PORT_GBPS
#: Scenario ``fabricctl sim cc-tune`` tunes when none is named (the N-to-1 incast of :func:`incast`).
DEFAULT_TUNE_SCENARIO = "incast"


@dataclass
class Scenario:
    name: str
    fabric: Fabric
    flows: list[Flow]
    t_end_s: float
    description: str
    expected_s: float | None = None      # rough run length, for sampling (None: t_end_s)
    demand: Demand | None = None         # the fabric.traffic Demand the flows came from, if any

    def __post_init__(self) -> None:
        self.flows = [as_flow(f, i) for i, f in enumerate(self.flows)]


def _clos_for(hosts: int, gbps: float, hosts_per_leaf: int = 8, spines: int = 2) -> Fabric:
    leaves = max(2, math.ceil(hosts / hosts_per_leaf))
    up = max(spines, (hosts_per_leaf // spines) * spines)
    return clos(leaves, spines, hosts_per_leaf, up, host_gbps=gbps, uplink_gbps=gbps)


def incast(n: int = 16, flow_bytes: float = 1e6, gbps: float = DEFAULT_GBPS, t_end_s: float = 10e-3) -> Scenario:
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
    flows = [Flow(s, dst, float(flow_bytes), 0.0) for s in order[:n]]
    return Scenario("incast", fab, flows, t_end_s, f"{n}-to-1 incast of {flow_bytes / 1e6:g} MB at {gbps:g}G",
                    expected_s=min(t_end_s, 1.2 * n * flow_bytes / (gbps * 1e9 / 8) + 20e-6))


def victim(n_long: int = 8, n_short: int = 32, short_bytes: float = 64e3, gbps: float = DEFAULT_GBPS,
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
    flows = [Flow(s, dst, 1e12, 0.0) for s in long_src]
    for i in range(n_short):
        s = remote[rng.randrange(len(remote))]
        flows.append(Flow(s, vic, float(short_bytes), t_end_s * 0.3 + i * 5e-6 + rng.random() * 2e-6, short_priority))
    return Scenario("victim", fab, flows, t_end_s,
                    f"{len(long_src)} long flows into {dst}, {n_short} x {short_bytes / 1e3:g} KB to {vic}")


def ring_bytes_per_src(demand: Demand, data_bytes: float) -> dict[str, float]:
    """Bytes each rank of a ring all-reduce demand sends, from the demand's structure.

    Following each source's successor until it comes back gives its ring length n. A ring all-reduce
    of ``data_bytes`` per rank is 2(n−1) steps (n−1 reduce-scatter, n−1 all-gather) of data/n bytes
    to the successor, so a rank sends 2(n−1)/n·data in all.
    """
    succ: dict[str, str] = {}
    for f in demand.flows:
        if succ.setdefault(f.src, f.dst) != f.dst:
            raise ConfigError(f"{f.src!r} sends to two peers: not a ring demand", where=demand.name)
    out = {}
    for s in succ:
        n, x = 1, succ[s]
        while x != s:
            if x not in succ or n > len(succ):
                raise ConfigError(f"the ring from {s!r} does not close", where=demand.name)
            n, x = n + 1, succ[x]
        out[s] = 2 * (n - 1) / n * data_bytes
    return out


def _ranks(n: int, gbps: float) -> tuple[Fabric, list[str]]:
    """n ranks placed round-robin across the leaves of a Clos (every ring hop crosses a spine)."""
    if n < 2:
        raise ConfigError(f"a collective needs at least 2 ranks, got {n}")
    fab = _clos_for(n, gbps, hosts_per_leaf=max(2, math.ceil(n / 2)))
    hosts = fab.endpoints()
    leaves = sorted({h.split("-")[0] for h in hosts})
    per_leaf = {lf: [h for h in hosts if h.startswith(lf + "-")] for lf in leaves}
    return fab, [per_leaf[leaves[i % len(leaves)]][i // len(leaves)] for i in range(n)]


def allreduce(n: int = 8, data_bytes: float = 4e6, gbps: float = DEFAULT_GBPS, t_end_s: float = 5e-3,
              seed: int = 1) -> Scenario:
    """Ring all-reduce from :func:`fabric.traffic.ring_allreduce` over n ranks placed round-robin across
    leaves; each ring edge carries 2(n−1)/n·``data_bytes`` (:func:`ring_bytes_per_src`); ``seed``
    picks the QPs' UDP source ports (ECMP paths)."""
    fab, ranks = _ranks(n, gbps)
    demand = traffic.ring_allreduce(fab, ranks, gbps, seed, per_rail=False)
    flows = flows_from_demand(demand, bytes_per_src=ring_bytes_per_src(demand, data_bytes))
    return Scenario("allreduce", fab, flows, t_end_s, f"ring all-reduce of {data_bytes / 1e6:g} MB over {n} ranks",
                    expected_s=min(t_end_s, 3 * flows[0].size_bytes / (gbps * 1e9 / 8) + 20e-6), demand=demand)


def alltoall(n: int = 8, data_bytes: float = 4e6, gbps: float = DEFAULT_GBPS, t_end_s: float = 5e-3,
             seed: int = 1) -> Scenario:
    """All-to-all (MoE token exchange) from :func:`fabric.traffic.all_to_all` over n ranks: each rank
    holds ``data_bytes`` split in n shards and sends one shard (data/n) to each of the n−1 others,
    (n−1)/n·data in all, divided over its flows by their rates (equal here)."""
    fab, ranks = _ranks(n, gbps)
    demand = traffic.all_to_all(fab, ranks, gbps, seed)
    flows = flows_from_demand(demand, bytes_per_src=(n - 1) / n * data_bytes)
    per_rank = (n - 1) / n * data_bytes
    return Scenario("alltoall", fab, flows, t_end_s, f"all-to-all of {data_bytes / 1e6:g} MB over {n} ranks",
                    expected_s=min(t_end_s, 3 * per_rank / (gbps * 1e9 / 8) + 20e-6), demand=demand)


def bottleneck(n: int = 2, gbps: float = DEFAULT_GBPS, t_end_s: float = 10e-3, stagger_s: float = 0.0) -> Scenario:
    """n long flows through one switch port: senders and receiver on one leaf (fluid-model check);
    flow i starts at i·``stagger_s`` (a convergence experiment: each new flow meets the others' rates)."""
    if n < 1:
        raise ConfigError(f"a bottleneck needs at least one flow, got {n}")
    if not stagger_s >= 0:
        raise ConfigError(f"stagger must be zero or positive, got {stagger_s} s")
    fab = clos(1, 1, n + 1, 1, host_gbps=gbps, uplink_gbps=gbps)
    hosts = fab.endpoints()
    flows = [Flow(h, hosts[0], 1e12, i * stagger_s) for i, h in enumerate(hosts[1:])]
    return Scenario("bottleneck", fab, flows, t_end_s, f"{n} long flows through one {gbps:g}G port"
                    + (f", one more every {stagger_s * 1e3:g} ms" if stagger_s else ""))


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "incast": incast, "victim": victim, "allreduce": allreduce, "alltoall": alltoall, "bottleneck": bottleneck}


def get(name: str, **kw) -> Scenario:
    try:
        fn = SCENARIOS[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r} (expected one of {', '.join(SCENARIOS)})",
                          where="SCENARIO") from None
    return fn(**kw)


