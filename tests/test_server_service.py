"""`fabricctl serve` as its users meet it: a process on loopback with a spawned agent for the example
fabric's 28 switches, driven by third-party clients (grpc's standard health client and a client that
knows the API only through server reflection), by `fabricctl ctl`, killed with -9 during applies and
restarted, fed malformed requests, 50 concurrent clients, a second controller, TLS and tokens."""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from fabric.io import load_fabric
from fabric.plan import Plan
from fabric.server.client import ControllerClient, ServiceError
from fabric.server.desired import managed_switches
from fabric.server.store import Store
from p4.client import SwitchClient
from p4.decode import Decoder
from p4.programs import build_program
from p4.runtime import all_switch_entries, canonical, program_options

REPO = Path(__file__).resolve().parents[1]
LINK = ("beijing-su1-rail0", "beijing-spine1")
START_TIMEOUT_S = 90.0


class Service:
    """One `fabricctl serve` process."""

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.port_file = db.parent / f"serve-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen([sys.executable, "-m", "fabric.cli.main", "serve", "--db", str(db),
                                      "--listen", "127.0.0.1:0", "--port-file", str(self.port_file), *args],
                                     cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                _out, err = self.proc.communicate(timeout=10)
                pytest.fail(f"serve did not start (rc {self.proc.returncode}): {err[-3000:]}")
            time.sleep(0.05)
        self.doc = json.loads(self.port_file.read_text())
        self.address = self.doc["listen"]

    def client(self, **kw) -> ControllerClient:
        return ControllerClient(self.address, **kw)

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=10)

    def stop(self) -> str:
        """SIGTERM, as an operator stops it; returns its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate(timeout=10)
        return err


def _kill_agent(db: Path) -> None:
    rec = Path(f"{db}.agents") / "agent.json"
    try:
        pid = json.loads(rec.read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, KeyError):
        pass


@pytest.fixture
def service(tmp_path):
    started: list[Service] = []

    def start(*args: str, db: Path | None = None, **kw) -> Service:
        s = Service(db or tmp_path / "ctl.db", *args, **kw)
        started.append(s)
        return s

    try:
        yield start
    finally:
        for s in started:
            s.kill9()
            _kill_agent(s.db)


def _held(address_of, fab, plan):
    """Every switch's entries read back by a backup client, and what the plan says they must be."""
    opts = program_options(plan)
    progs = {r: build_program(r, opts) for r in {fab.role(s) for s in address_of}}
    want = {s: canonical(progs[fab.role(s)], e) for s, e in all_switch_entries(fab, plan, progs).items()}
    got = {}
    for s, (addr, dev) in address_of.items():
        with SwitchClient(addr, dev, None) as c:          # an observer: no election id
            c.connect()
            got[s] = Decoder(progs[fab.role(s)]).canonical(c.read_all())
    return got, want


def _agents(svc: Service) -> dict[str, tuple[str, int]]:
    fab = load_fabric("example")
    return {s: (svc.doc["agents"], i) for i, s in enumerate(managed_switches(fab), 1)}


def _converge(c: ControllerClient, version: int, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        st = c.status()
        if st["converged"] and st["plan_version"] == version:
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.05)


