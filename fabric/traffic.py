"""Demand: the traffic of AI collectives as a matrix and as RoCEv2 flows (queue pairs).

A :class:`Demand` is a list of :class:`Flow` objects. Each flow is one RoCEv2 queue pair (QP) seen
by the network as a UDP 5-tuple: the two endpoints (their IP addresses come from
:func:`endpoint_ip`), UDP destination port 4791 (RoCEv2) and a UDP source port, the only field that
carries entropy for ECMP hashing. ``Demand.matrix()`` is the traffic-matrix view (Gb/s per
(src, dst) pair) that the load-balancing LP uses; the flows are what the hash simulation and QP
source-port placement use.

Generators (all take a ``seed``; same seed, same flows)::

    ring_allreduce   each GPU sends to the next one in a ring (per rail on rail-optimised fabrics)
    tree_allreduce   recursive halving-doubling: rank i talks to i xor 2^k, k = 0..log2(n)-1
    all_to_all       every GPU to every other (MoE expert exchange)
    permutation      a random derangement: each GPU sends to exactly one other, each receives once
    incast           every GPU to one target
    uniform          each GPU to one destination drawn uniformly at random (with replacement)

``rate_gbps`` is always the rate one GPU *sends* in total; it is divided over the GPU's peers and
over ``qps_per_pair`` QPs per peer. Jobs (which GPUs a job has, including partially filled servers)
come from :func:`place_job` or a YAML file (:func:`load_job`); flows can also be read from a CSV or
YAML file (:func:`load_demand`).

>>> from fabric.builders import rail_optimized
>>> fab = rail_optimized(4, 2, servers_per_su=2, spines=2, uplinks_per_leaf=2)
>>> d = ring_allreduce(fab, fab.nodes("gpu"), rate_gbps=100, seed=1)
>>> len(d.flows), d.flows[0].dport, d.total_gbps()
(8, 4791, 800.0)
"""

from __future__ import annotations

import os
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fabric.errors import ConfigError
from fabric.io.limits import check_count
from fabric.io.reader import read_csv, read_document
from fabric.topology import ENDPOINT_ROLES, Fabric

#: UDP destination port of RoCEv2 (IANA assignment "roce", IBTA RoCEv2 annex A17).
ROCEV2_UDP_DPORT = 4791
#: RoCEv2 source ports are taken from 0xC000-0xFFFF: the Linux kernel's rdma_flow_label_to_udp_sport()
#: ORs 0xC000 into a 14-bit hash of the flow label (drivers/infiniband/core), the IANA dynamic range.
ROCE_SPORT_MIN = 0xC000
ROCE_SPORT_MAX = 0xFFFF
#: IP protocol number of UDP (RFC 768).
IPPROTO_UDP = 17
#: Demand kinds the CLI accepts for ``--demand`` (a file path is accepted too).
KINDS = ("ring", "tree", "all-to-all", "permutation", "incast", "uniform")
#: Rate each GPU sends when neither the command nor the job says, Gb/s: half of a 400G NIC
#: (*assumption*: a collective rarely holds a NIC at line rate).
DEFAULT_RATE_GBPS = 200.0
#: Collective when neither ``--demand`` nor the job names one.
DEFAULT_COLLECTIVE = "ring"


@dataclass
class Flow:
    """One RoCEv2 queue pair: ``src`` and ``dst`` endpoint names, rate and UDP ports.

    ``qp`` is the destination QP number when known (Meta adds it to the hash; we keep it so that a
    hash that uses it can be plugged in). ``job`` names the job the flow belongs to.
    """

    src: str
    dst: str
    rate_gbps: float
    sport: int
    dport: int = ROCEV2_UDP_DPORT
    qp: int | None = None
    job: str | None = None


