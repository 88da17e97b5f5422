"""The Plan contract: typed sections, validation that names section and path, fabric digests, diffs."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric import contract
from fabric.builders import clos, example_two_site
from fabric.errors import ConfigError
from fabric.io.atomic import atomic_open
from fabric.plan import SCHEMA_VERSION, SECTIONS, Plan, Provenance
from fabric.plan.diff import diff
from fabric.plan.sections import SECTION_TYPES, OcsSection

DATA = Path(__file__).parent / "data"
#: A plan written by fabricctl before typed sections and digests (schema 1.0): every section filled.
LEGACY_PLAN = DATA / "plan-v1.0-demo.json"


@pytest.fixture(scope="module")
def legacy() -> dict:
    return json.loads(LEGACY_PLAN.read_text())


@pytest.fixture(scope="module")
def full_plan(legacy) -> Plan:
    """A current plan with every section, from the legacy file's data, for the example fabric."""
    fab = example_two_site()
    p = Plan.new(fab, created_unix=1.0)
    for name, sec in legacy["sections"].items():
        prov = Provenance(**sec["provenance"])
        p.add(SECTION_TYPES[name].from_dict(sec["data"], provenance=prov), fabric=fab, created_unix=2.0)
    return p


def test_every_section_round_trips_through_its_dataclass(full_plan, legacy, tmp_path):
    assert full_plan.present() == list(SECTIONS)
    for name in SECTIONS:
        sec = full_plan.get(name)
        assert sec is not None
        # the typed section writes exactly the keys and values the untyped planner output had
        assert sec.to_dict() == legacy["sections"][name]["data"]
        assert type(sec).from_dict(sec.to_dict(), provenance=sec.provenance) == sec
    full_plan.save(tmp_path / "plan.json")
    back = Plan.load(tmp_path / "plan.json")
    assert back == full_plan
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["fabric_digest"] == example_two_site().digest()
    assert doc["sections"]["wcmp"]["provenance"]["created_unix"] == 2.0


def test_legacy_plan_loads_with_unknown_digest(legacy):
    p = Plan.from_dict(legacy)
    assert legacy["schema_version"] == "1.0" and p.fabric_digest is None
    assert p.schema_version == SCHEMA_VERSION  # written back as this version
    assert p.present() == list(SECTIONS)
    assert p.wcmp is not None and p.wcmp.provenance.fabric_digest is None


def test_cli_plan_show_says_digest_unknown_for_a_legacy_plan(cli):
    r = cli(["plan", "show", LEGACY_PLAN])
    assert r.exit_code == 0, r.output
    assert "fabric digest: unknown" in r.stdout


def test_legacy_plan_adopts_the_digest_of_the_same_fabric_and_refuses_another(legacy):
    fab = example_two_site()
    p = Plan.from_dict(copy.deepcopy(legacy))
    p.add(p.cc, fabric=fab)  # the same fabric (by name): adopted
    assert p.fabric_digest == fab.digest()
    q = Plan.from_dict(copy.deepcopy(legacy))
    other = clos(2, 2, 2, 2)
    with pytest.raises(ConfigError, match=r"computed on fabric 'clos.*but the plan is for fabric "
                                          r"'example-two-site' \(digest unknown"):
        q.add(q.cc, fabric=other)


def test_section_from_another_fabric_is_refused_naming_both(full_plan):
    other = clos(2, 2, 2, 2)
    p = copy.deepcopy(full_plan)
    with pytest.raises(ConfigError) as exc:
        p.add(p.cc, fabric=other)
    msg = str(exc.value)
    assert f"fabric {other.name!r}" in msg and "fabric 'example-two-site'" in msg
    assert other.digest()[:19] in msg and full_plan.fabric_digest[:19] in msg
    assert p == full_plan  # nothing changed


