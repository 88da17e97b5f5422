"""The controller's pure core (fabric/server/reconcile.py), table-driven: (desired, observed, event,
now) -> actions. Entries are hand-made canonical entries of a small switch: two next hops, one WCMP
group over them and one route to it."""

from __future__ import annotations

import pytest

from fabric.server.reconcile import (
    READING,
    RETRY_S,
    Acked,
    Desired,
    Failed,
    LinkDown,
    NodeDown,
    Observed,
    ReadDone,
    ReadSwitch,
    Recompute,
    SwitchDown,
    SwitchUp,
    Tick,
    Write,
    converged,
    dispatched,
    empty,
    observe,
    reconcile,
)
from p4.wire import Canonical

NH, GRP, RT = "ingress.nexthop_table", "ingress.wcmp_group_table", "ingress.routing_v4"
SET_NH, SET_ID, SET_GRP = "ingress.set_nexthop", "ingress.set_nexthop_id", "ingress.set_wcmp_group_id"


def nh(i):
    return ("t", NH, (("nexthop_id", "exact", i, None),), 0)


def grp(i):
    return ("t", GRP, (("wcmp_group_id", "exact", i, None),), 0)


def rt(addr, plen):
    return ("t", RT, (("ipv4_dst", "lpm", addr, plen),), 0)


def entries(weights=(3, 1), extra_route=False, extra_nh=False):
    nexthop = {nh(1): ("a", SET_NH, (1, 0xA, 0xB)), nh(2): ("a", SET_NH, (2, 0xA, 0xC))}
    if extra_nh:
        nexthop[nh(3)] = ("a", SET_NH, (3, 0xA, 0xD))
    route = {rt(0x0A000000, 8): ("a", SET_GRP, (1,))}
    if extra_route:
        route[rt(0x0B000000, 8)] = ("a", SET_ID, (2,))
    return Canonical({"nexthop": nexthop, "base": {},
                      "group": {grp(1): ("s", ((SET_ID, (1,), weights[0]), (SET_ID, (2,), weights[1])))},
                      "route": route})


COOKIE = 0xC0FFEE
D1 = {"s1": Desired("s1", 1, 7, COOKIE, entries())}


def up(entries_=None, cookie=COOKIE, **kw):
    """s1 connected as primary, holding ``entries_`` (None: not read)."""
    return Observed("s1", **({"connected": True, "primary": True, "cookie": cookie, "entries": entries_,
                              "applied_version": 7} | kw))


@pytest.mark.parametrize("name,observed,event,now,want", [
    ("converged: nothing to do", up(entries()), None, 0.0, []),
    ("converged after a tick: nothing to do", up(entries()), Tick(), 5.0, []),
    ("just connected, not read yet: read first", up(None), None, 0.0, [ReadSwitch("s1")]),
    ("disconnected: nothing", Observed("s1", connected=False, entries=empty()), None, 0.0, []),
    ("backup (not primary): never writes", up(entries(weights=(1, 1)), primary=False), None, 0.0, []),
    ("changed weight: one MODIFY of the group",
     up(entries(weights=(1, 1))), None, 0.0,
     [Write("s1", 7, (("MODIFY", grp(1), ("s", ((SET_ID, (1,), 3), (SET_ID, (2,), 1)))),), entries())]),
    ("foreign route on the switch: removed",
     up(entries(extra_route=True)), None, 0.0,
     [Write("s1", 7, (("DELETE", rt(0x0B000000, 8), None),), entries())]),
    ("write in flight: nothing more", up(entries(weights=(1, 1)), inflight=7), None, 0.0, []),
    ("failed just now: wait for the back-off", up(None, failed_unix=10.0, error="x"), Tick(), 10.0 + RETRY_S / 2, []),
    ("failed long ago: read again", up(None, failed_unix=10.0, error="x"), Tick(), 10.0 + RETRY_S, [ReadSwitch("s1")]),
])
def test_table(name, observed, event, now, want):
    assert reconcile(D1, {"s1": observed}, event, now) == want, name


