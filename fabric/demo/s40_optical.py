"""Demo stage: optical planning on the demo fabric and on Chinanet (latency budgets, wavelengths, OCS).

Budgets: the demo's two-site fabric (DCI to DCI over the Beijing-Shanghai WAN fibre, GPU to GPU
across the sites, GPU to GPU inside one site) and the eight national hub cities on Topology Zoo's
Chinanet. Wavelengths: 3.2 Tb/s Beijing -> Shanghai on the demo fabric (1.6T per wavelength).
OCS: the small blocks example shipped in ``optical/data``. The plan gets the ``budgets``, ``wdm``
and ``ocs`` sections; the Chinanet results are written as separate artefacts.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from rich.table import Table

from fabric.demo import DemoContext
from fabric.io.atomic import write_text_atomic

TITLE = "optical: latency budgets, 1.6T wavelengths, OCS circuits"


def _data(name: str) -> Path:
    return Path(str(resources.files("optical") / "data" / name))


def run(ctx: DemoContext) -> None:
    from fabric.builders import example_two_site
    from fabric.io.gml import load_gml, zoo_path
    from optical.budget import PairSpec, all_hubs_pairs, budgets, budgets_section
    from optical.catalog import pick_transceiver
    from optical.ocs import load_block_demand, load_blocks, plan_ocs
    from optical.wdm import Demand, plan_wdm

    fab = ctx.fabric if ctx.fabric is not None else example_two_site()
    gpus = fab.nodes("gpu")
    bj = [g for g in gpus if fab.node(g).get("site") == "beijing"]
    sh = [g for g in gpus if fab.node(g).get("site") == "shanghai"]
    pairs = [PairSpec("beijing-dci1", "shanghai-dci1")]
    if bj and sh:
        pairs += [PairSpec(bj[0], sh[0]), PairSpec(bj[0], bj[-1], "city")]
    b_sec = budgets_section(fab, pairs)
    ctx.add(b_sec, fab)
    b_demo = b_sec.to_dict()
    china = load_gml(zoo_path("Chinanet"))
    b_hubs = budgets(china, all_hubs_pairs(china))
    write_text_atomic(ctx.artefact("budgets-chinanet-hubs.json"), json.dumps(b_hubs, indent=2) + "\n")
    t = Table(title="one-way latency budgets")
    for col in ("src", "dst", "km", "total µs", "budget ms", "verdict"):
        t.add_column(col)
    for r in b_demo["paths"] + [p for p in b_hubs["paths"] if p["src"] == "Beijing"]:
        t.add_row(r["src"], r["dst"], f"{r['km']:.0f}", f"{r['total_us']:,.1f}", f"{r['budget_us'] / 1000:g}",
                  r["verdict"] if r["verdict"] == "ok" else "over: " + "; ".join(r["reasons"]))
    ctx.console.print(t)

    t16 = pick_transceiver("1.6T")
    wdm = plan_wdm(fab, [Demand("beijing", "shanghai", 3.2)], t16, time_limit_s=5)
    ctx.add(wdm.section, fab)
    ctx.console.print(f"WDM beijing->shanghai 3.2 Tb/s: {len(wdm.data['lightpaths'])} lightpaths at 1.6T, "
                      f"{wdm.data['wavelengths_used']} wavelength(s) used (bound {wdm.data['lower_bound']}), "
                      f"{len(wdm.data['blocked'])} blocked, {wdm.solver_info['name']} {wdm.solver_info['status']}")

    spec = load_blocks(_data("blocks-small.yaml"))
    ocs = plan_ocs(spec, load_block_demand(_data("block-demand-small.yaml"), spec), time_limit_s=5)
    ctx.add(ocs.section)
    d = ocs.data
    ctx.console.print(f"OCS {len(spec.blocks)} blocks x {len(spec.ocs)} OCS: throughput scale "
                      f"{d['throughput_scale']:.3f} (LP bound {d['lp_bound']:.3f}, gap {d['gap']:.2%}), "
                      f"{sum(len(v) for v in d['circuits'].values())} cross-connects, "
                      f"{d['direct_share']:.0%} of traffic direct")
    ctx.results["optical"] = {
        "budgets_over": b_demo["over"], "hub_pairs_over": b_hubs["over"],
        "beijing_guangzhou_ms": next(round(p["total_us"] / 1000, 3) for p in b_hubs["paths"]
                                     if {p["src"], p["dst"]} == {"Beijing", "Guangzhou"}),
        "wdm_wavelengths": wdm.data["wavelengths_used"], "ocs_gap": round(d["gap"], 4)}
