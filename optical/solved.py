"""What an optical planner returns: its Plan section's data, provenance and solver details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from fabric.plan import Provenance, Section


@dataclass
class SolvedSection:
    """A planner's result: ``data`` (the section's JSON data), its :class:`Provenance` and the solver's
    own report (``solver_info``: name, status, bound, seconds ...). ``SECTION`` is the Plan section type."""

    SECTION: ClassVar[type[Section]]
    data: dict[str, Any]
    provenance: Provenance
    solver_info: dict[str, Any]

    @property
    def section(self) -> Any:
        """The Plan's typed section (validated), with this result's provenance."""
        return self.SECTION.from_dict(self.data, provenance=self.provenance)
