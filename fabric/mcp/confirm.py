"""One-time confirmation tokens for the act tools (``apply_plan``, ``fail_link``, ``restore_link``).

A first call without a token returns a preview and a token bound to that exact call (tool, arguments),
to the MCP client that asked, and to the controller state the preview was computed on (its desired plan
version). The call acts only when repeated with that token, once, within :data:`CONFIRM_TTL_S`, while
the state is still the same. A token is spent when presented, whether or not the call then acts, so a
wrong or stale confirmation needs a new preview.

>>> book = Confirmations(clock=lambda: 0.0)
>>> t = book.issue("apply_plan", {"version": 2}, "client", state=1)
>>> book.take(t, "apply_plan", {"version": 2}, "client", state=1)
>>> book.take(t, "apply_plan", {"version": 2}, "client", state=1)
Traceback (most recent call last):
...
fabric.errors.ConfigError: confirm: not a confirmation token this server issued, or one already used: call apply_plan without confirm for a new preview
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fabric.errors import ConfigError

#: Seconds a preview's token stays valid (*assumption*: long enough for an operator to read a preview
#: and say yes, short enough that the state it describes is still the state acted on).
CONFIRM_TTL_S = 600.0
#: Random bytes per token (secrets.token_urlsafe: 16 bytes = 128 bits).
TOKEN_BYTES = 16


@dataclass(frozen=True)
class _Pending:
    action: str
    args: str
    client: str
    state: Any
    expires: float


class Confirmations:
    """The tokens issued and not yet presented (thread-safe: sync tools run in worker threads)."""

    def __init__(self, ttl_s: float = CONFIRM_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def issue(self, action: str, args: dict[str, Any], client: str, *, state: Any) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._lock:
            now = self.clock()
            self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
            self._pending[token] = _Pending(action, _canon(args), client, state, now + self.ttl_s)
        return token

    def take(self, token: str, action: str, args: dict[str, Any], client: str, *, state: Any) -> None:
        """Spend ``token`` for this call; a :class:`ConfigError` (one line) unless it was issued for
        exactly this call, by this client, on this state, and has not expired."""
        with self._lock:
            p = self._pending.pop(token, None)
        if p is None:
            raise ConfigError(f"not a confirmation token this server issued, or one already used: call {action} "
                              "without confirm for a new preview", where="confirm")
        if p.action != action or p.args != _canon(args):
            raise ConfigError(f"the token was issued for {p.action} {p.args}, not {action} {_canon(args)}: "
                              "preview again", where="confirm")
        if p.client != client:
            raise ConfigError(f"the token was issued to another client ({p.client!r}): preview again", where="confirm")
        if self.clock() > p.expires:
            raise ConfigError(f"the token expired ({self.ttl_s:g} s after its preview): preview again", where="confirm")
        if p.state != state:
            raise ConfigError(f"the controller changed since the preview (desired plan version {p.state} -> "
                              f"{state}): preview again", where="confirm")


def _canon(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, default=str)
