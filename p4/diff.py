"""The fewest P4Runtime updates that take a switch from one plan's entries to another's, in an order
that never leaves a route pointing at a group or next hop the switch does not have.

Correctness comes from comparing the two switches' canonical entries (:func:`p4.runtime.canonical`):
an entity only in the new entries is an INSERT, only in the old a DELETE, in both with another action
or parameters (or another one-shot action set, or register value) a MODIFY; everything else is left
alone. Registers cannot be inserted or deleted in P4Runtime: a register that changes is a MODIFY, one
the new plan no longer sets goes back to 0 (its reset value, which disables ECN marking on the port).

Order (create before reference, delete in reverse)::

    next hops (insert, modify) -> admission / DSCP / ACL / registers (insert, modify)
    -> groups (insert, modify) -> routes (insert, modify)
    -> route deletes -> group deletes -> admission / DSCP / ACL deletes -> next-hop deletes

Which switches need a diff at all is what :func:`changed_switches` reads from the two plans (the
groups :func:`fabric.plan.diff.diff` reports per switch, and the links whose state changed): a switch
whose groups did not change and none of whose links changed state has the same entries under both
plans (the tests check this claim against a full regeneration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from p4.wire import LEVELS, Canonical, Encoder, Key, Value, canonical

if TYPE_CHECKING:
    from finsy.proto import p4r

    from fabric.plan import Plan
    from fabric.topology import Fabric
    from p4.entries import SwitchEntries
    from p4.ir import Program

Change = tuple[str, Key, Value | None]


def _is_zero_register(key: Key, value: Value | None) -> bool:
    return key[0] == "r" and (value is None or value[1] == 0)


def diff_canonical(old: Canonical, new: Canonical) -> list[Change]:
    """``(INSERT|MODIFY|DELETE, key, value)`` from ``old`` to ``new``, ordered (module docstring)."""
    upserts: dict[str, list[Change]] = {lv: [] for lv in LEVELS}
    deletes: dict[str, list[Change]] = {lv: [] for lv in LEVELS}
    for lv in LEVELS:
        a, b = old.levels[lv], new.levels[lv]
        for k, v in b.items():
            w = a.get(k)
            if w is None:
                if not _is_zero_register(k, v):
                    upserts[lv].append(("MODIFY" if k[0] == "r" else "INSERT", k, v))
            elif w != v:
                upserts[lv].append(("MODIFY", k, v))
        for k, w in a.items():
            if k not in b:
                if k[0] == "r":
                    if not _is_zero_register(k, w):
                        upserts[lv].append(("MODIFY", k, ("v", 0)))
                else:
                    deletes[lv].append(("DELETE", k, None))
    out: list[Change] = []
    for lv in LEVELS:                      # nexthop, base, group, route
        out += sorted(upserts[lv], key=_order)
    for lv in reversed(LEVELS):            # route, group, base, nexthop
        out += sorted(deletes[lv], key=_order)
    return out


def _order(c: Change) -> tuple[Any, ...]:
    # inserts before modifies within a level, then by key (deterministic output)
    return (c[0] != "INSERT", repr(c[1]))


def diff_updates(old_entries: SwitchEntries | Canonical, new_entries: SwitchEntries | Canonical, program: Program, *,
                 encoder: Encoder | None = None) -> list[p4r.Update]:
    """The minimal INSERT/MODIFY/DELETE ``p4.v1.Update``\\ s from ``old_entries`` to ``new_entries``
    (same switch, same program), in dependency order. Either may be given in canonical form already
    (a controller keeps the canonical form of what a switch acknowledged)."""
    enc = encoder if encoder is not None else Encoder(program)

    def canon(e: SwitchEntries | Canonical) -> Canonical:
        return e if isinstance(e, Canonical) else canonical(program, e)

    changes = diff_canonical(canon(old_entries), canon(new_entries))
    return [enc.update(kind, k, v) for kind, k, v in changes]


def changed_switches(fabric: Fabric, old: Plan, new: Plan) -> set[str] | None:
    """Switches whose entries may differ between the plans: those with WCMP groups added, removed or
    changed (members or weights; the same test as :func:`fabric.plan.diff.diff`'s ``per_switch``,
    without building its report), and both ends of every link whose up/down state differs. ``None``
    when every switch may have changed (the ``cc`` sections differ, or a plan lacks ``wcmp``)."""
    if old.wcmp is None or new.wcmp is None:
        return None
    if (old.cc is None) != (new.cc is None) or (old.cc is not None and new.cc is not None
                                                and old.cc.to_dict() != new.cc.to_dict()):
        return None   # compared without provenance (two runs of the cc planner differ only in it)
    before = {(g.switch, g.dst): g for g in old.wcmp.groups}
    out = set()
    for g in new.wcmp.groups:
        h = before.pop((g.switch, g.dst), None)
        if h is None or (h.next_hops != g.next_hops and h.weights() != g.weights()):
            out.add(g.switch)
    out.update(s for s, _dst in before)

    def down(specs: list[str]) -> set[tuple[str, str, int]]:
        return {(lk.a, lk.b, lk.key) for lk in map(fabric.find_link, specs)}

    for a, b, _key in down(old.wcmp.failed_links) ^ down(new.wcmp.failed_links):
        out |= {a, b}
    return out
