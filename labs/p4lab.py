"""Labs of P4 switches (``lab up --switch p4``): the switch namespaces forward through the P4Runtime
agent's DPU dataplane instead of the kernel's routing; hosts keep their kernel stack.

What is different from a kernel lab (:mod:`labs.build` does the rest the same way):

- **Addresses**: endpoints get the address the P4 entries route, :func:`fabric.traffic.endpoint_ip`;
  switches keep lab addresses (:func:`labs.routing.layout` with ``endpoint_addresses="fabric"``).
- **MACs**: every veth end gets :func:`p4.runtime.port_mac` of its fabric node and port, the MACs the
  generated next hops write, so the entries ``p4 gen`` derives are the lab's real interface MACs; they
  are read back from the kernel and compared (:func:`check_macs`).
- **Switch namespaces** keep their address and kernel routes with ``ip_forward=0``: their own stack
  answers ARP and pings for the switch's address and originates its traffic (``lab split`` pings
  neighbours from the split switch), and drops transit frames silently; the agent forwards them.
- **TX checksum offload is off** on every lab interface: a frame the agent reads from a veth would
  otherwise carry a partial TCP/UDP checksum that nobody completes.
- **The agent**: one ``fabricctl agent serve --ports FILE`` process for every switch of the lab (started as
  ``python -m p4.agent.run``, the same server without the CLI's imports)
  (:mod:`p4.agent.afpacket` says why one), device ids 1..N in node order, listening on loopback of the
  root namespace on a free port. The state file records its configuration files and its marker before it
  starts and its PID right after (``lab down`` and the next ``up`` kill it by PID, or by marker when a
  crash came between the two).
- **Loading**: the lab is the agent's first client (:class:`p4.client.SwitchClient`, one per device,
  election id :data:`LAB_ELECTION_ID`, the lowest a primary can have, so any controller that connects
  later with a higher one takes over; the pipeline cookie is :func:`p4.client.pipeline_cookie`, as the
  controller's, so a controller taking a lab's switches over finds the pipeline in place): per switch
  SetForwardingPipelineConfig with the role's program and P4Info, then the WriteRequests
  of :func:`p4.runtime.to_write_requests`, read back and counted, then it waits until every
  dataplane reflects its entries (the agent's control socket). The entries come from the lab's plan:
  its ``wcmp`` groups, completed with ECMP groups (weight 1) wherever the plan has no group for a
  (switch, destination), the rule a kernel lab routes by, so both datapaths route the same flows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from finsy.proto import p4r

from fabric.errors import ConfigError, LabError
from fabric.io.atomic import write_json_atomic
from fabric.plan import Plan
from fabric.topology import ENDPOINT_ROLES, Fabric
from labs.linkops import LinkOps
from labs.routing import Layout

#: How long ``up`` waits for the agent to bind (numba's cache warm: ~1-3 s on a busy 2-core machine).
AGENT_START_TIMEOUT_S = 60.0
#: Election id the lab loads its switches with (the lowest a primary can have: module docstring).
LAB_ELECTION_ID = 1
#: Bound of every P4Runtime call while loading, s.
CALL_TIMEOUT_S = 20.0
#: How long ``up`` waits for every dataplane to reflect its entries.
AGENT_CURRENT_TIMEOUT_S = 30.0
#: sysctls of a P4 switch's namespace on top of :data:`labs.build.NODE_SYSCTLS`: the agent forwards,
#: the kernel does not (module docstring).
P4_SWITCH_SYSCTLS = {"net.ipv4.ip_forward": "0"}
#: The lab files of the agent, next to the state file (``NAME<suffix>``).
AGENT_FILE_SUFFIXES = (".agent.json", ".agent.port", ".agent.sock", ".agent.log")


def agent_marker(ops: LinkOps) -> str:
    """The tag in the agent's command line that names the lab (``lab down`` checks it before a kill)."""
    return f"fabricctl-agent:{ops.name}:{ops.state_dir}"


def p4_switches(fabric: Fabric) -> list[str]:
    """The nodes a P4 lab runs as P4 switches: every node that is not an endpoint; a role without a
    program is a ConfigError."""
    from p4.programs import NIC_ROLE, ROLES

    out = []
    for n in fabric.nodes():
        role = fabric.role(n)
        if role in ENDPOINT_ROLES:
            continue
        if role not in ROLES or role == NIC_ROLE:
            raise ConfigError(f"node {n!r} is a {role}: no P4 program for that role (P4 labs run "
                              f"{', '.join(r for r in ROLES if r != NIC_ROLE)})", where="--switch p4")
        out.append(n)
    return out


