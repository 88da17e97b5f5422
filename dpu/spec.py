"""DPU specifications: every number a named assumption with where it comes from.

A :class:`DpuSpec` describes the datapath the timing model (:mod:`dpu.timing`) simulates::

    wire in (MAC/PHY/FEC) -> RSS -> fast-path engines (hardware match-action pipelines)
                                 \\-> exception path (general-purpose cores) for a fraction of packets
                          -> in-order DMA over PCIe to host memory (shared, bandwidth-limited)

Built-in specs: ``ref-400g`` (a 400G design point that holds 400 Gb/s at <= 30 us for every profile)
and ``arm-sw-gen4`` (software fast path on Arm cores behind PCIe Gen4 x16, which does not).
A spec file (YAML/JSON) names a ``base`` spec and overrides parameters, each either a number or
``{value: ..., source: "..."}``; unknown keys are an error naming the file and key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fabric.errors import ConfigError
from fabric.io.reader import read_document

#: Targets (REFERENCE.md "Inter-centre links and latency budgets": MIIT challenge list, DPU at
#: 400 Gb/s with <= 30 us one-way).
TARGET_GBPS = 400.0
TARGET_LATENCY_US = 30.0
#: Spec checked when none is named, and the base of a spec file without ``base``: the 400G design
#: point of :data:`BUILTIN`.
DEFAULT_SPEC = "ref-400g"


@dataclass(frozen=True)
class DpuSpec:
    """A DPU datapath design. Times in the names' units; ``sources`` says where each number is from."""

    name: str
    description: str
    line_rate_gbps: float
    # fast path: hardware engines (match-action pipelines) fed by RSS
    engines: int
    engine_clock_ghz: float
    engine_pipelined: bool  # True: a new packet every ``initiation_cycles``; False: run to completion
    initiation_cycles: float
    parse_cycles: float
    pipeline_stages: int
    cycles_per_stage: float
    table_lookups: int
    cycles_per_lookup: float
    cycles_per_byte: float
    engine_queue_packets: int
    # exception (slow) path: general-purpose cores
    exception_fraction: float
    exception_cores: int
    exception_clock_ghz: float
    exception_cycles_per_packet: float
    exception_cycles_per_byte: float
    exception_queue_packets: int
    # inline crypto (shared engine, in order)
    crypto_fraction: float
    crypto_gbps: float
    # PCIe / DMA to host (shared, in order)
    pcie_lanes: int
    pcie_gt_s: float
    pcie_encoding: float
    pcie_mps_bytes: int
    pcie_tlp_overhead_bytes: int
    dma_packing: bool  # packets written back to back into large buffers (full-size TLPs)
    dma_overhead_bytes_per_packet: float
    pcie_latency_us: float
    mac_phy_latency_us: float
    buffer_bytes: int
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    # ---- derived quantities -------------------------------------------------------------------
    @property
    def pcie_raw_gbps(self) -> float:
        """Raw PCIe bandwidth per direction: lanes x GT/s x line encoding."""
        return self.pcie_lanes * self.pcie_gt_s * self.pcie_encoding

    def engine_total_cycles(self, frame_bytes: float) -> float:
        """Cycles a packet spends in an engine (its fast-path latency)."""
        return (self.parse_cycles + self.pipeline_stages * self.cycles_per_stage
                + self.table_lookups * self.cycles_per_lookup + self.cycles_per_byte * frame_bytes)

    def engine_occupancy_ns(self, frame_bytes: float) -> float:
        """How long a packet keeps its engine busy (the queueing service time)."""
        if self.engine_pipelined:
            return (self.initiation_cycles + self.cycles_per_byte * frame_bytes) / self.engine_clock_ghz
        return self.engine_total_cycles(frame_bytes) / self.engine_clock_ghz

    def engine_delay_ns(self, frame_bytes: float) -> float:
        """Pure pipeline delay on top of the occupancy (0 for run-to-completion engines)."""
        if not self.engine_pipelined:
            return 0.0
        return self.engine_total_cycles(frame_bytes) / self.engine_clock_ghz - self.engine_occupancy_ns(frame_bytes)

    def exception_ns(self, frame_bytes: float) -> float:
        return (self.exception_cycles_per_packet + self.exception_cycles_per_byte * frame_bytes) / self.exception_clock_ghz

    def dma_bytes(self, frame_bytes: float) -> float:
        """Bytes on the PCIe link for one packet: data + TLP headers + descriptor/completion share."""
        if self.dma_packing:
            tlp = frame_bytes * self.pcie_tlp_overhead_bytes / self.pcie_mps_bytes
        else:
            tlp = math.ceil(frame_bytes / self.pcie_mps_bytes) * self.pcie_tlp_overhead_bytes
        return frame_bytes + tlp + self.dma_overhead_bytes_per_packet

    def dma_ns(self, frame_bytes: float) -> float:
        return self.dma_bytes(frame_bytes) * 8 / self.pcie_raw_gbps

    def assumptions(self) -> list[dict[str, Any]]:
        """Every parameter with its value and source (for reports and ``--json``)."""
        out = []
        for f in fields(self):
            if f.name in ("name", "description", "sources"):
                continue
            out.append({"name": f.name, "value": getattr(self, f.name), "source": self.sources.get(f.name, "")})
        return out


