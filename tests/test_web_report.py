"""``fabricctl report``: one self-contained HTML file, opened in headless chromium; bad inputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time

import pytest

from fabric.io import load_fabric
from fabric.plan import Plan
from fabric.web import views

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory):
    from typer.testing import CliRunner

    from fabric.cli.main import app
    from optical.budget import PairSpec, budgets_section

    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "plan.json"
    r = CliRunner().invoke(app, ["plan", "wcmp", "example", "-o", str(path), "--no-png", "--json"])
    assert r.exit_code == 0, r.output
    fab = load_fabric("example")
    plan = Plan.load(path)
    plan.add(budgets_section(fab, [PairSpec("beijing-dci1", "shanghai-dci1"),
                                   PairSpec("beijing-dci1", "shanghai-dci2", "city")]), fabric=fab, created_unix=0.0)
    path.write_text(plan.to_json())
    return path


def _boot(html: str) -> dict:
    m = re.search(r"window\.FABRIC_BOOT = (\{.*?\});</script>", html, re.S)
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_report_is_one_self_contained_file_with_map_utilisation_and_budgets(cli, plan_file, tmp_path):
    out = tmp_path / "report.html"
    r = cli(["report", "example", "--plan", plan_file, "-o", out, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    html = out.read_text()
    assert doc["bytes"] == len(html.encode()) and doc["warnings"] == [] and doc["budgets_over"] == 1
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(?!data:)', html)   # nothing fetched
    data = _boot(html)["data"]
    fab = load_fabric("example")
    assert {n["id"] for n in data["map"]["nodes"]} == set(fab.graph.nodes)
    plan = Plan.load(plan_file)
    assert plan.wcmp is not None
    assert data["utilisation"]["wcmp"]["mlu"] == pytest.approx(max(plan.wcmp.mlu_wcmp, plan.wcmp.mlu_access))
    assert data["utilisation"]["ecmp"]["mlu"] == pytest.approx(max(plan.wcmp.mlu_ecmp, plan.wcmp.mlu_access))
    assert [p["verdict"] for p in data["budgets"]["paths"]] == ["ok", "over"]


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="no chromium/chromedriver (Debian: apt-get install chromium chromium-driver)")
def test_report_opens_in_chromium_without_a_service(cli, plan_file, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = tmp_path / "report.html"
    assert cli(["report", "example", "--plan", plan_file, "-o", out]).exit_code == 0
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="fabricctl-chromium-")
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    try:
        d.get(out.as_uri())
        for _ in range(100):
            if d.execute_script("return document.body.dataset.ready"):
                break
            time.sleep(0.05)
        assert d.execute_script("return document.body.dataset.ready") == "1"
        assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []
        assert d.execute_script("return document.querySelectorAll('#map circle.node').length") == 92
        over = d.execute_script("return Array.from(document.querySelectorAll('#budgets tr.over'))"
                                ".map(r => r.children[1].textContent)")
        assert over == ["shanghai-dci2"]
        data = _boot(out.read_text())["data"]
        lid = next(iter(data["utilisation"]["wcmp"]["links"]))
        shown = d.execute_script(f"return document.querySelector('#map line[data-id=\"{lid}\"]').dataset.util")
        assert float(shown) == pytest.approx(data["utilisation"]["wcmp"]["links"][lid], abs=1e-6)
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("args, words", [
    (["example", "--plan", "missing.json"], "missing.json: no such file"),
    (["zoo:Abilene", "--plan", "PLAN"], "the plan is for fabric"),
    (["example", "--plan", "PLAN", "--level", "x"], "--level: must be one of"),
    (["example", "--plan", "PLAN", "--demand", "nonsense"], "not a demand kind"),
    (["example", "--plan", "PLAN", "--rate-gbps", "0"], "--rate-gbps"),
])
def test_report_bad_inputs_are_one_line_exit_2_and_nothing_written(cli, plan_file, tmp_path, args, words):
    out = tmp_path / "r.html"
    r = cli(["report", *[str(plan_file) if a == "PLAN" else a for a in args], "-o", out])
    assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


def test_aggregated_report_of_16k_gpus_stays_small():
    from fabric.builders import rail_optimized
    from fabric.web.report import report_data

    fab = rail_optimized(2048)
    data = report_data(fab, Plan(fabric=fab.name, fabric_digest=fab.digest()), None)
    assert data["map"]["level"] == "aggregate" and len(data["map"]["nodes"]) < views.MAP_TIER_BUCKETS * 3
