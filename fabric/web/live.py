"""The web view's documents for a running controller: reads its store and state, never writes.

Every method returns plain JSON data; an unknown plan version is
:class:`fabric.server.service.NotFoundError`, a bad argument a :class:`fabric.errors.ConfigError`
(the application turns them into 404 and 400 answers).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from fabric.errors import ConfigError
from fabric.plan import Plan
from fabric.server.service import Controller, NotFoundError, PreconditionError, fabric_from_store
from fabric.topology import Fabric
from fabric.web import views

#: Plan versions whose utilisation is kept in memory (each is one dict per mode).
UTIL_CACHE_VERSIONS = 32
#: Maps (plan version, level) kept in memory (a version's map never changes).
MAP_CACHE_VERSIONS = 8
#: Most events / audit rows one call returns.
MAX_ROWS = 1000


class LiveView:
    """Documents for the page and ``/metrics`` from ``ctl`` (thread-safe; caches per plan version)."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._lock = threading.Lock()
        self._fabrics: dict[str, Fabric] = {}
        self._util: OrderedDict[tuple[int, str], dict[str, float]] = OrderedDict()
        self._maps: OrderedDict[tuple[int, str, tuple[str, ...]], dict[str, Any]] = OrderedDict()

    # ------------------------------------------------------------------ versions and fabrics
    def version(self, v: int | None) -> int:
        """``v``, or the desired version, or the newest; NotFoundError for an unknown one."""
        if v is None or v == 0:
            want = self.ctl.store.desired() or self.ctl.store.latest_version()
            if want is None:
                raise PreconditionError("no plan computed yet")
            return want
        if self.ctl.store.plan_row(v) is None:
            raise NotFoundError(f"no plan version {v}")
        return v

    def plan(self, v: int) -> Plan:
        body = self.ctl.store.plan(v)
        if body is None:
            raise NotFoundError(f"no plan version {v}")
        return Plan.from_dict(body, file=f"store:plan {v}")

    def fabric_of(self, digest: str | None) -> Fabric:
        cur = self.ctl.fabric
        if not digest or (cur is not None and cur.digest() == digest):
            if cur is None:
                raise PreconditionError("no fabric submitted yet")
            return cur
        with self._lock:
            fab = self._fabrics.get(digest)
        if fab is None:
            got = self.ctl.store.fabric(digest)
            if got is None:
                raise NotFoundError(f"no fabric {digest}")
            fab = fabric_from_store(got[1], got[0])
            with self._lock:
                self._fabrics[digest] = fab
        return fab

    def failures(self, v: int) -> tuple[list[str], list[str]]:
        """(link specs, nodes) down in plan ``v`` (its recipe, else its wcmp section)."""
        row = self.ctl.store.plan_row(v)
        fails = (row.recipe.get("wcmp", {}).get("failures") if row is not None else None) or {}
        links, nodes = list(fails.get("links", [])), list(fails.get("nodes", []))
        if not links and not nodes:
            plan = self.plan(v)
            if plan.wcmp is not None:
                links = list(plan.wcmp.failed_links)
        return links, nodes

    # ------------------------------------------------------------------ documents
    def status(self) -> dict[str, Any]:
        return self.ctl.status()

    def plans(self) -> list[dict[str, Any]]:
        return self.ctl.plans()

    def diff(self, a: int, b: int) -> dict[str, Any]:
        self.version(a)
        self.version(b)
        return self.ctl.diff(a, b)

    def fabric_map(self, level: str, v: int | None, expand: tuple[str, ...] = ()) -> dict[str, Any]:
        if level not in views.LEVELS:
            raise ConfigError(f"level must be one of {', '.join(views.LEVELS)}, got {level!r}", where="level")
        try:
            ver = self.version(v)
        except PreconditionError:
            if v:
                raise
            fab = self.fabric_of(None)
            return views.fabric_map(fab, level, expand=expand) | {"version": 0}
        with self._lock:
            got = self._maps.get((ver, level, expand))
        if got is not None:
            return got
        plan = self.plan(ver)
        fab = self.fabric_of(plan.fabric_digest)
        links, nodes = self.failures(ver)
        doc = views.fabric_map(fab, level, down=views.failed_link_ids(fab, links, nodes), expand=expand)
        doc["version"] = ver
        with self._lock:
            self._maps[(ver, level, expand)] = doc
            while len(self._maps) > MAP_CACHE_VERSIONS:
                self._maps.popitem(last=False)
        return doc

    def utilisation(self, v: int | None, mode: str) -> dict[str, float]:
        """Planned utilisation per link id of plan ``v`` (cached per version and mode)."""
        from fabric.server.planning import wcmp_demand

        if mode not in views.MODES:
            raise ConfigError(f"mode must be one of {', '.join(views.MODES)}, got {mode!r}", where="mode")
        ver = self.version(v)
        with self._lock:
            got = self._util.get((ver, mode))
            if got is not None:
                self._util.move_to_end((ver, mode))
                return got
        plan = self.plan(ver)
        if plan.wcmp is None:
            return {}
        fab = self.fabric_of(plan.fabric_digest)
        row = self.ctl.store.plan_row(ver)
        w = (row.recipe.get("wcmp") if row is not None else None) or {}
        did = int(w.get("demand_id") or 0)
        demand = wcmp_demand(fab, w.get("options", {}), self.ctl.store.demand(did) if did else None)
        links, nodes = self.failures(ver)
        groups = [g for g in _groups(plan)]
        util = views.planned_utilisation(fab, groups, demand, mode=mode, failed_links=links, failed_nodes=nodes)
        with self._lock:
            self._util[(ver, mode)] = util
            while len(self._util) > UTIL_CACHE_VERSIONS:
                self._util.popitem(last=False)
        return util

    def utilisation_doc(self, v: int | None, mode: str, level: str, top: int,
                        expand: tuple[str, ...] = ()) -> dict[str, Any]:
        fmap = self.fabric_map(level, v, expand)
        ver = fmap["version"]
        util = self.utilisation(ver, mode) if ver else {}
        shown = views.aggregate_utilisation(util, fmap)
        plan = self.plan(ver) if ver else None
        return {"version": ver, "mode": mode, "level": fmap["level"], "links": shown,
                "busiest": views.busiest(util, top),
                "mlu": max(util.values(), default=0.0),
                "plan_mlu": ({"wcmp": plan.wcmp.mlu_wcmp, "ecmp": plan.wcmp.mlu_ecmp, "lp": plan.wcmp.mlu_lp}
                             if plan is not None and plan.wcmp is not None else None),
                "measured": None,
                "measured_note": "no link counters from the agents yet: planned utilisation only"}

    def events(self, since: int, limit: int) -> list[dict[str, Any]]:
        rows = self.ctl.store.events(since_id=since, limit=min(limit, MAX_ROWS))
        return [{"event_id": r.id, "kind": r.kind, "a": r.a or "", "b": r.b or "", "body": r.body,
                 "created_unix": r.created_unix} for r in rows]

    def audit(self, limit: int) -> list[dict[str, Any]]:
        rows = self.ctl.store.audit_log()[-min(limit, MAX_ROWS):]
        return [{"id": i, "who": who, "action": action, "version": version, "detail": detail,
                 "created_unix": t} for i, who, action, version, detail, t in rows]

    def progress(self) -> dict[str, Any]:
        """Per switch: desired and applied version, connection; per recent version: writes and acks."""
        st = self.ctl.status()
        with self.ctl.lock:
            recent = {v: {"changed": sorted(p.changed), "writes": dict(p.writes),
                          "acked_ms": {s: round((t - p.posted) * 1000, 3) for s, t in p.acked.items()}}
                      for v, p in sorted(self.ctl.progress.items())[-8:]}
        return {"plan_version": st["plan_version"], "converged": st["converged"], "switches": st["switches"],
                "versions": {str(k): v for k, v in recent.items()}}

    def budgets(self, v: int | None) -> dict[str, Any]:
        ver = self.version(v)
        return views.budgets_view(self.plan(ver)) | {"version": ver}

    def cc(self, v: int | None) -> dict[str, Any]:
        ver = self.version(v)
        return views.cc_view(self.plan(ver)) | {"version": ver}

    def store_bytes(self) -> int:
        """Bytes of the store's SQLite files (database, WAL, shared memory)."""
        path = str(getattr(self.ctl.store, "path", ""))
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(path + suffix)
            except OSError:
                pass
        return total


def _groups(plan: Plan) -> list[dict[str, Any]]:
    from fabric import contract

    assert plan.wcmp is not None
    return [contract.dump(g) for g in plan.wcmp.groups]
