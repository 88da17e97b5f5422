"""The DPU executes the switch's program: a P4 program's IR (:mod:`p4.programs`) and one switch's entries
(:class:`p4.entries.SwitchEntries`) turned into a :mod:`dpu.pipeline` configuration with the same
forwarding semantics, so the numba datapath can check the Plan's forwarding on real packets.

How the program's parts map (walked from the IR; a table or action this module does not know is an
error, not silently skipped):

==================  =========================================================================================
P4 (v1model)        DPU pipeline
==================  =========================================================================================
``port_admit``      exact table on ``ingress_port`` (the port given to :meth:`dpu.pipeline.Pipeline.run`):
                    ``admit`` = ``noop``, default ``deny`` = ``drop``
``routing_v4/v6``   LPM tables (family 4 / 6): ``set_nexthop_id`` = ``set_nexthop``, ``set_wcmp_group_id`` =
                    ``wcmp``. P4 applies each table only to its own family; the DPU runs both, so a miss is
                    ``noop`` and the packet, left without an egress port, is dropped as "no route"
``wcmp_group_table``  folded into ``wcmp_groups``: the group's members are next hops with the plan's integer
+ selector          weights, chosen by a flow hash over the selector's keys (``hash_fields``: addresses,
                    protocol, L4 ports and, with ``hash_qp``, the BTH destination QP)
``nexthop_table``   folded into ``nexthops``: egress port, source/destination MAC; the DPU's ``set_nexthop``
+ TTL               also decrements TTL / hop limit and drops a packet whose TTL is <= 1
``acl``             ternary table (ingress port, EtherType, IP protocol, L4 destination port, DSCP):
                    ``acl_drop`` = ``drop``, ``punt_to_cpu`` = ``forward`` to :data:`p4.programs.CPU_PORT`,
                    ``acl_set_nexthop_id`` = ``set_nexthop``
egress ECN          ``egress_ecn`` per port from the ``ecn_kmin/kmax/slope`` registers: RED-like marking of
registers           ECT packets by the DPU's egress queue depth in packets of ``mtu_bytes``
IPv4 checksum       the DPU's deparser recomputes it whenever it rewrites the IPv4 header
==================  =========================================================================================

Not modelled: ``dscp_to_tc`` (the DPU has one queue per port, no traffic classes), the ``packet_in``
header of punted packets, per-port counters (the DPU counts per table entry), and v1model's habit of
sending a packet that no table gave a port to port 0 (the DPU drops it as "no route"). The WCMP hash
is the DPU's (fmix64), not the switch's CRC-32: the same weights, not the same member per flow.

>>> from p4.entries import Nexthop, Route, SwitchEntries, WcmpGroup
>>> from p4.programs import build_program
>>> e = SwitchEntries("leaf1", "leaf", {"p1": 1, "p2": 2}, (1, 2), {}, (Route("10.0.0.0/8", wcmp_group_id=1),),
...                   (Nexthop(1, "spine1", "p1", 1, 0x0200000000AA, 0x0200000000A1),
...                    Nexthop(2, "spine2", "p2", 2, 0x0200000000AA, 0x0200000000A2)),
...                   (WcmpGroup(1, ((1, 3), (2, 1))),))
>>> doc = pipeline_doc(build_program("leaf"), e)
>>> [t["name"] for t in doc["tables"]], doc["wcmp_groups"]["g1"]
(['port_admit', 'routing_v4'], [{'nexthop': 'nh1', 'weight': 3}, {'nexthop': 'nh2', 'weight': 1}])
"""

from __future__ import annotations

import ipaddress
from typing import Any

from dpu.pipeline import Pipeline
from fabric.cc import DEFAULT_PORT_MTU_BYTES
from fabric.errors import ConfigError
from p4.entries import SwitchEntries
from p4.ir import Program, Table
from p4.programs import CPU_PORT

#: Drain rate of the DPU's egress queues when the caller names none (the example fabric's 400G ports).
DEFAULT_PORT_RATE_GBPS = 400.0

#: Flow-key metadata of the WCMP selector -> the DPU parse columns that hold it.
SELECTOR_COLUMNS: dict[str, tuple[str, ...]] = {
    "meta.flow_src": ("ip_src0", "ip_src1", "ip_src2", "ip_src3"),
    "meta.flow_dst": ("ip_dst0", "ip_dst1", "ip_dst2", "ip_dst3"),
    "meta.ip_proto": ("ip_proto",),
    "meta.l4_sport": ("l4_sport",),
    "meta.l4_dport": ("l4_dport",),
    "meta.dest_qp": ("bth_dest_qp",),
}
#: Match fields of the ingress tables -> DPU key fields (parse columns, or ``ingress_port`` metadata).
KEY_COLUMNS: dict[str, str] = {
    "standard_metadata.ingress_port": "ingress_port",
    "hdr.ethernet.ethertype": "ethertype",
    "meta.ip_proto": "ip_proto",
    "meta.l4_dport": "l4_dport",
    "meta.dscp": "dscp",
}
#: Tables the DPU does not run, and why.
SKIPPED_TABLES = {"dscp_to_tc": "traffic classes: the DPU has one queue per port"}
#: Actions without parameters of the program -> the DPU's.
PLAIN_ACTIONS = {"admit": "noop", "NoAction": "noop", "deny": "drop", "drop": "drop", "acl_drop": "drop"}