def test_a_failed_link_in_the_topology_changes_the_digest_a_renamed_fabric_does_not():
    a = example_two_site()
    b = a.copy()
    b.name = "renamed"
    assert a.digest() == b.digest()
    lk = next(iter(a.links()))
    b.set_link_up(lk.a, lk.b, lk.key, False)
    assert a.digest() != b.digest()
    c = a.copy()
    c.graph.edges[lk.a, lk.b, lk.key]["capacity_gbps"] = lk.capacity_gbps * 2
    assert a.digest() != c.digest()


def test_ocs_needs_no_fabric():
    sec = OcsSection.from_dict({"throughput_scale": 1.0, "lp_bound": 1.0, "gap": 0.0, "mlu": 0.5,
                                "circuits": {"o": [[0, 1]]}, "logical": [], "wiring": {}, "circuit_gbps": 400.0,
                                "direct_share": 1.0, "dropped": 0, "changed": {}})
    p = Plan.new(clos(2, 2, 2, 2))
    p.add(sec)
    assert p.ocs is not None and p.ocs.provenance.fabric_digest is None


def test_the_model_reads_no_clock(full_plan):
    p = Plan.new(example_two_site())
    assert p.created_unix is None
    p.add(full_plan.cc, fabric=example_two_site())
    assert p.cc.provenance.created_unix == 2.0  # kept from the section: nothing stamped a time
    assert Provenance().created_unix is None


@pytest.mark.parametrize("mutate, where, reason", [
    (lambda d: d["sections"]["wcmp"]["data"]["groups"][3]["next_hops"][0].update(weight=0),
     "sections.wcmp.data.groups[3].next_hops[0].weight", "must be >= 1"),
    (lambda d: d["sections"]["wcmp"]["data"]["groups"][0].update(next_hops=[]),
     "sections.wcmp.data.groups[0].next_hops", "at least one next hop"),
    (lambda d: d["sections"]["wcmp"]["data"].update(mlu_lp="0.5"), "sections.wcmp.data.mlu_lp", "expected a number"),
    (lambda d: d["sections"]["wcmp"]["data"]["groups"].append(d["sections"]["wcmp"]["data"]["groups"][0]),
     "sections.wcmp.data.groups[", "duplicate group"),
    (lambda d: d["sections"]["cc"]["data"]["port_groups"][0]["ecn"].update(pmax=1.5),
     "sections.cc.data.port_groups[0].ecn.pmax", "probability"),
    (lambda d: d["sections"]["cc"]["data"].update(lossless_priorities=[3, 9]),
     "sections.cc.data.lossless_priorities[1]", "802.1p"),
    (lambda d: d["sections"]["qp_ports"]["data"]["flows"][0].update(sport=70000),
     "sections.qp_ports.data.flows[0].sport", "not a UDP port"),
    (lambda d: d["sections"]["ocs"]["data"]["circuits"]["ocs1"].append([0, 99]),
     "sections.ocs.data.circuits.ocs1[", "already cross-connected"),
    (lambda d: d["sections"]["budgets"]["data"].update(over=7), "sections.budgets.data.over", "says 7"),
    (lambda d: d["sections"]["wdm"]["data"]["lightpaths"][0].update(wavelength=10_000),
     "sections.wdm.data.lightpaths[0].wavelength", "not below channels"),
    (lambda d: d["sections"]["wdm"]["data"].update(colour="blue"), "sections.wdm.data", "unknown key(s) ['colour']"),
    (lambda d: d["sections"]["wdm"]["data"]["lightpaths"].append(d["sections"]["wdm"]["data"]["lightpaths"][0]),
     "sections.wdm.data.lightpaths[2]", "wavelength 0 is lit 3 times on beijing--shanghai, which has 2 fibre(s)"),
    (lambda d: d["sections"]["cc"]["data"].pop("port_groups"), "sections.cc.data.port_groups", "missing"),
    (lambda d: d["sections"]["cc"].update(provenance={"who": 1}), "sections.cc.provenance", "bad provenance"),
    (lambda d: d.update(fabric_digest=42), "fabric_digest", "expected 'sha256:<hex>'"),
])
def test_invalid_sections_name_section_path_and_reason(legacy, tmp_path, mutate, where, reason):
    doc = copy.deepcopy(legacy)
    mutate(doc)
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as exc:
        Plan.load(f)
    msg = str(exc.value)
    assert msg.startswith(f"{f}: {where}") and reason in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize("doc, message", [
    ('{"fabric": "x"}', "missing or invalid 'schema_version'"),
    ('{"schema_version": "2.0"}', "schema_version: plan schema version 2.0 is not supported"),
    ('{"schema_version": "x.y"}', "missing or invalid 'schema_version'"),
    ('{"schema_version": "1.0", "sections": {"routes": {"data": {}}}}', "sections.routes: unknown plan section 'routes'"),
    ('{"schema_version": "1.0", "sections": {"cc": {"data": 3}}}', "sections.cc: a section needs an object 'data'"),
    ('{"schema_version": "1.0", "extra": 1}', "unknown key(s) ['extra']"),
    ('{"schema_version": "1.0",', "line 1, column 26: not valid JSON"),
    ('[1, 2]', "a plan must be a JSON object"),
    ('{"schema_version": "1.0", "sections": {"\\n": {"data": {}}}}', 'sections["\\n"]: unknown plan section'),
    ('{"schema_version": "1.0", "created_unix": NaN}', "created_unix: expected a finite number"),
])
def test_bad_plans_are_refused_with_the_reason(tmp_path, doc, message):
    f = tmp_path / "p.json"
    f.write_text(doc)
    with pytest.raises(ConfigError) as exc:
        Plan.load(f)
    assert message in str(exc.value) and str(f) in str(exc.value)