@dataclass
class Demand:
    """Traffic between endpoints: a list of flows plus a name saying how it was made.

    ``matrix()`` sums flows into Gb/s per (src, dst); ``pairs()`` lists the pairs with traffic.
    """

    flows: list[Flow] = field(default_factory=list)
    name: str = "demand"

    def matrix(self) -> dict[tuple[str, str], float]:
        """Gb/s per ordered (src, dst) pair, summed over flows, in first-seen order."""
        m: dict[tuple[str, str], float] = defaultdict(float)
        for f in self.flows:
            m[(f.src, f.dst)] += f.rate_gbps
        return dict(m)

    def pairs(self) -> list[tuple[str, str]]:
        return list(self.matrix())

    def total_gbps(self) -> float:
        return float(sum(f.rate_gbps for f in self.flows))

    def endpoints(self) -> list[str]:
        seen: dict[str, None] = {}
        for f in self.flows:
            seen.setdefault(f.src, None)
            seen.setdefault(f.dst, None)
        return list(seen)

    def with_sports(self, sports: Sequence[int]) -> Demand:
        """A copy whose flows use the given UDP source ports (one per flow, same order)."""
        if len(sports) != len(self.flows):
            raise ConfigError(f"{len(sports)} source ports for {len(self.flows)} flows")
        flows = [Flow(**{**asdict(f), "sport": int(p)}) for f, p in zip(self.flows, sports, strict=True)]
        return Demand(flows, self.name)

    def to_rows(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.flows]

    @classmethod
    def from_matrix(cls, matrix: dict[tuple[str, str], float], *, seed: int = 0, name: str = "matrix") -> Demand:
        """One flow per pair with a seeded random source port."""
        rng = np.random.default_rng(seed)
        flows = [Flow(s, d, float(r), _sport(rng)) for (s, d), r in matrix.items() if r > 0]
        return cls(flows, name)


def endpoint_ip(name: str) -> int:
    """A stable IPv4 address (as an int) for an endpoint: 10.0.0.0/8 plus 24 bits of CRC32 of the name.

    Only used to build 5-tuples for hashing; it depends on the name alone, so every module agrees.

    >>> endpoint_ip("s01-g0") >> 24
    10
    """
    return (10 << 24) | (zlib.crc32(name.encode()) & 0xFFFFFF)


def _sport(rng: np.random.Generator) -> int:
    return int(rng.integers(ROCE_SPORT_MIN, ROCE_SPORT_MAX + 1))


def _check_gpus(fabric: Fabric, gpus: Sequence[str], need: int = 2) -> list[str]:
    gpus = list(gpus)
    if len(gpus) < need:
        raise ConfigError(f"a job needs at least {need} endpoints, got {len(gpus)}")
    if len(set(gpus)) != len(gpus):
        raise ConfigError("the job lists an endpoint twice")
    for g in gpus:
        if g not in fabric:
            raise ConfigError(f"unknown endpoint {g!r}", where="job")
        if fabric.role(g) not in ENDPOINT_ROLES:
            raise ConfigError(f"{g!r} is a {fabric.role(g)}, not an endpoint (gpu, nic, host)", where="job")
    return gpus


def _check_rate(rate_gbps: float, qps_per_pair: int) -> None:
    if not rate_gbps > 0:
        raise ConfigError(f"rate_gbps must be positive, got {rate_gbps}")
    if qps_per_pair < 1:
        raise ConfigError(f"qps_per_pair must be >= 1, got {qps_per_pair}")
    check_count(qps_per_pair, "MAX_FLOWS", "qps_per_pair (QPs per GPU pair)")


def _check_flows(pairs: int, qps_per_pair: int) -> None:
    """Refuse a demand of more flows than :data:`fabric.io.limits.MAX_FLOWS` before making any."""
    check_count(pairs * qps_per_pair, "MAX_FLOWS", f"{pairs:,} pairs x {qps_per_pair:,} QPs per pair: flows")


def _flows(pairs: Sequence[tuple[str, str, float]], qps_per_pair: int, rng: np.random.Generator,
           job: str | None) -> list[Flow]:
    _check_flows(len(pairs), qps_per_pair)
    out = []
    qp = 0x100
    for s, d, r in pairs:
        for _ in range(qps_per_pair):
            out.append(Flow(s, d, r / qps_per_pair, _sport(rng), qp=qp, job=job))
            qp += 1
    return out


