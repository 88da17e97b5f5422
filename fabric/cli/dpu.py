"""``fabricctl dpu ...``: parse and process packets with the numba datapath, check DPU timing."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import JSON_HELP, console, emit_json, err_console
from fabric.cli.options import at_least, legacy_out_dir, non_negative, positive
from fabric.cli.progress import progress

PROFILE_HELP = "Traffic: 64, 1500, imix, roce4k (line-rate profiles) or a pcap file (its sizes and gaps)."


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    from dpu.spec import BUILTIN, DEFAULT_SPEC
    from dpu.timing import (
        ARRIVALS,
        DEFAULT_ARRIVALS,
        DEFAULT_FLOWS,
        DEFAULT_LOAD,
        DEFAULT_PACKETS,
        DEFAULT_PROFILE,
        DEFAULT_SEED,
        PROFILES,
    )

    dpu = groups["dpu"]

    @dpu.command("parse")
    def parse_cmd(pcap: Path = typer.Argument(..., help="pcap or pcapng file."),
                  limit: int | None = typer.Option(None, callback=non_negative(), help="Show only the first N packets."),
                  json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Parse every packet of a capture with the numba parser; one object per packet."""
        from dpu.packets import read_pcap
        from dpu.parse import parse

        batch = read_pcap(pcap)  # any link type the parser knows (Ethernet, SLL, SLL2, raw IP, loopback)
        if limit is not None:
            batch = batch.take(slice(0, limit))
        res = parse(batch)
        recs = res.records()
        truncated = batch.truncated
        for i, r in enumerate(recs):
            r["index"] = i
            r["length"] = int(batch.lengths[i])
            r["captured_truncated"] = bool(truncated[i])
        if json_out:
            emit_json(recs)
            return
        from rich.table import Table

        t = Table("#", "len", "err", "vlans", "ip", "src", "dst", "proto", "dscp/ecn", "sport", "dport", "bth qp/psn",
                  "vni", "inner")
        for r in recs:
            inner = r.get("inner")
            t.add_row(str(r["index"]), str(r["length"]), r["parse_error_name"] if r["parse_error"] else "",
                      ",".join(map(str, r["vlans"])), str(r["ip_version"] or ""), r["ip_src"] or "",
                      r["ip_dst"] or "", _s(r["ip_proto"]),
                      f"{r['dscp']}/{r['ecn']}" if r["dscp"] is not None else "", _s(r["l4_sport"]),
                      _s(r["l4_dport"]), f"{r['bth']['dest_qp']}/{r['bth']['psn']}" if r["bth"] else "",
                      _s(r["vxlan_vni"]),
                      f"{inner['ip_src']}->{inner['ip_dst']} {_s(inner['l4_dport'])}" if inner else "")
        console.print(t)
        bad = sum(1 for r in recs if r["parse_error"])
        err_console.print(f"{len(recs)} packets, {bad} with parse errors")

    @dpu.command("run")
    def run_cmd(pcap: Path = typer.Argument(..., help="pcap or pcapng file."),
                pipeline: Path = typer.Option(..., "--pipeline", help="Pipeline file (YAML/JSON)."),
                out_dir: Path | None = typer.Option(None, "--out-dir", help="Folder for port-N.pcap files and counters.json (required)."),
                legacy_out: Path | None = typer.Option(None, "--out", hidden=True, help="Deprecated: --out-dir."),
                json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Run a capture through a match-action pipeline; one pcap per egress port plus counters."""
        import time

        from dpu.packets import read_pcap, require_ethernet, write_pcap
        from dpu.pipeline import load_pipeline
        from fabric.io.atomic import write_json_atomic

        out = legacy_out_dir(out_dir, legacy_out, "dpu run", required=True)
        pl = load_pipeline(pipeline)
        batch = require_ethernet(read_pcap(pcap))
        t0 = time.perf_counter()
        with progress(f"running {len(batch):,} packets through {pl.name}", quiet=json_out):
            res = pl.run(batch)
        secs = time.perf_counter() - t0
        files = {}
        for port, b in res.per_port().items():
            path = out / f"port-{port}.pcap"
            write_pcap(path, b.compact())
            files[str(port)] = str(path)
        summary = {"pipeline": pl.name, "input": str(pcap), **res.summary(), "files": files,
                   "seconds": secs}
        write_json_atomic(out / "counters.json", summary)
        summary["counters_file"] = str(out / "counters.json")
        if json_out:
            emit_json(summary)
            return
        from rich.table import Table

        t = Table("table", "entry", "packets", "bytes", title=f"{pl.name}: {summary['packets']:,} packets")
        for name, c in summary["counters"].items():
            for e in c["entries"]:
                t.add_row(name, str(e["entry"]), f"{e['packets']:,}", f"{e['bytes']:,}")
            t.add_row(name, "miss", f"{c['miss']['packets']:,}", f"{c['miss']['bytes']:,}")
        console.print(t)
        console.print(f"forwarded {summary['forwarded']:,}, dropped {summary['dropped']:,}, "
                      f"no route {summary['no_route']:,}, ECN marked {summary['ecn_marked']:,}; per port "
                      + ", ".join(f"{p}: {n:,}" for p, n in summary["per_port"].items()) + f"; wrote {out}")

    @dpu.command("check")
    def check_cmd(spec: str = typer.Option(DEFAULT_SPEC, "--spec", help=f"Built-in spec name "
                                           f"({', '.join(BUILTIN)}) or a YAML/JSON spec file."),
                  profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help=PROFILE_HELP),
                  load: float | None = typer.Option(None, "--load", callback=positive(), help="Offered load as a fraction of line "
                                                    f"rate (default {DEFAULT_LOAD}; for a pcap: its own gaps)."),
                  packets: int = typer.Option(DEFAULT_PACKETS, "--packets", callback=at_least(1), help="Packets to simulate."),
                  flows: int = typer.Option(DEFAULT_FLOWS, "--flows", callback=at_least(1), help="Concurrent flows in generated traffic (RSS)."),
                  arrivals: str = typer.Option(DEFAULT_ARRIVALS, "--arrivals", help="poisson (random idle gaps) or "
                                               "deterministic (evenly spaced)."),
                  seed: int = typer.Option(DEFAULT_SEED, "--seed", callback=non_negative(), help="Random seed."),
                  show_assumptions: bool = typer.Option(False, "--assumptions", help="List the spec's assumptions."),
                  json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Simulate a DPU spec on a traffic profile; verdict against 400 Gb/s and <= 30 us one-way (exit 1 on miss)."""
        from dpu.spec import load_spec
        from dpu.timing import check, pcap_traffic
        from dpu.timing import profile as named_profile
        from fabric.errors import ConfigError

        if arrivals not in ARRIVALS:
            raise ConfigError(f"unknown arrivals {arrivals!r} ({', '.join(ARRIVALS)})", where="--arrivals")
        s = load_spec(spec)
        is_pcap = profile not in PROFILES
        traffic = pcap_traffic(profile) if is_pcap else named_profile(profile)
        with progress(f"simulating {packets:,} packets of {traffic.name} through {s.name}", quiet=json_out):
            res = check(s, traffic, load if (load is not None or is_pcap) else DEFAULT_LOAD, packets, seed=seed,
                        poisson=arrivals == "poisson", flows=flows)
        res["assumptions"] = s.assumptions()
        if json_out:
            emit_json(res)
        else:
            from rich.table import Table

            lat = res["latency_us"]
            t = Table("metric", "value", title=f"{s.name} on {traffic.name}")
            t.add_row("offered", f"{res['offered_gbps']:.1f} Gb/s")
            t.add_row("throughput", f"{res['throughput_gbps']:.1f} Gb/s ({res['mpps']:.1f} Mpps)")
            t.add_row("latency us", f"p50 {lat['p50']:.3f}  p99 {lat['p99']:.3f}  p99.9 {lat['p999']:.3f}  "
                                    f"max {lat['max']:.3f}")
            t.add_row("dropped", f"{res['dropped']:,}")
            t.add_row("max sustainable", f"{res['max_sustainable_gbps']:.1f} Gb/s")
            t.add_row("utilisation", "  ".join(f"{k} {v:.2f}" for k, v in res["utilisation"].items()))
            t.add_row("400 Gb/s", "[green]yes[/]" if res["meets_400g"] else "[red]no[/]")
            t.add_row("<= 30 us", "[green]yes[/]" if res["meets_30us"] else "[red]no[/]")
            console.print(t)
            console.print(f"verdict: {res['verdict']}: {res['reason']}")
            if show_assumptions:
                a = Table("parameter", "value", "source", title="assumptions")
                for row in res["assumptions"]:
                    a.add_row(row["name"], f"{row['value']:g}" if isinstance(row["value"], float) else str(row["value"]),
                              row["source"])
                console.print(a)
        if not (res["meets_400g"] and res["meets_30us"]):
            raise typer.Exit(1)


def _s(v: object) -> str:
    return "" if v is None else str(v)
