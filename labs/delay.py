"""Delay backends behind one interface: how a lab gives a link its delay, jitter and loss.

- :class:`NetemBackend`: the kernel's ``sch_netem`` on both ends of the link (with the link's rate
  as netem's own rate option), where the kernel has it (:func:`kernel_has_netem` probes for it in a
  scratch namespace carrying the lab's prefix).
- :class:`RelayBackend`: the userspace relay (:mod:`labs.relay`) in the lab's middle namespace, for
  kernels without ``sch_netem`` (this project's machines and CI). Links it serves are wired through
  the middle namespace when the lab is built.
- :class:`NoDelay`: a lab without delayed links; asking it for an impairment is an error.

Every backend reads back what is in force (:meth:`DelayBackend.read`); the lab compares that with
what it asked for, so a lab never runs with an impairment silently missing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from fabric.errors import LabError
from fabric.io.atomic import write_json_atomic
from labs import netns
from labs.routing import relay_ns_name

#: How long `up` waits for the relay to calibrate and report ready.
RELAY_START_TIMEOUT_S = 10.0
#: How long a control request to the relay may take.
RELAY_CONTROL_TIMEOUT_S = 2.0

_NONE = {"delay_us": 0.0, "jitter_us": 0.0, "loss_pct": 0.0}


def impaired(rec: dict[str, Any]) -> bool:
    return rec["delay_us"] > 0 or rec["jitter_us"] > 0 or rec["loss_pct"] > 0


class DelayHost(Protocol):
    """What a backend needs of its lab (:class:`labs.linkops.LinkOps` is one): names, the state
    record and file, the lab's namespaces, and the relay's options."""

    name: str
    prefix: str
    state_dir: Path
    seed: int
    relay_realtime: bool
    state: dict[str, Any]

    def namespace(self, node: str) -> netns.Namespace: ...

    def save_state(self) -> None: ...


class DelayBackend:
    """The interface. ``rec`` is a link record of the lab state (a, b, if_a, if_b, delay_us,
    jitter_us, loss_pct, rate_bps, relayed, ...)."""

    name = "none"

    def __init__(self, lab: DelayHost) -> None:
        self.lab = lab

    def start(self) -> None:
        """Called once the links exist, before any :meth:`apply`."""

    def apply(self, rec: dict[str, Any]) -> None:
        """Put the record's delay, jitter and loss in force on its link."""
        if impaired(rec):
            raise LabError(f"link {rec['a']}--{rec['b']} was built without a delay relay, so its delay "
                           "cannot be changed live; build the lab with relay_all=True (--relay-all)")

    def read(self, rec: dict[str, Any]) -> dict[str, Any]:
        """What is in force on the link: ``delay_us``, ``jitter_us``, ``loss_pct`` and ``by``."""
        return dict(_NONE, by="none")

    def read_all(self, recs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        return {r["id"]: self.read(r) for r in recs}

    def counters(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        return None


class NoDelay(DelayBackend):
    name = "none"


class NetemBackend(DelayBackend):
    name = "netem"

    def apply(self, rec: dict[str, Any]) -> None:
        if not (impaired(rec) or rec.get("netem")):
            return
        rec["netem"] = True
        for node, ifn in ((rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])):
            self.lab.namespace(node).set_netem(ifn, rec["delay_us"], rec["jitter_us"], rec["loss_pct"], rec["rate_bps"])

    def read(self, rec: dict[str, Any]) -> dict[str, Any]:
        if not rec.get("netem"):
            return dict(_NONE, by="none")
        found = []
        for node, ifn in ((rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])):
            net = next((q["netem"] for q in self.lab.namespace(node).qdiscs(ifn) if q["kind"] == "netem"), None)
            if net is None:
                return dict(_NONE, by="none")  # one end lost its netem: the comparison fails
            found.append(net)
        # both ends must agree; report the end that differs most from the request
        worst = max(found, key=lambda n: abs(n["delay_us"] - rec["delay_us"]))
        return dict(worst, by="netem")


