"""``fabricctl dpu ...``: parse and process packets with the numba datapath, check DPU timing."""

from __future__ import annotations

from pathlib import Path

import typer

from fabric.cli.common import JSON_HELP, console, emit_json, err_console

PROFILE_HELP = "Traffic: 64, 1500, imix, roce4k (line-rate profiles) or a pcap file (its sizes and gaps)."


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    dpu = groups["dpu"]

    @dpu.command("parse")
    def parse_cmd(pcap: Path = typer.Argument(..., help="pcap or pcapng file."),
                  limit: int | None = typer.Option(None, help="Show only the first N packets."),
                  json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Parse every packet of a capture with the numba parser; one object per packet."""
        from dpu.packets import read_pcap
        from dpu.parse import parse

        batch = read_pcap(pcap)
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


def _s(v: object) -> str:
    return "" if v is None else str(v)