def rails_of(fabric: Fabric, gpus: Sequence[str]) -> dict[Any, list[str]]:
    """GPUs grouped by their ``rail`` attribute, keeping order; one group ``None`` when there are no rails."""
    groups: dict[Any, list[str]] = defaultdict(list)
    for g in gpus:
        groups[fabric.node(g).get("rail")].append(g)
    return dict(groups)


def ring_allreduce(fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0, *,
                   qps_per_pair: int = 1, per_rail: bool = True, job: str | None = None) -> Demand:
    """Ring all-reduce: each GPU sends ``rate_gbps`` to the next GPU of its ring.

    On a rail-optimised fabric (GPUs carry ``rail``) and with ``per_rail`` there is one ring per rail,
    as NCCL builds them, so same-rank GPUs of different servers form a ring; otherwise one ring over
    ``gpus`` in the given order. Each ring edge is ``qps_per_pair`` QPs of ``rate_gbps/qps_per_pair``.
    ``seed`` picks the UDP source ports.
    """
    gpus = _check_gpus(fabric, gpus)
    _check_rate(rate_gbps, qps_per_pair)
    rng = np.random.default_rng(seed)
    rings = list(rails_of(fabric, gpus).values()) if per_rail else [gpus]
    pairs = []
    for ring in rings:
        if len(ring) < 2:
            continue
        pairs += [(ring[i], ring[(i + 1) % len(ring)], rate_gbps) for i in range(len(ring))]
    if not pairs:
        raise ConfigError("no ring has two GPUs (every rail holds one GPU of the job)")
    return Demand(_flows(pairs, qps_per_pair, rng, job), f"ring all-reduce ({len(gpus)} GPUs)")


def tree_allreduce(fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0, *,
                   qps_per_pair: int = 1, per_rail: bool = True, job: str | None = None) -> Demand:
    """Recursive halving-doubling all-reduce: in step k rank i exchanges with rank i xor 2^k.

    In reduce-scatter step k a rank sends 1/2^(k+1) of the buffer, so over the whole collective the
    share of bytes going to the step-k peer is (1/2^(k+1)) / (1 - 1/n); the pair's rate is
    ``rate_gbps`` times that share (a time average over the collective, a model *assumption*).
    Ranks beyond the largest power of two (n not a power of two) send everything to rank ``i - 2^m``
    first, as in MPICH. Per rail as in :func:`ring_allreduce`.
    """
    gpus = _check_gpus(fabric, gpus)
    _check_rate(rate_gbps, qps_per_pair)
    rng = np.random.default_rng(seed)
    groups = list(rails_of(fabric, gpus).values()) if per_rail else [gpus]
    pairs: list[tuple[str, str, float]] = []
    for ranks in groups:
        n = len(ranks)
        if n < 2:
            continue
        p2 = 1 << (n.bit_length() - 1)
        steps = p2.bit_length() - 1
        total = sum(1 / 2 ** (k + 1) for k in range(steps)) or 1.0
        for i in range(p2, n):  # fold extra ranks onto the power-of-two core
            pairs.append((ranks[i], ranks[i - p2], rate_gbps))
            pairs.append((ranks[i - p2], ranks[i], rate_gbps))
        for i in range(p2):
            for k in range(steps):
                pairs.append((ranks[i], ranks[i ^ (1 << k)], rate_gbps * (1 / 2 ** (k + 1)) / total))
    if not pairs:
        raise ConfigError("no group has two GPUs")
    return Demand(_flows(pairs, qps_per_pair, rng, job), f"halving-doubling all-reduce ({len(gpus)} GPUs)")


def all_to_all(fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0, *,
               qps_per_pair: int = 1, job: str | None = None) -> Demand:
    """All-to-all (MoE token exchange): every GPU sends ``rate_gbps/(n-1)`` to each of the others."""
    gpus = _check_gpus(fabric, gpus)
    _check_rate(rate_gbps, qps_per_pair)
    rng = np.random.default_rng(seed)
    n = len(gpus)
    _check_flows(n * (n - 1), qps_per_pair)
    pairs = [(a, b, rate_gbps / (n - 1)) for a in gpus for b in gpus if a != b]
    return Demand(_flows(pairs, qps_per_pair, rng, job), f"all-to-all ({n} GPUs)")


