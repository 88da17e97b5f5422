"""P4 labs without root: the agent's ``--ports`` file, the lab's addressing and completed plan, and the
user errors of ``lab up --switch`` (one line, exit 2)."""

from __future__ import annotations

import ipaddress
import json

import pytest
from plans import wcmp_section

from fabric.builders import clos
from fabric.errors import ConfigError, LabError
from fabric.plan import Plan
from fabric.traffic import endpoint_ip
from fabric.wcmp import ecmp_groups
from labs.p4lab import lab_plan, p4_switches
from labs.routing import layout
from p4.agent.afpacket import PortsConfig

GOOD = {"devices": [{"device_id": 1, "name": "s1", "netns": "/run/netns/x.s1", "ports": {"1": "eth1", "2": "eth2"}}],
        "control": "/tmp/x.sock"}


def test_ports_file_round_trip():
    cfg = PortsConfig.from_dict(GOOD)
    assert cfg.device_ids == [1] and cfg.names == {1: "s1"} and cfg.control == "/tmp/x.sock"


@pytest.mark.parametrize(("doc", "match"), [
    ([], "wants an object with a list 'devices'"),
    ({"devices": {}}, "wants an object with a list 'devices'"),
    ({"devices": [3]}, r"devices\[0\]: must be an object"),
    ({"devices": [{"device_id": -1, "netns": "n", "ports": {}}]}, "device_id must be a new unsigned integer, got -1"),
    ({"devices": [{"device_id": True, "netns": "n", "ports": {}}]}, "device_id must be a new unsigned integer"),
    ({"devices": [GOOD["devices"][0], GOOD["devices"][0]]}, r"devices\[1\]: device_id must be a new"),
    ({"devices": [{"device_id": 1, "ports": {}}]}, "needs 'netns'"),
    ({"devices": [{"device_id": 1, "netns": "n", "ports": {"eth1": "eth1"}}]}, "port 'eth1': wants a port number"),
    ({"devices": [{"device_id": 1, "netns": "n", "ports": {"1": ""}}]}, "port '1': wants a port number"),
    ({"devices": [], "control": 5}, "'control' must be a path"),
])
def test_bad_ports_files_name_the_field(doc, match):
    with pytest.raises(ConfigError, match=match):
        PortsConfig.from_dict(doc, file="p.json")


def test_agent_serve_with_a_bad_ports_file_is_one_line_exit_2(cli, tmp_path):
    bad = tmp_path / "ports.json"
    bad.write_text("{not json")
    r = cli(["agent", "serve", "--listen", "127.0.0.1:0", "--ports", bad])
    assert r.exit_code == 2 and "not JSON" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    bad.write_text(json.dumps({"devices": [{"device_id": 1, "netns": str(tmp_path / "no-such-ns"),
                                            "ports": {"1": "eth1"}}]}))
    r = cli(["agent", "serve", "--listen", "127.0.0.1:0", "--ports", bad, "--no-dataplane"])
    assert r.exit_code == 2 and "--ports needs the dataplane" in r.output, r.output


def test_p4_addressing_endpoints_at_their_fabric_address():
    fab = clos(2, 2, 2)
    lay = layout(fab, endpoint_addresses="fabric")
    eps = set(fab.endpoints())
    for n, a in lay.address.items():
        if n in eps:
            assert int(ipaddress.IPv4Address(a)) == endpoint_ip(n)
    assert len(set(lay.address.values())) == len(lay.address)     # switches skip the endpoints' addresses
    assert all(lp.port_a and lp.port_b for lp in lay.links)
    with pytest.raises(LabError, match="endpoint addressing must be"):
        layout(fab, endpoint_addresses="dhcp")


def test_lab_plan_keeps_the_plan_and_completes_it_with_ecmp():
    fab = clos(2, 2, 2)
    leaf = next(n for n in fab.nodes() if fab.role(n) == "leaf")
    other = next(n for n in fab.nodes() if fab.role(n) == "leaf" and n != leaf)
    spines = [n for n in fab.graph.neighbors(leaf) if fab.role(n) == "spine"]
    hops = []
    for w, s in zip((3, 1), spines, strict=False):
        lk = fab.links_between(leaf, s)[0]
        hops.append({"node": s, "port": lk.port_a if lk.a == leaf else lk.port_b, "weight": w})
    plan = Plan.new(fab)
    plan.add(wcmp_section([{"switch": leaf, "dst": other, "next_hops": hops}]), fabric=fab)
    out = lab_plan(fab, plan)
    assert out.wcmp is not None
    got = {(g.switch, g.dst): g for g in out.wcmp.groups}
    assert [(h.node, h.weight) for h in got[(leaf, other)].next_hops] == [(h["node"], h["weight"]) for h in hops]
    want = {(g["switch"], g["dst"]) for g in ecmp_groups(fab)}
    assert want <= set(got)                                  # every (switch, destination) a kernel lab routes
    assert lab_plan(fab, None).wcmp is not None               # no plan: ECMP only
    assert p4_switches(fab) == [n for n in fab.nodes() if fab.role(n) in ("leaf", "spine")]


def test_lab_up_bad_switch_kind_is_exit_2(cli, tmp_path):
    r = cli(["lab", "up", "example", "--switch", "bmv2", "--state-dir", tmp_path])
    assert r.exit_code == 2 and "switch kind must be one of kernel, p4" in r.output, r.output
    clab = tmp_path / "x.clab.yml"
    clab.write_text("name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n    b: {kind: linux}\n"
                    "  links:\n    - endpoints: [a:eth1, b:eth1]\n")
    r = cli(["lab", "up", clab, "--switch", "p4", "--state-dir", tmp_path])
    assert r.exit_code == 2 and "P4 switches need a fabric" in r.output, r.output


def test_lean_agent_entry_refuses_a_bad_ports_file_in_one_line(tmp_path):
    """``python -m p4.agent.run`` (how a lab starts its agent) reports a bad --ports file like the CLI."""
    import subprocess
    import sys
    from pathlib import Path

    bad = tmp_path / "ports.json"
    bad.write_text(json.dumps({"devices": [{"device_id": -3, "netns": "x", "ports": {}}]}))
    r = subprocess.run([sys.executable, "-m", "p4.agent.run", "--ports", str(bad), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {bad}: devices[0]: device_id must be a new unsigned integer, got -3"]


@pytest.mark.needs_root
def test_an_agent_whose_ports_cannot_all_be_opened_closes_the_ones_it_opened(tmp_path):
    """AF_PACKET on ``lo`` opens, the next interface does not exist: the ConfigError names it and
    the sockets made before are closed by the failed start itself (no file descriptor left behind)."""
    import os

    from p4.agent.server import AgentServer

    cfg = PortsConfig.from_dict({"devices": [{"device_id": 1, "netns": "/proc/self/ns/net",
                                              "ports": {"1": "lo", "2": "no-such-if0"}}]})
    before = len(os.listdir("/proc/self/fd"))
    srv = AgentServer("127.0.0.1:0", [1], state_dir=tmp_path / "agent", dataplane=True, ports=cfg)
    with pytest.raises(ConfigError, match="cannot open AF_PACKET on no-such-if0"):
        srv.start()
    assert len(os.listdir("/proc/self/fd")) <= before
