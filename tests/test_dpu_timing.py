"""Timing model against queueing theory (M/D/1, D/D/1 below and above capacity) and the verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from dpu.spec import builtin_specs, load_spec, with_params
from dpu.timing import S_DROP_ENG, S_WAIT_ENG, Traffic, check, lindley, profile, simulate
from fabric.errors import ConfigError

SERVICE_NS = 100.0


def one_engine(service_ns=SERVICE_NS, queue=0):
    """One run-to-completion engine with ``service_ns`` per packet; every other stage ~free."""
    return with_params(builtin_specs()["ref-400g"], engines=1, engine_pipelined=False, engine_clock_ghz=1.0,
                       parse_cycles=service_ns, pipeline_stages=0, table_lookups=0, cycles_per_byte=0.0,
                       exception_fraction=0.0, crypto_fraction=0.0, engine_queue_packets=queue,
                       line_rate_gbps=1e9, pcie_gt_s=1e9, buffer_bytes=2**62)


def trace(gaps_ns, size=64):
    n = len(gaps_ns)
    t0 = np.concatenate([[0.0], np.cumsum(gaps_ns[:-1])])
    return Traffic("trace", t0_ns=t0, length=np.full(n, size, np.int64), flow_hash=np.zeros(n, np.uint64))


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait(rho):
    """Poisson arrivals, deterministic service: W_q = rho / (2 mu (1 - rho)) within 2 %."""
    n = 2_000_000
    rng = np.random.default_rng(7)
    gaps = rng.exponential(SERVICE_NS / rho, n)
    res = simulate(one_engine(), trace(gaps), None, n)
    wq = res.stats[S_WAIT_ENG] / n
    mu = 1 / SERVICE_NS
    want = rho / (2 * mu * (1 - rho))
    assert abs(wq - want) / want < 0.02, (wq, want)


def test_deterministic_below_capacity_never_queues():
    n = 100_000
    res = simulate(one_engine(), trace(np.full(n, SERVICE_NS * 1.2)), None, n)
    assert res.stats[S_WAIT_ENG] == 0
    lat = res.summary()["latency_us"]
    assert lat["p50"] == lat["p999"] and abs(lat["max"] - lat["mean"]) < 1e-9


def test_overload_grows_queue_linearly_and_drops_at_capacity():
    n, gap, svc = 10_000, 100.0, 125.0
    res = simulate(one_engine(svc), trace(np.full(n, gap)), None, n)
    # packet k waits k * (svc - gap): sum = (svc - gap) * n (n - 1) / 2
    assert res.stats[S_WAIT_ENG] == pytest.approx((svc - gap) * n * (n - 1) / 2, rel=1e-9)
    assert res.summary()["utilisation"]["engines"] > 1.0
    k = 64
    res = simulate(one_engine(svc, queue=k), trace(np.full(n, gap)), None, n)
    # accepted ~ the queue plus what the server finishes during the run: n * gap / svc + k
    accepted = n - res.stats[S_DROP_ENG]
    assert abs(accepted - (n * gap / svc + k)) <= 2


def test_lindley_matches_python_loop():
    rng = np.random.default_rng(1)
    a = np.cumsum(rng.exponential(1.0, 5000))
    s = rng.uniform(0.2, 1.6, 5000)
    w = [0.0]
    for i in range(1, 5000):
        w.append(max(0.0, w[-1] + s[i - 1] - (a[i] - a[i - 1])))
    assert np.allclose(lindley(a, s), w)


def test_unloaded_latency_is_the_sum_of_the_stages():
    spec = with_params(builtin_specs()["ref-400g"], exception_fraction=0.0)
    res = simulate(spec, profile("1500"), 0.05, 2000, poisson=False)
    L = 1500
    want_ns = (L * 8 / spec.line_rate_gbps + spec.mac_phy_latency_us * 1e3
               + spec.engine_total_cycles(L) / spec.engine_clock_ghz + spec.dma_ns(L) + spec.pcie_latency_us * 1e3)
    assert res.summary()["latency_us"]["max"] == pytest.approx(want_ns / 1e3, rel=1e-9)


@pytest.mark.parametrize("prof", ["64", "1500", "imix", "roce4k"])
def test_reference_spec_passes(prof):
    r = check(builtin_specs()["ref-400g"], profile(prof), 1.0, 100_000, search_packets=50_000)
    assert r["meets_400g"] and r["meets_30us"] and r["verdict"] == "pass", r["reason"]
    assert r["max_sustainable_gbps"] == 400.0 and r["dropped"] == 0
    assert r["throughput_gbps"] == pytest.approx(400.0, rel=0.01)


def test_failing_spec_names_the_saturated_stage():
    spec = builtin_specs()["arm-sw-gen4"]
    r = check(spec, profile("1500"), 1.0, 100_000, search_packets=50_000)
    assert not r["meets_400g"] and r["verdict"] == "fail"
    assert "pcie_dma saturates" in r["reason"]
    # analytic PCIe Gen4 x16 capacity for 1500 B frames bounds the searched figure
    cap = r["stage_capacity"]["pcie_dma"]["gbps"]
    assert r["max_sustainable_gbps"] <= cap + 1.0 and r["max_sustainable_gbps"] > 0.9 * cap
    r64 = check(spec, profile("64"), 1.0, 100_000, search_packets=50_000)
    assert "engines saturates" in r64["reason"]


def test_spec_files(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: mine\nbase: ref-400g\nparams:\n  engines: {value: 1, source: my lab}\n  pcie_lanes: 8\n")
    s = load_spec(str(f))
    assert s.name == "mine" and s.engines == 1 and s.pcie_lanes == 8 and s.sources["engines"] == "my lab"
    f.write_text("params:\n  enignes: 3\n")
    with pytest.raises(ConfigError, match=r"s\.yaml: params\.enignes: unknown parameter"):
        load_spec(str(f))
    f.write_text("params:\n  engines: 1.5\n")
    with pytest.raises(ConfigError, match="engines must be a int"):
        load_spec(str(f))
    with pytest.raises(ConfigError, match="no built-in spec or file"):
        load_spec("nope")
    for s in builtin_specs().values():
        assert all(a["source"] for a in s.assumptions()), s.name


def test_check_cli_exit_codes(cli):
    r = cli(["dpu", "check", "--profile", "1500", "--packets", "20000", "--json"])
    assert r.exit_code == 0, r.output
    import json

    doc = json.loads(r.output)
    for key in ("throughput_gbps", "mpps", "latency_us", "dropped", "max_sustainable_gbps", "meets_400g",
                "meets_30us"):
        assert key in doc
    assert set(doc["latency_us"]) >= {"p50", "p99", "p999", "max"}
    r = cli(["dpu", "check", "--spec", "arm-sw-gen4", "--profile", "1500", "--packets", "20000"])
    assert r.exit_code == 1
    r = cli(["dpu", "check", "--profile", "9000"])
    assert r.exit_code == 2


def test_pcap_profile_uses_sizes_gaps_and_flows(cli, tmp_path):
    from dpu.packets import PacketBatch, write_pcap
    from dpu.timing import pcap_traffic

    sizes = [64, 1500, 64, 594] * 25
    gaps_ns = 1000
    frames = []
    for k, L in enumerate(sizes):
        eth = bytes(12) + b"\x08\x00"
        ip = bytes([0x45, 0, (L - 14) >> 8, (L - 14) & 0xFF, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, k % 7, 10, 0, 1, 1])
        udp = (1000 + k % 5).to_bytes(2, "big") + (2000).to_bytes(2, "big") + bytes(4)
        frames.append((eth + ip + udp).ljust(L, b"\0"))
    write_pcap(tmp_path / "t.pcap", PacketBatch.from_bytes(frames, [k * gaps_ns for k in range(len(frames))]))
    tr = pcap_traffic(str(tmp_path / "t.pcap"))
    assert tr.length.tolist() == sizes and np.all(np.diff(tr.t0_ns) == gaps_ns)
    assert len(set(tr.flow_hash.tolist())) == 35  # 7 sources x 5 source ports
    spec = builtin_specs()["ref-400g"]
    res = simulate(spec, tr, None, len(sizes))
    # its own gaps: 100 packets of mean 555.5 B, one every 1 us
    assert res.summary()["offered_gbps"] == pytest.approx((np.mean(sizes) + 20) * 8 / gaps_ns, rel=0.02)
    res = simulate(spec, tr, 0.5, 10_000)
    assert res.summary()["offered_gbps"] == pytest.approx(200.0, rel=0.01)
    r = cli(["dpu", "check", "--profile", tmp_path / "t.pcap", "--packets", "5000", "--json"])
    assert r.exit_code == 0, r.output


def test_rss_one_flow_loads_one_engine():
    """All packets of a single flow hash to one engine: ref-400g then cannot carry 64 B at line rate."""
    spec = builtin_specs()["ref-400g"]
    many = check(spec, profile("64"), 1.0, 50_000, search_packets=50_000)
    one = check(spec, profile("64"), 1.0, 50_000, search_packets=50_000, flows=1)
    assert many["meets_400g"] and not one["meets_400g"]
    assert "engines saturates" in one["reason"]
    # one engine: 1 / (initiation_cycles / clock) packets per ns
    cap_mpps = spec.engine_clock_ghz / spec.initiation_cycles * 1e3
    assert one["max_sustainable_gbps"] == pytest.approx(cap_mpps * 84 * 8 / 1e3, rel=0.02)