def lab_plan(fabric: Fabric, plan: Plan | None, *, plan_file: str | None = None) -> Plan:
    """The plan a P4 lab loads: the plan's ``wcmp`` groups completed with ECMP groups for every
    (switch, destination) it has none for (module docstring); without a plan, ECMP alone."""
    from dataclasses import asdict

    from fabric.plan import WcmpSection
    from fabric.wcmp import Limits, ecmp_groups
    from fabric.wcmp.paths import Network

    wcmp = plan.wcmp if plan is not None else None
    if wcmp is not None:
        doc = wcmp.to_dict()
        failed = [fabric.find_link(str(x)) for x in wcmp.failed_links]
    else:
        doc = {"groups": [], "mlu_lp": 0.0, "mlu_wcmp": 0.0, "mlu_ecmp": 0.0, "entries_used": 0, "max_delta": 0.0,
               "mlu_access": 0.0, "demand": "none (ECMP)", "failed_links": [], "limits": asdict(Limits())}
        failed = []
    net = Network(fabric)
    if failed:
        net = net.without(failed)
    have = {(g["switch"], g["dst"]) for g in doc["groups"]}
    extra = [g for g in ecmp_groups(fabric, net=net) if (g["switch"], g["dst"]) not in have]
    doc["groups"] = list(doc["groups"]) + extra
    try:
        section = WcmpSection.from_dict(doc)
    except ConfigError as exc:
        raise ConfigError(f"the plan completed with ECMP groups is not valid: {exc.reason}", file=plan_file) from None
    out = Plan.new(fabric)
    out.add(section, fabric=fabric)
    return out


def check_macs(ops: LinkOps, lay: Layout) -> None:
    """Every lab interface carries the MAC :func:`p4.runtime.port_mac` gives it (read back)."""
    from labs.nlbatch import Batch
    from p4.runtime import port_mac

    want: dict[str, dict[str, int]] = {}
    for lp in lay.links:
        want.setdefault(lp.a, {})[lp.if_a] = port_mac(lp.a, lp.port_a)
        want.setdefault(lp.b, {})[lp.if_b] = port_mac(lp.b, lp.port_b)
    for n, ifs in want.items():
        b = Batch(ops.opened[n].fd, ops.opened[n].name)
        try:
            got = b.link_macs()
        finally:
            b.close()
        for ifn, mac in ifs.items():
            if got.get(ifn) != mac:
                raise LabError(f"MAC of {ifn} reads back {got.get(ifn)}, the P4 next hops write {mac:012x}",
                               where=f"node {n!r}")


def ports_config(ops: LinkOps, fabric: Fabric, lay: Layout, switches: list[str]) -> dict[str, Any]:
    """The agent's ``--ports`` document: per switch its device id, namespace and P4 port -> interface."""
    from labs import netns
    from p4.runtime import port_numbers

    ifname: dict[tuple[str, str], str] = {}
    for lp in lay.links:
        ifname[(lp.a, lp.port_a)] = lp.if_a
        ifname[(lp.b, lp.port_b)] = lp.if_b
    devices = []
    for i, s in enumerate(switches):
        nums = port_numbers(fabric, s)
        ports = {str(num): ifname[(s, p)] for p, num in sorted(nums.items(), key=lambda kv: kv[1]) if (s, p) in ifname}
        devices.append({"device_id": i + 1, "name": s, "netns": netns.netns_path(ops.state["nodes"][s]["ns"]),
                        "ports": ports})
    return {"devices": devices, "control": str(ops.state_dir / f"{ops.name}.agent.sock")}


def record_agent(ops: LinkOps, cfg: dict[str, Any]) -> None:
    """Put the agent on record (files, marker; PID not yet known) before it exists."""
    st = ops.state
    sd = ops.state_dir
    st["agent"] = {"config": str(sd / f"{ops.name}.agent.json"), "port_file": str(sd / f"{ops.name}.agent.port"),
                   "control": cfg["control"], "log": str(sd / f"{ops.name}.agent.log"), "address": None,
                   "devices": {d["name"]: d["device_id"] for d in cfg["devices"]}}
    st["processes"].append({"pid": None, "role": "agent", "marker": agent_marker(ops)})
    ops.save_state()


def start_agent(ops: LinkOps, cfg: dict[str, Any], timings: dict[str, float]) -> str:
    """Write the config, start the agent (recorded before and after), wait until it answers; its address."""
    t = time.perf_counter()
    record_agent(ops, cfg)
    ag = ops.state["agent"]
    write_json_atomic(ag["config"], cfg)
    Path(ag["port_file"]).unlink(missing_ok=True)
    marker = agent_marker(ops)
    root = str(Path(__file__).resolve().parent.parent)
    with open(ag["log"], "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "p4.agent.run", "--listen", "127.0.0.1:0",
                                 "--ports", ag["config"], "--port-file", ag["port_file"], "--marker", marker],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True, cwd="/", env={**os.environ, "PYTHONPATH": root})
    rec = next(p for p in ops.state["processes"] if p.get("marker") == marker)
    rec["pid"] = proc.pid
    ops.save_state()                  # the PID is on record before anything can go wrong
    deadline = time.monotonic() + AGENT_START_TIMEOUT_S
    port_file = Path(ag["port_file"])
    while not port_file.exists():
        if proc.poll() is not None:
            text = Path(ag["log"]).read_text(errors="replace").strip()
            raise LabError(f"switch agent exited with status {proc.returncode}: {text[-400:]}")
        if time.monotonic() > deadline:
            raise LabError(f"switch agent did not answer within {AGENT_START_TIMEOUT_S} s")
        time.sleep(0.005)
    ag["address"] = json.loads(port_file.read_text())["listen"]
    ops.save_state()
    timings["agent_start_s"] = time.perf_counter() - t
    return str(ag["address"])


