"""The Plan: the single contract between planners and renderers (DESIGN.md).

A Plan has one optional section per planner. Each :class:`PlanSection` holds its planner's result as
plain JSON data (``data``, whose shape the planner's module documents) and a :class:`Provenance` that
records how it was computed (solver, status, objective, bound, gap, seconds, parameters). Plans are
versioned JSON: :data:`SCHEMA_VERSION` is written into every file, and a file from a newer major
version is refused with a clear error instead of being misread.

>>> p = Plan(fabric="demo")
>>> p.set("wcmp", {"groups": []}, Provenance(solver="GLOP", status="OPTIMAL", objective=0.5))
>>> Plan.from_json(p.to_json()) == p
True
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fabric.errors import ConfigError
from fabric.io.atomic import write_text_atomic

#: Version of the Plan JSON layout. Bump the major on an incompatible change.
SCHEMA_VERSION = "1.0"

#: Sections, in the order planners run (DESIGN.md): load balancing, QP ports, congestion control,
#: OCS circuits, wavelengths, latency budgets.
SECTIONS: tuple[str, ...] = ("wcmp", "qp_ports", "cc", "ocs", "wdm", "budgets")


@dataclass
class Provenance:
    """How a section was computed. ``gap`` is relative: (objective - bound) / max(|objective|, eps)."""

    solver: str = ""
    status: str = ""
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    seconds: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created_unix: float = field(default_factory=lambda: round(time.time(), 3))
    tool: str = "fabricctl"


@dataclass
class PlanSection:
    """One planner's output: JSON-ready ``data`` plus its :class:`Provenance`."""

    data: dict[str, Any]
    provenance: Provenance = field(default_factory=Provenance)


@dataclass
class Plan:
    """Every planner's output for one fabric. Renderers read it and never re-plan."""

    fabric: str = ""
    schema_version: str = SCHEMA_VERSION
    wcmp: PlanSection | None = None
    qp_ports: PlanSection | None = None
    cc: PlanSection | None = None
    ocs: PlanSection | None = None
    wdm: PlanSection | None = None
    budgets: PlanSection | None = None

    def set(self, section: str, data: dict[str, Any], provenance: Provenance | None = None) -> None:
        """Fill (or replace) a section."""
        if section not in SECTIONS:
            raise ConfigError(f"unknown plan section {section!r} (expected one of {', '.join(SECTIONS)})")
        setattr(self, section, PlanSection(data, provenance or Provenance()))

    def get(self, section: str) -> PlanSection | None:
        if section not in SECTIONS:
            raise ConfigError(f"unknown plan section {section!r} (expected one of {', '.join(SECTIONS)})")
        return getattr(self, section)

    def section_data(self, section: str) -> dict[str, Any] | None:
        """The JSON data of a section as it stands in the plan file (``None`` when the section is empty)."""
        sec = self.get(section)
        return None if sec is None else sec.data

    def present(self) -> list[str]:
        """Names of the sections that are filled."""
        return [s for s in SECTIONS if getattr(self, s) is not None]

    # --------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": self.schema_version, "fabric": self.fabric, "sections": {}}
        for s in SECTIONS:
            sec: PlanSection | None = getattr(self, s)
            if sec is not None:
                out["sections"][s] = {"provenance": asdict(sec.provenance), "data": sec.data}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, obj: Any, *, file: str | None = None) -> Plan:
        if not isinstance(obj, dict):
            raise ConfigError("a plan must be a JSON object", file=file)
        version = obj.get("schema_version")
        if not isinstance(version, str):
            raise ConfigError("missing or invalid 'schema_version'", file=file, where="schema_version")
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ConfigError(f"plan schema version {version} is not supported (this fabricctl reads "
                              f"{SCHEMA_VERSION.split('.')[0]}.x)", file=file, where="schema_version")
        unknown = set(obj) - {"schema_version", "fabric", "sections"}
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=file)
        plan = cls(fabric=str(obj.get("fabric", "")), schema_version=version)
        sections = obj.get("sections", {})
        if not isinstance(sections, dict):
            raise ConfigError("'sections' must be an object", file=file, where="sections")
        prov_fields = {f.name for f in fields(Provenance)}
        for name, sec in sections.items():
            where = f"sections.{name}"
            if name not in SECTIONS:
                raise ConfigError(f"unknown plan section {name!r}", file=file, where=where)
            if not isinstance(sec, dict) or not isinstance(sec.get("data"), dict):
                raise ConfigError("a section needs an object 'data'", file=file, where=where)
            prov = sec.get("provenance", {})
            if not isinstance(prov, dict) or set(prov) - prov_fields:
                raise ConfigError(f"bad provenance (allowed keys: {sorted(prov_fields)})", file=file,
                                  where=f"{where}.provenance")
            setattr(plan, name, PlanSection(sec["data"], Provenance(**prov)))
        return plan

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> Plan:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", file=file, where=f"line {exc.lineno}") from None
        return cls.from_dict(obj, file=file)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Plan:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read plan: {exc.strerror}", file=str(p)) from None
        return cls.from_json(text, file=str(p))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file + rename)."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def load_or_new(cls, path: str | os.PathLike[str] | None, fabric: str = "") -> Plan:
        """Load an existing plan to add a section to it, or start a new one."""
        if path is not None and Path(path).exists():
            return cls.load(path)
        return cls(fabric=fabric)