PARAMS = [f.name for f in fields(DpuSpec) if f.name not in ("name", "description", "sources")]

# ------------------------------------------------------------------------------------- built-in specs
#: Each entry: parameter -> (value, source). "*assumption*" marks a design choice, not a measurement.
_REF: dict[str, tuple[Any, str]] = {
    "line_rate_gbps": (400.0, "target port speed (REFERENCE.md DPU row; IEEE 802.3bs 400GbE)"),
    "engines": (2, "*assumption*: two match-action pipelines, as in switch/DPU ASICs with one pipeline per "
                   "port group (e.g. Tofino has 2-4 pipes, Pensando P4 MPU clusters)"),
    "engine_clock_ghz": (1.5, "*assumption*: typical 7/5 nm ASIC pipeline clock (Tofino 2 ~1.5 GHz class)"),
    "engine_pipelined": (True, "hardware match-action pipelines accept a new packet every few cycles "
                               "(RMT, Bosshart et al. SIGCOMM 2013)"),
    "initiation_cycles": (4, "*assumption*: one packet every 4 cycles per pipeline (RMT runs at 1 packet "
                             "per cycle per pipe; 4 leaves room for recirculation and wide keys)"),
    "parse_cycles": (24, "*assumption*: programmable parser, ~2 cycles per header for up to 12 headers"),
    "pipeline_stages": (12, "RMT-class pipelines have 12-32 match-action stages (Bosshart et al. 2013)"),
    "cycles_per_stage": (12, "*assumption*: per-stage latency of an RMT-like stage (~8 ns at 1.5 GHz)"),
    "table_lookups": (4, "one exact (flow), one LPM (route), one ternary (ACL), one meter lookup per packet "
                         "in our pipeline (dpu/pipeline.py default)"),
    "cycles_per_lookup": (20, "*assumption*: SRAM hash/LPM lookup ~10-15 ns, TCAM ~5 ns"),
    "cycles_per_byte": (0.0, "headers only in the pipeline; payload stays in the packet buffer (RMT)"),
    "engine_queue_packets": (2048, "*assumption*: per-pipeline ingress FIFO depth"),
    "exception_fraction": (0.001, "*assumption*: 0.1% of packets miss the hardware flow table (new flows) "
                                  "and go to software; AI traffic is long-lived RoCE QPs"),
    "exception_cores": (16, "NVIDIA BlueField-3 datasheet: 16 Arm Cortex-A78 cores"),
    "exception_clock_ghz": (2.5, "BlueField-3 Arm cores: up to ~2.5 GHz (*unverified* per SKU)"),
    "exception_cycles_per_packet": (2500, "*assumption*: software slow path (OVS upcall class) ~1 us per packet"),
    "exception_cycles_per_byte": (0.0, "*assumption*: slow path inspects headers only"),
    "exception_queue_packets": (4096, "*assumption*: per-core software ring (DPDK default ring sizes 1024-4096)"),
    "crypto_fraction": (0.0, "*assumption*: no inline encryption in the reference traffic"),
    "crypto_gbps": (400.0, "BlueField-3 datasheet: inline IPsec/TLS at up to 400 Gb/s"),
    "pcie_lanes": (16, "BlueField-3: PCIe Gen5 x16 host interface (datasheet)"),
    "pcie_gt_s": (32.0, "PCIe 5.0 base specification: 32 GT/s per lane"),
    "pcie_encoding": (128 / 130, "PCIe 3.0+ 128b/130b line code"),
    "pcie_mps_bytes": (256, "*assumption*: max payload size 256 B, the common server setting"),
    "pcie_tlp_overhead_bytes": (24, "TLP framing + sequence + 4DW header + LCRC with 64-bit addressing "
                                    "(~20-26 B per TLP, PCIe base spec; 24 used)"),
    "dma_packing": (True, "multi-packet receive queues write packets back to back (DPDK mlx5 guide: MPRQ)"),
    "dma_overhead_bytes_per_packet": (16, "*assumption*: descriptor + completion share per packet with CQE "
                                          "compression (mlx5 CQE is 64 B, compressed ~8-16 B per packet)"),
    "pcie_latency_us": (0.6, "*assumption*: one-way posted-write latency to host memory ~0.5-1 us "
                             "(Neugebauer et al., SIGCOMM 2018, 'Understanding PCIe performance')"),
    "mac_phy_latency_us": (0.15, "*assumption*: 400GBASE MAC+PCS+RS(544,514) FEC decode ~100-200 ns "
                                 "(*unverified* per vendor)"),
    "buffer_bytes": (16 * 2**20, "*assumption*: 16 MiB on-chip packet buffer"),
}

