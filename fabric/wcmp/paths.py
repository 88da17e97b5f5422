"""Candidate paths as per-destination DAGs: up-down on Clos-like fabrics, downhill elsewhere.

Switches forward by destination, so the candidate paths towards one destination are kept as a
directed acyclic graph (DAG) of next hops; a path is any walk through it. Two rules:

- **Tiered (Clos-like) fabrics** (nodes of at least two switch tiers: leaf/spine/superspine/dci):
  the minimum-hop DAG. In a Clos every minimum-hop path between two endpoints climbs to the lowest
  common tier and comes down again, so these are exactly the valley-free up-down paths that
  data-centre routing (BGP with one ASN per tier, RFC 7938) allows. When failures leave a pair no
  up-down path, the minimum-hop DAG takes the shortest path with a valley (leaf-spine-leaf-spine-leaf)
  instead of declaring the pair unreachable (tests cover this case).
- **Everything else** (a WAN graph such as Topology Zoo's Chinanet, every node a ``dci``): the
  "downhill" DAG by fibre length, which allows a hop u→v whenever v is strictly closer to the
  destination than u. It contains the shortest path, every loop-free alternate and therefore the k
  shortest loop-free paths for small k; :func:`k_shortest_paths` lists them explicitly.

Both rules give a DAG (distance strictly decreases along every edge), so destination-based splitting
can never loop. Single-homed endpoints are represented by their switch: traffic to any GPU under a
leaf uses that leaf as the destination key (``dst`` of a WCMP group is then the leaf), and the
endpoint's own access link carries a fixed load no routing can change. An endpoint with links to
several switches (dual-plane NICs) is its own destination key and its own injection node.

Only links that are up are used. Parallel links between two nodes form one *bundle*; the LP works on
bundles and the WCMP groups split each bundle's share over its member ports by capacity.
"""

from __future__ import annotations

import copy
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import networkx as nx
import numpy as np

from fabric.errors import InfeasibleError
from fabric.topology import ENDPOINT_ROLES, ROLE_TIER, Fabric, Link

#: Hop penalty in km-equivalents for the downhill DAG on untiered graphs, so that zero-length links
#: still make progress (an *assumption*: 1 km of fibre ≈ 5 µs, about one switch hop of latency).
HOP_PENALTY_KM = 1.0


@dataclass(frozen=True)
class Member:
    """One physical link of a bundle, seen from the sending node ``u``: its key and u's port."""

    key: int
    port: str
    capacity_gbps: float


