"""The controller's SQLite store (fabric/server/store.py): content-addressed plans, migrations, and
durability under kill -9 (a child process writes and acknowledges on stdout; it is killed at random
points; everything it acknowledged must be in the file afterwards)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from fabric.server.store import SCHEMA_VERSION, Store, StoreError, content_digest


def plan(n: int) -> dict:
    return {"schema_version": "1.1", "fabric": "f", "fabric_digest": "sha256:ab", "created_unix": 100.0 + n,
            "sections": {"wcmp": {"data": {"n": n}}}}


def test_plans_are_content_addressed_and_versions_increase(tmp_path):
    with Store(tmp_path / "c.db") as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.put_plan(plan(1), 1.0) == (1, True)
        assert s.put_plan(plan(2), 2.0, parent_version=1, reason="link down a b") == (2, True)
        same_content_other_time = plan(1) | {"created_unix": 999.0}
        assert s.put_plan(same_content_other_time, 3.0) == (1, False)
        assert [r.version for r in s.plans()] == [1, 2] and s.plans()[1].reason == "link down a b"
        assert s.plan(2) == plan(2) and s.plan(3) is None and s.latest_version() == 2


def test_desired_is_audited_and_must_name_a_plan(tmp_path):
    with Store(tmp_path / "c.db") as s:
        s.put_plan(plan(1), 1.0)
        s.set_desired(1, "alice", 5.0)
        assert s.desired() == 1
        assert [(a[1], a[2], a[3]) for a in s.audit_log()] == [("alice", "apply", 1)]
        with pytest.raises(KeyError):
            s.set_desired(9, "bob", 6.0)
        assert s.desired() == 1 and len(s.audit_log()) == 1          # the failed apply left nothing


def test_switches_events_demands_and_election_ids(tmp_path):
    path = tmp_path / "c.db"
    with Store(path) as s:
        s.set_applied("leaf1", 1, 3, "sha256:x", None, 1.0)
        s.set_applied("leaf1", 1, None, None, "RESOURCE_EXHAUSTED", 2.0)     # a failure keeps the last ack
        (row,) = s.switches()
        assert (row.applied_version, row.applied_digest, row.last_error) == (3, "sha256:x", "RESOURCE_EXHAUSTED")
        e = s.add_event("link_down", 3.0, a="leaf1", b="spine1")
        s.update_event(e, {"total_ms": 12.5})
        assert s.events()[0].body == {"total_ms": 12.5} and s.events(since_id=e) == []
        assert s.put_demand("job", {"kind": "ring"}, 1.0) == s.put_demand("job", {"kind": "ring"}, 2.0)
        assert s.demand(1) == ("job", {"kind": "ring"})
        assert s.next_election_id() == (0, 1) and s.next_election_id() == (0, 2)
        s.put_fabric("f", {"nodes": []}, "sha256:f", 1.0)
        assert s.fabric("sha256:f") == ("f", {"nodes": []})
    with Store(path) as s:                                    # a restarted controller bids higher
        assert s.election_id() == (0, 2) and s.next_election_id() == (0, 3)


def test_newer_schema_and_non_databases_are_refused_with_the_file_named(tmp_path):
    path = tmp_path / "c.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this fabricctl") as e:
        Store(path)
    assert e.value.file == str(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all\x00" * 200)
    with pytest.raises(StoreError, match="cannot use it"):
        Store(junk)


def test_content_digest_ignores_key_order():
    assert content_digest({"a": 1, "b": [1, 2]}) == content_digest({"b": [1, 2], "a": 1})
    assert content_digest({"a": 1}) != content_digest({"a": 2})


WRITER = textwrap.dedent("""
    import sys, time
    from fabric.server.store import Store
    s = Store(sys.argv[1])
    i = int(sys.argv[2])
    while True:
        plan = {"schema_version": "1.1", "fabric": "f", "sections": {"n": i}}
        v, _new = s.put_plan(plan, float(i))
        s.set_desired(v, "writer", float(i))
        e = s.add_event("link_down", float(i), a=str(i), b="x")
        print(i, v, e, flush=True)          # acknowledged only after the transactions committed
        i += 1
""")


@pytest.mark.slow
def test_kill_9_at_random_points_loses_nothing_acknowledged(tmp_path):
    path = str(tmp_path / "c.db")
    rng = random.Random(7)
    acked: list[tuple[int, int, int]] = []
    for _loop in range(20):
        start = acked[-1][0] + 1 if acked else 0
        p = subprocess.Popen([sys.executable, "-c", WRITER, path, str(start)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.15 + rng.random() * 0.25)
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        acked += [tuple(map(int, line.split())) for line in out.splitlines() if len(line.split()) == 3]
    assert len(acked) > 20
    with Store(path) as s:
        assert s.integrity_ok()
        versions = {r.version for r in s.plans()}
        events = {e.id: e.a for e in s.events(limit=10**6)}
        for i, v, e in acked:
            assert v in versions and s.plan(v)["sections"] == {"n": i}
            assert events[e] == str(i)
        assert s.desired() >= acked[-1][1]
        # no duplicates: every plan content is one version
        assert len({content_digest(s.plan(v)) for v in versions}) == len(versions)
