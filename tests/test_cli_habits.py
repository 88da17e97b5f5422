"""CLI habits (issue 16): --version, shell completion, one-line usage errors, tables not cut when piped,
progress only on a terminal, Ctrl-C is exit 130. Real processes (``python -m fabric.cli.main``), real
pipes and a real pseudo-terminal where the behaviour depends on them."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from fabric.cli.main import EXIT_INTERRUPTED, EXIT_USER_ERROR, PROG

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "optical" / "data" / "pairs-example.yaml"
BOX = set("╭╮╰╯│─")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FABRICCTL_DEBUG", "FABRICCTL_PROGRESS")}
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fabric.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _env(), cwd=ROOT)


def on_terminal(args: list[str], *, until: bytes | None = None, then_sigint: bool = False,
                timeout: float = 120) -> tuple[int, bytes]:
    """Run fabricctl with stdout and stderr on a pseudo-terminal; optionally send SIGINT once ``until``
    has been printed. Returns (exit status, everything printed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "fabric.cli.main", *args], stdin=slave, stdout=slave, stderr=slave,
                         env=_env(TERM="xterm"), cwd=ROOT, close_fds=True)
    os.close(slave)
    buf, t0, sent = b"", time.monotonic(), False
    try:
        while time.monotonic() - t0 < timeout:
            if until is not None and then_sigint and not sent and until in buf:
                p.send_signal(signal.SIGINT)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                buf += chunk
            elif p.poll() is not None:
                break
        return p.wait(timeout=30), buf
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)


# ------------------------------------------------------------------------------ --version, completion
def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout == f"{PROG} {version('fabricctl')}\n" and r.stderr == ""


def test_show_completion_bash_is_a_script_for_fabricctl():
    r = run("--show-completion", "bash")
    assert r.returncode == 0, r.stderr
    assert "_fabricctl_completion()" in r.stdout
    assert "_FABRICCTL_COMPLETE=complete_bash" in r.stdout
    assert "complete -o default -F _fabricctl_completion fabricctl" in r.stdout


@pytest.mark.parametrize("words, cword, want", [
    ("fabricctl pl", 1, {"plan"}),
    ("fabricctl plan w", 2, {"wcmp", "wdm"}),
    ("fabricctl plan wdm example --time", 4, {"--time-limit"}),
])
def test_completion_answers_what_bash_asks(words, cword, want):
    """What the installed script does on <TAB>: call fabricctl with the completion variables set."""
    r = run(env=_env(_FABRICCTL_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword)))
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == want


def test_install_completion_works_without_a_terminal(tmp_path):
    r = run("--install-completion", "bash", env=_env(HOME=str(tmp_path), SHELL="/bin/bash"))
    assert r.returncode == 0, r.stderr
    script = tmp_path / ".bash_completions" / "fabricctl.sh"
    assert script.is_file() and "_FABRICCTL_COMPLETE" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


# ------------------------------------------------------------------------------ usage errors
@pytest.mark.parametrize("args, says", [
    (["plan", "wcmp", "example", "--frobnicate"], "No such option: --frobnicate"),
    (["plan", "wcmp"], "Missing argument"),
    (["plan", "wdm", "example", "--k-paths", "two"], "Invalid value for '-k' / '--k-paths'"),
    (["plan", "budget", "example"], "Missing option '--pairs'"),
    (["topo", "build", "torus", "-o", "x.yaml"], "Invalid value for 'KIND"),
    (["plan", "nosuch"], "No such command 'nosuch'"),
    (["dpu", "check", "--packets"], "Option '--packets' requires an argument"),
])
def test_usage_errors_are_one_line_exit_2(cli, args, says):
    r = cli(args)
    assert r.exit_code == EXIT_USER_ERROR, r.stderr
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1, r.stderr
    # the command is named where the parser knows it (not for an option missing its value)
    where = PROG if args[-1] == "--packets" else f"{PROG} {' '.join(args[:2]) if args[1] != 'nosuch' else 'plan'}"
    assert r.stderr.startswith(f"error: {where}: ")
    assert says.lower() in r.stderr.lower(), r.stderr
    assert not BOX & set(r.stderr) and "Usage:" not in r.stderr and "Traceback" not in r.stderr
    assert "--help'" in r.stderr  # says where to look


