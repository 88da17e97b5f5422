"""Handles on a running lab's nodes and links: :class:`Node` (run commands in its namespace) and
:class:`LinkHandle` (counters, impairments in force, live changes). Both work through the lab's
:class:`~labs.linkops.LinkOps`."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from fabric.errors import LabError
from labs import netns
from labs.linkops import LinkOps


class Node:
    """A lab node: run commands inside its namespace (Mininet's ``net['h1'].cmd``)."""

    def __init__(self, ops: LinkOps, name: str) -> None:
        if name not in ops.state.get("nodes", {}):
            raise LabError(f"no node {name!r} in lab {ops.name!r}")
        self.ops, self.name = ops, name
        self.ns = ops.state["nodes"][name]["ns"]
        self.ip: str | None = ops.state["nodes"][name].get("ip")

    def _preexec(self) -> None:
        """In the child: enter the node's namespace the way ``ip netns exec`` does (own mount
        namespace, /sys of this network namespace) and see the lab's node names in /etc/hosts."""
        fd = os.open(netns.netns_path(self.ns), os.O_RDONLY)
        netns.setns_fd(fd, self.ns)
        os.close(fd)
        netns.private_mounts(self.ops.hosts_file() if self.ip is not None else None)

    def popen(self, args: str | list[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start a process inside this node's namespace (``down`` kills it with the lab)."""
        shell = isinstance(args, str)
        return subprocess.Popen(args, shell=shell, preexec_fn=self._preexec, **kw)  # noqa: PLW1509

    def cmd(self, args: str | list[str], timeout: float = 30.0, check: bool = False) -> str:
        """Run a command inside the namespace and return its stdout + stderr."""
        p = self.popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            raise LabError(f"command timed out after {timeout} s: {args!r}", where=f"node {self.name!r}") from None
        if check and p.returncode != 0:
            raise LabError(f"command failed ({p.returncode}): {args!r}: {out.strip()}", where=f"node {self.name!r}")
        return out

    def __repr__(self) -> str:
        return f"Node({self.name!r}, ns={self.ns!r}, ip={self.ip!r})"


class LinkHandle:
    """A lab link: counters, impairments in force (read back from the kernel/relay), live changes."""

    def __init__(self, ops: LinkOps, rec: dict[str, Any]) -> None:
        self.ops, self.rec = ops, rec

    @property
    def label(self) -> str:
        r = self.rec
        return f"{r['a']}:{r['if_a']}--{r['b']}:{r['if_b']}"

    def counters(self) -> dict[str, Any]:
        r = self.rec
        out: dict[str, Any] = {"a": self.ops.namespace(r["a"]).link_stats(r["if_a"]),
                               "b": self.ops.namespace(r["b"]).link_stats(r["if_b"])}
        if r.get("relayed"):
            out["relay"] = self.ops.delay.counters(r)
        return out

    def impairment(self) -> dict[str, Any]:
        """What is actually in force, read back: delay/jitter/loss from the relay or netem, rate from tc."""
        return self.ops.read_back(self.rec)

    def set(self, *, delay_ms: float | None = None, jitter_ms: float | None = None,
            loss_pct: float | None = None, rate_mbps: float | None = None) -> dict[str, Any]:
        """Change impairments while the lab runs; verified by reading back. Returns what is in force."""
        r = self.rec
        if delay_ms is not None:
            r["delay_us"] = float(delay_ms) * 1000
        if jitter_ms is not None:
            r["jitter_us"] = float(jitter_ms) * 1000
        if loss_pct is not None:
            r["loss_pct"] = float(loss_pct)
        if rate_mbps is not None:
            r["rate_bps"] = float(rate_mbps) * 1e6
        self.ops.apply(r)
        got = self.ops.verify(r)
        self.ops.save_state()
        return got
