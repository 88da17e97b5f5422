from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitFabricRequest(_message.Message):
    __slots__ = ("body", "format", "name")
    BODY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    body: str
    format: str
    name: str
    def __init__(self, body: _Optional[str] = ..., format: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SubmitFabricResponse(_message.Message):
    __slots__ = ("digest", "name", "nodes", "links")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    digest: str
    name: str
    nodes: int
    links: int
    def __init__(self, digest: _Optional[str] = ..., name: _Optional[str] = ..., nodes: _Optional[int] = ..., links: _Optional[int] = ...) -> None: ...

class GetFabricRequest(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

class GetFabricResponse(_message.Message):
    __slots__ = ("digest", "name", "body_json")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    digest: str
    name: str
    body_json: str
    def __init__(self, digest: _Optional[str] = ..., name: _Optional[str] = ..., body_json: _Optional[str] = ...) -> None: ...

class SubmitDemandRequest(_message.Message):
    __slots__ = ("kind", "body", "fabric_digest")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    FABRIC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    kind: str
    body: str
    fabric_digest: str
    def __init__(self, kind: _Optional[str] = ..., body: _Optional[str] = ..., fabric_digest: _Optional[str] = ...) -> None: ...

class SubmitDemandResponse(_message.Message):
    __slots__ = ("demand_id",)
    DEMAND_ID_FIELD_NUMBER: _ClassVar[int]
    demand_id: int
    def __init__(self, demand_id: _Optional[int] = ...) -> None: ...

class ComputePlanRequest(_message.Message):
    __slots__ = ("planner", "fabric_digest", "demand_id", "options_json", "base_version", "apply")
    PLANNER_FIELD_NUMBER: _ClassVar[int]
    FABRIC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    DEMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLY_FIELD_NUMBER: _ClassVar[int]
    planner: str
    fabric_digest: str
    demand_id: int
    options_json: str
    base_version: int
    apply: bool
    def __init__(self, planner: _Optional[str] = ..., fabric_digest: _Optional[str] = ..., demand_id: _Optional[int] = ..., options_json: _Optional[str] = ..., base_version: _Optional[int] = ..., apply: _Optional[bool] = ...) -> None: ...

class ComputePlanResponse(_message.Message):
    __slots__ = ("version", "new", "summary_json", "seconds")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    new: bool
    summary_json: str
    seconds: float
    def __init__(self, version: _Optional[int] = ..., new: _Optional[bool] = ..., summary_json: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PlanInfo(_message.Message):
    __slots__ = ("version", "digest", "fabric_digest", "parent_version", "reason", "created_unix", "desired", "sections")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    FABRIC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    version: int
    digest: str
    fabric_digest: str
    parent_version: int
    reason: str
    created_unix: float
    desired: bool
    sections: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[int] = ..., digest: _Optional[str] = ..., fabric_digest: _Optional[str] = ..., parent_version: _Optional[int] = ..., reason: _Optional[str] = ..., created_unix: _Optional[float] = ..., desired: _Optional[bool] = ..., sections: _Optional[_Iterable[str]] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "desired_version")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_VERSION_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[PlanInfo]
    desired_version: int
    def __init__(self, plans: _Optional[_Iterable[_Union[PlanInfo, _Mapping]]] = ..., desired_version: _Optional[int] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan_json",)
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    plan_json: str
    def __init__(self, plan_json: _Optional[str] = ...) -> None: ...

class DiffPlansRequest(_message.Message):
    __slots__ = ("old_version", "new_version")
    OLD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    old_version: int
    new_version: int
    def __init__(self, old_version: _Optional[int] = ..., new_version: _Optional[int] = ...) -> None: ...

class DiffPlansResponse(_message.Message):
    __slots__ = ("diff_json", "text")
    DIFF_JSON_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    diff_json: str
    text: str
    def __init__(self, diff_json: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("version", "wait", "timeout_s")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    version: int
    wait: bool
    timeout_s: float
    def __init__(self, version: _Optional[int] = ..., wait: _Optional[bool] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("version", "converged", "switches_updated", "updates", "push_ms", "switches")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    SWITCHES_UPDATED_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    PUSH_MS_FIELD_NUMBER: _ClassVar[int]
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    version: int
    converged: bool
    switches_updated: int
    updates: int
    push_ms: float
    switches: _containers.RepeatedCompositeFieldContainer[SwitchStatus]
    def __init__(self, version: _Optional[int] = ..., converged: _Optional[bool] = ..., switches_updated: _Optional[int] = ..., updates: _Optional[int] = ..., push_ms: _Optional[float] = ..., switches: _Optional[_Iterable[_Union[SwitchStatus, _Mapping]]] = ...) -> None: ...

class ReportEventRequest(_message.Message):
    __slots__ = ("kind", "a", "b", "wait", "timeout_s")
    KIND_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    kind: str
    a: str
    b: str
    wait: bool
    timeout_s: float
    def __init__(self, kind: _Optional[str] = ..., a: _Optional[str] = ..., b: _Optional[str] = ..., wait: _Optional[bool] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class ReportEventResponse(_message.Message):
    __slots__ = ("event_id", "plan_version", "recompute_ms", "diff_ms", "push_ms", "total_ms", "switches_updated", "updates", "store_ms", "acked_ms")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    DIFF_MS_FIELD_NUMBER: _ClassVar[int]
    PUSH_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    SWITCHES_UPDATED_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    STORE_MS_FIELD_NUMBER: _ClassVar[int]
    ACKED_MS_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    plan_version: int
    recompute_ms: float
    diff_ms: float
    push_ms: float
    total_ms: float
    switches_updated: int
    updates: int
    store_ms: float
    acked_ms: float
    def __init__(self, event_id: _Optional[int] = ..., plan_version: _Optional[int] = ..., recompute_ms: _Optional[float] = ..., diff_ms: _Optional[float] = ..., push_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., switches_updated: _Optional[int] = ..., updates: _Optional[int] = ..., store_ms: _Optional[float] = ..., acked_ms: _Optional[float] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("since_event_id",)
    SINCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    since_event_id: int
    def __init__(self, since_event_id: _Optional[int] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("event_id", "kind", "a", "b", "body_json", "created_unix")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    kind: str
    a: str
    b: str
    body_json: str
    created_unix: float
    def __init__(self, event_id: _Optional[int] = ..., kind: _Optional[str] = ..., a: _Optional[str] = ..., b: _Optional[str] = ..., body_json: _Optional[str] = ..., created_unix: _Optional[float] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SwitchStatus(_message.Message):
    __slots__ = ("name", "connected", "primary", "desired_version", "applied_version", "error", "device_id", "address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    DESIRED_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    connected: bool
    primary: bool
    desired_version: int
    applied_version: int
    error: str
    device_id: int
    address: str
    def __init__(self, name: _Optional[str] = ..., connected: _Optional[bool] = ..., primary: _Optional[bool] = ..., desired_version: _Optional[int] = ..., applied_version: _Optional[int] = ..., error: _Optional[str] = ..., device_id: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("plan_version", "switches", "fabric_digest", "converged")
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    FABRIC_DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    plan_version: int
    switches: _containers.RepeatedCompositeFieldContainer[SwitchStatus]
    fabric_digest: str
    converged: bool
    def __init__(self, plan_version: _Optional[int] = ..., switches: _Optional[_Iterable[_Union[SwitchStatus, _Mapping]]] = ..., fabric_digest: _Optional[str] = ..., converged: _Optional[bool] = ...) -> None: ...
