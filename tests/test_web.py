"""The web view's documents, HTTP API, /metrics and tokens (no browser: tests/test_web_browser.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fabric.builders import rail_optimized
from fabric.errors import ConfigError
from fabric.io import load_fabric
from fabric.server.client import ControllerClient, ServiceError
from fabric.server.grpc_api import build_server
from fabric.server.service import Controller
from fabric.server.store import Store
from fabric.traffic import permutation
from fabric.wcmp import fail_fabric, solve
from fabric.web import views
from fabric.web.app import WebServer, build_app
from fabric.web.live import LiveView
from fabric.web.metrics import METRIC_NAMES, Metrics

TOKEN = "web-test-token-0123456789"


def _undirected(util: dict[tuple[str, str, int], float], fab) -> dict[str, float]:
    names = {}
    for lk in fab.links():
        names[(lk.a, lk.b, lk.key)] = names[(lk.b, lk.a, lk.key)] = views.link_id(lk.a, lk.b, lk.key)
    out: dict[str, float] = {}
    for k, u in util.items():
        if u > 0:
            out[names[k]] = max(out.get(names[k], 0.0), u)
    return out


def test_example_map_shows_every_node_and_link_with_wan_km_and_latency():
    fab = load_fabric("example")
    m = views.fabric_map(fab)
    assert m["layout"] == "geographic" and m["level"] == "full"
    assert {n["id"] for n in m["nodes"]} == set(fab.graph.nodes)
    assert len(m["links"]) == fab.graph.number_of_edges()
    wan = [lk for lk in m["links"] if lk["wan"]]
    assert len(wan) == 2 and all(lk["length_km"] > 1000 and lk["latency_us"] == pytest.approx(
        lk["length_km"] * 4.897, rel=1e-3) for lk in wan)
    # boxes of the two sites do not overlap
    a, b = m["sites"]
    assert a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]


def test_16k_gpu_map_is_aggregated_by_rail_and_every_node_is_reachable():
    fab = rail_optimized(2048)
    m = views.fabric_map(fab)
    assert m["level"] == "aggregate" and len(m["nodes"]) <= 200 and len(m["links"]) <= 2000
    shown = {n["id"] for n in m["nodes"]}
    for n in fab.graph.nodes:
        assert n in shown or m["bucket_of"][n] in shown
    assert sum(n["count"] for n in m["nodes"]) == fab.graph.number_of_nodes()
    assert sum(lk["count"] for lk in m["links"]) == fab.graph.number_of_edges()
    rails = {n["id"] for n in m["nodes"] if n["role"] == "gpu"}
    assert len(rails) == 8                    # one bucket of GPUs per rail
    # zooming in: a rail's GPUs per scalable unit (the leaf they hang from), then one SU's GPUs one by one
    m2 = views.fabric_map(fab, expand=["-/gpu/rail5", "-/gpu/rail5/under:su3-rail5"])
    gpus = [n for n in m2["nodes"] if n["role"] == "gpu"]
    assert len([n for n in gpus if n["id"].startswith("-/gpu/rail5/under:")]) == 63
    singles = {n["id"] for n in gpus if n["count"] == 1}
    assert singles == {g for g in fab.nodes("gpu") if fab.graph.nodes[g]["rail"] == 5 and "su3-rail5" in fab.graph.adj[g]}
    assert len(singles) == 32
    assert sum(n["count"] for n in m2["nodes"]) == fab.graph.number_of_nodes()
    assert sum(lk["count"] for lk in m2["links"]) == fab.graph.number_of_edges()
    with pytest.raises(ConfigError, match="no group 'nope'"):
        views.fabric_map(fab, expand=["nope"])


@pytest.mark.parametrize("failed", [[], ["leaf1--spine1"]])
def test_planned_utilisation_equals_the_planners_own_evaluation(failed):
    from fabric.builders import clos

    fab = clos(4, 4, 4, 4)
    d = permutation(fab, fab.endpoints(), 100, seed=3)
    run_on = fail_fabric(fab, failed)[0] if failed else fab
    r = solve(run_on, d)
    for mode, oracle in (("wcmp", r.util_wcmp), ("ecmp", r.util_ecmp)):
        got = views.planned_utilisation(fab, r.groups, d, mode=mode, failed_links=failed)
        want = _undirected(oracle, fab)
        routed = {k for k in want}
        assert routed <= set(got)
        for k in routed:
            assert got[k] == pytest.approx(want[k], abs=1e-9), (mode, k)
    if failed:
        lk = fab.find_link(failed[0])
        assert views.link_id(lk.a, lk.b, lk.key) not in got


# ---------------------------------------------------------------- the HTTP application in-process
@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    store = Store(tmp / "ctl.db")
    ctl = Controller(store, {})
    ctl.start()
    ctl.submit_fabric(load_fabric("example"), who="test")
    v1 = ctl.compute_plan("wcmp", who="alice")["version"]
    v2 = ctl.compute_plan("wcmp", options={"demand": "all-to-all"}, who="bob")["version"]
    v3 = ctl.compute_plan("cc", base_version=v2, who="bob")["version"]
    metrics = Metrics(LiveView(ctl))
    grpc_srv, grpc_port = build_server(ctl, "127.0.0.1:0", interceptors=[metrics.interceptor()])
    open_srv = WebServer(build_app(ctl, metrics=metrics), "127.0.0.1:0")
    open_srv.start()
    tok_srv = WebServer(build_app(ctl, tokens={TOKEN: "ops"}), "127.0.0.1:0")
    tok_srv.start()
    try:
        yield {"ctl": ctl, "url": f"http://127.0.0.1:{open_srv.port}", "tok": f"http://127.0.0.1:{tok_srv.port}",
               "versions": (v1, v2, v3), "grpc": f"127.0.0.1:{grpc_port}"}
    finally:
        grpc_srv.stop(0)
        open_srv.stop()
        tok_srv.stop()
        ctl.stop()
        store.close()


def _get_bytes(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def _get(url: str, token: str | None = None) -> tuple[int, str, dict[str, str]]:
    code, body, headers = _get_bytes(url, token)
    return code, body.decode(), headers


def test_json_documents_equal_the_controllers(web):
    ctl, url = web["ctl"], web["url"]
    v1, v2, v3 = web["versions"]
    code, body, _ = _get(f"{url}/api/plans")
    assert code == 200 and json.loads(body) == json.loads(json.dumps(ctl.plans()))
    code, body, _ = _get(f"{url}/api/diff?a={v1}&b={v2}")
    d = json.loads(body)
    assert code == 200 and d["sections"] == json.loads(json.dumps(ctl.diff(v1, v2)))["sections"]
    code, body, _ = _get(f"{url}/api/utilisation?version={v2}&mode=ecmp&top=5")
    u = json.loads(body)
    assert code == 200 and len(u["busiest"]) == 5
    assert u["mlu"] == pytest.approx(max(u["plan_mlu"]["ecmp"], ctl.store.plan(v2)["sections"]["wcmp"]["data"]["mlu_access"]))
    code, body, _ = _get(f"{url}/api/cc?version={v3}")
    cc = json.loads(body)
    assert code == 200 and cc["present"] and len(cc["port_groups"]) == len(
        ctl.store.plan(v3)["sections"]["cc"]["data"]["port_groups"])
    code, body, _ = _get(f"{url}/api/audit")
    assert code == 200 and [r["who"] for r in json.loads(body) if r["action"] == "compute_plan"] == ["alice", "bob", "bob"]


@pytest.mark.parametrize("path, code, words", [
    ("/api/plans/999", 404, "no plan version 999"),
    ("/api/plans/abc", 400, "whole number"),
    ("/api/map?version=999", 404, "no plan version 999"),
    ("/api/map?level=huge", 400, "level"),
    ("/api/map?expand=x", 400, "expand needs the aggregated map"),
    ("/api/map?level=aggregate&expand=nope", 400, "no group 'nope'"),
    ("/api/utilisation?level=aggregate&expand=" + ",".join(f"g{i}" for i in range(300)), 400, "at most 256"),
    ("/api/utilisation?mode=magic", 400, "mode"),
    ("/api/utilisation?version=-1", 400, "whole number"),
    ("/api/utilisation?top=0", 400, ">= 1"),
    ("/api/diff?a=1", 400, "two plan versions"),
    ("/api/diff?a=1&b=999", 404, "no plan version 999"),
    ("/api/events?since=1e9", 400, "whole number"),
    ("/api/events?limit=99999999999999999999", 400, "whole number"),
    ("/api/budgets?version=1", 200, "present"),
    ("/api/nowhere", 404, "Not Found"),
])
def test_bad_inputs_are_4xx_with_a_message_never_a_traceback(web, path, code, words):
    got, body, headers = _get(web["url"] + path)
    assert got == code, body
    assert words in body and "Traceback" not in body
    assert headers["content-type"].startswith("application/json")


def test_token_is_required_when_set_and_a_browser_gets_a_cookie(web):
    url = web["tok"]
    for path in ("/", "/api/plans", "/metrics", "/api/stream", "/static/app.js"):
        code, body, _ = _get(url + path)
        assert code == 401 and "bearer token" in body
        code, _body, _ = _get(url + path, token="wrong-token-0123456789")
        assert code == 401
    assert _get(url + "/api/plans", token=TOKEN)[0] == 200
    assert _get(url + "/healthz")[0] == 200
    code, _body, headers = _get(f"{url}/?token={TOKEN}")
    assert code == 200 and f"fabricctl_token={TOKEN}" in headers["set-cookie"]
    req = urllib.request.Request(url + "/api/plans", headers={"Cookie": f"fabricctl_token={TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_metrics_parse_and_name_every_metric(web):
    with ControllerClient(web["grpc"]) as c:
        assert c.plans()["plans"]
        with pytest.raises(ServiceError, match="NOT_FOUND"):
            c.plan(999)
    assert _get(web["url"] + "/api/status")[0] == 200
    code, body, headers = _get(web["url"] + "/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(body)}
    samples = {s.name for f in fams.values() for s in f.samples}
    for name in METRIC_NAMES:
        assert name in fams or name in samples, name
    util = [s for s in fams["fabricctl_link_planned_utilisation"].samples]
    assert {s.labels["mode"] for s in util} == {"wcmp", "ecmp"}
    for mode in ("wcmp", "ecmp"):
        doc = json.loads(_get(f"{web['url']}/api/utilisation?mode={mode}&level=full")[1])
        assert {s.labels["link"]: s.value for s in util if s.labels["mode"] == mode} == pytest.approx(doc["links"])
    assert fams["fabricctl_store_bytes"].samples[0].value > 0
    api = {(s.labels["method"], s.labels["code"]): s.value for s in fams["fabricctl_api_requests"].samples
           if s.name.endswith("_total")}
    assert api[("ListPlans", "OK")] == 1 and api[("GetPlan", "NOT_FOUND")] == 1
    assert fams["fabricctl_store_plans"].samples[0].value == len(web["ctl"].plans())
