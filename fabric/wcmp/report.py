"""Report views of load balancing: per-link utilisation plots (ECMP next to WCMP) and tables."""

from __future__ import annotations

import io
import os
from typing import Any

from rich.table import Table

from fabric.io.atomic import write_bytes_atomic
from fabric.wcmp.planner import WcmpResult

#: Links shown by name in the bar panel of the utilisation plot.
PLOT_TOP_LINKS = 24


def plot_utilisation(result: WcmpResult, path: str | os.PathLike[str], *, title: str = "") -> None:
    """PNG with two panels: utilisation of every routed link sorted high to low (ECMP, WCMP and the
    LP optimum as a line), and the most loaded links side by side (ECMP bar next to WCMP bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    links = sorted(set(result.util_ecmp) | set(result.util_wcmp))
    ue = [result.util_ecmp.get(k, 0.0) for k in links]
    uw = [result.util_wcmp.get(k, 0.0) for k in links]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 8), dpi=100)
    ax1.plot(sorted(ue, reverse=True), label=f"ECMP (MLU {result.mlu_ecmp:.3f})", color="#e74c3c", lw=1.5)
    ax1.plot(sorted(uw, reverse=True), label=f"WCMP (MLU {result.mlu_wcmp:.3f})", color="#2c7fb8", lw=1.5)
    ax1.axhline(result.mlu_lp, color="#333333", ls="--", lw=1, label=f"LP optimum {result.mlu_lp:.3f}")
    ax1.set_xlabel("links carrying traffic, sorted by utilisation")
    ax1.set_ylabel("utilisation")
    ax1.legend(fontsize=8)
    ax1.set_title(title or f"{result.demand}: per-link utilisation"
                  + (f" (failed: {', '.join(result.failed_links)})" if result.failed_links else ""), fontsize=10)
    top = sorted(links, key=lambda k: -max(result.util_ecmp.get(k, 0.0), result.util_wcmp.get(k, 0.0)))
    top = top[:PLOT_TOP_LINKS]
    xs = range(len(top))
    ax2.bar([x - 0.2 for x in xs], [result.util_ecmp.get(k, 0.0) for k in top], width=0.4, color="#e74c3c",
            label="ECMP")
    ax2.bar([x + 0.2 for x in xs], [result.util_wcmp.get(k, 0.0) for k in top], width=0.4, color="#2c7fb8",
            label="WCMP")
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels([f"{u}→{v}#{k}" for u, v, k in top], rotation=60, ha="right", fontsize=6)
    ax2.set_ylabel("utilisation")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def wcmp_table(summary: dict[str, Any]) -> Table:
    """Human view of ``plan wcmp``."""
    t = Table(title=f"WCMP for {summary['demand']}", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    t.add_row("MLU LP optimum", f"{summary['mlu_lp']:.4f}")
    t.add_row("MLU WCMP (integer weights)", f"{summary['mlu_wcmp']:.4f}")
    t.add_row("MLU ECMP", f"{summary['mlu_ecmp']:.4f}")
    if summary.get("ratio_ecmp_lp"):
        t.add_row("ECMP / LP, WCMP / LP", f"{summary['ratio_ecmp_lp']:.3f}, {summary['ratio_wcmp_lp']:.3f}")
    t.add_row("access links (fixed)", f"{summary['mlu_access']:.4f}")
    t.add_row("groups, entries used", f"{summary['groups_count']}, {summary['entries_used']}")
    t.add_row("max delta", f"{summary['max_delta']:.4f}")
    s = summary["solver"]
    t.add_row("solver", f"{s['name']} {s['status']} in {s['seconds']:.3f} s (gap {s['gap']:.2g}"
              + (", warm start" if s.get("warm_start") else "") + ")")
    if summary.get("failed_links"):
        failed = summary["failed_links"]
        t.add_row("failed", ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else ""))
    return t
