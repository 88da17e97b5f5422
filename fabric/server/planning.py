"""The planners as the controller runs them: options as JSON (what the API carries), the demand a
WCMP plan is computed for, and the warm failure path.

A plan version records its *recipe* (planner, options, demand) so that a recompute after a topology
event uses the same demand and limits. :class:`FailurePlanner` keeps one
:class:`fabric.wcmp.WcmpPlanner` warm: a failure set that grows from the planner's current one is a
warm recompute (the planner's ``fail``); a failure set seen before is the plan version computed for it
(no work: a restore after a failure goes back to the version before it); anything else is a cold solve
followed by the failures.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fabric.errors import ConfigError
from fabric.topology import Fabric

#: Options a ``wcmp`` recipe may carry (the CLI's ``plan wcmp`` options of the same names).
WCMP_OPTIONS = {"demand", "rate_gbps", "seed", "qps_per_pair", "max_members", "max_group_weight",
                "table_size", "max_groups", "solver", "time_limit_s", "balance", "shuffle_seed"}
#: Solvers ``plan wcmp --solver`` accepts.
SOLVERS = ("auto", "glop", "pdlp")


@dataclass(frozen=True)
class FailureSet:
    """Links (specs as ``fabric.find_link`` reads them, canonical ``a--b#key``) and nodes down."""

    links: frozenset[str] = frozenset()
    nodes: frozenset[str] = frozenset()

    def __le__(self, other: FailureSet) -> bool:        # type: ignore[override]
        return self.links <= other.links and self.nodes <= other.nodes

    def with_link(self, spec: str, down: bool) -> FailureSet:
        return FailureSet(self.links | {spec} if down else self.links - {spec}, self.nodes)

    def with_node(self, node: str, down: bool) -> FailureSet:
        return FailureSet(self.links, self.nodes | {node} if down else self.nodes - {node})


def link_spec(fabric: Fabric, a: str, b: str) -> str:
    """The canonical spec of the link ``a``-``b`` (``a--b#key``; the first parallel link, as
    ``fabric.find_link`` resolves ``a--b``). Raises :class:`ConfigError` for an unknown link."""
    from fabric.errors import TopologyError

    try:
        lk = fabric.find_link(f"{a}--{b}")
    except TopologyError as exc:
        raise ConfigError(f"no link {a}--{b} in fabric {fabric.name!r}: {exc.reason}") from None
    return f"{lk.a}--{lk.b}#{lk.key}"


def _check_options(options: Mapping[str, Any], allowed: set[str], planner: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"unknown {planner} option(s) {unknown} (allowed: {sorted(allowed)})", where="options_json")
    for k, v in options.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"must be finite, got {v}", where=f"options_json.{k}")


def _int(options: Mapping[str, Any], key: str, default: int, *, low: int = 0) -> int:
    v = options.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"must be an integer >= {low}, got {v!r}", where=f"options_json.{key}")
    return v


def _float(options: Mapping[str, Any], key: str, default: float) -> float:
    v = options.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
        raise ConfigError(f"must be a number > 0, got {v!r}", where=f"options_json.{key}")
    return float(v)


