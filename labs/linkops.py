"""The kernel side of one lab, as the modules that build, change and measure it see it.

:class:`LinkOps` holds a lab's state record (what its state file says), opens the lab's namespaces
on demand, writes the state file, and applies, reads back and verifies a link's impairments through
the delay backend (:mod:`labs.delay`) and the kernel's TBF qdiscs. :class:`labs.lab.Lab` owns one;
:mod:`labs.build`, :mod:`labs.clab`, :mod:`labs.nodes` and :mod:`labs.teardown` receive it, so no
module reaches into another's private names. Constructing one touches nothing.

>>> ops = LinkOps("doc", "/tmp/fabricctl-doc")
>>> ops.prefix, ops.state_file.name
('doc.', 'doc.json')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fabric.errors import LabError
from fabric.io.atomic import write_json_atomic
from labs import netns
from labs.delay import DelayBackend, backend_for
from labs.routing import lab_prefix


def state_path(name: str, state_dir: str | os.PathLike[str]) -> Path:
    """Where lab ``name``'s state file lives."""
    return Path(state_dir) / f"{name}.json"


def link_ends(rec: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """The two ``(node, interface)`` ends of a link record."""
    return (rec["a"], rec["if_a"]), (rec["b"], rec["if_b"])


class LinkOps:
    """One lab's state, namespaces and per-link operations (apply, read back, verify)."""

    def __init__(self, name: str, state_dir: str | os.PathLike[str], *, seed: int = 0,
                 relay_realtime: bool = True) -> None:
        self.name = name
        self.prefix = lab_prefix(name)
        self.state_dir = Path(state_dir)
        #: seed of the relay's jitter and loss draws
        self.seed = seed
        #: run the relay SCHED_FIFO (falls back to nice -10): on a busy machine a relay waiting for a
        #: CPU adds milliseconds to every frame it holds
        self.relay_realtime = relay_realtime
        #: the lab's state record (the state file's content); empty while no lab is built or attached
        self.state: dict[str, Any] = {}
        #: namespaces this process holds open, by node name (``@relay`` for the relay's)
        self.opened: dict[str, netns.Namespace] = {}
        self._delay: DelayBackend | None = None

    # ------------------------------------------------------------------ state and namespaces
    @property
    def state_file(self) -> Path:
        return state_path(self.name, self.state_dir)

    def save_state(self) -> None:
        """Write the state record to the state file (atomically)."""
        write_json_atomic(self.state_file, self.state)

    def hosts_file(self) -> str:
        """``/etc/hosts`` as commands in this lab see it: the machine's plus every node's address."""
        return str(self.state_dir / f"{self.name}.hosts")

    def namespace(self, node: str) -> netns.Namespace:
        """The node's namespace (opened on first use, kept open until :meth:`close`)."""
        if node not in self.opened:
            try:
                ns_name = self.state["nodes"][node]["ns"]
            except KeyError:
                raise LabError(f"no node {node!r} in lab {self.name!r}") from None
            self.opened[node] = netns.Namespace.open(ns_name)
        return self.opened[node]

    def close(self) -> None:
        """Close the namespaces this process holds (the lab keeps running)."""
        for ns_ in self.opened.values():
            ns_.close()
        self.opened.clear()

    # ------------------------------------------------------------------ impairments
    @property
    def delay(self) -> DelayBackend:
        """The delay backend in force (netem, relay or none), behind one interface."""
        if self._delay is None or self._delay.name != self.state.get("backend", "none"):
            self._delay = backend_for(self.state.get("backend", "none"), self)
        return self._delay

    def apply(self, rec: dict[str, Any]) -> None:
        """Apply a link's delay/jitter/loss (through the backend) and its rate (TBF)."""
        self.delay.apply(rec)
        if rec["rate_bps"] and not rec.get("netem"):  # netem carries the rate itself
            for node, ifn in link_ends(rec):
                self.namespace(node).set_rate(ifn, rec["rate_bps"])

    def read_back(self, rec: dict[str, Any]) -> dict[str, Any]:
        """What is in force on a link, read from the kernel (rates) and the delay backend."""
        out: dict[str, Any] = {"link": f"{rec['a']}:{rec['if_a']}--{rec['b']}:{rec['if_b']}"}
        rates = []
        for node, ifn in link_ends(rec):
            qs = self.namespace(node).qdiscs(ifn)
            rates.append(next((q.get("rate_bps") for q in qs if q["kind"] == "tbf"), None))
        out["rate_bps"] = rates
        out.update(self.delay.read(rec))
        return out

    def verify(self, rec: dict[str, Any], got: dict[str, Any] | None = None) -> dict[str, Any]:
        """Read back (unless ``got`` is what was read) and compare with what was asked for; a
        missing or wrong impairment is a :class:`~fabric.errors.LabError`."""
        got = got if got is not None else self.read_back(rec)
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
