"""Benchmark: validate a large topology YAML file (issue 16: a 10^6-node file in bounded memory).

Writes a flat file of N nodes and N links (one leaf per ten GPUs, the GPU links with ports, the leaf
links in a ring) the way ``topo build`` writes one entry per line, then in a fresh child process per
case measures ``load_fabric`` + ``Fabric.validate`` (what ``fabricctl topo validate`` does): seconds and
peak RSS. Baseline in the same run (100K only; at 10^6 it needs >10 GiB): the previous reader's work on
the same file, PyYAML's C loader composing the node tree and constructing the data from it, then
jsonschema over the whole document (the node tree kept for line numbers, as it was).

    python bench/topology_file.py [--nodes 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

def write_file(n: int, path: Path) -> int:
    with path.open("w") as f:
        f.write(f"name: big{n}\nnodes:\n")
        for i in range(n):
            f.write(f"- {{name: n{i}, role: {'gpu' if i % 10 else 'leaf'}}}\n")
        f.write("links:\n")
        for i in range(n):
            if i % 10:
                f.write(f"- {{a: n{i}, b: n{i - i % 10}, capacity_gbps: 400.0, length_km: 0.0, kind: copper, "
                        f"up: true, port_a: eth1, port_b: eth{i % 10}}}\n")
            else:
                f.write(f"- {{a: n{i}, b: n{(i + 10) % n}, capacity_gbps: 400.0, port_a: eth20, port_b: eth21}}\n")
    return path.stat().st_size


def _ours(path: str, q: mp.Queue) -> None:
    from fabric.io import load_fabric

    t0 = time.perf_counter()
    fab = load_fabric(path)
    fab.validate()
    q.put({"s": round(time.perf_counter() - t0, 2), "nodes": len(fab), "links": fab.graph.number_of_edges(),
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)})


def _baseline(path: str, q: mp.Queue) -> None:
    import jsonschema
    import yaml

    from fabric.io.yamlio import schema

    t0 = time.perf_counter()
    loader = yaml.CSafeLoader(Path(path).read_text())
    node = loader.get_single_node()
    data = loader.construct_document(node)
    errors = list(jsonschema.Draft202012Validator(schema()).iter_errors(data))
    q.put({"s": round(time.perf_counter() - t0, 2), "errors": len(errors), "nodes": len(data["nodes"]),
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
           "note": "parse + schema only (no Fabric built), the node tree kept"})


def _child(fn, path: str) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(path, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for n in args.nodes:
            path = Path(d) / f"n{n}.yaml"
            size = write_file(n, path)
            row = {"case": f"{n:,} nodes + {n:,} links", "file_mb": round(size / 1e6, 1), "ours": _child(_ours, str(path))}
            if n <= 100_000:
                base = _child(_baseline, str(path))
                row["baseline_previous_reader"] = base
                row["speedup"] = round(base["s"] / row["ours"]["s"], 2)
                row["memory_ratio"] = round(base["peak_rss_gib"] / row["ours"]["peak_rss_gib"], 2)
            print(json.dumps(row), flush=True)
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
