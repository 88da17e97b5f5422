"""ConnectX firmware DCQCN knobs (fabric.cc.Profile) in the packet and fluid models, and the paper reproduction."""

from __future__ import annotations

import numpy as np
import pytest

from fabric.cc import dcqcn_params, ecn_params
from fabric.ccsim import scenarios
from fabric.ccsim.flows import Flow
from fabric.ccsim.fluid import FluidParams, fluid_run
from fabric.ccsim.packet import PacketConfig, build_network, simulate
from fabric.ccsim.reproduce import paper_fairness
from fabric.errors import ConfigError

LINE_BPS = 400e9 / 8


def _delivered_gbps(r) -> float:
    return float(r.rcv_bytes[-1].sum()) * 8 / 1e9 / float(r.t_s[-1])


@pytest.fixture(scope="module")
def incast40():
    """16 senders x 40 MB into one 400G port for 10 ms: the flows outlast the run (the issue's case)."""
    return scenarios.incast(16, 40e6, gbps=400.0, t_end_s=10e-3)


def _incast(sc, **ov):
    return simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", profile="nvidia", t_end_s=10e-3, samples=200,
                                                      dcqcn_override=ov))


def test_incast_does_not_collapse_to_the_floor_with_firmware_defaults(incast40):
    """The old model (target clamped on every cut) delivered 196 of 400 Gb/s: every flow at the 16 Mb/s floor
    and a timer-driven crawl back. With clamp_tgt_rate 0 the target keeps the rate before the cuts, and
    the first timer step halves the distance to it."""
    fw = _incast(incast40)
    old_rule = _incast(incast40, clamp_tgt_rate=True)
    assert _delivered_gbps(fw) >= 300.0
    assert _delivered_gbps(old_rule) < 250.0
    m = fw.metrics()
    assert m["drops"] == 0 and m["lost_bytes"] == 0


# ------------------------------------------------------------- each knob, by its mechanism
def _pair(ov: dict, t_end_s: float = 200e-6, n: int = 2):
    """n line-rate flows into one 400G port, rates sampled every 0.5 µs."""
    sc = scenarios.bottleneck(n, t_end_s=t_end_s)
    return simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", profile="nvidia", t_end_s=t_end_s,
                                                      samples=int(t_end_s / 0.5e-6), dcqcn_override=ov))


def _early_min_rate(r, until_s: float = 50e-6) -> float:
    return float(r.rate_Bps[r.t_s <= until_s].min())


def test_rpg_min_rate_is_a_floor():
    default = _pair({})
    floored = _pair({"min_rate_mbps": 100_000.0})
    assert float(default.rate_Bps.min()) < 100e9 / 8
    assert float(floored.rate_Bps.min()) >= 100e9 / 8 * (1 - 1e-12)


def test_rate_to_set_on_first_cnp_sets_current_and_target():
    r = _pair({"rate_to_set_on_first_cnp_mbps": 50_000.0})
    for f in range(2):
        assert np.any(np.isclose(r.rate_Bps[:, f], 50e9 / 8, rtol=1e-12)), "the first CNP did not set 50 Gb/s"
    off = _pair({})
    assert not np.any(np.isclose(off.rate_Bps, 50e9 / 8, rtol=1e-12))


def test_initial_alpha_value_sets_the_first_cuts():
    """alpha = 0.02 at the first CNP cuts 1 % instead of 50 %."""
    assert _early_min_rate(_pair({"initial_alpha": 0.02})) > 1.5 * _early_min_rate(_pair({}))


def test_rpg_gd_scales_the_cut():
    """rpg_gd 10 cuts alpha x R_C (with the 50 % cap lifted), 11 cuts alpha/2 x R_C."""
    hard = _pair({"rpg_gd": 10, "max_cut_fraction": 1.0})
    soft = _pair({"rpg_gd": 11, "max_cut_fraction": 1.0})
    assert _early_min_rate(hard) < 0.5 * _early_min_rate(soft)


def test_rpg_min_dec_fac_bounds_one_cut():
    """rpg_min_dec_fac 90 (max cut 10 %): no sample-to-sample drop deeper than what 10 % per cut allows."""
    r = _pair({"max_cut_fraction": 0.1})
    ratio = r.rate_Bps[1:] / r.rate_Bps[:-1]
    # at most one cut per 4 µs period and samples every 0.5 µs: a sample can fall by 10 % at most
    assert float(ratio.min()) >= 0.9 - 1e-9
    assert float((_pair({}).rate_Bps[1:] / _pair({}).rate_Bps[:-1]).min()) < 0.6