_ARM: dict[str, tuple[Any, str]] = {
    "engines": (16, "BlueField-3 datasheet: 16 Arm Cortex-A78 cores doing the fast path in software"),
    "engine_clock_ghz": (2.5, "BlueField-3 Arm cores, up to ~2.5 GHz (*unverified* per SKU)"),
    "engine_pipelined": (False, "software run-to-completion (DPDK model)"),
    "initiation_cycles": (0, "not used for run-to-completion engines"),
    "parse_cycles": (120, "*assumption*: software parse + descriptor handling (DPDK l3fwd ~100-200 cycles/pkt)"),
    "pipeline_stages": (4, "*assumption*: OVS-DPDK-like classifier stages"),
    "cycles_per_stage": (15, "*assumption*"),
    "table_lookups": (4, "same lookups as the reference pipeline"),
    "cycles_per_lookup": (40, "*assumption*: cuckoo hash / DIR-24-8 lookup with a cache miss"),
    "cycles_per_byte": (0.05, "*assumption*: payload touched for checksum offload bookkeeping"),
    "engine_queue_packets": (1024, "DPDK default RX ring size (1024)"),
    "pcie_gt_s": (16.0, "PCIe 4.0: 16 GT/s per lane (the design's host slot is Gen4 x16)"),
    "dma_packing": (False, "one TLP stream per packet (no multi-packet receive queues)"),
    "dma_overhead_bytes_per_packet": (64, "one 64 B completion per packet, no CQE compression (mlx5 CQE size)"),
}

BUILTIN: dict[str, dict[str, tuple[Any, str]]] = {
    "ref-400g": _REF,
    "arm-sw-gen4": {**_REF, **_ARM},
}
_DESCRIPTIONS = {
    "ref-400g": "400G design point: 2 hardware match-action pipelines, Arm exception path, PCIe Gen5 x16 "
                "with multi-packet receive queues.",
    "arm-sw-gen4": "Software fast path on 16 Arm cores (run to completion) behind PCIe Gen4 x16 without "
                   "packet packing: fails 400G.",
}

