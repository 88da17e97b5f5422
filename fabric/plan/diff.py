"""What changed between two plans, per section: the changes a controller pushes to switches.

:func:`diff` compares two :class:`~fabric.plan.Plan` objects and returns plain JSON data (the
``fabricctl plan diff --json`` document). Each section is ``added``, ``removed``, ``same`` or
``changed``; a changed section says what changed in the terms of what it configures:

- ``wcmp``: groups (per switch and destination) added, removed and re-weighted (members or weights
  changed; a change of ``delta`` alone is not a re-weighting: nothing on the switch changes), with a
  count per switch;
- ``qp_ports``: QPs whose source port changed, QPs added or removed (a QP is the n-th flow of its
  ``(src, dst)`` pair);
- ``ocs``: cross-connects ``[ocs, port, port]`` added and removed;
- ``wdm``: lightpaths added and removed (keyed by ends, route and wavelength, counting copies on
  parallel fibres);
- ``budgets``: paths added, removed, or whose total or verdict changed;
- ``cc``: port groups (by speed, cable length, lossless) added, removed or with changed parameters.

Every section also lists its changed summary figures under ``fields`` (``{"mlu_wcmp": [old, new]}``).
Provenance (run times, timestamps) is not compared: two runs of the same planner on the same input
give an empty diff.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Any

from fabric import contract
from fabric.plan import Plan
from fabric.plan.sections import (
    SECTION_TYPES,
    BudgetsSection,
    CcSection,
    OcsSection,
    QpPortsSection,
    Section,
    WcmpSection,
    WdmSection,
)

#: Most field-level changes listed per port group or path (the rest is counted, not listed).
MAX_LISTED_CHANGES = 50


def diff(old: Plan, new: Plan) -> dict[str, Any]:
    """Per-section differences from ``old`` to ``new`` (JSON-ready; shape in the module docstring).

    >>> from fabric.plan.sections import OcsSection
    >>> def ocs(circuits):
    ...     return OcsSection.from_dict({"throughput_scale": 1.0, "lp_bound": 1.0, "gap": 0.0, "mlu": 0.5,
    ...         "circuits": circuits, "logical": [], "wiring": {}, "circuit_gbps": 400.0, "direct_share": 1.0,
    ...         "dropped": 0, "changed": {}})
    >>> a, b = Plan(), Plan()
    >>> a.add(ocs({"o1": [[0, 1], [2, 3]]})); b.add(ocs({"o1": [[0, 1], [2, 4]]}))
    >>> d = diff(a, b)["sections"]["ocs"]
    >>> d["status"], d["cross_connects_added"], d["cross_connects_removed"]
    ('changed', [['o1', 2, 4]], [['o1', 2, 3]])
    """
    out: dict[str, Any] = {
        "old": {"fabric": old.fabric, "fabric_digest": old.fabric_digest},
        "new": {"fabric": new.fabric, "fabric_digest": new.fabric_digest},
        "same_fabric": (None if old.fabric_digest is None or new.fabric_digest is None
                        else old.fabric_digest == new.fabric_digest),
        "sections": {}, "changed": []}
    for name in SECTION_TYPES:
        a: Section | None = getattr(old, name)
        b: Section | None = getattr(new, name)
        if a is None and b is None:
            continue
        if a is None or b is None:
            out["sections"][name] = {"status": "added" if a is None else "removed"}
            out["changed"].append(name)
            continue
        d = _DIFFERS[name](a, b)
        d["fields"] = _scalar_fields(a, b)
        changed = any(v for k, v in d.items() if k != "per_switch")
        out["sections"][name] = {"status": "changed" if changed else "same", **d}
        if changed:
            out["changed"].append(name)
    return out


def _scalar_fields(a: Section, b: Section) -> dict[str, list[Any]]:
    """Changed top-level figures (numbers, strings, flags); lists and objects have their own differs."""
    out = {}
    for f in dataclasses.fields(a):
        if f.metadata.get("skip") or f.name == contract.EXTRA_FIELD:
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if not isinstance(va, list | dict) and not dataclasses.is_dataclass(va) and va != vb:
            out[f.name] = [va, vb]
    return dict(sorted(out.items()))


def _wcmp(a: Any, b: Any) -> dict[str, Any]:
    assert isinstance(a, WcmpSection) and isinstance(b, WcmpSection)
    ga = {(g.switch, g.dst): g for g in a.groups}
    gb = {(g.switch, g.dst): g for g in b.groups}
    added = [contract.dump(gb[k]) for k in gb if k not in ga]
    removed = [{"switch": k[0], "dst": k[1]} for k in ga if k not in gb]
    reweighted = []
    for k in gb:
        if k in ga and ga[k].weights() != gb[k].weights():
            reweighted.append({"switch": k[0], "dst": k[1], "old": _hops(ga[k].weights()),
                               "new": _hops(gb[k].weights())})
    per_switch: dict[str, Counter[str]] = defaultdict(Counter)
    for what, rows in (("added", added), ("removed", removed), ("reweighted", reweighted)):
        for r in rows:
            per_switch[str(r["switch"])][what] += 1
    failed = [] if a.failed_links == b.failed_links else [a.failed_links, b.failed_links]
    return {"groups_added": added, "groups_removed": removed, "groups_reweighted": reweighted,
            "failed_links": failed,
            "per_switch": {s: {w: c[w] for w in ("added", "removed", "reweighted")}
                           for s, c in sorted(per_switch.items())}}


def _hops(weights: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    return [{"node": n, "port": p, "weight": w} for (n, p), w in sorted(weights.items())]


def _qp_ports(a: Any, b: Any) -> dict[str, Any]:
    assert isinstance(a, QpPortsSection) and isinstance(b, QpPortsSection)

    def keyed(sec: QpPortsSection) -> dict[tuple[str, str, int], int]:
        seen: Counter[tuple[str, str]] = Counter()
        out = {}
        for f in sec.flows:
            out[(f.src, f.dst, seen[(f.src, f.dst)])] = f.sport
            seen[(f.src, f.dst)] += 1
        return out

    ka, kb = keyed(a), keyed(b)
    row = lambda k: {"src": k[0], "dst": k[1], "index": k[2]}  # noqa: E731
    return {"sport_changed": [{**row(k), "old": ka[k], "new": kb[k]} for k in kb if k in ka and ka[k] != kb[k]],
            "flows_added": [{**row(k), "sport": kb[k]} for k in kb if k not in ka],
            "flows_removed": [row(k) for k in ka if k not in kb]}


def _ocs(a: Any, b: Any) -> dict[str, Any]:
    assert isinstance(a, OcsSection) and isinstance(b, OcsSection)
    xa, xb = a.cross_connects(), b.cross_connects()
    return {"cross_connects_added": [list(x) for x in sorted(xb - xa)],
            "cross_connects_removed": [list(x) for x in sorted(xa - xb)]}


def _wdm(a: Any, b: Any) -> dict[str, Any]:
    assert isinstance(a, WdmSection) and isinstance(b, WdmSection)

    def keyed(sec: WdmSection) -> dict[tuple[Any, ...], dict[str, Any]]:
        # the same wavelength may be lit on one route more than once (parallel fibres): count copies
        seen: Counter[tuple[Any, ...]] = Counter()
        out = {}
        for lp in sec.lightpaths:
            k = (lp.src, lp.dst, tuple(lp.route), lp.wavelength)
            out[(*k, seen[k])] = contract.dump(lp)
            seen[k] += 1
        return out

    ka, kb = keyed(a), keyed(b)
    return {"lightpaths_added": [kb[k] for k in kb if k not in ka],
            "lightpaths_removed": [ka[k] for k in ka if k not in kb]}


def _budgets(a: Any, b: Any) -> dict[str, Any]:
    assert isinstance(a, BudgetsSection) and isinstance(b, BudgetsSection)
    pa = {(p.src, p.dst): p for p in a.paths}
    pb = {(p.src, p.dst): p for p in b.paths}
    changed = [{"src": k[0], "dst": k[1], "total_us": [pa[k].total_us, pb[k].total_us],
                "verdict": [pa[k].verdict, pb[k].verdict]}
               for k in pb if k in pa and (pa[k].total_us, pa[k].verdict, pa[k].path) !=
               (pb[k].total_us, pb[k].verdict, pb[k].path)]
    return {"paths_added": [{"src": k[0], "dst": k[1]} for k in pb if k not in pa],
            "paths_removed": [{"src": k[0], "dst": k[1]} for k in pa if k not in pb],
            "paths_changed": changed}


def _cc(a: Any, b: Any) -> dict[str, Any]:
    assert isinstance(a, CcSection) and isinstance(b, CcSection)

    def keyed(sec: CcSection) -> dict[tuple[float, float, bool], dict[str, Any]]:
        return {(g.speed_gbps, g.cable_m, g.lossless): contract.dump(g) for g in sec.port_groups}

    ka, kb = keyed(a), keyed(b)
    row = lambda k: {"speed_gbps": k[0], "cable_m": k[1], "lossless": k[2]}  # noqa: E731
    changed = []
    for k in kb:
        if k in ka and ka[k] != kb[k]:
            changes: list[dict[str, Any]] = []
            _json_changes(ka[k], kb[k], "", changes)
            changed.append({**row(k), "changes": changes[:MAX_LISTED_CHANGES], "n_changes": len(changes)})
    priorities = [] if a.lossless_priorities == b.lossless_priorities else [a.lossless_priorities,
                                                                              b.lossless_priorities]
    return {"port_groups_added": [row(k) for k in kb if k not in ka],
            "port_groups_removed": [row(k) for k in ka if k not in kb],
            "port_groups_changed": changed, "lossless_priorities": priorities}


def _json_changes(a: Any, b: Any, path: str, out: list[dict[str, Any]]) -> None:
    """Leaf-level differences between two JSON values, as ``{"path", "old", "new"}`` rows."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _json_changes(a.get(k), b.get(k), f"{path}.{k}" if path else k, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _json_changes(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append({"path": path, "old": a, "new": b})


_DIFFERS = {"wcmp": _wcmp, "qp_ports": _qp_ports, "cc": _cc, "ocs": _ocs, "wdm": _wdm, "budgets": _budgets}
assert set(_DIFFERS) == set(SECTION_TYPES), "every section needs a differ"
