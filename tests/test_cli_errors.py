"""The CLI's one error boundary: user errors are exit 2 with one line, anything else that escapes a command
is exit 3 with one line naming where (FABRICCTL_DEBUG shows the traceback), never a traceback by default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fabric.cli.main import DEBUG_ENV, EXIT_INTERNAL, EXIT_USER_ERROR


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != DEBUG_ENV}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "fabric.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=e)


def test_an_internal_error_is_one_line_and_exit_3(cli, monkeypatch):
    import fabric.cc

    def boom(*_a, **_k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(fabric.cc, "plan_cc", boom)
    r = cli(["plan", "cc", "example"])
    assert r.exit_code == EXIT_INTERNAL
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: internal error in fabric.cc.cc_section: ZeroDivisionError: division by zero")
    assert DEBUG_ENV in r.stderr


def test_the_debug_variable_shows_the_traceback(monkeypatch):
    from typer.testing import CliRunner

    import fabric.cc
    from fabric.cli.main import app

    monkeypatch.setattr(fabric.cc, "plan_cc", lambda *_a, **_k: 1 / 0)
    monkeypatch.setenv(DEBUG_ENV, "1")
    r = CliRunner().invoke(app, ["plan", "cc", "example"])
    assert isinstance(r.exception, ZeroDivisionError)


@pytest.mark.parametrize("args, message", [
    (["plan", "cc", "example", "--switch-buffer", "nan"], "error: --switch-buffer: must be a positive number of MiB, got nan"),
    (["plan", "cc", "example", "--switch-buffer", "inf"], "error: --switch-buffer: must be a positive number of MiB, got inf"),
    (["plan", "wcmp", "example", "--seed", "-1", "--no-png"], "error: --seed: must be >= 0, got -1"),
    (["topo", "show", "zoo:../topologyzoo/Chinanet"], "error: no built-in Topology Zoo file '../topologyzoo/Chinanet'"),
    (["plan", "budget", "zoo:../../../etc/x", "--pairs", "all-hubs"], "error: no built-in Topology Zoo file"),
])
def test_bad_option_values_are_user_errors(args, message, tmp_path):
    r = run(*args, "--out", str(tmp_path)) if args[1] == "wcmp" else run(*args)
    assert r.returncode == EXIT_USER_ERROR, r.stderr
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_dpu_parse_reads_captures_that_are_not_ethernet(cli):
    """A real pcapng with a Linux-cooked interface and huge timestamps used to crash (OverflowError);
    SLL captures were refused as not Ethernet."""
    import json
    from pathlib import Path

    data = Path(__file__).parent / "data" / "pcap"
    r = cli(["dpu", "parse", data / "Tests__Pcap++Test__PcapExamples__pcapng-example.pcapng", "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == 159
    r = cli(["dpu", "parse", data / "Tests__Packet++Test__PacketExamples__SllPacket.pcap", "--json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)[0]
    assert (rec["parse_error"], rec["ip_version"], rec["ip_src"], rec["l4_sport"]) == (0, 6, "2404:6800:8004::68", 80)
    r = cli(["dpu", "parse", data / "Tests__Packet++Test__PacketExamples__SllPacket.pcap", "--limit", "-1"])
    assert r.exit_code == EXIT_USER_ERROR and "--limit: must be >= 0, got -1" in r.stderr
