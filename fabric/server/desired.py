"""Plan version -> what every switch should hold (:class:`fabric.server.reconcile.Desired`).

The first plan is derived in full (:func:`p4.runtime.switch_entries` for every switch, one shared
:class:`p4.runtime.FabricView`). A next plan is derived warm, as a controller that applied the previous
one can: only the switches :func:`p4.diff.changed_switches` names are derived again (from the previous
view, derived for the new plan), every other switch keeps its entries under the new version number.
The tests check the warm result against a full derivation.

Programs are built once per (role, options); the pipeline cookie is a digest of the device config
that names the program, so the same program always has the same cookie (and a controller restarted
against a running switch finds the cookie matching and pushes no pipeline).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fabric.errors import ConfigError
from fabric.plan import Plan
from fabric.server.reconcile import Desired
from fabric.topology import Fabric
from p4.ir import Program
from p4.programs import SWITCH_ROLES


def managed_switches(fabric: Fabric) -> list[str]:
    """The switches a controller programs: every node of a switch role (leaf, spine, superspine, dci),
    sorted by name."""
    return sorted(n for n in fabric.nodes() if fabric.role(n) in SWITCH_ROLES)


@dataclass
class Pipeline:
    """One program as a switch is loaded with it."""

    role: str
    program: Program
    p4info: Any
    device_config: bytes
    cookie: int
    encoder: Any = field(repr=False)


class DesiredBuilder:
    """Derives :class:`Desired` per switch for successive plans of one fabric."""

    def __init__(self, fabric: Fabric, device_ids: Mapping[str, int], *, digest: str | None = None) -> None:
        self.fabric = fabric
        #: ``fabric.digest()`` (a caller that has it passes it: 50-150 ms on the 8,192-GPU fabric)
        self.digest = digest if digest is not None else fabric.digest()
        self.device_ids = dict(device_ids)
        unknown = sorted(set(self.device_ids) - set(fabric.nodes()))
        if unknown:
            raise ConfigError(f"switch(es) not in fabric {fabric.name!r}: {', '.join(unknown[:5])}")
        self._pipelines: dict[tuple[str, Any], Pipeline] = {}
        self._view: Any = None
        self._plan: Plan | None = None
        self._options: Any = None
        self.desired: dict[str, Desired] = {}
        self.last_changed: set[str] = set()

    def pipeline(self, role: str, options: Any) -> Pipeline:
        key = (role, options)
        p = self._pipelines.get(key)
        if p is None:
            from p4.agent.dataplane import program_config
            from p4.client import pipeline_cookie
            from p4.p4info import build_p4info
            from p4.programs import build_program
            from p4.runtime import Encoder

            prog = build_program(role, options)
            cfg = program_config(role, options)
            p = self._pipelines[key] = Pipeline(role, prog, build_p4info(prog), cfg, pipeline_cookie(cfg), Encoder(prog))
        return p

    def pipeline_of(self, switch: str) -> Pipeline:
        if self._plan is None:
            raise ConfigError("no plan has been applied yet")
        return self.pipeline(self.fabric.role(switch), self._options)

    def build(self, version: int, plan: Plan, *, touched: Iterable[str] | None = None) -> dict[str, Desired]:
        """:class:`Desired` of every managed switch under plan ``version`` (warm from the previous
        plan when there is one with the same program options: only the switches ``touched`` names,
        or else :func:`p4.diff.changed_switches` finds, are derived again); :attr:`last_changed` names
        the switches whose entries were derived again."""
        from p4.diff import changed_switches
        from p4.runtime import FabricView, canonical, program_options, switch_entries

        if plan.fabric_digest != self.digest:
            plan.check_fabric(self.fabric)       # raises naming both fabrics (or adopts a 1.0 plan's)
        options = program_options(plan)
        if self._plan is not None and options == self._options and self.desired:
            if touched is None:
                touched = changed_switches(self.fabric, self._plan, plan)
        else:
            touched = None
        if touched is None:
            view = FabricView(self.fabric, plan)
            todo = set(self.device_ids)
        else:
            view = self._view.derive(plan)
            todo = set(touched) & set(self.device_ids)
        out: dict[str, Desired] = {}
        for sw in sorted(self.device_ids):
            pipe = self.pipeline(self.fabric.role(sw), options)
            if sw in todo:
                entries = switch_entries(self.fabric, plan, sw, program=pipe.program, view=view)
                out[sw] = Desired(sw, self.device_ids[sw], version, pipe.cookie, canonical(pipe.program, entries))
            else:
                out[sw] = replace(self.desired[sw], version=version)
        self._view, self._plan, self._options = view, plan, options
        self.desired, self.last_changed = out, todo
        return out