class RelayBackend(DelayBackend):
    name = "relay"

    def start(self) -> None:
        lab, st = self.lab, self.lab.state
        links = [{"id": r["id"], "relay_if_a": r["relay_if_a"], "relay_if_b": r["relay_if_b"],
                  "delay_us": r["delay_us"], "jitter_us": r["jitter_us"], "loss_pct": r["loss_pct"],
                  "seed": lab.seed} for r in st["links"] if r.get("relayed")]
        cfg_path = lab.state_dir / f"{lab.name}.relay.json"
        ready = lab.state_dir / f"{lab.name}.relay.ready"
        log = lab.state_dir / f"{lab.name}.relay.log"
        ready.unlink(missing_ok=True)
        write_json_atomic(cfg_path, {"netns_path": netns.netns_path(relay_ns_name(lab.prefix)), "links": links,
                                     "control": st["control"], "realtime": lab.relay_realtime,
                                     "ready_file": str(ready)})
        marker = f"fabricctl-relay:{lab.name}"
        with open(log, "wb") as log_fh:
            proc = subprocess.Popen([sys.executable, "-m", "labs.relay", str(cfg_path), marker],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_fh,
                                    start_new_session=True, cwd="/",
                                    env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        st["processes"].append({"pid": proc.pid, "role": "relay", "marker": marker})
        lab.save_state()  # the PID is on record before anything can go wrong
        deadline = time.monotonic() + RELAY_START_TIMEOUT_S
        while not ready.exists():
            if proc.poll() is not None:
                text = log.read_text(errors="replace").strip()
                raise LabError(f"delay relay exited with status {proc.returncode}: {text[-300:]}")
            if time.monotonic() > deadline:
                raise LabError(f"delay relay did not start within {RELAY_START_TIMEOUT_S} s")
            time.sleep(0.005)
        st["relay_calibration"] = json.loads(ready.read_text())["calibration"]

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        path = self.lab.state["control"]
        with tempfile.TemporaryDirectory(prefix="fabricctl-") as d:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                s.bind(os.path.join(d, "c.sock"))
                s.settimeout(RELAY_CONTROL_TIMEOUT_S)
                s.sendto(json.dumps(req).encode(), path)
                reply = json.loads(s.recv(1 << 20))
            except (OSError, ValueError) as exc:
                raise LabError(f"delay relay does not answer on {path}: {exc}") from None
            finally:
                s.close()
        if not reply.get("ok"):
            raise LabError(f"delay relay refused {req}: {reply.get('error')}")
        return reply

    def apply(self, rec: dict[str, Any]) -> None:
        if not rec.get("relayed"):
            super().apply(rec)
            return
        self.request({"op": "set", "link": rec["id"], "delay_us": rec["delay_us"],
                      "jitter_us": rec["jitter_us"], "loss_pct": rec["loss_pct"]})

    def _table(self) -> dict[int, dict[str, Any]]:
        return {lk["id"]: lk for lk in self.request({"op": "get"})["links"]}

    def read_all(self, recs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        table = self._table() if any(r.get("relayed") for r in recs) else {}
        out = {}
        for r in recs:
            if not r.get("relayed"):
                out[r["id"]] = dict(_NONE, by="none")
            elif r["id"] not in table:
                raise LabError(f"delay relay does not know link {r['a']}--{r['b']}: an impairment is missing")
            else:
                lk = table[r["id"]]
                out[r["id"]] = {"delay_us": lk["delay_us"], "jitter_us": lk["jitter_us"],
                                "loss_pct": lk["loss_pct"], "by": "relay"}
        return out

    def read(self, rec: dict[str, Any]) -> dict[str, Any]:
        return self.read_all([rec])[rec["id"]]

    def counters(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        if not rec.get("relayed"):
            return None
        return self._table().get(rec["id"])


BACKENDS: dict[str, type[DelayBackend]] = {"none": NoDelay, "netem": NetemBackend, "relay": RelayBackend}


def backend_for(name: str, lab: DelayHost) -> DelayBackend:
    try:
        return BACKENDS[name](lab)
    except KeyError:
        raise LabError(f"unknown delay backend {name!r} (expected one of {', '.join(BACKENDS)})") from None


def kernel_has_netem(name: str) -> bool:
    """Probe for sch_netem in a scratch namespace ``name`` (carrying the lab's prefix), removed at once.
    One left by a run killed during its probe (before any state file existed) is ours and removed first:
    the caller holds the lab's build lock, and no node's namespace has an ``@`` in its name."""
    netns.remove_netns(name)
    ns_ = netns.Namespace.create(name)
    try:
        return ns_.try_netem("lo")
    finally:
        ns_.close()
        netns.remove_netns(name)
