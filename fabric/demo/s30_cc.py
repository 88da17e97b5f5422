"""Demo stage: congestion-control plan for the demo fabric and a short incast in the packet model."""

from __future__ import annotations

from fabric.demo import DemoContext

TITLE = "congestion control: PFC/ECN/DCQCN per port, incast simulation"


def run(ctx: DemoContext) -> None:
    from fabric.cc import CcOptions, cc_section
    from fabric.ccsim import scenarios
    from fabric.ccsim.metrics import plot
    from fabric.ccsim.packet import PacketConfig, simulate

    if ctx.fabric is None:
        ctx.skip("no fabric (the topology stage did not run)")
    sec = cc_section(ctx.fabric, CcOptions(profile="nvidia"))
    ctx.add(sec, ctx.fabric)
    data = sec.to_dict()
    lossless = [g for g in data["port_groups"] if g["lossless"]]
    for g in data["port_groups"]:
        cable = f"{g['cable_m']:g} m" if g["cable_m"] < 10_000 else f"{g['cable_m'] / 1000:,.0f} km"
        pfc = (f"lossless, PFC headroom {g['pfc']['headroom_bytes']:,} B" if g["lossless"] else
               f"lossy (PFC off: would need {g['pfc']['headroom_bytes'] / 1e9:,.1f} GB of headroom)")
        ctx.console.print(f"  {g['speed_gbps']:g}G {cable} x{len(g['ports'])} ports: {pfc}, "
                          f"ECN Kmin {g['ecn']['kmin_bytes']:,} B Kmax {g['ecn']['kmax_bytes']:,} B Pmax {g['ecn']['pmax']:.0%}")
    sc = scenarios.incast(8, 1e6)
    res = simulate(sc.fabric, sc.flows, PacketConfig(cc="dcqcn", pfc=True, t_end_s=sc.t_end_s,
                                                     sample_dt_s=(sc.expected_s or sc.t_end_s) / 200, samples=200))
    m = res.metrics()
    plot(res, ctx.artefact("cc-incast.png"), f"{sc.description}: DCQCN + PFC")
    ctx.console.print(f"  {sc.description}: drops {m['drops']}, PFC pauses {m['pfc_pause_frames']}, "
                      f"p99 FCT slowdown {m['fct_slowdown']['p99']:.2f}, Jain {m['jain']:.3f}")
    ctx.results["cc"] = {"port_groups": len(data["port_groups"]), "lossless_groups": len(lossless),
                         "incast_drops": m["drops"], "incast_pause_frames": m["pfc_pause_frames"],
                         "incast_p99_slowdown": m["fct_slowdown"]["p99"]}
