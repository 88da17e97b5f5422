"""The agent's pure arbitration core (P4Runtime spec 5.3 and 6.4): per ``(device_id, role)`` the primary
is the live client whose election id is the highest the server has *ever* seen for that pair; there is
no primary when that client has gone (until one bids at least as high).

:meth:`Arbiter.bid` and :meth:`Arbiter.drop` return the ``MasterArbitrationUpdate`` answers to send, as
:class:`Notice`\\ s: the bidder always gets one; when the primary changes, every client of the pair gets
one. Each says OK to the primary, ALREADY_EXISTS to a backup, NOT_FOUND to all when there is none, and
carries the highest election id seen. An election id already held by another live client of the pair
is refused (INVALID_ARGUMENT "Election ID is already used by another connection"), as is an unknown
device (NOT_FOUND). A client that bids without an election id is a backup that can never be primary.

``highest`` survives disconnects; :attr:`Arbiter.on_highest` is called when it rises (the server
persists it). No sockets: a connection is any hashable token.

>>> a = Arbiter({1})
>>> [(n.conn, n.code.name, n.election_id) for n in a.bid("c1", 1, "", 10)]
[('c1', 'OK', 10)]
>>> [(n.conn, n.code.name) for n in a.bid("c2", 1, "", 5)]
[('c2', 'ALREADY_EXISTS')]
>>> sorted((n.conn, n.code.name, n.election_id) for n in a.drop("c1"))
[('c2', 'NOT_FOUND', 10)]
>>> sorted((n.conn, n.code.name) for n in a.bid("c2", 1, "", 10))
[('c2', 'OK')]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from p4.agent.schema import Code, P4Error

ELECTION_ID_USED = "Election ID is already used by another connection"


@dataclass(frozen=True)
class Notice:
    """One ``MasterArbitrationUpdate`` to send to ``conn``."""

    conn: Hashable
    device_id: int
    role: str
    code: Code
    election_id: int | None
    message: str = ""


@dataclass
class _Pair:
    highest: int | None = None
    clients: dict[Hashable, int | None] = field(default_factory=dict)

    def primary(self) -> Hashable | None:
        if self.highest is None:
            return None
        for c, e in self.clients.items():
            if e == self.highest:
                return c
        return None


class Arbiter:
    """Arbitration state of every device an agent serves (module docstring)."""

    def __init__(self, devices: Iterable[int], highest: dict[tuple[int, str], int] | None = None,
                 on_highest: Callable[[int, str, int], None] | None = None) -> None:
        self.devices = frozenset(devices)
        self._pairs: dict[tuple[int, str], _Pair] = {}
        for (d, r), e in (highest or {}).items():
            self._pairs[(d, r)] = _Pair(highest=e)
        self._conns: dict[Hashable, tuple[int, str]] = {}
        self.on_highest = on_highest

    def highest(self) -> dict[tuple[int, str], int]:
        return {k: p.highest for k, p in self._pairs.items() if p.highest is not None}

    def _notices(self, pair: tuple[int, str], p: _Pair, conns: Iterable[Hashable]) -> list[Notice]:
        prim = p.primary()
        out = []
        for c in conns:
            code = Code.NOT_FOUND if prim is None else Code.OK if c == prim else Code.ALREADY_EXISTS
            msg = {Code.OK: "Primary", Code.ALREADY_EXISTS: "Backup", Code.NOT_FOUND: "No primary"}[code]
            out.append(Notice(c, pair[0], pair[1], code, p.highest, msg))
        return out

    def bid(self, conn: Hashable, device_id: int, role: str, election_id: int | None) -> list[Notice]:
        """``conn`` (new, or re-bidding on its stream) asks for ``election_id``; raises :class:`P4Error`
        for an unknown device, a change of device or role on one stream, or an id in use."""
        if device_id not in self.devices:
            raise P4Error(Code.NOT_FOUND, f"Unknown device id {device_id}")
        pair = (device_id, role)
        known = self._conns.get(conn)
        if known is not None and known != pair:
            raise P4Error(Code.FAILED_PRECONDITION, "A stream cannot change its device id or role")
        p = self._pairs.setdefault(pair, _Pair())
        if election_id is not None and any(e == election_id and c != conn for c, e in p.clients.items()):
            raise P4Error(Code.INVALID_ARGUMENT, ELECTION_ID_USED)
        before = p.primary()
        p.clients[conn] = election_id
        self._conns[conn] = pair
        if election_id is not None and (p.highest is None or election_id > p.highest):
            p.highest = election_id
            if self.on_highest is not None:
                self.on_highest(device_id, role, election_id)
        after = p.primary()
        return self._notices(pair, p, p.clients if after != before else [conn])

    def drop(self, conn: Hashable) -> list[Notice]:
        """``conn``'s stream ended: forget it; if it was the primary, tell the others."""
        pair = self._conns.pop(conn, None)
        if pair is None:
            return []
        p = self._pairs[pair]
        was = p.primary()
        del p.clients[conn]
        return self._notices(pair, p, p.clients) if was == conn else []

    def is_primary(self, device_id: int, role: str, election_id: int | None) -> bool:
        """Whether a request with ``election_id`` for ``(device_id, role)`` comes from the live primary."""
        p = self._pairs.get((device_id, role))
        return (p is not None and election_id is not None and p.highest == election_id
                and p.primary() is not None)

    def role_of(self, conn: Hashable) -> tuple[int, str] | None:
        return self._conns.get(conn)

    def primary_conn(self, device_id: int, role: str) -> Any:
        p = self._pairs.get((device_id, role))
        return p.primary() if p is not None else None

    def primaries(self, device_id: int) -> list[Any]:
        """The live primary of every role of ``device_id`` (default role first, then by role name)."""
        pairs = sorted((r, p) for (d, r), p in self._pairs.items() if d == device_id)
        return [c for _r, p in pairs if (c := p.primary()) is not None]
