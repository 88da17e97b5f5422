"""The README's CLI tour runs as written (in-process, in a scratch folder), one command after another.

Lines that need root (``sudo``) are left to the labs tests, which run them for real as root.
A line whose comment says ``exit 1`` must exit 1 (a check that fails by design); all others exit 0.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

ROOT = Path(__file__).parents[1]


def tour_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## A 5-minute tour of the CLI", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.startswith("fabricctl ")]


def test_tour_runs_as_written(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = tour_lines()
    assert len(lines) >= 15
    for line in lines:
        cmd, _, comment = line.partition("#")
        args = shlex.split(cmd)[1:]
        # files the README names relative to the repository root
        args = [str(ROOT / a) if "/" in a and (ROOT / a).exists() and not (tmp_path / a).exists() else a
                for a in args]
        want = 1 if "exit 1" in comment else 0
        r = cli(args)
        assert r.exit_code == want, f"{line}\n{r.output[-2000:]}"
        if "--json" in args:
            json.loads(r.stdout)  # machine output is one clean JSON document