@pytest.mark.parametrize("args", [["plan", "ocs", "x", "--demand", "y", "--tolerance", "abc"], ["topo", "shw"]])
def test_usage_errors_from_the_installed_entry_point_are_one_line(args):
    r = run(*args)
    assert r.returncode == EXIT_USER_ERROR and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {PROG} {args[0]}")
    assert not BOX & set(r.stderr) and "Usage:" not in r.stderr


# ------------------------------------------------------------------------------ pipes
def test_tables_through_a_pipe_are_not_cut_to_80_columns():
    """``plan budget ... | cat`` used to show "ov..." for a verdict: Rich laid the table out in 80 columns."""
    r = run("plan", "budget", "example", "--pairs", str(PAIRS))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "…" not in r.stdout
    header = next(ln for ln in lines if "verdict" in ln)
    assert len(header) > 80  # one line, wider than 80 columns, not wrapped
    rows = [ln for ln in lines if "beijing" in ln]
    assert len(rows) == 3 and all(ln.rstrip().endswith("│") and (" ok " in ln or " over " in ln) for ln in rows)
    assert all(len(ln) == len(header) for ln in rows)
    # an explicit COLUMNS is the user's choice and still wins
    narrow = run("plan", "budget", "example", "--pairs", str(PAIRS), env=_env(COLUMNS="60"))
    assert narrow.returncode == 0 and max(len(ln) for ln in narrow.stdout.splitlines()) <= 60


def test_a_rule_through_a_pipe_is_80_columns(capsys):
    from fabric.cli.common import PIPE_RULE_WIDTH, FabricConsole

    c = FabricConsole()
    c.rule("stage")
    assert len(capsys.readouterr().out.rstrip("\n")) == PIPE_RULE_WIDTH


# ------------------------------------------------------------------------------ progress and Ctrl-C
def test_progress_shows_on_a_terminal_only(tmp_path):
    args = ["topo", "build", "fat-tree", "--k", "16"]
    rc, out = on_terminal([*args, "-o", str(tmp_path / "t.yaml")])
    assert rc == 0 and b"building fat-tree" in out  # the spinner line, on the terminal
    r = run(*args, "-o", str(tmp_path / "p.yaml"))  # a pipe: no spinner, only the result
    assert r.returncode == 0 and r.stderr == "" and r.stdout.startswith("wrote ")
    rc, out = on_terminal([*args, "-o", str(tmp_path / "j.yaml"), "--json"])  # --json on a terminal: quiet
    assert rc == 0 and b"building" not in out and out.lstrip().startswith(b"{")


def test_ctrl_c_is_exit_130_and_writes_nothing(tmp_path):
    """SIGINT while the builder runs (shown by its progress line): one line, exit 130, no output file."""
    out = tmp_path / "big.yaml"
    rc, printed = on_terminal(["topo", "build", "fat-tree", "--k", "64", "-o", str(out)], until=b"building fat-tree",
                              then_sigint=True)
    assert rc == EXIT_INTERRUPTED, printed[-500:]
    assert b"interrupted" in printed and b"Traceback" not in printed
    assert not out.exists() and not list(tmp_path.iterdir())


def test_progress_helper_is_silent_when_quiet_or_not_a_terminal(capsys, monkeypatch):
    from fabric.cli.progress import PROGRESS_ENV, progress, shown

    assert not shown()  # pytest captures both streams: not terminals
    with progress("working", total=3) as p:
        p.update("step", advance=1)
        assert not p.active
    assert capsys.readouterr() == ("", "")
    monkeypatch.setenv(PROGRESS_ENV, "0")
    assert not shown(quiet=False)
