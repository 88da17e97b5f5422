"""``fabricctl lab ...``: labs in Linux network namespaces (labs/)."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import JSON_HELP, console, emit_json, err_console
from fabric.cli.options import at_least, non_negative
from fabric.cli.progress import progress

NAME_HELP = "Lab name: prefix of every namespace it creates (NAME.node)."
STATE_HELP = "Directory of lab state files."


def _fmt_ms(d: dict[str, float]) -> str:
    return f"min {d['min']:.3f}  mean {d['mean']:.3f}  p99 {d['p99']:.3f} ms"


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    from fabric.io.containerlab import DEFAULT_IMAGE
    from labs.constants import (
        DEFAULT_DELAY_BACKEND,
        DEFAULT_DELAY_SCALE,
        DEFAULT_LAB_NAME,
        DEFAULT_PROBE_COUNT,
        DEFAULT_RATE_SCALE,
        DEFAULT_SPLIT_FLOWS,
        DEFAULT_SWITCH_KIND,
        LAB_STATE_DIR,
    )

    lab = groups["lab"]

    @lab.command("up")
    def up(file: str = typer.Argument(..., help="Topology: our YAML, GML, 'example', 'zoo:<Name>' or a *.clab.yml file."),
           plan: Path | None = typer.Option(None, "--plan", help="Plan JSON: its wcmp section becomes weighted multipath routes."),
           name: str = typer.Option(DEFAULT_LAB_NAME, "--name", help=NAME_HELP),
           rate_scale: float = typer.Option(DEFAULT_RATE_SCALE, "--rate-scale", callback=non_negative(),
                                            help="Link rate = capacity_gbps x this (0: no shaping)."),
           delay_scale: float = typer.Option(DEFAULT_DELAY_SCALE, "--delay-scale", callback=non_negative(),
                                             help="Link delay = latency model x this."),
           delay_backend: str = typer.Option(DEFAULT_DELAY_BACKEND, "--delay-backend", help="auto, netem or relay."),
           relay_all: bool = typer.Option(False, "--relay-all", help="Relay every link, so delays can be set live on any."),
           switch: str = typer.Option(DEFAULT_SWITCH_KIND, "--switch", help="What forwards in switch namespaces: "
                                      "kernel (multipath routes) or p4 (the P4Runtime agent's DPU dataplane, "
                                      "loaded over P4Runtime from the plan's P4 entries)."),
           state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
           json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Build a lab and leave it running (tear it down with `lab down`)."""
        from fabric.plan import Plan
        from labs.clab import is_clab_file, load_clab
        from labs.lab import Lab

        p = Plan.load(plan) if plan is not None else None
        if is_clab_file(file):
            spec = load_clab(file)
            if p is not None:
                err_console.print("note: --plan is ignored for containerlab files (their exec lines route)")
            lb = Lab(None, name=name, rate_scale=rate_scale, delay_scale=delay_scale, delay_backend=delay_backend,
                     relay_all=relay_all, state_dir=state_dir, clab=spec, switch=switch)
        else:
            from fabric.io import load_fabric

            fab = load_fabric(file)
            lb = Lab(fab, p, name=name, rate_scale=rate_scale, delay_scale=delay_scale,
                     delay_backend=delay_backend, relay_all=relay_all, state_dir=state_dir,
                     plan_file=str(plan) if plan else None, switch=switch)
        try:
            with progress(f"building lab {name}", quiet=json_out):
                lb.up()
        except KeyboardInterrupt:  # Lab.up has torn down what it built
            err_console.print(f"interrupted: lab {name} not built, everything it had created removed")
            raise typer.Exit(130) from None
        st = lb.state
        out = {"name": name, "status": st["status"], "nodes": len(st["nodes"]), "links": len(st["links"]),
               "backend": st["backend"], "switch": st.get("switch", "kernel"),
               "rate_scale": st["rate_scale"], "delay_scale": st["delay_scale"],
               "relayed_links": sum(1 for r in st["links"] if r.get("relayed")),
               "wcmp_groups_applied": st.get("wcmp_groups_applied", 0), "notes": st["notes"],
               "seconds": round(lb.timings["up_s"], 4), "timings_s": {k: round(v, 4) for k, v in lb.timings.items()}}
        if st.get("agent"):
            out["agent"] = {"address": st["agent"]["address"], "devices": len(st["agent"]["devices"]),
                            "peak_rss_bytes": st["agent"].get("peak_rss_bytes"),
                            "pid": next(p["pid"] for p in st["processes"] if p.get("role") == "agent")}
        lb.close()
        if json_out:
            emit_json(out)
            return
        if out.get("agent"):
            ag = out["agent"]
            rss = ag["peak_rss_bytes"]
            console.print(f"P4 switches: {ag['devices']} devices on agent {ag['address']} (pid {ag['pid']}, "
                          f"peak RSS {'-' if rss is None else f'{rss / 2**20:.0f} MiB'})")
        console.print(f"lab [bold]{name}[/] up ({out['switch']} switches): {out['nodes']} nodes, {out['links']} links in {out['seconds']:.3f} s; "
                      f"delay backend {out['backend']} ({out['relayed_links']} relayed links); "
                      f"rate scale {out['rate_scale']}, delay scale {out['delay_scale']}")
        for n in out["notes"]:
            console.print(f"note: {n}")

    @lab.command("down")
    def down(name: str = typer.Option(DEFAULT_LAB_NAME, "--name", help=NAME_HELP),
             state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Remove the lab's namespaces and processes (only this lab's, from its state file)."""
        from labs.lab import Lab

        lb = Lab(None, name=name, state_dir=state_dir)
        res: dict[str, float] = dict(lb.down())
        res["seconds"] = round(lb.timings["down_s"], 4)
        if json_out:
            emit_json({"name": name, **res})
        else:
            console.print(f"lab [bold]{name}[/] down: {res['namespaces_removed']} namespaces removed, "
                          f"{res['processes_killed']} processes ended, {res['seconds']:.3f} s")

    @lab.command("status")
    def status(name: str | None = typer.Option(None, "--name", help="Lab (default: every lab that is up)."),
               state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
               json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """What runs: nodes, links, impairments read back from the kernel and the relay."""
        from labs.lab import Lab, running_labs

        names = [name] if name else running_labs(state_dir)
        out = []
        for n in names:
            lb = Lab.attach(n, state_dir, require_up=False)
            out.append(lb.status())
            lb.close()
        if json_out:
            emit_json({"labs": out})
            return
        if not out:
            console.print("no lab is up")
        from rich.table import Table

        for s in out:
            console.print(f"lab [bold]{s['name']}[/] ({s['status']}, {s['switch']} switches): {s['nodes']} nodes, "
                          f"{s['namespaces_present']} namespaces present, backend {s['backend']}, "
                          f"rate scale {s['rate_scale']}, delay scale {s['delay_scale']}")
            if s.get("note"):
                console.print(f"note: {s['note']}")
                continue
            ag = s.get("agent")
            if ag:
                dps = ag.get("dataplanes") or {}
                console.print(f"agent {ag['address']} pid {ag['pid']} ({'running' if ag['alive'] else 'NOT running'}): "
                              f"{ag['devices']} devices, {sum(d['current'] for d in dps.values())} dataplanes current, "
                              f"{sum(d['rx'] for d in dps.values())} frames in, {sum(d['tx'] for d in dps.values())} out"
                              + (f"; {ag['error']}" if ag.get("error") else ""))
            t = Table("link", "rate (Mb/s)", "delay (µs) asked", "delay (µs) in force", "by")
            for lk in s["links"]:
                ap = lk.get("applied") or {}
                rates = ap.get("rate_bps") or [None]
                t.add_row(f"{lk['a']}:{lk['if_a']}--{lk['b']}:{lk['if_b']}",
                          "-" if not rates[0] else f"{rates[0] / 1e6:g}", f"{lk['delay_us']:.1f}",
                          "-" if ap.get("delay_us") is None else f"{ap['delay_us']:.1f}", ap.get("by", "none"))
            console.print(t)

    @lab.command("probe")
    def probe_cmd(a: str = typer.Argument(..., help="Source node."), b: str = typer.Argument(..., help="Destination node."),
                  count: int = typer.Option(DEFAULT_PROBE_COUNT, "--count", help="Number of probes.",
                                            callback=at_least(1)),
                  name: str | None = typer.Option(None, "--name", help=NAME_HELP),
                  state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
                  json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """RTT and one-way latency between two nodes (UDP time-stamp probes)."""
        from labs.lab import Lab
        from labs.probe import latency, ping

        lb = Lab.attach(name, state_dir)
        r = latency(lb, a, b, count=count)
        # ICMP echo as well (answered by the destination's kernel, like ping(8)); first one resolves ARP
        icmp = ping(lb, a, lb.ip(b), count=min(count, 5) + 1)
        r["icmp_rtt_ms"] = icmp["rtt_ms"]
        r["icmp_received"] = icmp["received"]
        lb.close()
        if json_out:
            emit_json(r)
            return
        console.print(f"{a} -> {b}: {r['sent']} probes, {r['lost']} lost (delay scale {r['delay_scale']})")
        console.print(f"  rtt      {_fmt_ms(r['rtt_ms'])}")
        console.print(f"  one-way  {_fmt_ms(r['one_way_ms'])}")
        console.print(f"  icmp rtt {_fmt_ms(r['icmp_rtt_ms'])} ({r['icmp_received']} echo replies)")

    @lab.command("split")
    def split(a: str = typer.Argument(..., help="Source node."), b: str = typer.Argument(..., help="Destination node."),
              flows: int = typer.Option(DEFAULT_SPLIT_FLOWS, "--flows", help="UDP flows to port 4791, one source port each.",
                                        callback=at_least(1)),
              name: str | None = typer.Option(None, "--name", help=NAME_HELP),
              state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
              json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """How flows actually split at the first multipath hop: measured vs planned weights."""
        from labs.lab import Lab
        from labs.probe import flow_split

        lb = Lab.attach(name, state_dir)
        r = flow_split(lb, a, b, flows)
        lb.close()
        if json_out:
            emit_json(r)
            return
        from rich.table import Table

        t = Table("next hop", "interface", "weight", "planned", "packets", "measured")
        for row in r["next_hops"]:
            t.add_row(row["next_hop"], row["interface"], str(row["weight"]), f"{row['planned_share']:.3f}",
                      str(row["packets"]), f"{row['measured_share']:.3f}")
        console.print(f"{r['flows']} flows {a} -> {b}, split at {r['switch']} ({r['hash']}):")
        console.print(t)
        console.print(f"largest share error {r['max_share_error']:.3f} (rate scale {r['rate_scale']})")

    @lab.command("check")
    def check(budgets: Path | None = typer.Option(None, "--budgets", help="Budgets file (a Plan or {'paths': [...]})."),
              plan: Path | None = typer.Option(None, "--plan", help="Plan whose budgets section to check."),
              count: int = typer.Option(DEFAULT_PROBE_COUNT, "--count", help="Probes per path.", callback=at_least(1)),
              name: str | None = typer.Option(None, "--name", help=NAME_HELP),
              state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
              json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Measured one-way latency per path against its budget; exit 1 on a violation.

        Budgets come from --budgets, else --plan, else the plan the lab was built with."""
        from fabric.errors import ConfigError
        from labs.budget import check as run_check
        from labs.budget import load_budgets
        from labs.lab import Lab

        given = budgets or plan
        data = load_budgets(given) if given else None  # a bad file is reported before anything else
        lb = Lab.attach(name, state_dir)
        if data is None:
            if not lb.state.get("plan_file"):  # default: the plan the lab was built with
                raise ConfigError("give --budgets FILE or --plan PLAN (with a budgets section); the lab "
                                  "was built without a plan")
            data = load_budgets(lb.state["plan_file"])
        r = run_check(lb, data, count=count)
        lb.close()
        if json_out:
            emit_json(r)
        else:
            from rich.table import Table

            t = Table("src", "dst", "budget (µs)", "limit (µs)", "measured (µs)", "verdict")
            for row in r["paths"]:
                t.add_row(row["src"], row["dst"], f"{row['budget_us']:.1f}", f"{row.get('limit_us', 0):.1f}",
                          "-" if "measured_us" not in row else f"{row['measured_us']:.1f}", row["verdict"])
            console.print(t)
            console.print(f"{r['violations']} violation(s) over {r['checked']} paths "
                          f"(delay scale {r['delay_scale']}, rate scale {r['rate_scale']})")
        if not r["ok"]:
            raise typer.Exit(1)

    @lab.command("export")
    def export(out: Path = typer.Option(..., "-o", "--out", help="containerlab file to write (*.clab.yml)."),
               fabric: str | None = typer.Option(None, "--fabric", help="Export this topology instead of a running lab."),
               plan: Path | None = typer.Option(None, "--plan", help="With --fabric: plan for weighted routes."),
               image: str = typer.Option(DEFAULT_IMAGE, "--image", help="Container image of every node."),
               rate_scale: float = typer.Option(DEFAULT_RATE_SCALE, "--rate-scale", help="With --fabric: rate scale.",
                                                callback=non_negative()),
               name: str | None = typer.Option(None, "--name", help=NAME_HELP),
               state_dir: Path = typer.Option(Path(LAB_STATE_DIR), "--state-dir", help=STATE_HELP),
               json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Write a containerlab topology of a running lab (or of --fabric) for running it in containers."""
        from fabric.io.atomic import write_text_atomic
        from labs.clab import dump_clab, export_clab, state_from_fabric

        if fabric is not None:
            from fabric.io import load_fabric
            from fabric.plan import Plan

            fab = load_fabric(fabric)
            st = state_from_fabric(fab, Plan.load(plan) if plan else None, name=name or fab.name,
                                   rate_scale=rate_scale)
        else:
            from labs.lab import Lab

            st = Lab.attach(name, state_dir).state
        topo = export_clab(st, image=image)
        write_text_atomic(out, dump_clab(topo))
        res = {"out": str(out), "nodes": len(topo["topology"]["nodes"]), "links": len(topo["topology"]["links"])}
        if json_out:
            emit_json(res)
        else:
            console.print(f"wrote {out}: {res['nodes']} nodes, {res['links']} links")
