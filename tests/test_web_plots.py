"""The web view's last simulation plots: ``serve/report --plots-dir``, ``/api/cc/plots`` and its refusals."""

from __future__ import annotations

import base64
import json
import os
import shutil

import pytest
from test_web import _get_bytes as _get
from typer.testing import CliRunner

from fabric.cli.main import app
from fabric.io import load_fabric
from fabric.server.service import Controller
from fabric.server.store import Store
from fabric.web import plots
from fabric.web.app import WebServer, build_app

TOKEN = "plots-test-token-0123456789"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A plots folder as ``sim cc --out-dir`` leaves it, plus things that must not be listed or served."""
    tmp = tmp_path_factory.mktemp("plots")
    d = tmp / "plots"
    r = CliRunner().invoke(app, ["sim", "cc", "incast", "--out-dir", str(d), "--json"])
    assert r.exit_code == 0, r.output
    png = d / "cc-incast-dcqcn.png"
    assert json.loads(r.stdout)["plot"] == str(png)
    # older runs (copies of the real PNG, mtimes a minute apart), more than the list shows
    for i in range(plots.MAX_PLOTS + 2):
        old = d / f"old-{i:02d}.png"
        shutil.copyfile(png, old)
        t = png.stat().st_mtime - 60 * (i + 1)
        os.utime(old, (t, t))
    outside = tmp / "secret.png"
    shutil.copyfile(png, outside)
    (d / "link-out.png").symlink_to(outside)
    (d / "link-in.png").symlink_to(png)          # a link that stays in the folder is a plot
    (d / "fake.png").write_text("not a png")
    (d / "notes.txt").write_text("text")
    (d / ".hidden.png").write_bytes(png.read_bytes())
    (d / "sub").mkdir()
    shutil.copyfile(png, d / "sub" / "deep.png")
    for p in (d / "link-in.png", d / "fake.png", d / "notes.txt", d / ".hidden.png"):
        os.utime(p, (1.0, 1.0), follow_symlinks=False)
    os.utime(png, (png.stat().st_mtime + 3600,) * 2)   # the newest (link-in.png resolves to it too)
    return {"dir": d, "png": png, "outside": outside}


@pytest.fixture(scope="module")
def servers(folder, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("plots-ctl") / "ctl.db")
    ctl = Controller(store, {})
    ctl.submit_fabric(load_fabric("example"), who="test")
    webs = {"open": WebServer(build_app(ctl, plots_dir=folder["dir"]), "127.0.0.1:0"),
            "tok": WebServer(build_app(ctl, tokens={TOKEN: "ops"}, plots_dir=folder["dir"]), "127.0.0.1:0"),
            "none": WebServer(build_app(ctl), "127.0.0.1:0")}
    for w in webs.values():
        w.start()
    try:
        yield {k: f"http://127.0.0.1:{w.port}" for k, w in webs.items()}
    finally:
        for w in webs.values():
            w.stop()
        store.close()


def test_list_is_the_newest_pngs_and_the_bytes_come_back_equal(folder, servers):
    code, body, _ = _get(servers["open"] + "/api/cc/plots")
    assert code == 200
    doc = json.loads(body)
    names = [p["name"] for p in doc["plots"]]
    assert doc["folder"] == str(folder["dir"]) and doc["note"] is None
    assert len(names) == plots.MAX_PLOTS
    # newest first: the simulation's own plot (and the in-folder link to it), then old-00, old-01, ...
    assert names[:2] == ["cc-incast-dcqcn.png", "link-in.png"]
    assert names[2:] == [f"old-{i:02d}.png" for i in range(plots.MAX_PLOTS - 2)]
    assert not {"link-out.png", "fake.png", "notes.txt", ".hidden.png", "deep.png"} & set(names)
    first = doc["plots"][0]
    st = folder["png"].stat()
    assert first["mtime"] == st.st_mtime and first["bytes"] == st.st_size and first["modified"].endswith(" UTC")
    code, body, headers = _get(servers["open"] + "/api/cc/plots/cc-incast-dcqcn.png")
    assert code == 200 and headers["content-type"] == "image/png"
    assert body == folder["png"].read_bytes() and body.startswith(plots.PNG_SIGNATURE)
    assert _get(servers["open"] + "/api/cc/plots/old-03.png?t=1")[1] == folder["png"].read_bytes()


@pytest.mark.parametrize("name, code, words", [
    ("..%2Fsecret.png", 400, "not a plain file name"),
    ("../secret.png", 400, "not a plain file name"),
    ("%2e%2e%2fsecret.png", 400, "not a plain file name"),
    ("..", 400, "not a plain file name"),
    ("sub/deep.png", 400, "not a plain file name"),
    ("sub%5Cdeep.png", 400, "not a plain file name"),
    ("%2Fetc%2Fpasswd", 400, "not a plain file name"),
    (".hidden.png", 400, "not a plain file name"),
    ("a%00.png", 400, "not a plain file name"),
    ("link-out.png", 400, "not a file directly in the plots folder"),
    ("notes.txt", 400, "is not a PNG"),
    ("sub", 400, "is not a PNG"),
    ("fake.png", 400, "does not start with the PNG signature"),
    ("x" * 300 + ".png", 400, "1 to 255 characters"),
    ("missing.png", 404, "no such plot"),
])
def test_names_other_than_pngs_directly_in_the_folder_are_refused(servers, name, code, words):
    got, body, headers = _get(servers["open"] + "/api/cc/plots/" + name)
    assert got == code, body
    assert headers["content-type"].startswith("application/json")
    text = body.decode()
    assert len(text.splitlines()) == 1 and words in json.loads(text)["error"] and "Traceback" not in text


def test_token_rules_and_no_folder(servers):
    for path in ("/api/cc/plots", "/api/cc/plots/cc-incast-dcqcn.png"):
        assert _get(servers["tok"] + path)[0] == 401
        assert _get(servers["tok"] + path, token="wrong-token-0123456789")[0] == 401
        assert _get(servers["tok"] + path, token=TOKEN)[0] == 200
    code, body, _ = _get(servers["none"] + "/api/cc/plots")
    doc = json.loads(body)
    assert code == 200 and doc["plots"] == [] and doc["folder"] is None and "no plots folder" in doc["note"]
    code, body, _ = _get(servers["none"] + "/api/cc/plots/cc-incast-dcqcn.png")
    assert code == 404 and "serve --plots-dir" in json.loads(body)["error"]


def test_an_empty_folder_says_so(tmp_path):
    doc = plots.list_plots(tmp_path)
    assert doc["plots"] == [] and "no PNG plots" in doc["note"] and "sim cc" in doc["note"]
    assert plots.list_plots(tmp_path / "gone")["note"].endswith("no such folder")


def test_report_embeds_the_plots_as_data_uris(cli, folder, tmp_path):
    plan = tmp_path / "plan.json"
    r = cli(["plan", "wcmp", "example", "-o", plan, "--no-png", "--json"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "report.html"
    r = cli(["report", "example", "--plan", plan, "-o", out, "--plots-dir", folder["dir"], "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["plots"][:2] == ["cc-incast-dcqcn.png", "link-in.png"] and len(doc["plots"]) == plots.MAX_PLOTS
    html = out.read_text()
    prefix = "data:image/png;base64,"
    start = html.index(prefix) + len(prefix)
    assert base64.b64decode(html[start:html.index('"', start)]) == folder["png"].read_bytes()
    r = cli(["report", "example", "--plan", plan, "-o", tmp_path / "r2.html", "--plots-dir", tmp_path / "nope"])
    assert r.exit_code == 2 and "--plots-dir: no such folder" in r.output and not (tmp_path / "r2.html").exists()


@pytest.mark.parametrize("extra, words", [
    (["--plots-dir", "."], "--plots-dir: needs --http"),
    (["--http", "127.0.0.1:0", "--plots-dir", "no-such-folder"], "--plots-dir: no-such-folder: no such folder"),
])
def test_serve_refuses_a_plots_dir_it_cannot_use(cli, tmp_path, extra, words):
    r = cli(["serve", "--db", tmp_path / "ctl.db", *extra])
    assert r.exit_code == 2 and words in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "ctl.db").exists()
