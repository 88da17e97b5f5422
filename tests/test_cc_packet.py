"""Packet model: losslessness with PFC, drops without it, line rate, determinism, agreement with the
fluid model, and the numba kernel against the same code run as pure Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fabric.cc import dcqcn_params, ecn_params
from fabric.ccsim import scenarios
from fabric.ccsim.fluid import FluidParams, fluid_run
from fabric.ccsim.metrics import jain, plot
from fabric.ccsim.packet import PacketConfig, build_network, simulate
from fabric.errors import ConfigError


def test_pfc_dcqcn_incast_is_lossless_and_work_conserving():
    sc = scenarios.incast(16, 1e6)
    r = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", pfc=True, t_end_s=sc.t_end_s))
    m = r.metrics()
    assert m["drops"] == 0 and m["headroom_overflows"] == 0 and m["lost_bytes"] == 0
    assert m["completed"] == 16
    assert m["pfc_pause_frames"] > 0            # PFC really had to act
    # every byte arrived, and the receiver link stayed busy: makespan ≈ total bytes / line rate
    ideal = 16e6 / (400e9 / 8)
    assert ideal <= r.finish_s.max() <= ideal * 1.03 + 10e-6


def test_no_pfc_no_ecn_incast_drops():
    sc = scenarios.incast(16, 1e6)
    r = simulate(sc.fabric, sc.flows, PacketConfig(cc="none", pfc=False, t_end_s=sc.t_end_s))
    m = r.metrics()
    assert m["drops"] > 0 and m["pfc_pause_frames"] == 0 and m["ecn_marks"] == 0
    delivered = r.rcv_bytes[-1].sum() if len(r.t_s) else 0
    assert m["lost_bytes"] + r.sent_bytes.sum() - r.lost_bytes.sum() == pytest.approx(16e6)
    assert delivered <= 16e6 - m["lost_bytes"] + 1


@pytest.mark.parametrize("scenario", ["bottleneck", "incast"])
def test_single_flow_reaches_line_rate(scenario):
    sc = scenarios.bottleneck(1, t_end_s=2e-3) if scenario == "bottleneck" else scenarios.incast(1, 50e6, t_end_s=2e-3)
    r = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", t_end_s=2e-3))
    thr = r.metrics()["throughput_gbps"][0]
    assert thr == pytest.approx(400.0, rel=0.005)
    assert r.metrics()["cnps"] == 0


@pytest.mark.parametrize("cc", ["dcqcn", "dctcp", "hpcc"])
def test_same_seed_same_events(cc):
    sc = scenarios.victim(n_long=4, n_short=8, t_end_s=1e-3)
    runs = [simulate(sc.fabric, sc.flows, PacketConfig(cc=cc, t_end_s=1e-3, seed=s)) for s in (7, 7, 8)]
    a, b, c = runs
    assert a.stats == b.stats
    assert np.array_equal(a.finish_s, b.finish_s) and np.array_equal(a.queue_bytes, b.queue_bytes)
    if cc != "hpcc":   # ECN marking draws random numbers: another seed gives another run
        assert a.stats != c.stats or not np.array_equal(a.queue_bytes, c.queue_bytes)


def test_fluid_and_packet_agree_on_steady_queue():
    """Tolerance: the packet model's mean queue over the second half is within 30 % of the fluid model's
    (paper profile at 400G, 4 long flows through one port, 1000 B packets as in the fluid model)."""
    n, T = 4, 60e-3
    sc = scenarios.bottleneck(n, t_end_s=T)
    cfg = PacketConfig(cc="dcqcn", profile="paper", t_end_s=T, mtu_bytes=1000, max_packets=1 << 16, samples=3000)
    r = simulate(sc.fabric, sc.flows, cfg)
    b = int(np.argmax(r.max_queue_bytes))
    q_packet = r.queue_bytes[len(r.t_s) // 2:, b].mean()
    _arrays, meta = build_network(sc.fabric, sc.flows, cfg)
    fp = FluidParams.from_dcqcn(dcqcn_params("paper", 400), ecn_params("paper", 400), packet_bytes=1000,
                                feedback_delay_s=meta["params"]["base_rtt_s"], t_end_s=T)
    q_fluid = fluid_run(fp, n).steady(0.5)["queue_mean_bytes"]
    assert q_packet == pytest.approx(q_fluid, rel=0.30)
    assert sum(r.metrics()["throughput_gbps"]) == pytest.approx(400, rel=0.05)


def test_window_senders_keep_queue_below_uncontrolled():
    sc = scenarios.incast(16, 1e6)
    q = {}
    for cc in ("none", "dctcp", "hpcc"):
        r = simulate(sc.fabric, sc.flows, PacketConfig(cc=cc, t_end_s=sc.t_end_s))
        m = r.metrics()
        assert m["drops"] == 0 and m["completed"] == 16
        q[cc] = m["bottleneck"]["mean_queue_bytes"]
    assert q["hpcc"] < q["dctcp"] < q["none"]


def test_victim_flows_suffer_under_pfc_alone_not_with_dcqcn():
    sc = scenarios.victim()
    slow = {}
    for cc in ("none", "dcqcn"):
        m = simulate(sc.fabric, sc.flows, PacketConfig(cc=cc, t_end_s=sc.t_end_s)).metrics()
        slow[cc] = m
    assert slow["none"]["pfc_paused_s"] > slow["dcqcn"]["pfc_paused_s"]
    assert slow["dcqcn"]["completed"] == 32        # every short flow finished
    assert slow["none"]["completed"] < 32          # head-of-line blocking: some victims still waiting


def test_allreduce_ring_flows_and_boundary():
    sc = scenarios.allreduce(4, 4e6)
    # a 4-rank ring all-reduce of 4 MB: every rank sends 2·3/4·4 MB = 6 MB to its successor
    assert [f.size_bytes for f in sc.flows] == [6e6] * 4
    sc = scenarios.allreduce(8, 1e6)
    r = simulate(sc.fabric, sc.flows, PacketConfig(cc="dctcp", t_end_s=sc.t_end_s))
    assert r.metrics()["completed"] == 8 and r.metrics()["drops"] == 0


def test_bad_input_errors():
    sc = scenarios.incast(2, 1e5)
    with pytest.raises(ConfigError, match="unknown cc"):
        simulate(sc.fabric, sc.flows, PacketConfig(cc="reno"))
    with pytest.raises(ConfigError, match="not an endpoint"):
        simulate(sc.fabric, [("spine1", "leaf1-h1", 1e3, 0.0)])
    with pytest.raises(ConfigError, match="unknown scenario"):
        scenarios.get("storm")


def test_jain_and_plot(tmp_path):
    assert jain(np.array([2.0, 2.0, 2.0])) == pytest.approx(1.0)
    assert jain(np.array([3.0, 0.0, 0.0])) == pytest.approx(1 / 3)
    sc = scenarios.incast(4, 2e5)
    r = simulate(sc.fabric, sc.flows, PacketConfig(t_end_s=1e-3))
    out = tmp_path / "q.png"
    plot(r, out, "incast")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


REF = """
import json
from fabric.ccsim import scenarios
from fabric.ccsim.packet import PacketConfig, simulate
sc = scenarios.incast(3, 60e3)
r = simulate(sc.fabric, sc.flows, PacketConfig(cc="{cc}", t_end_s=200e-6, samples=20))
print(json.dumps({{"stats": r.stats, "finish": r.finish_s.tolist(), "q": r.queue_bytes.sum(axis=1).tolist()}}))
"""


@pytest.mark.parametrize("cc", ["dcqcn", "hpcc"])
def test_numba_kernel_equals_pure_python_reference(cc):
    """The same kernel run with NUMBA_DISABLE_JIT=1 (pure Python) gives the identical event history."""
    out = {}
    for jit in ("0", "1"):
        env = {**os.environ, "NUMBA_DISABLE_JIT": jit}
        p = subprocess.run([sys.executable, "-c", REF.format(cc=cc)], env=env, capture_output=True, text=True,
                           timeout=120, check=True)
        out[jit] = json.loads(p.stdout)
    assert out["0"] == out["1"]
    assert out["0"]["stats"]["events"] > 100


def test_pfc_is_per_priority_lossy_class_not_paused():
    """Short flows on priority 0 (lossy class) pass links that PFC pauses for priority 3."""
    res = {}
    for prio in (3, 0):
        sc = scenarios.victim(short_priority=prio)
        res[prio] = simulate(sc.fabric, sc.flows, PacketConfig(cc="none", t_end_s=sc.t_end_s)).metrics()
    assert res[3]["pfc_pause_frames"] > 0 and res[0]["pfc_pause_frames"] > 0
    assert res[3]["completed"] < 32
    assert res[0]["completed"] == 32 and res[0]["fct_slowdown"]["p99"] < 2.0


def test_flow_priority_validation():
    sc = scenarios.incast(2, 1e5)
    with pytest.raises(ConfigError, match="priority must be an integer 0-7"):
        simulate(sc.fabric, [(*sc.flows[0][:4], 9)])                 # a plain tuple
    with pytest.raises(ConfigError, match="priority must be an integer 0-7"):
        simulate(sc.fabric, [sc.flows[0]._replace(priority=9)])      # a Flow
    with pytest.raises(ConfigError, match="expected \\(src, dst, bytes, start_s"):
        simulate(sc.fabric, [("leaf1-h1", "leaf1-h2")])


def test_ecn_mark_at_dequeue_option():
    sc = scenarios.incast(8, 5e5)
    a = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", t_end_s=sc.t_end_s)).metrics()
    b = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", t_end_s=sc.t_end_s, ecn_mark_at="dequeue")).metrics()
    assert b["ecn_marks"] > 0 and b["drops"] == 0 and b["completed"] == 8
    assert (a["ecn_marks"], a["events"]) != (b["ecn_marks"], b["events"])
    with pytest.raises(ConfigError, match="ecn_mark_at"):
        simulate(sc.fabric, sc.flows, PacketConfig(ecn_mark_at="both"))


def test_cfg_vector_is_laid_out_by_the_named_indices():
    from fabric.ccsim import kernel as K

    sc = scenarios.incast(2, 1e5)
    arrays, meta = build_network(sc.fabric, sc.flows, PacketConfig(mtu_bytes=2048, seed=7, cc="hpcc"))
    cfg = arrays["cfg"]
    assert cfg.shape == (K.N_CFG,)
    assert cfg[K.CFG_MTU_BYTES] == 2048 and cfg[K.CFG_SEED] == 7 and cfg[K.CFG_CC] == K.CC_HPCC
    assert [cfg[getattr(K, "CFG_" + n.upper())] for n in K.CFG] == [float(meta["params"][n]) for n in K.CFG]


def test_flows_are_named_tuples_and_plain_tuples_give_the_same_run():
    from fabric.ccsim.flows import Flow

    sc = scenarios.incast(3, 2e5)
    assert all(isinstance(f, Flow) for f in sc.flows) and sc.flows[0].priority == 3 and sc.flows[0].sport is None
    cfg = PacketConfig(cc="dcqcn", t_end_s=sc.t_end_s)
    a = simulate(sc.fabric, sc.flows, cfg)
    b = simulate(sc.fabric, [tuple(f)[:4] for f in sc.flows], cfg)
    assert a.flows == b.flows and a.stats == b.stats and np.array_equal(a.queue_bytes, b.queue_bytes)
