"""PFC headroom (SONiC formula, hand-worked), ECN/DCQCN profiles, buffer check and ``plan cc``."""

from __future__ import annotations

import json
import math

import pytest

from fabric.builders import clos, example_two_site
from fabric.cc import (
    PROFILES,
    CcOptions,
    SwitchModel,
    cell_occupancy,
    dcqcn_params,
    ecn_params,
    hpcc_params,
    plan_cc,
    sonic_headroom,
)
from fabric.errors import ConfigError, InfeasibleError
from fabric.plan import Plan

# ---------------------------------------------------------------- hand-worked SONiC cases
# Spectrum-2 (SONiC ASIC_TABLE): cell 144 B, pipeline 19 KiB, mac_phy 0.8 KiB; port MTU 9100, lossless MTU
# 1024, small packets 50 % by count = 11.765 % by bytes -> occupancy (100 - 11.765 + 3 x 11.765)/100 = 1.2353
# (w = ceil(144/64) = 3). More cases, the real plug-in's table and properties: tests/test_headroom.py.


def test_headroom_100g_5m_by_hand():
    # peer = 394*512/8 = 25216; cable = 2*5*100000*1e9/198e6/8000 = 631.31; prop = 9100+631.31+819.2+25216
    # = 35766.51; xoff = ceil_1K(1024 + 1.2353*35766.51 = 45205.1) = 46080, +2 KiB compensation (worst case
    # ceil_1K(1024 + 3*35766.51) = 108544 is more than 2 KiB above) = 48128; xon = 19456; size = 67584.
    h = sonic_headroom(100, 5)
    assert h.pause_quanta == 394
    assert h.peer_response_bytes == 25216
    assert h.cable_bytes == pytest.approx(631.313, abs=1e-3)
    assert h.propagation_bytes == pytest.approx(35766.51, abs=0.01)
    assert (h.xoff_bytes, h.xon_bytes, h.headroom_bytes) == (48128, 19456, 67584)


def test_headroom_400g_40m_by_hand():
    # peer = 905*512/8 = 57920; cable = 2*40*400000*1e9/198e6/8000 = 20202.02; prop = 88041.22;
    # xoff = ceil_1K(1024 + 1.2353*88041.22 = 109780.9) = 110592, +2048 = 112640. 400G on 50G lanes is an
    # 8-lane port: xon = 2*19456 = 38912, size = ceil_1K(112640 + 38912 + 9100) = 160768.
    h = sonic_headroom(400, 40)
    assert h.peer_response_bytes == 57920
    assert h.cable_bytes == pytest.approx(20202.02, abs=0.01)
    assert h.xoff_bytes == 112640
    assert h.headroom_bytes == 160768


def test_headroom_25g_300m_large_packets_by_hand():
    # small packets 0 %: the plug-in's byte share is 100*64 / (average packet 1024 B) = 6.25 %, not 0 (its
    # expression has no factor s/100), so occupancy = (100 - 6.25 + 3*6.25)/100 = 1.125.
    # peer = 80*512/8 = 5120; cable = 2*300*25000*1e9/198e6/8000 = 9469.70; prop = 9100+9469.70+819.2+5120
    # = 24508.9; xoff = ceil_1K(1024 + 1.125*24508.9 = 28596.5) = 28672, +2048 (worst case
    # ceil_1K(1024 + 3*24508.9) = 74752) = 30720.
    h = sonic_headroom(25, 300, small_packet_percent=0)
    assert h.cell_occupancy == 1.125
    assert h.xoff_bytes == 30720
    assert h.xon_bytes == 19456


def test_cell_occupancy_both_branches():
    assert cell_occupancy(144, 100) == pytest.approx(3.0)          # ceil(144/64)
    assert cell_occupancy(144, 50) == pytest.approx((100 - 6400 / 544 + 3 * 6400 / 544) / 100)
    assert cell_occupancy(96, 100) == pytest.approx(2.0)           # cell <= 128 B branch: ceil(192/97)


