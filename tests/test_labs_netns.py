"""Real labs in network namespaces (root only). Every test uses its own lab-name prefix and its own
state directory, and the fixture removes whatever carries that prefix even when a test fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_fixtures import lab_maker
from plans import budgets_section, wcmp_section

from fabric.builders import Site, WanLink, clos, multi_site
from fabric.constants import FIBRE_US_PER_KM
from fabric.errors import LabError
from fabric.plan import Plan
from fabric.topology import Fabric
from labs import netns, probe
from labs.budget import check
from labs.lab import Lab, state_path
from optical.budget import BudgetModel

pytestmark = pytest.mark.needs_root
DATA = Path(__file__).parent / "data"
TAG = f"tl{os.getpid() % 100000}"


def _procs_with(marker: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                    out.append(int(p))
            except OSError:
                pass
    return out


@pytest.fixture
def labs(tmp_path):
    """Make labs with unique names; always tear down and remove anything left with their prefix."""
    with lab_maker(TAG, tmp_path, lambda n: _procs_with(f"fabricctl-relay:{n}")) as make:
        yield make

def assert_clean(name: str, state_dir: Path) -> None:
    assert netns.list_netns(f"{name}.") == []
    assert _procs_with(f"fabricctl-relay:{name}") == []
    assert not state_path(name, state_dir).exists()


def two_site(wan_one_way_us: float) -> Fabric:
    sites = [Site(s, clos(2, 1, 1, name=s), dci_nodes=1) for s in ("west", "east")]
    return multi_site(sites, [WanLink("west", "east", length_km=wan_one_way_us / FIBRE_US_PER_KM)], name="two-site")


def diamond() -> Fabric:
    f = Fabric("diamond")
    for n, r in [("h1", "host"), ("s1", "leaf"), ("s2", "spine"), ("s3", "spine"), ("s4", "leaf"), ("h2", "host")]:
        f.add_node(n, role=r)
    for a, b in [("h1", "s1"), ("s1", "s2"), ("s1", "s3"), ("s2", "s4"), ("s3", "s4"), ("s4", "h2")]:
        f.add_link(a, b, 400)
    return f


def test_two_site_wan_rtt_20ms(labs):
    """WAN link 10 ms one way: measured RTT within 2% or 0.5 ms of 20 ms."""
    fab = two_site(10_000.0)
    h1, h2 = "west-leaf1-h1", "east-leaf2-h1"
    with labs("wan", fab) as lab:
        assert lab.state["backend"] in ("relay", "netem")
        wan = next(lk for lk in lab.links() if lk.rec["delay_us"] > 0)
        # the latency model's delay (fibre alone is 10 ms; optical.budget adds devices) is in force
        assert wan.rec["delay_us"] >= 10_000.0 - 0.01
        assert wan.impairment()["delay_us"] == pytest.approx(wan.rec["delay_us"], abs=0.01)  # read back
        wan.set(delay_ms=10)  # exactly 10 ms one way, whatever the model added
        assert probe.ping(lab, h1, lab.ip(h2), count=2)["received"] == 2
        r = probe.latency(lab, h1, h2, count=50)
        rtt = r["rtt_ms"]["mean"]
        assert abs(rtt - 20.0) <= max(0.02 * 20.0, 0.5), r
        assert r["one_way_ms"]["min"] >= 10.0 - 0.05, r  # the relay never sends early by more than 50 µs
        # live change, verified by reading back and by measuring
        got = wan.set(delay_ms=3)
        assert got["delay_us"] == pytest.approx(3000.0)
        r2 = probe.latency(lab, h1, h2, count=20)
        assert abs(r2["one_way_ms"]["mean"] - 3.0) <= 0.25, r2
    assert_clean(lab.name, labs.state_dir)


def test_a_failed_link_is_down_and_routed_around(labs):
    fab = diamond()
    s1s2 = fab.find_link("s1--s2")
    fab.set_link_up(s1s2.a, s1s2.b, s1s2.key, False)
    with labs("fail", fab) as lab:
        assert "state DOWN" in lab["s1"].cmd(f"ip link show {s1s2.port_a}")
        assert probe.ping(lab, "h1", lab.ip("h2"), count=2)["received"] == 2
        assert lab.link("s1", "s3").counters()["a"]["tx_packets"] >= 2  # the traffic went via s3


def test_weighted_multipath_3_to_1(labs):
    plan = Plan.new(diamond())
    plan.add(wcmp_section([{"switch": "s1", "dst": "s4", "delta": 0.0, "next_hops": [
        {"node": "s2", "port": "eth2", "weight": 3}, {"node": "s3", "port": "eth3", "weight": 1}]}]),
        fabric=diamond())
    with labs("wcmp", diamond(), plan) as lab:
        # the kernel's own table, read back: one multipath default route with weights 3 and 1
        routes = lab.namespace("s1").routes()
        mp = [r for r in routes if len(r["nexthops"]) == 2]
        assert len(mp) == 1 and sorted(w for _i, _g, w in mp[0]["nexthops"]) == [1, 3]
        r = probe.flow_split(lab, "h1", "h2", flows=2000)
        assert 2000 <= r["packets_counted"] <= 2005  # interface counters also count the odd ARP frame
        share = {row["next_hop"]: row["measured_share"] for row in r["next_hops"]}
        assert abs(share["s2"] - 0.75) <= 0.05 and abs(share["s3"] - 0.25) <= 0.05, r
    assert_clean(lab.name, labs.state_dir)


def _root_view() -> tuple:
    """Addresses, routes and links of the root namespace (the lab must not touch them)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        addrs = sorted((a["index"], a.get_attr("IFA_ADDRESS")) for a in ipr.get_addr())
        routes = sorted(str((r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_OIF"), r["table"]))
                        for r in ipr.route("dump"))
        links = sorted(lk.get_attr("IFLA_IFNAME") for lk in ipr.link("dump"))
    return addrs, routes, links


def test_up_twice_refused_and_down_is_exact(labs):
    lab = labs("twice", two_site(100.0))
    other = netns.Namespace.create(f"{TAG}-twicex.keep")  # a namespace that is not the lab's
    root_before = _root_view()
    try:
        lab.up()
        assert _root_view() == root_before  # lab traffic, addresses and routes stay inside the lab
        with pytest.raises(LabError, match="already up"):
            labs("twice", clos(2, 1, 1)).up()
        lab.down()
        assert_clean(lab.name, labs.state_dir)
        assert netns.list_netns(f"{TAG}-twicex.") == [f"{TAG}-twicex.keep"]
    finally:
        other.close()
        netns.remove_netns(f"{TAG}-twicex.keep")


def test_a_lab_being_built_elsewhere_is_not_touched(labs):
    import fcntl

    lab = labs("locked", clos(2, 1, 1))
    fd = os.open(labs.state_dir / f"{lab.name}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as if another `lab up` were running
        with pytest.raises(LabError, match="another process"):
            lab.up()
        assert netns.list_netns(f"{lab.name}.") == []
    finally:
        os.close(fd)
    lab.up()
    lab.down()
    assert_clean(lab.name, labs.state_dir)
    assert not (labs.state_dir / f"{lab.name}.lock").exists()


def test_failed_build_rolls_back(labs, tmp_path):
    bad = tmp_path / "bad.clab.yml"
    bad.write_text((DATA / "labs-br01.clab.yml").read_text().replace(
        "ip addr add 192.168.10.2/24 dev eth1", "ip addr add 192.168.10.2/24 dev nosuchdev"))
    from labs.clab import load_clab

    lab = labs("rollback", clab=load_clab(bad))
    with pytest.raises(LabError, match="command failed"):
        lab.up()
    assert_clean(lab.name, labs.state_dir)


KILL_SCRIPT = """
import sys
from fabric.topology import Fabric
from labs.lab import Lab
f = Fabric("chain")
n = int(sys.argv[3])
for i in range(n):
    f.add_node(f"s{i}", role="leaf")
for i in range(n - 1):
    f.add_link(f"s{i}", f"s{i+1}", 400, length_km=1.0 if i == 0 else 0.0)
Lab(f, name=sys.argv[1], state_dir=sys.argv[2]).up()
"""


@pytest.mark.parametrize("then", ["down", "up"])
def test_kill_9_during_up_leaves_nothing(labs, then):
    name = f"{TAG}-kill{then}"
    labs.names.append(name)
    sd = labs.state_dir
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, name, str(sd), "150"],
                            cwd=str(Path(__file__).parent.parent))
    deadline = time.monotonic() + 30
    while len(netns.list_netns(f"{name}.")) < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    st = json.loads(state_path(name, sd).read_text())
    assert st["status"] == "building", "the kill did not land in the middle of up"
    assert netns.list_netns(f"{name}.")  # leftovers exist
    lab = Lab(None, name=name, state_dir=sd)
    if then == "down":
        lab.down()
    else:
        lab = Lab(clos(2, 1, 1), name=name, state_dir=sd)
        lab.up()  # finds the leftovers from the state file and removes them first
        assert len(netns.list_netns(f"{name}.")) == len(clos(2, 1, 1))
        lab.down()
    assert_clean(name, sd)


def test_containerlab_file_comes_up_and_pings(labs):
    from labs.clab import load_clab

    with labs("clab", clab=load_clab(DATA / "labs-br01.clab.yml"), delay_backend="relay") as lab:
        assert probe.ping(lab, "n2", "192.168.10.1", count=2)["received"] == 2  # through the bridge
        r = probe.ping(lab, "n1", "192.168.20.3", count=2)  # over the delayed link
        assert r["received"] == 2 and r["rtt_ms"]["min"] >= 4.0
        imp = lab.link("n1", "n3").impairment()
        assert imp["delay_us"] == pytest.approx(2000.0) and imp["rate_bps"] == [100_000_000, 100_000_000]
        assert "192.168.10.1" in lab["n1"].cmd("ip -4 -o addr show dev eth1")
    assert_clean(lab.name, labs.state_dir)


def test_cli_up_probe_check_down(cli, labs, tmp_path):
    name = f"{TAG}-cli"
    labs.names.append(name)
    sd = ["--state-dir", labs.state_dir, "--name", name]
    topo = tmp_path / "two.yaml"
    from fabric.io.yamlio import save_yaml

    save_yaml(two_site(2_000.0), topo)
    r = cli(["lab", "up", topo, *sd, "--json", "--delay-backend", "relay"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["relayed_links"] + (json.loads(r.output)["backend"] == "netem") >= 1
    r = cli(["lab", "up", topo, *sd])
    assert r.exit_code == 2 and "already up" in r.output
    r = cli(["lab", "probe", "west-leaf1-h1", "east-leaf2-h1", "--count", "10", "--json", *sd])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {"min", "mean", "p99"} <= set(out["rtt_ms"]) and "one_way_ms" in out
    assert 1.95 <= out["one_way_ms"]["min"] <= 2.3, out  # min: the mean of 10 probes on a shared box is noisy
    budgets = tmp_path / "budgets.json"
    row = {"src": "west-leaf1-h1", "dst": "east-leaf2-h1", "path": [], "km": 0, "components": [], "total_us": 2000.0,
           "budget_class": "x", "verdict": "ok"}
    budgets.write_text(json.dumps({"paths": [dict(row, budget_us=2500.0)]}))
    r = cli(["lab", "check", "--budgets", budgets, "--count", "5", "--json", *sd])
    assert r.exit_code == 0, r.output
    budgets.write_text(json.dumps({"paths": [dict(row, budget_us=1000.0)]}))
    r = cli(["lab", "check", "--budgets", budgets, "--count", "5", *sd])
    assert r.exit_code == 1, r.output
    r = cli(["lab", "status", "--json", *sd])
    assert r.exit_code == 0 and json.loads(r.output)["labs"][0]["name"] == name
    r = cli(["lab", "down", *sd])
    assert r.exit_code == 0, r.output
    assert_clean(name, labs.state_dir)


def test_budget_check_api(labs):
    with labs("budget", two_site(1_000.0)) as lab:
        res = check(lab, {"paths": [{"src": "west-leaf1-h1", "dst": "east-leaf2-h1", "budget_us": 5000.0},
                                    {"src": "west-leaf1-h1", "dst": "nowhere", "budget_us": 1.0}]}, count=5)
        assert res["ok"] and res["checked"] == 1 and res["paths"][1]["verdict"] == "skipped"


def test_relay_jitter_and_loss_live(labs):
    with labs("jitter", two_site(2_000.0), delay_backend="relay") as lab:
        h1, h2 = "west-leaf1-h1", "east-leaf2-h1"
        wan = next(lk for lk in lab.links() if lk.rec["delay_us"] > 0)
        got = wan.set(delay_ms=4, jitter_ms=1.5)
        assert (got["delay_us"], got["jitter_us"]) == (4000.0, 1500.0)
        r = probe.latency(lab, h1, h2, count=40)["one_way_ms"]
        assert r["p99"] - r["min"] > 1.5, r  # a 1.5 ms standard deviation spreads 40 samples well past that
        assert abs(r["mean"] - 4.0) < 1.0, r
        wan.set(jitter_ms=0, loss_pct=100)
        with pytest.raises(LabError, match="came back"):
            probe.latency(lab, h1, h2, count=3, timeout_s=0.2)
        assert wan.counters()["relay"]["dropped"] >= 3
        wan.set(loss_pct=0)
        assert probe.latency(lab, h1, h2, count=3)["lost"] == 0


def test_shaped_rate_is_measured_rate(labs):
    """400G x rate scale 0.00025 = 100 Mb/s: TCP goodput lands just under it (headers, slow start)."""
    with labs("rate", clos(2, 1, 1), rate_scale=0.00025) as lab:
        link = lab.link("leaf1-h1", "leaf1")
        assert link.impairment()["rate_bps"] == [100_000_000, 100_000_000]
        r = probe.throughput(lab, "leaf1-h1", "leaf2-h1", seconds=1.5)
        assert 0.85 * 100e6 <= r["goodput_bps"] <= 1.02 * 100e6, r


def test_cli_split_and_export(cli, labs, tmp_path):
    from fabric.io.yamlio import save_yaml

    name = f"{TAG}-split"
    labs.names.append(name)
    sd = ["--state-dir", labs.state_dir, "--name", name]
    topo, plan_file = tmp_path / "diamond.yaml", tmp_path / "plan.json"
    save_yaml(diamond(), topo)
    plan = Plan.new(diamond())
    plan.add(wcmp_section([{"switch": "s1", "dst": "h2", "delta": 0.0, "next_hops": [
        {"node": "s2", "port": "eth2", "weight": 1}, {"node": "s3", "port": "eth3", "weight": 2}]}]),
        fabric=diamond())
    plan.add(budgets_section([{"src": "h1", "dst": "h2", "path": ["h1", "s1", "s2", "s4", "h2"], "km": 0.0,
                               "components": [], "total_us": 1.0, "budget_us": 2000.0,
                               "budget_class": "city", "verdict": "ok"}],
                             BudgetModel().as_dict()), fabric=diamond())  # labs take link delays from it
    plan.save(plan_file)
    assert cli(["lab", "up", topo, "--plan", plan_file, *sd]).exit_code == 0
    r = cli(["lab", "split", "h1", "h2", "--flows", "2000", "--json", *sd])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    share = {row["next_hop"]: row["measured_share"] for row in out["next_hops"]}
    assert abs(share["s3"] - 2 / 3) <= 0.05 and out["switch"] == "s1"
    r = cli(["lab", "check", "--json", "--count", "5", *sd])  # budgets of the plan it was built with
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["checked"] == 1
    r = cli(["lab", "export", "-o", tmp_path / "x.clab.yml", *sd])
    assert r.exit_code == 0, r.output
    from labs.clab import load_clab

    spec = load_clab(tmp_path / "x.clab.yml")
    assert any("weight 2" in line for line in spec.nodes["s1"]["exec"])
    assert cli(["lab", "down", *sd]).exit_code == 0
    assert_clean(name, labs.state_dir)


def test_down_ends_processes_started_in_the_lab(labs):
    lab = labs("procs", clos(2, 1, 1)).up()
    p = lab["leaf1-h1"].popen(["sleep", "300"])
    outside = subprocess.Popen(["sleep", "300"])  # not in the lab: must survive
    try:
        res = lab.down()
        assert res["processes_killed"] >= 1
        assert not Path(f"/proc/{p.pid}").exists()  # killed by PID and reaped by down()
        assert outside.poll() is None
    finally:
        outside.kill()
        outside.wait()
    assert_clean(lab.name, labs.state_dir)


CRASH_AFTER_RELAY = """
import os, signal, sys
from fabric.builders import Site, WanLink, clos, multi_site
from labs.build import FabricBuilder
from labs.lab import Lab
sites = [Site(s, clos(2, 1, 1, name=s), dci_nodes=1) for s in ("west", "east")]
fab = multi_site(sites, [WanLink("west", "east", length_km=100)], name="t")
FabricBuilder.verify = lambda self: os.kill(os.getpid(), signal.SIGKILL)  # crash once the relay runs
Lab(fab, name=sys.argv[1], state_dir=sys.argv[2], delay_backend="relay").up()
"""


def test_crash_after_relay_started_leaves_no_process(labs):
    name = f"{TAG}-crash"
    labs.names.append(name)
    sd = labs.state_dir
    r = subprocess.run([sys.executable, "-c", CRASH_AFTER_RELAY, name, str(sd)], timeout=60)
    assert r.returncode == -signal.SIGKILL
    st = json.loads(state_path(name, sd).read_text())
    assert st["status"] == "building" and st["processes"]
    assert _procs_with(f"fabricctl-relay:{name}")  # the orphaned relay is still running
    from typer.testing import CliRunner

    from fabric.cli.main import app

    r = CliRunner().invoke(app, ["lab", "status", "--state-dir", str(sd), "--name", name, "--json"])
    assert r.exit_code == 0 and "crashed run" in json.loads(r.output)["labs"][0]["note"]
    res = Lab(None, name=name, state_dir=sd).down()
    assert res["processes_killed"] >= 1
    assert_clean(name, sd)


def test_containerlab_lab_exports_what_it_ran(labs, tmp_path):
    from labs.clab import dump_clab, export_clab, load_clab

    spec = load_clab(DATA / "labs-br01.clab.yml")
    with labs("clabx", clab=spec) as lab:
        out = tmp_path / "again.clab.yml"
        out.write_text(dump_clab(export_clab(lab.state)))
        again = load_clab(out)
        assert {n: (d["kind"], d["exec"]) for n, d in again.nodes.items()} == \
            {n: (d["kind"], d["exec"]) for n, d in spec.nodes.items()}
        assert [(lk["delay_us"], lk["rate_bps"]) for lk in again.links] == \
            [(lk["delay_us"], lk["rate_bps"]) for lk in spec.links]


def test_cmd_sees_node_names_and_its_own_interfaces(labs):
    with labs("cmd", clos(2, 1, 1)) as lab:
        out = lab["leaf1-h1"].cmd("getent hosts leaf2-h1; ls /sys/class/net")
        assert f"{lab.ip('leaf2-h1')}" in out and "leaf2-h1" in out
        assert set(out.split()[2:]) == {"eth1", "lo"}  # its own /sys, as with `ip netns exec`
        assert "fabricctl" not in Path("/etc/hosts").read_text()  # the host's file is untouched
        with pytest.raises(LabError, match="command failed"):
            lab["leaf1"].cmd("exit 3", check=True)


def test_netem_asked_for_on_a_kernel_without_it_is_refused(labs):
    from labs.delay import kernel_has_netem

    if kernel_has_netem(f"{TAG}-probe.@netem-probe"):
        pytest.skip("this kernel has sch_netem")
    lab = labs("nonetem", two_site(1_000.0), delay_backend="netem")
    with pytest.raises(LabError, match="no sch_netem"):
        lab.up()
    assert_clean(lab.name, labs.state_dir)
    assert netns.list_netns(f"{TAG}-probe.") == []
