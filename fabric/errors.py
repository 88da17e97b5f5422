"""One error tree for fabricctl (DESIGN.md, Conventions).

Every error a user can cause is a :class:`FabricError`; the CLI prints ``str(err)`` on one line of
stderr and exits with status 2. Subclasses say which part of the input was wrong, and carry the
file, location (YAML path, line, node, link) and reason so that the message names all three.
"""

from __future__ import annotations


class FabricError(Exception):
    """Base of every user-facing error.

    Parameters
    ----------
    reason:
        What is wrong, in words.
    file:
        The file the bad input came from, if any.
    where:
        Location inside it: a YAML path (``links[3].capacity_gbps``), ``line 12``, a node or link name.
    """

    def __init__(self, reason: str, *, file: str | None = None, where: str | None = None) -> None:
        self.reason = reason
        self.file = file
        self.where = where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [p for p in (self.file, self.where) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def __str__(self) -> str:  # one line, always
        return self.message.replace("\n", " ")


class ConfigError(FabricError):
    """A configuration or input file is malformed (syntax, unknown key, wrong type, bad value)."""


class TopologyError(FabricError):
    """The topology itself is invalid (unknown node, duplicate name, self-loop, bad capacity)."""


class InfeasibleError(FabricError):
    """A planner found no solution: unreachable pair, demand above capacity, solver timeout."""


class LabError(FabricError):
    """A lab could not be built, changed or torn down (not root, name in use, kernel refused)."""


class PacketError(FabricError):
    """A packet capture is truncated or corrupt (names the byte offset)."""