def permutation(fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0, *,
                qps_per_pair: int = 1, job: str | None = None) -> Demand:
    """A random derangement: each GPU sends ``rate_gbps`` to one other GPU and receives from one.

    Drawn by shuffling until no GPU maps to itself (expected e ≈ 2.7 tries), seeded.
    """
    gpus = _check_gpus(fabric, gpus)
    _check_rate(rate_gbps, qps_per_pair)
    rng = np.random.default_rng(seed)
    n = len(gpus)
    idx = np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == idx):
            break
    pairs = [(gpus[i], gpus[int(perm[i])], rate_gbps) for i in range(n)]
    return Demand(_flows(pairs, qps_per_pair, rng, job), f"permutation ({n} GPUs)")


def incast(fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0, *,
           target: str | None = None, qps_per_pair: int = 1, job: str | None = None) -> Demand:
    """Incast: every GPU of the job sends ``rate_gbps`` to ``target`` (default: the job's first GPU)."""
    gpus = _check_gpus(fabric, gpus)
    _check_rate(rate_gbps, qps_per_pair)
    rng = np.random.default_rng(seed)
    tgt = target if target is not None else gpus[0]
    if tgt not in gpus:
        _check_gpus(fabric, [tgt], need=1)
    pairs = [(g, tgt, rate_gbps) for g in gpus if g != tgt]
    return Demand(_flows(pairs, qps_per_pair, rng, job), f"incast to {tgt} ({len(pairs)} senders)")


def uniform(fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0, *,
            qps_per_pair: int = 1, job: str | None = None) -> Demand:
    """Each GPU sends ``rate_gbps`` to one other GPU drawn uniformly at random (destinations may repeat)."""
    gpus = _check_gpus(fabric, gpus)
    _check_rate(rate_gbps, qps_per_pair)
    rng = np.random.default_rng(seed)
    n = len(gpus)
    pairs = []
    for i, g in enumerate(gpus):
        j = int(rng.integers(0, n - 1))
        pairs.append((g, gpus[j + 1 if j >= i else j], rate_gbps))
    return Demand(_flows(pairs, qps_per_pair, rng, job), f"uniform random ({n} GPUs)")


GENERATORS = {"ring": ring_allreduce, "tree": tree_allreduce, "all-to-all": all_to_all,
              "permutation": permutation, "incast": incast, "uniform": uniform}


def generate(kind: str, fabric: Fabric, gpus: Sequence[str], rate_gbps: float, seed: int = 0,
             **kw: Any) -> Demand:
    """Call the generator named ``kind`` (one of :data:`KINDS`)."""
    try:
        gen = GENERATORS[kind]
    except KeyError:
        raise ConfigError(f"unknown demand kind {kind!r} (expected one of {', '.join(KINDS)} or a file)") from None
    return gen(fabric, gpus, rate_gbps, seed, **kw)