def test_rate_reduce_monitor_period_coalesces_cnps():
    """With CNPs allowed every 0.5 µs, a 0.5 µs RP period cuts on each, an 8 µs one once per 8 µs."""
    fast = _pair({"cnp_interval_us": 0.5, "rate_reduce_period_us": 0.5})
    slow = _pair({"cnp_interval_us": 0.5, "rate_reduce_period_us": 8.0})
    assert _early_min_rate(slow) > 2 * _early_min_rate(fast)


def test_clamp_tgt_rate_after_time_inc_follows_timer_increases(incast40):
    """A 2 µs rate timer fires between the 4 µs cuts: with the flag the target follows those cuts down."""
    sc = scenarios.incast(16, 40e6, gbps=400.0, t_end_s=2e-3)
    kw = {"rate_increase_timer_us": 2.0, "byte_counter_bytes": 1e12}

    def run(flag: bool) -> float:
        r = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", profile="nvidia", t_end_s=2e-3, samples=200,
                                                       dcqcn_override={**kw, "clamp_tgt_rate_after_time_inc": flag}))
        return float(r.rate_Bps[50:].mean())

    assert run(False) > 1.5 * run(True)


def test_release_at_line_rate_reinitialises_alpha():
    """Flow A recovers to line rate after a 1 MB burst of B; when C arrives, A's next CNP is a first CNP
    again with the release (alpha = 1023/1024: a 50 % cut), not without it (alpha decayed: a small cut)."""
    sc = scenarios.bottleneck(2, t_end_s=3e-3)
    a_src, b_src = (f.src for f in sc.flows)
    dst = sc.flows[0].dst
    flows = [Flow(a_src, dst, 1e12, 0.0), Flow(b_src, dst, 1e6, 0.0), Flow(b_src, dst, 1e6, 2e-3)]

    def a_min_after_c(release: bool) -> float:
        r = simulate(sc.fabric, flows, PacketConfig(cc="dcqcn", profile="nvidia", t_end_s=2.2e-3, samples=2200,
                                                    dcqcn_override={"release_at_line_rate": release}))
        w = (r.t_s >= 2e-3) & (r.t_s <= 2.05e-3)
        assert float(r.rate_Bps[(r.t_s > 1.8e-3) & (r.t_s < 2e-3), 0].min()) == pytest.approx(LINE_BPS, rel=1e-6)
        return float(r.rate_Bps[w, 0].min())

    assert a_min_after_c(True) < 0.8 * a_min_after_c(False)


@pytest.mark.parametrize("key,value", [
    ("g", 1 / 16), ("alpha_timer_us", 55.0), ("rate_increase_timer_us", 55.0), ("byte_counter_bytes", 10e6),
    ("fast_recovery_steps", 5), ("rai_mbps", 800.0), ("rhai_mbps", 8000.0), ("cnp_interval_us", 50.0),
    ("alpha_update_before_cut", False), ("clamp_tgt_rate", True), ("initial_alpha", 0.5), ("rpg_gd", 12),
    ("max_cut_fraction", 0.2), ("rate_reduce_period_us", 50.0), ("rate_to_set_on_first_cnp_mbps", 100_000.0),
    ("min_rate_mbps", 20_000.0)])
def test_every_firmware_knob_changes_the_packet_run(key, value):
    """(clamp_tgt_rate_after_time_inc and release_at_line_rate need a timer increase or a recovery to line
    rate, which this 1 ms burst has not: their own tests above set those up.)"""
    sc = scenarios.incast(8, 4e6, gbps=400.0, t_end_s=1e-3)
    cfg = PacketConfig(cc="dcqcn", profile="nvidia", t_end_s=1e-3, samples=100)
    base = simulate(sc.fabric, sc.flows, cfg)
    other = simulate(sc.fabric, sc.flows, PacketConfig(**{**cfg.__dict__, "dcqcn_override": {key: value}}))
    assert not np.array_equal(base.rate_Bps, other.rate_Bps), f"{key} = {value} changed nothing"


