"""The Plan's sections as typed, validated dataclasses: the shape *is* the code below.

Every section is a frozen dataclass whose fields are the JSON keys of the section's ``data`` object in
a plan file (see :mod:`fabric.contract` for the type rules), plus its :class:`Provenance` (how it was
computed), stored next to ``data``. A plan file looks like::

    {"schema_version": "1.1", "fabric": "example", "fabric_digest": "sha256:...", "created_unix": 1.7e9,
     "sections": {"wcmp": {"provenance": {...}, "data": {...WcmpSection fields...}}, ...}}

Keys are never renamed (other tools read them); new keys are added with a minor schema version.
A section's ``check`` holds the rules the types cannot say; its errors name the section and the JSON
path (``sections.wcmp.data.groups[3].next_hops[0].weight: must be >= 1``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from fabric import contract
from fabric.contract import fail

#: Switch priorities an 802.1Qbb PFC class can use.
PFC_PRIORITIES = range(8)


@dataclass(frozen=True)
class Provenance:
    """How a section was computed.

    ``gap`` is relative: ``(objective - bound) / max(|objective|, eps)`` for a minimisation. ``params``
    are the planner's options. ``created_unix`` is stamped by the caller when the section is added
    to a plan (the model never reads a clock); ``fabric_digest`` is the digest of the fabric the section
    was computed on (``None`` for sections that need no fabric, such as OCS blocks, and in plans
    written before digests existed).
    """

    solver: str = ""
    status: str = ""
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    seconds: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created_unix: float | None = None
    tool: str = "fabricctl"
    fabric_digest: str | None = None


@dataclass(frozen=True)
class Section:
    """Base of every section: ``NAME`` is its key in the plan; ``provenance`` travels with it."""

    NAME: ClassVar[str] = ""
    #: Whether the section is computed on a Fabric (its digest must then match the plan's).
    NEEDS_FABRIC: ClassVar[bool] = True

    def to_dict(self) -> dict[str, Any]:
        """The section's ``data`` object as written in a plan file."""
        out = contract.dump(self)
        assert isinstance(out, dict)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, provenance: Provenance | None = None, path: str | None = None,
                  strict: bool = True) -> Any:
        """Build and validate from a section's ``data`` object; errors name ``path``
        (default ``sections.<NAME>.data``)."""
        sec = contract.load(cls, data, path if path is not None else f"sections.{cls.NAME}.data", strict=strict)
        return dataclasses.replace(cast(Any, sec), provenance=provenance) if provenance is not None else sec

    def with_provenance(self, **changes: Any) -> Any:
        """A copy whose provenance has ``changes`` applied (e.g. ``created_unix``, ``fabric_digest``)."""
        prov: Provenance = getattr(self, "provenance")  # noqa: B009 - every subclass has the field
        return dataclasses.replace(cast(Any, self), provenance=dataclasses.replace(prov, **changes))


def _prov() -> Any:
    return field(default_factory=Provenance, metadata={"skip": True}, compare=True)


def _extra() -> Any:
    return field(default_factory=dict, repr=False)


def _nonneg(path: str, **values: float) -> None:
    for name, v in values.items():
        if v < 0:
            fail(f"{path}.{name}", f"must be >= 0, got {v}")