class Network:
    """The up part of a Fabric as directed bundles, with per-destination DAGs computed on demand.

    Build one per fabric state (a failure gives a new Network). Cheap to build: O(links).
    """

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.adj: dict[str, dict[str, list[Member]]] = defaultdict(dict)
        self.length_km: dict[tuple[str, str], float] = {}
        for lk in fabric.links(up_only=True):
            self.adj[lk.a].setdefault(lk.b, []).append(Member(lk.key, lk.port_a, lk.capacity_gbps))
            self.adj[lk.b].setdefault(lk.a, []).append(Member(lk.key, lk.port_b, lk.capacity_gbps))
            old = self.length_km.get((lk.a, lk.b))
            if old is None or lk.length_km < old:
                self.length_km[(lk.a, lk.b)] = self.length_km[(lk.b, lk.a)] = lk.length_km
        roles = dict(fabric.graph.nodes(data="role"))
        self.is_endpoint = {n: r in ENDPOINT_ROLES for n, r in roles.items()}
        switch_tiers = {ROLE_TIER[r] for r in roles.values() if r not in ENDPOINT_ROLES and ROLE_TIER[r] >= 0}
        #: True when min-hop (up-down) DAGs are used; False: downhill by fibre length.
        self.tiered = len(switch_tiers) >= 2
        #: Switches (every non-endpoint node) as indices for vectorised BFS.
        self.switches = [n for n in fabric.graph.nodes if not self.is_endpoint[n]]
        self.sw_index = {n: i for i, n in enumerate(self.switches)}
        self._nbr: list[np.ndarray] = []
        rows, cols = [], []
        for i, n in enumerate(self.switches):
            nb = np.array([self.sw_index[v] for v in self.adj.get(n, {}) if not self.is_endpoint[v]], dtype=np.int64)
            self._nbr.append(nb)
            rows += [i] * len(nb)
            cols += nb.tolist()
        self._rows = np.array(rows, dtype=np.int64)
        self._cols = np.array(cols, dtype=np.int64)
        self._dist: dict[str, np.ndarray] = {}
        self._succ: dict[tuple[str, str], list[str]] = {}
        self._caps: dict[tuple[str, str, int], float] | None = None
        self._ports: dict[tuple[str, str, int], str] | None = None

    def member_caps(self) -> dict[tuple[str, str, int], float]:
        """Capacity of every directed member link (u, v, key) that is up (cached)."""
        if self._caps is None:
            self._caps = {(u, v, m.key): m.capacity_gbps for u in self.adj for v, ms in self.adj[u].items()
                          for m in ms}
        return self._caps

    def port(self, u: str, v: str, key: int) -> str:
        """u's port on link (u, v, key)."""
        if self._ports is None:
            self._ports = {(x, y, m.key): m.port for x in self.adj for y, ms in self.adj[x].items() for m in ms}
        return self._ports[(u, v, key)]

    def without(self, down: Iterable[Link]) -> Network:
        """A copy with the given links taken out (cheap: adjacency copied, DAG caches dropped)."""
        net = copy.copy(self)
        net.adj = defaultdict(dict, {u: dict(vs) for u, vs in self.adj.items()})
        net._nbr = list(self._nbr)
        touched = set()
        for lk in down:
            for x, y in ((lk.a, lk.b), (lk.b, lk.a)):
                ms = [m for m in net.adj[x].get(y, []) if m.key != lk.key]
                if ms:
                    net.adj[x][y] = ms
                else:
                    net.adj[x].pop(y, None)
                touched.add(x)
        for x in touched:
            if x in net.sw_index:
                net._nbr[net.sw_index[x]] = np.array(
                    [net.sw_index[v] for v in net.adj.get(x, {}) if not net.is_endpoint[v]], dtype=np.int64)
        net._dist = {}
        net._succ = {}
        for cache in ("_caps", "_ports"):
            old = getattr(self, cache)
            if old is not None:
                new = dict(old)
                for lk in down:
                    new.pop((lk.a, lk.b, lk.key), None)
                    new.pop((lk.b, lk.a, lk.key), None)
                setattr(net, cache, new)
        return net

    # ------------------------------------------------------------------ bundles
    def capacity_gbps(self, u: str, v: str) -> float:
        return sum(m.capacity_gbps for m in self.adj[u].get(v, ()))

    def members(self, u: str, v: str) -> list[Member]:
        return self.adj[u].get(v, [])

    def switch_neighbours(self, e: str) -> list[str]:
        return [n for n in self.adj.get(e, {}) if not self.is_endpoint[n]]

    # ------------------------------------------------------------------ endpoints
    def dst_key(self, endpoint: str) -> str:
        """The destination a switch matches for traffic to ``endpoint``: its only switch, else itself."""
        nb = self.switch_neighbours(endpoint)
        return nb[0] if len(nb) == 1 else endpoint

    def inject(self, endpoint: str) -> str:
        """Where traffic from ``endpoint`` enters the routed part: its only switch, else itself."""
        return self.dst_key(endpoint)

    def access(self, endpoint: str, *, outbound: bool) -> tuple[str, str] | None:
        """The fixed access bundle of a single-homed endpoint ((e, leaf) outbound, (leaf, e) inbound)."""
        nb = self.switch_neighbours(endpoint)
        if len(nb) != 1:
            return None
        return (endpoint, nb[0]) if outbound else (nb[0], endpoint)

    # ------------------------------------------------------------------ DAGs
    def dist_array(self, dst: str) -> np.ndarray:
        """Distance of every switch to ``dst`` (hops when tiered, km + hop penalty otherwise; inf if
        unreachable), indexed like :attr:`switches`."""
        d = self._dist.get(dst)
        if d is None:
            d = self._dist[dst] = self._build(dst)
        return d

    def distance(self, node: str, dst: str) -> float:
        if node == dst:
            return 0.0
        i = self.sw_index.get(node)
        if i is None:  # a multi-homed source endpoint
            succ = self.source_successors(node, dst)
            return (min(self.distance(v, dst) for v in succ) + 1) if succ else float("inf")
        return float(self.dist_array(dst)[i])

    def _build(self, dst: str) -> np.ndarray:
        n = len(self.switches)
        dist = np.full(n, np.inf)
        if dst in self.sw_index:
            start = [self.sw_index[dst]]
            d0 = 0.0
        else:  # a multi-homed endpoint: its switches are at distance 1
            start = [self.sw_index[v] for v in self.switch_neighbours(dst)]
            d0 = 1.0
        if self.tiered:
            frontier = np.array(start, dtype=np.int64)
            dist[frontier] = d0
            level = d0
            while frontier.size:
                level += 1
                cand = np.concatenate([self._nbr[i] for i in frontier]) if frontier.size else frontier
                cand = np.unique(cand)
                cand = cand[np.isinf(dist[cand])]
                dist[cand] = level
                frontier = cand
            return dist
        heap = []
        for i in start:
            w = 0.0 if d0 == 0 else self.length_km[(dst, self.switches[i])] + HOP_PENALTY_KM
            dist[i] = w
            heap.append((w, self.switches[i]))
        heapq.heapify(heap)
        while heap:
            du, u = heapq.heappop(heap)
            if du > dist[self.sw_index[u]]:
                continue
            for v in self.adj.get(u, ()):
                if self.is_endpoint[v]:
                    continue
                nd = du + self.length_km[(u, v)] + HOP_PENALTY_KM
                j = self.sw_index[v]
                if nd < dist[j]:
                    dist[j] = nd
                    heapq.heappush(heap, (nd, v))
        return dist

    def _successors(self, u: str, dst: str) -> list[str]:
        dist = self.dist_array(dst)
        i = self.sw_index[u]
        du = dist[i]
        if not np.isfinite(du):
            return []
        nb = self._nbr[i]
        sel = nb[dist[nb] == du - 1] if self.tiered else nb[dist[nb] < du]
        out = [self.switches[j] for j in sel]
        if dst not in self.sw_index and dst in self.adj.get(u, {}) and (du == 1.0 or not self.tiered):
            out.append(dst)  # a multi-homed endpoint destination is at distance 0
        return out

    def source_successors(self, src: str, dst: str) -> list[str]:
        """Successors of a multi-homed source endpoint (it is not a transit node, so not in the DAG)."""
        dist = self.dist_array(dst)
        cands = [(dist[self.sw_index[v]] + (0 if self.tiered else self.length_km[(src, v)]), v)
                 for v in self.switch_neighbours(src) if np.isfinite(dist[self.sw_index[v]])]
        if not cands:
            return []
        if self.tiered:
            best = min(c for c, _ in cands)
            return [v for c, v in cands if c == best]
        return [v for _c, v in cands]

    def successors(self, u: str, dst: str) -> list[str]:
        """Next hops from ``u`` towards destination key ``dst`` on candidate paths (cached)."""
        if u == dst:
            return []
        got = self._succ.get((u, dst))
        if got is None:
            if self.is_endpoint.get(u, False):
                got = self.source_successors(u, dst)
            else:
                got = self._successors(u, dst)
            self._succ[(u, dst)] = got
        return got

    def reachable(self, src_node: str, dst: str) -> bool:
        return src_node == dst or bool(self.successors(src_node, dst))

    def order(self, dst: str, nodes: set[str]) -> list[str]:
        """``nodes`` in topological order of the DAG towards ``dst`` (farthest first)."""
        return sorted(nodes, key=lambda n: (-self.distance(n, dst), n))

    def region(self, dst: str, starts: set[str]) -> set[str]:
        """Nodes reachable in the DAG from the injection nodes ``starts`` (including them and dst)."""
        seen = set(starts)
        stack = list(starts)
        while stack:
            u = stack.pop()
            for v in self.successors(u, dst):
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
        return seen

    def paths(self, src: str, dst: str, limit: int = 1000) -> list[list[str]]:
        """Candidate node paths from endpoint ``src`` to endpoint ``dst`` (at most ``limit``)."""
        key = self.dst_key(dst)
        start = self.inject(src)
        if not self.reachable(start, key):
            raise InfeasibleError(f"no path from {src} to {dst}", where="demand")
        prefix = [src] if start != src else []
        suffix = [dst] if key != dst else []
        out: list[list[str]] = []
        for mid in self._walks(start, key, limit):
            out.append(prefix + mid + suffix)
        return out

    def _walks(self, u: str, dst: str, limit: int) -> Iterator[list[str]]:
        stack: list[tuple[str, list[str]]] = [(u, [u])]
        n = 0
        while stack and n < limit:
            node, path = stack.pop()
            if node == dst:
                n += 1
                yield path
                continue
            for v in reversed(self.successors(node, dst)):
                stack.append((v, path + [v]))


def k_shortest_paths(fabric: Fabric, src: str, dst: str, k: int = 4) -> list[list[str]]:
    """The ``k`` shortest loop-free paths by fibre length (+1 km per hop) over links that are up,
    never through an endpoint (networkx ``shortest_simple_paths``, Yen's algorithm)."""
    g = nx.Graph()
    for lk in fabric.links(up_only=True):
        w = lk.length_km + HOP_PENALTY_KM
        if not g.has_edge(lk.a, lk.b) or g[lk.a][lk.b]["w"] > w:
            g.add_edge(lk.a, lk.b, w=w)
    transit = [n for n in g if fabric.role(n) not in ENDPOINT_ROLES or n in (src, dst)]
    h = g.subgraph(transit)
    try:
        gen = nx.shortest_simple_paths(h, src, dst, weight="w")
        return [p for _, p in zip(range(k), gen, strict=False)]
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        raise InfeasibleError(f"no path from {src} to {dst}", where="demand") from None
