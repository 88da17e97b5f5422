"""Report views: Rich tables and matplotlib drawings of Fabrics (no planning here)."""

from __future__ import annotations

import io
import os
from collections import defaultdict
from typing import Any

from rich.table import Table

from fabric.io.atomic import write_bytes_atomic
from fabric.topology import ROLE_TIER, Fabric

ROLE_COLOURS = {"gpu": "#76b900", "nic": "#9acd32", "host": "#5b8def", "leaf": "#f39c12", "spine": "#e74c3c",
                "superspine": "#8e44ad", "ocs": "#16a085", "dci": "#2c3e50"}
KIND_STYLES = {"copper": ("#999999", 0.6), "optical": ("#3366cc", 0.8), "wdm": ("#cc3333", 2.0)}


def summary_table(s: dict[str, Any]) -> Table:
    """The human view of :meth:`Fabric.summary`."""
    t = Table(title=f"fabric {s['name']}", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    t.add_row("nodes", f"{s['nodes']:,} (" + ", ".join(f"{r} {c:,}" for r, c in s["nodes_by_role"].items()) + ")")
    t.add_row("links", f"{s['links']:,}" + (f" ({s['links_down']} down)" if s["links_down"] else ""))
    if s["sites"]:
        t.add_row("sites", ", ".join(s["sites"]))
    t.add_row("capacity", f"{s['capacity_gbps_total']:,.0f} Gb/s")
    for tier, cap in s["capacity_gbps_by_tier"].items():
        t.add_row(f"  {tier}", f"{cap:,.0f} Gb/s")
    for role, ratio in s["oversubscription"].items():
        t.add_row(f"oversubscription {role}", f"{ratio:.2f}:1")
    t.add_row("bisection", f"{s['bisection_gbps']:,.0f} Gb/s ({s['bisection_method']})")
    t.add_row("diameter", f"{s['diameter_hops']} hops ({s['diameter_method']})")
    if s["max_link_latency_us"]:
        t.add_row("longest link", f"{s['max_link_latency_us']:,.1f} us one way "
                  f"({s['total_length_km']:,.0f} km of fibre in all)")
    return t


def _layered_positions(fab: Fabric, nodes: list[str]) -> dict[str, tuple[float, float]]:
    """x spread evenly per tier, y by tier; endpoints at the bottom."""
    tiers: dict[int, list[str]] = defaultdict(list)
    for n in nodes:
        tiers[max(ROLE_TIER[fab.role(n)], 0) if fab.role(n) != "ocs" else 2].append(n)
    pos = {}
    for tier, members in tiers.items():
        w = len(members)
        for i, n in enumerate(members):
            pos[n] = ((i + 0.5) / w, float(tier))
    return pos


def draw_fabric(fab: Fabric, path: str | os.PathLike[str], *, max_nodes: int = 4000) -> str:
    """Draw a fabric to a PNG and return the layout used (``layered`` or ``geographic``).

    Layered (tiers as rows) for a single site; geographic (longitude/latitude) when the fabric has
    several sites or nodes with distinct coordinates, each site's internal fabric drawn as a small
    layered box at its location. Large fabrics are refused above ``max_nodes`` nodes (unreadable).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fabric.errors import ConfigError

    if len(fab) > max_nodes:
        raise ConfigError(f"{len(fab):,} nodes is too many to draw (limit {max_nodes:,}); use topo show")
    coords = {n: (d["lon"], d["lat"]) for n, d in fab.graph.nodes(data=True) if "lat" in d}
    geographic = len(set(coords.values())) > 1
    pos: dict[str, tuple[float, float]] = {}
    if geographic:
        by_site: dict[Any, list[str]] = defaultdict(list)
        for n, d in fab.graph.nodes(data=True):
            by_site[(d.get("site"), coords.get(n))].append(n)
        xs = [c[0] for c in coords.values()]
        ys = [c[1] for c in coords.values()]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
        box = span * 0.2
        for (_site, c), members in by_site.items():
            if c is None:
                continue
            if len(members) == 1:
                pos[members[0]] = c
                continue
            inner = _layered_positions(fab, members)
            top = max(y for _, y in inner.values()) or 1.0
            for n, (x, y) in inner.items():
                pos[n] = (c[0] + (x - 0.5) * box, c[1] + (y / top - 0.5) * box)
        layout = "geographic"
    else:
        pos = _layered_positions(fab, fab.nodes())
        layout = "layered"
    fig, ax = plt.subplots(figsize=(12, 7), dpi=110)
    for lk in fab.links():
        if lk.a not in pos or lk.b not in pos:
            continue
        colour, width = KIND_STYLES[lk.kind]
        (x1, y1), (x2, y2) = pos[lk.a], pos[lk.b]
        ax.plot([x1, x2], [y1, y2], color=colour if lk.up else "#ff00ff", lw=width,
                ls="-" if lk.up else "--", alpha=0.5, zorder=1)
    small = len(fab) > 300
    for role, colour in ROLE_COLOURS.items():
        members = [n for n in fab.nodes(role) if n in pos]
        if not members:
            continue
        ax.scatter([pos[n][0] for n in members], [pos[n][1] for n in members], s=8 if small else 40,
                   c=colour, label=f"{role} ({len(members)})", zorder=2, edgecolors="none")
    if geographic:
        for (site, c), members in by_site.items():
            if c is None or site is None:
                continue
            if len(members) == 1:
                ax.annotate(str(site), c, fontsize=7, xytext=(3, 3), textcoords="offset points")
            else:
                ax.annotate(str(site), (c[0], c[1] + box * 0.6), fontsize=9, ha="center", weight="bold")
        wan = [lk for lk in fab.links() if lk.kind == "wdm" and lk.a in pos and lk.b in pos]
        labelled: set[frozenset[Any]] = set()
        for lk in wan if len(wan) <= 12 else []:
            pair = frozenset((fab.node(lk.a).get("site", lk.a), fab.node(lk.b).get("site", lk.b)))
            if pair in labelled:
                continue
            labelled.add(pair)
            (x1, y1), (x2, y2) = pos[lk.a], pos[lk.b]
            ax.annotate(f"{lk.length_km:,.0f} km", ((x1 + x2) / 2, (y1 + y2) / 2), fontsize=8, color="#cc3333")
        ax.set_xlabel("longitude (deg)")
        ax.set_ylabel("latitude (deg)")
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ticks = sorted({y for _, y in pos.values()})
        names = {0.0: "endpoints", 1.0: "leaf", 2.0: "spine / ocs", 3.0: "superspine", 4.0: "dci"}
        ax.set_yticks(ticks)
        ax.set_yticklabels([names.get(t, str(t)) for t in ticks])
        ax.set_xticks([])
    hidden = len(fab) - len(pos)
    note = f"; {hidden} without coordinates not drawn" if hidden else ""
    ax.set_title(f"{fab.name}: {len(fab):,} nodes, {fab.graph.number_of_edges():,} links ({layout}{note})")
    ax.legend(loc="upper left", fontsize=8, markerscale=1.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return layout
