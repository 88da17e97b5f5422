"""A match-action pipeline declared as data (YAML/JSON) and run over packet batches.

File shape (every key checked; errors name the file and the YAML path)::

    name: edge
    ports: 4                      # egress ports 0..3
    port_rate_gbps: 400           # drain rate of the egress queues (ECN marking)
    tables:                       # applied in order; a dropped packet skips later tables
      - name: acl
        kind: ternary             # exact | lpm | ternary
        key: [ip_proto, l4_dport] # parse columns (dpu.parse.ALL_COLUMNS); lpm: ip_dst|ip_src|inner_ip_dst|inner_ip_src
        entries:
          - {match: [[17, 255], [4791, 65535]], priority: 10, action: set_dscp, params: {dscp: 26}}
        default: {action: noop}   # on a miss
      - name: route
        kind: lpm
        family: 4
        key: ip_dst
        entries:
          - {prefix: 10.0.0.0/8, action: wcmp, params: {group: spines}}
          - {prefix: 0.0.0.0/0, action: forward, params: {port: 3}}
    wcmp_groups: {spines: [{port: 0, weight: 3}, {port: 1, weight: 1}]}   # or {nexthop: nh1, weight: 3}
    nexthops: {nh1: {port: 2, src_mac: "02:00:00:00:00:01", dst_mac: "02:00:00:00:00:02"}}  # set_nexthop
    egress_ecn: [{port: 0, kmin: 5, kmax: 20, slope: 4369}]   # RED-like, depth in packets of mtu_bytes
    mtu_bytes: 9100               # packet size the egress_ecn depth counts in
    hash_fields: [ip_src0, ip_dst0, ip_proto, l4_sport, l4_dport]  # WCMP flow hash (default: FLOW_COLUMNS)
    seed: 0                       # RED-like marking draws
    meters: {m1: {cir_bps: 1e9, cbs_bytes: 10000, pir_bps: 2e9, pbs_bytes: 20000, yellow_dscp: 10}}
    vxlan_templates: {t1: {src_mac: "02:00:00:00:00:01", dst_mac: "02:00:00:00:00:02",
                           src_ip: 192.0.2.1, dst_ip: 192.0.2.2, vni: 5000}}

After ``vxlan_decap`` later tables match the inner packet. Exact entries: ``{key: [v, ...], action, params}``; values are integers or text (IPv4 address, MAC).
Exact and ternary keys may also name ``ingress_port`` (:data:`META_KEYS`): the port each packet arrived
on, given to :meth:`Pipeline.run`.
A packet that leaves the last table without an egress port is dropped ("no route"); one with a next
hop whose TTL (hop limit) is 1 or less is dropped ("ttl_expired"), as a router does (RFC 1812 5.3.1).
The P4 generator can read the same file: tables, keys, actions and entries are plain data.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dpu import actions as A
from dpu.packets import PacketBatch
from dpu.parse import ALL_COLUMNS, COL, INNER, NCOL, ParseResult, parse
from dpu.tables import ExactTable, LpmTable, TernaryTable, words_to_key
from fabric.errors import ConfigError
from fabric.io.reader import read_document

ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "noop": (), "forward": ("port",), "drop": (), "set_dscp": ("dscp",), "ecn_mark": ("threshold_bytes",),
    "vxlan_encap": ("template",), "vxlan_decap": (), "meter": ("meter",), "wcmp": ("group",),
    "set_nexthop": ("nexthop",),
}
#: Key fields that are not parse columns: per-packet metadata given to :meth:`Pipeline.run`.
META_KEYS = ("ingress_port",)
LPM_KEYS = {"ip_dst": "ip_dst", "ip_src": "ip_src", "inner_ip_dst": "inner_ip_dst", "inner_ip_src": "inner_ip_src"}
FLOW_COLUMNS = ("ip_src0", "ip_src1", "ip_src2", "ip_src3", "ip_dst0", "ip_dst1", "ip_dst2", "ip_dst3",
                "ip_proto", "l4_sport", "l4_dport", "bth_dest_qp")


def _int(v: Any, where: str, file: str | None) -> int:
    """Integers, or text: IPv4/IPv6 address, MAC address, 0x hex."""
    if isinstance(v, bool):
        raise ConfigError(f"expected a number, got {v!r}", file=file, where=where)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        try:
            if s.count(":") == 5 and all(len(x) == 2 for x in s.split(":")):
                return int(s.replace(":", ""), 16)
            if s.lower().startswith("0x"):
                return int(s, 16)
            return int(ipaddress.ip_address(s))
        except ValueError:
            pass
    raise ConfigError(f"expected a number, address or MAC, got {v!r}", file=file, where=where)


@dataclass
class CompiledTable:
    name: str
    kind: str
    key: list[str]
    table: Any
    act: np.ndarray
    params: np.ndarray
    miss_act: int
    miss_params: np.ndarray
    family: int = 0
    entries: list[dict] = field(default_factory=list)
    cnt_pkts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cnt_bytes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    miss_cnt: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))


class Pipeline:
    """A compiled pipeline; :meth:`run` processes a batch and keeps counters and meter state."""

    def __init__(self, doc: dict, file: str | None = None) -> None:
        self.file = file
        self.doc = doc
        if not isinstance(doc, dict):
            raise ConfigError("a pipeline is a mapping", file=file)
        known = {"name", "ports", "port_rate_gbps", "tables", "wcmp_groups", "meters", "vxlan_templates",
                 "nexthops", "egress_ecn", "mtu_bytes", "hash_fields", "seed"}
        for k in doc:
            if k not in known:
                raise ConfigError(f"unknown key {k!r} ({', '.join(sorted(known))})", file=file, where=k)
        self.name = str(doc.get("name", "pipeline"))
        self.ports = _int(doc.get("ports", 4), "ports", file)
        if self.ports < 1:
            raise ConfigError("ports must be >= 1", file=file, where="ports")
        rate = doc.get("port_rate_gbps", 400)
        if not isinstance(rate, int | float) or rate <= 0:
            raise ConfigError(f"port_rate_gbps must be a positive number, got {rate!r}", file=file,
                              where="port_rate_gbps")
        self.port_rate_gbps = float(rate)
        self._compile_nexthops(doc.get("nexthops", {}) or {})
        self._compile_egress_ecn(doc.get("egress_ecn", []) or [], doc.get("mtu_bytes", 9100))
        self._compile_hash_fields(doc.get("hash_fields", list(FLOW_COLUMNS)))
        self.seed = _int(doc.get("seed", 0), "seed", file)
        self.reset_draws()
        self._compile_groups(doc.get("wcmp_groups", {}) or {})
        self._compile_meters(doc.get("meters", {}) or {})
        self._compile_templates(doc.get("vxlan_templates", {}) or {})
        tables = doc.get("tables", [])
        if not isinstance(tables, list) or not tables:
            raise ConfigError("tables must be a non-empty list", file=file, where="tables")
        self.tables = [self._compile_table(t, k) for k, t in enumerate(tables)]

    # ---- compilation ----------------------------------------------------------------------------
    def _compile_nexthops(self, nexthops: dict) -> None:
        self.nexthop_index: dict[str, int] = {}
        ports, macs = [], []
        if not isinstance(nexthops, dict):
            raise ConfigError("nexthops is a mapping name -> {port, src_mac, dst_mac}", file=self.file,
                              where="nexthops")
        for hi, (h, c) in enumerate(nexthops.items()):
            where = f"nexthops.{h}"
            need = {"port", "src_mac", "dst_mac"}
            if not isinstance(c, dict) or set(c) != need:
                raise ConfigError("a next hop is {port, src_mac, dst_mac}", file=self.file, where=where)
            p = _int(c["port"], f"{where}.port", self.file)
            self._check_port(p, f"{where}.port")
            mac = [_int(c[k], f"{where}.{k}", self.file) for k in ("src_mac", "dst_mac")]
            for k, m in zip(("src_mac", "dst_mac"), mac, strict=True):
                if not 0 <= m < 2**48:
                    raise ConfigError(f"a MAC is 48 bits, got {m:#x}", file=self.file, where=f"{where}.{k}")
            self.nexthop_index[str(h)] = hi
            ports.append(p)
            macs.append(mac)
        self.nh_port = np.array(ports or [0], np.int64)
        self.nh_mac = np.array(macs or [[0, 0]], np.int64).reshape(-1, 2)

    def _compile_egress_ecn(self, rows: Any, mtu: Any) -> None:
        self.mtu_bytes = _int(mtu, "mtu_bytes", self.file)
        if self.mtu_bytes < 1:
            raise ConfigError("mtu_bytes must be >= 1", file=self.file, where="mtu_bytes")
        self.red_kmin = np.zeros(self.ports, np.int64)
        self.red_kmax = np.zeros(self.ports, np.int64)
        self.red_slope = np.zeros(self.ports, np.int64)
        if not isinstance(rows, list):
            raise ConfigError("egress_ecn is a list of {port, kmin, kmax, slope}", file=self.file, where="egress_ecn")
        for k, r in enumerate(rows):
            where = f"egress_ecn[{k}]"
            if not isinstance(r, dict) or set(r) != {"port", "kmin", "kmax", "slope"}:
                raise ConfigError("an egress_ecn row is {port, kmin, kmax, slope}", file=self.file, where=where)
            p, kmin, kmax, slope = (_int(r[x], f"{where}.{x}", self.file) for x in ("port", "kmin", "kmax", "slope"))
            self._check_port(p, f"{where}.port")
            if not 0 <= kmin <= kmax or kmax < 1:
                raise ConfigError(f"needs 0 <= kmin <= kmax, kmax >= 1, got kmin {kmin}, kmax {kmax}", file=self.file,
                                  where=where)
            if slope < 0:
                raise ConfigError(f"slope must be >= 0, got {slope}", file=self.file, where=f"{where}.slope")
            self.red_kmin[p], self.red_kmax[p], self.red_slope[p] = kmin, kmax, slope

    def _compile_hash_fields(self, fields: Any) -> None:
        if not isinstance(fields, list) or not fields or any(f not in COL for f in fields):
            raise ConfigError("hash_fields is a non-empty list of parse columns (dpu.parse.ALL_COLUMNS)",
                              file=self.file, where="hash_fields")
        self.hash_cols = np.array([COL[f] for f in fields], np.int64)

    def reset_draws(self) -> None:
        """Restart the RED-like marking draws from ``seed`` (same seed, same marks)."""
        self._rng = np.random.default_rng(self.seed)

    def _compile_groups(self, groups: dict) -> None:
        self.group_index: dict[str, int] = {}
        off: list[int] = []
        ln: list[int] = []
        port: list[int] = []
        nh: list[int] = []
        cum: list[int] = []
        for gi, (g, members) in enumerate(groups.items()):
            where = f"wcmp_groups.{g}"
            if not isinstance(members, list) or not members:
                raise ConfigError("a WCMP group is a non-empty list of {port, weight} or {nexthop, weight}",
                                  file=self.file, where=where)
            self.group_index[g] = gi
            off.append(len(port))
            ln.append(len(members))
            total = 0
            for k, m in enumerate(members):
                if (not isinstance(m, dict) or (set(m) - {"port", "weight"} and set(m) - {"nexthop", "weight"})
                        or not {"port", "nexthop"} & set(m)):
                    raise ConfigError("member is {port, weight} or {nexthop, weight}", file=self.file,
                                      where=f"{where}[{k}]")
                if "nexthop" in m:
                    h = self.nexthop_index.get(str(m["nexthop"]))
                    if h is None:
                        raise ConfigError(f"unknown next hop {m['nexthop']!r}", file=self.file,
                                          where=f"{where}[{k}].nexthop")
                    p = int(self.nh_port[h])
                else:
                    h = -1
                    p = _int(m.get("port"), f"{where}[{k}].port", self.file)
                    self._check_port(p, f"{where}[{k}].port")
                w = _int(m.get("weight", 1), f"{where}[{k}].weight", self.file)
                if w < 1:
                    raise ConfigError(f"weight must be >= 1, got {w}", file=self.file, where=f"{where}[{k}].weight")
                total += w
                port.append(p)
                nh.append(h)
                cum.append(total)
        self.grp_off = np.array(off or [0], np.int64)
        self.grp_len = np.array(ln or [0], np.int64)
        self.mem_port = np.array(port or [0], np.int64)
        self.mem_nh = np.array(nh or [-1], np.int64)
        self.mem_cum = np.array(cum or [1], np.int64)

    def _compile_meters(self, meters: dict) -> None:
        self.meter_index: dict[str, int] = {}
        cfg, yellow = [], []
        for mi, (m, c) in enumerate(meters.items()):
            where = f"meters.{m}"
            need = {"cir_bps", "cbs_bytes", "pir_bps", "pbs_bytes"}
            if not isinstance(c, dict) or need - set(c) or set(c) - need - {"yellow_dscp"}:
                raise ConfigError("a meter has cir_bps, cbs_bytes, pir_bps, pbs_bytes (and optional yellow_dscp)",
                                  file=self.file, where=where)
            vals = {}
            for k in need:
                try:
                    vals[k] = float(c[k])
                except (TypeError, ValueError):
                    raise ConfigError(f"{k} must be a number", file=self.file, where=f"{where}.{k}") from None
                if vals[k] <= 0:
                    raise ConfigError(f"{k} must be positive", file=self.file, where=f"{where}.{k}")
            if vals["pir_bps"] < vals["cir_bps"]:
                raise ConfigError("RFC 2698 requires PIR >= CIR", file=self.file, where=f"{where}.pir_bps")
            self.meter_index[m] = mi
            cfg.append((vals["cir_bps"] / 8e9, vals["cbs_bytes"], vals["pir_bps"] / 8e9, vals["pbs_bytes"]))
            yellow.append(_int(c.get("yellow_dscp", -1), f"{where}.yellow_dscp", self.file))
        self.meter_cfg = np.array(cfg or [(0.0, 0.0, 0.0, 0.0)], np.float64)
        self.yellow_dscp = np.array(yellow or [-1], np.int64)
        self.reset_meters()

    def reset_meters(self) -> None:
        """Buckets full (RFC 2698: Tc = CBS, Tp = PBS at start)."""
        self.meter_state = np.zeros((len(self.meter_cfg), 3))
        self.meter_state[:, 0] = self.meter_cfg[:, 1]
        self.meter_state[:, 1] = self.meter_cfg[:, 3]
        self.meter_state[:, 2] = -np.inf

    def _compile_templates(self, tpls: dict) -> None:
        self.template_index: dict[str, int] = {}
        rows = []
        for ti, (t, c) in enumerate(tpls.items()):
            where = f"vxlan_templates.{t}"
            need = ("src_mac", "dst_mac", "src_ip", "dst_ip", "vni")
            if not isinstance(c, dict) or set(need) - set(c) or set(c) - set(need) - {"ttl"}:
                raise ConfigError(f"a VXLAN template has {', '.join(need)} (and optional ttl)", file=self.file,
                                  where=where)
            row = [_int(c[k], f"{where}.{k}", self.file) for k in need] + [_int(c.get("ttl", 64), f"{where}.ttl",
                                                                                 self.file)]
            if row[2] >= 2**32 or row[3] >= 2**32:
                raise ConfigError("outer addresses must be IPv4", file=self.file, where=where)
            if not 0 <= row[4] < 2**24:
                raise ConfigError("vni is 24 bits", file=self.file, where=f"{where}.vni")
            self.template_index[t] = ti
            rows.append(row)
        self.templates = np.array(rows or [[0] * 6], np.int64)

    def _check_port(self, p: int, where: str) -> None:
        if not 0 <= p < self.ports:
            raise ConfigError(f"port {p} outside 0..{self.ports - 1}", file=self.file, where=where)

    def _action(self, spec: Any, where: str) -> tuple[int, list[int]]:
        if not isinstance(spec, dict) or "action" not in spec:
            raise ConfigError("needs an action", file=self.file, where=where)
        name = spec["action"]
        if name not in ACTION_PARAMS:
            raise ConfigError(f"unknown action {name!r} ({', '.join(ACTION_PARAMS)})", file=self.file,
                              where=f"{where}.action")
        given = spec.get("params", {}) or {}
        if not isinstance(given, dict):
            raise ConfigError("params is a mapping", file=self.file, where=f"{where}.params")
        want = ACTION_PARAMS[name]
        if set(given) != set(want):
            raise ConfigError(f"{name} takes params {list(want)}, got {sorted(given)}", file=self.file,
                              where=f"{where}.params")
        vals = []
        for k in want:
            v = given[k]
            w = f"{where}.params.{k}"
            if k == "group":
                if v not in self.group_index:
                    raise ConfigError(f"unknown WCMP group {v!r}", file=self.file, where=w)
                vals.append(self.group_index[v])
            elif k == "meter":
                if v not in self.meter_index:
                    raise ConfigError(f"unknown meter {v!r}", file=self.file, where=w)
                vals.append(self.meter_index[v])
            elif k == "nexthop":
                if str(v) not in self.nexthop_index:
                    raise ConfigError(f"unknown next hop {v!r}", file=self.file, where=w)
                vals.append(self.nexthop_index[str(v)])
            elif k == "template":
                if v not in self.template_index:
                    raise ConfigError(f"unknown VXLAN template {v!r}", file=self.file, where=w)
                vals.append(self.template_index[v])
            else:
                x = _int(v, w, self.file)
                if k == "port":
                    self._check_port(x, w)
                if k == "dscp" and not 0 <= x < 64:
                    raise ConfigError(f"dscp is 0..63, got {x}", file=self.file, where=w)
                vals.append(x)
        return A.ACTIONS[name], vals + [0] * (3 - len(vals))

    def _compile_table(self, t: Any, k: int) -> CompiledTable:
        where = f"tables[{k}]"
        if not isinstance(t, dict):
            raise ConfigError("a table is a mapping", file=self.file, where=where)
        allowed = {"name", "kind", "key", "entries", "default", "family"}
        for key in t:
            if key not in allowed:
                raise ConfigError(f"unknown key {key!r}", file=self.file, where=f"{where}.{key}")
        name = str(t.get("name", f"table{k}"))
        kind = t.get("kind")
        entries = t.get("entries", []) or []
        if not isinstance(entries, list):
            raise ConfigError("entries is a list", file=self.file, where=f"{where}.entries")
        acts, params = [], []
        for j, e in enumerate(entries):
            a, p = self._action(e, f"{where}.entries[{j}]")
            acts.append(a)
            params.append(p)
        miss_a, miss_p = self._action(t.get("default", {"action": "noop"}), f"{where}.default")
        try:
            if kind == "lpm":
                key = t.get("key")
                if key not in LPM_KEYS:
                    raise ConfigError(f"lpm key is one of {sorted(LPM_KEYS)}, got {key!r}", file=self.file,
                                      where=f"{where}.key")
                fam = t.get("family", 4)
                prefixes = []
                for j, e in enumerate(entries):
                    if set(e) - {"prefix", "action", "params"} or "prefix" not in e:
                        raise ConfigError("lpm entry is {prefix, action, params}", file=self.file,
                                          where=f"{where}.entries[{j}]")
                    prefixes.append(str(e["prefix"]))
                table: Any = LpmTable(name, fam, prefixes)
                keys = [key]
            else:
                keys = t.get("key")  # type: ignore[assignment]
                if isinstance(keys, str):
                    keys = [keys]
                if not isinstance(keys, list) or not keys:
                    raise ConfigError("key is a list of parse columns", file=self.file, where=f"{where}.key")
                for c in keys:
                    if c not in COL and c not in META_KEYS:
                        raise ConfigError(f"unknown key field {c!r} (parse columns: dpu.parse.ALL_COLUMNS)",
                                          file=self.file, where=f"{where}.key")
                fam = 0
                if kind == "exact":
                    rows = []
                    for j, e in enumerate(entries):
                        kv = e.get("key")
                        if set(e) - {"key", "action", "params"} or not isinstance(kv, list) or len(kv) != len(keys):
                            raise ConfigError(f"exact entry is {{key: [{len(keys)} values], action, params}}",
                                              file=self.file, where=f"{where}.entries[{j}]")
                        rows.append([_int(v, f"{where}.entries[{j}].key", self.file) for v in kv])
                    table = ExactTable(name, keys, rows)
                elif kind == "ternary":
                    matches, prios = [], []
                    for j, e in enumerate(entries):
                        m = e.get("match")
                        if (set(e) - {"match", "priority", "action", "params"} or not isinstance(m, list)
                                or len(m) != len(keys) or not all(isinstance(x, list) and len(x) == 2 for x in m)):
                            raise ConfigError(f"ternary entry is {{match: [[value, mask] x {len(keys)}], priority, "
                                              "action, params}", file=self.file, where=f"{where}.entries[{j}]")
                        w = f"{where}.entries[{j}].match"
                        matches.append([(_int(v, w, self.file), _int(mk, w, self.file)) for v, mk in m])
                        prios.append(_int(e.get("priority", 0), f"{where}.entries[{j}].priority", self.file))
                    table = TernaryTable(name, keys, matches, prios)
                else:
                    raise ConfigError(f"kind must be exact, lpm or ternary, got {kind!r}", file=self.file,
                                      where=f"{where}.kind")
        except ConfigError as exc:
            if exc.file is None:
                raise ConfigError(exc.reason, file=self.file, where=exc.where or where) from None
            raise
        n = len(entries)
        return CompiledTable(name, kind, keys, table, np.array(acts or [0], np.int64),
                             np.array(params or [[0, 0, 0]], np.int64).reshape(-1, 3), miss_a,
                             np.array(miss_p, np.int64), fam, entries,
                             np.zeros(max(1, n), np.int64), np.zeros(max(1, n), np.int64))

    # ---- running -------------------------------------------------------------------------------
    def lookup(self, t: CompiledTable, res: ParseResult, meta: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Entry index per packet (-1: miss); ``meta`` holds the :data:`META_KEYS` columns."""
        tab = res.table
        if t.kind == "lpm":
            base = t.key[0]
            w = [tab[:, COL[f"{base}{k}"]] for k in range(4)]
            hi, lo = words_to_key(*w)
            idx = t.table.lookup(hi, lo)
            ver = tab[:, COL["inner_ip_version" if base.startswith("inner_") else "ip_version"]]
            idx[ver != t.family] = -1
            return idx
        if any(c in META_KEYS for c in t.key):
            m = meta or {}
            cols = [m[c] if c in m else np.zeros(len(tab), np.int64) if c in META_KEYS else tab[:, COL[c]]
                    for c in t.key]
            q = np.ascontiguousarray(np.stack(cols, axis=1)).astype(np.uint64)
        else:
            q = np.ascontiguousarray(tab[:, [COL[c] for c in t.key]]).astype(np.uint64)
        return t.table.lookup(q)

    def run(self, batch: PacketBatch, ingress_port: int | np.ndarray = 0) -> RunResult:
        """Process ``batch``; ``ingress_port`` (one port or one per packet) is what ``ingress_port``
        keys match."""
        res = parse(batch)
        n = len(batch)
        tab = res.table
        meta = {"ingress_port": np.broadcast_to(np.asarray(ingress_port, np.int64), (n,))}
        fh = np.zeros(n, np.uint64)
        if n:
            A.flow_hash_kernel(tab, self.hash_cols, fh)
        egress = np.full(n, -1, np.int64)
        drop = np.zeros(n, np.bool_)
        dscp = np.full(n, -1, np.int64)
        ecn_thr = np.full(n, -1, np.int64)
        encap = np.full(n, -1, np.int64)
        decap = np.zeros(n, np.bool_)
        color = np.zeros(n, np.int8)
        nexthop = np.full(n, -1, np.int64)
        lengths = batch.wire_lengths
        ts = batch.timestamps_ns
        view = res  # what later tables match on: the inner packet once it has been decapsulated
        n_decap = 0
        for t in self.tables:
            idx = self.lookup(t, view, meta)
            idx[drop] = -2
            if n:
                A.apply_kernel(idx, t.act, t.params, t.miss_act, t.miss_params, lengths, ts, fh, egress, drop, dscp,
                               ecn_thr, encap, decap, color, t.cnt_pkts, t.cnt_bytes, t.miss_cnt, self.meter_cfg,
                               self.meter_state, self.yellow_dscp, self.grp_off, self.grp_len, self.mem_port,
                               self.mem_cum, nexthop, self.nh_port, self.mem_nh)
            if int(decap.sum()) != n_decap:
                n_decap = int(decap.sum())
                eff = tab.copy()
                eff[decap, :NCOL] = tab[decap, INNER:]
                eff[decap, INNER:] = 0
                view = ParseResult(eff)
                A.flow_hash_kernel(eff, self.hash_cols, fh)
        vt = view.table
        ttl_expired = (~drop) & (nexthop >= 0) & (vt[:, COL["ip_version"]] != 0) & (vt[:, COL["ttl"]] <= 1)
        drop |= ttl_expired
        no_route = (~drop) & (egress < 0)
        keep = (~drop) & (egress >= 0)
        marked = np.zeros(n, np.int8)
        if n:
            draws = self._rng.integers(0, 1 << A.RED_DRAW_BITS, n, dtype=np.int64)
            A.ecn_kernel(tab, ts, lengths, egress, drop, ecn_thr, decap, self.port_rate_gbps / 8.0,
                         np.zeros(self.ports), np.full(self.ports, -np.inf), marked, self.red_kmin, self.red_kmax,
                         self.red_slope, float(self.mtu_bytes), draws)
        out_len = A.out_lengths(batch.lengths, tab, keep, encap, decap)
        out_off = np.zeros(n, np.int64)
        if n > 1:
            np.cumsum(out_len[:-1], out=out_off[1:])
        out = np.zeros(int(out_len.sum()), np.uint8)
        real_len = np.zeros(n, np.int64)
        if n:
            A.deparse_kernel(batch.data, batch.offsets, batch.lengths, tab, keep, dscp, marked, encap, decap, fh,
                             self.templates, out, out_off, real_len, nexthop, self.nh_mac)
        wire = batch.wire_lengths - batch.lengths + real_len
        processed = PacketBatch(out, out_off, real_len, wire, ts.copy(), batch.linktype)
        return RunResult(self, res, processed, egress, keep, drop, no_route, color, marked, ttl_expired, nexthop)

    def counters(self) -> dict[str, Any]:
        out = {}
        for t in self.tables:
            ents = [{"entry": j, "packets": int(t.cnt_pkts[j]), "bytes": int(t.cnt_bytes[j])}
                    for j in range(len(t.entries))]
            out[t.name] = {"entries": ents, "miss": {"packets": int(t.miss_cnt[0]), "bytes": int(t.miss_cnt[1])}}
        return out


