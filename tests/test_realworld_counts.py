"""The reliability counts of bench/realworld.py on the corpora the tests ship (and on the full
real-world sets when ../shared/data/realworld exists): no file ends in a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_reliability_counts():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "realworld.py"), "--json"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {row["corpus"]: row for row in map(json.loads, r.stdout.splitlines())}
    for row in rows.values():
        assert row["tracebacks"] == 0 and row["imported"] + row["refused"] == row["files"], row
    assert rows["containerlab (shipped)"]["imported"] == rows["containerlab (shipped)"]["files"] == 10
    assert rows["Topology Zoo (shipped)"]["imported"] == 11 and rows["captures (shipped)"]["imported"] == 8
    full = {k: v for k, v in rows.items() if "shipped" not in k}
    if full:  # the containerlab repository's 99 files, the whole Zoo, 226 captures (one of them truncated)
        clab = next(v for k, v in full.items() if k.startswith("containerlab"))
        zoo = next(v for k, v in full.items() if k.startswith("Topology Zoo"))
        caps = next(v for k, v in full.items() if k.startswith("captures"))
        assert (clab["files"], clab["imported"]) == (99, 99) and (zoo["files"], zoo["imported"]) == (262, 262)
        assert (caps["files"], caps["imported"], caps["refused"]) == (226, 225, 1)
