"""End-to-end: the demo runs and writes its artefacts."""

from fabric.plan import Plan


def test_demo_writes_artefacts(cli, tmp_path):
    out = tmp_path / "out"
    r = cli(["demo", "--out-dir", out])
    assert r.exit_code == 0, r.output
    assert (out / "topology.yaml").stat().st_size > 1000
    assert (out / "topology.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plan = Plan.load(out / "plan.json")
    assert plan.fabric == "example-two-site"


def test_demo_json_is_clean(cli, tmp_path):
    import json

    r = cli(["demo", "--out-dir", tmp_path, "--json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert "topology" in doc["results"] and str(tmp_path / "plan.json") in doc["artefacts"]