def test_dependent_objects_are_created_before_their_users_and_deleted_after():
    """A new group on a new next hop, a route to it; and the removal of another route and next hop."""
    old = entries(extra_route=True)                          # route 11/8 -> nh 2
    new = Canonical({"nexthop": {**entries(extra_nh=True).levels["nexthop"]}, "base": {},
                     "group": {**entries().levels["group"],
                               grp(2): ("s", ((SET_ID, (3,), 1), (SET_ID, (1,), 1)))},
                     "route": {rt(0x0A000000, 8): ("a", SET_GRP, (1,)), rt(0x0C000000, 8): ("a", SET_GRP, (2,))}})
    del new.levels["nexthop"][nh(2)]                         # nh 2 goes away with route 11/8
    new.levels["group"][grp(1)] = ("s", ((SET_ID, (1,), 1),))
    (w,) = reconcile({"s1": Desired("s1", 1, 8, COOKIE, new)}, {"s1": up(old)}, None, 0.0)
    kinds = [(c[0], c[1][1]) for c in w.changes]
    pos = {c: i for i, c in enumerate(kinds)}
    assert pos[("INSERT", NH)] < pos[("INSERT", GRP)] < pos[("INSERT", RT)]       # create before use
    assert pos[("DELETE", RT)] < pos[("DELETE", NH)]                              # delete after the user
    assert pos[("MODIFY", GRP)] < pos[("DELETE", NH)]       # group 1 stops using nh 2 before it goes
    assert len(w.changes) == 6


def test_a_switch_that_missed_versions_is_brought_forward_in_one_diff():
    """Applied version 5, desired 7 (6 never reached it): one Write of the diff 5 -> 7, to version 7."""
    at5 = entries(weights=(1, 1), extra_route=True)
    (w,) = reconcile(D1, {"s1": up(at5, applied_version=5)}, None, 0.0)
    assert w.version == 7 and w.pipeline_cookie is None
    assert {c[0] for c in w.changes} == {"MODIFY", "DELETE"} and len(w.changes) == 2


def test_pipeline_is_pushed_only_when_the_cookie_differs():
    (w,) = reconcile(D1, {"s1": up(entries(), cookie=0xBAD)}, None, 0.0)
    assert w.pipeline_cookie == COOKIE
    assert len(w.changes) == len(entries()) and all(c[0] == "INSERT" for c in w.changes)
    (w,) = reconcile(D1, {"s1": up(empty(), cookie=None)}, None, 0.0)       # no pipeline at all
    assert w.pipeline_cookie == COOKIE
    assert reconcile(D1, {"s1": up(entries(), cookie=COOKIE)}, None, 0.0) == []


@pytest.mark.parametrize("event", [LinkDown("leaf1", "spine1"), NodeDown("spine2")])
def test_topology_events_ask_for_a_new_plan_first(event):
    assert reconcile(D1, {"s1": up(entries())}, event, 0.0) == [Recompute(event)]


def test_switches_in_name_order_each_in_one_batch():
    desired = {n: Desired(n, i, 7, COOKIE, entries()) for i, n in enumerate(["s3", "s1", "s2"], 1)}
    observed = {n: Observed(n, True, True, COOKIE, entries(weights=(2, 2))) for n in desired}
    acts = reconcile(desired, observed, None, 0.0)
    assert [a.switch for a in acts] == ["s1", "s2", "s3"] and all(len(a.changes) == 1 for a in acts)


