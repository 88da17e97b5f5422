"""The controller's pure core: what the switches must be told, from what they should hold (desired),
what the controller last saw of them (observed), one event and the time.

No clock, socket, file, thread or random number inside (faucet's ``Valve`` is the model: it takes
``now`` and returns the messages to send). The service (:mod:`fabric.server.service`) turns switch and
API happenings into :data:`Event`\\ s, folds each into the observed state with :func:`observe`, asks
:func:`reconcile` for :data:`Action`\\ s and performs them, marking what it dispatched with
:func:`dispatched`.

Rules (each has a row in ``tests/test_server_reconcile.py``):

- converged (every connected primary switch holds its desired entries under the desired pipeline):
  nothing to do. A switch whose acknowledged entries are the desired entries object itself (the
  service passes the same :class:`~p4.wire.Canonical` on from version to version for switches a new
  plan does not touch) is not compared at all, so a pass over hundreds of converged switches costs
  nothing;
- a switch just connected (or whose write failed, so its state is unknown) is read first
  (:class:`ReadSwitch`): repair is computed from what it holds, not from what we believe it holds,
  so a restart of either side causes no reinstall storm;
- a pipeline cookie that differs from the desired one: a :class:`Write` that pushes the pipeline
  first (:attr:`Write.pipeline_cookie`), then the whole entry set (the pipeline is never pushed when
  the cookie already matches: VERIFY_AND_COMMIT would wipe tables);
- otherwise the entries differ: one :class:`Write` with the ordered :func:`p4.diff.diff_canonical`
  changes (a changed weight is one MODIFY, a foreign entry one DELETE, a switch that missed versions
  is brought forward in one diff, dependent objects are created before their users and deleted
  after them);
- a disconnected or backup switch gets nothing; a switch with a write in flight gets nothing more
  until it is acknowledged or fails; a failed switch is re-read after :data:`RETRY_S`; the answer to
  a write or read other than the one in flight (sent before a reconnect) is ignored;
- a link or node going down or up asks for a new plan (:class:`Recompute`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeAlias

from p4.diff import Change, diff_canonical
from p4.wire import LEVELS, Canonical

#: Seconds before a switch whose write failed is read and repaired again (a back-off so a switch that
#: refuses an update is not hammered; an assumption of ours, not a figure from a source).
RETRY_S = 1.0
#: :attr:`Observed.inflight` while a read is in flight (a write holds the version it writes).
READING = -1


def empty() -> Canonical:
    """The entries of a switch whose pipeline was just loaded."""
    return Canonical({lv: {} for lv in LEVELS})


# ============================================================================ state
@dataclass(frozen=True)
class Desired:
    """What one switch should hold: the entries of plan ``version`` under pipeline ``cookie``."""

    switch: str
    device_id: int
    version: int
    cookie: int
    entries: Canonical


@dataclass(frozen=True)
class Observed:
    """What the controller last saw of one switch. ``entries`` is ``None`` while unknown (not read
    since it connected, or after a failed write); ``cookie`` is ``None`` when it has no pipeline."""

    switch: str
    connected: bool = False
    primary: bool = False
    cookie: int | None = None
    entries: Canonical | None = None
    applied_version: int | None = None
    inflight: int | None = None          # version of the write in flight, READING, or None
    error: str | None = None
    failed_unix: float | None = None


# ============================================================================ events
@dataclass(frozen=True)
class SwitchUp:
    """The southbound stream to ``switch`` is up; ``primary``: we won its arbitration."""

    switch: str
    primary: bool = True


@dataclass(frozen=True)
class SwitchDown:
    switch: str


@dataclass(frozen=True)
class ReadDone:
    """What a Read of ``switch`` returned: its pipeline cookie (``None``: none) and canonical entries."""

    switch: str
    cookie: int | None
    entries: Canonical


@dataclass(frozen=True)
class Acked:
    """Every update of the write of ``version`` succeeded (and its pipeline push, if it had one): the
    switch holds ``entries`` under pipeline ``cookie``."""

    switch: str
    version: int
    entries: Canonical
    cookie: int


@dataclass(frozen=True)
class Failed:
    """A write (or pipeline push, or read) of ``switch`` failed: its state is unknown until re-read."""

    switch: str
    version: int | None
    error: str


@dataclass(frozen=True)
class LinkDown:
    a: str
    b: str


@dataclass(frozen=True)
class LinkUp:
    a: str
    b: str


@dataclass(frozen=True)
class NodeDown:
    node: str


@dataclass(frozen=True)
class NodeUp:
    node: str


@dataclass(frozen=True)
class Tick:
    """Time passed (retries are due)."""


Event: TypeAlias = (SwitchUp | SwitchDown | ReadDone | Acked | Failed | LinkDown | LinkUp
                    | NodeDown | NodeUp | Tick)
TOPOLOGY_EVENTS = (LinkDown, LinkUp, NodeDown, NodeUp)


# ============================================================================ actions
@dataclass(frozen=True)
class ReadSwitch:
    """Read every entry, register and the pipeline cookie of ``switch``; answer with :class:`ReadDone`."""

    switch: str


@dataclass(frozen=True)
class Write:
    """One batch of ordered changes that takes ``switch`` to plan ``version``, after pushing the
    pipeline with ``pipeline_cookie`` (VERIFY_AND_COMMIT) when that is not ``None``; answer with
    :class:`Acked` (carrying :attr:`entries` and the cookie) or :class:`Failed`."""

    switch: str
    version: int
    changes: tuple[Change, ...]
    entries: Canonical
    pipeline_cookie: int | None = None


@dataclass(frozen=True)
class Recompute:
    """The topology changed: compute the next plan version (the service does it, warm)."""

    event: LinkDown | LinkUp | NodeDown | NodeUp


Action: TypeAlias = ReadSwitch | Write | Recompute


# ============================================================================ the core
def observe(observed: Mapping[str, Observed], event: Event | None, now: float) -> dict[str, Observed]:
    """``observed`` after ``event`` (a new dict; unknown switches are added on first sight)."""
    out = dict(observed)
    if event is None or isinstance(event, (Tick, *TOPOLOGY_EVENTS)):
        return out
    name = event.switch
    o = out.get(name, Observed(name))
    if isinstance(event, (Acked, Failed)) and o.inflight is not None and o.inflight != (
            READING if event.version is None else event.version):
        return out          # the answer to work a reconnect overtook (its read is in flight now): stale
    if isinstance(event, SwitchUp):
        o = replace(o, connected=True, primary=event.primary, entries=None, cookie=None, inflight=None,
                    error=None, failed_unix=None)
    elif isinstance(event, SwitchDown):
        o = replace(o, connected=False, primary=False, entries=None, inflight=None)
    elif isinstance(event, ReadDone):
        o = replace(o, cookie=event.cookie, entries=event.entries, inflight=None)
    elif isinstance(event, Acked):
        o = replace(o, entries=event.entries, cookie=event.cookie, applied_version=event.version, inflight=None,
                    error=None,
                    failed_unix=None)
    elif isinstance(event, Failed):
        o = replace(o, entries=None, inflight=None, error=event.error, failed_unix=now)
    out[name] = o
    return out


def _switch_actions(d: Desired, o: Observed, now: float) -> list[Action]:
    if not (o.connected and o.primary) or o.inflight is not None:
        return []
    if o.entries is None:
        if o.failed_unix is not None and now - o.failed_unix < RETRY_S:
            return []
        return [ReadSwitch(d.switch)]
    if o.cookie != d.cookie:
        return [Write(d.switch, d.version, tuple(diff_canonical(empty(), d.entries)), d.entries, d.cookie)]
    if o.entries is d.entries:     # what it acknowledged is this very desired state: nothing to compare
        return []
    changes = diff_canonical(o.entries, d.entries)
    if changes:
        return [Write(d.switch, d.version, tuple(changes), d.entries)]
    return []


def reconcile(desired: Mapping[str, Desired], observed: Mapping[str, Observed], event: Event | None,
              now: float) -> list[Action]:
    """The actions that close the difference between ``desired`` and ``observed`` (already updated
    with ``event`` by :func:`observe`), switches in name order; a topology event first asks for a new
    plan (its result arrives later as a new ``desired``)."""
    out: list[Action] = []
    if isinstance(event, TOPOLOGY_EVENTS):
        out.append(Recompute(event))
    for name in sorted(desired):
        out += _switch_actions(desired[name], observed.get(name, Observed(name)), now)
    return out


def converged(desired: Mapping[str, Desired], observed: Mapping[str, Observed]) -> bool:
    """Every desired switch is connected, primary and holds its desired version's entries."""
    for name, d in desired.items():
        o = observed.get(name)
        if o is None or not (o.connected and o.primary) or o.entries is None or o.cookie != d.cookie:
            return False
        if o.inflight is not None or (o.entries is not d.entries and diff_canonical(o.entries, d.entries)):
            return False
    return True


def dispatched(observed: Mapping[str, Observed], actions: list[Action]) -> dict[str, Observed]:
    """``observed`` with the switches the service just sent work to marked in flight, so the next
    :func:`reconcile` does not send the same work twice."""
    out = dict(observed)
    for a in actions:
        if isinstance(a, Write):
            out[a.switch] = replace(out.get(a.switch, Observed(a.switch)), inflight=a.version)
        elif isinstance(a, ReadSwitch):
            out[a.switch] = replace(out.get(a.switch, Observed(a.switch)), inflight=READING)
    return out