def load_switches(ops: LinkOps, fabric: Fabric, plan: Plan, switches: list[str], timings: dict[str, float]) -> None:
    """Push every switch's program and entries over P4Runtime, read them back, wait for the dataplanes."""
    from p4.agent.dataplane import program_config
    from p4.client import P4RuntimeError, SwitchClient, pipeline_cookie
    from p4.p4info import build_p4info
    from p4.programs import build_program
    from p4.runtime import FabricView, program_options, switch_entries, to_write_requests

    t = time.perf_counter()
    ag = ops.state["agent"]
    address = str(ag["address"])
    opts = program_options(plan)
    view = FabricView(fabric, plan)
    progs: dict[str, Any] = {}
    written: dict[str, int] = {}
    clients: dict[str, SwitchClient] = {}
    where = ""
    try:
        for s in switches:
            where = f"agent {address}, device {ag['devices'][s]} ({s})"
            c = clients[s] = SwitchClient(address, ag["devices"][s], (0, LAB_ELECTION_ID), timeout_s=CALL_TIMEOUT_S,
                                          take_over=False)
            if not c.connect():
                raise LabError("not primary: another client holds a higher election id", where=where)
        for s in switches:
            where = f"agent {address}, device {ag['devices'][s]} ({s})"
            role = fabric.role(s)
            if role not in progs:
                prog = build_program(role, opts)
                cfg = program_config(role, opts)
                progs[role] = (prog, build_p4info(prog), cfg, pipeline_cookie(cfg))
            prog, info, dcfg, cookie = progs[role]
            try:
                e = switch_entries(fabric, plan, s, program=prog, view=view)
            except ConfigError as exc:
                raise ConfigError(exc.reason, where=f"switch {s}") from None
            clients[s].set_pipeline(info, dcfg, cookie)
            updates = [u for r in to_write_requests(prog, e) for u in r.updates]
            clients[s].write(updates)
            written[s] = sum(1 for u in updates if u.entity.WhichOneof("entity") == "table_entry")
        timings["agent_load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        for s in switches:
            where = f"agent {address}, device {ag['devices'][s]} ({s})"
            got = sum(1 for ent in clients[s].read([p4r.Entity(table_entry=p4r.TableEntry())])
                      if not ent.table_entry.is_default_action)
            if got != written[s]:
                raise LabError(f"{got} table entries read back over P4Runtime, {written[s]} written", where=f"switch {s}")
    except P4RuntimeError as exc:
        raise LabError(str(exc), where=where) from None
    finally:
        for c in clients.values():
            c.close()
    ops.state["p4_entries"] = written
    wait_current(ops)
    timings["agent_verify_s"] = time.perf_counter() - t


def agent_status(ops: LinkOps, timeout_s: float = 5.0) -> dict[str, Any]:
    """The agent's answer to ``status`` on its control socket (LabError when it does not answer)."""
    from p4.agent.afpacket import control_request

    path = ops.state.get("agent", {}).get("control")
    if not path:
        raise LabError("this lab has no switch agent")
    try:
        reply = control_request(path, {"op": "status"}, timeout_s)
    except (OSError, ValueError) as exc:
        raise LabError(f"switch agent does not answer on {path}: {exc}") from None
    if not reply.get("ok"):
        raise LabError(f"switch agent refused status: {reply.get('error')}")
    return reply


def wait_current(ops: LinkOps) -> dict[str, Any]:
    """Wait until every device's dataplane reflects its entries; the last status."""
    deadline = time.monotonic() + AGENT_CURRENT_TIMEOUT_S
    while True:
        st = agent_status(ops)
        late = [d["name"] for d in st["devices"].values() if not d["current"]]
        errs = [f"{d['name']}: {d['error']}" for d in st["devices"].values() if d.get("error")]
        if errs:
            raise LabError(f"switch dataplane failed to build: {errs[0]}")
        if not late:
            return st
        if time.monotonic() > deadline:
            raise LabError(f"dataplanes of {', '.join(late[:5])} not current after {AGENT_CURRENT_TIMEOUT_S} s")
        time.sleep(0.01)


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set (``VmHWM`` of /proc/PID/status), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def set_port(ops: LinkOps, node: str, port: int, up: bool) -> bool:
    """Tell the agent that ``node``'s P4 port ``port`` went up or down (its fast failover and port-status
    report); True when that changed its status."""
    from p4.agent.afpacket import control_request

    ag = ops.state.get("agent") or {}
    if node not in ag.get("devices", {}):
        raise LabError(f"{node!r} is not a P4 switch of lab {ops.name!r}")
    try:
        reply = control_request(ag["control"], {"op": "port", "device_id": ag["devices"][node], "port": port, "up": up})
    except (OSError, ValueError) as exc:
        raise LabError(f"switch agent does not answer on {ag['control']}: {exc}") from None
    if not reply.get("ok"):
        raise LabError(f"switch agent refused the port change: {reply.get('error')}")
    return bool(reply["changed"])
