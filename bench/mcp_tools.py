"""Benchmark: what the MCP layer costs. Each read and what-if tool of ``fabricctl mcp --fabric example
--plan P`` called by the SDK's client over stdio (JSON-RPC, schema validation, a worker thread, the
structured result), against the same tool function called directly in this process (the baseline,
measured in the same run), best of REPEATS; plus the server's start (spawn to initialised).

    python bench/mcp_tools.py       # prints one JSON document: per tool ms over stdio, ms direct, ratio

(Not bench/mcp.py: run as a script, a file named mcp.py would shadow the SDK's ``mcp`` package.)
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/ holds optical.py (named like the package): run as a script, this folder would come first on
# sys.path and ``import optical`` (budget_check) would import that file. Put the repository root there
# instead (as bench/optical.py does), and import the packages inside the functions.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

REPEATS = 5
REPO = Path(__file__).resolve().parents[1]
PAIRS = [{"src": "beijing-dci1", "dst": "shanghai-dci1", "class": "hub"}]
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("fabric_summary", {}), ("find_nodes", {"role": "spine"}), ("plan_show", {"section": "wcmp"}),
    ("link_status", {"a": "beijing-spine1"}), ("hot_links", {"top": 5}), ("budget_check", {"pairs": PAIRS}),
    ("cc_parameters", {}), ("what_if_fail", {"nodes": ["beijing-spine1"]}),
    ("what_if_demand", {"collective": "all-to-all", "servers": 2}),
]


def direct(b: Any, tool: str, args: dict[str, Any]) -> Any:
    from fabric.mcp import tools as T

    if tool == "link_status":
        return T.link_status(b, args["a"])
    if tool == "what_if_demand":
        return T.what_if_demand(b, args["collective"], servers=args["servers"])
    return getattr(T, tool)(b, **args)


async def over_stdio(plan: str) -> tuple[float, dict[str, float]]:
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.types import Implementation

    params = StdioServerParameters(command=sys.executable, cwd=str(REPO), env=dict(os.environ),
                                   args=["-m", "fabric.cli.main", "mcp", "--fabric", "example", "--plan", plan])
    out: dict[str, float] = {}
    with open(os.devnull, "w") as err:
        t0 = time.perf_counter()
        async with stdio_client(params, errlog=err) as (read, write):
            async with ClientSession(read, write, client_info=Implementation(name="bench", version="1")) as s:
                await s.initialize()
                start = time.perf_counter() - t0
                for tool, args in CALLS:
                    times = []
                    for _ in range(REPEATS):
                        t1 = time.perf_counter()
                        r = await s.call_tool(tool, args)
                        times.append(time.perf_counter() - t1)
                        assert not r.is_error, r.content
                    out[tool] = min(times)
    return start, out


def main() -> None:
    from fabric.io import load_fabric
    from fabric.mcp.backend import Backend
    from fabric.plan import Plan
    from fabric.server.planning import wcmp_demand, wcmp_planner

    fab = load_fabric("example")
    with tempfile.TemporaryDirectory() as d:
        plan_path = str(Path(d) / "plan.json")
        plan = Plan.new(fab)
        plan.add(wcmp_planner(fab, wcmp_demand(fab, {}, None), {}).solve().section(), fabric=fab)
        plan.save(plan_path)
        b = Backend(fabric_spec="example", plan_path=plan_path)
        base: dict[str, float] = {}
        for tool, args in CALLS:
            direct(b, tool, args)                       # warm (numba, imports)
            times = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                direct(b, tool, args)
                times.append(time.perf_counter() - t0)
            base[tool] = min(times)
        start, stdio = asyncio.run(over_stdio(plan_path))
    print(json.dumps({
        "figure": "tool call over stdio (SDK client -> fabricctl mcp), ms, best of 5",
        "baseline": "the same tool function called in-process, ms, best of 5 (same run)",
        "server_start_s": round(start, 3),
        "tools": {t: {"stdio_ms": round(stdio[t] * 1000, 2), "direct_ms": round(base[t] * 1000, 2),
                      "ratio": round(stdio[t] / base[t], 2), "overhead_ms": round((stdio[t] - base[t]) * 1000, 2)}
                  for t, _a in CALLS},
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
