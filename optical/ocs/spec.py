"""OCS planning inputs: blocks, OCS devices and their wiring, block demand (see :mod:`optical.ocs`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from fabric.errors import ConfigError
from fabric.io.limits import check_count
from optical.fibre import number, read_data_file

#: Ports of one OCS (Google Palomar/Apollo: 136 x 136; REFERENCE.md).
DEFAULT_OCS_PORTS = 136
#: Capacity of one circuit (one block uplink), Gb/s each direction. *Assumption*: 400G optics.
DEFAULT_CIRCUIT_GBPS = 400.0

Pair = tuple[int, int]  # block indices, i < j


@dataclass
class OcsSpec:
    """Blocks, OCS devices and the wiring between them (ports per block per OCS)."""

    blocks: list[str]
    uplinks: list[int]
    ocs: list[str]
    #: wiring[b][k]: ports of block b on OCS k.
    wiring: list[list[int]]
    ports: int = DEFAULT_OCS_PORTS
    circuit_gbps: float = DEFAULT_CIRCUIT_GBPS
    name: str = "ocs"
    #: port_ids[k][b]: the port numbers of block b on OCS k (contiguous, in block order).
    port_ids: list[list[list[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.port_ids:
            self.port_ids = []
            for k in range(len(self.ocs)):
                nxt = 0
                per_block = []
                for b in range(len(self.blocks)):
                    per_block.append(list(range(nxt, nxt + self.wiring[b][k])))
                    nxt += self.wiring[b][k]
                self.port_ids.append(per_block)

    def capable(self, i: int, j: int) -> bool:
        """Whether some OCS is wired to both blocks."""
        return any(self.wiring[i][k] and self.wiring[j][k] for k in range(len(self.ocs)))


def make_spec(uplinks: dict[str, int] | list[int], n_ocs: int, *, ports: int = DEFAULT_OCS_PORTS,
              circuit_gbps: float = DEFAULT_CIRCUIT_GBPS, name: str = "ocs") -> OcsSpec:
    """Blocks with uplinks spread evenly over ``n_ocs`` OCS devices (remainders round robin)."""
    names = list(uplinks) if isinstance(uplinks, dict) else [f"b{i + 1}" for i in range(len(uplinks))]
    ups = [int(v) for v in (uplinks.values() if isinstance(uplinks, dict) else uplinks)]
    ocs = [f"ocs{k + 1}" for k in range(n_ocs)]
    wiring = [_even(u, n_ocs, b) for b, u in enumerate(ups)]
    _check_wiring(ocs, wiring, ports, None)
    return OcsSpec(names, ups, ocs, wiring, ports, circuit_gbps, name)


def _even(u: int, n: int, offset: int) -> list[int]:
    row = [u // n] * n
    for r in range(u % n):
        row[(offset + r) % n] += 1
    return row


def _check_wiring(ocs: list[str], wiring: list[list[int]], ports: int, file: str | None) -> None:
    for k, o in enumerate(ocs):
        used = sum(row[k] for row in wiring)
        if used > ports:
            raise ConfigError(f"OCS {o} is wired to {used} block ports but has {ports}", file=file,
                              where=f"ocs {o}")


def load_blocks(path: str | os.PathLike[str]) -> OcsSpec:
    """Read a blocks file (YAML/JSON); see README "Optical planning" for the format."""
    f = str(path)
    obj = read_data_file(path, "blocks file")
    if not isinstance(obj, dict):
        raise ConfigError("expected a mapping with 'blocks' and 'ocs'", file=f)
    unknown = set(obj) - {"name", "ocs", "ocs_ports", "circuit_gbps", "blocks"}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=f)
    ports = int(number(obj.get("ocs_ports", DEFAULT_OCS_PORTS), file=f, where="ocs_ports", strict=True))
    check_count(ports, "MAX_OCS_PORTS", "ports per OCS", file=f, where="ocs_ports")
    cg = number(obj.get("circuit_gbps", DEFAULT_CIRCUIT_GBPS), file=f, where="circuit_gbps", strict=True)
    ocs_v = obj.get("ocs")
    if isinstance(ocs_v, int) and not isinstance(ocs_v, bool) and ocs_v > 0:
        check_count(ocs_v, "MAX_OCS_DEVICES", "OCS devices", file=f, where="ocs")
        ocs = [f"ocs{k + 1}" for k in range(ocs_v)]
    elif isinstance(ocs_v, list) and ocs_v and all(isinstance(x, str) and x for x in ocs_v):
        ocs = list(ocs_v)
        if len(set(ocs)) != len(ocs):
            raise ConfigError("duplicate OCS names", file=f, where="ocs")
    else:
        raise ConfigError("'ocs' must be a positive count or a list of names", file=f, where="ocs")
    items = obj.get("blocks")
    if not isinstance(items, list) or len(items) < 2:
        raise ConfigError("'blocks' must list at least two blocks", file=f, where="blocks")
    names: list[str] = []
    ups: list[int] = []
    wiring: list[list[int]] = []
    for b, it in enumerate(items):
        w = f"blocks[{b}]"
        if not isinstance(it, dict) or not isinstance(it.get("name"), str) or not it["name"]:
            raise ConfigError("each block needs a 'name'", file=f, where=w)
        if set(it) - {"name", "uplinks", "ocs"}:
            raise ConfigError(f"unknown key(s) {sorted(set(it) - {'name', 'uplinks', 'ocs'})}", file=f, where=w)
        if it["name"] in names:
            raise ConfigError(f"duplicate block name {it['name']!r}", file=f, where=w)
        names.append(it["name"])
        per = it.get("ocs")
        if per is None:
            u = it.get("uplinks")
            if isinstance(u, bool) or not isinstance(u, int) or u < 1:
                raise ConfigError(f"'uplinks' must be a positive integer, got {u!r}", file=f, where=f"{w}.uplinks")
            row = _even(u, len(ocs), b)
        else:
            if not isinstance(per, dict):
                raise ConfigError("'ocs' must map OCS name -> ports", file=f, where=f"{w}.ocs")
            row = [0] * len(ocs)
            for o, n in per.items():
                if o not in ocs:
                    raise ConfigError(f"unknown OCS {o!r}", file=f, where=f"{w}.ocs")
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ConfigError(f"ports must be a non-negative integer, got {n!r}", file=f,
                                      where=f"{w}.ocs.{o}")
                row[ocs.index(o)] = n
            u = sum(row)
            if "uplinks" in it and it["uplinks"] != u:
                raise ConfigError(f"uplinks {it['uplinks']!r} differs from the {u} ports wired in 'ocs'",
                                  file=f, where=f"{w}.uplinks")
            if u < 1:
                raise ConfigError("block is wired to no OCS port", file=f, where=w)
        ups.append(u)
        wiring.append(row)
    name = obj.get("name", os.path.splitext(os.path.basename(f))[0])
    _check_wiring(ocs, wiring, ports, f)  # before OcsSpec lists every port (uplinks: 10^8 would be GBs)
    spec = OcsSpec(names, ups, ocs, wiring, ports, cg, str(name))
    return spec


def load_block_demand(path: str | os.PathLike[str], spec: OcsSpec) -> dict[Pair | tuple[int, int], float]:
    """Read a block demand file: ``matrix: {src: {dst: gbps}}`` or ``demands: [{src, dst, gbps}]``.

    Returns directed demands ``{(src index, dst index): gbps}``.
    """
    f = str(path)
    obj = read_data_file(path, "block demand file")
    if not isinstance(obj, dict) or not (set(obj) & {"matrix", "demands"}) or set(obj) - {"matrix", "demands"}:
        raise ConfigError("expected 'matrix: {src: {dst: gbps}}' or 'demands: [{src, dst, gbps}]'", file=f)
    idx = {b: i for i, b in enumerate(spec.blocks)}
    out: dict[tuple[int, int], float] = {}
    triples: list[tuple[Any, Any, Any, str]] = []
    if "matrix" in obj:
        m = obj["matrix"]
        if not isinstance(m, dict):
            raise ConfigError("'matrix' must map src -> {dst: gbps}", file=f, where="matrix")
        for s, row in m.items():
            if not isinstance(row, dict):
                raise ConfigError("each row must map dst -> gbps", file=f, where=f"matrix.{s}")
            triples.extend((s, t, v, f"matrix.{s}.{t}") for t, v in row.items())
    if "demands" in obj:
        ds = obj["demands"]
        if not isinstance(ds, list):
            raise ConfigError("'demands' must be a list", file=f, where="demands")
        for i, it in enumerate(ds):
            if not isinstance(it, dict) or set(it) != {"src", "dst", "gbps"}:
                raise ConfigError("each demand needs exactly src, dst, gbps", file=f, where=f"demands[{i}]")
            triples.append((it["src"], it["dst"], it["gbps"], f"demands[{i}]"))
    for s, t, v, w in triples:
        for b in (s, t):
            if b not in idx:
                raise ConfigError(f"unknown block {b!r}", file=f, where=w)
        if s == t:
            raise ConfigError("demand from a block to itself", file=f, where=w)
        g = number(v, file=f, where=w)
        if g > 0:
            out[idx[s], idx[t]] = out.get((idx[s], idx[t]), 0.0) + g
    if not out:
        raise ConfigError("the demand is empty (all zero)", file=f)
    return out



def logical_from_ports(spec: OcsSpec, circuits: dict[str, list[list[int]]], *, file: str | None = None
                       ) -> tuple[dict[Pair, int], list[dict[Pair, int]]]:
    """Block-pair circuit counts (total and per OCS) of cross-connects; validates them."""
    total: dict[Pair, int] = {}
    per: list[dict[Pair, int]] = [{} for _ in spec.ocs]
    for o, pairs in circuits.items():
        if o not in spec.ocs:
            raise ConfigError(f"unknown OCS {o!r} in the current circuits", file=file, where=f"circuits.{o}")
        k = spec.ocs.index(o)
        owner = {pt: b for b in range(len(spec.blocks)) for pt in spec.port_ids[k][b]}
        seen: set[int] = set()
        for pr in pairs:
            if not (isinstance(pr, list | tuple) and len(pr) == 2 and all(isinstance(x, int) for x in pr)):
                raise ConfigError(f"a cross-connect must be [port_a, port_b], got {pr!r}", file=file,
                                  where=f"circuits.{o}")
            for x in pr:
                if x not in owner:
                    raise ConfigError(f"port {x} is not wired to a block", file=file, where=f"circuits.{o}")
                if x in seen:
                    raise ConfigError(f"port {x} is used twice", file=file, where=f"circuits.{o}")
                seen.add(x)
            bi, bj = owner[pr[0]], owner[pr[1]]
            if bi == bj:
                continue  # a loopback carries nothing between blocks
            p = (min(bi, bj), max(bi, bj))
            total[p] = total.get(p, 0) + 1
            per[k][p] = per[k].get(p, 0) + 1
    return total, per


# ----------------------------------------------------------------------------- generators
def random_demand(n_blocks: int, *, seed: int, skew: float = 0.0, mean_gbps: float = 1000.0
                  ) -> dict[tuple[int, int], float]:
    """All-pairs demand (seeded): uniform random in [0.5, 1.5] x ``mean_gbps``, or with ``skew`` > 0
    pair-skewed: the block pairs ranked in random order get Zipf weights ``1 / rank**skew`` (a few
    hot pairs, as when a training job spans two blocks), scaled to the same total."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 1.5, size=(n_blocks, n_blocks)) * mean_gbps
    keys = [(i, j) for i in range(n_blocks) for j in range(n_blocks) if i != j]
    if skew > 0:
        w = 1.0 / np.arange(1, len(keys) + 1) ** skew
        rng.shuffle(w)
        total = sum(d[i, j] for i, j in keys)
        w = w / w.sum() * total
        return {k: float(w[x]) for x, k in enumerate(keys)}
    return {(i, j): float(d[i, j]) for i, j in keys}