def _unique(path: str, what: str, keys: list[Any]) -> None:
    seen: dict[Any, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            fail(f"{path}[{i}]", f"duplicate {what} {k!r} (also at index {seen[k]})")
        seen[k] = i


# ============================================================================ wcmp
@dataclass(frozen=True)
class NextHop:
    """One WCMP member: the neighbour, the local egress port towards it, and its integer weight."""

    node: str
    port: str
    weight: int

    def check(self, path: str) -> None:
        if self.weight < 1:
            fail(f"{path}.weight", f"must be >= 1, got {self.weight}")


@dataclass(frozen=True)
class WcmpGroup:
    """The next hops of ``switch`` towards destination key ``dst``; ``delta`` is the oversubscription
    of the integer weights against the LP split (1.0 = exact)."""

    switch: str
    dst: str
    next_hops: list[NextHop]
    delta: float

    def check(self, path: str) -> None:
        if not self.next_hops:
            fail(f"{path}.next_hops", "a group needs at least one next hop")
        _unique(f"{path}.next_hops", "member", [(h.node, h.port) for h in self.next_hops])

    @property
    def total_weight(self) -> int:
        return sum(h.weight for h in self.next_hops)

    def weights(self) -> dict[tuple[str, str], int]:
        """Member (node, port) -> weight."""
        return {(h.node, h.port): h.weight for h in self.next_hops}


@dataclass(frozen=True)
class WcmpLimits:
    """Switch table limits the groups were fitted into (:class:`fabric.wcmp.Limits`)."""

    max_members: int
    max_group_weight: int
    table_size: int
    max_groups: int
    theta0: float
    theta_step: float


@dataclass(frozen=True)
class WcmpSection(Section):
    """Per switch and destination: next hops with integer weights (WCMP), and the MLU figures.

    ``mlu_lp`` is the LP optimum (a lower bound for any routing on the candidate DAGs), ``mlu_wcmp``
    the MLU of the integer groups pushed hop by hop, ``mlu_ecmp`` that of equal splits; ``mlu_access``
    the utilisation of single-homed endpoints' own links (no routing can change it).
    ``failed_links`` were down when the section was computed.
    """

    NAME: ClassVar[str] = "wcmp"
    groups: list[WcmpGroup]
    mlu_lp: float
    mlu_wcmp: float
    mlu_ecmp: float
    entries_used: int
    max_delta: float
    mlu_access: float
    demand: str
    failed_links: list[str]
    limits: WcmpLimits
    extra: dict[str, Any] = _extra()
    provenance: Provenance = _prov()

    def check(self, path: str) -> None:
        _nonneg(path, mlu_lp=self.mlu_lp, mlu_wcmp=self.mlu_wcmp, mlu_ecmp=self.mlu_ecmp,
                mlu_access=self.mlu_access, entries_used=self.entries_used)
        _unique(f"{path}.groups", "group (switch, dst)", [(g.switch, g.dst) for g in self.groups])
        for i, g in enumerate(self.groups):
            if len(g.next_hops) > self.limits.max_members:
                fail(f"{path}.groups[{i}].next_hops", f"{len(g.next_hops)} members exceed limits.max_members "
                                                      f"{self.limits.max_members}")
            if g.total_weight > self.limits.max_group_weight:
                fail(f"{path}.groups[{i}].next_hops", f"total weight {g.total_weight} exceeds "
                                                      f"limits.max_group_weight {self.limits.max_group_weight}")

    def by_switch(self) -> dict[str, dict[str, WcmpGroup]]:
        """switch -> dst -> group."""
        out: dict[str, dict[str, WcmpGroup]] = {}
        for g in self.groups:
            out.setdefault(g.switch, {})[g.dst] = g
        return out

    def group_dicts(self) -> list[dict[str, Any]]:
        """The groups as plain JSON data (what the hashing simulation and port placement read)."""
        out = contract.dump(self.groups)
        assert isinstance(out, list)
        return out


# ============================================================================ qp_ports
@dataclass(frozen=True)
class QpFlow:
    """One RoCEv2 QP: endpoints, UDP ports (source port = the entropy the hash sees) and its path."""

    src: str
    dst: str
    sport: int
    dport: int
    path: list[str]

    def check(self, path: str) -> None:
        for name in ("sport", "dport"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFFFF:
                fail(f"{path}.{name}", f"not a UDP port: {v}")


@dataclass(frozen=True)
class QpPortsSection(Section):
    """QP source ports placed against the switch hash on the ``wcmp`` groups, with the random-port
    baseline: max link load over the ideal split, collisions, and the usable share of capacity."""

    NAME: ClassVar[str] = "qp_ports"
    hash: str
    flows: list[QpFlow]
    max_load_random: float
    max_load_placed: float
    collisions_random: int
    collisions_placed: int
    usable_random: float
    usable_placed: float
    polarize: bool
    extra: dict[str, Any] = _extra()
    provenance: Provenance = _prov()


# ============================================================================ cc
@dataclass(frozen=True)
class PfcParams:
    """PFC thresholds of a port group (SONiC's headroom calculation, :mod:`fabric.cc`)."""

    xoff_bytes: int
    xon_bytes: int
    headroom_bytes: int
    pause_quanta: int
    peer_response_bytes: float
    cable_bytes: float
    propagation_bytes: float
    cell_occupancy: float

    def check(self, path: str) -> None:
        _nonneg(path, xoff_bytes=self.xoff_bytes, xon_bytes=self.xon_bytes, headroom_bytes=self.headroom_bytes)


@dataclass(frozen=True)
class EcnParams:
    """RED-like ECN marking: probability 0 at ``kmin_bytes`` of queue, rising to ``pmax`` at ``kmax_bytes``."""

    kmin_bytes: int
    kmax_bytes: int
    pmax: float

    def check(self, path: str) -> None:
        _nonneg(path, kmin_bytes=self.kmin_bytes)
        if self.kmax_bytes < self.kmin_bytes:
            fail(f"{path}.kmax_bytes", f"must be >= kmin_bytes ({self.kmin_bytes}), got {self.kmax_bytes}")
        if not 0.0 <= self.pmax <= 1.0:
            fail(f"{path}.pmax", f"must be a probability in [0, 1], got {self.pmax}")


@dataclass(frozen=True)
class DcqcnParams:
    """NIC DCQCN parameters of a port group (rates scaled to its line rate)."""

    g: float
    alpha_timer_us: float
    rate_increase_timer_us: float
    byte_counter_bytes: int
    fast_recovery_steps: int
    rai_mbps: float
    rhai_mbps: float
    min_rate_mbps: float
    cnp_interval_us: float
    rate_reduce_period_us: float
    max_cut_fraction: float
    alpha_update_before_cut: bool
    line_rate_gbps: float
    # ConnectX firmware RP knobs (fabric.cc.Profile); the defaults are the DCQCN paper's RP, which is
    # what plans written before these keys existed were simulated with
    # (written only when not at the default: ``omit_default``)
    clamp_tgt_rate: bool = field(default=True, metadata={"omit_default": True})
    clamp_tgt_rate_after_time_inc: bool = field(default=True, metadata={"omit_default": True})
    rate_to_set_on_first_cnp_mbps: float = field(default=0.0, metadata={"omit_default": True})
    initial_alpha: float = field(default=1.0, metadata={"omit_default": True})
    rpg_gd: int = field(default=11, metadata={"omit_default": True})
    release_at_line_rate: bool = field(default=False, metadata={"omit_default": True})


@dataclass(frozen=True)
class HpccParams:
    """HPCC parameters: η, maxStage, base RTT, BDP window and additive increase W_AI."""

    eta: float
    max_stage: int
    base_rtt_us: float
    bdp_bytes: int
    w_ai_bytes: int
    expected_flows: int


@dataclass(frozen=True)
class CcPortGroup:
    """Switch ports of one speed and cable length, and their PFC/ECN/DCQCN/HPCC parameters.
    ``ports`` are ``node:port``; ``lossless`` is false where PFC cannot work (WAN lengths)."""

    speed_gbps: float
    cable_m: float
    switch_model: str
    lossless: bool
    ports: list[str]
    pfc: PfcParams
    ecn: EcnParams
    dcqcn: DcqcnParams
    hpcc: HpccParams


@dataclass(frozen=True)
class CcBuffer:
    """Per switch: headroom reserved for its lossless ports against its packet buffer."""

    switch: str
    headroom_bytes: int
    buffer_bytes: int
    shared_bytes: int
    lossless_ports: int


@dataclass(frozen=True)
class CcSection(Section):
    """Congestion control per port group: PFC headroom, ECN marking, DCQCN/HPCC, and the buffer check.
    ``lossless_priorities`` are the 802.1p priorities (traffic classes) with PFC on."""

    NAME: ClassVar[str] = "cc"
    profile: str
    profile_source: str
    profile_assumptions: list[str]
    switch_model: str
    switch_buffer_bytes: int
    lossless_priorities: list[int]
    port_mtu_bytes: int
    lossless_mtu_bytes: int
    small_packet_percent: float
    port_groups: list[CcPortGroup]
    buffer: list[CcBuffer]
    model: dict[str, Any]
    warnings: list[str]
    extra: dict[str, Any] = _extra()
    provenance: Provenance = _prov()

    def check(self, path: str) -> None:
        for i, p in enumerate(self.lossless_priorities):
            if p not in PFC_PRIORITIES:
                fail(f"{path}.lossless_priorities[{i}]", f"not an 802.1p priority (0-7): {p}")
        _unique(f"{path}.lossless_priorities", "priority", list(self.lossless_priorities))
        _unique(f"{path}.buffer", "switch", [b.switch for b in self.buffer])


# ============================================================================ ocs
@dataclass(frozen=True)
class OcsLogical:
    """Circuits between two aggregation blocks, summed over the OCS devices."""

    a: str
    b: str
    circuits: int


@dataclass(frozen=True)
class OcsSection(Section):
    """OCS cross-connects: per OCS a list of ``[port, port]`` pairs, the block wiring they realise,
    and the throughput scale they carry against the LP bound. Computed from blocks, not a Fabric."""

    NAME: ClassVar[str] = "ocs"
    NEEDS_FABRIC: ClassVar[bool] = False
    throughput_scale: float
    lp_bound: float
    gap: float
    mlu: float
    circuits: dict[str, list[list[int]]]
    logical: list[OcsLogical]
    wiring: dict[str, dict[str, list[int]]]
    circuit_gbps: float
    direct_share: float
    dropped: int
    changed: dict[str, Any]
    extra: dict[str, Any] = _extra()
    provenance: Provenance = _prov()

    def check(self, path: str) -> None:
        for ocs, pairs in self.circuits.items():
            used: dict[int, int] = {}
            for i, pr in enumerate(pairs):
                where = f"{path}.circuits.{ocs}[{i}]"
                if len(pr) != 2 or pr[0] == pr[1]:
                    fail(where, f"a cross-connect joins two different ports, got {pr}")
                for port in pr:
                    if port in used:
                        fail(where, f"port {port} is already cross-connected at index {used[port]}")
                    used[port] = i

    def cross_connects(self) -> set[tuple[str, int, int]]:
        """(ocs, low port, high port) of every circuit."""
        return {(o, min(p), max(p)) for o, pairs in self.circuits.items() for p in pairs}


# ============================================================================ wdm
@dataclass(frozen=True)
class Lightpath:
    """One wavelength between DCI nodes: route over fibres, channel index, rate, regenerators."""

    src: str
    dst: str
    route: list[str]
    wavelength: int
    rate_gbps: float
    protection: bool
    demand: int
    km: float
    latency_us: float
    regenerators: list[str]

    def check(self, path: str) -> None:
        if self.wavelength < 0:
            fail(f"{path}.wavelength", f"must be >= 0, got {self.wavelength}")
        if len(self.route) < 2:
            fail(f"{path}.route", "a route needs at least two nodes")


@dataclass(frozen=True)
class WdmBlocked:
    """Part of a demand that could not be served, and why."""

    src: str
    dst: str
    demand: int
    lightpaths: int
    tbps: float
    reason: str


@dataclass(frozen=True)
class WdmFibre:
    """One fibre span: how many fibres, its load and the wavelengths lit on it."""

    a: str
    b: str
    fibres: int
    km: float
    load: int
    wavelengths: list[int]


@dataclass(frozen=True)
class WdmSection(Section):
    """1.6T wavelength routing and assignment between sites; ``lower_bound`` bounds
    ``wavelengths_used`` from below."""

    NAME: ClassVar[str] = "wdm"
    lightpaths: list[Lightpath]
    wavelengths_used: int
    lower_bound: int
    max_fiber_load: int
    channels: int
    blocked: list[WdmBlocked]
    fibres: list[WdmFibre]
    extra: dict[str, Any] = _extra()
    provenance: Provenance = _prov()

    def check(self, path: str) -> None:
        fibres: dict[frozenset[str], int] = {}
        for f in self.fibres:
            span = frozenset((f.a, f.b))
            fibres[span] = fibres.get(span, 0) + f.fibres
        lit: dict[tuple[frozenset[str], int], int] = {}
        for i, lp in enumerate(self.lightpaths):
            if lp.wavelength >= self.channels:
                fail(f"{path}.lightpaths[{i}].wavelength", f"{lp.wavelength} is not below channels {self.channels}")
            for a, b in zip(lp.route, lp.route[1:], strict=False):
                span = frozenset((a, b))
                n = lit[(span, lp.wavelength)] = lit.get((span, lp.wavelength), 0) + 1
                if span in fibres and n > fibres[span]:
                    # wavelength continuity: one wavelength is lit once per fibre of a span
                    fail(f"{path}.lightpaths[{i}]", f"wavelength {lp.wavelength} is lit {n} times on {a}--{b}, "
                                                    f"which has {fibres[span]} fibre(s)")


# ============================================================================ budgets
@dataclass(frozen=True)
class BudgetComponent:
    """One latency component of a path: its name, total µs and how many devices or spans."""

    name: str
    us: float
    count: int


@dataclass(frozen=True)
class BudgetPath:
    """One-way latency of a path against its class budget; ``verdict`` is ``ok`` or ``over``."""

    src: str
    dst: str
    path: list[str]
    km: float
    components: list[BudgetComponent]
    total_us: float
    budget_us: float
    budget_class: str
    verdict: str
    reasons: list[str]
    great_circle_km: float | None
    stretch: float | None
    regenerators: list[str]

    def check(self, path: str) -> None:
        if self.verdict not in ("ok", "over"):
            fail(f"{path}.verdict", f"must be 'ok' or 'over', got {self.verdict!r}")


@dataclass(frozen=True)
class BudgetsSection(Section):
    """Latency budgets per path; ``model`` is the budget model's parameters (labs rebuild it)."""

    NAME: ClassVar[str] = "budgets"
    paths: list[BudgetPath]
    over: int
    model: dict[str, Any]
    extra: dict[str, Any] = _extra()
    provenance: Provenance = _prov()

    def check(self, path: str) -> None:
        n_over = sum(p.verdict == "over" for p in self.paths)
        if self.over != n_over:
            fail(f"{path}.over", f"says {self.over} but {n_over} path(s) have verdict 'over'")


#: Section name -> class, in the order planners run (DESIGN.md). ``p4`` and ``controller`` join here.
SECTION_TYPES: dict[str, type[Section]] = {c.NAME: c for c in (
    WcmpSection, QpPortsSection, CcSection, OcsSection, WdmSection, BudgetsSection)}
