"""One-time confirmation tokens of the MCP act tools: spent when presented, bound to the call, the
client and the controller state, and expiring."""

from __future__ import annotations

import pytest

from fabric.errors import ConfigError
from fabric.mcp.confirm import Confirmations


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def book():
    clock = Clock()
    b = Confirmations(ttl_s=10.0, clock=clock)
    b.clock_ = clock  # type: ignore[attr-defined]
    return b


def test_the_right_token_is_accepted_once(book):
    t = book.issue("fail_link", {"a": "x", "b": "y"}, "c", state=3)
    book.take(t, "fail_link", {"b": "y", "a": "x"}, "c", state=3)      # argument order does not matter
    with pytest.raises(ConfigError, match="already used"):
        book.take(t, "fail_link", {"a": "x", "b": "y"}, "c", state=3)


@pytest.mark.parametrize("call, why", [
    (("restore_link", {"a": "x", "b": "y"}, "c", 3), "issued for fail_link"),
    (("fail_link", {"a": "x", "b": "z"}, "c", 3), "issued for fail_link"),
    (("fail_link", {"a": "x", "b": "y"}, "other", 3), "another client"),
    (("fail_link", {"a": "x", "b": "y"}, "c", 4), "changed since the preview .* 3 -> 4"),
])
def test_a_token_for_another_call_client_or_state_is_refused_and_spent(book, call, why):
    t = book.issue("fail_link", {"a": "x", "b": "y"}, "c", state=3)
    action, args, client, state = call
    with pytest.raises(ConfigError, match=why):
        book.take(t, action, args, client, state=state)
    with pytest.raises(ConfigError, match="already used"):     # a refused token is gone too
        book.take(t, "fail_link", {"a": "x", "b": "y"}, "c", state=3)


def test_tokens_expire_and_are_unguessable(book):
    t = book.issue("apply_plan", {"version": 2}, "c", state=1)
    book.clock_.t = 10.5
    with pytest.raises(ConfigError, match="expired"):
        book.take(t, "apply_plan", {"version": 2}, "c", state=1)
    tokens = {book.issue("apply_plan", {"version": 2}, "c", state=1) for _ in range(100)}
    assert len(tokens) == 100 and min(len(x) for x in tokens) >= 20
    with pytest.raises(ConfigError, match="not a confirmation token"):
        book.take("", "apply_plan", {"version": 2}, "c", state=1)