def _nh(i: int) -> str:
    return f"nh{i}"


def _grp(i: int) -> str:
    return f"g{i}"


def _plain(table: Table, action: str, where: str) -> dict[str, Any]:
    if action not in PLAIN_ACTIONS:
        raise ConfigError(f"action {action!r} of table {table.name} has no DPU equivalent", where=where)
    return {"action": PLAIN_ACTIONS[action]}


def _route_action(r: Any, k: int, nexthops: set[int], groups: set[int], switch: str) -> dict[str, Any]:
    where = f"{switch}: routes[{k}] ({r.prefix})"
    if (r.nexthop_id == 0) == (r.wcmp_group_id == 0):
        raise ConfigError("a route names exactly one of nexthop_id and wcmp_group_id", where=where)
    if r.nexthop_id:
        if r.nexthop_id not in nexthops:
            raise ConfigError(f"unknown next hop id {r.nexthop_id}", where=where)
        return {"action": "set_nexthop", "params": {"nexthop": _nh(r.nexthop_id)}}
    if r.wcmp_group_id not in groups:
        raise ConfigError(f"unknown WCMP group id {r.wcmp_group_id}", where=where)
    return {"action": "wcmp", "params": {"group": _grp(r.wcmp_group_id)}}


def _family(prefix: str, where: str) -> int:
    try:
        return ipaddress.ip_network(prefix, strict=False).version
    except ValueError:
        raise ConfigError(f"not an IP prefix: {prefix!r}", where=where) from None


def _hash_fields(table: Table) -> list[str]:
    cols: list[str] = []
    for key in table.keys:
        if key.match != "selector":
            continue
        if key.expr.path not in SELECTOR_COLUMNS:
            raise ConfigError(f"selector key {key.expr.path} has no DPU parse column", where=table.name)
        cols += SELECTOR_COLUMNS[key.expr.path]
    if not cols:
        raise ConfigError("the WCMP table has no selector keys", where=table.name)
    return cols


