"""The controller's gRPC face: ``fabricctl.controller.v1.Controller`` (fabric/server/api), the standard
health service (``grpc.health.v1``) and server reflection, TLS and bearer tokens.

Errors are gRPC statuses with one readable line: a bad document or option INVALID_ARGUMENT (naming
the field, as the CLI does), an unknown plan version, link or node NOT_FOUND, a call that needs state
the controller does not have FAILED_PRECONDITION, a request over :data:`MAX_REQUEST_BYTES`
RESOURCE_EXHAUSTED (by gRPC itself), a missing or wrong token UNAUTHENTICATED (logged). Anything else
is INTERNAL with the exception's type and message; the service keeps running.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import queue
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from fabric.errors import ConfigError, FabricError
from fabric.server.api import controller_pb2 as pb
from fabric.server.api import controller_pb2_grpc as pb_grpc
from fabric.server.service import Controller, NotFoundError, PreconditionError

#: Largest request the API accepts (a topology file of the 8,192-GPU fabric is ~2 MiB as YAML; the
#: reader's own limit for files is 64 MiB). Larger ones get RESOURCE_EXHAUSTED from gRPC.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: Largest response (a plan of the 8,192-GPU fabric is ~30 MiB of JSON).
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: Threads serving API calls at once (the load test runs 50 concurrent clients).
API_WORKERS = 64
#: Methods that need no token: the standard health check (load balancers and probes call it bare).
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Controller"].full_name
#: Request header naming who a client acts for (recorded after the token's name in the audit log).
ACTOR_METADATA = "x-fabricctl-actor"
MAX_ACTOR_CHARS = 100

log = logging.getLogger("fabricctl.server")


# ============================================================================ tokens
def load_tokens(path: str | os.PathLike[str]) -> dict[str, str]:
    """A token file: one token per line, or ``NAME TOKEN`` (the name goes to the audit log); ``#``
    comments. Returns token -> name."""
    from fabric.io.reader import read_text

    p = str(path)
    out: dict[str, str] = {}
    for i, raw in enumerate(read_text(p, what="token file").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2:
            raise ConfigError("expected 'TOKEN' or 'NAME TOKEN'", file=p, where=f"line {i}")
        name, token = (parts[0], parts[1]) if len(parts) == 2 else (f"token{i}", parts[0])
        if len(token) < 16:
            raise ConfigError("a token must be at least 16 characters", file=p, where=f"line {i}")
        out[token] = name
    if not out:
        raise ConfigError("no token in the file", file=p)
    return out


def token_name(tokens: dict[str, str], given: str) -> str | None:
    """The name of ``given`` if it is one of ``tokens`` (token -> name), compared in constant time
    against every token (the web view checks its tokens with this too)."""
    found = None
    for token, name in tokens.items():
        if hmac.compare_digest(token.encode(), given.encode()):
            found = name
    return found


class _TokenInterceptor(grpc.ServerInterceptor):
    """Every call but the health check must carry ``authorization: Bearer <token>``."""

    def __init__(self, tokens: dict[str, str], on_refused: Callable[[str, str], None]) -> None:
        self.tokens, self.on_refused = tokens, on_refused

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny)

    def who(self, metadata: Any) -> str | None:
        for k, v in metadata or ():
            if k == "authorization" and isinstance(v, str) and v.startswith("Bearer "):
                name = token_name(self.tokens, v[len("Bearer "):])
                if name is not None:
                    return name
        return None

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        if details.method in OPEN_METHODS:
            return continuation(details)
        if self.who(details.invocation_metadata) is not None:
            return continuation(details)
        self.on_refused(details.method, "missing" if not any(
            k == "authorization" for k, _ in details.invocation_metadata or ()) else "wrong")
        handler = continuation(details)
        if handler is not None and handler.response_streaming:
            return self._deny_stream
        return self._deny


# ============================================================================ the servicer
def _abort_for(context: grpc.ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, NotFoundError):
        context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, PreconditionError):
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, FabricError):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    log.exception("internal error")
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(self: ControllerServicer, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 (every error becomes a status; the service keeps running)
            _abort_for(context, exc)

    wrapped.__name__ = fn.__name__
    return wrapped


def _json_object(text: str, where: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"not JSON: {exc}", where=where) from None
    if not isinstance(obj, dict):
        raise ConfigError("must be a JSON object", where=where)
    return obj


def _switch_pb(s: dict[str, Any]) -> Any:
    return pb.SwitchStatus(**s)


_SUFFIX = {"yaml": ".yaml", "json": ".json", "gml": ".gml", "clab": ".clab.yml"}


class ControllerServicer(pb_grpc.ControllerServicer):
    """Translates between the protos and :class:`fabric.server.service.Controller`."""

    def __init__(self, ctl: Controller, tokens: _TokenInterceptor | None = None) -> None:
        self.ctl, self._tokens = ctl, tokens

    def _who(self, context: grpc.ServicerContext) -> str:
        """Who made the call, for the audit log: the token's name (``api`` without tokens), followed
        by ``/ACTOR`` when the client names the person or program it acts for in the
        :data:`ACTOR_METADATA` header (the MCP server passes its client's name)."""
        md = context.invocation_metadata()
        who = (self._tokens.who(md) if self._tokens is not None else None) or "api"
        for k, v in md or ():
            if k == ACTOR_METADATA and isinstance(v, str) and v.strip():
                return f"{who}/{v.strip()[:MAX_ACTOR_CHARS]}"
        return who

    @_guard
    def SubmitFabric(self, request: Any, context: grpc.ServicerContext) -> Any:
        from fabric.io import load_fabric

        if not request.body:
            if not request.name:
                raise ConfigError("give the file's text in 'body' or a built-in fabric in 'name'", where="body")
            fab = load_fabric(request.name)
        else:
            fmt = request.format or "yaml"
            if fmt not in _SUFFIX:
                raise ConfigError(f"format must be one of {', '.join(_SUFFIX)}, got {fmt!r}", where="format")
            from fabric.server.planning import temp_file

            with temp_file(request.body, _SUFFIX[fmt]) as path:
                try:
                    fab = load_fabric(path)
                except FabricError as exc:
                    raise ConfigError(exc.reason, file="request.body", where=exc.where) from None
        digest = self.ctl.submit_fabric(fab, who=self._who(context))
        return pb.SubmitFabricResponse(digest=digest, name=fab.name, nodes=len(fab),
                                       links=sum(1 for _ in fab.links()))

    @_guard
    def GetFabric(self, request: Any, context: grpc.ServicerContext) -> Any:
        doc = self.ctl.fabric_document(request.digest)
        return pb.GetFabricResponse(digest=doc["digest"], name=doc["name"], body_json=json.dumps(doc["body"]))

    @_guard
    def SubmitDemand(self, request: Any, context: grpc.ServicerContext) -> Any:
        text = request.body
        fmt = "csv" if text.lstrip().startswith("src,") else "yaml"
        return pb.SubmitDemandResponse(demand_id=self.ctl.submit_demand(request.kind or "demand", text, fmt,
                                                                        who=self._who(context)))

    @_guard
    def ComputePlan(self, request: Any, context: grpc.ServicerContext) -> Any:
        out = self.ctl.compute_plan(request.planner, fabric_digest=request.fabric_digest,
                                    demand_id=request.demand_id,
                                    options=_json_object(request.options_json, "options_json"),
                                    base_version=request.base_version, apply=request.apply,
                                    who=self._who(context))
        return pb.ComputePlanResponse(version=out["version"], new=out["new"],
                                      summary_json=json.dumps(out["summary"], default=str), seconds=out["seconds"])

    @_guard
    def ListPlans(self, request: Any, context: grpc.ServicerContext) -> Any:
        plans = self.ctl.plans()
        return pb.ListPlansResponse(plans=[pb.PlanInfo(**p) for p in plans],
                                    desired_version=self.ctl.store.desired() or 0)

    @_guard
    def GetPlan(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.GetPlanResponse(plan_json=self.ctl.plan_json(request.version))

    @_guard
    def DiffPlans(self, request: Any, context: grpc.ServicerContext) -> Any:
        d = self.ctl.diff(request.old_version, request.new_version)
        return pb.DiffPlansResponse(diff_json=json.dumps(d, default=str), text=json.dumps(d, indent=2, default=str))

    @_guard
    def Apply(self, request: Any, context: grpc.ServicerContext) -> Any:
        out = self.ctl.apply(request.version, who=self._who(context), wait=request.wait,
                             timeout_s=request.timeout_s or 60.0)
        st = self.ctl.status()
        return pb.ApplyResponse(version=out["version"], converged=out["converged"],
                                switches_updated=out["switches_updated"], updates=out["updates"],
                                push_ms=out["push_ms"], switches=[_switch_pb(s) for s in st["switches"]])

    @_guard
    def ReportEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        out = self.ctl.report_event(request.kind, request.a, request.b, who=self._who(context),
                                    wait=request.wait, timeout_s=request.timeout_s or 60.0)
        return pb.ReportEventResponse(**out)

    def Watch(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        q = self.ctl.watch()
        try:
            for e in self.ctl.store.events(since_id=request.since_event_id):
                yield pb.WatchEvent(event_id=e.id, kind=e.kind, a=e.a or "", b=e.b or "",
                                    body_json=json.dumps(e.body), created_unix=e.created_unix)
            while context.is_active():
                try:
                    m = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                yield pb.WatchEvent(event_id=m["event_id"], kind=m["kind"], a=m["a"], b=m["b"],
                                    body_json=json.dumps(m["body"], default=str), created_unix=m["created_unix"])
        finally:
            self.ctl.unwatch(q)

    @_guard
    def Status(self, request: Any, context: grpc.ServicerContext) -> Any:
        st = self.ctl.status()
        return pb.StatusResponse(plan_version=st["plan_version"], fabric_digest=st["fabric_digest"],
                                 converged=st["converged"], switches=[_switch_pb(s) for s in st["switches"]])


# ============================================================================ TLS
def server_credentials(tls_dir: str | os.PathLike[str]) -> grpc.ServerCredentials:
    """TLS from ``tls_dir`` (what ``fabricctl certs init`` writes: server.pem, server.key)."""
    d = Path(tls_dir)
    try:
        key, cert = (d / "server.key").read_bytes(), (d / "server.pem").read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the server certificate: {exc.strerror}: run 'fabricctl certs init "
                          f"{d}'", file=str(d)) from None
    return grpc.ssl_server_credentials([(key, cert)])


def channel_credentials(ca_file: str | os.PathLike[str]) -> grpc.ChannelCredentials:
    """A client's TLS credentials trusting the CA in ``ca_file`` (ca.pem of ``certs init``)."""
    try:
        ca = Path(ca_file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the CA certificate: {exc.strerror}", file=str(ca_file)) from None
    return grpc.ssl_channel_credentials(root_certificates=ca)


# ============================================================================ the server
def build_server(ctl: Controller, listen: str, *, tls_dir: str | os.PathLike[str] | None = None,
                 tokens: dict[str, str] | None = None,
                 interceptors: Sequence[grpc.ServerInterceptor] = ()) -> tuple[grpc.Server, int]:
    """A started gRPC server for ``ctl`` on ``listen`` (``HOST:PORT``, port 0: any free port);
    returns it and its port. ``interceptors`` run before the token check (metrics count refused calls)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    chain: list[grpc.ServerInterceptor] = list(interceptors)
    tok = None
    if tokens:
        def refused(method: str, why: str) -> None:
            log.warning("refused %s: %s token", method, why)
            print(f"fabricctl serve: refused {method}: {why} bearer token", file=sys.stderr, flush=True)
            try:
                ctl.store.audit("unauthenticated", "refused", ctl.clock(), detail={"method": method, "token": why})
            except FabricError:
                pass

        tok = _TokenInterceptor(tokens, refused)
        chain.append(tok)
    server = grpc.server(ThreadPoolExecutor(max_workers=API_WORKERS, thread_name_prefix="api"),
                         interceptors=chain,
                         options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                                  ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
                                  ("grpc.so_reuseport", 0)])
    pb_grpc.add_ControllerServicer_to_server(ControllerServicer(ctl, tok), server)
    hs = health.HealthServicer()
    hs.set("", health_pb2.HealthCheckResponse.SERVING)
    hs.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    creds = server_credentials(tls_dir) if tls_dir is not None else None
    try:
        port = server.add_secure_port(listen, creds) if creds is not None else server.add_insecure_port(listen)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {listen}: {exc}", where="--listen") from None
    if not port:
        raise ConfigError(f"cannot listen on {listen} (address in use or not local)", where="--listen")
    server.start()
    return server, port
