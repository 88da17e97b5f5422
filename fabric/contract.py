"""Typed JSON contracts: dataclasses <-> JSON with errors that name the JSON path and the reason.

The Plan's sections (:mod:`fabric.plan`) are frozen dataclasses whose field annotations *are* the
schema. :func:`load` walks a JSON value against a dataclass and builds it, checking every value on the
way; :func:`dump` turns an instance back into plain JSON data (the same keys, in field order). One
mechanism for every section, so each section's code is only its fields and its own cross-field
checks.

Supported annotations: ``str``, ``int``, ``float`` (an ``int`` is accepted; NaN and infinities are
not), ``bool``, ``X | None``, ``list[X]``, ``dict[str, X]``, nested dataclasses and ``Any`` (any
finite JSON value). A dataclass may define ``check(self, path) -> None`` for rules the types cannot
say (ranges, uniqueness); it raises with :func:`fail`.

Unknown keys are errors (a misspelt key must not be silently ignored, as faucet's config does), except
when the document comes from a *newer minor* schema version (``strict=False``): then keys this
version does not know are kept in the dataclass's ``extra`` field when it has one, and written back
unchanged, so an older fabricctl can pass a newer plan through without losing data.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Hop:
...     node: str
...     weight: int = 1
>>> load(Hop, {"node": "s1", "weight": 3}, "hop")
Hop(node='s1', weight=3)
>>> load(Hop, {"node": "s1", "weight": "3"}, "hop")
Traceback (most recent call last):
...
fabric.errors.ConfigError: hop.weight: expected an integer, got '3'
>>> dump(Hop("s1"))
{'node': 's1', 'weight': 1}
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from functools import cache
from typing import Any, NoReturn

from fabric.errors import ConfigError

#: Name of the optional field that keeps unknown keys of a newer minor schema version.
EXTRA_FIELD = "extra"


def fail(path: str, reason: str, *, file: str | None = None) -> NoReturn:
    """Raise the one error type of a bad contract value: where (JSON path) and why."""
    raise ConfigError(reason, file=file, where=path or None)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def key_path(path: str, key: str) -> str:
    """``path.key`` for a plain key, ``path["odd key"]`` (JSON-quoted) for one that is not an identifier,
    so that an error message stays one readable line whatever the key holds.

    >>> key_path("sections", "wcmp"), key_path("a", "x y\\n")
    ('sections.wcmp', 'a["x y\\\\n"]')
    """
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _convert(tp: Any, value: Any, path: str, strict: bool) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return _json_value(value, path)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            fail(path, "must not be null")
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, path, strict)
        errors = []
        for a in inner:
            try:
                return _convert(a, value, path, strict)
            except ConfigError as exc:
                errors.append(exc.reason)
        fail(path, " or ".join(errors))
    if origin is list:
        if not isinstance(value, list):
            fail(path, f"expected a list, got {_short(value)}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{path}[{i}]", strict) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            fail(path, f"expected an object, got {_short(value)}")
        _key, item = typing.get_args(tp)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                fail(path, f"keys must be strings, got {_short(k)}")
            out[k] = _convert(item, v, key_path(path, k), strict)
        return out
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return load(tp, value, path, strict=strict)
    if tp is bool:
        if not isinstance(value, bool):
            fail(path, f"expected true or false, got {_short(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, f"expected an integer, got {_short(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(path, f"expected a number, got {_short(value)}")
        if not math.isfinite(value):
            fail(path, f"expected a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            fail(path, f"expected a string, got {_short(value)}")
        return value
    raise TypeError(f"unsupported contract annotation {tp!r} at {path}")  # a bug in a section class


def _json_value(value: Any, path: str) -> Any:
    """Any JSON value, checked to be plain JSON (finite numbers, string keys)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(path, f"expected a finite number, got {value}")
        return value
    if isinstance(value, list):
        return [_json_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                fail(path, f"keys must be strings, got {_short(k)}")
        return {k: _json_value(v, key_path(path, k)) for k, v in value.items()}
    fail(path, f"not a JSON value: {_short(value)}")


def load(cls: type, obj: Any, path: str, *, strict: bool = True) -> Any:
    """Build dataclass ``cls`` from JSON data ``obj``; ``path`` names ``obj`` in error messages."""
    if not isinstance(obj, dict):
        fail(path, f"expected an object, got {_short(obj)}")
    hints = _hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("skip")]
    known = {f.name for f in fields if f.name != EXTRA_FIELD}
    kwargs: dict[str, Any] = {}
    unknown = {k: v for k, v in obj.items() if k not in known}
    if unknown:
        if strict:
            fail(path, f"unknown key(s) {sorted(map(str, unknown))} (expected {', '.join(sorted(known))})")
        if any(f.name == EXTRA_FIELD for f in fields):
            kwargs[EXTRA_FIELD] = {str(k): _json_value(v, key_path(path, str(k))) for k, v in unknown.items()}
    for f in fields:
        if f.name == EXTRA_FIELD:
            continue
        sub = f"{path}.{f.name}" if path else f.name
        if f.name in obj:
            kwargs[f.name] = _convert(hints[f.name], obj[f.name], sub, strict)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            fail(sub, "missing")
    inst = cls(**kwargs)
    check = getattr(inst, "check", None)
    if check is not None:
        check(path)
    return inst


def dump(inst: Any) -> Any:
    """Plain JSON data of a contract dataclass (the inverse of :func:`load`)."""
    if dataclasses.is_dataclass(inst) and not isinstance(inst, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(inst):
            if f.metadata.get("skip"):
                continue
            v = getattr(inst, f.name)
            if f.metadata.get("omit_default") and v == f.default:
                continue            # a key added later: left out at its default, so older files round-trip
            if f.name == EXTRA_FIELD:
                out.update(v)
            else:
                out[f.name] = dump(v)
        return out
    if isinstance(inst, list | tuple):
        return [dump(v) for v in inst]
    if isinstance(inst, dict):
        return {k: dump(v) for k, v in inst.items()}
    return inst
