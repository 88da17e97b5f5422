"""The Plan container: JSON round trip, schema version, provenance, atomic save."""

from __future__ import annotations

import json

import pytest

from fabric.errors import ConfigError
from fabric.io.atomic import atomic_open
from fabric.plan import SCHEMA_VERSION, SECTIONS, Plan, Provenance


def full_plan() -> Plan:
    p = Plan(fabric="f")
    for i, s in enumerate(SECTIONS):
        p.set(s, {"value": i, "nested": {"list": [1, 2.5, "x"]}},
              Provenance(solver="GLOP", status="OPTIMAL", objective=0.5, bound=0.5, gap=0.0, seconds=0.01,
                         params={"seed": i}))
    return p


def test_round_trip_every_section(tmp_path):
    p = full_plan()
    p.save(tmp_path / "plan.json")
    back = Plan.load(tmp_path / "plan.json")
    assert back == p
    assert back.present() == list(SECTIONS)
    assert json.loads((tmp_path / "plan.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_empty_plan_has_no_sections():
    p = Plan.from_json(Plan(fabric="x").to_json())
    assert p.present() == [] and p.wcmp is None


@pytest.mark.parametrize("doc, message", [
    ('{"fabric": "x"}', "missing or invalid 'schema_version'"),
    ('{"schema_version": "2.0"}', "schema_version: plan schema version 2.0 is not supported"),
    ('{"schema_version": "1.0", "sections": {"routes": {"data": {}}}}', "sections.routes: unknown plan section 'routes'"),
    ('{"schema_version": "1.0", "sections": {"cc": {"data": 3}}}', "sections.cc: a section needs an object 'data'"),
    ('{"schema_version": "1.0", "sections": {"cc": {"data": {}, "provenance": {"who": 1}}}}', "sections.cc.provenance: bad provenance"),
    ('{"schema_version": "1.0", "extra": 1}', "unknown key(s) ['extra']"),
    ('{"schema_version": "1.0",', "line 1: not valid JSON"),
])
def test_bad_plans_are_refused_with_the_reason(tmp_path, doc, message):
    f = tmp_path / "p.json"
    f.write_text(doc)
    with pytest.raises(ConfigError) as exc:
        Plan.load(f)
    assert message in str(exc.value) and str(f) in str(exc.value)


def test_unknown_section_name_in_api():
    with pytest.raises(ConfigError, match="unknown plan section 'x'"):
        Plan().set("x", {})


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("crash in the middle")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_atomic_write_keeps_the_users_umask(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        with atomic_open(tmp_path / "f.txt") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o640
