"""Benchmark: the P4Runtime agent's Write rate in batches of 1,000 table entries and its Read rate of all
entries, an agent process on localhost driven by a plain grpc client, next to the same updates applied
to the in-process store without gRPC (the baseline) in the same run.

    python bench/agent.py [--entries 100000] [--batch 1000]   # prints one JSON document

Target (issue 13): >= 50,000 entries/s written; a published figure for a Python-free P4Runtime target
is ~107,000 entries/s single-threaded (ipdk networking-recipe PR #267).

What is timed: ``write``: the WriteRequests (``/32`` IPv4 routes to a WCMP group in a leaf program whose
``routing_v4`` size is raised to ``--entries`` in its P4Info), built before the clock starts, sent one
after the other and acknowledged; ``read``: one wildcard Read of every table, all ``ReadResponse``
chunks received and parsed; ``store``: :meth:`p4.agent.store.Store.write` of the same updates parsed
from their bytes (what the server does after gRPC), in this process. Excluded: agent start-up,
arbitration, SetForwardingPipelineConfig. The agent runs as its own process (the CLI), as in a lab.

``lab`` (root only; ``--lab-frames 0`` skips it): the forwarding rate of one P4 switch in a lab, packets/s
between two namespaces (h1 - s1 - h2, ``lab up --switch p4``: the agent's AF_PACKET loop and DPU pipeline),
next to the same lab with a kernel switch (``--switch kernel``) measured in the same run. h1 sends
``--lab-frames`` 64-byte UDP frames from an AF_PACKET socket as fast as Python can; the rate is the frames
h2's interface received (its kernel counter) over the time from the first send to the last arrival;
offered rate and loss are printed next to it. No shaping (rate scale 0), no delay.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from finsy.proto import p4r, p4r_grpc

REPO = Path(__file__).resolve().parents[1]
# run as a script, bench/ is sys.path[0] and bench/p4.py would shadow the p4 package: use the repository root
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))


def build(entries: int, batch: int):
    from p4.p4info import IdMap, build_p4info
    from p4.programs import build_program

    prog = build_program("leaf")
    ids = IdMap.of(prog)
    info = build_p4info(prog)
    tid = ids.table("FabricIngress.routing_v4")
    for t in info.tables:
        if t.preamble.id == tid:
            t.size = entries
    aid = ids.action("FabricIngress.set_wcmp_group_id")
    reqs = []
    for lo in range(0, entries, batch):
        wr = p4r.WriteRequest(device_id=1)
        wr.election_id.low = 1
        for i in range(lo, min(entries, lo + batch)):
            u = wr.updates.add(type=p4r.Update.INSERT)
            te = u.entity.table_entry
            te.table_id = tid
            fm = te.match.add(field_id=1)
            fm.lpm.value, fm.lpm.prefix_len = (0x0A000000 + i).to_bytes(4, "big"), 32
            te.action.action.action_id = aid
            te.action.action.params.add(param_id=1, value=(1 + i % 1000).to_bytes(2, "big").lstrip(b"\0"))
        reqs.append(wr)
    return info, reqs


def start_agent(tmp: Path) -> tuple[subprocess.Popen, str]:
    pf = tmp / "port.json"
    proc = subprocess.Popen([sys.executable, "-m", "fabric.cli.main", "agent", "serve", "--listen", "127.0.0.1:0",
                             "--port-file", str(pf)], cwd=REPO, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not pf.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("agent did not start")
        time.sleep(0.05)
    return proc, json.loads(pf.read_text())["listen"]


def lab_rate(switch: str, frames: int) -> dict:
    """Forwarding rate through one switch of kind ``switch`` (module docstring)."""
    import os
    import socket

    from fabric.topology import Fabric
    from labs import netns, probe
    from labs.lab import Lab
    from labs.nlbatch import Batch

    f = Fabric("bench-fwd")
    for n, r in (("h1", "host"), ("s1", "leaf"), ("h2", "host")):
        f.add_node(n, role=r)
    f.add_link("h1", "s1", 400)
    f.add_link("s1", "h2", 400)
    with tempfile.TemporaryDirectory() as sd, \
            Lab(f, None, name=f"bf{os.getpid() % 10000}{switch[0]}", state_dir=sd, rate_scale=0, switch=switch) as lab:
        rec = {r["a"] + r["b"]: r for r in lab.state["links"]}
        h1_if, s1_in = rec["h1s1"]["if_a"], rec["h1s1"]["if_b"]
        h2_if = rec["s1h2"]["if_b"]
        assert probe.ping(lab, "h1", lab.ip("h2"), count=2)["received"] == 2   # ARP resolved both ways
        b = Batch(lab.namespace("s1").fd, "s1")
        dst_mac = b.link_macs()[s1_in].to_bytes(6, "big")
        b.close()
        b = Batch(lab.namespace("h1").fd, "h1")
        src_mac = b.link_macs()[h1_if].to_bytes(6, "big")
        b.close()
        udp = probe._udp_frame(lab.ip("h1"), lab.ip("h2"), 40000, 9, b"\0" * 18)
        frame = dst_mac + src_mac + b"\x08\x00" + udp
        tx = netns.socket_in(lab.namespace("h1").fd, socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((h1_if, 0))
        h2 = lab.namespace("h2")
        before = h2.link_stats(h2_if)["rx_packets"]
        t0 = time.perf_counter()
        send = tx.send
        for _ in range(frames):
            try:
                send(frame)
            except OSError:
                pass
        t_sent = time.perf_counter()
        last, t_last = before, t_sent
        while True:
            time.sleep(0.02)
            now = h2.link_stats(h2_if)["rx_packets"]
            if now == last and time.perf_counter() - t_last > 0.2:
                break
            if now != last:
                last, t_last = now, time.perf_counter()
        tx.close()
        got = last - before
        return {"switch": switch, "frames_sent": frames, "frames_delivered": got, "loss": round(1 - got / frames, 4),
                "offered_pps": round(frames / (t_sent - t0)), "forwarded_pps": round(got / (t_last - t0))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--lab-frames", type=int, default=200_000, help="frames for the lab forwarding rate (0: skip)")
    args = ap.parse_args()
    info, reqs = build(args.entries, args.batch)
    blobs = [r.SerializeToString() for r in reqs]

    # baseline: the store alone, on the updates as the server sees them (parsed from bytes)
    from p4.agent.schema import Schema
    from p4.agent.store import Store

    store = Store(Schema.of(info))
    t0 = time.perf_counter()
    for b in blobs:
        errs = store.write(p4r.WriteRequest.FromString(b).updates)
        assert not any(errs)
    store_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_store_read = len(store.read_all([p4r.Entity(table_entry={})]))
    store_read_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        proc, addr = start_agent(Path(tmp))
        try:
            ch = grpc.insecure_channel(addr, options=[("grpc.max_send_message_length", 16 << 20),
                                                      ("grpc.max_receive_message_length", 4 << 20)])
            stub = p4r_grpc.P4RuntimeStub(ch)
            arb = p4r.StreamMessageRequest()
            arb.arbitration.device_id = 1
            arb.arbitration.election_id.low = 1
            import queue

            q: queue.Queue = queue.Queue()
            q.put(arb)
            stream = stub.StreamChannel(iter(q.get, None), timeout=600)
            first = next(stream)
            assert first.arbitration.status.code == 0, first
            sp = p4r.SetForwardingPipelineConfigRequest(device_id=1, action=p4r.SetForwardingPipelineConfigRequest.
                                                        VERIFY_AND_COMMIT)
            sp.election_id.low = 1
            sp.config.p4info.CopyFrom(info)
            stub.SetForwardingPipelineConfig(sp, timeout=30)
            t0 = time.perf_counter()
            for r in reqs:
                stub.Write(r, timeout=60)
            write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            chunks = 0
            n_read = 0
            for resp in stub.Read(p4r.ReadRequest(device_id=1, entities=[p4r.Entity(table_entry={})]), timeout=120):
                chunks += 1
                n_read += len(resp.entities)
            read_s = time.perf_counter() - t0
            q.put(None)
            stream.cancel()
            ch.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert n_read == args.entries == n_store_read, (n_read, n_store_read)
    write_rate = args.entries / write_s
    out = {
        "benchmark": "agent",
        "entries": args.entries, "batch": args.batch,
        "figure": {"name": "write_entries_per_s", "value": round(write_rate), "target": 50_000,
                   "meets_target": write_rate >= 50_000, "published_python_free_target": 107_000},
        "baseline": {"name": "store_write_entries_per_s_no_grpc", "value": round(args.entries / store_s)},
        "ratio": round(write_rate / (args.entries / store_s), 3),
        "write_s": round(write_s, 4),
        "read": {"entries_per_s": round(n_read / read_s), "seconds": round(read_s, 4), "chunks": chunks,
                 "store_read_entries_per_s_no_grpc": round(n_store_read / store_read_s)},
        "store_write_s": round(store_s, 4),
    }
    import os

    if args.lab_frames and os.geteuid() == 0:
        p4_rate = lab_rate("p4", args.lab_frames)
        kernel_rate = lab_rate("kernel", args.lab_frames)
        out["lab"] = {"figure": {"name": "p4_switch_forwarded_pps", "value": p4_rate["forwarded_pps"]},
                      "baseline": {"name": "kernel_switch_forwarded_pps", "value": kernel_rate["forwarded_pps"]},
                      "ratio": round(p4_rate["forwarded_pps"] / max(1, kernel_rate["forwarded_pps"]), 4),
                      "p4": p4_rate, "kernel": kernel_rate}
    elif args.lab_frames:
        out["lab"] = {"skipped": "needs root (network namespaces)"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
