"""One meaning of the output options in every command (issue 16, "One CLI, one set of habits").

``-o/--out FILE`` is the one file a command writes (for a planner: the plan), ``--out-dir DIR`` a folder of
artefacts, ``--plan FILE`` a plan that is read (a planner adds its section to it). ``--out DIR``, the old
folder spelling of ``plan wcmp``, ``plan ports``, ``sim cc``, ``dpu run``, ``p4 gen`` and ``demo``, still works
for one release and says so on stderr. Each command is run with its new and its old spelling.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_tree import leaf_commands

from fabric.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
OPTICAL = ROOT / "optical" / "data"
DEPRECATED = "is deprecated in 'fabricctl "
#: Commands whose --out named a folder before this release (the deprecated spelling still works there).
LEGACY_OUT_DIR = {"plan wcmp", "plan ports", "sim cc", "dpu run", "p4 gen", "demo"}


@pytest.fixture(scope="module")
def commands():
    return leaf_commands()


def test_out_means_a_file_everywhere_and_folders_are_out_dir(commands):
    """The rule, read off the built app: a visible --out is always -o/--out; folders are --out-dir; a
    hidden --out is the deprecated folder spelling, only where it used to be one."""
    hidden_out, out_dir = set(), set()
    for path, cmd in commands.items():
        for p in cmd.params:
            opts = set(p.opts)
            if "--out" in opts and p.hidden:
                hidden_out.add(path)
            elif "--out" in opts or "-o" in opts:
                assert opts == {"-o", "--out"}, f"{path}: {sorted(opts)}"
            if "--out-dir" in opts:
                out_dir.add(path)
            assert not any(o.startswith("--output") for o in opts), f"{path}: {sorted(opts)}"
    assert hidden_out == LEGACY_OUT_DIR - {"plan wcmp", "plan ports"}
    assert out_dir == LEGACY_OUT_DIR
    planners = {"plan wcmp", "plan ports", "plan cc", "plan budget", "plan wdm", "plan ocs"}
    for path in planners:  # every planner: --plan FILE to add to, -o/--out FILE to write
        names = {o for p in commands[path].params for o in p.opts}
        assert {"--plan", "-o", "--out"} <= names, path


# ------------------------------------------------------------------------------ planners
def test_plan_wcmp_out_dir_out_file_and_old_out(cli, tmp_path):
    d = tmp_path / "d"
    r = cli(["plan", "wcmp", "example", "--out-dir", d, "--json"])
    assert r.exit_code == 0, r.output
    assert DEPRECATED not in r.stderr
    doc = json.loads(r.stdout)
    assert doc["plan"] == str(d / "plan.json") and doc["png"] == str(d / "wcmp-util.png")
    assert Plan.load(d / "plan.json").wcmp is not None and (d / "wcmp-util.png").is_file()

    f = tmp_path / "mine.json"
    r = cli(["plan", "wcmp", "example", "-o", f, "--no-png", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["plan"] == str(f) and Plan.load(f).wcmp is not None

    old = tmp_path / "old"
    r = cli(["plan", "wcmp", "example", "--out", old, "--no-png", "--json"])
    assert r.exit_code == 0, r.output
    assert r.stderr.count("\n") == 1 and DEPRECATED + "plan wcmp'" in r.stderr and "--out-dir" in r.stderr
    assert json.loads(r.stdout)["plan"] == str(old / "plan.json") and (old / "plan.json").is_file()

    r = cli(["plan", "wcmp", "example", "--out", old, "--out-dir", d])
    assert r.exit_code == 2 and r.stderr.startswith("error: --out: ") and r.stderr.count("\n") == 1


def test_plan_wcmp_reads_plan_and_writes_out(cli, tmp_path):
    """--plan P -o F: the section is added to P's sections and written to F; P is left as it was."""
    p, f = tmp_path / "p.json", tmp_path / "f.json"
    assert cli(["plan", "cc", "example", "-o", p]).exit_code == 0
    before = p.read_bytes()
    r = cli(["plan", "wcmp", "example", "--plan", p, "-o", f, "--no-png"])
    assert r.exit_code == 0, r.output
    assert p.read_bytes() == before
    assert set(Plan.load(f).present()) == {"cc", "wcmp"}