# ---------------------------------------------------------------------------- jobs
def servers_of(fabric: Fabric) -> dict[str, list[str]]:
    """Endpoints grouped by server: the ``label`` attribute (``server12`` on rail fabrics; ``site/label``
    on multi-site fabrics), else the
    endpoint's first switch (its rack), else the endpoint itself. GPUs keep fabric order."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in fabric.endpoints():
        d = fabric.node(e)
        key = d.get("label")
        if key is not None and d.get("site") is not None:
            key = f"{d['site']}/{key}"  # labels repeat across the sites of a multi-site fabric
        if key is None:
            nbrs = [n for n in fabric.graph.neighbors(e) if fabric.role(n) not in ENDPOINT_ROLES]
            key = nbrs[0] if nbrs else e
        out[str(key)].append(e)
    return dict(out)


def place_job(fabric: Fabric, servers: int, gpus_per_server: int | None = None, seed: int = 0) -> list[str]:
    """Choose ``servers`` servers at random (seeded) and take ``gpus_per_server`` GPUs of each
    (the lowest ranks; all when None). Fewer GPUs than a server has models partially filled
    servers, the case where Meta saw static path pinning lose >30% (REFERENCE.md)."""
    by_server = servers_of(fabric)
    if not 1 <= servers <= len(by_server):
        raise ConfigError(f"servers must be between 1 and {len(by_server)}, got {servers}", where="job.place")
    rng = np.random.default_rng(seed)
    names = list(by_server)
    chosen = sorted(rng.choice(len(names), size=servers, replace=False).tolist())
    out = []
    for i in chosen:
        members = by_server[names[i]]
        k = len(members) if gpus_per_server is None else gpus_per_server
        if not 1 <= k <= len(members):
            raise ConfigError(f"gpus_per_server must be between 1 and {len(members)}, got {k}", where="job.place")
        out += members[:k]
    return out


@dataclass
class Job:
    """A job read from YAML: its GPUs and, optionally, its collective and rate."""

    name: str
    gpus: list[str]
    collective: str | None = None
    rate_gbps: float | None = None
    qps_per_pair: int = 1
    seed: int = 0


_JOB_KEYS = {"name", "gpus", "place", "collective", "rate_gbps", "qps_per_pair", "seed"}


def load_job(path: str | os.PathLike[str], fabric: Fabric) -> Job:
    """Read a job file (YAML)::

        name: train-1
        gpus: [s01-g0, s01-g1, ...]          # or:
        place: {servers: 8, gpus_per_server: 6, seed: 3}
        collective: ring                     # optional: ring, tree, all-to-all, permutation, incast, uniform
        rate_gbps: 200                       # optional
        qps_per_pair: 2                      # optional
        seed: 1                              # optional: source ports
    """
    p = Path(path)
    obj = read_document(p, what="job file", formats=("yaml",)).data
    if not isinstance(obj, dict):
        raise ConfigError("a job file must be a mapping", file=str(p))
    unknown = set(obj) - _JOB_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} (allowed: {sorted(_JOB_KEYS)})", file=str(p))
    try:
        if "gpus" in obj:
            gpus = obj["gpus"]
            if not isinstance(gpus, list) or not all(isinstance(g, str) for g in gpus):
                raise ConfigError("must be a list of endpoint names", file=str(p), where="gpus")
        elif "place" in obj:
            pl = obj["place"]
            if not isinstance(pl, dict) or set(pl) - {"servers", "gpus_per_server", "seed"} or "servers" not in pl:
                raise ConfigError("must be {servers: N, gpus_per_server: K, seed: S}", file=str(p), where="place")
            per = pl.get("gpus_per_server")
            gpus = place_job(fabric, _job_int(pl["servers"], p, "place.servers"),
                             None if per is None else _job_int(per, p, "place.gpus_per_server"),
                             _job_int(pl.get("seed", 0), p, "place.seed"))
        else:
            raise ConfigError("a job needs 'gpus' or 'place'", file=str(p))
        _check_gpus(fabric, gpus)
        coll = obj.get("collective")
        if coll is not None and coll not in KINDS:
            raise ConfigError(f"unknown collective {coll!r} (expected one of {', '.join(KINDS)})",
                              file=str(p), where="collective")
        rate = obj.get("rate_gbps")
        if rate is not None and not (isinstance(rate, int | float) and rate > 0):
            raise ConfigError(f"must be a positive number, got {rate!r}", file=str(p), where="rate_gbps")
        qps = obj.get("qps_per_pair", 1)
        if not isinstance(qps, int) or qps < 1:
            raise ConfigError(f"must be an integer >= 1, got {qps!r}", file=str(p), where="qps_per_pair")
        seed = _job_int(obj.get("seed", 0), p, "seed")
    except ConfigError as exc:
        if exc.file is None:
            raise ConfigError(exc.reason, file=str(p), where=exc.where) from None
        raise
    return Job(str(obj.get("name", p.stem)), list(gpus), coll, None if rate is None else float(rate), qps, seed)


def _job_int(value: Any, p: Path, where: str) -> int:
    """``int(value)`` as load_job has always taken it, or a ConfigError naming the field."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"must be an integer, got {value!r}", file=str(p), where=where) from None