# ------------------------------------------------------------- fluid model
def _fluid(prof: str = "nvidia", n: int = 4, t_end_s: float = 5e-3, **kw):
    p = FluidParams.from_dcqcn(dcqcn_params(prof, 400), ecn_params(prof, 400), packet_bytes=1000,
                               feedback_delay_s=4e-6, t_end_s=t_end_s, **kw)
    return fluid_run(p, n)


@pytest.mark.parametrize("key,value", [
    ("clamp_tgt", 1.0), ("clamp_tgt_after_time_inc", 0.0), ("initial_alpha", 0.2), ("gd_scale", 1.0),
    ("max_cut", 0.1), ("rate_reduce_s", 20e-6), ("rate_first_cnp_Bps", 100e9 / 8)])
def test_every_firmware_knob_changes_the_fluid_run(key, value):
    base, other = _fluid(), _fluid(**{key: value})
    assert not np.allclose(base.rates_Bps, other.rates_Bps), f"{key} = {value} changed nothing"


def test_fluid_rate_on_first_cnp_and_min_rate():
    r = _fluid(rate_first_cnp_Bps=100e9 / 8, t_end_s=0.5e-3)
    assert float(r.rates_Bps.max(axis=1)[r.t_s > 20e-6].max()) <= LINE_BPS
    assert np.any(np.isclose(r.rates_Bps[:, 0], 100e9 / 8, rtol=1e-3))
    assert float(_fluid(min_rate_Bps=200e9 / 8 / 4).rates_Bps.min()) >= 50e9 / 8 * (1 - 1e-12)


def test_fluid_and_packet_agree_with_firmware_defaults_small_case():
    """nvidia profile, 4 long flows through one 400G port for 20 ms (1000 B packets as in the fluid model):
    mean queue and utilisation over the second half within 30 % (measured: 640 vs 611 KB, 85 vs 100 %)."""
    n, T = 4, 20e-3
    sc = scenarios.bottleneck(n, t_end_s=T)
    cfg = PacketConfig(cc="dcqcn", profile="nvidia", t_end_s=T, mtu_bytes=1000, max_packets=1 << 16, samples=2000)
    r = simulate(sc.fabric, sc.flows, cfg)
    b = int(np.argmax(r.max_queue_bytes))
    h = len(r.t_s) // 2
    q_packet = r.queue_bytes[h:, b].mean()
    u_packet = (r.rcv_bytes[-1] - r.rcv_bytes[h]).sum() / (r.t_s[-1] - r.t_s[h]) / LINE_BPS
    _arrays, meta = build_network(sc.fabric, sc.flows, cfg)
    fp = FluidParams.from_dcqcn(dcqcn_params("nvidia", 400), ecn_params("nvidia", 400), packet_bytes=1000,
                                feedback_delay_s=meta["params"]["base_rtt_s"], t_end_s=T)
    st = fluid_run(fp, n).steady(0.5)
    assert q_packet == pytest.approx(st["queue_mean_bytes"], rel=0.30)
    assert u_packet == pytest.approx(st["utilisation"], rel=0.30)


# ------------------------------------------------------------- the published experiment, bad input
def test_paper_fairness_two_flows_converge_to_the_fair_share():
    """DCQCN paper (Zhu et al. 2015): flows sharing a 40G bottleneck converge to C/N, small queue, no PFC."""
    res = paper_fairness(2)
    assert res["converged_ms"] is not None and res["converged_ms"] < 30.0
    assert res["jain"] >= 0.95 and res["fluid_jain"] >= 0.99
    assert all(abs(x - 20.0) <= 0.2 * 20.0 for x in res["rates_gbps"])
    assert res["pfc_pause_frames"] == 0
    assert 5.0 < res["queue_mean_kb"] < 200.0           # between the paper's Kmin and Kmax


def test_bad_firmware_values_are_one_line_errors():
    sc = scenarios.bottleneck(2, t_end_s=10e-6)
    for ov, word in (({"initial_alpha": 0.0}, "initial_alpha"), ({"rpg_gd": -1}, "rpg_gd"),
                     ({"rate_reduce_period_us": float("nan")}, "rate_reduce_period_us")):
        with pytest.raises(ConfigError, match=word):
            simulate(sc.fabric, sc.flows, PacketConfig(profile="nvidia", t_end_s=10e-6, dcqcn_override=ov))
    with pytest.raises(ConfigError, match="stagger"):
        scenarios.bottleneck(2, stagger_s=-1.0)
