"""The controller's store: one SQLite file in WAL mode (embedded, no server to start).

What it holds: fabrics (by digest), demands, plan versions (immutable and content-addressed: the same
plan submitted twice is the same version), the desired version, what each switch acknowledged, the
event log, an audit log of who applied what, and the P4Runtime election id the controller bids with.

Every method that changes state is one transaction committed with ``synchronous=FULL`` before it
returns, so a ``kill -9`` at any instant loses nothing that was acknowledged (tests kill a writer at
random points and check). The schema is versioned (``PRAGMA user_version``) and upgraded by the
ordered :data:`MIGRATIONS`, each in its own transaction; a file written by a newer fabricctl is refused.

The store takes ``now`` from its caller (it reads no clock), like the reconciler.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fabric.errors import FabricError

#: Seconds a writer waits for SQLite's lock before giving up (another process holding the file).
BUSY_TIMEOUT_S = 5.0

#: The schema, one script per version; version N is reached by running scripts 1..N in order.
MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE fabrics (digest TEXT PRIMARY KEY, name TEXT NOT NULL, body_json TEXT NOT NULL,
                          created_unix REAL NOT NULL);
    CREATE TABLE demands (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, digest TEXT NOT NULL UNIQUE,
                          body_json TEXT NOT NULL, created_unix REAL NOT NULL);
    CREATE TABLE plans (version INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE,
                        fabric_digest TEXT, body_json TEXT NOT NULL, parent_version INTEGER,
                        reason TEXT NOT NULL DEFAULT '', recipe_json TEXT NOT NULL DEFAULT '{}',
                        created_unix REAL NOT NULL);
    CREATE TABLE desired (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL
                          REFERENCES plans(version));
    CREATE TABLE switches (name TEXT PRIMARY KEY, device_id INTEGER NOT NULL, applied_version INTEGER,
                           applied_digest TEXT, last_error TEXT, updated_unix REAL NOT NULL);
    CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, a TEXT, b TEXT,
                         body_json TEXT NOT NULL DEFAULT '{}', created_unix REAL NOT NULL);
    CREATE TABLE audit (id INTEGER PRIMARY KEY, who TEXT NOT NULL, action TEXT NOT NULL,
                        version INTEGER, detail_json TEXT NOT NULL DEFAULT '{}', created_unix REAL NOT NULL);
    CREATE TABLE election (id INTEGER PRIMARY KEY CHECK (id = 1), high INTEGER NOT NULL, low INTEGER NOT NULL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(FabricError):
    """The store file cannot be used (newer schema, not a database, locked)."""


def plan_text(plan: dict[str, Any]) -> str:
    """A plan as stored: compact JSON without ``created_unix`` (kept in its own column), in the key
    order :meth:`fabric.plan.Plan.to_dict` writes (deterministic: the same plan, the same text, the
    same content address)."""
    return json.dumps({k: v for k, v in plan.items() if k != "created_unix"}, separators=(",", ":"),
                      allow_nan=False)


def content_digest(obj: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``obj`` (sorted keys, no whitespace): the address of
    a plan or a demand."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PlanRow:
    version: int
    digest: str
    fabric_digest: str | None
    parent_version: int | None
    reason: str
    recipe: dict[str, Any]
    created_unix: float


@dataclass(frozen=True)
class SwitchRow:
    name: str
    device_id: int
    applied_version: int | None
    applied_digest: str | None
    last_error: str | None
    updated_unix: float


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    a: str | None
    b: str | None
    body: dict[str, Any]
    created_unix: float


class Store:
    """One controller's state in one SQLite file. Safe to share between the service's threads (one
    connection behind a lock for writes, SQLite serialises writers anyway; another for reads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._reader: sqlite3.Connection | None = None
            self._migrate()
            # reads go through a connection of their own: in WAL mode they see the last commit and never
            # wait for a writer's fsync (the failure path reads while the event is being written)
            self._reader = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                           check_same_thread=False)
            self._rlock = threading.RLock()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use it as the controller's store: {exc}", file=self.path) from None

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._reader is not None:
                with self._rlock:
                    self._reader.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the write lock is taken at the start, so two
        controllers on one file never interleave a read-modify-write)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> Any:
        if self._reader is None:                 # while migrating
            with self._lock:
                return self._db.execute(sql, args).fetchone()
        with self._rlock:
            return self._reader.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: Any) -> list[Any]:
        if self._reader is None:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        with self._rlock:
            return self._reader.execute(sql, args).fetchall()

    @property
    def schema_version(self) -> int:
        return int(self._one("PRAGMA user_version")[0])

    def _migrate(self) -> None:
        have = self.schema_version
        if have > SCHEMA_VERSION:
            raise StoreError(f"schema version {have} is newer than this fabricctl's ({SCHEMA_VERSION}): "
                             "upgrade fabricctl", file=self.path)
        for n in range(have, SCHEMA_VERSION):
            with self._tx() as db:
                for stmt in MIGRATIONS[n].split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.execute(f"PRAGMA user_version = {n + 1}")

    def integrity_ok(self) -> bool:
        return self._one("PRAGMA integrity_check")[0] == "ok"

    # ------------------------------------------------------------------ fabrics and demands
    def put_fabric(self, name: str, body: dict[str, Any], digest: str, now: float) -> str:
        """Record a fabric under its digest (:meth:`fabric.topology.Fabric.digest`); idempotent."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO fabrics VALUES (?, ?, ?, ?)",
                       (digest, name, json.dumps(body, sort_keys=True), now))
        return digest

    def fabric(self, digest: str) -> tuple[str, dict[str, Any]] | None:
        row = self._one("SELECT name, body_json FROM fabrics WHERE digest = ?", digest)
        return None if row is None else (row[0], json.loads(row[1]))

    def fabrics(self) -> list[tuple[str, str, float]]:
        """``(digest, name, created_unix)``, oldest first."""
        return [tuple(r) for r in self._all("SELECT digest, name, created_unix FROM fabrics ORDER BY rowid")]

    def put_demand(self, kind: str, body: dict[str, Any], now: float) -> int:
        """Record a demand (or a job: ``kind``); the same content twice gets the same id."""
        digest = content_digest({"kind": kind, "body": body})
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO demands (kind, digest, body_json, created_unix) VALUES (?, ?, ?, ?)",
                       (kind, digest, json.dumps(body, sort_keys=True), now))
            return int(db.execute("SELECT id FROM demands WHERE digest = ?", (digest,)).fetchone()[0])

    def demand(self, demand_id: int) -> tuple[str, dict[str, Any]] | None:
        row = self._one("SELECT kind, body_json FROM demands WHERE id = ?", demand_id)
        return None if row is None else (row[0], json.loads(row[1]))

    # ------------------------------------------------------------------ plans
    def put_plan(self, plan: dict[str, Any], now: float, *, parent_version: int | None = None,
                 reason: str = "", recipe: dict[str, Any] | None = None, version: int | None = None,
                 text: str | None = None) -> tuple[int, bool]:
        """Record a plan (its JSON object) and its recipe (how the controller computed it, to
        recompute it after a failure); returns ``(version, new)``. A plan with the same content as an
        earlier version *is* that version (content-addressed: ``created_unix`` does not enter the
        address, so recomputing the same plan does not make a new version). ``version``: the number
        to give a new plan (one the caller reserved, so it could use it before this write finished);
        ``text``: the plan already serialised by :func:`plan_text`."""
        body = text if text is not None else plan_text(plan)
        digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        with self._tx() as db:
            row = db.execute("SELECT version FROM plans WHERE digest = ?", (digest,)).fetchone()
            if row is not None:
                return int(row[0]), False
            cur = db.execute("INSERT INTO plans (version, digest, fabric_digest, body_json, parent_version, reason, "
                             "recipe_json, created_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (version, digest, plan.get("fabric_digest"), body, parent_version, reason,
                              json.dumps(recipe or {}, sort_keys=True), plan.get("created_unix") or now))
            return int(cur.lastrowid or 0), True

    def plan(self, version: int) -> dict[str, Any] | None:
        row = self._one("SELECT body_json, created_unix FROM plans WHERE version = ?", version)
        if row is None:
            return None
        doc = json.loads(row[0])
        return {**doc, "created_unix": row[1]} if "created_unix" not in doc else doc

    _PLAN_ROW = "SELECT version, digest, fabric_digest, parent_version, reason, recipe_json, created_unix FROM plans"

    @staticmethod
    def _plan_row(r: Any) -> PlanRow:
        return PlanRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6])

    def plans(self) -> list[PlanRow]:
        return [self._plan_row(r) for r in self._all(f"{self._PLAN_ROW} ORDER BY version")]

    def plan_row(self, version: int) -> PlanRow | None:
        r = self._one(f"{self._PLAN_ROW} WHERE version = ?", version)
        return None if r is None else self._plan_row(r)

    def latest_version(self) -> int | None:
        row = self._one("SELECT MAX(version) FROM plans")
        return None if row[0] is None else int(row[0])

    # ------------------------------------------------------------------ desired and applied
    def set_desired(self, version: int, who: str, now: float, *, detail: dict[str, Any] | None = None) -> None:
        """Make ``version`` the desired state and record who did it (audit), in one transaction."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM plans WHERE version = ?", (version,)).fetchone() is None:
                raise KeyError(version)
            db.execute("INSERT INTO desired VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version",
                       (version,))
            db.execute("INSERT INTO audit (who, action, version, detail_json, created_unix) VALUES (?, ?, ?, ?, ?)",
                       (who, "apply", version, json.dumps(detail or {}, sort_keys=True), now))

    def desired(self) -> int | None:
        row = self._one("SELECT version FROM desired WHERE id = 1")
        return None if row is None else int(row[0])

    def set_applied(self, switch: str, device_id: int, version: int | None, digest: str | None,
                    error: str | None, now: float) -> None:
        """What ``switch`` acknowledged (``version`` None with ``error``: its last write failed)."""
        with self._tx() as db:
            db.execute("INSERT INTO switches VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                       "device_id = excluded.device_id, "
                       "applied_version = COALESCE(excluded.applied_version, switches.applied_version), "
                       "applied_digest = COALESCE(excluded.applied_digest, switches.applied_digest), "
                       "last_error = excluded.last_error, updated_unix = excluded.updated_unix",
                       (switch, device_id, version, digest, error, now))

    def switches(self) -> list[SwitchRow]:
        return [SwitchRow(*r) for r in self._all(
            "SELECT name, device_id, applied_version, applied_digest, last_error, updated_unix FROM switches "
            "ORDER BY name")]

    # ------------------------------------------------------------------ events and audit
    def add_event(self, kind: str, now: float, *, a: str | None = None, b: str | None = None,
                  body: dict[str, Any] | None = None) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO events (kind, a, b, body_json, created_unix) VALUES (?, ?, ?, ?, ?)",
                             (kind, a, b, json.dumps(body or {}, sort_keys=True), now))
            return int(cur.lastrowid or 0)

    def update_event(self, event_id: int, body: dict[str, Any]) -> None:
        """Merge ``body`` into an event's record (the failure loop adds its timings when done)."""
        with self._tx() as db:
            row = db.execute("SELECT body_json FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                raise KeyError(event_id)
            db.execute("UPDATE events SET body_json = ? WHERE id = ?",
                       (json.dumps(json.loads(row[0]) | body, sort_keys=True), event_id))

    def events(self, since_id: int = 0, limit: int = 1000) -> list[EventRow]:
        return [EventRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in self._all(
            "SELECT id, kind, a, b, body_json, created_unix FROM events WHERE id > ? ORDER BY id LIMIT ?",
            since_id, limit)]

    def audit_log(self) -> list[tuple[int, str, str, int | None, dict[str, Any], float]]:
        return [(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in self._all(
            "SELECT id, who, action, version, detail_json, created_unix FROM audit ORDER BY id")]

    def audit(self, who: str, action: str, now: float, *, version: int | None = None,
              detail: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO audit (who, action, version, detail_json, created_unix) VALUES (?, ?, ?, ?, ?)",
                       (who, action, version, json.dumps(detail or {}, sort_keys=True), now))

    # ------------------------------------------------------------------ arbitration
    def election_id(self) -> tuple[int, int] | None:
        row = self._one("SELECT high, low FROM election WHERE id = 1")
        return None if row is None else (int(row[0]), int(row[1]))

    def next_election_id(self) -> tuple[int, int]:
        """A P4Runtime election id higher than any this store handed out before (persisted first, so
        a restarted controller bids higher than its previous life and wins back primacy)."""
        with self._tx() as db:
            row = db.execute("SELECT high, low FROM election WHERE id = 1").fetchone()
            high, low = (0, 0) if row is None else (int(row[0]), int(row[1]))
            high, low = (high + 1, 0) if low == (1 << 63) - 1 else (high, low + 1)
            db.execute("INSERT INTO election VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                       "high = excluded.high, low = excluded.low", (high, low))
            return high, low
