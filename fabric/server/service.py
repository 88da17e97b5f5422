"""The controller service: the store, the pure reconciler and the southbound put together.

One *loop* thread owns the desired and observed state: it takes one event at a time from a queue
(switch events from the southbound, new desired states from the planner thread, ticks), folds it into
the observed state (:func:`fabric.server.reconcile.observe`), asks the reconciler for actions and hands
them to the southbound's pool. A *planner* thread computes plans after topology events (warm) and
derives the desired state of a new version, so the loop is never blocked by a solver. API calls (from
the gRPC threads) read state under a lock and wait on a condition for acknowledgements.

The failure loop, with the figures :meth:`Controller.report_event` returns::

    link down -> warm WCMP recompute (recompute_ms) -> plan N+1 stored and made desired
              -> desired entries derived for the switches whose groups changed, diffs (diff_ms)
              -> one Write per changed switch, in parallel -> all acknowledged (push_ms)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from fabric import contract
from fabric.errors import ConfigError, FabricError
from fabric.plan import Plan
from fabric.server import reconcile as rc
from fabric.server.desired import DesiredBuilder
from fabric.server.planning import (
    FailurePlanner,
    FailureSet,
    WcmpState,
    cc_section,
    link_spec,
    next_wcmp_section,
    wcmp_demand,
)
from fabric.server.southbound import AgentRef, PortDown, Southbound
from fabric.server.store import Store
from fabric.topology import Fabric

#: Seconds between ticks of the loop (retries and reconnects are checked on ticks).
TICK_S = 0.25
#: Default seconds an API call waits for switches to acknowledge.
DEFAULT_WAIT_S = 60.0
#: Plan versions kept parsed in memory (the desired one, its neighbours in the failure loop).
MEMO_PLANS = 8
#: Fabrics read back from the store for calls that name an older one, and warm failure planners, kept
#: in memory (each is hundreds of MB on the 8,192-GPU fabric; the oldest is dropped beyond this).
MEMO_FABRICS = 4
MEMO_PLANNERS = 4
#: Event kinds the API accepts.
EVENT_KINDS = ("link_down", "link_up", "node_down", "node_up")


def settle_gc(*, collect: bool = False) -> None:
    """Move what is alive now (the fabric, planners, plans in memory: millions of long-lived objects on
    the 8,192-GPU fabric) out of the cyclic collector's reach (``gc.freeze``), so a full collection
    triggered on the failure path scans only what was made since. Measured: a full collection in the
    middle of building plan N+1 cost 290-450 ms, growing with every planner prepared; with the heap
    frozen it costs milliseconds. ``collect``: first unfreeze and collect everything (done after a
    planner is replaced, off the failure path, so cyclic garbage of an old one is not kept forever)."""
    import gc

    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


def _prepare_planner(fp: FailurePlanner, target: FailureSet) -> None:
    """On the planner thread after a restore: stand the planner at ``target`` for the next failure,
    then settle the collector (the old planner's objects are garbage now)."""
    fp.prepare(target)
    settle_gc(collect=True)


class NotFoundError(FabricError):
    """An unknown plan version, fabric, demand, link or node (gRPC NOT_FOUND)."""


class PreconditionError(FabricError):
    """The call needs state the controller does not have yet (gRPC FAILED_PRECONDITION)."""


@dataclass
class _Mem:
    """A plan version held in memory: the typed plan, its JSON document, and its wcmp groups by key."""

    plan: Plan
    doc: dict[str, Any]
    wcmp: WcmpState | None = None
    recipe: dict[str, Any] | None = None      # set for versions this controller made (stored or not yet)


@dataclass
class _NewDesired:
    version: int
    desired: dict[str, rc.Desired]
    changed: set[str]
    posted: float = 0.0
    installed: bool = False        # the loop made it desired (it may have been superseded since)


@dataclass
class _Progress:
    """What the loop did for one desired version (read by waiting API calls)."""

    version: int
    posted: float
    changed: set[str]
    source: object = None                                     # the _NewDesired it was installed from
    writes: dict[str, int] = field(default_factory=dict)      # switch -> updates sent
    acked: dict[str, float] = field(default_factory=dict)     # switch -> perf_counter when acknowledged


def fabric_from_store(body: dict[str, Any], name: str) -> Fabric:
    from fabric.io.yamlio import fabric_from_dict

    return fabric_from_dict(body, file=f"store:fabric {name}")


class Controller:
    """The service without its gRPC face (:mod:`fabric.server.grpc_api` translates)."""

    def __init__(self, store: Store, agents: Mapping[str, AgentRef] | None = None, *,
                 credentials: Any = None, clock: Callable[[], float] = time.time,
                 southbound_timeout_s: float = 10.0) -> None:
        self.store, self.clock = store, clock
        self.agents = dict(agents or {})
        self.credentials, self.southbound_timeout_s = credentials, southbound_timeout_s
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.queue: queue.Queue[Any] = queue.Queue()
        self.fabric: Fabric | None = None
        self.builder: DesiredBuilder | None = None
        self.desired: dict[str, rc.Desired] = {}
        self.desired_version: int | None = None
        self.observed: dict[str, rc.Observed] = {}
        self.progress: dict[int, _Progress] = {}
        self.planners: dict[str, FailurePlanner] = {}
        self._cache_lock = threading.Lock()
        self.watchers: list[queue.Queue[Any]] = []
        #: Callbacks ``(what, figures)`` for metrics: ``("loop", {"seconds"})`` after each event the loop
        #: handled, ``("reaction", <report_event's result>)`` after each topology event's push,
        #: ``("apply", <apply's result>)``. They run on the calling thread and must not block.
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.southbound: Southbound | None = None
        self.planner_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner")
        #: plan documents are written here, in order, while the switches are already being pushed to
        self.store_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._memo: dict[int, _Mem] = {}
        self._memo_lock = threading.Lock()
        self._reserved = 0
        #: the version the next topology event starts from: the last one the planner thread made
        #: desired (read and written on the planner thread only, so two events never start from the
        #: same version and lose one another's failure)
        self._head: int | None = None
        #: the last background plan write (the planner waits for it before looking a version up)
        self._stored: Future[Any] | None = None
        self._current: _NewDesired | None = None
        self._sections: dict[int, list[str]] = {}
        #: id(fabric) -> (weak reference, digest): a fabric no longer held is not kept alive by this
        self._digests: dict[int, tuple[weakref.ref[Fabric], str]] = {}
        self._loaded: dict[str, Fabric] = {}             # digest -> fabric read back from the store
        self._loop: threading.Thread | None = None
        self._stop = threading.Event()

    # ================================================================== lifetime
    def start(self) -> None:
        """Resume from the store: the latest fabric, the desired version's state; connect to agents."""
        rows = self.store.fabrics()
        want = self.store.desired()
        digest = None
        if want is not None:
            plan = self.store.plan(want)
            digest = plan.get("fabric_digest") if plan else None
        if digest is None and rows:
            digest = rows[-1][0]
        if digest is not None:
            got = self.store.fabric(digest)
            if got is not None:
                self.fabric = fabric_from_store(got[1], got[0])
        if self.fabric is not None and self.agents:
            self.builder = self._builder(self.fabric)
        if want is not None and self.builder is not None:
            nd = self._derive(want)
            self._install(nd)
            self._head = want
        if self.agents:
            self.southbound = Southbound(self.agents, self.store.next_election_id(), self.queue.put,
                                         self._pipeline_of, self._decoder_of, credentials=self.credentials,
                                         timeout_s=self.southbound_timeout_s)
            self.southbound.start()
        self._loop = threading.Thread(target=self._run, name="controller-loop", daemon=True)
        self._loop.start()
        settle_gc()

    def stop(self) -> None:
        self._stop.set()
        self.queue.put(None)
        if self.southbound is not None:
            self.southbound.close()
        self.planner_pool.shutdown(wait=False, cancel_futures=True)
        self.store_pool.shutdown(wait=True)
        if self._loop is not None:
            self._loop.join(timeout=5)

    # ================================================================== the loop
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=TICK_S)
            except queue.Empty:
                item = rc.Tick()
            if item is None:
                break
            t0 = time.perf_counter()
            try:
                self._handle(item)
            except Exception as exc:          # one bad event must not stop the controller
                self._notify("error", body={"error": f"{type(exc).__name__}: {exc}"})
            self._observe("loop", {"seconds": time.perf_counter() - t0, "event": type(item).__name__})

    def _observe(self, what: str, figures: dict[str, Any]) -> None:
        for cb in list(self.observers):
            try:
                cb(what, figures)
            except Exception:  # noqa: BLE001 (a metrics callback must never break the controller)
                pass

    def _handle(self, item: Any) -> None:
        now = self.clock()
        with self.lock:
            if isinstance(item, _NewDesired):
                self._install(item)
                event: Any = rc.Tick()
            elif isinstance(item, PortDown):
                self._port_event(item)
                return
            else:
                event = item
            self.observed = rc.observe(self.observed, event, now)
            if isinstance(event, rc.Acked):
                self._acked(event)
                if event.version != self.desired_version:     # a write overtaken by a newer version
                    self._synced_after_read(event.switch, now)
            elif isinstance(event, rc.Failed):
                sw = self.agents.get(event.switch)
                self.store.set_applied(event.switch, sw.device_id if sw else 0, None, None, event.error, now)
                self._notify("error", a=event.switch, body={"error": event.error, "version": event.version})
            elif isinstance(event, rc.ReadDone):
                self._synced_after_read(event.switch, now)
            actions = rc.reconcile(self.desired, self.observed, event, now)
            self.observed = rc.dispatched(self.observed, actions)
            if isinstance(item, _NewDesired):
                # a changed switch that already holds the new entries (it acknowledged an overtaken
                # version with the same ones) gets no write, hence no acknowledgement: it is synced now
                sent = {a.switch for a in actions if not isinstance(a, rc.Recompute)}
                for s in item.changed - sent:
                    o = self.observed.get(s)
                    if o is not None and o.connected and o.primary and o.inflight is None:
                        self._synced_after_read(s, now)
            for a in actions:
                if isinstance(a, rc.Write):
                    p = self.progress.get(a.version)
                    if p is not None:
                        p.writes[a.switch] = p.writes.get(a.switch, 0) + len(a.changes)
                if self.southbound is not None and not isinstance(a, rc.Recompute):
                    self.southbound.perform(a)
            self.cond.notify_all()

    def _install(self, nd: _NewDesired) -> None:
        old = self.desired_version
        self.desired, self.desired_version = nd.desired, nd.version
        nd.installed, self._current = True, nd
        self.progress[nd.version] = _Progress(nd.version, nd.posted or time.perf_counter(), nd.changed, nd)
        for v in [v for v in self.progress if v < nd.version - 16]:
            del self.progress[v]
        # switches that hold the old version's entries and were not touched hold the new one's
        if old is not None:
            for s, o in self.observed.items():
                if s not in nd.changed and o.applied_version == old and o.entries is not None:
                    self.observed[s] = replace(o, applied_version=nd.version)

    def _acked(self, ev: rc.Acked) -> None:
        sw = self.agents[ev.switch]
        self.store.set_applied(ev.switch, sw.device_id, ev.version, None, None, self.clock())
        p = self.progress.get(ev.version)
        if p is not None:
            p.acked[ev.switch] = time.perf_counter()
        self._notify("applied", a=ev.switch, body={"version": ev.version})

    def _synced_after_read(self, switch: str, now: float) -> None:
        """``switch`` (just read, or acknowledged an older version) holds the desired entries: record it."""
        d, o = self.desired.get(switch), self.observed.get(switch)
        if d is None or o is None or o.entries is None or o.cookie != d.cookie:
            return
        from p4.diff import diff_canonical

        if not diff_canonical(o.entries, d.entries):
            # equal: hold the desired object itself, so later passes need not compare them again
            self.observed[switch] = replace(o, applied_version=d.version, entries=d.entries)
            self.store.set_applied(switch, d.device_id, d.version, None, None, now)
            p = self.progress.get(d.version)
            if p is not None:
                p.acked.setdefault(switch, time.perf_counter())

    def _pipeline_of(self, switch: str) -> Any:
        assert self.builder is not None
        return self.builder.pipeline_of(switch)

    def _decoder_of(self, switch: str) -> Any:
        from p4.decode import Decoder

        pipe = self._pipeline_of(switch)
        dec = getattr(pipe, "decoder", None)
        if dec is None:
            dec = pipe.decoder = Decoder(pipe.program)
        return dec

    # ================================================================== watchers
    def _notify(self, kind: str, *, a: str | None = None, b: str | None = None, body: dict[str, Any] | None = None,
                event_id: int = 0) -> None:
        msg = {"event_id": event_id, "kind": kind, "a": a or "", "b": b or "", "body": body or {},
               "created_unix": self.clock()}
        for w in list(self.watchers):
            w.put(msg)

    def watch(self) -> queue.Queue[Any]:
        q: queue.Queue[Any] = queue.Queue()
        with self.lock:
            self.watchers.append(q)
        return q

    def unwatch(self, q: queue.Queue[Any]) -> None:
        with self.lock:
            if q in self.watchers:
                self.watchers.remove(q)

    # ================================================================== fabrics, demands, plans
    def submit_fabric(self, fabric: Fabric, who: str = "api") -> str:
        from fabric.io.yamlio import fabric_to_dict

        digest = self._digest(fabric)
        self.store.put_fabric(fabric.name, fabric_to_dict(fabric), digest, self.clock())
        self.store.audit(who, "submit_fabric", self.clock(), detail={"digest": digest, "name": fabric.name})
        with self.lock:
            if self.fabric is None or self.desired_version is None:
                self.fabric = fabric
                if self.agents:
                    self.builder = self._builder(fabric)
        return digest

    def _builder(self, fab: Fabric) -> DesiredBuilder:
        return DesiredBuilder(fab, {s: a.device_id for s, a in self.agents.items()}, digest=self._digest(fab))

    def fabric_document(self, digest: str = "") -> dict[str, Any]:
        """A submitted fabric (the current one when ``digest`` is empty) as ``{"digest", "name",
        "body"}``, the body being our topology document (``fabric_to_dict``)."""
        from fabric.io.yamlio import fabric_to_dict

        fab = self._fabric(digest or None)
        return {"digest": self._digest(fab), "name": fab.name, "body": fabric_to_dict(fab)}

    def _fabric(self, digest: str | None) -> Fabric:
        if not digest:
            if self.fabric is None:
                raise PreconditionError("no fabric submitted yet")
            return self.fabric
        if self.fabric is not None and self._digest(self.fabric) == digest:
            return self.fabric
        with self._cache_lock:
            fab = self._loaded.pop(digest, None)
        if fab is None:
            got = self.store.fabric(digest)
            if got is None:
                raise NotFoundError(f"no fabric {digest}")
            fab = fabric_from_store(got[1], got[0])
            self._remember_digest(fab, digest)          # stored under its digest: no need to compute it
        with self._cache_lock:                          # API threads call this at once
            self._loaded[digest] = fab                  # newest last
            while len(self._loaded) > MEMO_FABRICS:
                del self._loaded[next(iter(self._loaded))]
        return fab

    def _keep_planner(self, key: str, fp: FailurePlanner) -> FailurePlanner:
        """Keep ``fp`` as the warm planner for ``key`` (newest last; the oldest beyond
        :data:`MEMO_PLANNERS` is dropped and rebuilt if its recipe is used again)."""
        with self._cache_lock:                 # API threads and the planner thread both keep planners
            self.planners.pop(key, None)
            self.planners[key] = fp
            while len(self.planners) > MEMO_PLANNERS:
                del self.planners[next(iter(self.planners))]
        return fp

    def submit_demand(self, kind: str, text: str, fmt: str, who: str = "api") -> int:
        if kind not in ("demand", "job"):
            raise ConfigError(f"kind must be 'demand' or 'job', got {kind!r}", where="kind")
        fab = self._fabric(None)
        body = {"format": fmt, "text": text}
        if kind == "demand":
            from fabric.server.planning import demand_from_document

            demand_from_document(body, fab)           # refuse a bad document now, naming the field
        did = self.store.put_demand(kind, body, self.clock())
        self.store.audit(who, "submit_demand", self.clock(), detail={"demand_id": did, "kind": kind})
        return did

    def compute_plan(self, planner: str, *, fabric_digest: str = "", demand_id: int = 0,
                     options: dict[str, Any] | None = None, base_version: int = 0, apply: bool = False,
                     who: str = "api") -> dict[str, Any]:
        t0 = time.perf_counter()
        opts = dict(options or {})
        fab = self._fabric(fabric_digest)
        if base_version:
            base = self._plan(base_version)
            base.check_fabric(fab)
            recipe = dict(self.store.plan_row(base_version).recipe)  # type: ignore[union-attr]
        else:
            base = Plan(fabric=fab.name, fabric_digest=self._digest(fab))
            recipe = {}
        now = self.clock()
        if planner == "wcmp":
            demand = self.store.demand(demand_id) if demand_id else None
            if demand_id and demand is None:
                raise NotFoundError(f"no demand {demand_id}")
            fp = FailurePlanner(fab, wcmp_demand(fab, opts, demand), opts)
            res = fp.solve(FailureSet())
            section, summary = res.section(), res.summary()
            recipe["wcmp"] = {"options": opts, "demand_id": demand_id, "failures": {"links": [], "nodes": []}}
        elif planner == "cc":
            section = cc_section(fab, opts)
            summary = {"port_groups": len(section.port_groups)}
            recipe["cc"] = {"options": opts}
        else:
            raise ConfigError(f"unknown planner {planner!r} (planners: wcmp, cc)", where="planner")
        base.add(section, fabric=fab, created_unix=now)
        doc = base.to_dict()
        with self._memo_lock:
            version, new = self.store.put_plan(doc, now, parent_version=base_version or None,
                                               reason=f"{planner} by {who}", recipe=recipe, version=self._reserve())
        if new:
            wstate = WcmpState.of(base.wcmp, res.groups) if planner == "wcmp" and base.wcmp is not None else None
            self._remember(version, base, doc, wstate, recipe)
        if planner == "wcmp":
            self._keep_planner(self._planner_key(fab, recipe), fp)
        self.store.audit(who, "compute_plan", now, version=version, detail={"planner": planner})
        if apply:
            self.apply(version, who=who, wait=False)
        settle_gc()
        return {"version": version, "new": new, "summary": summary, "seconds": time.perf_counter() - t0}

    def _digest(self, fab: Fabric) -> str:
        """``fab.digest()``, once per fabric object (the controller never changes a fabric it holds;
        the 8,192-GPU fabric's digest costs 50-150 ms)."""
        got = self._digests.get(id(fab))
        if got is not None and got[0]() is fab:
            return got[1]
        digest = fab.digest()
        self._remember_digest(fab, digest)
        return digest

    def _remember_digest(self, fab: Fabric, digest: str) -> None:
        key = id(fab)
        self._digests[key] = (weakref.ref(fab, lambda _r: self._digests.pop(key, None)), digest)

    def _reserve(self) -> int:
        """The next plan version number (call with ``_memo_lock`` held): plans written in the
        background take their number before the write, so it must never be handed out twice."""
        self._reserved = max(self.store.latest_version() or 0, self._reserved) + 1
        return self._reserved

    def _remember(self, version: int, plan: Plan, doc: dict[str, Any], wcmp: WcmpState | None = None,
                  recipe: dict[str, Any] | None = None) -> None:
        with self._memo_lock:
            self._memo[version] = _Mem(plan, doc, wcmp, recipe)
            while len(self._memo) > MEMO_PLANS:
                del self._memo[next(iter(self._memo))]

    def _mem(self, version: int) -> _Mem:
        with self._memo_lock:
            m = self._memo.get(version)
        if m is not None:
            return m
        body = self.store.plan(version)
        if body is None:
            raise NotFoundError(f"no plan version {version}")
        plan = Plan.from_dict(body, file=f"store:plan {version}")
        self._remember(version, plan, body)
        return self._memo.get(version) or _Mem(plan, body)

    def _plan(self, version: int) -> Plan:
        return self._mem(version).plan

    def _wcmp_state(self, version: int) -> WcmpState:
        m = self._mem(version)
        if m.wcmp is None:
            assert m.plan.wcmp is not None
            raw = m.doc.get("sections", {}).get("wcmp", {}).get("data", {}).get("groups")
            m.wcmp = WcmpState.of(m.plan.wcmp, raw if isinstance(raw, list) else None)
        return m.wcmp

    def plans(self) -> list[dict[str, Any]]:
        want = self.store.desired()
        out = []
        for r in self.store.plans():
            out.append({"version": r.version, "digest": r.digest, "fabric_digest": r.fabric_digest or "",
                        "parent_version": r.parent_version or 0, "reason": r.reason,
                        "created_unix": r.created_unix, "desired": r.version == want,
                        "sections": self._sections_of(r.version)})
        return out

    def _sections_of(self, version: int) -> list[str]:
        """A plan version's section names, read once (versions are immutable; a listing read every
        plan's body, ~30 MiB each on the 8,192-GPU fabric, on every call)."""
        got = self._sections.get(version)
        if got is None:
            body = self.store.plan(version) or {}
            got = self._sections[version] = sorted(body.get("sections", {}))
        return got

    def plan_json(self, version: int) -> str:
        return self._plan(version).to_json()

    def diff(self, old: int, new: int) -> dict[str, Any]:
        from fabric.plan.diff import diff

        return diff(self._plan(old), self._plan(new))

    # ================================================================== apply
    def _derive(self, version: int, touched: set[str] | None = None) -> _NewDesired:
        if self.builder is None:
            raise PreconditionError("the controller has no fabric or no switch agents")
        plan = self._plan(version)
        desired = self.builder.build(version, plan, touched=touched)
        return _NewDesired(version, desired, set(self.builder.last_changed), time.perf_counter())

    def _derive_head(self, version: int) -> _NewDesired:
        """On the planner thread: the desired state of an applied version, which later events start from."""
        nd = self._derive(version)
        self._head = version
        return nd

    def apply(self, version: int, *, who: str = "api", wait: bool = True,
              timeout_s: float = DEFAULT_WAIT_S) -> dict[str, Any]:
        """Make ``version`` desired (audited) and push it; with ``wait``, until every switch acknowledged."""
        plan = self._plan(version)
        if plan.wcmp is None:
            raise PreconditionError(f"plan version {version} has no wcmp section: nothing to program")
        if self.builder is None:
            raise PreconditionError("the controller has no fabric or no switch agents")
        plan.check_fabric(self.builder.fabric)
        self.store.set_desired(version, who, self.clock())
        t0 = time.perf_counter()
        nd = self.planner_pool.submit(self._derive_head, version).result()
        self.queue.put(nd)
        self._notify("apply", body={"version": version, "who": who})
        out: dict[str, Any] = {"version": version, "converged": False}
        if wait:                   # one deadline for both waits (the client's deadline is timeout_s + 30)
            deadline = time.monotonic() + timeout_s
            self._wait_installed(nd, timeout_s)
            out["converged"] = self.wait_converged(version, max(0.0, deadline - time.monotonic()))
        with self.lock:
            p = self.progress.get(version)
            p = p if p is not None and p.source is nd else None
            out |= {"switches_updated": len(p.writes) if p else 0,
                    "updates": sum(p.writes.values()) if p else 0,
                    "push_ms": (max(p.acked.values()) - t0) * 1000 if p and p.acked else 0.0}
        self._observe("apply", out)
        return out

    def _wait_installed(self, nd: _NewDesired, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while (p := self.progress.get(nd.version)) is None or p.source is not nd:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(min(left, TICK_S))

    def wait_converged(self, version: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                if self.desired_version == version and rc.converged(self.desired, self.observed):
                    return True
                left = deadline - time.monotonic()
                superseded = self.desired_version is not None and self.desired_version > version
                if left <= 0 or superseded:
                    return False
                self.cond.wait(min(left, TICK_S))

    def _wait_switches(self, nd: _NewDesired, switches: set[str], timeout_s: float) -> float | None:
        """perf_counter when every switch of ``switches`` acknowledged the desired state ``nd`` (a
        version applied again is waited for afresh; None on timeout, or once a later desired state
        replaced ``nd``)."""
        deadline = time.monotonic() + timeout_s
        version = nd.version
        with self.cond:
            while True:
                p = self.progress.get(version)
                if p is not None and p.source is nd:
                    pending = {s for s in switches if s in self.desired} - set(p.acked)
                    if not pending:
                        return max((p.acked[s] for s in switches if s in p.acked), default=time.perf_counter())
                if nd.installed and self._current is not nd:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, TICK_S))

    # ================================================================== events
    def _planner_key(self, fab: Fabric, recipe: dict[str, Any]) -> str:
        w = recipe.get("wcmp", {})
        return json.dumps([self._digest(fab), w.get("options", {}), w.get("demand_id", 0)], sort_keys=True)

    def _failure_planner(self, fab: Fabric, recipe: dict[str, Any]) -> FailurePlanner:
        key = self._planner_key(fab, recipe)
        fp = self.planners.get(key)
        if fp is None:
            w = recipe.get("wcmp")
            if w is None:
                raise PreconditionError("the desired plan was not computed by this controller's wcmp planner: "
                                        "compute one (ctl plans / ComputePlan wcmp) before reporting events")
            did = int(w.get("demand_id") or 0)
            demand = self.store.demand(did) if did else None
            fp = self._keep_planner(key, FailurePlanner(fab, wcmp_demand(fab, w.get("options", {}), demand),
                                                        w.get("options", {})))
        return fp

    def report_event(self, kind: str, a: str, b: str = "", *, who: str = "api", wait: bool = True,
                     timeout_s: float = DEFAULT_WAIT_S) -> dict[str, Any]:
        """A topology event: recompute warm, store and apply version N+1, push the diffs; returns the
        timings of each step (the ``ctl fail --json`` document)."""
        t0 = time.perf_counter()
        if kind not in EVENT_KINDS:
            raise ConfigError(f"unknown event kind {kind!r} (kinds: {', '.join(EVENT_KINDS)})", where="kind")
        with self.lock:
            applied = self.desired_version is not None
            fab = self.builder.fabric if self.builder is not None else None
        if not applied or fab is None:
            raise PreconditionError("no plan is applied yet: apply one before reporting events")
        down = kind.endswith("_down")
        change: Callable[[FailureSet], FailureSet]
        if kind.startswith("link"):
            if not b:
                raise ConfigError("a link event needs both ends (a and b)", where="b")
            try:
                spec = link_spec(fab, a, b)
            except ConfigError as exc:
                raise NotFoundError(exc.reason) from None
            change = lambda fs: fs.with_link(spec, down)  # noqa: E731
        else:
            if a not in fab.graph:
                raise NotFoundError(f"no node {a!r} in fabric {fab.name!r}")
            change = lambda fs: fs.with_node(a, down)  # noqa: E731
        # the event is written to the store (an fsync) on the store thread while the planner works on it;
        # it is durable before the call returns
        logged: Future[int] = self.store_pool.submit(self.store.add_event, kind, self.clock(), a=a, b=b or None,
                                                     body={"who": who})
        fut: Future[tuple[int, float, float, _NewDesired | None, Callable[[], None] | None]] = \
            self.planner_pool.submit(self._recompute, change, fab, kind, a, b, who)
        new_version, recompute_ms, diff_ms, nd, write = fut.result()
        event_id = logged.result()
        self._notify(kind, a=a, b=b, event_id=event_id)
        t_posted = time.perf_counter()
        if nd is not None:
            self.queue.put(nd)
        out: dict[str, Any] = {"event_id": event_id, "plan_version": new_version, "recompute_ms": recompute_ms,
                               "diff_ms": diff_ms, "push_ms": 0.0, "total_ms": 0.0,
                               "switches_updated": 0, "updates": 0}
        if wait and nd is not None:
            done = self._wait_switches(nd, nd.changed, timeout_s)
            if done is not None:
                out["push_ms"] = (done - t_posted) * 1000
                out["acked_ms"] = (done - t0) * 1000     # the event -> every affected switch acknowledged
        if write is not None:          # the new version is in the store before the event is acknowledged
            stored = self._stored = self.store_pool.submit(write)
            stored.result()
            out["store_ms"] = (time.perf_counter() - t_posted) * 1000
        with self.lock:
            p = self.progress.get(new_version)
            if nd is not None and p is not None and p.source is nd:
                out["switches_updated"] = len(p.writes)
                out["updates"] = sum(p.writes.values())
        out["total_ms"] = (time.perf_counter() - t0) * 1000
        self.store.update_event(event_id, {k: v for k, v in out.items() if k != "event_id"})
        self._notify("reaction", a=a, b=b, body=out, event_id=event_id)
        self._observe("reaction", out | {"kind": kind, "a": a, "b": b})
        return out

    def _recompute(self, change: Callable[[FailureSet], FailureSet], fab: Fabric, kind: str, a: str, b: str,
                   who: str) -> tuple[int, float, float, _NewDesired | None, Callable[[], None] | None]:
        """On the planner thread: plan N+1 for the failures of N (the last version this thread made
        desired) changed by ``change``, and its desired state. Events are taken one at a time here,
        so two reported at once both end up in the plan. A failure set that is N's own (the other end
        of a link reporting the same failure) changes nothing (no desired state). A failure set seen
        before is its stored version (no work). Otherwise the warm planner's result becomes plan N+1,
        typed only where its groups changed; N+1 takes its number now and is written to the store in
        the background while the switches are pushed (the event is acknowledged after both)."""
        t0 = time.perf_counter()
        if self._stored is not None:       # the previous event's plan is in the store before we look
            try:
                self._stored.result()
            except Exception:  # noqa: BLE001 (that event's caller was told)
                pass
        version = self._head
        if version is None:
            raise PreconditionError("no plan is applied yet: apply one before reporting events")
        recipe = self._recipe_of(version)
        fails = recipe.get("wcmp", {}).get("failures", {})
        current = FailureSet(frozenset(fails.get("links", [])), frozenset(fails.get("nodes", [])))
        target = change(current)
        if target == current:
            return version, (time.perf_counter() - t0) * 1000, 0.0, None, None
        detail = {"event": kind, "a": a, "b": b}
        cached = self._version_for(recipe, target, fab)
        stored: Callable[[], None] | None = None
        touched: set[str] | None = None
        if cached is not None:
            new_version = cached
            self.store.set_desired(new_version, who, self.clock(), detail=detail)
        else:
            fp = self._failure_planner(fab, recipe)
            res = fp.solve(target)
            old = self._mem(version)
            old_state = self._wcmp_state(version)
            now = self.clock()
            state, touched = next_wcmp_section(old_state, res, fabric_digest=old_state.section.provenance.fabric_digest,
                                               created_unix=now)
            for spec in set(old_state.section.failed_links) ^ set(state.section.failed_links):
                lk = fab.find_link(spec)
                touched |= {lk.a, lk.b}
            plan = dataclasses.replace(old.plan, wcmp=state.section)
            doc = dict(old.doc)
            doc["sections"] = {**old.doc["sections"], "wcmp": {"provenance": contract.dump(state.section.provenance),
                                                                "data": res.section_data()}}
            new_recipe = json.loads(json.dumps(recipe))
            new_recipe["wcmp"]["failures"] = {"links": sorted(target.links), "nodes": sorted(target.nodes)}
            with self._memo_lock:
                new_version = self._reserve()
            self._remember(new_version, plan, doc, state, new_recipe)
            write = functools.partial(self._store_plan, new_version, doc, now, version, f"{kind} {a} {b}".strip(),
                                      new_recipe, who, detail)
        t1 = time.perf_counter()
        nd = self._derive(new_version, touched)
        self._head = new_version
        t2 = time.perf_counter()
        # plan N+1 is written by the caller once the switches acknowledged it (serialising ~1.3 MB of
        # plan holds the GIL for ~30 ms: done during the push it delayed the push by as much)
        stored = write if cached is None else None
        if cached is not None:
            fp = self._failure_planner(fab, recipe)
            if not fp.ready_for(target):          # a restore: stand the planner there for the next failure
                self.planner_pool.submit(_prepare_planner, fp, target)
        return new_version, (t1 - t0) * 1000, (t2 - t1) * 1000, nd, stored

    def _store_plan(self, version: int, doc: dict[str, Any], now: float, parent: int, reason: str,
                    recipe: dict[str, Any], who: str, detail: dict[str, Any]) -> None:
        got, new = self.store.put_plan(doc, now, parent_version=parent, reason=reason, recipe=recipe,
                                       version=version)
        if got != version:                        # cannot happen: a failure set seen before is reused
            raise RuntimeError(f"plan version {version} is identical to version {got}")
        if self._head == version:
            self.store.set_desired(version, who, now, detail=detail)
        else:                                     # a later event (or apply) already moved on from it
            self.store.audit(who, "apply", now, version=version, detail=detail | {"superseded_by": self._head})

    def _recipe_of(self, version: int) -> dict[str, Any]:
        """How ``version`` was computed: from memory for versions this controller made (the newest may
        not be in the store yet), else from the store."""
        with self._memo_lock:
            m = self._memo.get(version)
        if m is not None and m.recipe is not None:
            return m.recipe
        row = self.store.plan_row(version)
        if row is None:
            raise NotFoundError(f"no plan version {version}")
        return row.recipe

    def _version_for(self, recipe: dict[str, Any], target: FailureSet, fab: Fabric) -> int | None:
        """A stored version of the same recipe under the same failures (newest first)."""
        w = recipe.get("wcmp", {})
        key = (json.dumps(w.get("options", {}), sort_keys=True), w.get("demand_id", 0))
        want = {"links": sorted(target.links), "nodes": sorted(target.nodes)}
        digest = self._digest(fab)
        known = {r.version: (r.fabric_digest, r.recipe) for r in self.store.plans()}
        with self._memo_lock:              # versions made here whose store write may still be pending
            for v, m in self._memo.items():
                if m.recipe is not None:
                    known.setdefault(v, (m.plan.fabric_digest, m.recipe))
        for v in sorted(known, reverse=True):
            fdig, rec = known[v]
            rw = rec.get("wcmp")
            if (rw is not None and fdig == digest and rw.get("failures") == want
                    and (json.dumps(rw.get("options", {}), sort_keys=True), rw.get("demand_id", 0)) == key
                    and {k: val for k, val in rec.items() if k != "wcmp"}
                    == {k: val for k, val in recipe.items() if k != "wcmp"}):
                return v
        return None

    def _port_event(self, pd: PortDown) -> None:
        """An agent's port went down or up: the link on that port goes down or up (in the background)."""
        if self.builder is None:
            return
        from p4.runtime import port_numbers

        fab = self.builder.fabric
        names = {n: p for p, n in port_numbers(fab, pd.switch).items()}
        port = names.get(pd.port)
        if port is None:
            return
        for other in fab.graph.adj[pd.switch]:
            for lk in fab.links_between(pd.switch, other):
                if (lk.a, lk.port_a) != (pd.switch, port) and (lk.b, lk.port_b) != (pd.switch, port):
                    continue
                threading.Thread(target=self._agent_event, args=("link_up" if pd.up else "link_down",
                                                                 pd.switch, other), daemon=True).start()
                return

    def _agent_event(self, kind: str, a: str, b: str) -> None:
        try:
            self.report_event(kind, a, b, who=f"agent:{a}", wait=False)
        except Exception as exc:  # noqa: BLE001 (this thread has no caller: every error goes to watchers)
            err = str(exc) if isinstance(exc, FabricError) else f"{type(exc).__name__}: {exc}"
            self._notify("error", a=a, b=b, body={"error": err})

    # ================================================================== status
    def status(self) -> dict[str, Any]:
        with self.lock:
            switches = []
            for name in sorted(set(self.agents) | set(self.desired)):
                o = self.observed.get(name, rc.Observed(name))
                d = self.desired.get(name)
                ref = self.agents.get(name)
                switches.append({"name": name, "connected": o.connected, "primary": o.primary,
                                 "desired_version": d.version if d else 0,
                                 "applied_version": o.applied_version or 0, "error": o.error or "",
                                 "device_id": ref.device_id if ref else 0, "address": ref.address if ref else ""})
            return {"plan_version": self.desired_version or 0, "switches": switches,
                    "fabric_digest": self._digest(self.fabric) if self.fabric is not None else "",
                    "converged": bool(self.desired) and rc.converged(self.desired, self.observed)}
