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
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fabric.errors import LabError
from fabric.io.atomic import write_json_atomic, write_text_atomic
from fabric.topology import Fabric
from labs import netns
from labs.constants import (
    DEFAULT_RATE_SCALE,
    LAB_STATE_DIR,
    RT_SCOPE_LINK,
    TBF_LATENCY_US,
    TBF_MIN_BURST_BYTES,
)
from labs.delay import DelayBackend, backend_for, kernel_has_netem
from labs.handles import LinkHandle, Node
from labs.routing import (
    Layout,
    LinkPlan,
    check_lab_name,
    lab_prefix,
    layout,
    ns_name,
    relay_ns_name,
)

#: sysctls of every node namespace. ip_forward: switches route; fib_multipath_hash_policy=1: hash
#: multipath on the L4 5-tuple like a switch (ip-sysctl.rst); rp_filter off because multipath
#: return traffic may arrive on another link; IPv6 off so no RS/DAD/MLD frames disturb counters.
NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.fib_multipath_hash_policy": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}
RELAY_SYSCTLS = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
DELAY_BACKENDS = ("auto", "netem", "relay")


def state_path(name: str, state_dir: str | os.PathLike[str] = LAB_STATE_DIR) -> Path:
    return Path(state_dir) / f"{name}.json"


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Lab:
    """A lab built from a Fabric and an optional Plan. Construction does nothing; ``up()`` builds."""

    def __init__(self, fabric: Fabric | None = None, plan: Any = None, *, name: str = "fablab",
                 rate_scale: float = DEFAULT_RATE_SCALE, delay_scale: float = 1.0,
                 delay_backend: str = "auto", relay_all: bool = False,
                 state_dir: str | os.PathLike[str] = LAB_STATE_DIR, plan_file: str | None = None,
                 clab: Any = None, seed: int = 0, relay_realtime: bool = True) -> None:
        self.name = check_lab_name(name)
        self.prefix = lab_prefix(name)
        self.fabric, self.plan, self.plan_file, self.clab = fabric, plan, plan_file, clab
        if rate_scale < 0 or delay_scale < 0:
            raise LabError("--rate-scale and delay scale must be >= 0")
        if delay_backend not in DELAY_BACKENDS:
            raise LabError(f"delay backend must be one of {', '.join(DELAY_BACKENDS)}, got {delay_backend!r}")
        self.rate_scale, self.delay_scale = float(rate_scale), float(delay_scale)
        self.delay_backend, self.relay_all, self.seed = delay_backend, relay_all, seed
        #: run the relay SCHED_FIFO (falls back to nice -10): on a busy machine a relay waiting for a
        #: CPU adds milliseconds to every frame it holds
        self.relay_realtime = relay_realtime
        self.state_dir = Path(state_dir)
        self.state: dict[str, Any] = {}
        self._open: dict[str, netns.Namespace] = {}
        self.timings: dict[str, float] = {}
        self._delay: DelayBackend | None = None

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

    # ------------------------------------------------------------------ public API
    def __getitem__(self, node: str) -> Node:
        if node not in self.state.get("nodes", {}):
            raise LabError(f"no node {node!r} in lab {self.name!r}")
        return Node(self, node)

    def nodes(self) -> list[str]:
        return list(self.state.get("nodes", {}))

    def hosts_file(self) -> str:
        """``/etc/hosts`` as commands in this lab see it: the machine's plus every node's address."""
        return str(self.state_dir / f"{self.name}.hosts")

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
        for a in self._ns(node).ipr.get_addr(family=socket.AF_INET):
            addr = a.get_attr("IFA_ADDRESS")
            if addr and not addr.startswith("127."):
                return str(addr)
        raise LabError(f"node {node!r} has no IPv4 address", where=f"lab {self.name!r}")

    def link(self, a: str, b: str, key: int | None = None) -> LinkHandle:
        for rec in self.state.get("links", []):
            if {rec["a"], rec["b"]} == {a, b} and (key is None or rec.get("key") == key):
                return LinkHandle(self, rec)
        raise LabError(f"no link {a}--{b} in lab {self.name!r}")

    def links(self) -> list[LinkHandle]:
        return [LinkHandle(self, r) for r in self.state.get("links", [])]

    # ------------------------------------------------------------------ up
    def up(self) -> Lab:
        netns.require_root("build a lab")
        t0 = time.perf_counter()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._up(t0)
        return self

    def _locked(self) -> Any:
        """An exclusive lock on this lab's name for the duration of up/down: two processes never
        build or tear down the same lab at once (the kernel drops the lock if a process dies)."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def lock() -> Any:
            fd = os.open(self.state_dir / f"{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise LabError(f"lab {self.name!r} is being built or torn down by another process") from None
                yield
            finally:
                os.close(fd)

        return lock()

    def _up(self, t0: float) -> None:
        self._refuse_or_clean()
        if self.clab is not None:
            spec = self.clab
            lay = None
        else:
            if self.fabric is None:
                raise LabError("a lab needs a fabric or a containerlab topology")
            lay = layout(self.fabric, self.plan, plan_file=self.plan_file)
            spec = None
        relay_needed, backend = self._choose_links(lay, spec)
        nodes = list(spec.nodes) if spec is not None else lay.nodes  # type: ignore[union-attr]
        names = {n: ns_name(self.prefix, n) for n in nodes}
        if len(set(names.values())) != len(names):
            raise LabError("two node names map to the same namespace name after sanitising")
        self.state = {
            "name": self.name, "prefix": self.prefix, "status": "building", "pid": os.getpid(),
            "created_unix": round(time.time(), 3), "fabric": getattr(self.fabric, "name", None) or
            getattr(spec, "name", None), "kind": "clab" if spec is not None else "fabric",
            "rate_scale": self.rate_scale, "delay_scale": self.delay_scale, "backend": backend,
            "plan_file": str(Path(self.plan_file).resolve()) if self.plan_file else None,
            "namespaces": list(names.values()) + ([relay_ns_name(self.prefix)] if relay_needed else []),
            "processes": [], "notes": [],
            "control": str(self.state_dir / f"{self.name}.relay.sock"),
            "nodes": {n: {"ns": names[n], "ip": lay.address[n] if lay else None} for n in nodes},
            "links": [],
        }
        self._save_state()
        try:
            if spec is not None:
                from labs.clab import build_clab

                build_clab(self, spec, names)
            else:
                assert lay is not None
                self._build(lay, names)
                self._write_hosts()
            self.state["status"] = "up"
            self._save_state()
        except BaseException:
            self._teardown()
            raise
        self.timings["up_s"] = time.perf_counter() - t0

    def _choose_links(self, lay: Layout | None, spec: Any) -> tuple[bool, str]:
        delayed = False
        if lay is not None:
            delayed = self.relay_all or any(lp.delay_us * self.delay_scale > 0 for lp in lay.links)
        elif spec is not None:
            delayed = any(lk.get("delay_us") or lk.get("jitter_us") or lk.get("loss_pct") for lk in spec.links)
        if not delayed:
            return False, "none"
        if self.delay_backend == "relay":
            return True, "relay"
        has_netem = kernel_has_netem(self.prefix + "@netem-probe")
        if self.delay_backend == "netem":
            if not has_netem:
                raise LabError("delay backend 'netem' asked for, but this kernel has no sch_netem "
                               "(use --delay-backend relay or auto)")
            return False, "netem"
        return (False, "netem") if has_netem else (True, "relay")

    def _build(self, lay: Layout, names: dict[str, str]) -> None:
        from labs.nlbatch import Batch

        t = time.perf_counter()
        ns = self._open
        for n in lay.nodes:
            ns[n] = netns.Namespace.create(names[n])
            netns.write_sysctls(ns[n].fd, NODE_SYSCTLS, names[n])
        backend = self.state["backend"]
        relay = None
        if backend == "relay":
            relay = netns.Namespace.create(relay_ns_name(self.prefix))
            ns["@relay"] = relay
            netns.write_sysctls(relay.fd, RELAY_SYSCTLS, relay.name)
        self.timings["namespaces_s"] = time.perf_counter() - t
        t = time.perf_counter()
        batch = {k: Batch(v.fd, v.name) for k, v in ns.items()}
        try:
            self._build_links(lay, ns, batch, relay)
        finally:
            for b in batch.values():
                b.close()
        self.state["routes"] = {n: [[d, [list(h) for h in hops]] for d, hops in lay.routes[n]] for n in lay.nodes}
        self.state["neighbours"] = lay.neighbours
        self.state["notes"] += lay.notes
        self.state["wcmp_groups_applied"] = lay.wcmp_groups_applied
        t = time.perf_counter()
        self.delay.start()  # the relay starts with every relayed link's impairments in its config
        for rec in self.state["links"]:
            if rec["delay_us"] > 0 and not rec.get("relayed"):
                self.delay.apply(rec)
        self.timings["relay_s"] = time.perf_counter() - t
        t = time.perf_counter()
        self._verify_all(lay)
        self.timings["verify_s"] = time.perf_counter() - t

    def _build_links(self, lay: Layout, ns: dict[str, netns.Namespace], batch: dict[str, Any],
                     relay: netns.Namespace | None) -> None:
        """veth pairs, then per namespace one batch: links up, address, routes, TBF."""
        t = time.perf_counter()
        ifx: dict[str, dict[str, int]] = {k: {"lo": 1} for k in ns}

        def new_index(node: str, ifname: str) -> int:
            ifx[node][ifname] = len(ifx[node]) + 1
            return ifx[node][ifname]

        netem = self.state["backend"] == "netem"
        for lp in lay.links:
            rec = self._link_record(lp)
            ia = new_index(lp.a, lp.if_a)
            ib = new_index(lp.b, lp.if_b)
            if relay is not None and (self.relay_all or rec["delay_us"] > 0):
                rec["relayed"] = True
                ra, rb = f"r{lp.id}a", f"r{lp.id}b"
                rec["relay_if_a"], rec["relay_if_b"] = ra, rb
                batch[lp.a].veth(lp.if_a, ia, relay.fd, ra, new_index("@relay", ra))
                batch[lp.b].veth(lp.if_b, ib, relay.fd, rb, new_index("@relay", rb))
            else:
                batch[lp.a].veth(lp.if_a, ia, ns[lp.b].fd, lp.if_b, ib)
            self.state["links"].append(rec)
        for b in batch.values():
            b.flush()
        for rec in self.state["links"]:
            if rec["relayed"]:
                ns[rec["a"]].set_tx_checksum(rec["if_a"], False)
                ns[rec["b"]].set_tx_checksum(rec["if_b"], False)
        self.timings["links_s"] = time.perf_counter() - t
        t = time.perf_counter()
        # a link the fabric marks down stays administratively down (and carries no routes)
        down = {(r["a"], r["if_a"]) for r in self.state["links"] if not r["up"]} | \
            {(r["b"], r["if_b"]) for r in self.state["links"] if not r["up"]}
        for k, b in batch.items():
            for ifn, i in ifx[k].items():
                if (k, ifn) not in down:
                    b.link_up(i, ifn)
        for n in lay.nodes:
            b, ix = batch[n], ifx[n]
            b.addr(1, lay.address[n], 32)
            for m, ifs in lay.neighbours[n].items():
                b.route(f"{lay.address[m]}/32", [(ix[i], None, 1) for i in ifs], scope=RT_SCOPE_LINK, onlink=False)
            for dst, hops in lay.routes[n]:
                b.route(dst, [(ix[ifn], lay.address[m], w) for ifn, m, w in hops])
        for rec in self.state["links"]:
            if rec["rate_bps"] and not (netem and rec["delay_us"] > 0):
                for node, ifn in ((rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])):
                    rate_Bps = int(rec["rate_bps"] / 8)
                    batch[node].tbf(ifx[node][ifn], rec["rate_bps"], max(TBF_MIN_BURST_BYTES, rate_Bps // 1000),
                                    TBF_LATENCY_US, f"{node}:{ifn}")
        for b in batch.values():
            b.flush()
        self.timings["config_s"] = time.perf_counter() - t
        self.state["ifindex"] = {k: v for k, v in ifx.items()}

    def _verify_all(self, lay: Layout) -> None:
        """Read everything back from the kernel and the relay: rates per interface, route counts
        per namespace, delays in the relay. Any difference fails the build."""
        from labs.nlbatch import Batch

        want_rate: dict[str, dict[str, int]] = {}
        for rec in self.state["links"]:
            if rec["rate_bps"] and not rec.get("netem"):
                for node, ifn in ((rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])):
                    want_rate.setdefault(node, {})[ifn] = int(rec["rate_bps"] / 8) * 8
        for n in lay.nodes:
            b = Batch(self._open[n].fd, self._open[n].name)
            try:
                got = b.tbf_rates() if n in want_rate else {}
                have = b.static_routes()
            finally:
                b.close()
            for ifn, r in want_rate.get(n, {}).items():
                g = got.get(self.state["ifindex"][n][ifn])
                if g is None or abs(g - r) > 8:
                    raise LabError(f"rate on {ifn} reads back {g} b/s, asked for {r}", where=f"node {n!r}")
            want_routes = len(lay.routes[n]) + len(lay.neighbours[n])
            if have != want_routes:
                raise LabError(f"{have} routes read back, {want_routes} installed", where=f"node {n!r}")
        in_force = self.delay.read_all(self.state["links"])
        for rec in self.state["links"]:
            self._verify_link(rec, in_force[rec["id"]])

    def _link_record(self, lp: LinkPlan) -> dict[str, Any]:
        d = asdict(lp)
        d["delay_us"] = lp.delay_us * self.delay_scale
        d["model_delay_us"] = lp.delay_us
        d["jitter_us"] = 0.0
        d["loss_pct"] = 0.0
        d["rate_bps"] = lp.capacity_gbps * 1e9 * self.rate_scale if self.rate_scale > 0 else None
        d["relayed"] = False
        return d

    # ------------------------------------------------------------------ impairments
    @property
    def delay(self) -> DelayBackend:
        """The delay backend in force (netem, relay or none), behind one interface."""
        if self._delay is None or self._delay.name != self.state.get("backend", "none"):
            self._delay = backend_for(self.state.get("backend", "none"), self)
        return self._delay

    def _apply_link(self, rec: dict[str, Any]) -> None:
        """Apply a link's delay/jitter/loss (through the backend) and its rate (TBF)."""
        self.delay.apply(rec)
        if rec["rate_bps"] and not rec.get("netem"):  # netem carries the rate itself
            for node, ifn in ((rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])):
                self._ns(node).set_rate(ifn, rec["rate_bps"])

    def _read_back(self, rec: dict[str, Any]) -> dict[str, Any]:
        """What is in force on a link, read from the kernel (rates) and the delay backend."""
        out: dict[str, Any] = {"link": f"{rec['a']}:{rec['if_a']}--{rec['b']}:{rec['if_b']}"}
        rates = []
        for node, ifn in ((rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])):
            qs = self._ns(node).qdiscs(ifn)
            rates.append(next((q.get("rate_bps") for q in qs if q["kind"] == "tbf"), None))
        out["rate_bps"] = rates
        out.update(self.delay.read(rec))
        return out

    def _verify_link(self, rec: dict[str, Any], got: dict[str, Any] | None = None) -> dict[str, Any]:
        """Read back and compare with what was asked for; a missing impairment is an error."""
        got = got if got is not None else self._read_back(rec)
        where = f"link {rec['a']}--{rec['b']}"
        if rec["rate_bps"] and not rec.get("netem") and "rate_bps" in got:
            for r in got["rate_bps"]:
                if r is None or abs(r - int(rec["rate_bps"] / 8) * 8) > 8:
                    raise LabError(f"rate read back as {r} b/s, asked for {rec['rate_bps']:.0f}", where=where)
        for k, tol in (("delay_us", 1.0 if got.get("by") == "netem" else 1e-3),
                       ("jitter_us", 1.0 if got.get("by") == "netem" else 1e-3), ("loss_pct", 1e-3)):
            if abs(got[k] - rec[k]) > tol:  # netem keeps times in scheduler ticks: one tick of rounding
                raise LabError(f"{got.get('by')} reads back {k}={got[k]}, asked for {rec[k]}: an impairment "
                               "is missing or wrong", where=where)
        rec["verified"] = True
        return got

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        st = self.state
        out: dict[str, Any] = {k: st.get(k) for k in ("name", "prefix", "status", "fabric", "kind", "backend", "rate_scale",
                                      "delay_scale", "notes", "relay_calibration")}
        out["nodes"] = len(st.get("nodes", {}))
        out["namespaces_present"] = len(netns.list_netns(self.prefix))
        out["processes"] = [dict(p, alive=_pid_alive(p["pid"])) for p in st.get("processes", [])]
        out["links"] = []
        if st.get("status") != "up":
            builder = int(st.get("pid") or 0)
            out["note"] = (f"being built by process {builder}" if builder and _pid_alive(builder) else
                           f"left over from a crashed run; `fabricctl lab down --name {st.get('name')}` removes it")
            return out
        for rec in st.get("links", []):
            row = {k: rec.get(k) for k in ("a", "b", "if_a", "if_b", "capacity_gbps", "rate_bps",
                                           "delay_us", "model_delay_us", "jitter_us", "loss_pct", "relayed")}
            if rec.get("relayed") or rec.get("netem") or rec.get("rate_bps"):
                row["applied"] = self._read_back(rec)
            out["links"].append(row)
        return out

    # ------------------------------------------------------------------ down
    def down(self) -> dict[str, int]:
        """Remove this lab's namespaces and processes (from the state file) and the state file."""
        netns.require_root("tear down a lab")
        if not self.state:
            p = state_path(self.name, self.state_dir)
            if not p.exists():
                raise LabError(f"no lab named {self.name!r} (no state file {p})")
            self.state = json.loads(p.read_text())
        with self._locked():
            res = self._teardown()
            (self.state_dir / f"{self.name}.lock").unlink(missing_ok=True)
            return res

    def _refuse_or_clean(self) -> None:
        p = state_path(self.name, self.state_dir)
        if not p.exists():
            return
        try:
            old = json.loads(p.read_text())
        except ValueError:
            old = {}
        builder = int(old.get("pid", 0) or 0)
        if old.get("status") == "up" and any(os.path.exists(netns.netns_path(n)) for n in old.get("namespaces", [])):
            raise LabError(f"lab {self.name!r} is already up; run `fabricctl lab down --name {self.name}` first")
        if old.get("status") == "building" and builder and builder != os.getpid() and _pid_alive(builder):
            raise LabError(f"lab {self.name!r} is being built by process {builder}")
        # leftovers of a crashed run: remove exactly what the state file lists
        self.state = old
        self._teardown()

    def _teardown(self) -> dict[str, int]:
        st = self.state
        t0 = time.perf_counter()
        for ns_ in self._open.values():
            ns_.close()
        self._open.clear()
        killed = 0
        inodes = {i for i in (netns.netns_inode(n) for n in st.get("namespaces", [])) if i is not None}
        pids = {p["pid"] for p in st.get("processes", []) if p.get("marker", "") in _cmdline(p["pid"])}
        pids |= set(netns.pids_in_netns(inodes)) if inodes else set()
        for pid in sorted(pids):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        for pid in pids:
            _reap(pid)
        removed = sum(netns.remove_netns(n) for n in st.get("namespaces", []))
        name = st.get("name", self.name)
        for suffix in (".relay.json", ".relay.ready", ".relay.sock", ".relay.log", ".hosts", ".json"):
            (self.state_dir / f"{name}{suffix}").unlink(missing_ok=True)
        self.timings["down_s"] = time.perf_counter() - t0
        self.state = {}
        return {"namespaces_removed": removed, "processes_killed": killed}

    # ------------------------------------------------------------------ helpers
    def _ns(self, node: str) -> netns.Namespace:
        if node not in self._open:
            self._open[node] = netns.Namespace.open(self.state["nodes"][node]["ns"])
        return self._open[node]

    def _save_state(self) -> None:
        write_json_atomic(state_path(self.name, self.state_dir), self.state)

    def close(self) -> None:
        """Close the sockets this handle holds (the lab keeps running)."""
        for ns_ in self._open.values():
            ns_.close()
        self._open.clear()


def _reap(pid: int) -> None:
    """Wait briefly for a killed process to go (reap it if it is our child)."""
    for _ in range(200):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not _pid_alive(pid):
                return
        time.sleep(0.001)


def running_labs(state_dir: str | os.PathLike[str] = LAB_STATE_DIR) -> list[str]:
    sd = Path(state_dir)
    if not sd.exists():
        return []
    out = []
    for p in sd.glob("*.json"):
        if p.name.endswith(".relay.json"):
            continue
        try:
            if "prefix" in json.loads(p.read_text()):  # a lab state file, not some other JSON
                out.append(p.name[:-5])
        except (OSError, ValueError):
            continue
    return sorted(out)
