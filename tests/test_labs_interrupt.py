"""Interrupted `lab up` (root only): Ctrl-C tears down what it built and exits 130; a run killed before its
state file existed leaves at most its netem probe namespace and lock file, which `lab down` and the next
`lab up` recognise as the lab's own and remove."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_fixtures import remove_leftovers

from fabric.errors import LabError
from fabric.topology import Fabric
from labs import netns
from labs.lab import Lab, state_path
from labs.routing import netem_probe_ns_name

pytestmark = pytest.mark.needs_root
TAG = f"ti{os.getpid() % 100000}"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def names(tmp_path):
    made: list[str] = []
    yield made
    for name in made:
        remove_leftovers(name, tmp_path)


def chain(n: int, km: float = 0.0) -> Fabric:
    f = Fabric("chain")
    for i in range(n):
        f.add_node(f"s{i}", role="leaf")
    for i in range(n - 1):
        f.add_link(f"s{i}", f"s{i + 1}", 400, length_km=km if i == 0 else 0.0)
    return f


def test_stale_netem_probe_and_lock_are_removed_by_down_and_up(names, tmp_path):
    name = f"{TAG}-probe"
    names.append(name)
    prefix = f"{name}."
    with pytest.raises(LabError, match="no lab named"):
        Lab(None, name=name, state_dir=tmp_path).down()
    # what a kill -9 during the netem probe leaves: the probe namespace and the lock file, no state file
    netns.remove_netns(netem_probe_ns_name(prefix))
    os.close(netns.create_netns(netem_probe_ns_name(prefix)))
    (tmp_path / f"{name}.lock").write_text("")
    res = Lab(None, name=name, state_dir=tmp_path).down()
    assert res == {"namespaces_removed": 1, "processes_killed": 0}
    assert netns.list_netns(prefix) == [] and not (tmp_path / f"{name}.lock").exists()
    # and `up` over a stale probe namespace probes again instead of refusing the name
    os.close(netns.create_netns(netem_probe_ns_name(prefix)))
    lab = Lab(chain(3, km=1.0), name=name, state_dir=tmp_path, rate_scale=0).up()
    try:
        assert netem_probe_ns_name(prefix) not in netns.list_netns(prefix)
        assert lab.state["backend"] in ("netem", "relay")
    finally:
        lab.down()
    assert netns.list_netns(prefix) == []


def test_ctrl_c_during_up_tears_down_and_exits_130(names, tmp_path):
    from fabric.io.yamlio import save_yaml

    name = f"{TAG}-int"
    names.append(name)
    topo = tmp_path / "chain.yaml"
    save_yaml(chain(150), topo)
    proc = subprocess.Popen([sys.executable, "-m", "fabric.cli.main", "lab", "up", str(topo), "--name", name,
                             "--state-dir", str(tmp_path), "--rate-scale", "0"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(netns.list_netns(f"{name}.")) < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.001)
    assert proc.poll() is None, "lab up finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert netns.list_netns(f"{name}.") == []
    assert not state_path(name, tmp_path).exists()


def test_split_and_probe_with_an_unknown_node_are_one_line_exit_2(cli, names, tmp_path):
    name = f"{TAG}-unk"
    names.append(name)
    Lab(chain(3), name=name, state_dir=tmp_path, rate_scale=0).up().close()
    for cmd in (["split", "nosuch", "s2"], ["split", "s0", "nosuch"], ["probe", "nosuch", "s2", "--count", "1"]):
        r = cli(["lab", *cmd, "--name", name, "--state-dir", tmp_path])
        assert r.exit_code == 2 and "no node 'nosuch'" in r.output and len(r.output.strip().splitlines()) == 1, r.output
