"""The agent's dataplane: the DPU running the committed program with the store's entries
(:func:`p4.dpu.to_pipeline`), rebuilt off the gRPC threads after writes.

The device config names the program: :func:`program_config` writes ``{"fabricctl_program": {"role",
"options"}}`` (JSON; the IR is rebuilt from :func:`p4.programs.build_program`, which is deterministic);
a device config that is not one runs no dataplane (the agent still serves P4Runtime).
:func:`entries_of` reads the store back into :class:`p4.entries.SwitchEntries`, the inverse of
:func:`p4.runtime.canonical` for the tables the program has (port names become ``p<N>``; neighbours are
unknown to a switch and left empty; routes, next hops, groups, ECN ports in the order
:func:`p4.runtime.switch_entries` gives them), so the DPU sees what it would see for the plan itself.

:class:`Dataplane` owns one worker thread: :meth:`Dataplane.changed` only sets a flag; the worker takes a
snapshot of the entries under the device lock (references to the stored bytes), decodes them and
builds the pipeline outside it, and publishes it with the
store generation it reflects (:attr:`Dataplane.generation`). A rebuild error is kept in
:attr:`Dataplane.error`, never raised into a Write.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import asdict
from typing import Any

from finsy.proto import p4r

from p4.agent.store import Snapshot
from p4.entries import AclEntry, EcnThresholds, Nexthop, Route, SwitchEntries, WcmpGroup
from p4.ir import Program

KEY = "fabricctl_program"


def program_config(role: str, options: Any = None) -> bytes:
    """The device config that names ``build_program(role, options)``."""
    from p4.programs import ProgramOptions

    opts = options if options is not None else ProgramOptions()
    return json.dumps({KEY: {"role": role, "options": asdict(opts)}}, sort_keys=True).encode()


def program_of(device_config: bytes) -> Program | None:
    """The program a device config names, or None when it names none."""
    from p4.programs import ProgramOptions, build_program

    try:
        doc = json.loads(device_config.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or KEY not in doc:
        return None
    spec = doc[KEY]
    return build_program(spec["role"], ProgramOptions(**spec.get("options", {})))


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _prefix(v6: bool, addr: int, plen: int) -> str:
    raw = addr.to_bytes(16 if v6 else 4, "big")
    return f"{socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw)}/{plen}"


def entries_of(program: Program, store: Any, switch: str = "agent") -> SwitchEntries:
    """The entries of a :class:`~p4.agent.store.Store` or of its snapshot as :class:`SwitchEntries` of
    ``program`` (module docstring)."""
    from p4.p4info import IdMap

    if not isinstance(store, Snapshot):
        store = store.snapshot()

    names = IdMap.of(program).names()
    local = {i: n.rpartition(".")[2] for i, n in names.items()}
    field_names = {(t.id, f.id): f.name for t in store.schema.tables.values() for f in t.fields.values()}
    nexthops: list[Nexthop] = []
    admit: list[int] = []
    dscp: dict[int, int] = {}
    routes: list[tuple[tuple[bool, int, int], Route]] = []
    groups: list[WcmpGroup] = []
    acl: list[AclEntry] = []
    for tid, blobs in store.entries.items():
        table = local.get(tid)
        for blob in blobs:
            te = p4r.Entity.FromString(blob).table_entry
            match = {field_names[(tid, m.field_id)]: m for m in te.match}
            act = te.action.action
            params = [_int(p.value) for p in sorted(act.params, key=lambda p: p.param_id)]
            aname = local.get(act.action_id, "")
            if table == "nexthop_table":
                port, src, dst = params
                nexthops.append(Nexthop(_int(match["nexthop_id"].exact.value), "", f"p{port}", port, src, dst))
            elif table == "port_admit":
                admit.append(_int(match["ingress_port"].exact.value))
            elif table == "dscp_to_tc":
                dscp[_int(match["dscp"].exact.value)] = params[0]
            elif table in ("routing_v4", "routing_v6"):
                v6 = table == "routing_v6"
                fm = next(iter(match.values()), None)
                addr, plen = (_int(fm.lpm.value), fm.lpm.prefix_len) if fm is not None else (0, 0)
                nh, grp = (params[0], 0) if aname == "set_nexthop_id" else (0, params[0])
                routes.append(((v6, addr, plen), Route(_prefix(v6, addr, plen), nh, grp)))
            elif table == "wcmp_group_table":
                acts = te.action.action_profile_action_set.action_profile_actions
                members = tuple(sorted((_int(a.action.params[0].value), a.weight) for a in acts))
                groups.append(WcmpGroup(_int(match["wcmp_group_id"].exact.value), members))
            elif table == "acl":
                m = tuple((n, _int(f.ternary.value), _int(f.ternary.mask)) for n, f in match.items())
                acl.append(AclEntry(te.priority, m, aname, params[0] if aname == "acl_set_nexthop_id" else 0))
    regs = {local.get(rid): cells for rid, cells in store.registers.items()}
    ecn_ports = sorted({i for n in ("ecn_kmin", "ecn_kmax", "ecn_slope") for i in regs.get(n, {})})
    ecn = tuple(EcnThresholds(p, *(_int(regs.get(n, {}).get(p, b"\x00")) for n in ("ecn_kmin", "ecn_kmax", "ecn_slope")))
                for p in ecn_ports)
    ports = sorted({*admit, *(h.port for h in nexthops), *ecn_ports})
    return SwitchEntries(
        switch=switch, role=program.role, ports={f"p{p}": p for p in ports}, admit_ports=tuple(sorted(admit)),
        dscp_to_tc=dict(sorted(dscp.items())), routes=tuple(r for _k, r in sorted(routes, key=lambda kr: kr[0])),
        nexthops=tuple(sorted(nexthops, key=lambda n: n.id)), groups=tuple(sorted(groups, key=lambda g: g.id)),
        ecn=ecn, acl=tuple(sorted(acl, key=lambda a: -a.priority)))


class Dataplane:
    """The DPU pipeline of one device, rebuilt by a worker thread (module docstring)."""

    def __init__(self, device: Any, lock: threading.Lock) -> None:
        self.device = device
        self.lock = lock
        self.pipeline: Any = None
        self.entries: SwitchEntries | None = None
        self.generation = -1
        self.error: str | None = None
        self._wake = threading.Event()
        self._stop = False
        self._program: tuple[bytes, Program | None] = (b"", None)
        self._thread = threading.Thread(target=self._run, name=f"dpu-{device.device_id}", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(5)

    def _run(self) -> None:
        from p4.dpu import to_pipeline

        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            with self.lock:
                dev = self.device
                store, pipe = dev.store, dev.pipeline
                if store is None or pipe is None:
                    continue
                cfg = pipe.config.p4_device_config
                if self._program[0] != cfg or not cfg:
                    self._program = (cfg, program_of(cfg))
                program = self._program[1]
                if program is None:
                    self.pipeline = self.entries = None
                    continue
                snap = store.snapshot()      # under the lock: references only; decoding happens outside
            gen = snap.generation
            try:
                entries = entries_of(program, snap, switch=f"device{dev.device_id}")
                self.pipeline = to_pipeline(program, entries)
                self.entries, self.generation, self.error = entries, gen, None
            except Exception as exc:  # noqa: BLE001 - kept for status, never raised into a Write
                self.error = f"{type(exc).__name__}: {exc}"