@dataclass
class RunResult:
    pipeline: Pipeline
    parsed: ParseResult
    out: PacketBatch
    egress: np.ndarray
    keep: np.ndarray
    dropped: np.ndarray
    no_route: np.ndarray
    color: np.ndarray
    ecn_marked: np.ndarray
    ttl_expired: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    nexthop: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def per_port(self) -> dict[int, PacketBatch]:
        return {p: self.out.take(np.flatnonzero(self.keep & (self.egress == p)))
                for p in range(self.pipeline.ports)}

    def summary(self) -> dict[str, Any]:
        return {
            "packets": int(len(self.keep)),
            "forwarded": int(self.keep.sum()),
            "dropped": int(self.dropped.sum()),
            "no_route": int(self.no_route.sum()),
            "ttl_expired": int(self.ttl_expired.sum()),
            "ecn_marked": int(self.ecn_marked.sum()),
            "per_port": {str(p): int((self.keep & (self.egress == p)).sum()) for p in range(self.pipeline.ports)},
            "meter_colors": {c: int((self.color == k).sum()) for k, c in enumerate(("green", "yellow", "red"))},
            "parse_errors": int((self.parsed["parse_error"] != 0).sum()),
            "counters": self.pipeline.counters(),
        }


def load_pipeline(path: str | Path) -> Pipeline:
    """Read a pipeline file (``*.json`` as JSON, anything else as YAML) through the one reader."""
    p = Path(path)
    doc = read_document(p, what="pipeline file", formats=("yaml", "json")).data
    return Pipeline(doc, file=str(p))


__all__ = ["ALL_COLUMNS", "Pipeline", "RunResult", "load_pipeline"]
