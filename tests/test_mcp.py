"""`fabricctl mcp` driven by the official MCP SDK's own client over stdio (a real subprocess): tools and
their schemas, every read and what-if tool on the example fabric against the library functions called
directly (and, for link loads, against independent evaluations: the WCMP planner's own hop-by-hop
loads and the pure-Python hashing reference), resources, prompts, one-line errors as the CLI prints
them, and the act tools against a `fabricctl serve` process: no token changes nothing, a wrong or
reused token is refused, the right one changes the applied version and the audit log names the client;
`--read-only` lists no act tool.

Set FABRICCTL_MCP_TRANSCRIPT=FILE to also write the what-if session as a Markdown transcript.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import Implementation

from fabric.cc import CcOptions, cc_section
from fabric.hashing import simulate_reference
from fabric.io import load_fabric
from fabric.io.yamlio import fabric_from_dict
from fabric.mcp.app import ACT_TOOLS, READ_TOOLS, WHAT_IF_TOOLS, operator_guide
from fabric.plan import Plan
from fabric.plan.diff import diff
from fabric.server.client import ControllerClient
from fabric.server.planning import wcmp_demand, wcmp_planner
from fabric.traffic import DEFAULT_RATE_GBPS, generate, place_job
from fabric.wcmp import WcmpPlanner, fail_fabric
from optical.budget import BudgetModel, PairSpec, budgets, budgets_section
from optical.catalog import pick_transceiver

REPO = Path(__file__).resolve().parents[1]
CLIENT = "pytest-mcp-client"
SPINE = "beijing-spine1"
LINK = ("beijing-su1-rail0", "beijing-spine1")
PAIRS = [{"src": "beijing-dci1", "dst": "shanghai-dci1", "class": "hub"},
         {"src": "beijing-su1-rail0", "dst": "shanghai-su1-rail0", "class": "regional"}]
START_TIMEOUT_S = 60.0


def norm(x: Any) -> Any:
    """As it travels in JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(x, default=str))


@asynccontextmanager
async def session(*args: str, errlog: Path, name: str = CLIENT):
    params = StdioServerParameters(command=sys.executable, args=["-m", "fabric.cli.main", "mcp", *args],
                                   cwd=str(REPO), env=dict(os.environ))
    with errlog.open("a") as err:
        async with stdio_client(params, errlog=err) as (read, write):
            async with ClientSession(read, write, client_info=Implementation(name=name, version="1")) as s:
                await s.initialize()
                yield s


async def call(s: ClientSession, tool: str, log: list[Any] | None = None, **args: Any) -> Any:
    """The tool's structured result; a tool error is returned as its text (``error: ...``)."""
    r = await s.call_tool(tool, args)
    out = r.content[0].text if r.is_error else r.structured_content
    if log is not None:
        log.append((tool, args, out))
    return out


@pytest.fixture(scope="module")
def fab():
    return load_fabric("example")


@pytest.fixture(scope="module")
def files(fab, tmp_path_factory):
    """A plan (wcmp with the controller's default recipe, budgets for PAIRS) and the same plan after a
    spine failure."""
    d = tmp_path_factory.mktemp("mcp")
    planner = wcmp_planner(fab, wcmp_demand(fab, {}, None), {})
    res = planner.solve()
    plan = Plan.new(fab)
    plan.add(res.section(), fabric=fab)
    plan.add(budgets_section(fab, [PairSpec(p["src"], p["dst"], p["class"]) for p in PAIRS]), fabric=fab)
    plan.save(d / "plan.json")
    failed = Plan.new(fab)
    failed.add(planner.fail([], [SPINE]).section(), fabric=fab)
    failed.save(d / "failed.json")
    return d


def _pairs() -> list[PairSpec]:
    return [PairSpec(p["src"], p["dst"], p["class"]) for p in PAIRS]


