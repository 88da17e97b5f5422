"""Demo stage: the controller. It serves its gRPC API on loopback with one spawned P4Runtime agent for
every switch of the demo fabric, computes and applies a plan through the API (the switches are loaded
over P4Runtime), fails a link (warm recompute -> plan N+1 -> diff -> push to the switches whose groups
changed) and restores it, and prints each step's time and the switches touched."""

from __future__ import annotations

from fabric.demo import DemoContext

TITLE = "controller: serve, apply over P4Runtime, fail a link, reroute, restore"
#: The link the stage fails (a leaf-spine link of the demo fabric).
FAILED_LINK = ("beijing-su1-rail0", "beijing-spine1")


def run(ctx: DemoContext) -> None:
    from fabric.server.client import ControllerClient
    from fabric.server.desired import managed_switches
    from fabric.server.grpc_api import build_server
    from fabric.server.service import Controller
    from fabric.server.spawn import spawn_agents
    from fabric.server.store import Store

    if ctx.fabric is None:
        ctx.skip("no fabric (the topology stage did not run)")
    fab = ctx.fabric
    if not all(n in fab.graph for n in FAILED_LINK):
        ctx.skip(f"the demo fabric has no link {FAILED_LINK[0]}--{FAILED_LINK[1]}")
    work = ctx.out_dir / "controller"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "controller.db"
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)
    agents = spawn_agents(managed_switches(fab), work / "agents")
    store = Store(db)
    ctl = Controller(store, agents.refs)
    server = None
    try:
        ctl.start()
        ctl.submit_fabric(fab, who="demo")
        server, port = build_server(ctl, "127.0.0.1:0")
        with ControllerClient(f"127.0.0.1:{port}", actor="demo") as c:
            v1 = c.compute_plan("wcmp")["version"]
            v2 = c.compute_plan("cc", base_version=v1)["version"]
            out = c.apply(v2)
            ctx.console.print(f"  {len(agents.refs)} switches on one agent, plan version {v2} applied: "
                              f"{out['updates']} updates in {out['push_ms']:.0f} ms "
                              f"({'converged' if out['converged'] else 'NOT converged'})")
            down = c.event("link_down", *FAILED_LINK)
            st = c.status()
            ctx.console.print(f"  link {FAILED_LINK[0]}--{FAILED_LINK[1]} down -> version {down['plan_version']}: "
                              f"recompute {down['recompute_ms']:.1f} ms, diff {down['diff_ms']:.1f} ms, "
                              f"push {down['push_ms']:.1f} ms, total {down['total_ms']:.1f} ms; "
                              f"{down['switches_updated']} switches, {down['updates']} updates")
            touched = sorted(s for s, n in ctl.progress[down["plan_version"]].writes.items() if n)
            ctx.console.print(f"  switches touched: {', '.join(touched)}")
            up = c.event("link_up", *FAILED_LINK)
            ctx.console.print(f"  restored -> version {up['plan_version']} (the one before the failure: no "
                              f"recompute), push {up['push_ms']:.1f} ms, total {up['total_ms']:.1f} ms")
        ctx.results["controller"] = {"switches": len(agents.refs), "applied_version": v2,
                                     "apply_updates": out["updates"], "converged": out["converged"],
                                     "fail_total_ms": round(down["total_ms"], 1),
                                     "fail_switches_updated": down["switches_updated"],
                                     "restore_version": up["plan_version"],
                                     "all_primary": all(s["primary"] for s in st["switches"])}
        ctx.artefacts.append(db)
    finally:
        if server is not None:
            server.stop(0)
        ctl.stop()
        store.close()
        agents.stop()
