"""Helpers the namespace-lab tests share: make labs with unique names, and remove whatever a test left
(its state through `lab down`, then processes and namespaces with its prefix), even when it failed."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fabric.errors import LabError
from labs import netns
from labs.lab import Lab, state_path


def remove_leftovers(name: str, state_dir: Path, pids: Callable[[str], list[int]] = lambda _n: []) -> None:
    """Tear lab ``name`` down if its state file is there, kill the processes ``pids(name)`` finds, and
    remove the namespaces with its prefix."""
    if state_path(name, state_dir).exists():
        try:
            Lab(None, name=name, state_dir=state_dir).down()
        except LabError:
            pass
    for pid in pids(name):
        os.kill(pid, signal.SIGKILL)
    for ns in netns.list_netns(f"{name}."):
        netns.remove_netns(ns)


@contextmanager
def lab_maker(tag: str, state_dir: Path, pids: Callable[[str], list[int]] = lambda _n: []) -> Iterator[Any]:
    """``make(suffix, *args, **kw)`` builds ``Lab(*args, name=f"{tag}-{suffix}", state_dir=...)``;
    ``make.state_dir`` and ``make.names`` for the tests; every lab made is removed afterwards."""
    made: list[str] = []

    def make(suffix: str, *args: Any, **kw: Any) -> Lab:
        name = f"{tag}-{suffix}"
        made.append(name)
        return Lab(*args, name=name, state_dir=state_dir, **kw)

    make.state_dir = state_dir  # type: ignore[attr-defined]
    make.names = made  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        for name in made:
            remove_leftovers(name, state_dir, pids)