_TYPES = {f.name: f.type for f in fields(DpuSpec)}


def _coerce(name: str, value: Any, where: str, file: str | None) -> Any:
    t = _TYPES[name]
    try:
        if t == "bool" or t is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if t == "int" or t is int:
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError
            v: float = int(value)
        else:
            if isinstance(value, bool):
                raise ValueError
            v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a {t if isinstance(t, str) else t.__name__}, got {value!r}",
                          file=file, where=where) from None
    if v < 0 or (name in ("engines", "line_rate_gbps", "engine_clock_ghz", "pcie_lanes", "pcie_gt_s",
                          "pcie_encoding", "pcie_mps_bytes", "exception_clock_ghz", "crypto_gbps",
                          "exception_cores") and v <= 0):
        raise ConfigError(f"{name} must be positive, got {value!r}", file=file, where=where)
    if name.endswith("_fraction") and v > 1:
        raise ConfigError(f"{name} is a fraction (0..1), got {value!r}", file=file, where=where)
    return v


def _build(name: str, description: str, table: dict[str, tuple[Any, str]], file: str | None = None) -> DpuSpec:
    missing = [p for p in PARAMS if p not in table]
    if missing:
        raise ConfigError(f"missing parameters: {', '.join(missing)}", file=file, where=name)
    vals = {p: _coerce(p, table[p][0], p, file) for p in PARAMS}
    spec = DpuSpec(name=name, description=description, sources={p: table[p][1] for p in PARAMS}, **vals)
    if spec.engine_pipelined and spec.initiation_cycles <= 0:
        raise ConfigError("initiation_cycles must be positive for a pipelined engine", file=file,
                          where="initiation_cycles")
    return spec


def builtin_specs() -> dict[str, DpuSpec]:
    return {n: _build(n, _DESCRIPTIONS[n], t) for n, t in BUILTIN.items()}


def load_spec(name_or_file: str) -> DpuSpec:
    """A built-in spec by name, or a YAML/JSON spec file (``base`` + overrides)."""
    if name_or_file in BUILTIN:
        return builtin_specs()[name_or_file]
    path = Path(name_or_file)
    if not path.exists():
        raise ConfigError(f"no built-in spec or file named {name_or_file!r} (built-in: {', '.join(BUILTIN)})")
    doc = read_document(path, what="DPU spec file", formats=("yaml",)).data
    if not isinstance(doc, dict):
        raise ConfigError("a spec file is a mapping", file=str(path))
    base = doc.get("base", DEFAULT_SPEC)
    if not isinstance(base, str) or base not in BUILTIN:
        raise ConfigError(f"unknown base spec {base!r} (built-in: {', '.join(BUILTIN)})", file=str(path),
                          where="base")
    table = dict(BUILTIN[base])
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError("params must be a mapping", file=str(path), where="params")
    for k in doc:
        if k not in ("name", "description", "base", "params"):
            raise ConfigError(f"unknown key {k!r} (name, description, base, params)", file=str(path), where=k)
    for k, v in params.items():
        if k not in PARAMS:
            raise ConfigError(f"unknown parameter {k!r}", file=str(path), where=f"params.{k}")
        if isinstance(v, dict):
            extra = set(v) - {"value", "source"}
            if extra or "value" not in v:
                raise ConfigError("a parameter is a number or {value, source}", file=str(path), where=f"params.{k}")
            table[k] = (v["value"], str(v.get("source", f"{path.name}")))
        else:
            table[k] = (v, f"{path.name} (no source given)")
    return _build(str(doc.get("name", path.stem)), str(doc.get("description", "")), table, file=str(path))


def with_params(spec: DpuSpec, **overrides: Any) -> DpuSpec:
    """A copy with some parameters replaced (tests, sweeps)."""
    srcs = dict(spec.sources)
    for k in overrides:
        if k not in PARAMS:
            raise ConfigError(f"unknown parameter {k!r}")
        srcs[k] = "override"
    return replace(spec, sources=srcs, **overrides)