def pipeline_doc(program: Program, entries: SwitchEntries, *, port_rate_gbps: float = DEFAULT_PORT_RATE_GBPS,
                 mtu_bytes: int = DEFAULT_PORT_MTU_BYTES, seed: int = 0) -> dict[str, Any]:
    """The :mod:`dpu.pipeline` document (plain data, the shape of a pipeline file) that runs
    ``program`` with ``entries``.

    Raises :class:`~fabric.errors.ConfigError` when the entries and the program disagree (another
    role, an IPv6 route for a program without IPv6, a route to an unknown next hop or group) or the
    program has a table or action the DPU cannot run.
    """
    sw = entries.switch
    if entries.role != program.role:
        raise ConfigError(f"entries are for a {entries.role}, the program {program.name} for a {program.role}",
                          where=sw)
    nh_ids = {h.id for h in entries.nexthops}
    grp_ids = {g.id for g in entries.groups}
    nexthops = {_nh(h.id): {"port": h.port, "src_mac": h.src_mac, "dst_mac": h.dst_mac} for h in entries.nexthops}
    groups: dict[str, list[dict[str, Any]]] = {}
    for g in entries.groups:
        for nid, _w in g.members:
            if nid not in nh_ids:
                raise ConfigError(f"WCMP group {g.id} names unknown next hop id {nid}", where=sw)
        groups[_grp(g.id)] = [{"nexthop": _nh(nid), "weight": w} for nid, w in g.members]
    ports_used = {*entries.admit_ports, *(h.port for h in entries.nexthops), *(e.port for e in entries.ecn)}
    tables: list[dict[str, Any]] = []
    hash_fields: list[str] | None = None
    families_routed: set[int] = set()
    for table in program.ingress.tables:
        name = table.name
        if name in SKIPPED_TABLES:
            continue
        if name == "port_admit":
            tables.append({"name": name, "kind": "exact", "key": ["ingress_port"],
                           "entries": [{"key": [p], "action": "noop"} for p in entries.admit_ports],
                           "default": _plain(table, table.default_action, name)})
        elif name in ("routing_v4", "routing_v6"):
            fam = 4 if name == "routing_v4" else 6
            families_routed.add(fam)
            rows = []
            for k, r in enumerate(entries.routes):
                if _family(r.prefix, f"{sw}: routes[{k}]") == fam:
                    rows.append({"prefix": r.prefix, **_route_action(r, k, nh_ids, grp_ids, sw)})
            # P4 applies the table to its own family only; a miss leaves the packet without a port (and an
            # empty table changes nothing)
            if rows:
                tables.append({"name": name, "kind": "lpm", "family": fam, "key": "ip_dst", "entries": rows,
                               "default": {"action": "noop"}})
        elif name == "wcmp_group_table":
            hash_fields = _hash_fields(table)
        elif name == "nexthop_table":
            continue  # next hops are resolved into set_nexthop / WCMP members above
        elif name == "acl":
            if not entries.acl:
                continue
            keys = []
            for key in table.keys:
                if key.expr.path not in KEY_COLUMNS:
                    raise ConfigError(f"ACL key {key.expr.path} has no DPU key field", where=name)
                keys.append((key.name, KEY_COLUMNS[key.expr.path]))
            rows = []
            for k, a in enumerate(entries.acl):
                where = f"{sw}: acl[{k}]"
                given = {m[0]: (m[1], m[2]) for m in a.match}
                unknown = set(given) - {kn for kn, _c in keys}
                if unknown:
                    raise ConfigError(f"unknown ACL match field(s) {sorted(unknown)}", where=where)
                match = [list(given.get(kn, (0, 0))) for kn, _c in keys]
                if a.action == "acl_set_nexthop_id":
                    if a.nexthop_id not in nh_ids:
                        raise ConfigError(f"unknown next hop id {a.nexthop_id}", where=where)
                    act: dict[str, Any] = {"action": "set_nexthop", "params": {"nexthop": _nh(a.nexthop_id)}}
                elif a.action == "punt_to_cpu":
                    act = {"action": "forward", "params": {"port": CPU_PORT}}
                    ports_used.add(CPU_PORT)
                else:
                    act = _plain(table, a.action, where)
                rows.append({"match": match, "priority": a.priority, **act})
            tables.append({"name": name, "kind": "ternary", "key": [c for _n, c in keys], "entries": rows,
                           "default": _plain(table, table.default_action, name)})
        else:
            raise ConfigError(f"table {name} of {program.name} has no DPU equivalent", where=name)
    for k, r in enumerate(entries.routes):
        fam = _family(r.prefix, f"{sw}: routes[{k}]")
        if fam not in families_routed:
            raise ConfigError(f"an IPv{fam} route, but {program.name} has no routing_v{fam} table",
                              where=f"{sw}: routes[{k}] ({r.prefix})")
    if groups and hash_fields is None:
        raise ConfigError(f"WCMP groups, but {program.name} has no wcmp_group_table", where=sw)
    egress_ecn = []
    if program.egress is not None and {"ecn_kmin", "ecn_kmax", "ecn_slope"} <= {r.name for r in program.egress.registers}:
        egress_ecn = [{"port": e.port, "kmin": e.kmin, "kmax": e.kmax, "slope": e.slope}
                      for e in entries.ecn if e.kmax > 0]  # kmax 0: marking off, as the program reads it
    doc: dict[str, Any] = {
        "name": f"{program.name}:{sw}",
        "ports": max(ports_used, default=0) + 1,
        "port_rate_gbps": port_rate_gbps,
        "tables": tables,
        "wcmp_groups": groups,
        "nexthops": nexthops,
        "egress_ecn": egress_ecn,
        "mtu_bytes": mtu_bytes,
        "seed": seed,
    }
    if hash_fields is not None:
        doc["hash_fields"] = hash_fields
    return doc


def to_pipeline(program: Program, entries: SwitchEntries, *, port_rate_gbps: float = DEFAULT_PORT_RATE_GBPS,
                mtu_bytes: int = DEFAULT_PORT_MTU_BYTES, seed: int = 0) -> Pipeline:
    """A compiled :class:`dpu.pipeline.Pipeline` running ``program`` with one switch's ``entries``
    (see :func:`pipeline_doc`). Run it with the packets' ingress port:
    ``to_pipeline(prog, e).run(batch, ingress_port=ports)``."""
    doc = pipeline_doc(program, entries, port_rate_gbps=port_rate_gbps, mtu_bytes=mtu_bytes, seed=seed)
    return Pipeline(doc, file=f"{entries.switch} (p4.dpu)")


__all__ = ["DEFAULT_PORT_RATE_GBPS", "pipeline_doc", "to_pipeline"]