def test_a_newer_minor_version_keeps_keys_it_does_not_know(legacy):
    doc = copy.deepcopy(legacy)
    doc["schema_version"] = "1.99"
    doc["sections"]["wdm"]["data"]["spectral_efficiency"] = 6.4
    doc["sections"]["p4"] = {"data": {"programs": []}}  # a section from the future: skipped
    p = Plan.from_dict(doc)
    assert p.wdm is not None and p.wdm.extra == {"spectral_efficiency": 6.4}
    assert p.schema_version == "1.99"  # not downgraded: its extra keys are still there
    assert p.to_dict()["sections"]["wdm"]["data"]["spectral_efficiency"] == 6.4


def test_unknown_section_name_in_api():
    with pytest.raises(ConfigError, match="unknown plan section 'x'"):
        Plan().get("x")


def _mutations(draw, doc):
    """Walk to a random node of the plan document and replace, delete or add something there."""
    node, path = doc, []
    for _ in range(draw(st.integers(1, 8))):
        if isinstance(node, dict) and node:
            k = draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            k = draw(st.integers(0, len(node) - 1))
        else:
            break
        if not isinstance(node[k], dict | list):
            break
        path.append(k)
        node = node[k]
    junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False),
                     st.text(max_size=4), st.lists(st.integers(0, 3), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
    if isinstance(node, dict) and node:
        k = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            node[k] = draw(junk)
        elif action == "delete":
            del node[k]
        else:
            node[draw(st.text(min_size=1, max_size=5))] = draw(junk)
    elif isinstance(node, list) and node:
        i = draw(st.integers(0, len(node) - 1))
        if draw(st.booleans()):
            node[i] = draw(junk)
        else:
            node.append(copy.deepcopy(node[i]))
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_mutant_loads_or_fails_with_one_config_error(legacy, data):
    doc = data.draw(st.builds(lambda: copy.deepcopy(legacy)))
    doc = _mutations(data.draw, doc)
    try:
        p = Plan.from_dict(doc, file="mutant.json")
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith("mutant.json") and "\n" not in msg
        where = exc.where or ""
        # the error names the section when the mutation is inside one
        assert not where.startswith("sections.") or where.split(".")[1] in msg
        return
    # a mutant that loads is a valid plan: it survives its own round trip
    assert Plan.from_dict(p.to_dict()) == p


def test_plan_diff_lists_exactly_the_reweighted_groups(cli, tmp_path):
    """Before and after --fail: the diff's groups equal a direct comparison of the two plans' groups."""
    link = "beijing-su1-rail0--beijing-spine1"
    for name, extra in (("before", []), ("after", ["--fail", link])):
        r = cli(["plan", "wcmp", "example", "--out-dir", tmp_path, "--no-png", "--plan", tmp_path / f"{name}.json",
                 *extra])
        assert r.exit_code == 0, r.output
    before, after = Plan.load(tmp_path / "before.json"), Plan.load(tmp_path / "after.json")
    ga = {(g["switch"], g["dst"]): {(h["node"], h["port"]): h["weight"] for h in g["next_hops"]}
          for g in before.to_dict()["sections"]["wcmp"]["data"]["groups"]}
    gb = {(g["switch"], g["dst"]): {(h["node"], h["port"]): h["weight"] for h in g["next_hops"]}
          for g in after.to_dict()["sections"]["wcmp"]["data"]["groups"]}
    expect_rew = sorted(k for k in ga.keys() & gb.keys() if ga[k] != gb[k])
    expect_add, expect_rem = sorted(gb.keys() - ga.keys()), sorted(ga.keys() - gb.keys())
    r = cli(["plan", "diff", tmp_path / "before.json", tmp_path / "after.json", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    w = d["sections"]["wcmp"]
    assert w["status"] == "changed" and d["changed"] == ["wcmp"] and d["same_fabric"] is True
    assert sorted((g["switch"], g["dst"]) for g in w["groups_reweighted"]) == expect_rew
    assert sorted((g["switch"], g["dst"]) for g in w["groups_added"]) == expect_add
    assert sorted((g["switch"], g["dst"]) for g in w["groups_removed"]) == expect_rem
    assert expect_rew and expect_rem  # the failure re-weights some groups and removes the spine's own
    for g in w["groups_reweighted"]:
        assert {(h["node"], h["port"]): h["weight"] for h in g["new"]} == gb[(g["switch"], g["dst"])]
    assert w["failed_links"][0] == [] and len(w["failed_links"][1]) == 1
    assert all(n in w["failed_links"][1][0] for n in link.split("--"))
    assert sum(c["reweighted"] for c in w["per_switch"].values()) == len(expect_rew)
    human = cli(["plan", "diff", tmp_path / "before.json", tmp_path / "after.json"])
    assert human.exit_code == 0 and "re-weighted" in human.stdout


def test_diff_of_a_plan_with_itself_is_empty(full_plan):
    d = diff(full_plan, copy.deepcopy(full_plan))
    assert d["changed"] == [] and all(s["status"] == "same" for s in d["sections"].values())
    assert set(d["sections"]) == set(SECTIONS)


def test_diff_per_section_kinds(full_plan):
    new = copy.deepcopy(full_plan)
    data = new.to_dict()
    data["sections"]["qp_ports"]["data"]["flows"][0]["sport"] ^= 1
    data["sections"]["budgets"]["data"]["paths"][0]["total_us"] += 1.0
    data["sections"]["cc"]["data"]["port_groups"][0]["ecn"]["kmin_bytes"] += 1
    lp = data["sections"]["wdm"]["data"]["lightpaths"][0]
    lp["wavelength"] = data["sections"]["wdm"]["data"]["channels"] - 1  # a channel no lightpath uses
    del data["sections"]["ocs"]
    d = diff(full_plan, Plan.from_dict(data))
    s = d["sections"]
    assert s["ocs"] == {"status": "removed"}
    assert len(s["qp_ports"]["sport_changed"]) == 1
    assert [p["src"] for p in s["budgets"]["paths_changed"]] == [data["sections"]["budgets"]["data"]["paths"][0]["src"]]
    assert s["cc"]["port_groups_changed"][0]["changes"] == [
        {"path": "ecn.kmin_bytes", "old": full_plan.cc.port_groups[0].ecn.kmin_bytes,
         "new": full_plan.cc.port_groups[0].ecn.kmin_bytes + 1}]
    assert len(s["wdm"]["lightpaths_added"]) == 1 and len(s["wdm"]["lightpaths_removed"]) == 1
    assert sorted(d["changed"]) == sorted(["qp_ports", "budgets", "cc", "wdm", "ocs"])


def test_plan_ports_uses_the_plans_wcmp_groups(cli, tmp_path):
    """After --fail the QP paths follow the plan's (failed) groups: no path crosses the failed link."""
    link = ("beijing-su1-rail0", "beijing-spine1")
    job = Path(__file__).parent.parent / "fabric" / "data" / "examples" / "job-ring.yaml"
    plan = tmp_path / "p.json"
    r = cli(["plan", "wcmp", "example", "--job", job, "--fail", "--".join(link), "--no-png", "--out-dir", tmp_path,
             "--plan", plan])
    assert r.exit_code == 0, r.output
    r = cli(["plan", "ports", "example", "--job", job, "--plan", plan, "--candidates", "8", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["groups_from"] == "plan"
    p = Plan.load(plan)
    assert p.qp_ports is not None and p.wcmp is not None and p.wcmp.failed_links
    hops = {(u, v) for f in p.qp_ports.flows for u, v in zip(f.path, f.path[1:], strict=False)}
    assert link not in hops and link[::-1] not in hops
    groups = {(g.switch, g.dst): {h.node for h in g.next_hops} for g in p.wcmp.groups}
    used = [(u, v) for f in p.qp_ports.flows for u, v in zip(f.path, f.path[1:], strict=False)]
    assert any(v in nh for (sw, _d), nh in groups.items() for (u, v) in used if u == sw)


def test_plan_ports_refuses_a_plan_for_another_fabric(cli, tmp_path):
    plan = tmp_path / "p.json"
    assert cli(["plan", "cc", "zoo:Chinanet", "--plan", plan]).exit_code == 0
    job = Path(__file__).parent.parent / "fabric" / "data" / "examples" / "job-ring.yaml"
    r = cli(["plan", "ports", "example", "--job", job, "--plan", plan])
    assert r.exit_code == 2
    assert "the plan is for fabric 'Chinanet'" in r.stderr and "not for fabric 'example-two-site'" in r.stderr
    assert Plan.load(plan).qp_ports is None


def test_contract_rejects_bools_as_numbers_and_non_finite_floats():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class T:
        n: int
        x: float

    assert contract.load(T, {"n": 1, "x": 2}, "t") == T(1, 2.0)
    with pytest.raises(ConfigError, match="t.n: expected an integer, got True"):
        contract.load(T, {"n": True, "x": 1.0}, "t")
    with pytest.raises(ConfigError, match="t.x: expected a finite number"):
        contract.load(T, {"n": 1, "x": float("inf")}, "t")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("crash in the middle")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_atomic_write_keeps_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_open(tmp_path / "f.txt") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o640


def test_atomic_write_refuses_devices_and_fifos_and_writes_through_symlinks(tmp_path):
    from fabric.io.atomic import write_text_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file .*refusing to replace it"):
        write_text_atomic(fifo, "x")
    assert fifo.exists() and not fifo.is_file()
    with pytest.raises(ConfigError, match="/dev/null: not a regular file"):
        write_text_atomic("/dev/null", "x")
    assert not Path("/dev/null").is_file()
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode


def test_a_temp_file_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import subprocess

    from fabric.io.atomic import write_text_atomic

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists
    stale = tmp_path / f".out.json.{dead.pid}.abcd.tmp"
    stale.write_text("half")
    mine = tmp_path / f".out.json.{os.getpid()}.efgh.tmp"  # a live writer's: kept
    mine.write_text("busy")
    write_text_atomic(tmp_path / "out.json", "{}")
    assert not stale.exists() and mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "out.json"])
