"""Labs of P4 switches (root only): the switch namespaces forward through the P4Runtime agent's DPU
dataplane on AF_PACKET sockets, loaded over P4Runtime by the lab.

- a 3-switch chain carries scapy-crafted frames to the right host only, with TTL, MACs and the IPv4
  checksum right (scapy dissects what the destination's interface received);
- the example fabric (28 switches) comes up with ``--switch p4`` through the CLI, passes ``lab probe``
  and ``lab split`` (2,000 flows) within 5 points of the planned weights, and the same plan with kernel
  switches does too (both printed); up time and the agent's peak RSS are printed and bounded;
- ``lab down`` leaves nothing after kill -9 of the agent, and finds an agent a crash kept off the record
  by its marker.

Every lab has its own name and state directory; the fixture removes whatever carries the name even
when a test fails."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from lab_fixtures import lab_maker  # noqa: E402
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from fabric.topology import Fabric  # noqa: E402
from labs import netns  # noqa: E402
from labs.constants import PACKET_OUTGOING  # noqa: E402
from labs.lab import Lab  # noqa: E402
from labs.teardown import pid_alive  # noqa: E402
from p4.runtime import port_mac  # noqa: E402

pytestmark = pytest.mark.needs_root
TAG = f"tp{os.getpid() % 100000}"
SRC_GPU, DST_GPU = "beijing-s1-g0", "beijing-s2-g1"      # rail 0 and rail 1 of su1: leaf -> spine -> leaf
WAN_GPU = "shanghai-s2-g1"                                 # across the WAN: dci, relay, dci
#: Planned weights of the split leaf's group (sum 8): shares 0.5, 0.25, 0.125, 0.125.
SPLIT_WEIGHTS = (4, 2, 1, 1)
#: The issue's bounds for the 28-switch example with --switch p4.
UP_LIMIT_S = 10.0
RSS_LIMIT_BYTES = 4 << 30
SHARE_TOLERANCE = 0.05
#: Round trip over the example's WAN link: 2 x its one-way fibre delay (6,539.1 us, `topo show example`).
WAN_RTT_MS = 2 * 6.5391
#: What the switches and relay may add to it (*assumption*: 20 switch traversals of a few hundred us each
#: when 8 processes share 2 cores; the kernel path adds ~0.4 ms, the P4 path 2-7 ms measured here).
RTT_SLACK_MS = 25.0


def mac(v: int) -> str:
    return ":".join(f"{(v >> (40 - 8 * k)) & 0xFF:02x}" for k in range(6))


def _agent_pids(name: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                if f"fabricctl-agent:{name}:".encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                    out.append(int(p))
            except OSError:
                pass
    return out


@pytest.fixture(scope="module", autouse=True)
def _numba_cache_warm():
    """Compile the DPU kernels here once (into numba's cache on disk), so an agent this module starts
    loads them instead of compiling inside ``lab up``'s time (a fresh clone has no cache)."""
    from p4.agent.packetio import warm

    warm()


@pytest.fixture
def labs(tmp_path):
    """Make labs with unique names; always tear down and remove anything left with their prefix."""
    with lab_maker(TAG, tmp_path, _agent_pids) as make:
        yield make

def assert_clean(name: str, state_dir: Path) -> None:
    assert netns.list_netns(f"{name}.") == []
    assert _agent_pids(name) == []
    assert sorted(p.name for p in Path(state_dir).glob(f"{name}.*")) == []


def chain() -> Fabric:
    """h1 - s1 - s2 - s3 - h2, and a branch s2 - s4 - h3 that the frames to h2 must not take."""
    f = Fabric("chain")
    for n, r in [("h1", "host"), ("s1", "leaf"), ("s2", "spine"), ("s3", "leaf"), ("h2", "host"),
                 ("s4", "leaf"), ("h3", "host")]:
        f.add_node(n, role=r)
    for a, b in [("h1", "s1"), ("s1", "s2"), ("s2", "s3"), ("s3", "h2"), ("s2", "s4"), ("s4", "h3")]:
        f.add_link(a, b, 400)
    return f


def _end(lab: Lab, node: str, peer: str) -> tuple[str, str]:
    """(interface, fabric port) of ``node`` on its link to ``peer``."""
    rec = next(r for r in lab.state["links"] if {r["a"], r["b"]} == {node, peer})
    return (rec["if_a"], rec["port_a"]) if rec["a"] == node else (rec["if_b"], rec["port_b"])


def _capture(lab: Lab, node: str, ifname: str) -> socket.socket:
    s = netns.socket_in(lab.namespace(node).fd, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((ifname, 3))
    s.settimeout(0.2)
    return s


def test_chain_forwards_to_the_right_port_with_ttl_macs_and_checksum(labs):
    with labs("chain", chain(), None, switch="p4", rate_scale=0) as lab:
        assert lab.state["switch"] == "p4" and lab.status()["switch"] == "p4"
        h1_if, h1_port = _end(lab, "h1", "s1")
        s1_if, s1_port = _end(lab, "s1", "h1")
        h2_if, h2_port = _end(lab, "h2", "s3")
        s3_if, s3_port = _end(lab, "s3", "h2")
        h3_if, _ = _end(lab, "h3", "s4")
        cap2, cap3 = _capture(lab, "h2", h2_if), _capture(lab, "h3", h3_if)
        tx = netns.socket_in(lab.namespace("h1").fd, socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((h1_if, 0))
        try:
            sent = []
            for k in range(20):
                p = (Ether(src=mac(port_mac("h1", h1_port)), dst=mac(port_mac("s1", s1_port)))
                     / IP(src=lab.ip("h1"), dst=lab.ip("h2"), ttl=64) / UDP(sport=20_000 + k, dport=4791)
                     / Raw(b"p4lab-%02d" % k))
                sent.append(bytes(p))
                tx.send(bytes(p))
            got, deadline = [], time.monotonic() + 10
            while len(got) < len(sent) and time.monotonic() < deadline:
                try:
                    raw, addr = cap2.recvfrom(4096)
                except TimeoutError:
                    continue
                if addr[2] != PACKET_OUTGOING and b"p4lab-" in raw:   # not h2's own ICMP port unreachable
                    got.append(raw)
            stray = []
            try:
                while True:
                    raw, addr = cap3.recvfrom(4096)
                    if addr[2] != PACKET_OUTGOING and b"p4lab-" in raw:
                        stray.append(raw)
            except TimeoutError:
                pass
        finally:
            tx.close()
            cap2.close()
            cap3.close()
        assert len(got) == 20 and stray == []                          # the right port, and only there
        for raw in got:
            p = Ether(raw)
            assert p[IP].ttl == 64 - 3                                # three routers
            assert p.src == mac(port_mac("s3", s3_port)) and p.dst == mac(port_mac("h2", h2_port))
            want = p[IP].chksum
            del p[IP].chksum
            assert Ether(bytes(p))[IP].chksum == want                 # the checksum scapy computes
            assert p[IP].src == lab.ip("h1") and p[IP].dst == lab.ip("h2")
        # hosts keep their kernel stack: ARP for the gateway is answered by the switch namespace
        from labs import probe

        assert probe.ping(lab, "h1", lab.ip("h3"), count=2)["received"] == 2
    assert_clean(lab.name, labs.state_dir)


@pytest.fixture(scope="module")
def example_plan(tmp_path_factory):
    """A WCMP plan of the example fabric (ring all-reduce between two GPUs of su1, rail 0 and rail 1)
    with the rail-0 leaf's group towards the rail-1 leaf re-weighted to :data:`SPLIT_WEIGHTS`."""
    from fabric.cli.common import add_section
    from fabric.io import load_fabric
    from fabric.plan import Plan, WcmpSection
    from fabric.traffic import ring_allreduce
    from fabric.wcmp import WcmpPlanner
    fab = load_fabric("example")
    res = WcmpPlanner(fab, ring_allreduce(fab, [SRC_GPU, DST_GPU], 100.0, per_rail=False)).solve()
    d = res.section().to_dict()
    leaf_a, leaf_b = next(iter(fab.graph.neighbors(SRC_GPU))), next(iter(fab.graph.neighbors(DST_GPU)))
    g = next(g for g in d["groups"] if g["switch"] == leaf_a and g["dst"] == leaf_b)
    assert len(g["next_hops"]) == len(SPLIT_WEIGHTS)
    for h, w in zip(g["next_hops"], SPLIT_WEIGHTS, strict=True):
        h["weight"] = w
    path = tmp_path_factory.mktemp("p4lab") / "plan.json"
    add_section(path, WcmpSection.from_dict(d), fab)
    Plan.load(path)
    return path


def _run_example(cli, name: str, sd: Path, plan: Path, switch: str) -> dict:
    args = ["--state-dir", sd, "--name", name]
    t = time.perf_counter()
    r = cli(["lab", "up", "example", "--plan", plan, "--switch", switch, "--json", *args])
    wall = time.perf_counter() - t
    assert r.exit_code == 0, r.output
    up = json.loads(r.output)
    out: dict = {"switch": switch, "up_wall_s": round(wall, 3), "up": up}
    r = cli(["lab", "status", "--json", *args])
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)["labs"][0]
    assert st["switch"] == switch and st["nodes"] == 92
    roles = {n["role"] for n in st["node_list"]}
    assert roles == {"gpu", "leaf", "spine", "dci"} and all(n["ip"] for n in st["node_list"])
    r = cli(["lab", "probe", SRC_GPU, WAN_GPU, "--count", "5", "--json", *args])
    assert r.exit_code == 0, r.output
    out["probe"] = json.loads(r.output)
    r = cli(["lab", "split", SRC_GPU, DST_GPU, "--flows", "2000", "--json", *args])
    assert r.exit_code == 0, r.output
    out["split"] = json.loads(r.output)
    if switch == "p4":
        r = cli(["lab", "status", "--json", *args])             # again, after the probes and 2,000 flows
        assert r.exit_code == 0, r.output
        out["agent_status"] = json.loads(r.output)["labs"][0]["agent"]
    r = cli(["lab", "down", "--json", *args])
    assert r.exit_code == 0, r.output
    return out


def test_example_fabric_with_p4_and_kernel_switches(cli, labs, example_plan, capsys):
    results = {}
    for switch in ("p4", "kernel"):
        name = f"{TAG}-ex{switch[0]}"
        labs.names.append(name)
        results[switch] = _run_example(cli, name, labs.state_dir, example_plan, switch)
        assert_clean(name, labs.state_dir)
    with capsys.disabled():
        for switch, r in results.items():
            sp = r["split"]
            rows = ", ".join(f"{h['next_hop']}: planned {h['planned_share']:.3f} measured {h['measured_share']:.3f}"
                             for h in sp["next_hops"])
            print(f"\n[{switch}] lab up {r['up_wall_s']:.2f} s wall ({r['up']['seconds']:.2f} s in Lab.up); "
                  f"probe {SRC_GPU} -> {WAN_GPU}: rtt min {r['probe']['rtt_ms']['min']:.3f} ms, "
                  f"{r['probe']['lost']} lost; split at {sp['switch']} over {sp['packets_counted']} packets: {rows}; "
                  f"largest error {sp['max_share_error']:.3f}")
        ag = results["p4"]["up"]["agent"]
        print(f"[p4] agent: {ag['devices']} devices, peak RSS {ag['peak_rss_bytes'] / 2**20:.0f} MiB after up, "
              f"{results['p4']['agent_status']['peak_rss_bytes'] / 2**20:.0f} MiB after probe and split; "
              f"timings {results['p4']['up']['timings_s']}")
    for switch, r in results.items():
        sp = r["split"]
        assert r["probe"]["lost"] == 0 and r["probe"]["icmp_received"] >= 1, (switch, r["probe"])
        # the WAN fibre's delay is in force (2 x 6.54 ms one way); what each of the 10 switch hops adds on a busy
        # 2-core machine is printed above, not bounded tightly
        assert WAN_RTT_MS - 0.1 <= r["probe"]["rtt_ms"]["min"] <= WAN_RTT_MS + RTT_SLACK_MS, (switch, r["probe"])
        assert sp["switch"] == next(iter(load_example().graph.neighbors(SRC_GPU)))
        assert sorted(h["weight"] for h in sp["next_hops"]) == sorted(SPLIT_WEIGHTS)
        assert sp["packets_counted"] >= 2000
        assert sp["max_share_error"] <= SHARE_TOLERANCE, (switch, sp["next_hops"])
    p4 = results["p4"]
    assert p4["split"]["switch_kind"] == "p4" and results["kernel"]["split"]["switch_kind"] == "kernel"
    assert p4["up"]["agent"]["devices"] == 28
    assert p4["up"]["seconds"] < UP_LIMIT_S, p4["up"]["timings_s"]
    assert p4["up"]["agent"]["peak_rss_bytes"] < RSS_LIMIT_BYTES
    assert p4["agent_status"]["peak_rss_bytes"] < RSS_LIMIT_BYTES
    assert all(d["current"] and d["error"] is None for d in p4["agent_status"]["dataplanes"].values())


def load_example() -> Fabric:
    from fabric.io import load_fabric

    return load_fabric("example")


def test_down_after_kill_9_of_the_agent_leaves_nothing(labs):
    lab = labs("kill", chain(), None, switch="p4").up()
    pid = next(p["pid"] for p in lab.state["processes"] if p["role"] == "agent")
    assert pid_alive(pid) and _agent_pids(lab.name) == [pid]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    st = Lab.attach(lab.name, labs.state_dir).status()
    assert st["agent"]["alive"] is False
    lab.close()
    Lab(None, name=lab.name, state_dir=labs.state_dir).down()
    assert_clean(lab.name, labs.state_dir)


def test_an_agent_kept_off_the_record_by_a_crash_is_found_by_its_marker(labs):
    """The agent is on record (marker, no PID) before it starts; a crash between its start and the PID
    reaching the state file leaves it running: ``down`` finds it by the marker."""
    from labs.p4lab import agent_marker

    lab = labs("mark", chain(), None)
    marker = agent_marker(lab.ops)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker])
    try:
        lab.ops.state = {"name": lab.name, "prefix": lab.prefix, "status": "building", "namespaces": [],
                         "processes": [{"pid": None, "role": "agent", "marker": marker}], "nodes": {}}
        lab.ops.save_state()
        res = lab.down()
        assert res["processes_killed"] == 1
        proc.wait(5)                      # (teardown may have reaped it already: it is our child here)
        assert not pid_alive(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_clean(lab.name, labs.state_dir)


def diamond() -> Fabric:
    f = Fabric("diamond")
    for n, r in [("h1", "host"), ("s1", "leaf"), ("s2", "spine"), ("s3", "spine"), ("s4", "leaf"), ("h2", "host")]:
        f.add_node(n, role=r)
    for a, b in [("h1", "s1"), ("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s3", "s4"), ("s4", "h2")]:
        f.add_link(a, b, 400)
    return f


def test_link_down_seen_by_the_agent_fails_over_and_back(labs):
    """The far end of s1--s2 goes down (in s2's namespace): s1's port loses carrier, the agent's link monitor
    marks it down, and s1's 3:1 WCMP group sends every flow to s3; back up, 3:1 again."""
    from plans import wcmp_section

    from fabric.plan import Plan
    from labs import probe
    from labs.p4lab import agent_status

    plan = Plan.new(diamond())
    plan.add(wcmp_section([{"switch": "s1", "dst": "s4", "delta": 0.0, "next_hops": [
        {"node": "s2", "port": "eth2", "weight": 3}, {"node": "s3", "port": "eth3", "weight": 1}]}]),
        fabric=diamond())
    with labs("fail", diamond(), plan, switch="p4", rate_scale=0) as lab:
        share = {h["next_hop"]: h["measured_share"] for h in probe.flow_split(lab, "h1", "h2", 2000)["next_hops"]}
        assert abs(share["s2"] - 0.75) <= SHARE_TOLERANCE, share
        s2_if, _ = _end(lab, "s2", "s1")
        s2 = lab.namespace("s2")

        def ports_down() -> list[int]:
            return next(d for d in agent_status(lab.ops)["devices"].values() if d["name"] == "s1")["ports_down"]

        def wait_for(want: list[int]) -> None:
            deadline = time.monotonic() + 5
            while ports_down() != want and time.monotonic() < deadline:
                time.sleep(0.005)
            assert ports_down() == want

        s2.ipr.link("set", index=s2.index(s2_if), state="down")
        wait_for([2])                                    # s1's eth2 is P4 port 2
        r = probe.flow_split(lab, "h1", "h2", 2000)
        got = {h["next_hop"]: h["packets"] for h in r["next_hops"]}
        assert got["s2"] == 0 and got["s3"] >= 2000, r
        # (no round-trip probe here: s4 still hashes half its flows back to s2, whose link to s1 is down;
        # only a controller's new plan routes around that)
        s2.ipr.link("set", index=s2.index(s2_if), state="up")
        wait_for([])
        share = {h["next_hop"]: h["measured_share"] for h in probe.flow_split(lab, "h1", "h2", 2000)["next_hops"]}
        assert abs(share["s2"] - 0.75) <= SHARE_TOLERANCE, share
    assert_clean(lab.name, labs.state_dir)
