"""A client of the controller's API (what ``fabricctl ctl``, the demo and the MCP server use): the
generated stub with the token, TLS and timeouts applied, and every gRPC error turned into one
:class:`ServiceError` line (``NOT_FOUND: no plan version 9``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import grpc

from fabric.errors import FabricError
from fabric.server.api import controller_pb2 as pb
from fabric.server.api import controller_pb2_grpc as pb_grpc

#: Where ``fabricctl serve`` listens by default, and the environment variables ``ctl`` reads.
DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV, TOKEN_ENV, CA_ENV = "FABRICCTL_SERVER", "FABRICCTL_TOKEN", "FABRICCTL_CA"
#: Seconds a call may take (an apply of a big plan waits for every switch).
DEFAULT_CALL_TIMEOUT_S = 120.0


class ServiceError(FabricError):
    """A call to the controller failed: ``code`` is the gRPC status name."""

    def __init__(self, code: str, message: str, server: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}", where=f"server {server}")


def _dict(msg: Any) -> dict[str, Any]:
    """A message as a dict with Python values (int64 stay ints: protobuf's JSON mapping makes them strings)."""
    out: dict[str, Any] = {}
    for f in msg.DESCRIPTOR.fields:
        v = getattr(msg, f.name)
        if f.message_type is not None:
            v = [_dict(x) for x in v] if _repeated(f) else _dict(v)
        elif _repeated(f):
            v = list(v)
        out[f.name] = v
    return out


def _repeated(f: Any) -> bool:
    r = getattr(f, "is_repeated", None)   # protobuf >= 6.31 (``label`` is deprecated there)
    if r is not None:
        return bool(r() if callable(r) else r)
    return bool(f.label == f.LABEL_REPEATED)


class ControllerClient:
    def __init__(self, server: str | None = None, *, token: str | None = None, ca_file: str | None = None,
                 timeout_s: float = DEFAULT_CALL_TIMEOUT_S, actor: str | None = None) -> None:
        """``actor``: who this client acts for (the audit log records ``TOKEN-NAME/actor``)."""
        self.server = server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        ca_file = ca_file if ca_file is not None else os.environ.get(CA_ENV)
        md = [("authorization", f"Bearer {token}")] if token else []
        if actor:
            md.append(("x-fabricctl-actor", actor))
        self.metadata = tuple(md)
        self.timeout_s = timeout_s
        opts = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
        if ca_file:
            from fabric.server.grpc_api import channel_credentials

            self.channel = grpc.secure_channel(self.server, channel_credentials(ca_file), options=opts)
        else:
            self.channel = grpc.insecure_channel(self.server, options=opts)
        self.stub = pb_grpc.ControllerStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, name: str, request: Any, timeout_s: float | None = None) -> Any:
        try:
            return getattr(self.stub, name)(request, timeout=timeout_s or self.timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            details = exc.details() or ""  # type: ignore[attr-defined]
            if code == grpc.StatusCode.UNAVAILABLE:
                details = f"cannot reach the controller ({details.splitlines()[0] if details else 'no answer'})"
            raise ServiceError(code.name, details, self.server) from None

    # ------------------------------------------------------------------ calls
    def submit_fabric(self, *, body: str = "", fmt: str = "", name: str = "") -> dict[str, Any]:
        return _dict(self._call("SubmitFabric", pb.SubmitFabricRequest(body=body, format=fmt, name=name)))

    def get_fabric(self, digest: str = "") -> Any:
        """The controller's fabric (a submitted one by ``digest``) as a :class:`fabric.topology.Fabric`."""
        from fabric.io.yamlio import fabric_from_dict

        r = self._call("GetFabric", pb.GetFabricRequest(digest=digest))
        return fabric_from_dict(json.loads(r.body_json), file=f"controller {self.server}: fabric {r.digest}")

    def submit_demand(self, body: str, kind: str = "demand") -> int:
        return int(self._call("SubmitDemand", pb.SubmitDemandRequest(kind=kind, body=body)).demand_id)

    def compute_plan(self, planner: str, *, options: dict[str, Any] | None = None, demand_id: int = 0,
                     base_version: int = 0, apply: bool = False) -> dict[str, Any]:
        r = self._call("ComputePlan", pb.ComputePlanRequest(planner=planner, options_json=json.dumps(options or {}),
                                                             demand_id=demand_id, base_version=base_version,
                                                             apply=apply))
        return {"version": r.version, "new": r.new, "summary": json.loads(r.summary_json or "{}"),
                "seconds": r.seconds}

    def plans(self) -> dict[str, Any]:
        return _dict(self._call("ListPlans", pb.ListPlansRequest()))

    def plan(self, version: int) -> dict[str, Any]:
        return dict(json.loads(self._call("GetPlan", pb.GetPlanRequest(version=version)).plan_json))

    def diff(self, old: int, new: int) -> dict[str, Any]:
        r = self._call("DiffPlans", pb.DiffPlansRequest(old_version=old, new_version=new))
        return dict(json.loads(r.diff_json))

    def apply(self, version: int, *, wait: bool = True, timeout_s: float = 60.0) -> dict[str, Any]:
        r = self._call("Apply", pb.ApplyRequest(version=version, wait=wait, timeout_s=timeout_s),
                       timeout_s=timeout_s + 30)
        return _dict(r)

    def event(self, kind: str, a: str, b: str = "", *, wait: bool = True, timeout_s: float = 60.0) -> dict[str, Any]:
        r = self._call("ReportEvent", pb.ReportEventRequest(kind=kind, a=a, b=b, wait=wait, timeout_s=timeout_s),
                       timeout_s=timeout_s + 30)
        return _dict(r)

    def status(self) -> dict[str, Any]:
        return _dict(self._call("Status", pb.StatusRequest()))

    def watch(self, since_event_id: int = 0, *, timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
        """Events as they happen (the stream ends at ``timeout_s``; None: never)."""
        try:
            for m in self.stub.Watch(pb.WatchRequest(since_event_id=since_event_id), timeout=timeout_s,
                                     metadata=self.metadata):
                d = _dict(m)
                d["body"] = json.loads(d.pop("body_json") or "{}")
                yield d
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                return
            raise ServiceError(exc.code().name, exc.details() or "", self.server) from None  # type: ignore[attr-defined]
