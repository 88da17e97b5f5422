"""PFC headroom equals SONiC's Mellanox plug-in (sonic-swss cfgmgr/buffer_headroom_mellanox.lua @e6b0c5b5).

Three oracles, none of them :mod:`fabric.headroom` itself:

- ``PLUGIN_*`` tables: xoff/xon/size that the real plug-in returned, run in Lua 5.1 (lupa) with a mocked
  redis holding SONiC's ASIC_TABLE (sonic-buildimage platform/mellanox/asic_table.j2) and
  LOSSLESS_TRAFFIC_PATTERN (mtu 1024, small packets 50 %, buffers_config.j2), port MTU 9100, no gearbox;
- :func:`plugin`, a line-by-line transcription of the plug-in written for this test (its variable
  names, its order of operations, its inputs as the strings SONiC passes), checked against the tables
  and then against our function on random inputs (hypothesis);
- two cases worked by hand in comments.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.builders import clos
from fabric.cc import CcOptions, plan_cc
from fabric.errors import ConfigError, InfeasibleError
from fabric.headroom import (
    SHP_PRIVATE_HEADROOM_BYTES,
    SONIC_ASIC_TABLE,
    SWITCH_MODELS,
    asic_model,
    check_buffer,
    port_lanes,
    shared_headroom_pool_bytes,
    sonic_headroom,
)

ASIC_KEY = {"spectrum": "MELLANOX-SPECTRUM", **{f"spectrum-{n}": f"MELLANOX-SPECTRUM-{n}" for n in range(2, 7)}}
GENERATION = {"spectrum": 1, **{f"spectrum-{n}": n for n in range(2, 7)}}
# sonic-buildimage platform/mellanox/asic_table.j2: cell_size, pipeline_latency, mac_phy_delay, peer_response_time
ASIC_FIELDS = {"spectrum": ("96", "19", "0.8", "3.8"), "spectrum-2": ("144", "19", "0.8", "3.8"),
               "spectrum-3": ("144", "19", "0.8", "3.8"), "spectrum-4": ("192", "19", "0.8", "3.8"),
               "spectrum-5": ("192", "19", "0.8", "3.8"), "spectrum-6": ("256", "42", "0.8", "3.8")}


def plugin(speed: str, cable: str, port_mtu: str, gearbox: str, lanes: str, *, asic: str = "spectrum-2",
           mtu: str = "1024", small_packet_percentage: str = "50", over_subscribe_ratio: str | None = None
           ) -> tuple[int, int, int]:
    """(xon, xoff, size) of buffer_headroom_mellanox.lua, transcribed statement by statement."""
    pause_quanta_per_speed = {800000: 905, 400000: 905, 200000: 453, 100000: 394, 50000: 147, 40000: 118,
                              25000: 80, 10000: 67, 1000: 2, 100: 1}
    port_speed = float(speed)
    cable_length = float(cable[:-1])
    port_mtu_ = float(port_mtu)
    gearbox_delay = float(gearbox) if gearbox else 0.0     # tonumber("") is nil -> 0
    is_8lane = lanes == "8"
    pause_quanta = pause_quanta_per_speed.get(port_speed)
    key = ASIC_KEY[asic]
    is_spectrum6 = key[-1] == "6"
    cell_size_s, pipeline_s, mac_phy_s, peer_s = ASIC_FIELDS[asic]
    cell_size = float(cell_size_s)
    pipeline_latency = float(pipeline_s) * 1024
    mac_phy_delay = float(mac_phy_s) * 1024
    peer_response_time = float(peer_s) * 1024 if pause_quanta is None else 0.0
    kb_on_tile = port_speed / 1000 * 120 / 8 if key[-1] in ("4", "5") else 0
    lossless_mtu = float(mtu)
    small_packet_percentage_ = float(small_packet_percentage)
    ratio = None if over_subscribe_ratio is None else float(over_subscribe_ratio)
    shp_enabled = ratio is not None and ratio != 0
    minimal_packet_size = 64
    if is_8lane:
        pipeline_latency = pipeline_latency * 2
        speed_overhead = port_mtu_
    else:
        speed_overhead = 0
    if cell_size > 2 * minimal_packet_size:
        worst_case_factor = cell_size / minimal_packet_size
    else:
        worst_case_factor = (2 * cell_size) / (1 + cell_size)
    worst_case_factor = math.ceil(worst_case_factor)
    by_byte = 100 * minimal_packet_size / ((small_packet_percentage_ * minimal_packet_size
                                            + (100 - small_packet_percentage_) * lossless_mtu) / 100)
    cell_occupancy = (100 - by_byte + by_byte * worst_case_factor) / 100
    bytes_on_gearbox = 0 if gearbox_delay == 0 else port_speed * gearbox_delay / (8 * 1024)
    if pause_quanta is not None:
        peer_response_time = pause_quanta * 512 / 8
    bytes_on_cable = 2 * cable_length * port_speed * 1000000000 / 198000000 / (8 * 1000)
    propagation_delay = (port_mtu_ + bytes_on_cable + 2 * bytes_on_gearbox + mac_phy_delay + peer_response_time
                         + kb_on_tile)
    xoff_value = lossless_mtu + propagation_delay * cell_occupancy
    xoff_value = math.ceil(xoff_value / 1024) * 1024
    if is_spectrum6:
        xoff_value = xoff_value + 18 * 1024
    if not shp_enabled and small_packet_percentage_ != 100:
        full = math.ceil((lossless_mtu + propagation_delay * worst_case_factor) / 1024) * 1024
        if xoff_value + 2 * 1024 < full:
            xoff_value = xoff_value + 2 * 1024
    xon_value = math.ceil(pipeline_latency / 1024) * 1024
    headroom_size = xon_value if shp_enabled else xoff_value + xon_value + speed_overhead
    headroom_size = math.ceil(headroom_size / 1024) * 1024
    return math.ceil(xon_value), math.ceil(xoff_value), math.ceil(headroom_size)


def ours(mbps: int, cable_m: float, lanes: int, asic: str = "spectrum-2", **kw) -> tuple[int, int, int]:
    model = asic_model(asic, 1, generation=GENERATION[asic], lane_gbps=50.0, gearbox_delay_ns=kw.pop("gearbox", 0.0))
    h = sonic_headroom(mbps / 1000, cable_m, model, lanes=lanes, **kw)
    return h.xon_bytes, h.xoff_bytes, h.headroom_bytes


# ------------------------------------------------------------- the real plug-in's answers
#: Spectrum-2, defaults: {speed Mb/s: [(cable m, xoff, size 4 lanes, size 8 lanes)]}; xon is 19,456 B on
#: 4 lanes and 38,912 B on 8 (pipeline 19 KiB, doubled). Every speed of the plug-in's pause-quanta table.
PLUGIN_SPECTRUM2: dict[int, list[tuple[int, int, int, int]]] = {
    100: [(1, 16384, 35840, 64512), (3, 16384, 35840, 64512), (5, 16384, 35840, 64512), (10, 16384, 35840, 64512), (20, 16384, 35840, 64512), (40, 16384, 35840, 64512), (100, 16384, 35840, 64512), (150, 16384, 35840, 64512), (200, 16384, 35840, 64512), (300, 16384, 35840, 64512)],
    1000: [(1, 16384, 35840, 64512), (3, 16384, 35840, 64512), (5, 16384, 35840, 64512), (10, 16384, 35840, 64512), (20, 16384, 35840, 64512), (40, 16384, 35840, 64512), (100, 16384, 35840, 64512), (150, 16384, 35840, 64512), (200, 16384, 35840, 64512), (300, 16384, 35840, 64512)],
    10000: [(1, 21504, 40960, 69632), (3, 21504, 40960, 69632), (5, 21504, 40960, 69632), (10, 21504, 40960, 69632), (20, 21504, 40960, 69632), (40, 21504, 40960, 69632), (100, 22528, 41984, 70656), (150, 23552, 43008, 71680), (200, 24576, 44032, 72704), (300, 25600, 45056, 73728)],
    25000: [(1, 22528, 41984, 70656), (3, 22528, 41984, 70656), (5, 22528, 41984, 70656), (10, 22528, 41984, 70656), (20, 22528, 41984, 70656), (40, 23552, 43008, 71680), (100, 25600, 45056, 73728), (150, 27648, 47104, 75776), (200, 29696, 49152, 77824), (300, 33792, 53248, 81920)],
    40000: [(1, 25600, 45056, 73728), (3, 25600, 45056, 73728), (5, 25600, 45056, 73728), (10, 25600, 45056, 73728), (20, 26624, 46080, 74752), (40, 27648, 47104, 75776), (100, 31744, 51200, 79872), (150, 34816, 54272, 82944), (200, 37888, 57344, 86016), (300, 44032, 63488, 92160)],
    50000: [(1, 27648, 47104, 75776), (3, 27648, 47104, 75776), (5, 27648, 47104, 75776), (10, 28672, 48128, 76800), (20, 28672, 48128, 76800), (40, 30720, 50176, 78848), (100, 34816, 54272, 82944), (150, 38912, 58368, 87040), (200, 43008, 62464, 91136), (300, 51200, 70656, 99328)],
    100000: [(1, 47104, 66560, 95232), (3, 47104, 66560, 95232), (5, 48128, 67584, 96256), (10, 48128, 67584, 96256), (20, 50176, 69632, 98304), (40, 53248, 72704, 101376), (100, 62464, 81920, 110592), (150, 70656, 90112, 118784), (200, 77824, 97280, 125952), (300, 94208, 113664, 142336)],
    200000: [(1, 52224, 71680, 100352), (3, 52224, 71680, 100352), (5, 53248, 72704, 101376), (10, 54272, 73728, 102400), (20, 58368, 77824, 106496), (40, 64512, 83968, 112640), (100, 82944, 102400, 131072), (150, 98304, 117760, 146432), (200, 113664, 133120, 161792), (300, 145408, 164864, 193536)],
    400000: [(1, 88064, 107520, 136192), (3, 89088, 108544, 137216), (5, 90112, 109568, 138240), (10, 93184, 112640, 141312), (20, 100352, 119808, 148480), (40, 112640, 132096, 160768), (100, 149504, 168960, 197632), (150, 181248, 200704, 229376), (200, 211968, 231424, 260096), (300, 274432, 293888, 322560)],
    800000: [(1, 89088, 108544, 137216), (3, 91136, 110592, 139264), (5, 93184, 112640, 141312), (10, 100352, 119808, 148480), (20, 112640, 132096, 160768), (40, 137216, 156672, 185344), (100, 211968, 231424, 260096), (150, 274432, 293888, 322560), (200, 336896, 356352, 385024), (300, 461824, 481280, 509952)],
}
#: small packets 100 % / 0 %, 4 lanes: (speed, cable, xoff, size)
PLUGIN_SMALL_100 = [(25000, 1, 47104, 66560), (25000, 40, 50176, 69632), (25000, 300, 74752, 94208),
                    (100000, 1, 107520, 126976), (100000, 40, 121856, 141312), (100000, 300, 220160, 239616),
                    (400000, 1, 206848, 226304), (400000, 40, 265216, 284672), (400000, 300, 659456, 678912)]
PLUGIN_SMALL_0 = [(25000, 1, 20480, 39936), (25000, 40, 21504, 40960), (25000, 300, 30720, 50176),
                  (100000, 1, 43008, 62464), (100000, 40, 49152, 68608), (100000, 300, 86016, 105472),
                  (400000, 1, 80896, 100352), (400000, 40, 102400, 121856), (400000, 300, 249856, 269312)]
#: shared headroom pool (over_subscribe_ratio 2): (speed, cable, lanes, xoff, xon, size)
PLUGIN_SHP = [(100000, 5, 4, 46080, 19456, 19456), (100000, 5, 8, 46080, 38912, 38912),
              (100000, 300, 4, 92160, 19456, 19456), (100000, 300, 8, 92160, 38912, 38912),
              (400000, 5, 4, 88064, 19456, 19456), (400000, 5, 8, 88064, 38912, 38912),
              (400000, 300, 4, 272384, 19456, 19456), (400000, 300, 8, 272384, 38912, 38912)]
#: every ASIC of the table, 8 lanes: (asic, speed, cable, xoff, xon, size)
PLUGIN_ASICS = [
    ("spectrum", 400000, 5, 81920, 38912, 130048), ("spectrum", 400000, 300, 248832, 38912, 296960),
    ("spectrum", 800000, 5, 84992, 38912, 133120), ("spectrum", 800000, 300, 417792, 38912, 465920),
    ("spectrum-2", 400000, 5, 90112, 38912, 138240), ("spectrum-2", 400000, 300, 274432, 38912, 322560),
    ("spectrum-2", 800000, 5, 93184, 38912, 141312), ("spectrum-2", 800000, 300, 461824, 38912, 509952),
    ("spectrum-3", 400000, 5, 90112, 38912, 138240), ("spectrum-3", 400000, 300, 274432, 38912, 322560),
    ("spectrum-3", 800000, 5, 93184, 38912, 141312), ("spectrum-3", 800000, 300, 461824, 38912, 509952),
    ("spectrum-4", 400000, 5, 98304, 38912, 146432), ("spectrum-4", 400000, 300, 281600, 38912, 329728),
    ("spectrum-4", 800000, 5, 108544, 38912, 156672), ("spectrum-4", 800000, 300, 476160, 38912, 524288),
    ("spectrum-5", 400000, 5, 98304, 38912, 146432), ("spectrum-5", 400000, 300, 281600, 38912, 329728),
    ("spectrum-5", 800000, 5, 108544, 38912, 156672), ("spectrum-5", 800000, 300, 476160, 38912, 524288),
    ("spectrum-6", 400000, 5, 116736, 86016, 211968), ("spectrum-6", 400000, 300, 318464, 86016, 413696),
    ("spectrum-6", 800000, 5, 120832, 86016, 216064), ("spectrum-6", 800000, 300, 524288, 86016, 619520),
]
#: speeds without pause quanta (peer response = ASIC table's 3.8 KiB), 8 lanes: (speed, cable, xoff, xon, size)
PLUGIN_NO_QUANTA = [(1600000, 5, 32768, 38912, 80896), (1600000, 300, 769024, 38912, 817152),
                    (2500, 5, 20480, 38912, 68608), (2500, 300, 21504, 38912, 69632)]
#: gearbox delay 9.765 (the PERIPHERAL_TABLE example), 4 lanes, 5 m: (speed, xoff, xon, size)
PLUGIN_GEARBOX = [(100000, 48128, 19456, 67584), (400000, 92160, 19456, 111616)]

MAIN_ROWS = [(mbps, *row) for mbps, rows in PLUGIN_SPECTRUM2.items() for row in rows]


@pytest.mark.parametrize("mbps, cable, xoff, size4, size8", MAIN_ROWS)
def test_every_table_speed_and_cable_equals_the_plugin(mbps, cable, xoff, size4, size8):
    assert ours(mbps, cable, 4) == (19456, xoff, size4)
    assert ours(mbps, cable, 8) == (38912, xoff, size8)
    assert plugin(str(mbps), f"{cable}m", "9100", "", "4") == (19456, xoff, size4)
    assert plugin(str(mbps), f"{cable}m", "9100", "", "8") == (38912, xoff, size8)


def test_table_covers_every_pause_quanta_speed_and_1_to_300_m():
    from fabric.headroom import PAUSE_QUANTA_BY_MBPS

    assert set(PLUGIN_SPECTRUM2) == set(PAUSE_QUANTA_BY_MBPS)
    assert {c for rows in PLUGIN_SPECTRUM2.values() for c, *_ in rows} >= {1, 5, 40, 100, 300}


@pytest.mark.parametrize("small, rows", [("100", PLUGIN_SMALL_100), ("0", PLUGIN_SMALL_0)])
def test_small_packet_share_equals_the_plugin(small, rows):
    for mbps, cable, xoff, size in rows:
        assert ours(mbps, cable, 4, small_packet_percent=float(small)) == (19456, xoff, size)
        assert plugin(str(mbps), f"{cable}m", "9100", "", "4", small_packet_percentage=small) == (19456, xoff, size)


def test_shared_headroom_pool_equals_the_plugin():
    for mbps, cable, lanes, xoff, xon, size in PLUGIN_SHP:
        assert ours(mbps, cable, lanes, over_subscribe_ratio=2.0) == (xon, xoff, size)
        assert plugin(str(mbps), f"{cable}m", "9100", "", str(lanes), over_subscribe_ratio="2") == (xon, xoff, size)
        # without the pool the same port carries xoff + 2 KiB compensation in its own size
        _xon, xoff_private, size_private = ours(mbps, cable, lanes)
        assert xoff_private == xoff + 2048 and size_private > size


def test_every_asic_generation_equals_the_plugin():
    for asic, mbps, cable, xoff, xon, size in PLUGIN_ASICS:
        assert ours(mbps, cable, 8, asic) == (xon, xoff, size), asic
        assert plugin(str(mbps), f"{cable}m", "9100", "", "8", asic=asic) == (xon, xoff, size), asic


def test_speeds_without_pause_quanta_and_gearbox_equal_the_plugin():
    for mbps, cable, xoff, xon, size in PLUGIN_NO_QUANTA:
        assert ours(mbps, cable, 8) == (xon, xoff, size)
        assert sonic_headroom(mbps / 1000, cable).pause_quanta == 0
    for mbps, xoff, xon, size in PLUGIN_GEARBOX:
        assert ours(mbps, 5, 4, gearbox=9.765) == (xon, xoff, size)
        assert plugin(str(mbps), "5m", "9100", "9.765", "4") == (xon, xoff, size)


# ------------------------------------------------------------- by hand
def test_100g_5m_by_hand():
    # peer = 394·512/8 = 25216; cable = 2·5·100000·1e9/198e6/8000 = 631.31; mac_phy = 0.8·1024 = 819.2
    # propagation = 9100 + 631.31 + 819.2 + 25216 = 35766.51
    # small packets "by byte" b = 100·64 / ((50·64 + 50·1024)/100) = 11.765 % (the plug-in's expression: a
    # byte share would be 50·64/544 = 5.88 %); w = ceil(144/64) = 3
    # occupancy = (100 − 11.765 + 3·11.765)/100 = 1.23529
    # xoff = ceil_1K(1024 + 35766.51·1.23529 = 45205.1) = 46080; worst = ceil_1K(1024 + 3·35766.51) = 108544;
    # 46080 + 2048 < 108544 -> xoff 48128; xon = ceil_1K(19·1024) = 19456; size = 48128 + 19456 = 67584
    h = sonic_headroom(100, 5)
    assert h.lanes == 2 and not h.eight_lane      # 100G = 2 x 50G lanes on Spectrum-2 (assumption)
    assert h.pause_quanta == 394 and h.peer_response_bytes == 25216
    assert h.cable_bytes == pytest.approx(631.313, abs=1e-3)
    assert h.propagation_bytes == pytest.approx(35766.513, abs=1e-3)
    assert h.cell_occupancy == pytest.approx(1.235294, abs=1e-6) and h.worst_case_factor == 3
    assert h.compensated
    assert (h.xoff_bytes, h.xon_bytes, h.headroom_bytes) == (48128, 19456, 67584)


def test_400g_40m_8_lanes_by_hand():
    # peer = 905·512/8 = 57920; cable = 2·40·400000·1e9/198e6/8000 = 20202.02
    # propagation = 9100 + 20202.02 + 819.2 + 57920 = 88041.22
    # xoff = ceil_1K(1024 + 88041.22·1.23529 = 109780.9) = 110592, + 2048 compensation = 112640
    # 8 lanes: xon = ceil_1K(2·19456) = 38912; size = ceil_1K(112640 + 38912 + 9100 = 160652) = 160768
    h = sonic_headroom(400, 40)
    assert h.lanes == 8 and h.eight_lane
    assert (h.xoff_bytes, h.xon_bytes, h.headroom_bytes) == (112640, 38912, 160768)
    four = sonic_headroom(400, 40, lanes=4)
    assert (four.xoff_bytes, four.xon_bytes, four.headroom_bytes) == (112640, 19456, 132096)


def test_plugin_is_not_monotone_in_cable_length_at_99_percent_small_packets():
    # The real plug-in (run in Lua) gives xoff 30720 at 36.8 m and 29696 at 36.9 m for 1G, 99 % small
    # packets: at 36.9 m the rounded gap to the worst case is no longer above 2 KiB, so the compensation
    # drops out. We reproduce that, not a smoothed version.
    a = sonic_headroom(1, 36.8, small_packet_percent=99)
    b = sonic_headroom(1, 36.9, small_packet_percent=99)
    assert (a.xoff_bytes, a.headroom_bytes, a.compensated) == (30720, 50176, True)
    assert (b.xoff_bytes, b.headroom_bytes, b.compensated) == (29696, 49152, False)


# ------------------------------------------------------------- models, lanes, bad input
def test_switch_models_are_the_sonic_asic_table():
    for name, m in SWITCH_MODELS.items():
        cell, pipeline, mac_phy, peer = SONIC_ASIC_TABLE[name]
        assert (str(cell), pipeline, mac_phy, peer) == ASIC_FIELDS[name]
        assert m.cell_bytes == cell and m.pipeline_latency_bytes == float(pipeline) * 1024
        assert m.mac_phy_bytes == float(mac_phy) * 1024 and m.peer_response_bytes == float(peer) * 1024
        assert m.generation == GENERATION[name]
    # SONiC's buffermgrd: 400G ports of SN4000 (Spectrum-3) and 800G ports of SN5000 (Spectrum-4) are 8-lane
    assert port_lanes(400, SWITCH_MODELS["spectrum-3"]) == 8 and port_lanes(400, SWITCH_MODELS["spectrum-4"]) == 4
    assert port_lanes(800, SWITCH_MODELS["spectrum-4"]) == 8 and port_lanes(100, SWITCH_MODELS["spectrum"]) == 4


@pytest.mark.parametrize("kw, match", [
    ({"speed_gbps": 0}, "port speed"), ({"speed_gbps": float("nan")}, "port speed"),
    ({"cable_m": -1}, "cable length"), ({"cable_m": float("inf")}, "cable length"),
    ({"small_packet_percent": 101}, "small-packet"), ({"small_packet_percent": -0.5}, "small-packet"),
    ({"lossless_mtu_bytes": 0}, "lossless MTU"), ({"port_mtu_bytes": -9100}, "port MTU"),
    ({"over_subscribe_ratio": -1}, "over-subscribe"), ({"lanes": 0}, "lane count"), ({"lanes": 2.5}, "lane count"),
    ({"model": "tomahawk"}, "unknown switch model"),
])
def test_bad_input_is_one_config_error(kw, match):
    args = {"speed_gbps": 100, "cable_m": 5, **kw}
    with pytest.raises(ConfigError, match=match):
        sonic_headroom(args.pop("speed_gbps"), args.pop("cable_m"), **args)


# ------------------------------------------------------------- buffer check with a shared headroom pool
def test_shared_headroom_pool_size_follows_buffer_pool_plugin():
    # buffer_pool_mellanox.lua: pool = ceil((Σ xoff − 10 KiB · lossless ports) / ratio), 655360 when 0
    assert shared_headroom_pool_bytes(3 * 2 * 88064, 3, 2.0) == math.ceil((3 * 2 * 88064 - 3 * 10240) / 2)
    assert shared_headroom_pool_bytes(1000, 3, 1.0) == 655360
    assert shared_headroom_pool_bytes(10**6, 3, 0) == 0

    h = sonic_headroom(400, 5, lanes=4, over_subscribe_ratio=2.0)
    key = ("spectrum-2", 400.0, 5.0, True)
    ports = {f"s1:eth{i}": key for i in range(3)} | {"s1:eth9": ("spectrum-2", 1600.0, 1e6, False)}
    rows = check_buffer(ports, {key: h}, SWITCH_MODELS["spectrum-2"], 2, 0.25, over_subscribe_ratio=2.0)
    pool = math.ceil((3 * 2 * h.xoff_bytes - 3 * SHP_PRIVATE_HEADROOM_BYTES) / 2)
    assert rows == [{"switch": "s1", "headroom_bytes": 3 * 2 * 19456 + 3 * 10240 + pool,
                     "buffer_bytes": 42 * 2**20, "shared_bytes": 42 * 2**20 - (3 * 2 * 19456 + 3 * 10240 + pool),
                     "lossless_ports": 3}]


def test_plan_cc_with_shared_headroom_pool_reserves_less():
    fab = clos(1, 1, 4, host_gbps=400, uplink_gbps=400)
    private = plan_cc(fab)
    shp = plan_cc(fab, CcOptions(over_subscribe_ratio=2))
    for g in shp["port_groups"]:
        assert g["pfc"]["headroom_bytes"] == g["pfc"]["xon_bytes"] == 38912      # 400G on 50G lanes: 8 lanes
    assert [g["pfc"]["xoff_bytes"] + 2048 for g in shp["port_groups"]] == \
        [g["pfc"]["xoff_bytes"] for g in private["port_groups"]]
    for a, b in zip(private["buffer"], shp["buffer"], strict=True):
        assert b["headroom_bytes"] < a["headroom_bytes"]
    # a buffer the private headroom does not fit can fit with the pool
    with pytest.raises(InfeasibleError, match="leaf1 needs"):
        plan_cc(fab, CcOptions(switch_buffer_bytes=3 * 2**19))
    assert plan_cc(fab, CcOptions(switch_buffer_bytes=3 * 2**19, over_subscribe_ratio=2))["buffer"]


# ------------------------------------------------------------- properties (hypothesis)
ASICS = st.sampled_from(sorted(ASIC_FIELDS))
MBPS = st.one_of(st.sampled_from([100, 1000, 10000, 25000, 40000, 50000, 100000, 200000, 400000, 800000,
                                  1600000, 2500, 5000]), st.integers(min_value=1, max_value=3_200_000))
CABLES = st.floats(min_value=0.0, max_value=2000.0, allow_nan=False)
SMALL = st.one_of(st.sampled_from([0.0, 50.0, 100.0]), st.floats(min_value=0.0, max_value=100.0))


@settings(max_examples=300, deadline=None)
@given(asic=ASICS, mbps=MBPS, cable=CABLES, small=SMALL, lanes=st.integers(min_value=1, max_value=8),
       mtu=st.integers(min_value=64, max_value=9216), port_mtu=st.integers(min_value=1500, max_value=9216),
       gearbox=st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=100.0)),
       ratio=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0]), st.floats(min_value=0.1, max_value=8.0)))
def test_equals_the_transcription_everywhere(asic, mbps, cable, small, lanes, mtu, port_mtu, gearbox, ratio):
    expect = plugin(str(mbps), f"{cable!r}m", str(port_mtu), repr(gearbox) if gearbox else "", str(lanes),
                    asic=asic, mtu=str(mtu), small_packet_percentage=repr(small),
                    over_subscribe_ratio=None if ratio is None else repr(ratio))
    got = ours(mbps, cable, lanes, asic, gearbox=gearbox, small_packet_percent=small, lossless_mtu_bytes=mtu,
               port_mtu_bytes=port_mtu, over_subscribe_ratio=ratio or 0.0)
    assert got == expect
    xon, xoff, size = got
    assert xon % 1024 == xoff % 1024 == size % 1024 == 0


@settings(max_examples=200, deadline=None)
@given(asic=ASICS, mbps=MBPS, a=CABLES, b=CABLES, small=st.sampled_from([0.0, 50.0, 100.0]),
       lanes=st.sampled_from([4, 8]), shp=st.booleans())
def test_monotone_in_cable_length_for_sonic_traffic_patterns(asic, mbps, a, b, small, lanes, shp):
    lo, hi = sorted((a, b))
    kw = {"small_packet_percent": small, "over_subscribe_ratio": 2.0 if shp else 0.0}
    x_lo, x_hi = ours(mbps, lo, lanes, asic, **kw), ours(mbps, hi, lanes, asic, **kw)
    assert x_lo[0] == x_hi[0]                                   # xon does not depend on the cable
    assert x_lo[1] <= x_hi[1] and x_lo[2] <= x_hi[2]


@settings(max_examples=150, deadline=None)
@given(mbps=MBPS, cable=CABLES, small=SMALL)
def test_xoff_bounds_and_lane_and_pool_relations(mbps, cable, small):
    h = sonic_headroom(mbps / 1000, cable, small_packet_percent=small, lanes=4)
    raw = 1024 + h.propagation_bytes * h.cell_occupancy
    assert raw <= h.xoff_bytes < raw + 1024 + 2048
    assert h.xoff_bytes <= math.ceil((1024 + h.propagation_bytes * h.worst_case_factor) / 1024) * 1024
    eight = sonic_headroom(mbps / 1000, cable, small_packet_percent=small, lanes=8)
    assert eight.xoff_bytes == h.xoff_bytes and eight.xon_bytes == 2 * h.xon_bytes
    assert eight.headroom_bytes - h.headroom_bytes >= h.xon_bytes + 9100 - 1023
    pool = sonic_headroom(mbps / 1000, cable, small_packet_percent=small, lanes=4, over_subscribe_ratio=1.0)
    assert pool.headroom_bytes == pool.xon_bytes == h.xon_bytes
    assert pool.xoff_bytes == h.xoff_bytes - (2048 if h.compensated else 0)


# ------------------------------------------------------------- CLI
def test_cli_plan_cc_over_subscribe_ratio(cli):
    import json

    r = cli(["plan", "cc", "example", "--over-subscribe-ratio", "2", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    lossless = [g for g in doc["port_groups"] if g["lossless"]]
    assert lossless and all(g["pfc"]["headroom_bytes"] == g["pfc"]["xon_bytes"] for g in lossless)
    off = json.loads(cli(["plan", "cc", "example", "--json"]).output)
    assert max(b["headroom_bytes"] for b in doc["buffer"]) < max(b["headroom_bytes"] for b in off["buffer"])
    bad = cli(["plan", "cc", "example", "--over-subscribe-ratio", "-1"])
    assert bad.exit_code == 2 and "--over-subscribe-ratio" in bad.output and "Traceback" not in bad.output
