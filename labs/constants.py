"""Constants of the lab engine, each with its source or marked as an assumption."""

from __future__ import annotations

#: Where network namespaces are bind-mounted; the same directory iproute2 uses (`ip netns`,
#: iproute2 lib/namespace.h NETNS_RUN_DIR), so `ip netns list` shows our labs.
NETNS_RUN_DIR = "/run/netns"

#: Where a lab's state file lives (one JSON file per lab, written atomically).
LAB_STATE_DIR = "/run/fabricctl/labs"

#: clone(2)/setns(2) flag for network namespaces (linux/sched.h).
CLONE_NEWNET = 0x40000000

#: mount(2) flags (linux/mount.h) and umount2 MNT_DETACH (sys/mount.h).
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MS_SLAVE = 1 << 19
#: unshare(2) flag for a new mount namespace (linux/sched.h).
CLONE_NEWNS = 0x00020000
MNT_DETACH = 2

#: Route scope "link" (linux/rtnetlink.h RT_SCOPE_LINK).
RT_SCOPE_LINK = 253
#: Largest weight the kernel accepts per next hop (rtnh_hops is a u8 holding weight - 1).
KERNEL_MAX_NEXTHOP_WEIGHT = 256

#: Linux interface names are at most IFNAMSIZ - 1 = 15 bytes (linux/if.h).
IFNAME_MAX = 15

#: Address block for lab node addresses: node i gets LAB_BASE_ADDRESS + i + 1 as a /32 (RFC 1918).
LAB_BASE_ADDRESS = "10.0.0.0"
LAB_MAX_NODES = (1 << 24) - 2

#: Default scale from a link's capacity to the rate the lab shapes it to. 1.6 Tb/s cannot run on one
#: machine; 0.001 turns 400G into 400 Mb/s and 1.6T into 1.6 Gb/s (*assumption*, printed everywhere).
DEFAULT_RATE_SCALE = 0.001
#: Default scale from a link's modelled latency to the delay the lab applies: 1.0, the model as it is.
DEFAULT_DELAY_SCALE = 1.0
#: Delay backend when none is named: ``auto`` picks netem where the kernel has ``sch_netem`` and the
#: userspace relay where it does not (DESIGN.md "Labs and delay").
DEFAULT_DELAY_BACKEND = "auto"
#: What forwards in a lab's switch namespaces: the kernel's multipath routing, or the P4Runtime agent's
#: DPU dataplane (:mod:`labs.p4lab`).
SWITCH_KINDS = ("kernel", "p4")
DEFAULT_SWITCH_KIND = "kernel"
#: Lab name when none is given: the prefix of every namespace the lab creates (*assumption*: any short
#: name; it must pass ``labs.routing.check_lab_name``).
DEFAULT_LAB_NAME = "fablab"
#: Latency probes per path (``labs.probe.latency``, ``labs.budget.check``); *assumption*: enough for a
#: min and a mean, and quick on a lab (a p99 of 20 probes is their maximum).
DEFAULT_PROBE_COUNT = 20
#: UDP flows ``labs.probe.flow_split`` sends, one source port each (*assumption*: with 2000 flows the
#: standard error of a measured share is at most 1.1 percentage points, sqrt(0.25 / 2000)).
DEFAULT_SPLIT_FLOWS = 2000

#: TBF bucket: at least this many bytes or 1 ms worth of tokens, whichever is larger (*assumption*:
#: a bucket below one jumbo frame stalls TBF; tc-tbf(8) asks for burst >= rate/HZ).
TBF_MIN_BURST_BYTES = 16_000
#: TBF queue limit expressed as latency (tc-tbf(8) `latency`): packets waiting longer are dropped.
TBF_LATENCY_US = 50_000

#: UDP destination port of RoCEv2 (IANA), used for flow-split probes.
ROCEV2_UDP_PORT = 4791
#: UDP port of the latency probe responder (IANA: unassigned dynamic range, *assumption*).
PROBE_UDP_PORT = 47_910

#: PACKET_IGNORE_OUTGOING socket option (linux/if_packet.h, Linux >= 4.20).
PACKET_IGNORE_OUTGOING = 23
#: Packet type of frames the socket's own interface sent (linux/if_packet.h PACKET_OUTGOING).
PACKET_OUTGOING = 4
#: ETH_P_ALL (linux/if_ether.h).
ETH_P_ALL = 0x0003
#: SO_TIMESTAMPNS (asm-generic/socket.h): kernel receive time stamp, CLOCK_REALTIME, ns.
SO_TIMESTAMPNS = 35
#: SOL_PACKET socket level (linux/socket.h); Python's socket module does not export it.
SOL_PACKET = 263
#: ethtool ioctl (linux/sockios.h SIOCETHTOOL) and the "set TX checksum offload" command
#: (linux/ethtool.h ETHTOOL_STXCSUM). Frames a relay reads from a veth with TX checksum offload
#: still carry a partial checksum, so offload is turned off on the interfaces facing the relay.
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
ETHTOOL_GTXCSUM = 0x16
