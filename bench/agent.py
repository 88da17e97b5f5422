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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
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
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