def _ctl(svc: Service, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, FABRICCTL_SERVER=svc.address)
    if token:
        env["FABRICCTL_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "fabric.cli.main", "ctl", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


# ============================================================================ third-party clients
def test_third_party_clients_health_and_reflection_and_the_ctl_contract(service):
    svc = service("--fabric", "example", "--agents", "spawn")
    ch = grpc.insecure_channel(svc.address)
    # grpc's own health client
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    # a client that knows the API only from server reflection (no generated code of ours)
    from google.protobuf import descriptor_pool
    from google.protobuf.message_factory import GetMessageClass
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    db = ProtoReflectionDescriptorDatabase(ch)
    assert "fabricctl.controller.v1.Controller" in db.get_services()
    pool = descriptor_pool.DescriptorPool(db)
    svc_desc = pool.FindServiceByName("fabricctl.controller.v1.Controller")
    m = svc_desc.FindMethodByName("Status")
    req_cls, resp_cls = GetMessageClass(m.input_type), GetMessageClass(m.output_type)
    call = ch.unary_unary("/fabricctl.controller.v1.Controller/Status",
                          request_serializer=req_cls.SerializeToString, response_deserializer=resp_cls.FromString)
    st = call(req_cls(), timeout=10)
    assert len(st.switches) == 28 and st.plan_version == 0
    ch.close()
    # the controller hands its fabric back (GetFabric): the same digest as the one it serves, and the MCP
    # server's backend takes it from there when started without --fabric
    with svc.client() as c:
        assert c.get_fabric().digest() == load_fabric("example").digest() == c.status()["fabric_digest"]
        with pytest.raises(ServiceError) as e:
            c.get_fabric("sha256:nope")
        assert e.value.code == "NOT_FOUND"
    from fabric.mcp.backend import Backend

    assert Backend(server=svc.address).fabric().digest() == load_fabric("example").digest()

    # the CLI contract: ctl compute/apply/fail/restore/status --json with the keys
    r = _ctl(svc, "compute", "wcmp", "--json")
    assert r.returncode == 0, r.stderr
    v1 = json.loads(r.stdout)["version"]
    r = _ctl(svc, "compute", "cc", "--base", str(v1), "--apply", "--json")
    assert r.returncode == 0, r.stderr
    v2 = json.loads(r.stdout)["version"]
    with svc.client() as c:
        _converge(c, v2)
    r = _ctl(svc, "status", "--json")
    st = json.loads(r.stdout)
    assert st["plan_version"] == v2 and len(st["switches"]) == 28
    assert set(st["switches"][0]) >= {"name", "connected", "primary", "desired_version", "applied_version", "error"}
    r = _ctl(svc, "fail", *LINK, "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert set(ev) >= {"event_id", "plan_version", "recompute_ms", "push_ms", "total_ms", "switches_updated",
                       "updates"}
    assert ev["plan_version"] > v2 and ev["switches_updated"] > 0 and ev["push_ms"] > 0
    print(f"ctl fail on the example fabric: {ev}")
    got, want = _held(_agents(svc), load_fabric("example"),
                      Plan.from_dict(ControllerClient(svc.address).plan(ev["plan_version"])))
    assert got == want
    r = _ctl(svc, "restore", *LINK, "--json")
    assert json.loads(r.stdout)["plan_version"] == v2
    r = _ctl(svc, "events", "--json")
    kinds = [json.loads(line)["kind"] for line in r.stdout.splitlines()]
    assert kinds == ["link_down", "link_up"]
    # offline: a bad server is one line and exit 2
    r = subprocess.run([sys.executable, "-m", "fabric.cli.main", "ctl", "status", "--server", "127.0.0.1:1"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "UNAVAILABLE" in r.stderr


# ============================================================================ bad input
def test_malformed_requests_get_readable_statuses_and_the_service_keeps_running(service):
    svc = service("--fabric", "example", "--agents", "spawn")
    with svc.client() as c:
        cases = [
            (lambda: c.submit_fabric(body="nodes: [1, 2", fmt="yaml"), "INVALID_ARGUMENT", "request.body"),
            (lambda: c.submit_fabric(body="{}", fmt="nope"), "INVALID_ARGUMENT", "format must be"),
            (lambda: c.apply(99), "NOT_FOUND", "no plan version 99"),
            (lambda: c.event("link_down", *LINK), "FAILED_PRECONDITION", "no plan is applied"),
            (lambda: c.compute_plan("nope"), "INVALID_ARGUMENT", "unknown planner"),
            (lambda: c.compute_plan("wcmp", options={"bogus": 1}), "INVALID_ARGUMENT", "unknown wcmp option"),
            (lambda: c.compute_plan("wcmp", options={"rate_gbps": -1}), "INVALID_ARGUMENT", "rate_gbps"),
            (lambda: c.submit_fabric(body="x" * (17 * 1024 * 1024)), "RESOURCE_EXHAUSTED", ""),
        ]
        for fn, code, text in cases:
            with pytest.raises(ServiceError) as e:
                fn()
            assert e.value.code == code, (code, str(e.value))
            assert text in str(e.value) and "Traceback" not in str(e.value)
        v = c.compute_plan("wcmp", apply=True)["version"]
        _converge(c, v)
        for fn, code in [(lambda: c.event("link_down", "beijing-spine1", "ghost"), "NOT_FOUND"),
                         (lambda: c.event("node_down", "ghost"), "NOT_FOUND"),
                         (lambda: c.event("meteor", "a", "b"), "INVALID_ARGUMENT"),
                         (lambda: c.diff(v, 42), "NOT_FOUND")]:
            with pytest.raises(ServiceError) as e:
                fn()
            assert e.value.code == code
        assert c.status()["plan_version"] == v          # still serving, nothing changed
    assert svc.proc.poll() is None


# ============================================================================ kill -9
@pytest.mark.slow
def test_kill_9_during_applies_loses_nothing_acknowledged_and_switches_converge(service, tmp_path):
    db = tmp_path / "ctl.db"
    svc = service("--fabric", "example", "--agents", "spawn", db=db)
    with svc.client() as c:
        a = c.compute_plan("wcmp")["version"]
        b = c.compute_plan("cc", base_version=a)["version"]
        c.apply(b)
        c.event("link_down", *LINK)          # version c: b with one link down
        versions = [r["version"] for r in c.plans()["plans"]]
    acknowledged = set(versions)
    rng = random.Random(3)
    for loop in range(20):
        target = versions[loop % len(versions)]
        with svc.client() as c:
            t = threading.Thread(target=lambda c=c, v=target: _quiet(lambda: c.apply(v, wait=True)), daemon=True)
            t.start()
            time.sleep(rng.random() * 0.3)
        svc.kill9()
        svc = service("--agents", "spawn", db=db)
    with svc.client() as c:
        with Store(db) as s:
            assert s.integrity_ok()
            assert acknowledged <= {r.version for r in s.plans()}
            want_version = s.desired()
        st = _converge(c, want_version)
        assert all(x["applied_version"] == want_version for x in st["switches"])
        got, want = _held(_agents(svc), load_fabric("example"), Plan.from_dict(c.plan(want_version)))
    assert got == want               # nothing missing, nothing duplicated, nothing foreign


def _quiet(fn):
    try:
        fn()
    except ServiceError:
        pass


# ============================================================================ two controllers
def test_a_second_controller_stays_backup_and_takes_over_when_the_first_dies(service, tmp_path):
    first = service("--fabric", "example", "--agents", "spawn", db=tmp_path / "one.db")
    with first.client() as c:
        v = c.compute_plan("wcmp", apply=True)["version"]
        _converge(c, v)
    agents_file = tmp_path / "agents.json"
    agents_file.write_text(json.dumps({s: {"address": a, "device_id": d} for s, (a, d) in _agents(first).items()}))
    second = service("--fabric", "example", "--agents", str(agents_file), db=tmp_path / "two.db")
    fab = load_fabric("example")
    with second.client() as c2:
        deadline = time.monotonic() + 30
        while not all(s["connected"] for s in c2.status()["switches"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not any(s["primary"] for s in c2.status()["switches"])
        v2 = c2.compute_plan("wcmp", options={"seed": 7, "demand": "all-to-all"})["version"]
        out = c2.apply(v2, wait=True, timeout_s=2)
        assert not out["converged"]                   # a backup never writes
        plan1 = Plan.from_dict(ControllerClient(first.address).plan(v))
        got, want = _held(_agents(first), fab, plan1)
        assert got == want                            # the switches still hold the first's plan
        first.kill9()
        st = _converge(c2, v2, timeout_s=60)          # re-arbitration: the second takes over
        assert all(s["primary"] for s in st["switches"])
        got, want = _held(_agents(first), fab, Plan.from_dict(c2.plan(v2)))
        assert got == want


# ============================================================================ load
@pytest.mark.slow
def test_fifty_concurrent_clients_for_thirty_seconds(service):
    svc = service("--fabric", "example", "--agents", "spawn")
    with svc.client() as c:
        v = c.compute_plan("wcmp", apply=True)["version"]
        _converge(c, v)
    duration_s = float(os.environ.get("FABRICCTL_LOAD_S", "30"))
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration_s

    def worker(i: int) -> None:
        with ControllerClient(svc.address) as c:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    (c.status if i % 2 else c.plans)()
                except ServiceError as exc:
                    with lock:
                        errors.append(str(exc))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    qs = statistics.quantiles(latencies, n=100)
    print(f"50 clients x {duration_s:g} s: {len(latencies)} calls ({len(latencies) / duration_s:.0f}/s), "
          f"p50 {qs[49] * 1000:.1f} ms, p99 {qs[98] * 1000:.1f} ms")
    assert len(latencies) > 50 and svc.proc.poll() is None


# ============================================================================ TLS and tokens
def test_tls_and_tokens(service, tmp_path):
    certs = tmp_path / "certs"
    r = subprocess.run([sys.executable, "-m", "fabric.cli.main", "certs", "init", str(certs), "--json"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "fabric.cli.main", "certs", "init", str(other)], cwd=REPO,
                   capture_output=True, timeout=60, check=True)
    token = "alice s3cret-token-0123456789"
    (tmp_path / "tokens").write_text(f"# operators\n{token}\n")
    svc = service("--fabric", "example", "--agents", "spawn", "--tls-dir", str(certs),
                  "--token-file", str(tmp_path / "tokens"))
    ca = str(certs / "ca.pem")
    with ControllerClient(svc.address, ca_file=ca, token="s3cret-token-0123456789") as c:
        assert c.status()["plan_version"] == 0
        c.compute_plan("cc")
        v = c.compute_plan("wcmp", apply=True)["version"]
        st = _converge(c, v)                      # the southbound runs over TLS to the spawned agent
        assert all(s["primary"] for s in st["switches"])
    # the agent speaks TLS only: a plaintext P4Runtime client cannot even arbitrate
    from p4.client import P4RuntimeError

    with SwitchClient(svc.doc["agents"], 1, None, timeout_s=5) as plain, pytest.raises(P4RuntimeError):
        plain.connect()
    tls = grpc.ssl_channel_credentials(Path(ca).read_bytes())
    with SwitchClient(svc.doc["agents"], 1, None, credentials=tls, timeout_s=10) as ok:
        assert ok.connect() is False and ok.connected          # an observer over TLS: answered
    for kw, code in [({"ca_file": ca}, "UNAUTHENTICATED"),
                     ({"ca_file": ca, "token": "wrong-token-0123456789"}, "UNAUTHENTICATED"),
                     ({"ca_file": str(other / "ca.pem"), "token": "s3cret-token-0123456789"}, "UNAVAILABLE"),
                     ({"token": "s3cret-token-0123456789"}, "UNAVAILABLE")]:       # plaintext to a TLS port
        with ControllerClient(svc.address, timeout_s=5, **kw) as c, pytest.raises(ServiceError) as e:
            c.status()
        assert e.value.code == code, (kw, str(e.value))
    # the health check needs no token (probes call it bare), over TLS
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.secure_channel(svc.address, grpc.ssl_channel_credentials(Path(ca).read_bytes())) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    err = svc.stop()
    assert "refused /fabricctl.controller.v1.Controller/Status: missing bearer token" in err
    assert "wrong bearer token" in err
    with Store(tmp_path / "ctl.db") as s:
        who = [(a[1], a[2]) for a in s.audit_log()]
    assert ("alice", "compute_plan") in who and ("unauthenticated", "refused") in who
