"""Removing a lab: exactly the namespaces and processes its state file lists, nothing else.

Also the lock that keeps two processes from building or tearing down one lab at once, the check
that refuses to build over a running lab (or one another process is building), and the list of labs
with a state file. A crashed run's leftovers are removed by the next ``up`` or by ``down``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from fabric.errors import LabError
from labs import netns
from labs.linkops import LinkOps

#: Files a lab keeps next to its state file (``NAME<suffix>``), removed with it; the state file last.
LAB_FILE_SUFFIXES = (".relay.json", ".relay.ready", ".relay.sock", ".relay.log", ".agent.json", ".agent.port",
                     ".agent.sock", ".agent.log", ".hosts", ".json")


def pid_alive(pid: int) -> bool:
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


def cmdline(pid: int) -> str:
    """The process's command line ('' once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_with_marker(markers: list[str]) -> list[int]:
    """PIDs of the processes whose command line holds one of ``markers`` as a whole argument."""
    want = {m.encode() for m in markers}
    out = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = set(fh.read().split(b"\0"))
        except OSError:
            continue
        if args & want:
            out.append(int(entry))
    return out


def reap(pid: int) -> None:
    """Wait briefly for a killed process to go (reap it if it is our child)."""
    for _ in range(200):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not pid_alive(pid):
                return
        time.sleep(0.001)


@contextlib.contextmanager
def build_lock(ops: LinkOps) -> Iterator[None]:
    """An exclusive lock on the lab's name for the duration of up/down: two processes never build or
    tear down the same lab at once (the kernel drops the lock if a process dies)."""
    fd = os.open(ops.state_dir / f"{ops.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"lab {ops.name!r} is being built or torn down by another process") from None
        yield
    finally:
        os.close(fd)


def refuse_or_clean(ops: LinkOps) -> float | None:
    """Before ``up``: refuse when the lab runs or another live process builds it; otherwise remove a
    crashed run's leftovers (exactly what its state file lists). Returns the teardown's seconds when
    there was something to remove."""
    p = ops.state_file
    if not p.exists():
        return None
    try:
        old = json.loads(p.read_text())
    except ValueError:
        old = {}
    builder = int(old.get("pid", 0) or 0)
    if old.get("status") == "up" and any(os.path.exists(netns.netns_path(n)) for n in old.get("namespaces", [])):
        raise LabError(f"lab {ops.name!r} is already up; run `fabricctl lab down --name {ops.name}` first")
    if old.get("status") == "building" and builder and builder != os.getpid() and pid_alive(builder):
        raise LabError(f"lab {ops.name!r} is being built by process {builder}")
    ops.state = old
    return teardown(ops)[1]


def teardown(ops: LinkOps) -> tuple[dict[str, int], float]:
    """Kill the lab's processes (by PID: those on record whose command line still carries their
    marker, and every process inside the lab's namespaces), remove its namespaces and files. Returns
    the counts and the seconds it took; ``ops.state`` is empty afterwards."""
    st = ops.state
    t0 = time.perf_counter()
    ops.close()
    killed = 0
    inodes = {i for i in (netns.netns_inode(n) for n in st.get("namespaces", [])) if i is not None}
    procs = st.get("processes", [])
    pids = {p["pid"] for p in procs if p.get("pid") and p.get("marker", "") in cmdline(p["pid"])}
    # a process recorded before it was started and whose PID a crash kept off the record: by its marker
    unknown = [p["marker"] for p in procs if not p.get("pid") and p.get("marker")]
    if unknown:
        pids |= set(pids_with_marker(unknown))
    pids |= set(netns.pids_in_netns(inodes)) if inodes else set()
    for pid in sorted(pids):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    for pid in pids:
        reap(pid)
    removed = sum(netns.remove_netns(n) for n in st.get("namespaces", []))
    name = st.get("name", ops.name)
    for suffix in LAB_FILE_SUFFIXES:
        (ops.state_dir / f"{name}{suffix}").unlink(missing_ok=True)
    ops.state = {}
    return {"namespaces_removed": removed, "processes_killed": killed}, time.perf_counter() - t0


def running_labs(state_dir: str | os.PathLike[str]) -> list[str]:
    """Names of the labs with a state file in ``state_dir`` (up, building, or left by a crash)."""
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
