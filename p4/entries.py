"""One switch's forwarding state as plain data, derived from the Plan: what :mod:`p4.runtime` writes
as P4Runtime updates and what :mod:`p4.dpu` loads into the DPU pipeline. One derivation, two
renderers, so the switch and its DPU model cannot disagree.

Ids: next hops and WCMP groups are numbered per switch from 1 (0 means "none" in the program's
metadata), in a deterministic order (sorted by what they point at), so the same plan gives the same
ids and a changed plan changes only the ids of what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Nexthop:
    """A neighbour through one local port: egress port number and the MACs to write."""

    id: int
    neighbor: str
    port_name: str
    port: int
    src_mac: int
    dst_mac: int


@dataclass(frozen=True)
class WcmpGroup:
    """A WCMP group: ``(nexthop id, weight)`` members, weights the plan's integers (never 0)."""

    id: int
    members: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Route:
    """An LPM route: ``prefix`` (``10.0.1.7/32``, ``fd00::/64``) to a next hop or a WCMP group (one of
    the two ids is 0)."""

    prefix: str
    nexthop_id: int = 0
    wcmp_group_id: int = 0


@dataclass(frozen=True)
class EcnThresholds:
    """RED-like ECN marking of one egress port, in packets of the port MTU: no mark up to ``kmin``,
    probability ``(depth - kmin) * slope / 2^16`` above it, always from ``kmax``."""

    port: int
    kmin: int
    kmax: int
    slope: int


@dataclass(frozen=True)
class AclEntry:
    """A ternary ACL entry: ``match`` maps key name -> (value, mask); action ``acl_drop``,
    ``punt_to_cpu`` or ``acl_set_nexthop_id`` (with ``nexthop_id``)."""

    priority: int
    match: tuple[tuple[str, int, int], ...]
    action: str
    nexthop_id: int = 0


@dataclass(frozen=True)
class SwitchEntries:
    """Everything the control plane writes into one switch for one plan."""

    switch: str
    role: str
    ports: dict[str, int]                 # port name -> port number
    admit_ports: tuple[int, ...]
    dscp_to_tc: dict[int, int]            # DSCP -> traffic class (lossless priorities of the cc section)
    routes: tuple[Route, ...]
    nexthops: tuple[Nexthop, ...]
    groups: tuple[WcmpGroup, ...]
    ecn: tuple[EcnThresholds, ...] = ()
    acl: tuple[AclEntry, ...] = ()
    notes: tuple[str, ...] = field(default=())