def _model() -> BudgetModel:
    t = pick_transceiver("1.6T")
    return BudgetModel(line_rate_gbps=t.rate_gbps, reach_km=t.reach_km)


# ============================================================================ files
def test_read_and_what_if_tools_on_files_match_the_library(fab, files, tmp_path):
    plan_file = files / "plan.json"
    transcript: list[Any] = []

    async def run() -> dict[str, Any]:
        got: dict[str, Any] = {}
        async with session("--fabric", "example", "--plan", str(plan_file), errlog=tmp_path / "mcp.err") as s:
            listed = (await s.list_tools()).tools
            got["tools"] = {t.name: t for t in listed}
            got["summary"] = await call(s, "fabric_summary")
            got["find"] = await call(s, "find_nodes", transcript, role="spine", site="beijing")
            got["find_glob"] = await call(s, "find_nodes", name="*dci*", limit=2)
            got["find_bad"] = await call(s, "find_nodes", limit=0)
            got["hot_bad"] = await call(s, "hot_links", basis="measured")
            got["show"] = await call(s, "plan_show", section="wcmp")
            got["show_missing"] = await call(s, "plan_show", section="cc")
            got["diff"] = await call(s, "plan_diff", old=str(plan_file), new=str(files / "failed.json"))
            got["link"] = await call(s, "link_status", a=LINK[0], b=LINK[1])
            got["link_bad"] = await call(s, "link_status", a="nope")
            got["hot"] = await call(s, "hot_links", top=5)
            got["hot_hashed"] = await call(s, "hot_links", transcript, top=5, basis="hashed")
            got["budget"] = await call(s, "budget_check", transcript, pairs=PAIRS)
            got["hubs"] = await call(s, "budget_check", hubs=True)
            got["cc"] = await call(s, "cc_parameters")
            got["cc_opts"] = await call(s, "cc_parameters", options={"over_subscribe_ratio": 2})
            got["events"] = await call(s, "events")
            got["fail"] = await call(s, "what_if_fail", transcript, nodes=[SPINE])
            got["fail_link"] = await call(s, "what_if_fail", links=[f"{LINK[0]}--{LINK[1]}"], pairs=[])
            got["job"] = await call(s, "what_if_demand", transcript, collective="all-to-all", servers=2, seed=1)
            got["resources"] = {str(r.uri) for r in (await s.list_resources()).resources}
            got["fabric_yaml"] = (await s.read_resource("fabricctl://fabric")).contents[0].text
            got["plan_json"] = (await s.read_resource("fabricctl://plan/current")).contents[0].text
            got["guide"] = (await s.read_resource("fabricctl://docs/operator-guide")).contents[0].text
            got["prompts"] = {p.name for p in (await s.list_prompts()).prompts}
            got["prompt"] = (await s.get_prompt("plan_spine_maintenance", {"spine": SPINE})).messages[0].content.text
        return got

    got = asyncio.run(run())
    plan = Plan.load(plan_file)

    # tools and their schemas: no act tool without a controller
    tools = got["tools"]
    assert set(tools) == set(READ_TOOLS) | set(WHAT_IF_TOOLS)
    for t in tools.values():
        assert t.input_schema["type"] == "object" and t.output_schema["type"] == "object", t.name
        assert t.description and t.annotations.read_only_hint is True
    props = tools["find_nodes"].input_schema["properties"]
    assert set(props) == {"name", "role", "site", "limit"} and props["limit"]["minimum"] == 1
    assert tools["hot_links"].input_schema["properties"]["basis"]["enum"] == ["planned", "hashed"]
    assert tools["what_if_demand"].input_schema["properties"]["collective"]["enum"][0] == "ring"
    assert tools["plan_diff"].input_schema["required"] == ["old", "new"]

    # read tools = the library
    assert got["summary"] == norm({**fab.summary(), "digest": fab.digest(), "source": "example"})
    beijing_spines = [n for n in fab.nodes("spine") if fab.node(n)["site"] == "beijing"]
    assert [n["name"] for n in got["find"]["nodes"]] == beijing_spines and got["find"]["count"] == 4
    assert got["find_glob"]["count"] == len(fab.nodes("dci")) and len(got["find_glob"]["nodes"]) == 2
    assert got["find_glob"]["truncated"] is True
    assert got["find_bad"] == "error: limit: Input should be greater than or equal to 1, got 0"
    assert got["hot_bad"] == "error: basis: Input should be 'planned' or 'hashed', got 'measured'"
    assert got["show"]["data"] == norm(plan.to_dict()["sections"]["wcmp"]["data"])
    assert set(got["show"]["sections"]) == {"wcmp", "budgets"}
    assert got["show_missing"] == "error: section: the plan has no cc section (it has: wcmp, budgets)"
    assert got["diff"] == norm(diff(plan, Plan.load(files / "failed.json")))
    assert got["diff"]["sections"]["wcmp"]["status"] == "changed"

    # link loads: the plan's groups split by weight = the WCMP planner's own hop-by-hop loads
    res = wcmp_planner(fab, wcmp_demand(fab, {}, None), {}).solve()
    top = sorted(res.util_wcmp.values(), reverse=True)[:5]
    assert [x["util_planned"] for x in got["hot"]["links"]] == pytest.approx(top, rel=1e-9)
    for x in got["hot"]["links"]:
        assert x["util_planned"] == pytest.approx(res.util_wcmp[(x["from"], x["to"], x["key"])], rel=1e-9)
    # hashed: flow by flow = the pure-Python reference of the hash; the flows listed cross the link
    demand = wcmp_demand(fab, {}, None)
    ref = simulate_reference(fab, demand, plan.wcmp.group_dicts())
    hashed = got["hot_hashed"]["links"]
    want = sorted((x / fab.graph[u][v][k]["capacity_gbps"] for (u, v, k), x in ref.items()
                   if fab.role(u) != "gpu" and fab.role(v) != "gpu"), reverse=True)[:5]
    assert [x["util_hashed"] for x in hashed] == pytest.approx(want, rel=1e-9)
    for x in hashed:
        assert x["gbps_hashed"] == pytest.approx(ref[(x["from"], x["to"], x["key"])])
        assert sum(f["rate_gbps"] for f in x["top_flows"]) == pytest.approx(x["gbps_hashed"])
    lk = fab.links_between(*LINK)[0]
    (st,) = got["link"]["links"]
    assert (st["capacity_gbps"], st["up"], st["link"], st["failed_in_plan"]) == (lk.capacity_gbps, True, lk.name, False)
    up = st["load"][f"{LINK[0]}->{LINK[1]}"]
    assert up["util_planned"] == pytest.approx(res.util_wcmp.get((LINK[0], LINK[1], lk.key), 0.0), abs=1e-12)
    assert up["gbps_hashed"] == pytest.approx(ref.get((LINK[0], LINK[1], lk.key), 0.0))

    assert got["budget"] == norm(budgets(fab, _pairs(), _model()))
    assert got["hubs"].startswith("error: ") and "all-hubs needs nodes" in got["hubs"]
    assert got["cc"] == norm(cc_section(fab, CcOptions()).to_dict())
    assert got["cc_opts"] == norm(cc_section(fab, CcOptions(over_subscribe_ratio=2)).to_dict())
    assert got["events"] == "error: --server: this needs a running controller: start fabricctl mcp with --server"

    # what-if = the planner called directly, warm recompute after the failure
    p = wcmp_planner(fab, wcmp_demand(fab, {}, None), {})
    before, after = p.solve(), p.fail([], [SPINE])
    w = got["fail"]
    assert (w["before"]["mlu_lp"], w["before"]["mlu_wcmp"], w["before"]["mlu_ecmp"]) == pytest.approx(
        (before.mlu_lp, before.mlu_wcmp, before.mlu_ecmp))
    assert (w["after"]["mlu_lp"], w["after"]["mlu_wcmp"], w["after"]["mlu_ecmp"]) == pytest.approx(
        (after.mlu_lp, after.mlu_wcmp, after.mlu_ecmp))
    assert w["after"]["mlu_wcmp"] > w["before"]["mlu_wcmp"]
    old_g = {(g["switch"], g["dst"]): g["next_hops"] for g in before.groups}
    new_g = {(g["switch"], g["dst"]): g["next_hops"] for g in after.groups}
    changed = sorted({k[0] for k in set(old_g) | set(new_g) if old_g.get(k) != new_g.get(k)})
    assert w["switches_changed"] == changed and SPINE in changed   # its groups go with it
    failed_fab, _ = fail_fabric(fab, [], [SPINE])
    bb, ba = budgets(fab, _pairs(), _model()), budgets(failed_fab, _pairs(), _model())
    assert (w["budgets"]["pairs"], w["budgets"]["over_before"], w["budgets"]["over_after"]) == (2, bb["over"], ba["over"])
    assert [v["src"] for v in w["budgets"]["violations"]] == [r["src"] for r in ba["paths"] if r["verdict"] == "over"]
    assert got["fail_link"]["budgets"] == {"pairs": 0, "over_before": 0, "over_after": 0, "violations": []}
    assert got["fail_link"]["after"]["failed_links"] == [lk.name]

    gpus = place_job(fab, 2, None, 1)
    job = WcmpPlanner(fab, generate("all-to-all", fab, gpus, DEFAULT_RATE_GBPS, 1, qps_per_pair=1)).solve()
    j = got["job"]
    assert (j["gpus"], j["replanned"]["mlu_lp"], j["replanned"]["mlu_wcmp"], j["replanned"]["mlu_ecmp"]) == \
        pytest.approx((len(gpus), job.mlu_lp, job.mlu_wcmp, job.mlu_ecmp))

    # resources and prompts
    assert got["resources"] == {"fabricctl://fabric", "fabricctl://plan/current", "fabricctl://docs/operator-guide"}
    import yaml

    assert fabric_from_dict(yaml.safe_load(got["fabric_yaml"])).digest() == fab.digest()
    assert json.loads(got["plan_json"]) == json.loads(plan_file.read_text())
    assert got["guide"] == operator_guide()
    assert got["prompts"] == {"triage_hot_link", "plan_spine_maintenance"}
    assert f"what_if_fail nodes=[{SPINE}]" in got["prompt"]

    # the same one line as the CLI for the same mistake
    cli = subprocess.run([sys.executable, "-m", "fabric.cli.main", "plan", "wcmp", "example", "--fail-node", "nope",
                          "--no-png", "-o", str(tmp_path / "x.json")], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 2 and got["link_bad"] == cli.stderr.strip() == "error: unknown node 'nope'"

    out = os.environ.get("FABRICCTL_MCP_TRANSCRIPT")
    if out:
        write_transcript(Path(out), transcript)


QUESTIONS = {"find_nodes": "Which spines are there in Beijing?",
             "what_if_fail": f"What happens if {SPINE} fails?",
             "hot_links": "Why are links hot? (the busiest links as the switches hash the flows)",
             "budget_check": "Are the inter-site paths within their latency budgets?",
             "what_if_demand": "What if a 2-server all-to-all job starts?"}


def _abridge(tool: str, out: Any) -> Any:
    out = json.loads(json.dumps(out))
    if str(out.get("plan", "")).endswith(".json"):
        out["plan"] = Path(out["plan"]).name
    if tool == "hot_links":
        out["links"] = [{k: x[k] for k in ("link", "util_planned", "util_hashed", "flows")}
                        | {"top_flows": x["top_flows"][:2]} for x in out["links"][:3]] + ["... (2 more)"]
    elif tool == "what_if_fail":
        out["after"]["failed_links"] = out["after"]["failed_links"][:2] + ["..."]
        out["per_switch"] = dict(list(out["per_switch"].items())[:3]) | {"...": "..."}
        for v in out["budgets"]["violations"]:
            v["path"] = " > ".join(v["path"])
    elif tool == "budget_check":
        for p in out["paths"]:
            p["path"] = " > ".join(p["path"])
            p["components"] = {c["name"]: round(c["us"], 1) for c in p["components"]}
        out["model"] = "... (the budget model's parameters)"
    elif tool == "what_if_demand":
        out["hot_links"] = out["hot_links"][:3]
    return out


def write_transcript(path: Path, calls: list[Any]) -> None:
    """The what-if session as Markdown: the question, the tool call and its structured result (lists
    abridged), as the SDK's client received them."""
    lines = ["A what-if session, as produced by the SDK's client in `tests/test_mcp.py` (`fabricctl mcp --fabric "
             "example --plan plan.json` over stdio; the plan holds the controller's default WCMP recipe and two "
             "budget pairs). Results are abridged where marked `...`.", ""]
    for tool, args, out in calls:
        lines += [f"**{QUESTIONS.get(tool, tool)}**", "", f"`{tool}` `{json.dumps(args)}`", "", "```json",
                  json.dumps(_abridge(tool, out), indent=1), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# ============================================================================ controller
class Serve:
    """`fabricctl serve --fabric example --agents spawn` as a process."""

    def __init__(self, tmp: Path) -> None:
        self.db, port_file = tmp / "ctl.db", tmp / "serve.json"
        self.proc = subprocess.Popen([sys.executable, "-m", "fabric.cli.main", "serve", "--db", str(self.db),
                                      "--fabric", "example", "--agents", "spawn", "--listen", "127.0.0.1:0",
                                      "--port-file", str(port_file)], cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=(tmp / "serve.err").open("w"))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, (tmp / "serve.err").read_text()[-2000:]
            time.sleep(0.05)
        self.doc = json.loads(port_file.read_text())
        self.address = self.doc["listen"]

    def kill(self) -> None:
        for pid in (self.doc.get("agent_pid") if hasattr(self, "doc") else None, self.proc.pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proc.wait(timeout=10)

    def audit(self) -> list[tuple[str, str, int | None]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            return list(db.execute("SELECT who, action, version FROM audit ORDER BY id"))


@pytest.fixture
def serve(tmp_path):
    s = Serve(tmp_path)
    try:
        yield s
    finally:
        s.kill()


def test_act_tools_preview_then_act_once_with_the_token_and_the_audit_names_the_client(serve, tmp_path):
    c = ControllerClient(serve.address)
    v1 = c.compute_plan("wcmp")["version"]
    err = tmp_path / "mcp.err"

    async def run() -> dict[str, Any]:
        got: dict[str, Any] = {}
        args = ("--server", serve.address, "--fabric", "example")
        async with session(*args, errlog=err) as s:
            got["tools"] = {t.name for t in (await s.list_tools()).tools}
            got["preview"] = await call(s, "apply_plan", version=v1)
            got["status_after_preview"] = c.status()["plan_version"]
            got["wrong"] = await call(s, "apply_plan", version=v1, confirm="not-a-token")
            got["other_args"] = await call(s, "apply_plan", version=v1 + 1, confirm=got["preview"]["confirm"])
            got["status_after_refusals"] = c.status()["plan_version"]
            got["preview2"] = await call(s, "apply_plan", version=v1)
            got["applied"] = await call(s, "apply_plan", version=v1, confirm=got["preview2"]["confirm"])
            got["reused"] = await call(s, "apply_plan", version=v1, confirm=got["preview2"]["confirm"])
            got["show"] = await call(s, "plan_show")
            got["fail_preview"] = await call(s, "fail_link", a=LINK[0], b=LINK[1])
            got["fail"] = await call(s, "fail_link", a=LINK[0], b=LINK[1], confirm=got["fail_preview"]["confirm"])
            got["events"] = await call(s, "events")
            got["hot"] = await call(s, "hot_links", top=1)
        async with session(*args, "--read-only", errlog=err) as s:
            got["ro_tools"] = {t.name for t in (await s.list_tools()).tools}
        return got

    got = asyncio.run(run())
    assert set(ACT_TOOLS) <= got["tools"]
    p = got["preview"]
    assert p["preview"] is True and p["desired_version"] == 0 and len(p["confirm"]) >= 20
    assert got["status_after_preview"] == 0 and got["status_after_refusals"] == 0      # nothing changed
    assert got["wrong"].startswith("error: confirm: not a confirmation token this server issued")
    assert got["other_args"].startswith("error: confirm: the token was issued for apply_plan")
    assert got["applied"]["preview"] is False and got["applied"]["converged"] is True
    assert got["applied"]["who"] == CLIENT and got["applied"]["switches_updated"] == 28
    assert got["reused"].startswith("error: confirm: not a confirmation token this server issued, or one already used")
    st = c.status()
    assert st["plan_version"] >= v1 and all(s["applied_version"] >= v1 for s in st["switches"])
    assert got["show"]["source"] == f"controller version {v1}"

    w = got["fail_preview"]["what_if"]
    assert w["after"]["mlu_wcmp"] >= w["before"]["mlu_wcmp"] and w["switches_changed"]
    assert got["fail"]["plan_version"] == v1 + 1 and got["fail"]["switches_updated"] == len(w["switches_changed"])
    assert [(e["kind"], e["a"], e["b"]) for e in got["events"]["events"]] == [("link_down", *LINK)]
    assert got["hot"]["plan"] == f"controller version {v1 + 1}" and len(got["hot"]["failed_links"]) == 1
    # the audit log names the MCP client (after the token's name: "api" without tokens)
    audit = serve.audit()
    assert ("api/" + CLIENT, "apply", v1) in audit and ("api/" + CLIENT, "apply", v1 + 1) in audit
    assert [a for a in audit if a[1] == "apply"] == [("api/" + CLIENT, "apply", v1), ("api/" + CLIENT, "apply", v1 + 1)]

    assert got["ro_tools"] == set(READ_TOOLS) | set(WHAT_IF_TOOLS)


# ============================================================================ CLI errors
@pytest.mark.parametrize("args, message", [
    (["--http", "0.0.0.0:8000"], "error: --http: only a loopback host"),
    (["--http", "localhost"], "error: --http: wants HOST:PORT"),
    (["--plan", "no-such-plan.json"], "error: no-such-plan.json: --plan: no such file"),
    (["--fabric", "no-such-fabric.yaml"], "error: "),
    (["--server", "127.0.0.1:1", "--plan", "x.json"], "error: --plan: --plan is for files"),
])
def test_bad_options_are_one_line_and_exit_2(args, message, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli(["mcp", *args])
    assert r.exit_code == 2 and r.stderr.startswith(message) and len(r.stderr.strip().splitlines()) == 1, r.stderr


# ============================================================================ HTTP
def test_streamable_http_on_loopback(fab, tmp_path):
    import socket

    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fabric.cli.main", "mcp", "--fabric", "example", "--http",
                             f"127.0.0.1:{port}"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=(tmp_path / "http.err").open("w"))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "http.err").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

        async def run() -> tuple[set[str], Any]:
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
                async with ClientSession(read, write, client_info=Implementation(name=CLIENT, version="1")) as s:
                    await s.initialize()
                    return {t.name for t in (await s.list_tools()).tools}, await call(s, "fabric_summary")

        names, summary = asyncio.run(run())
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert names == set(READ_TOOLS) | set(WHAT_IF_TOOLS)
    assert summary["digest"] == fab.digest()
