"""A running lab: Fabric (+ Plan) -> namespaces, veth pairs, routes, rates and delays.

>>> from fabric.builders import clos
>>> lab = Lab(clos(2, 1, 1), name="doc")     # cheap: nothing touches the kernel until up()
>>> lab.prefix
'doc.'

Usage (root)::

    with Lab(fabric, plan, name="exp1") as lab:
        print(lab["h1"].cmd("ip -br addr"))
        lab.link("s1", "s2").set(delay_ms=5)

Every kernel object carries the lab's prefix (``NAME.``): one namespace per node, ``NAME.@relay``
for the delay relay. A state file (``/run/fabricctl/labs/NAME.json``) is written *before* anything is
created and lists every namespace and process the lab will own; ``down`` (and the next ``up`` after a
crash) removes exactly those, and the processes found inside them, by PID.

The work is split by what it touches: :mod:`labs.routing` (the pure layout), :mod:`labs.build`
(building a fabric lab), :mod:`labs.clab` (containerlab labs), :mod:`labs.teardown` (removing a
lab), :mod:`labs.linkops` (state, namespaces and per-link operations, shared by all of them) and
:mod:`labs.nodes` (handles on nodes and links). This class is the public surface.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from fabric.errors import ConfigError, LabError
from fabric.io.atomic import write_text_atomic
from fabric.plan import Plan
from fabric.topology import Fabric
from labs import netns
from labs.clab import ClabSpec
from labs.constants import (
    DEFAULT_DELAY_BACKEND,
    DEFAULT_DELAY_SCALE,
    DEFAULT_LAB_NAME,
    DEFAULT_RATE_SCALE,
    DEFAULT_SWITCH_KIND,
    LAB_STATE_DIR,
    SWITCH_KINDS,
)
from labs.delay import DelayBackend, kernel_has_netem
from labs.linkops import LinkOps, state_path
from labs.nodes import LinkHandle, Node
from labs.routing import Layout, check_lab_name, layout, netem_probe_ns_name, ns_name, relay_ns_name
from labs.teardown import build_lock, pid_alive, refuse_or_clean, teardown
from labs.teardown import running_labs as _running_labs

__all__ = ["DELAY_BACKENDS", "Lab", "LinkHandle", "Node", "running_labs", "state_path"]

DELAY_BACKENDS = ("auto", "netem", "relay")


def running_labs(state_dir: str | os.PathLike[str] = LAB_STATE_DIR) -> list[str]:
    """Names of the labs with a state file in ``state_dir`` (up, building, or left by a crash)."""
    return _running_labs(state_dir)


class Lab:
    """A lab built from a Fabric and an optional Plan (or a containerlab topology). Construction does
    nothing; ``up()`` builds.

    Public surface: ``up``/``down``/``attach``/``close`` and the context manager; ``state`` (the
    state file's record), ``timings``; ``nodes()``, ``lab[node]`` (a :class:`~labs.nodes.Node`),
    ``ip(node)``, ``namespace(node)``, ``hosts_file()``; ``link(a, b)``/``links()`` (a
    :class:`~labs.nodes.LinkHandle`); ``delay`` (the backend in force); ``status()``. ``ops`` is the
    :class:`~labs.linkops.LinkOps` the lab's modules share.
    """

    def __init__(self, fabric: Fabric | None = None, plan: Plan | None = None, *, name: str = DEFAULT_LAB_NAME,
                 rate_scale: float = DEFAULT_RATE_SCALE, delay_scale: float = DEFAULT_DELAY_SCALE,
                 delay_backend: str = DEFAULT_DELAY_BACKEND, relay_all: bool = False,
                 state_dir: str | os.PathLike[str] = LAB_STATE_DIR, plan_file: str | None = None,
                 clab: ClabSpec | None = None, seed: int = 0, relay_realtime: bool = True,
                 switch: str = DEFAULT_SWITCH_KIND) -> None:
        check_lab_name(name)
        if switch not in SWITCH_KINDS:
            raise ConfigError(f"switch kind must be one of {', '.join(SWITCH_KINDS)}, got {switch!r}", where="--switch")
        if switch == "p4" and clab is not None:
            raise ConfigError("P4 switches need a fabric (a containerlab file routes by its exec lines)",
                              where="--switch p4")
        #: ``kernel``: switch namespaces route with the kernel; ``p4``: the P4Runtime agent forwards
        self.switch = switch
        self.fabric, self.plan, self.plan_file, self.clab = fabric, plan, plan_file, clab
        if rate_scale < 0 or delay_scale < 0:
            raise LabError("--rate-scale and delay scale must be >= 0")
        if delay_backend not in DELAY_BACKENDS:
            raise LabError(f"delay backend must be one of {', '.join(DELAY_BACKENDS)}, got {delay_backend!r}")
        self.rate_scale, self.delay_scale = float(rate_scale), float(delay_scale)
        self.delay_backend, self.relay_all = delay_backend, relay_all
        self.ops = LinkOps(name, state_dir, seed=seed, relay_realtime=relay_realtime)
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ identity and state
    @property
    def name(self) -> str:
        return self.ops.name

    @property
    def prefix(self) -> str:
        return self.ops.prefix

    @property
    def state_dir(self) -> Path:
        return self.ops.state_dir

    @property
    def state(self) -> dict[str, Any]:
        """The lab's state record (what its state file holds); empty before ``up``/``attach``."""
        return self.ops.state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self.ops.state = value

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> Lab:
        if not self.state:
            self.up()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    # ------------------------------------------------------------------ attach to a running lab
    @classmethod
    def attach(cls, name: str | None = None, state_dir: str | os.PathLike[str] = LAB_STATE_DIR,
               require_up: bool = True) -> Lab:
        """The running lab ``name`` (or the only one) from its state file."""
        sd = Path(state_dir)
        if name is None:
            names = running_labs(sd)
            if len(names) != 1:
                raise LabError("no lab is up" if not names else
                               f"several labs are up ({', '.join(names)}): pick one with --name")
            name = names[0]
        p = state_path(name, sd)
        try:
            st = json.loads(p.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab named {name!r} is up (no state file {p})") from None
        if st.get("status") != "up" and require_up:
            raise LabError(f"lab {name!r} is {st.get('status')!r}, not up; run `fabricctl lab down --name {name}`")
        lab = cls(None, name=name, rate_scale=st["rate_scale"], delay_scale=st["delay_scale"], state_dir=sd)
        lab.state = st
        return lab

    # ------------------------------------------------------------------ nodes and links
    def __getitem__(self, node: str) -> Node:
        return Node(self.ops, node)

    def nodes(self) -> list[str]:
        return list(self.state.get("nodes", {}))

    def namespace(self, node: str) -> netns.Namespace:
        """The node's network namespace (opened on first use; :meth:`close` closes it)."""
        return self.ops.namespace(node)

    def hosts_file(self) -> str:
        """``/etc/hosts`` as commands in this lab see it: the machine's plus every node's address."""
        return self.ops.hosts_file()

    def _write_hosts(self) -> None:
        try:
            base = Path("/etc/hosts").read_text()
        except OSError:
            base = "127.0.0.1 localhost\n"
        lines = [f"{d['ip']} {n}" for n, d in self.state["nodes"].items() if d.get("ip")]
        write_text_atomic(self.hosts_file(), base.rstrip("\n") + "\n# fabricctl lab " + self.name + "\n"
                          + "\n".join(lines) + "\n")

    def ip(self, node: str) -> str:
        """The node's lab address, or for containerlab nodes (addressed by their exec lines) the first
        IPv4 address found on its interfaces."""
        ip = self[node].ip
        if ip is not None:
            return ip
        for a in self.namespace(node).ipr.get_addr(family=socket.AF_INET):
            addr = a.get_attr("IFA_ADDRESS")
            if addr and not addr.startswith("127."):
                return str(addr)
        raise LabError(f"node {node!r} has no IPv4 address", where=f"lab {self.name!r}")

    def link(self, a: str, b: str, key: int | None = None) -> LinkHandle:
        for rec in self.state.get("links", []):
            if {rec["a"], rec["b"]} == {a, b} and (key is None or rec.get("key") == key):
                return LinkHandle(self.ops, rec)
        raise LabError(f"no link {a}--{b} in lab {self.name!r}")

    def links(self) -> list[LinkHandle]:
        return [LinkHandle(self.ops, r) for r in self.state.get("links", [])]

    @property
    def delay(self) -> DelayBackend:
        """The delay backend in force (netem, relay or none), behind one interface."""
        return self.ops.delay

    # ------------------------------------------------------------------ up
    def up(self) -> Lab:
        netns.require_root("build a lab")
        t0 = time.perf_counter()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with build_lock(self.ops):
            self._up(t0)
        return self

    def _up(self, t0: float) -> None:
        down_s = refuse_or_clean(self.ops)
        if down_s is not None:
            self.timings["down_s"] = down_s
        spec, lay = self.clab, None
        if spec is None:
            if self.fabric is None:
                raise LabError("a lab needs a fabric or a containerlab topology")
            lay = layout(self.fabric, self.plan, plan_file=self.plan_file,
                         endpoint_addresses="fabric" if self.switch == "p4" else "lab")
        p4_plan, p4_nodes = None, []
        if self.switch == "p4":
            from labs.p4lab import lab_plan, p4_switches

            assert self.fabric is not None
            p4_nodes = p4_switches(self.fabric)
            p4_plan = lab_plan(self.fabric, self.plan, plan_file=self.plan_file)  # bad plans fail before building
        relay_needed, backend = self._choose_links(lay, spec)
        nodes = list(spec.nodes) if spec is not None else lay.nodes if lay is not None else []
        names = {n: ns_name(self.prefix, n) for n in nodes}
        if len(set(names.values())) != len(names):
            raise LabError("two node names map to the same namespace name after sanitising")
        self.state = {
            "name": self.name, "prefix": self.prefix, "status": "building", "pid": os.getpid(),
            "created_unix": round(time.time(), 3),
            "fabric": self.fabric.name if self.fabric is not None and self.fabric.name else
            (spec.name if spec is not None else None), "kind": "clab" if spec is not None else "fabric",
            "rate_scale": self.rate_scale, "delay_scale": self.delay_scale, "backend": backend,
            "switch": self.switch,
            "plan_file": str(Path(self.plan_file).resolve()) if self.plan_file else None,
            "namespaces": list(names.values()) + ([relay_ns_name(self.prefix)] if relay_needed else []),
            "processes": [], "notes": [],
            "control": str(self.state_dir / f"{self.name}.relay.sock"),
            "nodes": {n: {"ns": names[n], "ip": lay.address[n] if lay else None,
                          "role": self.fabric.role(n) if lay is not None and self.fabric is not None else
                          (spec.nodes[n].get("kind") if spec is not None else None)} for n in nodes},
            "links": [],
        }
        if lay is not None:
            self.state["delay_source"], self.state["delay_model"] = lay.delay_source, lay.delay_model
        self.ops.save_state()
        try:
            if spec is not None:
                from labs.clab import build_clab

                build_clab(self.ops, spec, names)
            else:
                from labs.build import FabricBuilder

                assert lay is not None
                FabricBuilder(self.ops, lay, names, rate_scale=self.rate_scale, delay_scale=self.delay_scale,
                              relay_all=self.relay_all, timings=self.timings,
                              p4_switches=frozenset(p4_nodes)).build()
                if p4_plan is not None:
                    self._start_p4(lay, p4_plan, p4_nodes)
                self._write_hosts()
            self.state["status"] = "up"
            self.ops.save_state()
        except BaseException:
            self.timings["down_s"] = teardown(self.ops)[1]
            raise
        self.timings["up_s"] = time.perf_counter() - t0

    def _start_p4(self, lay: Layout, plan: Plan, switches: list[str]) -> None:
        from labs.p4lab import load_switches, peak_rss_bytes, ports_config, start_agent

        assert self.fabric is not None
        start_agent(self.ops, ports_config(self.ops, self.fabric, lay, switches), self.timings)
        load_switches(self.ops, self.fabric, plan, switches, self.timings)
        pid = next(p["pid"] for p in self.state["processes"] if p.get("role") == "agent")
        self.state["agent"]["peak_rss_bytes"] = peak_rss_bytes(pid)

    def _choose_links(self, lay: Layout | None, spec: ClabSpec | None) -> tuple[bool, str]:
        delayed = False
        if lay is not None:
            delayed = self.relay_all or any(lp.delay_us * self.delay_scale > 0 for lp in lay.links)
        elif spec is not None:
            delayed = any(lk.get("delay_us") or lk.get("jitter_us") or lk.get("loss_pct") for lk in spec.links)
        if not delayed:
            return False, "none"
        if self.delay_backend == "relay":
            return True, "relay"
        has_netem = kernel_has_netem(netem_probe_ns_name(self.prefix))
        if self.delay_backend == "netem":
            if not has_netem:
                raise LabError("delay backend 'netem' asked for, but this kernel has no sch_netem "
                               "(use --delay-backend relay or auto)")
            return False, "netem"
        return (False, "netem") if has_netem else (True, "relay")

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        st = self.state
        out: dict[str, Any] = {k: st.get(k) for k in ("name", "prefix", "status", "fabric", "kind", "backend", "rate_scale",
                                      "delay_scale", "delay_source", "notes", "relay_calibration")}
        out["switch"] = st.get("switch", "kernel")
        out["node_list"] = [{"node": n, "ns": d.get("ns"), "ip": d.get("ip"), "role": d.get("role")}
                            for n, d in st.get("nodes", {}).items()]
        out["nodes"] = len(st.get("nodes", {}))
        out["namespaces_present"] = len(netns.list_netns(self.prefix))
        out["processes"] = [dict(p, alive=bool(p.get("pid")) and pid_alive(p["pid"])) for p in st.get("processes", [])]
        out["links"] = []
        if st.get("status") != "up":
            builder = int(st.get("pid") or 0)
            out["note"] = (f"being built by process {builder}" if builder and pid_alive(builder) else
                           f"left over from a crashed run; `fabricctl lab down --name {st.get('name')}` removes it")
            return out
        if st.get("agent"):
            from labs.p4lab import agent_status

            ag = st["agent"]
            pid = next((p["pid"] for p in st.get("processes", []) if p.get("role") == "agent"), None)
            out["agent"] = {"address": ag.get("address"), "pid": pid, "alive": pid is not None and pid_alive(int(pid)),
                            "devices": len(ag.get("devices", {})), "peak_rss_bytes": ag.get("peak_rss_bytes")}
            if out["agent"]["alive"]:
                try:
                    reply = agent_status(self.ops)
                    out["agent"]["dataplanes"] = reply["devices"]
                    out["agent"]["peak_rss_bytes"] = reply["peak_rss_bytes"]   # now, after whatever ran since up
                except LabError as exc:
                    out["agent"]["error"] = exc.reason
        for rec in st.get("links", []):
            row = {k: rec.get(k) for k in ("a", "b", "if_a", "if_b", "capacity_gbps", "rate_bps",
                                           "delay_us", "model_delay_us", "jitter_us", "loss_pct", "relayed")}
            if rec.get("relayed") or rec.get("netem") or rec.get("rate_bps"):
                row["applied"] = self.ops.read_back(rec)
            out["links"].append(row)
        return out

    # ------------------------------------------------------------------ down
    def down(self) -> dict[str, int]:
        """Remove this lab's namespaces and processes (from the state file) and the state file."""
        netns.require_root("tear down a lab")
        if not self.state:
            p = state_path(self.name, self.state_dir)
            if not p.exists():
                # a run killed before it wrote its state file can only have left its netem probe (ours by
                # name: no node's namespace has an '@') and its lock file
                probe = netem_probe_ns_name(self.prefix)
                lock = self.state_dir / f"{self.name}.lock"
                if not os.path.lexists(netns.netns_path(probe)) and not lock.exists():
                    raise LabError(f"no lab named {self.name!r} (no state file {p})")
                with build_lock(self.ops):
                    removed = int(netns.remove_netns(probe))
                    lock.unlink(missing_ok=True)
                return {"namespaces_removed": removed, "processes_killed": 0}
            self.state = json.loads(p.read_text())
        with build_lock(self.ops):
            res, self.timings["down_s"] = teardown(self.ops)
            (self.state_dir / f"{self.name}.lock").unlink(missing_ok=True)
            return res

    def close(self) -> None:
        """Close the sockets this handle holds (the lab keeps running)."""
        self.ops.close()
