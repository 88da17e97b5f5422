"""Lab benchmarks (root): build/teardown time and delay-relay accuracy. Prints one JSON document.

1. Build and teardown of labs of 10, 50 and 100 nodes: a linear topology of k = nodes/2 switches
   with one host each (Mininet's ``LinearTopo(k)``: k bridges + k hosts), against, in the same run:
   - an ``ip -batch`` script doing the same plumbing from the same layout (namespaces, veth pairs,
     links up, addresses, routes): one ``ip -batch`` for namespaces and veths, then one
     ``ip -n NS -batch -`` per namespace;
   - Mininet 2.3 (``LinuxBridge`` switches, no controller) when ``/usr/bin/python3`` can import it.
     Note the difference: Mininet's switches are bridges in the root namespace, its hosts unnamed
     namespaces, and it installs no routes.
2. Delay accuracy of the userspace relay: mean one-way delay over a relayed link set to 1, 5 and
   20 ms, error against the set delay plus the same path's delay with the relay at 0 ms.

Usage: ``sudo python bench/labs.py [--sizes 10,50,100] [--no-mininet] [--probes 100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fabric.topology import Fabric  # noqa: E402
from labs import netns  # noqa: E402
from labs.lab import Lab  # noqa: E402
from labs.routing import layout, ns_name  # noqa: E402

TAG = f"bl{os.getpid() % 100000}"

MININET_SCRIPT = r"""
import json, sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import LinearTopo
setLogLevel("error")
n = int(sys.argv[1])
t = time.perf_counter()
net = Mininet(topo=LinearTopo(k=n, n=1), switch=LinuxBridge, controller=None, build=True)
net.start()
up = time.perf_counter() - t
t = time.perf_counter()
net.stop()
print(json.dumps({"up_s": up, "down_s": time.perf_counter() - t}))
"""


def linear(n: int) -> Fabric:
    f = Fabric(f"linear{n}")
    for i in range(1, n + 1):
        f.add_node(f"s{i}", role="leaf")
        f.add_node(f"h{i}", role="host")
        f.add_link(f"h{i}", f"s{i}", 100)
        if i > 1:
            f.add_link(f"s{i - 1}", f"s{i}", 100)
    return f


def bench_ours(n: int, state_dir: str) -> dict:
    """``n`` switches + ``n`` hosts."""
    lab = Lab(linear(n), name=f"{TAG}-o{n}", rate_scale=0, state_dir=state_dir)
    t = time.perf_counter()
    lab.up()
    up = time.perf_counter() - t
    timings = dict(lab.timings)
    routes = sum(len(v) for v in lab.state["routes"].values())
    t = time.perf_counter()
    lab.down()
    down = time.perf_counter() - t
    assert not netns.list_netns(lab.prefix)
    return {"up_s": up, "down_s": down, "namespaces": 2 * n, "routes": routes,
            "phases_s": {k: round(v, 4) for k, v in timings.items() if k != "up_s"}}


def bench_ip_batch(n: int) -> dict:
    fab = linear(n)
    lay = layout(fab)
    prefix = f"{TAG}-i{n}."
    names = {x: ns_name(prefix, x) for x in lay.nodes}
    glob = [f"netns add {names[x]}" for x in lay.nodes]
    for lp in lay.links:
        glob.append(f"link add {lp.if_a} netns {names[lp.a]} type veth peer name {lp.if_b} netns {names[lp.b]}")
    per_ns = {}
    for x in lay.nodes:
        lines = ["link set lo up"]
        ifs = sorted({i for m in lay.neighbours[x].values() for i in m})
        lines += [f"link set {i} up" for i in ifs]
        lines.append(f"addr add {lay.address[x]}/32 dev lo")
        for m, mifs in lay.neighbours[x].items():
            lines.append(f"route add {lay.address[m]}/32 dev {mifs[0]} scope link")
        for dst, hops in lay.routes[x]:
            if len(hops) == 1:
                i, m, _w = hops[0]
                lines.append(f"route add {dst} via {lay.address[m]} dev {i} onlink")
            else:
                lines.append(f"route add {dst} " + " ".join(
                    f"nexthop via {lay.address[m]} dev {i} weight {w} onlink" for i, m, w in hops))
        per_ns[x] = "\n".join(lines) + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as fh:
        fh.write("\n".join(glob) + "\n")
        script = fh.name
    try:
        t = time.perf_counter()
        subprocess.run(["ip", "-batch", script], check=True)
        for x in lay.nodes:  # (ip cannot write sysctls; ours sets 6 per namespace on top)
            subprocess.run(["ip", "-n", names[x], "-batch", "-"], input=per_ns[x], text=True, check=True)
        up = time.perf_counter() - t
        with open(script, "w") as fh:
            fh.write("\n".join(f"netns del {names[x]}" for x in lay.nodes) + "\n")
        t = time.perf_counter()
        subprocess.run(["ip", "-batch", script], check=True)
        down = time.perf_counter() - t
    finally:
        for x in netns.list_netns(prefix):
            netns.remove_netns(x)
        os.unlink(script)
    return {"up_s": up, "down_s": down, "processes": 1 + len(lay.nodes)}


def bench_mininet(n: int) -> dict | None:
    py = "/usr/bin/python3"
    if not os.path.exists(py) or subprocess.run([py, "-c", "import mininet.net"], capture_output=True).returncode:
        return None
    r = subprocess.run([py, "-c", MININET_SCRIPT, str(n)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip()[-300:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_relay(delays_ms: list[float], probes: int, state_dir: str) -> dict:
    from labs import probe

    f = Fabric("relay")
    for x, role in (("h1", "host"), ("s1", "leaf"), ("s2", "leaf"), ("h2", "host")):
        f.add_node(x, role=role)
    f.add_link("h1", "s1", 100)
    f.add_link("s1", "s2", 100, length_km=0.001)  # non-zero length: this link goes through the relay
    f.add_link("s2", "h2", 100)
    out = {}
    with Lab(f, name=f"{TAG}-relay", rate_scale=0, delay_backend="relay", state_dir=state_dir) as lab:
        wan = lab.link("s1", "s2")
        wan.set(delay_ms=0)
        base = probe.latency(lab, "h1", "h2", count=probes)["one_way_ms"]["mean"]
        out["path_one_way_ms_at_0"] = base
        for d in delays_ms:
            wan.set(delay_ms=d)
            before = wan.counters()["relay"]
            r = probe.latency(lab, "h1", "h2", count=probes)
            after = wan.counters()["relay"]
            sent = after["sent"] - before["sent"]
            mean = r["one_way_ms"]["mean"]
            out[f"{d:g}ms"] = {"mean_one_way_ms": mean, "min_ms": r["one_way_ms"]["min"],
                               "median_ms": r["one_way_ms"]["p50"],
                               "p99_ms": r["one_way_ms"]["p99"], "error_us": (mean - d - base) * 1000,
                               "error_vs_set_us": (mean - d) * 1000,
                               "relay_late_mean_us": (after["late_ns_sum"] - before["late_ns_sum"]) / max(1, sent) / 1e3,
                               "relay_late_max_us": after["late_ns_max"] / 1e3}
        out["relay_calibration"] = lab.state.get("relay_calibration")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,50,100")
    ap.add_argument("--no-mininet", action="store_true")
    ap.add_argument("--probes", type=int, default=100)
    args = ap.parse_args()
    netns.require_root("run the lab benchmarks")
    sizes = [int(x) for x in args.sizes.split(",")]
    state_dir = tempfile.mkdtemp(prefix="fabricctl-bench-")
    import pyroute2  # noqa: F401  (warm-up: importing pyroute2 takes ~0.3 s once per process; excluded)

    result: dict = {"figure": "lab build/teardown seconds (linear k switches + k hosts); relay delay error",
                    "machine_cpus": os.cpu_count(), "build": {}}
    try:
        for nodes in sizes:
            n = nodes // 2
            row = {"nodes": 2 * n, "linear_k": n, "ours": bench_ours(n, state_dir), "ip_batch": bench_ip_batch(n)}
            if not args.no_mininet:
                row["mininet"] = bench_mininet(n)
            o = row["ours"]
            row["ratio_up_ip_batch_over_ours"] = row["ip_batch"]["up_s"] / o["up_s"]
            row["ratio_down_ip_batch_over_ours"] = row["ip_batch"]["down_s"] / o["down_s"]
            mn = row.get("mininet")
            if mn and "up_s" in mn:
                row["ratio_up_mininet_over_ours"] = mn["up_s"] / o["up_s"]
                row["ratio_down_mininet_over_ours"] = mn["down_s"] / o["down_s"]
            result["build"][str(nodes)] = row
            print(f"{nodes} nodes: ours up {o['up_s']:.3f} s down {o['down_s']:.3f} s | ip -batch up "
                  f"{row['ip_batch']['up_s']:.3f} down {row['ip_batch']['down_s']:.3f}"
                  + (f" | mininet up {mn['up_s']:.3f} down {mn['down_s']:.3f}" if mn and "up_s" in mn else ""),
                  file=sys.stderr)
        result["relay"] = bench_relay([1.0, 5.0, 20.0], args.probes, state_dir)
        result["baseline"] = "ip -batch script (same plumbing) and Mininet 2.3 LinuxBridge (if installed)"
        top = result["build"][str(sizes[-1])]
        result["ratio"] = top.get("ratio_up_mininet_over_ours", top["ratio_up_ip_batch_over_ours"])
        result["ratio_is"] = "baseline up seconds / ours at the largest size (Mininet if it ran, else ip -batch)"
        errs = [abs(v["error_us"]) for k, v in result["relay"].items() if k.endswith("ms") and isinstance(v, dict)]
        result["relay_max_abs_error_us"] = max(errs)
        result["relay_mean_abs_error_us"] = statistics.mean(errs)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