def wcmp_demand(fabric: Fabric, options: Mapping[str, Any], demand: tuple[str, dict[str, Any]] | None) -> Any:
    """The demand of a ``wcmp`` recipe: a submitted demand document (flows) or a generated
    collective (``demand`` kind, ``rate_gbps``, ``seed``, ``qps_per_pair``) over the fabric's GPUs."""
    from fabric import traffic
    from fabric.traffic import DEFAULT_COLLECTIVE, DEFAULT_RATE_GBPS

    if demand is not None:
        kind, body = demand
        if kind != "demand":
            raise ConfigError(f"a {kind} document is not a demand the wcmp planner reads", where="demand_id")
        return demand_from_document(body, fabric)
    kind = options.get("demand", DEFAULT_COLLECTIVE)
    if kind not in traffic.KINDS:
        raise ConfigError(f"not a demand kind ({', '.join(traffic.KINDS)}): {kind!r}", where="options_json.demand")
    gpus = fabric.nodes("gpu") or fabric.endpoints()
    if not gpus:
        raise ConfigError(f"fabric {fabric.name!r} has no endpoints (gpu, nic, host) to generate {kind!r} traffic for")
    if "shuffle_seed" in options:        # the job's ranks scattered over the cluster (bench/wcmp.py scenario B)
        import numpy as np

        order = np.random.default_rng(_int(options, "shuffle_seed", 0)).permutation(len(gpus))
        gpus = [gpus[i] for i in order]
    return traffic.generate(kind, fabric, gpus, _float(options, "rate_gbps", DEFAULT_RATE_GBPS),
                            _int(options, "seed", 0), qps_per_pair=_int(options, "qps_per_pair", 1, low=1))


def demand_from_document(body: dict[str, Any], fabric: Fabric) -> Any:
    """A submitted demand document (``{"format": "csv"|"yaml", "text": ...}``, the text of a
    ``--demand FILE``) read through the same loader as a file."""
    from fabric import traffic

    with temp_file(str(body.get("text", "")), ".csv" if body.get("format") == "csv" else ".yaml") as path:
        return traffic.load_demand(path, fabric)


@contextmanager
def temp_file(text: str, suffix: str) -> Iterator[str]:
    """``text`` in a private temporary file named ``*suffix`` (the loaders pick the format by the
    name), removed afterwards."""
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="fabricctl-submitted-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        yield path
    finally:
        os.unlink(path)


def wcmp_planner(fabric: Fabric, demand: Any, options: Mapping[str, Any]) -> Any:
    """A :class:`fabric.wcmp.WcmpPlanner` for a recipe's options (not solved yet)."""
    from fabric.wcmp import DEFAULT_LP_TIME_LIMIT_S, Limits, WcmpPlanner

    _check_options(options, WCMP_OPTIONS, "wcmp")
    d = Limits()
    limits = Limits(max_members=_int(options, "max_members", d.max_members, low=1),
                    max_group_weight=_int(options, "max_group_weight", d.max_group_weight, low=1),
                    table_size=_int(options, "table_size", d.table_size, low=1),
                    max_groups=_int(options, "max_groups", d.max_groups, low=1))
    solver = options.get("solver", "auto")
    if solver not in SOLVERS:
        raise ConfigError(f"must be one of {', '.join(SOLVERS)}, got {solver!r}", where="options_json.solver")
    return WcmpPlanner(fabric, demand, limits=limits, solver=solver,
                       time_limit_s=_float(options, "time_limit_s", DEFAULT_LP_TIME_LIMIT_S),
                       balance=bool(options.get("balance", True)))


def cc_section(fabric: Fabric, options: Mapping[str, Any]) -> Any:
    """The ``cc`` section for ``options`` (the fields of :class:`fabric.cc.CcOptions`)."""
    from fabric.cc import CcOptions
    from fabric.cc import cc_section as compute

    names = {f.name for f in dataclasses.fields(CcOptions)}
    _check_options(options, names, "cc")
    opts = dict(options)
    if "lossless_priorities" in opts:
        opts["lossless_priorities"] = tuple(opts["lossless_priorities"])
    try:
        return compute(fabric, CcOptions(**opts))
    except TypeError as exc:
        raise ConfigError(f"bad cc options: {exc}", where="options_json") from None


