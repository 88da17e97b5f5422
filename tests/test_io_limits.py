"""Bounds before work (issue 16): count caps on what a few numbers ask for, and input paths that are not
regular files. A 1 KB file or one option must not take a command past a few hundred MB: the CLI runs
here under an address-space limit (resource.setrlimit in the child), so a cap that is checked only
after the allocation shows up as a MemoryError (exit 3), not as the one-line refusal (exit 2)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from fabric import builders
from fabric.errors import ConfigError, FabricError
from fabric.io import limits, load_fabric
from fabric.io.reader import read_bytes, read_document
from fabric.traffic import all_to_all, ring_allreduce

#: Address space given to each CLI child: a bare `topo validate example` needs about 450 MiB of
#: address space here (Python, numpy, networkx, jsonschema mapped), so 640 MiB is "a few hundred MB".
CHILD_AS_BYTES = 640 * 1024 * 1024


def _cli_limited(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    def pre() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS_BYTES, CHILD_AS_BYTES))

    return subprocess.run([sys.executable, "-m", "fabric.cli.main", *args], capture_output=True, text=True,
                          preexec_fn=pre, timeout=120, env={**os.environ, **(env or {})})


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    return lines[0]


def test_builder_counts_are_the_formulas_the_caps_use(monkeypatch):
    """The caps are checked on counts computed before building; they must be the real counts."""
    seen = []
    real = limits.check_count

    def spy(count, name, what, **kw):
        seen.append((name, count))
        return real(count, name, what, **kw)

    monkeypatch.setattr(builders, "check_count", spy)
    for make in (lambda: builders.fat_tree(8), lambda: builders.clos(3, 2, 5, 4),
                 lambda: builders.rail_optimized(64, 8, servers_per_su=16),
                 lambda: builders.dual_plane(32, 4, servers_per_segment=8, spines_per_plane=2, uplinks_per_leaf=4)):
        fab = make()
        (n1, nodes), (n2, links) = seen[-2:]
        assert (n1, n2) == ("MAX_BUILD_NODES", "MAX_BUILD_LINKS")
        assert (nodes, links) == (len(fab), fab.graph.number_of_edges()), fab.name


def test_caps_refuse_before_work_and_name_the_variable(monkeypatch):
    with pytest.raises(ConfigError, match=r"^fat_tree\(k=100000\) nodes: 250,012,500,000,000 is above the "
                                          r"limit of 250,000 \(set FABRICCTL_MAX_BUILD_NODES to raise it\)$"):
        builders.fat_tree(100_000)
    with pytest.raises(ConfigError, match="rail_optimized.* nodes: .* FABRICCTL_MAX_BUILD_NODES"):
        builders.rail_optimized(10_000_000)
    monkeypatch.setenv("FABRICCTL_MAX_BUILD_LINKS", "40")
    with pytest.raises(ConfigError, match="fat_tree.* links: 48 is above the limit of 40"):
        builders.fat_tree(4)
    monkeypatch.setenv("FABRICCTL_MAX_BUILD_LINKS", "48")
    assert builders.fat_tree(4).graph.number_of_edges() == 48
    monkeypatch.setenv("FABRICCTL_MAX_BUILD_LINKS", "lots")
    with pytest.raises(ConfigError, match=r"^FABRICCTL_MAX_BUILD_LINKS='lots': must be a positive integer$"):
        builders.fat_tree(4)


def test_flow_cap_counts_pairs_times_qps(monkeypatch):
    fab = builders.rail_optimized(8, 8, servers_per_su=8)
    gpus = fab.nodes("gpu")
    with pytest.raises(ConfigError, match=r"qps_per_pair .*: 100,000,000 is above the limit of 4,000,000 "
                                          r"\(set FABRICCTL_MAX_FLOWS"):
        ring_allreduce(fab, gpus, 100.0, qps_per_pair=100_000_000)
    monkeypatch.setenv("FABRICCTL_MAX_FLOWS", "1000")
    with pytest.raises(ConfigError, match=r"4,032 pairs x 1 QPs per pair: flows: 4,032 is above the limit of 1,000"):
        all_to_all(fab, gpus, 100.0)  # refused before the 64 x 63 pairs are listed
    assert len(ring_allreduce(fab, gpus, 100.0, qps_per_pair=15).flows) == 64 * 15


def test_generated_by_is_never_rebuilt_bigger_than_the_file(tmp_path):
    p = tmp_path / "gb.yaml"
    p.write_text("name: x\ngenerated_by: {builder: fat_tree, params: {k: 100000}}\nnodes:\n  - {name: a, role: leaf}\n")
    fab = load_fabric(p)  # would build 2.5 x 10^14 nodes to compare against one
    assert len(fab) == 1 and "formulas" not in fab.meta
    q = tmp_path / "ft.yaml"
    from fabric.io.yamlio import dump_yaml

    q.write_text(dump_yaml(builders.fat_tree(4, name="x")))
    assert load_fabric(q).meta["formulas"]["bisection_gbps"] == 8 * 400.0  # unchanged file: exact formulas kept
    assert "generated_by:\n  builder: fat_tree\n  params: {k: 4," in q.read_text()


@pytest.mark.parametrize("args, match", [
    (["topo", "validate", "{ft}"], r"builder.params: fat_tree\(k=100000\) nodes: .* FABRICCTL_MAX_BUILD_NODES"),
    (["topo", "validate", "{gb}"], None),
    (["topo", "build", "rail", "--servers", "10000000", "-o", "{out}"], r"rail_optimized\(servers=10000000\) nodes"),
    (["plan", "wcmp", "example", "--qps-per-pair", "100000000", "-o", "{outj}"], r"qps_per_pair .* FABRICCTL_MAX_FLOWS"),
    (["plan", "ocs", "{ocs}", "--demand", "{dem}", "-o", "{outj}"], r"ocs_ports: ports per OCS: 100,000,000 .*"),
    (["plan", "ocs", "{ocs2}", "--demand", "{dem}", "-o", "{outj}"], r"OCS ocs1 is wired to 100000000 block ports"),
])
def test_small_inputs_stay_small_under_a_memory_limit(tmp_path, args, match):
    files = {"ft": "name: x\nbuilder: {name: fat_tree, params: {k: 100000}}\n",
             "gb": "name: x\ngenerated_by: {builder: fat_tree, params: {k: 100000}}\nnodes:\n  - {name: a, role: leaf}\n",
             "ocs": "name: t\nocs: 2\nocs_ports: 100000000\nblocks:\n  - {name: a, uplinks: 100000000}\n"
                    "  - {name: b, uplinks: 100000000}\n",
             "ocs2": "name: t\nocs: 2\nblocks:\n  - {name: a, uplinks: 100000000}\n  - {name: b, uplinks: 100000000}\n",
             "dem": "matrix: {a: {b: 100}}\n"}
    paths = {"out": str(tmp_path / "out.yaml"), "outj": str(tmp_path / "out.json")}
    for k, text in files.items():
        paths[k] = str(tmp_path / f"{k}.yaml")
        Path(paths[k]).write_text(text)
        assert len(text) < 1024
    r = _cli_limited(*[a.format(**paths) for a in args])
    if match is None:
        assert r.returncode == 0, r.stderr
        return
    import re

    assert re.search(match, _one_line(r)), r.stderr
    assert not Path(paths["out"]).exists() and not Path(paths["outj"]).exists()


def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes: the reader must not open it
    with pytest.raises(ConfigError, match=r"pipe.yaml: is a FIFO \(named pipe\), not a regular file"):
        read_document(fifo, what="topology file")
    for dev in ("/dev/zero", "/dev/urandom", "/dev/null"):
        with pytest.raises(ConfigError, match=f"^{dev}: is a character device, not a regular file"):
            read_bytes(dev, what="capture")
    r = _cli_limited("dpu", "parse", "/dev/zero")
    assert _one_line(r) == "error: /dev/zero: is a character device, not a regular file; a capture must be a file"
    r = _cli_limited("topo", "validate", str(fifo))
    assert "is a FIFO (named pipe)" in _one_line(r)
    r = _cli_limited("topo", "import", "/dev/urandom", "--from", "gml", "-o", str(tmp_path / "o.yaml"))
    assert "/dev/urandom: is a character device" in _one_line(r)


def test_unreadable_file():
    """Mode 000. Root reads it anyway (DAC does not apply to root), so as root the check runs with the
    effective uid of 'nobody' for the read; off root the file is simply unreadable. The folder is
    world-searchable (pytest's tmp_path is under a 0700 folder, which would refuse 'nobody' earlier)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="fabric-unreadable-"))
    folder.chmod(0o755)
    p = folder / "locked.yaml"
    p.write_text("name: x\n")
    p.chmod(0)
    if os.geteuid() == 0:
        assert read_document(p).data == {"name": "x"}  # root: readable, as the kernel says
        import pwd

        os.seteuid(pwd.getpwnam("nobody").pw_uid)
    try:
        with pytest.raises(FabricError) as exc:
            read_document(p, what="topology file")
        assert os.stat(p).st_mode & 0o777 == 0  # the folder is searchable: the open, not the path, is refused
    finally:
        if os.getuid() == 0:
            os.seteuid(0)
        shutil.rmtree(folder)
    assert str(exc.value) == f"{p}: cannot read topology file: Permission denied"


def test_input_size_cap_can_be_raised(tmp_path, monkeypatch):
    p = tmp_path / "t.yaml"
    p.write_text("name: x\n" + "# pad\n" * 100)
    monkeypatch.setenv("FABRICCTL_MAX_INPUT_BYTES", "100")
    with pytest.raises(ConfigError, match=r"too large: 608 bytes, the limit is 100 bytes \(set FABRICCTL_MAX_INPUT_BYTES"):
        read_document(p)
    monkeypatch.setenv("FABRICCTL_MAX_INPUT_BYTES", "1000")
    assert read_document(p).data == {"name": "x"}
