"""The Fabric: a typed wrapper over ``networkx.MultiGraph``.

Nodes carry ``role`` (one of :data:`ROLES`), ``site`` and optionally ``lat``/``lon`` (degrees),
``asn`` and ``loopback``. Links are multigraph edges (parallel links are real in Clos fabrics) with
``capacity_gbps``, ``length_km``, ``kind`` (copper/optical/wdm), ``up`` and the port name on each end.
Derived quantities (latency, per-tier capacity, oversubscription) are computed, never stored twice.

>>> f = Fabric("tiny")
>>> f.add_node("h1", role="host"); f.add_node("l1", role="leaf")
>>> f.add_link("h1", "l1", capacity_gbps=400)
Link(a='h1', b='l1', key=0, capacity_gbps=400.0, length_km=0.0, kind='copper', up=True, port_a='eth1', port_b='eth1')
>>> f.counts_by_role()
{'host': 1, 'leaf': 1}
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from fabric.constants import FIBRE_US_PER_KM
from fabric.errors import TopologyError

#: Node roles, lowest tier first. Endpoints (gpu, nic, host) originate traffic; switches forward it.
ROLES: tuple[str, ...] = ("gpu", "nic", "host", "leaf", "spine", "superspine", "ocs", "dci")
ENDPOINT_ROLES = frozenset({"gpu", "nic", "host"})
SWITCH_ROLES = frozenset({"leaf", "spine", "superspine", "dci"})
#: Tier of each role for up/down classification (ocs is a transparent patch panel: same tier as
#: what it connects, so it has no tier of its own; dci sits above the site's fabric).
ROLE_TIER: dict[str, int] = {"gpu": 0, "nic": 0, "host": 0, "leaf": 1, "spine": 2, "superspine": 3,
                             "dci": 4, "ocs": -1}
LINK_KINDS: tuple[str, ...] = ("copper", "optical", "wdm")
NODE_KEYS = frozenset({"role", "site", "lat", "lon", "asn", "loopback", "rail", "plane", "pod", "label"})
LINK_KEYS = frozenset({"capacity_gbps", "length_km", "kind", "up", "port_a", "port_b", "a", "b"})


@dataclass(frozen=True)
class Link:
    """One link as seen from outside: endpoints in the order they were added, and its attributes."""

    a: str
    b: str
    key: int
    capacity_gbps: float
    length_km: float
    kind: str
    up: bool
    port_a: str
    port_b: str

    @property
    def latency_us(self) -> float:
        """One-way propagation delay in fibre at 4.897 µs/km (REFERENCE.md)."""
        return self.length_km * FIBRE_US_PER_KM

    def attributes(self) -> dict[str, Any]:
        """``capacity_gbps`` plus the attributes that differ from their defaults (for files)."""
        out: dict[str, Any] = {"capacity_gbps": self.capacity_gbps}
        if self.length_km:
            out["length_km"] = self.length_km
        if self.kind != "copper":
            out["kind"] = self.kind
        if not self.up:
            out["up"] = False
        return out

    @property
    def name(self) -> str:
        """``a:port_a--b:port_b``, the name CLI flags such as ``--fail`` accept."""
        return f"{self.a}:{self.port_a}--{self.b}:{self.port_b}"


class Fabric:
    """A network fabric: named nodes with roles, links with capacities.

    Construction is cheap and has no side effects; builders in :mod:`fabric.builders` and loaders in
    :mod:`fabric.io` produce Fabrics; planners read them and never mutate them.
    """

    def __init__(self, name: str = "fabric", graph: nx.MultiGraph | None = None) -> None:
        self.name = name
        self.graph: nx.MultiGraph = graph if graph is not None else nx.MultiGraph()
        #: Per-node counter used to name ports eth1, eth2, ... when a link is added without names.
        self._next_port: dict[str, int] = defaultdict(lambda: 1)
        self._ports: dict[str, set[str]] = defaultdict(set)
        #: Metadata from a builder: ``builder`` and ``params`` it was called with, and ``formulas``
        #: (bisection, diameter) that hold only while the fabric is unchanged: any change drops them.
        self.meta: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
    def add_node(self, name: str, role: str, *, site: str | None = None, lat: float | None = None,
                 lon: float | None = None, asn: int | None = None, loopback: str | None = None,
                 **extra: Any) -> None:
        """Add a node; ``role`` must be one of :data:`ROLES` and the name must be new."""
        if not isinstance(name, str) or not name:
            raise TopologyError("node name must be a non-empty string", where=f"node {name!r}")
        if name in self.graph:
            raise TopologyError("duplicate node name", where=f"node {name!r}")
        if role not in ROLES:
            raise TopologyError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})",
                                where=f"node {name!r}")
        unknown = set(extra) - NODE_KEYS
        if unknown:
            raise TopologyError(f"unknown node attribute(s) {sorted(unknown)}", where=f"node {name!r}")
        attrs: dict[str, Any] = {"role": role}
        if site is not None:
            attrs["site"] = site
        if lat is not None or lon is not None:
            if lat is None or lon is None:
                raise TopologyError("lat and lon must be given together", where=f"node {name!r}")
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                raise TopologyError(f"coordinates out of range: lat={lat}, lon={lon}", where=f"node {name!r}")
            attrs["lat"], attrs["lon"] = float(lat), float(lon)
        if asn is not None:
            attrs["asn"] = int(asn)
        if loopback is not None:
            attrs["loopback"] = loopback
        attrs.update({k: v for k, v in extra.items() if v is not None})
        self.graph.add_node(name, **attrs)
        self.meta.pop("formulas", None)

    def add_link(self, a: str, b: str, capacity_gbps: float, *, length_km: float = 0.0,
                 kind: str = "copper", up: bool = True, port_a: str | None = None,
                 port_b: str | None = None) -> Link:
        """Add a link between two existing nodes and return it.

        Ports default to the next free ``ethN`` on each node. Raises :class:`TopologyError` on a
        self-loop, an unknown node, a port already in use, or a non-positive capacity.
        """
        where = f"link {a}--{b}"
        if a == b:
            raise TopologyError("a link cannot connect a node to itself", where=where)
        for n in (a, b):
            if n not in self.graph:
                raise TopologyError(f"unknown node {n!r}", where=where)
        try:
            cap = float(capacity_gbps)
            length = float(length_km)
        except (TypeError, ValueError) as exc:
            raise TopologyError(f"capacity_gbps and length_km must be numbers ({exc})", where=where) from None
        if not cap > 0 or math.isinf(cap):
            raise TopologyError(f"capacity_gbps must be positive and finite, got {capacity_gbps}", where=where)
        if not length >= 0 or math.isinf(length):
            raise TopologyError(f"length_km must be zero or positive and finite, got {length_km}", where=where)
        if kind not in LINK_KINDS:
            raise TopologyError(f"unknown link kind {kind!r} (expected one of {', '.join(LINK_KINDS)})",
                                where=where)
        pa = port_a if port_a is not None else self._new_port(a)
        pb = port_b if port_b is not None else self._new_port(b)
        for node, port in ((a, pa), (b, pb)):
            if port in self._ports[node]:
                raise TopologyError(f"port {port!r} of node {node!r} is already used", where=where)
        self._ports[a].add(pa)
        self._ports[b].add(pb)
        key = self.graph.add_edge(a, b, a=a, b=b, capacity_gbps=cap, length_km=length, kind=kind,
                                  up=bool(up), port_a=pa, port_b=pb)
        self.meta.pop("formulas", None)
        return Link(a, b, key, cap, length, kind, bool(up), pa, pb)

    def _new_port(self, node: str) -> str:
        used = self._ports[node]
        n = self._next_port[node]
        while f"eth{n}" in used:
            n += 1
        self._next_port[node] = n + 1
        return f"eth{n}"

    def set_link_up(self, a: str, b: str, key: int, up: bool) -> None:
        """Mark a link up or down (failures are modelled, not deleted)."""
        try:
            self.graph.edges[a, b, key]["up"] = bool(up)
        except KeyError:
            raise TopologyError("no such link", where=f"link {a}--{b} key {key}") from None
        self.meta.pop("formulas", None)

    def copy(self) -> Fabric:
        """A deep copy (planners that fail links work on a copy)."""
        f = Fabric(self.name, self.graph.copy())
        for n, ports in self._ports.items():
            f._ports[n] = set(ports)
        f._next_port.update(self._next_port)
        f.meta = dict(self.meta)
        return f

    def digest(self) -> str:
        """``sha256:<hex>`` of the fabric's canonical form: nodes with roles, links with their ports,
        capacities and up/down state. Names, order of insertion, coordinates and lengths do not enter
        (a plan's sections depend on what forwards traffic, not on where a node is drawn), so the same
        fabric built, saved and loaded again has the same digest, and a failed link changes it.

        >>> a = Fabric("a"); a.add_node("s", "leaf"); a.add_node("t", "leaf")
        >>> _ = a.add_link("s", "t", 400)
        >>> b = a.copy(); b.name = "b"; a.digest() == b.digest()
        True
        >>> b.set_link_up("s", "t", 0, False); a.digest() == b.digest()
        False
        """
        import hashlib
        import json

        nodes = sorted([n, str(r)] for n, r in self.graph.nodes(data="role"))
        links = sorted(sorted([[lk.a, lk.port_a], [lk.b, lk.port_b]]) + [float(lk.capacity_gbps), bool(lk.up)]
                       for lk in self.links())
        text = json.dumps({"nodes": nodes, "links": links}, separators=(",", ":"), sort_keys=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    # ------------------------------------------------------------------ queries
    def __contains__(self, node: object) -> bool:
        return node in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def node(self, name: str) -> dict[str, Any]:
        """The attribute dict of a node (read it, do not change it)."""
        try:
            return self.graph.nodes[name]
        except KeyError:
            raise TopologyError(f"unknown node {name!r}") from None

    def role(self, name: str) -> str:
        return str(self.node(name)["role"])

    def nodes(self, role: str | Iterable[str] | None = None) -> list[str]:
        """Node names, optionally only those of a role or of several roles, in insertion order."""
        if role is None:
            return list(self.graph.nodes)
        roles = {role} if isinstance(role, str) else set(role)
        return [n for n, r in self.graph.nodes(data="role") if r in roles]

    def endpoints(self) -> list[str]:
        """Nodes that originate traffic (gpu, nic, host)."""
        return self.nodes(ENDPOINT_ROLES)

    def links(self, *, up_only: bool = False) -> Iterator[Link]:
        """Every link once, with endpoints in the order they were added."""
        for _u, _v, k, d in self.graph.edges(keys=True, data=True):
            if up_only and not d["up"]:
                continue
            yield Link(d["a"], d["b"], k, d["capacity_gbps"], d["length_km"], d["kind"], d["up"],
                       d["port_a"], d["port_b"])

    def links_between(self, a: str, b: str) -> list[Link]:
        """All parallel links between two nodes."""
        if not self.graph.has_edge(a, b):
            return []
        return [Link(d["a"], d["b"], k, d["capacity_gbps"], d["length_km"], d["kind"], d["up"],
                     d["port_a"], d["port_b"]) for k, d in self.graph[a][b].items()]

    def find_link(self, spec: str) -> Link:
        """Resolve a link from ``a--b`` (the first parallel link), ``a--b#key`` or ``a:port--b:port``."""
        text = spec.strip()
        if "--" not in text:
            raise TopologyError("link must be written a--b, a--b#key or a:port--b:port", where=f"link {spec!r}")
        left, right = text.split("--", 1)
        key: int | None = None
        if "#" in right:
            right, ks = right.rsplit("#", 1)
            key = int(ks) if ks.isdigit() else None
        pa = pb = None
        if ":" in left and left.split(":", 1)[0] in self.graph:
            left, pa = left.split(":", 1)
        if ":" in right and right.split(":", 1)[0] in self.graph:
            right, pb = right.split(":", 1)
        for cand in self.links_between(left, right):
            ports = {(cand.a, cand.port_a), (cand.b, cand.port_b)}
            if key is not None and cand.key != key:
                continue
            if pa is not None and (left, pa) not in ports:
                continue
            if pb is not None and (right, pb) not in ports:
                continue
            return cand
        raise TopologyError("no such link in the fabric", where=f"link {spec!r}")

    def up_graph(self) -> nx.MultiGraph:
        """A view of the graph with only links that are up."""
        return nx.subgraph_view(self.graph, filter_edge=lambda u, v, k: self.graph.edges[u, v, k]["up"])

    def sites(self) -> list[str]:
        """Sites in first-seen order (nodes without a site are in no site)."""
        seen: dict[str, None] = {}
        for _n, s in self.graph.nodes(data="site"):
            if s is not None:
                seen.setdefault(s, None)
        return list(seen)

    # ------------------------------------------------------------------ derived views
    def counts_by_role(self) -> dict[str, int]:
        """Number of nodes per role, in :data:`ROLES` order."""
        c = Counter(r for _n, r in self.graph.nodes(data="role"))
        return {r: c[r] for r in ROLES if c[r]}

    def capacity_gbps_total(self) -> float:
        """Sum of the capacities of links that are up (one direction)."""
        return float(sum(d["capacity_gbps"] for _u, _v, d in self.graph.edges(data=True) if d["up"]))

    def tier_of_link(self, a: str, b: str) -> str:
        """Name of the tier a link belongs to: its two roles, lower tier first (``gpu-leaf``)."""
        ra, rb = self.graph.nodes[a]["role"], self.graph.nodes[b]["role"]
        if (ROLE_TIER[ra], ra) > (ROLE_TIER[rb], rb):
            ra, rb = rb, ra
        return f"{ra}-{rb}"

    def capacity_by_tier(self) -> dict[str, float]:
        """Capacity in Gb/s of up links per tier (``gpu-leaf``, ``leaf-spine``, ``dci-dci``...)."""
        out: dict[str, float] = defaultdict(float)
        roles = self.graph.nodes
        for u, v, d in self.graph.edges(data=True):
            if not d["up"]:
                continue
            ru, rv = roles[u]["role"], roles[v]["role"]
            if (ROLE_TIER[ru], ru) > (ROLE_TIER[rv], rv):
                ru, rv = rv, ru
            out[f"{ru}-{rv}"] += d["capacity_gbps"]
        return dict(sorted(out.items(), key=lambda kv: (ROLE_TIER[kv[0].split("-")[0]], kv[0])))

    def oversubscription(self) -> dict[str, float]:
        """Oversubscription per switch role: capacity facing down / capacity facing up.

        Summed over all switches of the role and over links that are up; a role with nothing above it
        (the top tier) is left out. 1.0 is non-blocking, 3.0 means 3:1. OCS nodes are looked through:
        a link to an OCS counts in the direction of the switch on its far side.
        """
        down: dict[str, float] = defaultdict(float)
        up: dict[str, float] = defaultdict(float)
        roles = self.graph.nodes
        for u, v, d in self.graph.edges(data=True):
            if not d["up"]:
                continue
            tu, tv = ROLE_TIER[roles[u]["role"]], ROLE_TIER[roles[v]["role"]]
            for x, tx, ty in ((u, tu, tv), (v, tv, tu)):
                rx = roles[x]["role"]
                if rx not in SWITCH_ROLES or rx == "dci":
                    continue
                if ty == -1:  # via an OCS: towards a peer of the same tier (direct connect), so up
                    up[rx] += d["capacity_gbps"]
                elif ty < tx:
                    down[rx] += d["capacity_gbps"]
                elif ty > tx:
                    up[rx] += d["capacity_gbps"]
        return {r: down[r] / up[r] for r in ROLES if up.get(r, 0) > 0 and down.get(r, 0) > 0}

    def bisection_gbps(self) -> tuple[float, str]:
        """Bisection bandwidth in Gb/s (one direction) and how it was obtained.

        A builder records the exact value from its formula (see :mod:`fabric.builders`); that value is
        dropped as soon as the fabric is changed. Otherwise the endpoints are split into two halves in
        (site, name) order and the min cut between the halves is computed by max-flow over up links:
        that is the capacity across this particular bisection, an *upper bound* on the minimum
        bisection (equal to it for the symmetric fabrics the builders make).
        """
        f = self.meta.get("formulas")
        if f and "bisection_gbps" in f:
            return float(f["bisection_gbps"]), str(f["bisection_method"])
        return self.cut_across_halves_gbps(), "max-flow across a (site, name)-ordered halving of endpoints: an upper bound"

    def cut_across_halves_gbps(self) -> float:
        """Min cut (max-flow) between the first and second half of the endpoints, Gb/s."""
        eps = sorted(self.endpoints(), key=lambda n: (str(self.graph.nodes[n].get("site", "")), _natkey(n)))
        if len(eps) < 2:
            return 0.0
        half = len(eps) // 2
        g = nx.DiGraph()
        for u, v, d in self.graph.edges(data=True):
            if not d["up"]:
                continue
            for x, y in ((u, v), (v, u)):
                cap = g[x][y]["capacity"] + d["capacity_gbps"] if g.has_edge(x, y) else d["capacity_gbps"]
                g.add_edge(x, y, capacity=cap)
        src, dst = ("__src__",), ("__dst__",)
        for n in eps[:half]:
            g.add_edge(src, n)  # no capacity attribute: infinite
        for n in eps[half:2 * half]:
            g.add_edge(n, dst)
        value, _ = nx.maximum_flow(g, src, dst)
        return float(value)

    def diameter_hops(self, exact_limit: int = 5000) -> tuple[int, str]:
        """Hop diameter over up links, and how it was obtained.

        Builders record it by formula. Otherwise it is exact (all-pairs BFS) up to ``exact_limit``
        nodes, and above that the double-sweep lower bound of networkx.approximation.
        """
        f = self.meta.get("formulas")
        if f and "diameter_hops" in f:
            return int(f["diameter_hops"]), str(f["diameter_method"])
        g = nx.Graph(self.up_graph())
        if g.number_of_nodes() == 0:
            return 0, "empty"
        if not nx.is_connected(g):
            raise TopologyError("fabric is disconnected: diameter is infinite", where=self.name)
        if g.number_of_nodes() <= exact_limit:
            return int(nx.diameter(g)), "exact"
        return int(nx.approximation.diameter(g, seed=0)), "lower bound (double sweep)"

    def validate(self) -> list[str]:
        """Check the fabric as a whole; raise :class:`TopologyError` on an error, return warnings.

        Errors: a link attribute out of range (cannot happen through :meth:`add_link`, but graphs can be
        handed in directly), a node without a known role. Warnings: isolated nodes, more than one
        connected component, endpoints attached to nothing.
        """
        warnings: list[str] = []
        for n, d in self.graph.nodes(data=True):
            if d.get("role") not in ROLES:
                raise TopologyError(f"unknown role {d.get('role')!r}", where=f"node {n!r}")
        for u, v, d in self.graph.edges(data=True):
            if u == v:
                raise TopologyError("a link cannot connect a node to itself", where=f"link {u}--{v}")
            if not d.get("capacity_gbps", 0) > 0:
                raise TopologyError(f"capacity_gbps must be positive, got {d.get('capacity_gbps')}",
                                    where=f"link {u}--{v}")
            if not d.get("length_km", 0) >= 0:
                raise TopologyError(f"length_km must be zero or positive, got {d.get('length_km')}",
                                    where=f"link {u}--{v}")
        isolated = [n for n, deg in self.graph.degree() if deg == 0]
        if isolated:
            shown = ", ".join(isolated[:5]) + (" ..." if len(isolated) > 5 else "")
            warnings.append(f"{len(isolated)} isolated node(s): {shown}")
        if self.graph.number_of_nodes() and not nx.is_connected(self.graph):
            warnings.append(f"{nx.number_connected_components(self.graph)} connected components")
        return warnings

    def summary(self) -> dict[str, Any]:
        """The stable summary behind ``topo show --json``."""
        bis, method = self.bisection_gbps()
        try:
            diam, dmethod = self.diameter_hops()
        except TopologyError:
            diam, dmethod = -1, "disconnected"
        links = list(self.links())
        longest = max((lk.length_km for lk in links), default=0.0)
        return {
            "name": self.name,
            "nodes": len(self),
            "nodes_by_role": self.counts_by_role(),
            "links": len(links),
            "links_down": sum(1 for lk in links if not lk.up),
            "sites": self.sites(),
            "capacity_gbps_total": self.capacity_gbps_total(),
            "capacity_gbps_by_tier": self.capacity_by_tier(),
            "oversubscription": self.oversubscription(),
            "bisection_gbps": bis,
            "bisection_method": method,
            "diameter_hops": diam,
            "diameter_method": dmethod,
            "max_link_latency_us": longest * FIBRE_US_PER_KM,
            "total_length_km": sum(lk.length_km for lk in links),
        }


def _natkey(name: str) -> tuple[Any, ...]:
    """Sort key that orders ``gpu2`` before ``gpu10``."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))