def test_plan_ports_out_dir_and_old_out(cli, tmp_path):
    from fabric.builders import example_two_site

    gpus = example_two_site().nodes("gpu")[:8] + example_two_site().nodes("gpu")[32:40]
    job = tmp_path / "job.yaml"
    job.write_text("name: j\ngpus: [" + ", ".join(gpus) + "]\ncollective: ring\n")
    r = cli(["plan", "ports", "example", "--job", job, "--out-dir", tmp_path / "new", "--json"])
    assert r.exit_code == 0, r.output
    assert DEPRECATED not in r.stderr and (tmp_path / "new" / "plan.json").is_file()
    r = cli(["plan", "ports", "example", "--job", job, "--out", tmp_path / "old", "--json"])
    assert r.exit_code == 0, r.output
    assert DEPRECATED + "plan ports'" in r.stderr and (tmp_path / "old" / "plan.json").is_file()
    r = cli(["plan", "ports", "example", "--job", job, "-o", tmp_path / "p.json", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["plan"] == str(tmp_path / "p.json")


@pytest.mark.parametrize("args, section", [
    (["plan", "budget", "example", "--pairs", str(OPTICAL / "pairs-example.yaml")], "budgets"),
    (["plan", "wdm", "example", "--demand", str(OPTICAL / "demand-example.yaml")], "wdm"),
    (["plan", "ocs", str(OPTICAL / "blocks-small.yaml"), "--demand", str(OPTICAL / "block-demand-small.yaml")], "ocs"),
    (["plan", "cc", "example"], "cc"),
])
def test_every_planner_adds_to_plan_or_writes_out(cli, tmp_path, args, section):
    """--plan P adds the section to P in place; -o F writes the plan to F (starting from P when given)."""
    base = tmp_path / "base.json"
    assert cli(["plan", "cc" if section != "cc" else "budget", "example",
                *(["--pairs", str(OPTICAL / "pairs-example.yaml")] if section == "cc" else []),
                "-o", base]).exit_code == 0
    first = set(Plan.load(base).present())
    before = base.read_bytes()
    out = tmp_path / "out.json"
    r = cli([*args, "--plan", base, "-o", out])
    assert r.exit_code == 0, r.output
    assert base.read_bytes() == before  # -o given: --plan is only read
    assert set(Plan.load(out).present()) == first | {section}
    r = cli([*args, "--plan", base])
    assert r.exit_code == 0, r.output
    assert set(Plan.load(base).present()) == first | {section}
    r = cli([*args, "--out", tmp_path / "alone.json"])  # the long spelling, a new file
    assert r.exit_code == 0, r.output
    assert Plan.load(tmp_path / "alone.json").present() == [section]


# ------------------------------------------------------------------------------ folders
def _new_and_old(cli, base, tmp_path, command):
    """Run ``base`` with --out-dir NEW, then with the old --out OLD: both work, only the old one warns
    (one line); returns the two results."""
    new = cli([*base, "--out-dir", tmp_path / "new"])
    assert new.exit_code == 0, new.output
    assert DEPRECATED not in new.stderr
    old = cli([*base, "--out", tmp_path / "old"])
    assert old.exit_code == 0, old.output
    assert old.stderr.count("\n") == 1 and DEPRECATED + command + "'" in old.stderr and "--out-dir" in old.stderr
    return new, old


def test_sim_cc_out_dir_and_old_out(cli, tmp_path):
    args = ["sim", "cc", "incast", "--senders", "4", "--flow-kb", "100", "--json"]
    new, old = _new_and_old(cli, args, tmp_path, "sim cc")
    for r, folder in ((new, "new"), (old, "old")):
        plot = Path(json.loads(r.stdout)["plot"])
        assert plot.parent == tmp_path / folder and plot.is_file()
    r = cli(args)
    assert r.exit_code == 0 and "plot" not in json.loads(r.stdout)


def test_dpu_run_out_dir_and_old_out(cli, tmp_path):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), [Ether() / IP(dst="10.0.0.5") / UDP(sport=i, dport=4791) for i in range(8)])
    base = ["dpu", "run", pcap, "--pipeline", ROOT / "dpu" / "data" / "example-pipeline.yaml", "--json"]
    _new_and_old(cli, base, tmp_path, "dpu run")
    assert (tmp_path / "new" / "counters.json").is_file() and (tmp_path / "old" / "counters.json").is_file()
    r = cli(base)
    assert r.exit_code == 2 and r.stderr == "error: --out-dir: missing: give the folder to write to\n"


def test_p4_gen_out_dir_and_old_out(cli, tmp_path):
    plan = tmp_path / "a.json"
    assert cli(["plan", "wcmp", "example", "-o", plan, "--no-png"]).exit_code == 0
    base = ["p4", "gen", "example", "--plan", plan, "--role", "leaf", "--json"]
    _new_and_old(cli, base, tmp_path, "p4 gen")
    assert (tmp_path / "new" / "entries").is_dir() and (tmp_path / "old" / "entries").is_dir()
    r = cli(base)
    assert r.exit_code == 2 and r.stderr.startswith("error: --out-dir: missing")


def test_demo_out_dir_and_old_out(cli, tmp_path):
    new, _old = _new_and_old(cli, ["demo", "--json"], tmp_path, "demo")
    assert json.loads(new.stdout)["out"] == str(tmp_path / "new")
    assert new.stderr == ""  # --json: no stage lines, no progress, no warning
    assert (tmp_path / "new" / "plan.json").is_file() and (tmp_path / "old" / "plan.json").is_file()


@pytest.mark.parametrize("flag", ["-o", "--out"])
def test_topo_file_outputs_take_both_spellings(cli, tmp_path, flag):
    f = tmp_path / "f.yaml"
    assert cli(["topo", "build", "fat-tree", "--k", "4", flag, f]).exit_code == 0 and f.is_file()
    c = tmp_path / "f.clab.yml"
    assert cli(["topo", "export", f, "--to", "clab", flag, c]).exit_code == 0 and c.is_file()
    png = tmp_path / "f.png"
    assert cli(["topo", "draw", f, flag, png]).exit_code == 0 and png.is_file()
