"""One-way delay of each lab link, and which latency model gave it (no kernel access).

A Plan's ``budgets`` section records the :class:`optical.budget.BudgetModel` it was computed with
(``"model": {parameter: value}``, see :mod:`optical.budget`). A lab built from such a plan gives its
links the delays of *that* model, so the lab and the plan's budgets agree; only a plan without a
``budgets`` section (or no plan) falls back to the default model. Which one was used is recorded in
the lab's state (``delay_source``, ``delay_model``).

Per link: WAN links (kind ``wdm``) get the model's optical run over the link (fibre, transponders,
FEC, amplifiers, regeneration, serialisation of one frame at the line rate); every other link gets
fibre propagation over its ``length_km`` at the model's ``us_per_km``.

>>> src = DelaySource(SOURCE_PLAN, model_from_dict({"us_per_km": 5.0}))   # a plan's budgets.model
>>> link_delay_us(100.0, "copper", src)
(500.0, 'fibre')
>>> delay_source(None).source                # no plan, or no budgets section: the default model
'default'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from fabric.constants import FIBRE_US_PER_KM
from fabric.errors import ConfigError
from fabric.plan import Plan

if TYPE_CHECKING:
    from optical.budget import BudgetModel

#: ``delay_source`` values recorded in a lab's state.
SOURCE_PLAN = "plan"
SOURCE_DEFAULT = "default"

#: BudgetModel parameters that may be zero (device latencies); every other number must be positive.
_MAY_BE_ZERO = ("transponder_us", "fec_us", "regen_us", "amplifier_us", "roadm_us", "switch_us", "ocs_us",
                "frame_bytes", "stretch_max")


@dataclass(frozen=True)
class DelaySource:
    """The latency model a lab's link delays come from."""

    #: ``"plan"`` (the plan's budgets model) or ``"default"`` (no budgets section in the plan).
    source: str
    #: The model; ``None`` only when :mod:`optical.budget` cannot be imported (fibre delay only).
    model: BudgetModel | None

    @property
    def us_per_km(self) -> float:
        return float(self.model.us_per_km) if self.model is not None else FIBRE_US_PER_KM

    def as_dict(self) -> dict[str, Any] | None:
        return self.model.as_dict() if self.model is not None else None


def _number(v: Any, where: str, file: str | None, *, zero_ok: bool, integer: bool = False) -> float:
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if not ok or isinstance(v, bool) or not math.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
        want = "an integer" if integer else "a number"
        raise ConfigError(f"must be {want} {'>= 0' if zero_ok else '> 0'}, got {v!r}", file=file, where=where)
    return v


def model_from_dict(raw: Any, file: str | None = None) -> BudgetModel:
    """Rebuild the :class:`~optical.budget.BudgetModel` a budgets section records (``budgets.model``).

    Parameters the record lacks keep their defaults; an unknown parameter or a value of the wrong
    type is a :class:`~fabric.errors.ConfigError` naming ``budgets.model.<parameter>``."""
    from optical.budget import BudgetModel

    if not isinstance(raw, dict):
        raise ConfigError("the budgets section records no model (an object 'model'); re-run `fabricctl plan "
                          "budget` so the lab can use the delays the plan was made with", file=file,
                          where="budgets.model")
    known = {f.name for f in fields(BudgetModel)}
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        where = f"budgets.model.{k}"
        if k not in known:
            raise ConfigError(f"unknown budget model parameter {k!r} (known: {', '.join(sorted(known))})",
                              file=file, where=where)
        if k == "classes_ms":
            if not isinstance(v, dict) or not all(isinstance(c, str) for c in v):
                raise ConfigError(f"must map budget class names to milliseconds, got {v!r}", file=file, where=where)
            kw[k] = {c: float(_number(ms, f"{where}.{c}", file, zero_ok=False)) for c, ms in v.items()}
        elif k == "reach_km":
            kw[k] = None if v is None else float(_number(v, where, file, zero_ok=False))
        elif k == "frame_bytes":
            kw[k] = int(_number(v, where, file, zero_ok=True, integer=True))
        else:
            kw[k] = float(_number(v, where, file, zero_ok=k in _MAY_BE_ZERO))
    return BudgetModel(**kw)


def delay_source(plan: Plan | None, plan_file: str | None = None) -> DelaySource:
    """The plan's budgets model when the plan has a ``budgets`` section, else the default model."""
    data = plan.section_data("budgets") if plan is not None else None
    if data is not None:
        return DelaySource(SOURCE_PLAN, model_from_dict(data.get("model"), plan_file))
    try:
        from optical.budget import BudgetModel
    except ImportError:
        return DelaySource(SOURCE_DEFAULT, None)
    return DelaySource(SOURCE_DEFAULT, BudgetModel())


def link_delay_us(length_km: float, kind: str, src: DelaySource, a: str = "a", b: str = "b") -> tuple[float, str]:
    """One-way delay of a link ``a``--``b`` under ``src``'s model, and which part of it gave the delay
    (``"optical.budget"`` for a WAN optical run, ``"fibre"`` for propagation alone)."""
    if kind == "wdm" and length_km > 0 and src.model is not None:
        from optical.budget import run_latency_us

        us, _regens = run_latency_us([a, b], [float(length_km)], src.model)
        return float(us), "optical.budget"
    return float(length_km) * src.us_per_km, "fibre"