def test_gearbox_and_model_override():
    m = SwitchModel("x", 144, 19 * 1024, 0.8 * 1024, 10 * 2**20, gearbox_delay_ns=100)
    # the plug-in's gearbox bytes = 400000 Mb/s * 100 / (8*1024) = 4882.8125, counted twice
    a, b = sonic_headroom(400, 5), sonic_headroom(400, 5, m)
    assert b.propagation_bytes - a.propagation_bytes == pytest.approx(2 * 4882.8125)


def test_headroom_grows_with_cable_and_rejects_bad_input():
    hs = [sonic_headroom(400, L).xoff_bytes for L in (1, 10, 100, 1000)]
    assert hs == sorted(hs) and hs[0] < hs[-1]
    with pytest.raises(ConfigError, match="speed"):
        sonic_headroom(0, 5)
    with pytest.raises(ConfigError, match="cable"):
        sonic_headroom(100, -1)


# ---------------------------------------------------------------- profiles
def test_ecn_scales_with_line_rate():
    assert ecn_params("paper", 40) == {"kmin_bytes": 5000, "kmax_bytes": 200000, "pmax": 0.01}
    assert ecn_params("paper", 400) == {"kmin_bytes": 50000, "kmax_bytes": 2000000, "pmax": 0.01}
    assert ecn_params("production", 25) == {"kmin_bytes": 100000, "kmax_bytes": 400000, "pmax": 0.2}
    for name in PROFILES:
        e = ecn_params(name, 400)
        assert 0 < e["kmin_bytes"] < e["kmax_bytes"] and 0 < e["pmax"] <= 1


def test_dcqcn_scales_rates_not_timers():
    a, b = dcqcn_params("nvidia", 25), dcqcn_params("nvidia", 400)
    assert (a["rai_mbps"], a["rhai_mbps"], a["min_rate_mbps"]) == (5.0, 50.0, 1.0)
    assert b["rai_mbps"] == 80.0 and b["rhai_mbps"] == 800.0
    assert a["rate_increase_timer_us"] == b["rate_increase_timer_us"] == 300.0
    # dce_tcp_g 1019 is the weight kept by the old alpha: the paper's g is (1024 - 1019)/1024
    assert a["g"] == pytest.approx(5 / 1024)
    p = dcqcn_params("paper", 40)
    assert p["g"] == 1 / 256 and p["alpha_timer_us"] == 55 and p["byte_counter_bytes"] == 10_000_000
    assert p["fast_recovery_steps"] == 5 and p["rai_mbps"] == 40


def test_unknown_profile_names_option():
    with pytest.raises(ConfigError, match="--profile.*unknown cc profile 'x'"):
        ecn_params("x", 100)


def test_hpcc_window_is_bdp():
    h = hpcc_params(400, 10.0)
    assert h["bdp_bytes"] == 500_000
    assert abs(h["w_ai_bytes"] - 500_000 * 0.05 / 16) <= 0.5
    assert h["eta"] == 0.95 and h["max_stage"] == 5


# ---------------------------------------------------------------- per fabric
def test_plan_groups_cover_every_switch_port_once():
    fab = clos(2, 2, 4, host_gbps=100, uplink_gbps=400)
    data = plan_cc(fab, CcOptions(profile="production"))
    ports = [p for g in data["port_groups"] for p in g["ports"]]
    assert len(ports) == len(set(ports))
    n_switch_ports = sum(1 for link in fab.links() for n in (link.a, link.b) if fab.role(n) in ("leaf", "spine"))
    assert len(ports) == n_switch_ports
    by = {(g["speed_gbps"], g["cable_m"]): g for g in data["port_groups"]}
    assert set(by) == {(100.0, 5.0), (400.0, 40.0)}
    assert by[(100.0, 5.0)]["pfc"]["headroom_bytes"] == 67584
    assert by[(100.0, 5.0)]["ecn"]["kmin_bytes"] == 400_000
    for g in data["port_groups"]:
        assert set(g["pfc"]) >= {"xoff_bytes", "xon_bytes", "headroom_bytes"}
        assert set(g["ecn"]) == {"kmin_bytes", "kmax_bytes", "pmax"}
        assert g["dcqcn"]["line_rate_gbps"] == g["speed_gbps"]