def load_demand(path: str | os.PathLike[str], fabric: Fabric) -> Demand:
    """Read flows from CSV (header ``src,dst,rate_gbps`` and optional ``sport,dport,qp``) or YAML
    (``flows: [{src, dst, rate_gbps, sport?, dport?, qp?}]`` or ``matrix: {src: {dst: gbps}}``).
    Flows without ``sport`` get a seeded random one. Errors name the file, row/key and field."""
    p = Path(path)
    rng = np.random.default_rng(0)
    rows: list[tuple[str, dict[str, Any]]] = []
    if p.suffix.lower() == ".csv":
        header, records = read_csv(p, what="demand file")
        need = {"src", "dst", "rate_gbps"}
        if need - set(header):
            raise ConfigError(f"CSV header must contain {sorted(need)}", file=str(p), where="line 1")
        for line, row in records:
            rows.append((f"line {line}", {k: v for k, v in row.items() if v not in (None, "")}))
    else:
        obj = read_document(p, what="demand file", formats=("yaml",)).data
        if not isinstance(obj, dict) or not ({"flows", "matrix"} & set(obj)):
            raise ConfigError("a demand file needs 'flows' or 'matrix'", file=str(p))
        if "matrix" in obj:
            m = obj["matrix"]
            if not isinstance(m, dict):
                raise ConfigError("must map src to {dst: gbps}", file=str(p), where="matrix")
            for s, row in m.items():
                if not isinstance(row, dict):
                    raise ConfigError("must map dst to gbps", file=str(p), where=f"matrix.{s}")
                for d, r in row.items():
                    rows.append((f"matrix.{s}.{d}", {"src": s, "dst": d, "rate_gbps": r}))
        listed = obj.get("flows")
        if listed is not None and not isinstance(listed, list):
            raise ConfigError(f"must be a list of flows, got {type(listed).__name__}", file=str(p), where="flows")
        for i, row in enumerate(listed or []):
            if not isinstance(row, dict):
                raise ConfigError("a flow must be a mapping", file=str(p), where=f"flows[{i}]")
            rows.append((f"flows[{i}]", row))
    flows = []
    for where, row in rows:
        unknown = set(row) - {"src", "dst", "rate_gbps", "sport", "dport", "qp"}
        if unknown:
            raise ConfigError(f"unknown field(s) {sorted(unknown)}", file=str(p), where=where)
        for key in ("src", "dst"):
            name = row.get(key)
            if name is None:
                raise ConfigError(f"missing '{key}'", file=str(p), where=where)
            if str(name) not in fabric or fabric.role(str(name)) not in ENDPOINT_ROLES:
                raise ConfigError(f"{key} {name!r} is not an endpoint of the fabric", file=str(p), where=where)
        if row["src"] == row["dst"]:
            raise ConfigError("src and dst are the same endpoint", file=str(p), where=where)
        try:
            rate = float(row.get("rate_gbps", "x"))
        except (TypeError, ValueError):
            raise ConfigError(f"rate_gbps must be a number, got {row.get('rate_gbps')!r}", file=str(p),
                              where=where) from None
        if not rate > 0 or rate == float("inf"):
            raise ConfigError(f"rate_gbps must be positive, got {rate}", file=str(p), where=where)
        try:
            sport = int(row["sport"]) if "sport" in row else _sport(rng)
            dport = int(row.get("dport", ROCEV2_UDP_DPORT))
            qp = int(row["qp"]) if "qp" in row else None
        except (TypeError, ValueError):
            raise ConfigError("sport, dport and qp must be integers", file=str(p), where=where) from None
        for nm, v in (("sport", sport), ("dport", dport)):
            if not 0 <= v <= 0xFFFF:
                raise ConfigError(f"{nm} must be 0..65535, got {v}", file=str(p), where=where)
        flows.append(Flow(str(row["src"]), str(row["dst"]), rate, sport, dport, qp))
    if not flows:
        raise ConfigError("the demand file has no flows", file=str(p))
    return Demand(flows, f"file {p.name}")