class FailurePlanner:
    """WCMP sections of one recipe under successive failure sets, as warm as possible."""

    def __init__(self, fabric: Fabric, demand: Any, options: Mapping[str, Any]) -> None:
        self.fabric, self.demand, self.options = fabric, demand, dict(options)
        self._planner: Any = None
        self._at = FailureSet()
        self.last_warm = False

    def _fresh(self) -> Any:
        """A planner solved cold, standing at no failure; returns its result."""
        self._planner = wcmp_planner(self.fabric, self.demand, self.options)
        self._at = FailureSet()
        return self._planner.solve()

    def ready_for(self, target: FailureSet) -> bool:
        """True when a recompute for ``target`` is warm (the planner stands at a subset of it)."""
        return self._planner is not None and self._at <= target

    def prepare(self, target: FailureSet = FailureSet()) -> None:
        """Stand the planner at ``target`` (cold solve plus its failures), so that the next failure
        from there is warm (done in the background after a restore)."""
        self._fresh()
        if target.links or target.nodes:
            self._planner.fail(sorted(target.links), sorted(target.nodes))
            self._at = target

    def solve(self, target: FailureSet) -> Any:
        """The :class:`fabric.wcmp.WcmpResult` under ``target``; :attr:`last_warm` says whether it
        was a warm recompute."""
        self.last_warm = self.ready_for(target)
        if not self.last_warm:
            res = self._fresh()
            if not (target.links or target.nodes):
                return res
        res = self._planner.fail(sorted(target.links - self._at.links), sorted(target.nodes - self._at.nodes))
        self._at = target
        return res


# ============================================================================ the failure path's section
@dataclass
class WcmpState:
    """A plan's ``wcmp`` section with its groups by ``(switch, dst)``, typed and as the plain JSON they
    were built from: what the next section after a failure is built from, typed again only where it
    changed (validating 8,446 groups of the 8,192-GPU fabric through the contract costs ~0.2 s; a
    failure changes a few dozen)."""

    section: Any
    raw: dict[tuple[str, str], dict[str, Any]]
    typed: dict[tuple[str, str], Any]

    @classmethod
    def of(cls, section: Any, raw_groups: list[dict[str, Any]] | None = None) -> WcmpState:
        from fabric import contract

        typed = {(g.switch, g.dst): g for g in section.groups}
        if raw_groups is None:
            raw = {k: contract.dump(g) for k, g in typed.items()}
        else:
            raw = {(g["switch"], g["dst"]): g for g in raw_groups}
        return cls(section, raw, typed)


def next_wcmp_section(old: WcmpState, res: Any, *, fabric_digest: str | None,
                      created_unix: float | None) -> tuple[WcmpState, set[str]]:
    """The ``wcmp`` section of planner result ``res`` (equal to ``res.section()`` with the provenance
    stamped), reusing ``old``'s typed groups where the plain groups are equal; and the switches whose
    groups were added, removed or changed."""
    from fabric import contract
    from fabric.plan.sections import WcmpGroup

    typed: list[Any] = []
    raw: dict[tuple[str, str], dict[str, Any]] = {}
    changed: set[str] = set()
    for i, g in enumerate(res.groups):
        k = (g["switch"], g["dst"])
        raw[k] = g
        if old.raw.get(k) == g and k in old.typed:
            typed.append(old.typed[k])
        else:
            typed.append(contract.load(WcmpGroup, g, f"sections.wcmp.data.groups[{i}]"))
            changed.add(k[0])
    changed.update(sw for sw, dst in old.raw.keys() - raw.keys())
    data = res.section_data()
    prov = dataclasses.replace(res.provenance(), fabric_digest=fabric_digest, created_unix=created_unix)
    section = dataclasses.replace(old.section, groups=typed, mlu_lp=data["mlu_lp"], mlu_wcmp=data["mlu_wcmp"],
                                  mlu_ecmp=data["mlu_ecmp"], entries_used=data["entries_used"],
                                  max_delta=data["max_delta"], mlu_access=data["mlu_access"],
                                  demand=data["demand"], failed_links=list(data["failed_links"]),
                                  limits=contract.load(type(old.section.limits), data["limits"],
                                                       "sections.wcmp.data.limits"),
                                  provenance=prov)
    section.check("sections.wcmp.data")
    return WcmpState(section, raw, {k: g for k, g in zip(raw, typed, strict=True)}), changed