def test_wdm_ports_are_not_lossless_and_not_in_buffer_check():
    data = plan_cc(example_two_site())
    wdm = [g for g in data["port_groups"] if not g["lossless"]]
    assert wdm and all(g["speed_gbps"] == 1600 for g in wdm)
    assert wdm[0]["cable_m"] > 1e6   # > 1000 km
    dci = next(r for r in data["buffer"] if r["switch"] == "beijing-dci1")
    lossless_dci_ports = [p for g in data["port_groups"] if g["lossless"] for p in g["ports"]
                          if p.startswith("beijing-dci1:")]
    assert dci["lossless_ports"] == len(lossless_dci_ports)


def test_buffer_check_names_switch_and_ports():
    fab = clos(1, 1, 4, host_gbps=400, uplink_gbps=400)
    # leaf1 (400G = 8 lanes): 4 ports x 5 m (138240 B) + 1 x 40 m (160768 B), x2 priorities = 1,427,456 B
    data = plan_cc(fab, CcOptions(switch_buffer_bytes=4 * 2**20))
    leaf = next(r for r in data["buffer"] if r["switch"] == "leaf1")
    assert leaf["headroom_bytes"] == 2 * (4 * 138240 + 160768)
    with pytest.raises(InfeasibleError, match=r"leaf1 needs 1,427,456 B .*leaf1:eth5 \(321,536 B\)"):
        plan_cc(fab, CcOptions(switch_buffer_bytes=3 * 2**19))
    assert math.floor(3 * 2**19 * 0.75) < 1_427_456


# ---------------------------------------------------------------- CLI
def test_cli_plan_cc_json_and_plan_file(cli, tmp_path):
    out = tmp_path / "plan.json"
    r = cli(["plan", "cc", "example", "--profile", "paper", "--switch-buffer", "64", "-o", out, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["profile"] == "paper" and doc["switch_buffer_bytes"] == 64 * 2**20
    g = doc["port_groups"][0]
    assert {"speed_gbps", "cable_m", "ports", "pfc", "ecn", "dcqcn"} <= set(g)
    plan = Plan.load(out)
    assert plan.cc is not None and plan.cc.to_dict()["port_groups"] == doc["port_groups"]
    assert plan.cc.provenance.status == "OK"


def test_cli_plan_cc_buffer_too_small_exits_2_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "plan.json"
    r = cli(["plan", "cc", "example", "--switch-buffer", "1", "-o", out])
    assert r.exit_code == 2
    assert "does not fit" in r.output and "beijing-" in r.output
    assert not out.exists()


def test_cli_plan_cc_human_table(cli):
    r = cli(["plan", "cc", "example"])
    assert r.exit_code == 0 and "buffer check ok" in r.output


def test_ecn_before_pfc_warning_only_when_kmax_above_trigger():
    fab = clos(1, 1, 4, host_gbps=400, uplink_gbps=400)
    ok = plan_cc(fab, CcOptions(profile="paper"))                     # Kmax 2 MB at 400G
    assert ok["warnings"] == []
    small = plan_cc(fab, CcOptions(profile="production", switch_buffer_bytes=16 * 2**20))
    # shared = 16 MiB - 2 x (4 x 138240 + 160768) = 15,349,760 B; trigger = /8 = 1,918,720 B < Kmax 6.4 MB
    assert small["buffer"][0]["shared_bytes"] == 16 * 2**20 - 1_427_456
    assert len(small["warnings"]) == len(small["port_groups"])
    assert "1,918,720 B" in small["warnings"][0]
