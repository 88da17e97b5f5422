"""The Plan: the single contract between planners and renderers (DESIGN.md).

A Plan has one optional section per planner, each a typed, validated dataclass from
:mod:`fabric.plan.sections` that carries its own :class:`Provenance`. A plan records the fabric it was
made for: its name and its :meth:`~fabric.topology.Fabric.digest`; a section computed on another
fabric is refused. Plans are versioned JSON: :data:`SCHEMA_VERSION` is written into every file, a file
from a newer major version is refused, one from a newer minor version loads with the keys this
version does not know kept as they are. Plans written before digests existed (schema 1.0) still load;
their digest is ``None`` ("unknown").

The model reads no clock: whoever adds a section passes ``created_unix`` (faucet's Valve takes
``now`` the same way). :func:`fabric.plan.diff.diff` says what changed between two plans.

>>> from fabric.builders import clos
>>> fab = clos(2, 2, 2, 2)
>>> sec = OcsSection.from_dict({"throughput_scale": 1.0, "lp_bound": 1.0, "gap": 0.0, "mlu": 0.5,
...     "circuits": {"ocs1": [[0, 1]]}, "logical": [], "wiring": {}, "circuit_gbps": 400.0,
...     "direct_share": 1.0, "dropped": 0, "changed": {}}, provenance=Provenance(solver="CP-SAT"))
>>> p = Plan.new(fab)
>>> p.add(sec, created_unix=1700000000.0)
>>> back = Plan.from_json(p.to_json())
>>> back == p, back.ocs.provenance.created_unix, back.fabric_digest == fab.digest()
(True, 1700000000.0, True)
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabric import contract
from fabric.errors import ConfigError
from fabric.io.atomic import write_text_atomic
from fabric.plan.sections import (
    SECTION_TYPES,
    BudgetsSection,
    CcSection,
    OcsSection,
    Provenance,
    QpPortsSection,
    Section,
    WcmpSection,
    WdmSection,
)

if TYPE_CHECKING:
    from fabric.topology import Fabric

__all__ = ["SCHEMA_VERSION", "SECTIONS", "BudgetsSection", "CcSection", "OcsSection", "Plan", "Provenance",
           "QpPortsSection", "Section", "WcmpSection", "WdmSection", "short_digest"]

#: Version of the Plan JSON layout. Major: incompatible change (refused); minor: keys added.
#: 1.1 added ``fabric_digest`` and ``created_unix`` (plan) and ``fabric_digest`` (provenance).
SCHEMA_VERSION = "1.1"

#: Sections, in the order planners run (DESIGN.md): load balancing, QP ports, congestion control,
#: OCS circuits, wavelengths, latency budgets.
SECTIONS: tuple[str, ...] = tuple(SECTION_TYPES)

_TOP_KEYS = frozenset({"schema_version", "fabric", "fabric_digest", "created_unix", "sections"})


def short_digest(digest: str | None) -> str:
    """``sha256:0123456789ab`` (12 hex digits), or ``unknown``."""
    if not digest:
        return "unknown"
    algo, _, hexd = digest.partition(":")
    return f"{algo}:{hexd[:12]}"


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


@dataclass
class Plan:
    """Every planner's output for one fabric. Renderers read it and never re-plan.

    ``fabric`` is the fabric's name, ``fabric_digest`` its digest (``None`` when unknown: a plan
    written before digests, or one that holds only fabric-independent sections).
    """

    fabric: str = ""
    fabric_digest: str | None = None
    schema_version: str = SCHEMA_VERSION
    created_unix: float | None = None
    wcmp: WcmpSection | None = None
    qp_ports: QpPortsSection | None = None
    cc: CcSection | None = None
    ocs: OcsSection | None = None
    wdm: WdmSection | None = None
    budgets: BudgetsSection | None = None

    @classmethod
    def new(cls, fabric: Fabric | None = None, *, created_unix: float | None = None) -> Plan:
        """An empty plan for ``fabric`` (name and digest recorded)."""
        if fabric is None:
            return cls(created_unix=created_unix)
        return cls(fabric=fabric.name, fabric_digest=fabric.digest(), created_unix=created_unix)

    # ------------------------------------------------------------ sections
    def add(self, section: Section, *, fabric: Fabric | None = None, created_unix: float | None = None) -> None:
        """Fill (or replace) a section, checking that it was computed for this plan's fabric.

        ``fabric`` is the fabric the section was computed on (required for sections that need one,
        unless the section's provenance already carries its digest). ``created_unix`` stamps the
        section's provenance. Raises :class:`ConfigError` naming both fabrics when they differ.
        """
        if section.NAME not in SECTION_TYPES or not isinstance(section, SECTION_TYPES[section.NAME]):
            raise ConfigError(f"not a plan section: {type(section).__name__}")
        prov: Provenance = getattr(section, "provenance")  # noqa: B009
        digest, name = prov.fabric_digest, self.fabric
        if section.NEEDS_FABRIC:
            if fabric is not None:
                digest, name = fabric.digest(), fabric.name
            if digest is None:
                raise ConfigError(f"section {section.NAME!r}: the fabric it was computed on is not known "
                                  "(pass fabric=)")
            self._adopt(section.NAME, name, digest)
        changes: dict[str, Any] = {"fabric_digest": digest if section.NEEDS_FABRIC else None}
        if created_unix is not None:
            changes["created_unix"] = created_unix
        setattr(self, section.NAME, section.with_provenance(**changes))

    def _adopt(self, section: str, name: str, digest: str) -> None:
        if self.fabric_digest is None:
            if self.fabric and name and self.fabric != name and self.present():
                raise ConfigError(f"section {section!r} was computed on fabric {name!r} but the plan is for "
                                  f"fabric {self.fabric!r} (digest unknown: a plan from before digests)")
            self.fabric_digest = digest
            self.fabric = self.fabric or name
            return
        if self.fabric_digest != digest:
            raise ConfigError(f"section {section!r} was computed on fabric {name!r} "
                              f"({short_digest(digest)}) but the plan is for fabric {self.fabric!r} "
                              f"({short_digest(self.fabric_digest)}); start a new plan (--plan NEW.json) "
                              "or compute it on the plan's fabric")

    def get(self, section: str) -> Section | None:
        if section not in SECTION_TYPES:
            raise ConfigError(f"unknown plan section {section!r} (expected one of {', '.join(SECTIONS)})")
        sec: Section | None = getattr(self, section)
        return sec

    def section_data(self, section: str) -> dict[str, Any] | None:
        """The JSON data of a section as it stands in the plan file (``None`` when the section is empty)."""
        sec = self.get(section)
        return None if sec is None else sec.to_dict()

    def present(self) -> list[str]:
        """Names of the sections that are filled."""
        return [s for s in SECTIONS if getattr(self, s) is not None]

    def check_fabric(self, fabric: Fabric) -> None:
        """Refuse a fabric other than the plan's (by digest); a plan with an unknown digest passes."""
        if self.fabric_digest is not None and fabric.digest() != self.fabric_digest:
            raise ConfigError(f"the plan is for fabric {self.fabric!r} ({short_digest(self.fabric_digest)}), "
                              f"not for fabric {fabric.name!r} ({short_digest(fabric.digest())})")

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": self.schema_version, "fabric": self.fabric,
                               "fabric_digest": self.fabric_digest, "created_unix": self.created_unix,
                               "sections": {}}
        for s in SECTIONS:
            sec: Section | None = getattr(self, s)
            if sec is not None:
                out["sections"][s] = {"provenance": contract.dump(getattr(sec, "provenance")),  # noqa: B009
                                      "data": sec.to_dict()}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, obj: Any, *, file: str | None = None) -> Plan:
        """Build and validate a plan; every error is one :class:`ConfigError` naming ``file``, the
        JSON path (``sections.wcmp.data.groups[2].delta``) and the reason."""
        try:
            return cls._from_dict(obj)
        except ConfigError as exc:
            if file is not None and exc.file is None:
                raise ConfigError(exc.reason, file=file, where=exc.where) from None
            raise

    @classmethod
    def _from_dict(cls, obj: Any) -> Plan:
        if not isinstance(obj, dict):
            raise ConfigError("a plan must be a JSON object")
        version = obj.get("schema_version")
        if not isinstance(version, str) or not _valid_version(version):
            raise ConfigError("missing or invalid 'schema_version'", where="schema_version")
        (major, minor), (our_major, our_minor) = _version(version), _version(SCHEMA_VERSION)
        if major != our_major:
            raise ConfigError(f"plan schema version {version} is not supported (this fabricctl reads "
                              f"{our_major}.x)", where="schema_version")
        strict = minor <= our_minor
        unknown = set(obj) - _TOP_KEYS
        if unknown and strict:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}")
        name = obj.get("fabric", "")
        if not isinstance(name, str):
            raise ConfigError("must be a string", where="fabric")
        digest = obj.get("fabric_digest")
        if digest is not None and (not isinstance(digest, str) or ":" not in digest):
            raise ConfigError(f"expected 'sha256:<hex>' or null, got {digest!r}", where="fabric_digest")
        created = contract.load(_Created, {"created_unix": obj.get("created_unix")}, "")
        # an older file is upgraded (it is written back as this version); a newer minor one keeps its version
        written = version if (major, minor) > (our_major, our_minor) else SCHEMA_VERSION
        plan = cls(fabric=name, fabric_digest=digest, schema_version=written, created_unix=created.created_unix)
        sections = obj.get("sections", {})
        if not isinstance(sections, dict):
            raise ConfigError("'sections' must be an object", where="sections")
        for sname, sec in sections.items():
            where = contract.key_path("sections", str(sname))
            if sname not in SECTION_TYPES:
                if strict:
                    raise ConfigError(f"unknown plan section {sname!r}", where=where)
                continue
            if not isinstance(sec, dict) or not isinstance(sec.get("data"), dict):
                raise ConfigError("a section needs an object 'data'", where=where)
            if set(sec) - {"data", "provenance"} and strict:
                raise ConfigError(f"unknown key(s) {sorted(set(sec) - {'data', 'provenance'})}", where=where)
            prov_obj = sec.get("provenance", {})
            try:
                prov = contract.load(Provenance, prov_obj, f"{where}.provenance", strict=strict)
            except ConfigError as exc:
                allowed = sorted(f.name for f in dataclasses.fields(Provenance))
                raise ConfigError(f"bad provenance: {exc.reason} (allowed keys: {allowed})",
                                  where=exc.where) from None
            setattr(plan, sname, SECTION_TYPES[sname].from_dict(sec["data"], provenance=prov, strict=strict))
        return plan

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> Plan:
        from fabric.io.reader import parse_json

        return cls.from_dict(parse_json(text, file=file).data, file=file)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Plan:
        from fabric.io.reader import read_text

        p = str(path)
        return cls.from_json(read_text(p, what="plan"), file=p)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file + rename)."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def load_or_new(cls, path: str | os.PathLike[str] | None, fabric: Fabric | None = None) -> Plan:
        """Load an existing plan to add a section to it, or start a new one for ``fabric``."""
        if path is not None and Path(path).exists():
            return cls.load(path)
        return cls.new(fabric)


@dataclass(frozen=True)
class _Created:
    created_unix: float | None = None


def _valid_version(text: str) -> bool:
    major, _, minor = text.partition(".")
    return major.isdigit() and (minor == "" or minor.isdigit())


def _diff(old: Plan, new: Plan) -> dict[str, Any]:
    """``Plan.diff(old, new)``: see :func:`fabric.plan.diff.diff`."""
    from fabric.plan.diff import diff

    return diff(old, new)


Plan.diff = staticmethod(_diff)  # type: ignore[attr-defined]
