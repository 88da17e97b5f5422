"""Property tests (hypothesis): the headroom formula's rounding and monotonicity, and byte
conservation / losslessness of the packet model on random small incasts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.cc import PAUSE_QUANTA, cell_occupancy, sonic_headroom
from fabric.ccsim import scenarios
from fabric.ccsim.packet import PacketConfig, simulate

speeds = st.sampled_from(sorted(PAUSE_QUANTA))
cables = st.floats(min_value=0.0, max_value=2000.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(speeds, cables, st.floats(min_value=0, max_value=100), st.integers(min_value=64, max_value=9216))
def test_headroom_rounding_matches_unrounded_formula(speed, cable, small_pct, mtu):
    h = sonic_headroom(speed, cable, small_packet_percent=small_pct, lossless_mtu_bytes=mtu, lanes=4)
    # recompute from the plug-in's formula, independently of the implementation's intermediate values
    prop = 9100 + 2 * cable * speed * 1e12 / 198e6 / 8000 + 0.8 * 1024 + PAUSE_QUANTA[speed] * 512 / 8
    raw = mtu + prop * cell_occupancy(144, small_pct, mtu)
    comp = 2048 if h.compensated else 0
    assert h.xoff_bytes % 1024 == 0 and raw <= h.xoff_bytes - comp + 1e-6 < raw + 1024 + 1e-6
    assert h.xon_bytes == 19 * 1024 and h.headroom_bytes == h.xoff_bytes + h.xon_bytes


@settings(max_examples=40, deadline=None)
@given(speeds, cables, cables)
def test_headroom_monotone_in_cable_length(speed, a, b):
    lo, hi = sorted((a, b))
    assert sonic_headroom(speed, lo).xoff_bytes <= sonic_headroom(speed, hi).xoff_bytes


@settings(max_examples=8, deadline=None)
@given(n=st.integers(min_value=2, max_value=10), kb=st.integers(min_value=16, max_value=400),
       cc=st.sampled_from(["dcqcn", "dctcp", "hpcc", "none"]), seed=st.integers(min_value=0, max_value=1000))
def test_pfc_incast_conserves_bytes_and_loses_nothing(n, kb, cc, seed):
    sc = scenarios.incast(n, kb * 1e3)
    r = simulate(sc.fabric, sc.flows, PacketConfig(cc=cc, pfc=True, t_end_s=sc.t_end_s, seed=seed, samples=20))
    assert r.stats["drops"] == 0 and r.stats["headroom_overflows"] == 0
    assert (r.finish_s >= 0).all()
    assert r.sent_bytes.sum() == math.fsum(f.size_bytes for f in sc.flows)
    assert (r.delivered_bytes == r.sent_bytes).all()
    # completion not before the bottleneck could have carried every byte
    assert r.finish_s.max() >= n * kb * 1e3 / (400e9 / 8)


@settings(max_examples=6, deadline=None)
@given(n=st.integers(min_value=4, max_value=12), seed=st.integers(min_value=0, max_value=1000))
def test_without_pfc_every_byte_is_delivered_or_counted_lost(n, seed):
    sc = scenarios.incast(n, 2e6)
    r = simulate(sc.fabric, sc.flows, PacketConfig(cc="none", pfc=False, t_end_s=sc.t_end_s, seed=seed, samples=20))
    assert (r.finish_s >= 0).all()
    assert r.sent_bytes.sum() == n * 2e6
    if n >= 8:   # peak queue ≈ (n−1)·2 MB ≥ 14 MB, far above the lossy limit ≈ (42 MiB − q)/8
        assert r.stats["drops"] > 0
    assert r.delivered_bytes + r.lost_bytes == pytest.approx(r.sent_bytes)
    assert r.stats["drops"] * 1152 <= r.lost_bytes.sum() <= r.stats["drops"] * 4096   # 2e6 = 488 x 4096 + 1152
