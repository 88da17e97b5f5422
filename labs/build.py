"""Building a fabric lab into the kernel from its :class:`~labs.routing.Layout`, then verifying it.

Order: namespaces (with their sysctls), veth pairs (through the relay's middle namespace for delayed
links when the relay is the delay backend), then per namespace one netlink batch: links up,
address, routes, TBF rates; then the delay backend starts and puts every delay in force. Last,
everything is read back (rates per interface, route counts per namespace, delays in the relay or
netem) and any difference fails the build. :class:`labs.lab.Lab` rolls back on any error.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fabric.errors import LabError
from labs import netns
from labs.constants import RT_SCOPE_LINK, TBF_LATENCY_US, TBF_MIN_BURST_BYTES
from labs.linkops import LinkOps, link_ends
from labs.nlbatch import Batch
from labs.p4lab import P4_SWITCH_SYSCTLS, check_macs
from labs.routing import Layout, LinkPlan, relay_ns_name

#: sysctls of every node namespace. ip_forward: switches route; fib_multipath_hash_policy=1: hash
#: multipath on the L4 5-tuple like a switch (ip-sysctl.rst); rp_filter off because multipath
#: return traffic may arrive on another link; IPv6 off so no RS/DAD/MLD frames disturb counters.
NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.fib_multipath_hash_policy": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}
RELAY_SYSCTLS = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}


def link_record(lp: LinkPlan, *, rate_scale: float, delay_scale: float) -> dict[str, Any]:
    """A link of the lab's state: the layout's link with the delay and rate the lab applies."""
    d = asdict(lp)
    d["delay_us"] = lp.delay_us * delay_scale
    d["model_delay_us"] = lp.delay_us
    d["jitter_us"] = 0.0
    d["loss_pct"] = 0.0
    d["rate_bps"] = lp.capacity_gbps * 1e9 * rate_scale if rate_scale > 0 else None
    d["relayed"] = False
    return d


class FabricBuilder:
    """Builds ``lay`` into the namespaces ``names`` (node -> namespace name) of the lab ``ops``."""

    def __init__(self, ops: LinkOps, lay: Layout, names: dict[str, str], *, rate_scale: float,
                 delay_scale: float, relay_all: bool, timings: dict[str, float],
                 p4_switches: frozenset[str] = frozenset()) -> None:
        self.ops, self.lay, self.names = ops, lay, names
        self.rate_scale, self.delay_scale, self.relay_all = rate_scale, delay_scale, relay_all
        self.timings = timings
        #: switches the P4 agent forwards for (:mod:`labs.p4lab`); empty: a kernel lab
        self.p4_switches = p4_switches

    def build(self) -> None:
        ops, lay, st = self.ops, self.lay, self.ops.state
        t = time.perf_counter()
        ns = ops.opened
        for n in lay.nodes:
            ns[n] = netns.Namespace.create(self.names[n])
            netns.write_sysctls(ns[n].fd, NODE_SYSCTLS if n not in self.p4_switches else
                                {**NODE_SYSCTLS, **P4_SWITCH_SYSCTLS}, self.names[n])
        relay = None
        if st["backend"] == "relay":
            relay = netns.Namespace.create(relay_ns_name(ops.prefix))
            ns["@relay"] = relay
            netns.write_sysctls(relay.fd, RELAY_SYSCTLS, relay.name)
        self.timings["namespaces_s"] = time.perf_counter() - t
        batch = {k: Batch(v.fd, v.name) for k, v in ns.items()}
        try:
            self.links(batch, relay)
        finally:
            for b in batch.values():
                b.close()
        st["routes"] = {n: [[d, [list(h) for h in hops]] for d, hops in lay.routes[n]] for n in lay.nodes}
        st["neighbours"] = lay.neighbours
        st["notes"] += lay.notes
        st["wcmp_groups_applied"] = lay.wcmp_groups_applied
        t = time.perf_counter()
        ops.delay.start()  # the relay starts with every relayed link's impairments in its config
        for rec in st["links"]:
            if rec["delay_us"] > 0 and not rec.get("relayed"):
                ops.delay.apply(rec)
        self.timings["relay_s"] = time.perf_counter() - t
        t = time.perf_counter()
        self.verify()
        self.timings["verify_s"] = time.perf_counter() - t

    def links(self, batch: dict[str, Batch], relay: netns.Namespace | None) -> None:
        """veth pairs, then per namespace one batch: links up, address, routes, TBF."""
        ops, lay, st = self.ops, self.lay, self.ops.state
        ns = ops.opened
        t = time.perf_counter()
        ifx: dict[str, dict[str, int]] = {k: {"lo": 1} for k in ns}

        def new_index(node: str, ifname: str) -> int:
            ifx[node][ifname] = len(ifx[node]) + 1
            return ifx[node][ifname]

        netem = st["backend"] == "netem"
        p4 = bool(self.p4_switches)
        if p4:
            from p4.runtime import port_mac
        for lp in lay.links:
            rec = link_record(lp, rate_scale=self.rate_scale, delay_scale=self.delay_scale)
            ia = new_index(lp.a, lp.if_a)
            ib = new_index(lp.b, lp.if_b)
            # a P4 lab's interfaces carry the MACs the generated next hops write (labs.p4lab)
            ma, mb = (port_mac(lp.a, lp.port_a), port_mac(lp.b, lp.port_b)) if p4 else (None, None)
            if relay is not None and (self.relay_all or rec["delay_us"] > 0):
                rec["relayed"] = True
                ra, rb = f"r{lp.id}a", f"r{lp.id}b"
                rec["relay_if_a"], rec["relay_if_b"] = ra, rb
                batch[lp.a].veth(lp.if_a, ia, relay.fd, ra, new_index("@relay", ra), mac=ma)
                batch[lp.b].veth(lp.if_b, ib, relay.fd, rb, new_index("@relay", rb), mac=mb)
            else:
                batch[lp.a].veth(lp.if_a, ia, ns[lp.b].fd, lp.if_b, ib, mac=ma, peer_mac=mb)
            st["links"].append(rec)
        for b in batch.values():
            b.flush()
        for rec in st["links"]:
            # frames read from a veth with TX checksum offload carry a partial checksum: off wherever a
            # userspace program (the relay, the P4 agent) forwards them
            if rec["relayed"] or p4:
                for node, ifn in link_ends(rec):
                    ns[node].set_tx_checksum(ifn, False)
        self.timings["links_s"] = time.perf_counter() - t
        t = time.perf_counter()
        # a link the fabric marks down stays administratively down (and carries no routes)
        down = {end for r in st["links"] if not r["up"] for end in link_ends(r)}
        for k, b in batch.items():
            for ifn, i in ifx[k].items():
                if (k, ifn) not in down:
                    b.link_up(i, ifn)
        for n in lay.nodes:
            b, ix = batch[n], ifx[n]
            b.addr(1, lay.address[n], 32)
            for m, ifs in lay.neighbours[n].items():
                b.route(f"{lay.address[m]}/32", [(ix[i], None, 1) for i in ifs], scope=RT_SCOPE_LINK, onlink=False)
            for dst, hops in lay.routes[n]:
                b.route(dst, [(ix[ifn], lay.address[m], w) for ifn, m, w in hops])
        for rec in st["links"]:
            if rec["rate_bps"] and not (netem and rec["delay_us"] > 0):
                for node, ifn in link_ends(rec):
                    rate_Bps = int(rec["rate_bps"] / 8)
                    batch[node].tbf(ifx[node][ifn], rec["rate_bps"], max(TBF_MIN_BURST_BYTES, rate_Bps // 1000),
                                    TBF_LATENCY_US, f"{node}:{ifn}")
        for b in batch.values():
            b.flush()
        self.timings["config_s"] = time.perf_counter() - t
        st["ifindex"] = {k: v for k, v in ifx.items()}

    def verify(self) -> None:
        """Read everything back from the kernel and the relay: rates per interface, route counts
        per namespace, delays in the relay. Any difference fails the build."""
        ops, lay, st = self.ops, self.lay, self.ops.state
        want_rate: dict[str, dict[str, int]] = {}
        for rec in st["links"]:
            if rec["rate_bps"] and not rec.get("netem"):
                for node, ifn in link_ends(rec):
                    want_rate.setdefault(node, {})[ifn] = int(rec["rate_bps"] / 8) * 8
        for n in lay.nodes:
            b = Batch(ops.opened[n].fd, ops.opened[n].name)
            try:
                got = b.tbf_rates() if n in want_rate else {}
                have = b.static_routes()
            finally:
                b.close()
            for ifn, r in want_rate.get(n, {}).items():
                g = got.get(st["ifindex"][n][ifn])
                if g is None or abs(g - r) > 8:
                    raise LabError(f"rate on {ifn} reads back {g} b/s, asked for {r}", where=f"node {n!r}")
            want_routes = len(lay.routes[n]) + len(lay.neighbours[n])
            if have != want_routes:
                raise LabError(f"{have} routes read back, {want_routes} installed", where=f"node {n!r}")
        in_force = ops.delay.read_all(st["links"])
        for rec in st["links"]:
            ops.verify(rec, in_force[rec["id"]])
        if self.p4_switches:
            check_macs(ops, lay)
