"""Kernel plumbing for labs: network namespaces, veth pairs, addresses, routes, tc; no fork per call.

This is the only module of :mod:`labs` that talks to the kernel's network configuration. Namespaces
are created the way iproute2 does it (``unshare(CLONE_NEWNET)`` + bind mount under
:data:`~labs.constants.NETNS_RUN_DIR`) but from this thread, with ``setns`` back afterwards, so that
no process is forked per namespace (pyroute2's ``netns.create`` forks a child per call). Each
namespace gets one rtnetlink socket (a pyroute2 ``IPRoute`` opened while inside it); every later
call for that namespace goes through that socket.

Everything here runs in the calling thread: ``setns`` changes the namespace of the calling thread
only, and :func:`entered` always returns to the namespace it started in.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fabric.errors import LabError
from labs.constants import (
    CLONE_NEWNET,
    CLONE_NEWNS,
    ETHTOOL_GTXCSUM,
    ETHTOOL_STXCSUM,
    MNT_DETACH,
    MS_BIND,
    MS_REC,
    MS_SHARED,
    MS_SLAVE,
    NETNS_RUN_DIR,
    SIOCETHTOOL,
    TBF_LATENCY_US,
    TBF_MIN_BURST_BYTES,
)

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def require_root(action: str = "build a lab") -> None:
    """Raise one clear :class:`LabError` unless we can create network namespaces."""
    if os.geteuid() != 0:
        raise LabError(f"to {action} fabricctl needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN: it creates "
                       "network namespaces, veth pairs and qdiscs); run it as root, e.g. "
                       "`sudo fabricctl lab ...`")


def _check(rc: int, what: str, name: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise LabError(f"{what} failed: {os.strerror(e)}", where=f"namespace {name!r}")


def setns_fd(fd: int, name: str = "") -> None:
    _check(libc().setns(fd, CLONE_NEWNET), "setns", name)


@contextmanager
def entered(fd: int, name: str = "") -> Iterator[None]:
    """Run the body with the calling thread inside the namespace ``fd``; always come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns_fd(fd, name)
        try:
            yield
        finally:
            setns_fd(home, "home")
    finally:
        os.close(home)


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def list_netns(prefix: str = "") -> list[str]:
    """Names of namespaces under NETNS_RUN_DIR that start with ``prefix``."""
    try:
        return sorted(n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def _share_run_dir() -> None:
    """Make NETNS_RUN_DIR a shared mount point, as iproute2's ``netns_add`` does."""
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    lc = libc()
    d = NETNS_RUN_DIR.encode()
    if lc.mount(b"", d, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    _check(lc.mount(d, d, b"none", MS_BIND | MS_REC, None), "bind mount of " + NETNS_RUN_DIR, "")
    _check(lc.mount(b"", d, b"none", MS_SHARED | MS_REC, None), "share " + NETNS_RUN_DIR, "")


_run_dir_ready = False


def create_netns(name: str) -> int:
    """Create namespace ``name`` without forking; return an fd on it (the caller closes it)."""
    global _run_dir_ready
    if not _run_dir_ready:
        _share_run_dir()
        _run_dir_ready = True
    path = netns_path(name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        raise LabError("a namespace of that name already exists", where=f"namespace {name!r}") from None
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    lc = libc()
    try:
        _check(lc.unshare(CLONE_NEWNET), "unshare", name)
        try:
            _check(lc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                   "bind mount", name)
        finally:
            setns_fd(home, "home")
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    finally:
        os.close(home)
    return os.open(path, os.O_RDONLY)


def remove_netns(name: str) -> bool:
    """Unmount and unlink namespace ``name``; True if it existed. The kernel frees it (and the veths
    inside) once no process and no open fd holds it."""
    path = netns_path(name)
    if not os.path.lexists(path):
        return False
    libc().umount2(path.encode(), MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(netns_path(name)).st_ino
    except OSError:
        return None


def pids_in_netns(inodes: set[int]) -> list[int]:
    """PIDs of processes whose network namespace is one of ``inodes`` (exact, by namespace identity)."""
    out = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            ino = os.stat(f"/proc/{entry}/ns/net").st_ino
        except OSError:
            continue
        if ino in inodes:
            out.append(int(entry))
    return out


def private_mounts(hosts_file: str | None = None) -> None:
    """For a child about to exec inside a lab namespace: a private mount namespace with the network
    namespace's own /sys (as ``ip netns exec`` does) and, if given, ``hosts_file`` over /etc/hosts.
    Failures are ignored: the command still runs in the right network namespace."""
    lc = libc()
    if lc.unshare(CLONE_NEWNS) != 0:
        return
    if lc.mount(b"none", b"/", None, MS_SLAVE | MS_REC, None) != 0:
        return
    if lc.umount2(b"/sys", MNT_DETACH) == 0:
        lc.mount(b"sysfs", b"/sys", b"sysfs", 0, None)
    if hosts_file and os.path.exists(hosts_file):
        lc.mount(hosts_file.encode(), b"/etc/hosts", b"none", MS_BIND, None)


def socket_in(fd: int, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A socket that lives in namespace ``fd`` (sockets keep the namespace they were made in)."""
    with entered(fd):
        return socket.socket(family, type_, proto)


def write_sysctls(fd: int, values: dict[str, str], name: str = "") -> None:
    """Write ``net.*`` sysctls of namespace ``fd`` (``/proc/sys/net`` follows the calling thread)."""
    with entered(fd, name):
        for key, val in values.items():
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path, "w") as fh:
                    fh.write(val)
            except OSError as exc:
                raise LabError(f"cannot set sysctl {key}={val}: {exc.strerror}", where=f"namespace {name!r}") from None


@dataclass
class Namespace:
    """One namespace with its fd and its own rtnetlink socket."""

    name: str
    fd: int
    _ipr: Any = None
    ifindex: dict[str, int] = field(default_factory=dict)

    @property
    def ipr(self) -> Any:
        """pyroute2 IPRoute opened inside this namespace, on first use."""
        if self._ipr is None:
            from pyroute2 import IPRoute

            with entered(self.fd, self.name):
                self._ipr = IPRoute()
        return self._ipr

    @classmethod
    def create(cls, name: str) -> Namespace:
        fd = create_netns(name)
        return cls.open_fd(name, fd)

    @classmethod
    def open(cls, name: str) -> Namespace:
        try:
            fd = os.open(netns_path(name), os.O_RDONLY)
        except FileNotFoundError:
            raise LabError("no such namespace (is the lab up?)", where=f"namespace {name!r}") from None
        return cls.open_fd(name, fd)

    @classmethod
    def open_fd(cls, name: str, fd: int) -> Namespace:
        return cls(name, fd)

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # ------------------------------------------------------------------ links
    def refresh_ifindex(self) -> dict[str, int]:
        self.ifindex = {lk.get("ifname"): lk["index"] for lk in self.ipr.link("dump")}
        return self.ifindex

    def index(self, ifname: str) -> int:
        if ifname not in self.ifindex:
            self.refresh_ifindex()
        try:
            return self.ifindex[ifname]
        except KeyError:
            raise LabError(f"no interface {ifname!r}", where=f"namespace {self.name!r}") from None

    def add_veth(self, ifname: str, peer: Namespace, peer_ifname: str, mtu: int | None = None) -> None:
        """One veth pair created directly with one end here and the other in ``peer``: nothing ever
        appears in the root namespace (so a crash cannot leave a veth outside the lab)."""
        kw: dict[str, Any] = {"ifname": ifname, "kind": "veth",
                              "peer": {"ifname": peer_ifname, "net_ns_fd": peer.fd}}
        if mtu:
            kw["mtu"] = mtu
        self._do("link", "add", where=f"veth {self.name}:{ifname}--{peer.name}:{peer_ifname}", **kw)

    def add_bridge(self, ifname: str) -> None:
        self._do("link", "add", ifname=ifname, kind="bridge", where=f"bridge {ifname}")

    def enslave(self, ifname: str, master: str) -> None:
        self._do("link", "set", index=self.index(ifname), master=self.index(master), where=f"{ifname} -> {master}")

    def all_up(self) -> None:
        for name, idx in self.refresh_ifindex().items():
            self._do("link", "set", index=idx, state="up", where=f"link {name} up")

    def routes(self) -> list[dict[str, Any]]:
        """IPv4 main-table routes read back from the kernel: dst, and next hops (ifindex, gateway, weight)."""
        out = []
        for r in self.ipr.route("dump", family=socket.AF_INET, table=254):
            dst = r.get_attr("RTA_DST") or "0.0.0.0"
            mp = r.get_attr("RTA_MULTIPATH")
            if mp:
                hops = [(h["oif"], h.get_attr("RTA_GATEWAY"), h["hops"] + 1) for h in mp]
            else:
                hops = [(r.get_attr("RTA_OIF"), r.get_attr("RTA_GATEWAY"), 1)]
            out.append({"dst": f"{dst}/{r['dst_len']}", "nexthops": hops})
        return out

    # ------------------------------------------------------------------ tc
    def set_rate(self, ifname: str, rate_bps: float) -> None:
        """Shape egress of ``ifname`` to ``rate_bps`` with a TBF root qdisc (replacing any)."""
        rate_Bps = int(rate_bps / 8)
        if rate_Bps < 1:
            raise LabError(f"rate {rate_bps} b/s is too small", where=f"{self.name}:{ifname}")
        if rate_Bps >= 1 << 32:
            raise LabError(f"rate {rate_bps / 1e9:.1f} Gb/s exceeds what TBF's 32-bit rate field holds; "
                           "use a smaller --rate-scale", where=f"{self.name}:{ifname}")
        burst = max(TBF_MIN_BURST_BYTES, rate_Bps // 1000)
        self._do("tc", "replace", kind="tbf", index=self.index(ifname), handle="1:", rate=rate_Bps,
                 burst=burst, latency=TBF_LATENCY_US, where=f"tbf on {ifname}")

    def clear_qdisc(self, ifname: str) -> None:
        try:
            self.ipr.tc("del", index=self.index(ifname), handle="1:", parent=0xFFFFFFFF)
        except Exception:  # noqa: BLE001  (no root qdisc: nothing to remove)
            pass

    def qdiscs(self, ifname: str) -> list[dict[str, Any]]:
        """Root qdiscs of ``ifname`` read back: kind and, for tbf/netem, the parameters that matter."""
        out = []
        for q in self.ipr.get_qdiscs(index=self.index(ifname)):
            if q.get("parent") != 0xFFFFFFFF:
                continue
            kind = q.get_attr("TCA_KIND")
            d: dict[str, Any] = {"kind": kind}
            opts = q.get_attr("TCA_OPTIONS")
            if kind == "tbf" and opts is not None:
                parms = opts.get_attr("TCA_TBF_PARMS")
                rate64 = opts.get_attr("TCA_TBF_RATE64")
                d["rate_bps"] = 8 * (rate64 if rate64 else parms["rate"])
            if kind == "netem" and opts is not None:
                from pyroute2.netlink.rtnl.tcmsg.common import tick_in_usec

                d["netem"] = {"delay_us": opts["delay"] / tick_in_usec, "jitter_us": opts["jitter"] / tick_in_usec,
                              "loss_pct": opts["loss"] / 0xFFFFFFFF * 100}
            out.append(d)
        return out

    def link_stats(self, ifname: str) -> dict[str, int]:
        """Interface counters (rx/tx packets, bytes, drops) from IFLA_STATS64."""
        msg = self.ipr.link("get", index=self.index(ifname))[0]
        st = msg.get_attr("IFLA_STATS64") or msg.get_attr("IFLA_STATS")
        keys = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped")
        return {k: int(st[k]) for k in keys}

    def set_tx_checksum(self, ifname: str, on: bool) -> None:
        """Turn TX checksum offload (and with it TSO/GSO) on or off, and read it back."""
        for cmd, val in ((ETHTOOL_STXCSUM, int(on)), (ETHTOOL_GTXCSUM, 0)):
            buf = ctypes.create_string_buffer(struct.pack("II", cmd, val))
            ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(buf)) + b"\0" * 16
            with entered(self.fd, self.name):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
            except OSError as exc:
                raise LabError(f"ethtool on {ifname} failed: {exc.strerror}", where=f"namespace {self.name!r}") from None
            finally:
                s.close()
        if struct.unpack("II", buf.raw[:8])[1] != int(on):
            raise LabError(f"TX checksum offload on {ifname} reads back {struct.unpack('II', buf.raw[:8])[1]}",
                           where=f"namespace {self.name!r}")

    def try_netem(self, ifname: str = "lo") -> bool:
        """Whether this kernel has sch_netem: add and remove a netem qdisc on ``ifname`` here."""
        try:
            self.ipr.tc("add", kind="netem", index=self.index(ifname), handle="1:", delay=0)
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "code", None) in (errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL):
                return False
            raise LabError(f"probing for sch_netem failed: {exc}", where=f"namespace {self.name!r}") from None
        self.clear_qdisc(ifname)
        return True

    def set_netem(self, ifname: str, delay_us: float, jitter_us: float = 0.0, loss_pct: float = 0.0,
                  rate_bps: float | None = None) -> None:
        kw: dict[str, Any] = {"delay": int(delay_us), "jitter": int(jitter_us), "loss": loss_pct}
        if rate_bps:
            kw["rate"] = int(rate_bps / 8)
        self._do("tc", "replace", kind="netem", index=self.index(ifname), handle="1:", where=f"netem on {ifname}", **kw)

    # ------------------------------------------------------------------ helpers
    def _do(self, obj: str, cmd: str, *, where: str, **kw: Any) -> Any:
        try:
            return getattr(self.ipr, obj)(cmd, **kw)
        except LabError:
            raise
        except Exception as exc:  # noqa: BLE001  (NetlinkError and pyroute2 encoding errors)
            raise LabError(f"kernel refused {obj} {cmd}: {exc}", where=f"namespace {self.name!r}, {where}") from None
