"""One device an agent serves: its forwarding pipeline config (P4Info, device config, cookie), the one
saved for a later COMMIT, and the :class:`~p4.agent.store.Store` of the committed pipeline. Pure, like the
store: the server holds a lock around each call.

SetForwardingPipelineConfig actions (spec 15): VERIFY checks the config and changes nothing;
VERIFY_AND_SAVE checks it and keeps it for COMMIT, the running pipeline and its entries untouched;
VERIFY_AND_COMMIT checks it and makes it the pipeline, with empty tables and registers; COMMIT makes the
saved config the pipeline (FAILED_PRECONDITION when none was saved); RECONCILE_AND_COMMIT is
UNIMPLEMENTED. A config without a P4Info, or whose P4Info :meth:`p4.agent.schema.Schema.of` refuses, is
INVALID_ARGUMENT. Before any commit, Write and Read are FAILED_PRECONDITION
(:data:`NO_PIPELINE`), and so is GetForwardingPipelineConfig (finsy and P4Runtime servers agree on
that message).

Persistence (the only I/O here, :func:`save_pipeline` / :func:`load_pipeline`, called by the server with
``--state-dir``): the committed ForwardingPipelineConfig (P4Info, device config, cookie) is written
atomically to ``STATE_DIR/pipeline-<device_id>.pb`` after every commit and committed again at start, so
a restarted agent (even after kill -9) answers GetForwardingPipelineConfig with the same cookie and a
controller need not push the pipeline again. Entries, registers and counters are not kept: a restarted
switch starts with empty tables, as hardware does after a reboot; the controller writes them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsy.proto import p4r

from fabric.io.atomic import write_bytes_atomic
from p4.agent.schema import Code, P4Error, Schema, invalid
from p4.agent.store import Store

NO_PIPELINE = "No forwarding pipeline config set"
_A = p4r.SetForwardingPipelineConfigRequest
_R = p4r.GetForwardingPipelineConfigRequest


@dataclass
class Pipeline:
    config: Any          # p4.v1.ForwardingPipelineConfig
    schema: Schema


class Device:
    """A device's pipeline and state (module docstring)."""

    def __init__(self, device_id: int) -> None:
        self.device_id = device_id
        self.pipeline: Pipeline | None = None
        self.saved: Pipeline | None = None
        self.store: Store | None = None

    @staticmethod
    def verify(config: Any) -> Pipeline:
        """The checked pipeline of a ``ForwardingPipelineConfig`` (a copy is kept)."""
        if not config.HasField("p4info"):
            raise invalid("ForwardingPipelineConfig has no P4Info")
        schema = Schema.of(config.p4info)
        kept = p4r.ForwardingPipelineConfig()
        kept.CopyFrom(config)
        return Pipeline(kept, schema)

    def set_pipeline(self, action: int, config: Any) -> None:
        if action == _A.VERIFY:
            self.verify(config)
        elif action == _A.VERIFY_AND_SAVE:
            self.saved = self.verify(config)
        elif action == _A.VERIFY_AND_COMMIT:
            self._commit(self.verify(config))
        elif action == _A.COMMIT:
            if self.saved is None:
                raise P4Error(Code.FAILED_PRECONDITION, "COMMIT without a saved forwarding pipeline config "
                              "(send VERIFY_AND_SAVE first)")
            self._commit(self.saved)
        elif action == _A.RECONCILE_AND_COMMIT:
            raise P4Error(Code.UNIMPLEMENTED, "RECONCILE_AND_COMMIT is not supported by this agent")
        else:
            raise invalid("SetForwardingPipelineConfig action is UNSPECIFIED")

    def _commit(self, p: Pipeline) -> None:
        self.pipeline, self.saved = p, None
        self.store = Store(p.schema)

    def restore(self, blob: bytes) -> None:
        """Commit the serialized ``ForwardingPipelineConfig`` ``blob`` (what :func:`save_pipeline` wrote),
        with empty tables; a :class:`P4Error` if it does not parse or verify."""
        cfg = p4r.ForwardingPipelineConfig()
        try:
            cfg.ParseFromString(blob)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError
            raise invalid(f"saved forwarding pipeline config does not parse: {exc}") from exc
        self._commit(self.verify(cfg))

    def get_pipeline(self, response_type: int) -> Any:
        """The ``ForwardingPipelineConfig`` a GetForwardingPipelineConfig of ``response_type`` returns."""
        if self.pipeline is None:
            raise P4Error(Code.FAILED_PRECONDITION, NO_PIPELINE)
        src = self.pipeline.config
        out = p4r.ForwardingPipelineConfig()
        if src.HasField("cookie"):
            out.cookie.CopyFrom(src.cookie)
        if response_type in (_R.ALL, _R.P4INFO_AND_COOKIE):
            out.p4info.CopyFrom(src.p4info)
        if response_type in (_R.ALL, _R.DEVICE_CONFIG_AND_COOKIE):
            out.p4_device_config = src.p4_device_config
        if response_type not in (_R.ALL, _R.P4INFO_AND_COOKIE, _R.DEVICE_CONFIG_AND_COOKIE, _R.COOKIE_ONLY):
            raise invalid(f"unknown response_type {response_type}")
        return out

    def _store(self) -> Store:
        if self.store is None:
            raise P4Error(Code.FAILED_PRECONDITION, NO_PIPELINE)
        return self.store

    def write(self, updates: Sequence[Any], atomicity: int = p4r.WriteRequest.CONTINUE_ON_ERROR) -> list[P4Error | None]:
        """Apply ``updates`` (CONTINUE_ON_ERROR; the other atomicities are UNIMPLEMENTED)."""
        store = self._store()
        if atomicity != p4r.WriteRequest.CONTINUE_ON_ERROR:
            name = p4r.WriteRequest.Atomicity.Name(atomicity)
            raise P4Error(Code.UNIMPLEMENTED, f"atomicity {name} is not supported by this agent "
                          "(use CONTINUE_ON_ERROR)")
        return store.write(updates)

    def read(self, entities: Iterable[Any]) -> list[bytes]:
        return self._store().read_all(entities)


def pipeline_path(state_dir: str | Path, device_id: int) -> Path:
    return Path(state_dir) / f"pipeline-{device_id}.pb"


def save_pipeline(state_dir: str | Path, device: Device) -> None:
    """Write ``device``'s committed config atomically (nothing when none is committed)."""
    if device.pipeline is not None:
        write_bytes_atomic(pipeline_path(state_dir, device.device_id), device.pipeline.config.SerializeToString())


def load_pipeline(state_dir: str | Path, device: Device) -> bool:
    """Commit ``device``'s saved config if there is one (True then); a ValueError naming the file if it
    cannot be used (a damaged state directory is not silently ignored)."""
    path = pipeline_path(state_dir, device.device_id)
    if not path.exists():
        return False
    try:
        device.restore(path.read_bytes())
    except P4Error as exc:
        raise ValueError(f"{path}: {exc.message}") from exc
    return True
