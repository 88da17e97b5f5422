"""Everything ``fabricctl p4 gen`` (and the demo) writes for a fabric and its plan: per switch role the
P4_16 program and its P4Info, per switch its P4Runtime WriteRequests in dependency order.

    OUT/programs/<role>.p4, <role>.p4info.txtpb, <role>.p4info.bin
    OUT/entries/<switch>.json     (a JSON list of WriteRequests, protobuf JSON form)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fabric.errors import ConfigError
from fabric.io.atomic import write_text_atomic
from fabric.plan import Plan
from fabric.topology import Fabric
from p4.programs import NIC_ROLE, ROLES


def check_plan(fabric: Fabric, plan: Plan, *, file: str | None = None) -> None:
    """A plan the P4 renderers can use: for this fabric, with a ``wcmp`` section."""
    try:
        plan.check_fabric(fabric)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=file) from None
    if plan.wcmp is None:
        raise ConfigError("the plan has no 'wcmp' section: run 'fabricctl plan wcmp' first", file=file)


def roles_for(fabric: Fabric, role: str | None = None) -> list[str]:
    """The roles to generate: ``role`` (which the fabric must have), or every switch role it has."""
    present = [r for r in ROLES if fabric.nodes(r)]
    if role is None:
        return [r for r in present if r != NIC_ROLE]
    if role not in ROLES:
        raise ConfigError(f"no program for role {role!r} (roles: {', '.join(ROLES)})", where="--role")
    if role not in present:
        raise ConfigError(f"fabric {fabric.name!r} has no {role} (it has: {', '.join(present) or 'no switches'})",
                          where="--role")
    return [role]


def render(fabric: Fabric, plan: Plan, out: str | os.PathLike[str], *, roles: list[str] | None = None,
           hash_qp: bool = False) -> dict[str, Any]:
    """Write programs, P4Info and entries under ``out``; return the ``p4 gen --json`` document
    (without ``seconds``): ``{"programs": [{"role", "p4", "p4info", "tables", "actions", "selectors"}],
    "switches": [{"name", "role", "updates", "wcmp_groups", "routes", "file"}]}``."""
    from p4.gen import generate
    from p4.p4info import write_p4info
    from p4.programs import build_program
    from p4.runtime import (
        FabricView,
        JsonEncoder,
        canonical,
        entries_text,
        program_options,
        switch_entries,
        write_entries,
    )

    check_plan(fabric, plan)
    opts = program_options(plan, hash_qp=hash_qp)
    view = FabricView(fabric, plan)
    programs: list[dict[str, Any]] = []
    switches: list[dict[str, Any]] = []
    pdir = Path(out) / "programs"
    pdir.mkdir(parents=True, exist_ok=True)
    for r in roles if roles is not None else roles_for(fabric):
        prog = build_program(r, opts)
        p4_path = pdir / f"{r}.p4"
        write_text_atomic(p4_path, generate(prog))
        txt, _bin = write_p4info(prog, pdir / r)
        programs.append({"role": r, "p4": str(p4_path), "p4info": str(txt), "tables": len(prog.tables()),
                         "actions": len(prog.actions()), "selectors": len(prog.selectors())})
        if r == NIC_ROLE:
            continue
        enc = JsonEncoder(prog)  # protobuf JSON straight from canonical entries (== MessageToDict, tested)
        for s in fabric.nodes(r):
            e = switch_entries(fabric, plan, s, program=prog, view=view)
            can = canonical(prog, e)
            path = write_entries(Path(out), s, entries_text(prog, can, encoder=enc))
            switches.append({"name": s, "role": r, "updates": len(can),
                             "wcmp_groups": len(e.groups), "routes": len(e.routes), "file": str(path)})
    return {"programs": programs, "switches": switches}
