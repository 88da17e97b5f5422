"""The CLI through Typer's runner: every topo command, --json keys, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SHOW_KEYS = {"nodes_by_role", "links", "capacity_gbps_total", "bisection_gbps", "oversubscription"}


@pytest.mark.parametrize("kind, args, hosts", [
    ("fat-tree", ["--k", "4"], {"host": 16}),
    ("clos", ["--leaves", "4", "--spines", "2", "--hosts-per-leaf", "8", "--host-gbps", "100", "--uplink-gbps", "100"], {"host": 32}),
    ("rail", ["--servers", "8", "--gpus-per-server", "4", "--servers-per-su", "4"], {"gpu": 32}),
    ("dual-plane", ["--servers", "4", "--gpus-per-server", "2"], {"gpu": 8}),
    ("multi-site", ["--servers", "2", "--gpus-per-server", "2"], {"gpu": 8}),
])
def test_build_then_show_json(cli, tmp_path, kind, args, hosts):
    out = tmp_path / "f.yaml"
    r = cli(["topo", "build", kind, *args, "-o", out])
    assert r.exit_code == 0, r.output
    r = cli(["topo", "show", out, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert SHOW_KEYS <= set(s)
    for role, n in hosts.items():
        assert s["nodes_by_role"][role] == n


def test_show_human_table(cli):
    r = cli(["topo", "show", "example"])
    assert r.exit_code == 0
    assert "bisection" in r.output and "oversubscription leaf" in r.output


def test_clos_oversubscription_in_json(cli, tmp_path):
    out = tmp_path / "c.yaml"
    cli(["topo", "build", "clos", "--leaves", "4", "--spines", "2", "--hosts-per-leaf", "8", "-o", out,
         "--host-gbps", "100", "--uplink-gbps", "100", "--uplinks-per-leaf", "2"])
    s = json.loads(cli(["topo", "show", out, "--json"]).output)
    assert s["oversubscription"] == {"leaf": 4.0}
    assert s["bisection_gbps"] == 400.0


def test_validate_good_and_bad(cli, tmp_path):
    r = cli(["topo", "validate", "example", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["valid"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes:\n  - {name: a, role: leaf}\nlinks:\n  - {a: a, b: q, capacity_gbps: 1}\n")
    r = cli(["topo", "validate", bad])
    assert r.exit_code == 2
    assert r.output.strip() == f"error: {bad}: line 5: links[0].b: unknown node 'q' (link a--q)"
    assert "Traceback" not in r.output


def test_import_gml_and_export_clab(cli, tmp_path):
    from fabric.io.gml import zoo_path

    out = tmp_path / "chinanet.yaml"
    r = cli(["topo", "import", zoo_path("Chinanet"), "--from", "gml", "-o", out, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["nodes"] == 42 and info["links"] == 66 and len(info["no_coordinates"]) == 4
    clab = tmp_path / "c.clab.yml"
    r = cli(["topo", "export", out, "--to", "clab", "-o", clab])
    assert r.exit_code == 0
    r = cli(["topo", "import", clab, "--from", "clab", "-o", tmp_path / "back.yaml"])
    assert r.exit_code == 0
    s = json.loads(cli(["topo", "show", tmp_path / "back.yaml", "--json"]).output)
    assert s["links"] == 66


def test_draw_layered_and_geographic(cli, tmp_path):
    r = cli(["topo", "draw", "example", "-o", tmp_path / "ex.png", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["layout"] == "geographic"
    ft = tmp_path / "ft.yaml"
    cli(["topo", "build", "fat-tree", "--k", "4", "-o", ft])
    r = cli(["topo", "draw", ft, "-o", tmp_path / "ft.png", "--json"])
    assert json.loads(r.output)["layout"] == "layered"
    assert (tmp_path / "ft.png").read_bytes()[:4] == b"\x89PNG"
    r = cli(["topo", "draw", ft, "-o", tmp_path / "ft.svg"])
    assert r.exit_code == 2 and "only PNG" in r.output


def test_bad_builder_parameters_exit_2_without_writing(cli, tmp_path):
    out = tmp_path / "f.yaml"
    r = cli(["topo", "build", "fat-tree", "--k", "5", "-o", out])
    assert r.exit_code == 2
    assert r.output.strip() == "error: fat_tree: k must be an even integer >= 2, got 5"
    assert not out.exists()


def test_plan_show(cli, tmp_path):
    import dataclasses

    from plans import wcmp_section

    from fabric.builders import clos
    from fabric.plan import Plan, Provenance

    p = Plan.new(clos(2, 2, 2, 2))
    sec = dataclasses.replace(wcmp_section([]), provenance=Provenance(solver="GLOP", status="OPTIMAL", objective=0.75))
    p.add(sec, fabric=clos(2, 2, 2, 2))
    p.save(tmp_path / "p.json")
    r = cli(["plan", "show", tmp_path / "p.json"])
    assert r.exit_code == 0 and "GLOP" in r.output and "empty" in r.output
    r = cli(["plan", "show", tmp_path / "p.json", "--json"])
    assert json.loads(r.output)["sections"]["wcmp"]["provenance"]["objective"] == 0.75
    (tmp_path / "bad.json").write_text("{")
    r = cli(["plan", "show", tmp_path / "bad.json"])
    assert r.exit_code == 2 and "not valid JSON" in r.output


def test_unwritable_output_is_a_user_error(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = cli(["topo", "build", "fat-tree", "-o", blocker / "sub" / "f.yaml"])
    assert r.exit_code == 2 and r.output.startswith("error:")


def test_import_names_the_links_it_skipped(cli, tmp_path):
    from pathlib import Path

    src = Path(__file__).parent / "data" / "realworld" / "tests__01-smoke__macvlan.clab.yml"
    r = cli(["topo", "import", src, "--from", "clab", "-o", tmp_path / "t.yaml", "--json"])
    assert r.exit_code == 0, r.output
    w = json.loads(r.stdout)["warnings"]
    assert len(w) == 1 and "skipped link l1:eth1 -- macvlan:" in w[0] and "line 16" in w[0]
    r = cli(["topo", "import", src, "--from", "clab", "-o", tmp_path / "t.yaml"])
    assert r.exit_code == 0 and "warning: " in r.stderr and "not a node of the fabric" in r.stderr
