"""Count caps checked before work: a few numbers in a small file or on the command line must not make
fabricctl allocate gigabytes (issue 16: "a 1 KB file must not take a command past a few hundred MB").

Each cap is a named constant with the reason for its value, and each can be raised for one run by an
environment variable ``FABRICCTL_<NAME>`` (``FABRICCTL_MAX_BUILD_NODES=2000000 fabricctl topo build
...``); the message of a refusal names the variable. A cap guards what the input *asks for* (a builder's
size, QPs per pair, OCS ports), computed from its formula before anything is built. Files given
explicitly are bounded by their size instead (:data:`fabric.io.reader.MAX_INPUT_BYTES`): their memory
grows with the bytes the user supplied.

>>> limit("MAX_BUILD_NODES") == MAX_BUILD_NODES
True
>>> check_count(10, "MAX_BUILD_NODES", "fat_tree nodes")
>>> check_count(10**9, "MAX_BUILD_NODES", "fat_tree(k=2000) nodes")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
fabric.errors.ConfigError: fat_tree(k=2000) nodes: 1,000,000,000 is above the limit of 250,000 (set FABRICCTL_MAX_BUILD_NODES to raise it)
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from fabric.errors import ConfigError

#: Prefix of the environment variables that raise a cap.
ENV_PREFIX = "FABRICCTL_"

#: Nodes a builder (``topo build``, ``builder:`` in a file, ``generated_by`` re-run on load) may make.
#: 250,000 holds fat_tree(64) (70,656 nodes) and a 240,000-GPU rail-optimised fabric (the largest
#: clusters announced are ~100K-200K GPUs). Measured here: rail_optimized(30016 servers) at the caps,
#: 247,664 nodes and 480,256 links, builds in 0.57 GB peak RSS (0.65 KB per node or link plus ~0.1 GB
#: of imports) and `topo build` writes it in 0.79 GB; a 1 KB file or one option cannot ask for more.
MAX_BUILD_NODES = 250_000
#: Links a builder may make: 500,000 holds fat_tree(64) (196,608) and the rail fabric above (480,256:
#: one link per GPU, 32 uplinks per leaf of 32 GPUs).
MAX_BUILD_LINKS = 500_000
#: Flows (QPs) a generated demand may hold: 4,000,000, e.g. all-to-all over 2,000 GPUs (~4M pairs)
#: with one QP each, or a ring over 8,192 GPUs with 488 QPs per pair. A QP costs ~200 bytes as a Flow,
#: so the cap is ~0.8 GiB; the hashing benchmarks use 1M flows.
MAX_FLOWS = 4_000_000
#: Ports of one OCS: 4,096. Commercial OCS have 136 (Google Palomar) to 576 (Polatis) ports; the
#: cap leaves room for future devices and keeps the per-port tables below a few MB per OCS.
MAX_OCS_PORTS = 4_096
#: OCS devices in one blocks file: 1,024 (Google's Jupiter uses tens of OCS per fabric).
MAX_OCS_DEVICES = 1_024

_DEFAULTS = {"MAX_BUILD_NODES": MAX_BUILD_NODES, "MAX_BUILD_LINKS": MAX_BUILD_LINKS, "MAX_FLOWS": MAX_FLOWS,
             "MAX_OCS_PORTS": MAX_OCS_PORTS, "MAX_OCS_DEVICES": MAX_OCS_DEVICES}


_BOUNDS: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("fabricctl_limits_bounds",
                                                                                default=None)


@contextlib.contextmanager
def bounded(**caps: int) -> Iterator[None]:
    """Within the block, cap ``name`` is at most ``caps[name]`` whatever the environment says.

    Used where the right size is known from the input itself: re-running a file's ``generated_by``
    builder to recover its exact formulas can never need more nodes than the file has.
    """
    token = _BOUNDS.set({**(_BOUNDS.get() or {}), **caps})
    try:
        yield
    finally:
        _BOUNDS.reset(token)


def env_name(name: str) -> str:
    """The environment variable that raises cap ``name``: ``FABRICCTL_MAX_BUILD_NODES``."""
    return ENV_PREFIX + name


def limit(name: str, default: int | None = None) -> int:
    """The cap ``name`` for this run: its constant, or the positive integer in ``FABRICCTL_<name>``.

    A variable that is not a positive integer is a ConfigError naming it.
    """
    value = _DEFAULTS[name] if default is None else default
    raw = os.environ.get(env_name(name))
    if raw is not None and raw.strip() != "":
        try:
            value = int(raw.replace("_", "").strip())
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"{env_name(name)}={raw!r}: must be a positive integer")
    bound = (_BOUNDS.get() or {}).get(name)
    return value if bound is None else min(value, bound)


def check_count(count: int, name: str, what: str, *, file: str | None = None, where: str | None = None,
                default: int | None = None) -> None:
    """Refuse ``count`` above cap ``name`` with one line saying what, how many, the cap and how to raise it."""
    cap = limit(name, default)
    if count > cap:
        raise ConfigError(f"{what}: {count:,} is above the limit of {cap:,} (set {env_name(name)} to raise it)",
                          file=file, where=where)


__all__ = ["ENV_PREFIX", "MAX_BUILD_LINKS", "MAX_BUILD_NODES", "MAX_FLOWS", "MAX_OCS_DEVICES", "MAX_OCS_PORTS",
           "bounded", "check_count", "env_name", "limit"]