def test_a_whole_conversation_converges_and_restart_reads_instead_of_reinstalling():
    """Connect -> read (empty, no pipeline) -> write with pipeline -> acked -> converged; then the
    service restarts (SwitchUp again): it reads, finds everything in place and writes nothing."""
    obs: dict[str, Observed] = {}
    log = []

    def step(event, now=0.0):
        nonlocal obs
        obs = observe(obs, event, now)
        acts = reconcile(D1, obs, event, now)
        obs = dispatched(obs, acts)
        log.append(acts)
        return acts

    assert step(SwitchUp("s1")) == [ReadSwitch("s1")]
    assert obs["s1"].inflight == READING and step(Tick()) == []          # read in flight
    (w,) = step(ReadDone("s1", None, empty()))
    assert w.pipeline_cookie == COOKIE and step(Tick()) == []            # write in flight
    assert step(Acked("s1", 7, w.entries, COOKIE)) == []
    assert converged(D1, obs) and obs["s1"].applied_version == 7
    assert step(SwitchDown("s1")) == [] and not converged(D1, obs)
    assert step(SwitchUp("s1")) == [ReadSwitch("s1")]
    assert step(ReadDone("s1", COOKIE, entries())) == []                 # nothing reinstalled
    assert converged(D1, obs)


def test_a_failed_write_is_read_again_after_the_back_off():
    obs = observe({"s1": up(entries(weights=(1, 1)), inflight=7)}, Failed("s1", 7, "RESOURCE_EXHAUSTED"), 100.0)
    assert obs["s1"].entries is None and obs["s1"].error == "RESOURCE_EXHAUSTED"
    assert reconcile(D1, obs, Tick(), 100.0) == []
    assert reconcile(D1, obs, Tick(), 100.0 + RETRY_S) == [ReadSwitch("s1")]
    obs = observe(obs, ReadDone("s1", COOKIE, entries(weights=(1, 1))), 101.5)
    (w,) = reconcile(D1, obs, None, 101.5)
    assert [c[0] for c in w.changes] == ["MODIFY"]
    assert observe(obs, Acked("s1", 7, w.entries, COOKIE), 102.0)["s1"].error is None


def test_the_core_imports_no_clock_socket_file_thread_or_randomness():
    import ast
    from pathlib import Path

    import fabric.server.reconcile as core

    tree = ast.parse(Path(core.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"time", "socket", "os", "io", "threading", "asyncio", "random", "grpc", "sqlite3",
                        "pathlib", "subprocess", "datetime"}, names


def test_a_switch_holding_the_desired_object_itself_is_not_compared(monkeypatch):
    """Converged switches cost nothing per pass: the diff is not even called for them."""
    import fabric.server.reconcile as core

    calls = []
    real = core.diff_canonical
    monkeypatch.setattr(core, "diff_canonical", lambda a, b: calls.append(1) or real(a, b))
    want = entries()
    desired = {f"s{i}": Desired(f"s{i}", i, 7, COOKIE, want) for i in range(50)}
    observed = {n: Observed(n, True, True, COOKIE, want, applied_version=7) for n in desired}
    assert reconcile(desired, observed, Tick(), 0.0) == [] and converged(desired, observed)
    assert calls == []
    observed["s3"] = Observed("s3", True, True, COOKIE, entries(), applied_version=7)   # equal, not identical
    assert reconcile(desired, observed, Tick(), 0.0) == [] and len(calls) == 1


def test_an_answer_overtaken_by_a_reconnect_is_ignored():
    """A write in flight, the stream drops and comes back (read in flight): the old write's answer
    must not stand for the read, or a second write would go out while the read is still pending."""
    obs = dispatched({"s1": up(entries(weights=(1, 1)))}, reconcile(D1, {"s1": up(entries(weights=(1, 1)))},
                                                                     None, 0.0))
    assert obs["s1"].inflight == 7
    obs = observe(obs, SwitchDown("s1"), 1.0)
    obs = observe(obs, SwitchUp("s1"), 2.0)
    obs = dispatched(obs, reconcile(D1, obs, None, 2.0))
    assert obs["s1"].inflight == READING
    for stale in (Acked("s1", 7, entries(), COOKIE), Failed("s1", 7, "UNAVAILABLE")):
        after = observe(obs, stale, 3.0)
        assert after["s1"] == obs["s1"] and reconcile(D1, after, stale, 3.0) == []
    # the read's own answer counts
    assert observe(obs, ReadDone("s1", COOKIE, entries()), 4.0)["s1"].inflight is None
    assert observe(obs, Failed("s1", None, "read: UNAVAILABLE"), 4.0)["s1"].error == "read: UNAVAILABLE"
