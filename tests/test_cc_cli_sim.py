"""``fabricctl sim cc``, ``sim cc-tune`` and the demo stage."""

from __future__ import annotations

import json

from rich.console import Console

from fabric.builders import example_two_site
from fabric.demo import DemoContext


def test_sim_cc_json_keys_and_plot(cli, tmp_path):
    r = cli(["sim", "cc", "incast", "--senders", "8", "--flow-kb", "500", "--out-dir", tmp_path, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{"):])
    for key in ("drops", "pfc_pause_frames", "pfc_paused_s", "fct_slowdown", "jain", "throughput_gbps", "bottleneck"):
        assert key in doc
    assert set(doc["fct_slowdown"]) == {"p50", "p95", "p99"}
    assert doc["drops"] == 0 and doc["completed"] == 8
    ser = doc["series"]
    assert len(ser["flow_gbps"]) == 8 and all(len(x) == len(ser["t_us"]) for x in ser["flow_gbps"])
    assert len(ser["bottleneck_queue_bytes"]) == len(ser["t_us"]) > 10
    assert max(ser["bottleneck_queue_bytes"]) <= doc["bottleneck"]["max_queue_bytes"]
    # delivered bytes from the series add up to no more than what was sent
    dt = [b - a for a, b in zip([0.0] + ser["t_us"][:-1], ser["t_us"], strict=True)]
    assert sum(g * d * 1e3 / 8 for row in ser["flow_gbps"] for g, d in zip(row, dt, strict=True)) <= 8 * 500e3 + 1
    assert (tmp_path / "cc-incast-dcqcn.png").read_bytes()[:4] == b"\x89PNG"


def test_sim_cc_no_pfc_reports_drops_and_exit_0(cli):
    r = cli(["sim", "cc", "incast", "--cc", "none", "--no-pfc", "--json"])
    assert r.exit_code == 0
    doc = json.loads(r.output[r.output.index("{"):])
    assert doc["drops"] > 0 and doc["pfc"] is False


def test_sim_cc_uses_plan_values(cli, tmp_path):
    plan = tmp_path / "plan.json"
    assert cli(["plan", "cc", "example", "--profile", "paper", "-o", plan]).exit_code == 0
    r = cli(["sim", "cc", "incast", "--senders", "4", "--plan", plan, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output[r.output.index("{"):])["profile"] == "paper"


def test_sim_cc_bad_input_exit_2(cli, tmp_path):
    assert cli(["sim", "cc", "storm"]).exit_code == 2
    assert cli(["sim", "cc", "incast", "--cc", "reno"]).exit_code == 2
    empty = tmp_path / "p.json"
    assert cli(["plan", "cc", "example", "-o", empty]).exit_code == 0
    data = json.loads(empty.read_text())
    del data["sections"]["cc"]
    empty.write_text(json.dumps(data))
    r = cli(["sim", "cc", "incast", "--plan", empty])
    assert r.exit_code == 2 and "no 'cc' section" in r.output


def test_cc_tune_reports_choice_with_evidence(cli):
    r = cli(["sim", "cc-tune", "incast", "--senders", "8", "--flow-kb", "2000", "--verify", "2", "--json"])
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.output[r.output.index("{"):])
    assert doc["fluid_sweep"]["sets"] > 100
    assert set(doc["chosen"]) == {"kmin_bytes", "kmax_bytes", "pmax", "rate_increase_timer_us"}
    assert doc["evidence"]["packet"]["drops"] == 0
    assert len(doc["verified"]) == 2
    # the chosen set is the best p99 among the candidates that were simulated (including the baseline)
    p99s = [c["packet"]["fct_slowdown"]["p99"] for c in doc["verified"]] + [doc["baseline"]["packet"]["fct_slowdown"]["p99"]]
    assert doc["evidence"]["packet"]["fct_slowdown"]["p99"] == min(p99s)
    assert (r.exit_code == 0) == doc["met"]


def test_demo_stage(tmp_path):
    from fabric.demo import s30_cc

    ctx = DemoContext(out_dir=tmp_path, console=Console(quiet=True))
    ctx.fabric = example_two_site()
    s30_cc.run(ctx)
    assert ctx.plan.cc is not None and ctx.results["cc"]["incast_drops"] == 0
    assert (tmp_path / "cc-incast.png").exists()


def test_cc_tune_rejects_other_algorithms(cli):
    r = cli(["sim", "cc-tune", "incast", "--cc", "hpcc"])
    assert r.exit_code == 2 and "--cc" in r.output
