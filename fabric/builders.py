"""Builders for the fabrics AI compute centres use, each documented with the formula its counts follow.

Every builder records in ``fabric.meta``: ``builder`` (its name), ``params`` (the arguments, so a YAML
file can say ``builder: fat_tree`` and be rebuilt) and ``formulas`` with the exact bisection bandwidth
and hop diameter derived from its regular structure (tests check these against max-flow and BFS).
Node names sort naturally so that the first half of the endpoints in name order is the first half of
pods/leaves/servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabric.errors import TopologyError
from fabric.io.limits import check_count
from fabric.topology import Fabric

__all__ = ["Fabric", "Site", "WanLink", "fat_tree", "clos", "rail_optimized", "dual_plane", "multi_site",
           "example_two_site"]
from fabric.constants import DEFAULT_ROUTE_FACTOR, great_circle_km

#: Default GPU NIC / host port speed: 400 Gb/s (ConnectX-7 class; REFERENCE.md line rates).
DEFAULT_PORT_GBPS = 400.0
#: Default capacity of one wavelength between centres: 1.6 Tb/s (REFERENCE.md, MIIT target).
WAVELENGTH_GBPS = 1600.0
#: GPUs per server, one NIC (rail) each: 8, as in HGX/DGX H100-class servers.
DEFAULT_GPUS_PER_SERVER = 8
#: Servers of a rail-optimised or dual-plane build, and per site of :func:`example_two_site`, when none
#: is given (*assumption*: the smallest size that shows the structure and runs in a lab).
DEFAULT_SERVERS = 4
#: Switch radix of a fat-tree when none is given: k = 4, the 16-host example of Al-Fares et al.
#: (SIGCOMM 2008), the smallest that has every layer.
DEFAULT_FAT_TREE_K = 4
#: Leaf-spine Clos size when none is given (*assumption*: small; 4 leaves of 8 hosts under 2 spines).
DEFAULT_CLOS_LEAVES = 4
DEFAULT_CLOS_SPINES = 2
DEFAULT_HOSTS_PER_LEAF = 8


def _need(cond: bool, what: str, builder: str) -> None:
    if not cond:
        raise TopologyError(what, where=builder)


def _cap(builder: str, nodes: int, links: int) -> None:
    """Refuse a build whose node or link count (from its formula) is above the caps, before building.

    See :data:`fabric.io.limits.MAX_BUILD_NODES` (``FABRICCTL_MAX_BUILD_NODES`` raises it) and
    :data:`~fabric.io.limits.MAX_BUILD_LINKS`.
    """
    check_count(nodes, "MAX_BUILD_NODES", f"{builder} nodes")
    check_count(links, "MAX_BUILD_LINKS", f"{builder} links")


def fat_tree(k: int, capacity_gbps: float = DEFAULT_PORT_GBPS, *, name: str | None = None) -> Fabric:
    """The k-ary fat-tree of Al-Fares et al. (SIGCOMM 2008), built from k-port switches.

    k pods, each with k/2 edge (role ``leaf``) and k/2 aggregation (role ``spine``) switches;
    (k/2)² core switches (role ``superspine``); each edge switch has k/2 hosts. Counts:

    - hosts k³/4, switches 5k²/4 (k² in pods + k²/4 core), links 3k³/4 (k³/4 per tier);
    - bisection k³/8 · capacity (full bisection: every host can send at line rate across the cut);
    - diameter 6 hops host to host (host-edge-agg-core-agg-edge-host).

    >>> f = fat_tree(4)
    >>> f.counts_by_role()
    {'host': 16, 'leaf': 8, 'spine': 8, 'superspine': 4}
    """
    _need(isinstance(k, int) and k >= 2 and k % 2 == 0, f"k must be an even integer >= 2, got {k!r}", "fat_tree")
    half = k // 2
    _cap(f"fat_tree(k={k})", k**3 // 4 + 5 * k * k // 4, 3 * k**3 // 4)
    f = Fabric(name or f"fat-tree-k{k}")
    cores = [[f"c{i}-{j}" for j in range(half)] for i in range(half)]
    for i in range(half):
        for j in range(half):
            f.add_node(cores[i][j], "superspine")
    for p in range(k):
        aggs = [f"p{p}-a{i}" for i in range(half)]
        edges = [f"p{p}-e{i}" for i in range(half)]
        for a in aggs:
            f.add_node(a, "spine", pod=p)
        for e in edges:
            f.add_node(e, "leaf", pod=p)
        for e in edges:
            for h in range(half):
                host = f"{e}-h{h}"
                f.add_node(host, "host", pod=p)
                f.add_link(host, e, capacity_gbps)
            for a in aggs:
                f.add_link(e, a, capacity_gbps)
        for i, a in enumerate(aggs):
            for j in range(half):
                f.add_link(a, cores[i][j], capacity_gbps)
    f.meta.update(builder="fat_tree", params={"k": k, "capacity_gbps": capacity_gbps})
    f.meta["formulas"] = {
        "bisection_gbps": k**3 / 8 * capacity_gbps,
        "bisection_method": "formula k^3/8 x capacity (Al-Fares full bisection)",
        "diameter_hops": 6, "diameter_method": "formula (host-edge-agg-core-agg-edge-host)",
    }
    return f


def clos(leaves: int, spines: int, hosts_per_leaf: int, uplinks_per_leaf: int | None = None, *,
         host_gbps: float = DEFAULT_PORT_GBPS, uplink_gbps: float = DEFAULT_PORT_GBPS,
         host_role: str = "host", name: str | None = None) -> Fabric:
    """Two-tier leaf-spine Clos.

    Every leaf has ``hosts_per_leaf`` hosts at ``host_gbps`` and ``uplinks_per_leaf`` uplinks at
    ``uplink_gbps`` spread evenly over the spines (a multiple of ``spines``; parallel links when more
    than one per spine). Counts: L·H hosts, L + S switches, L·(H + U) links. Leaf oversubscription
    is (H·host_gbps) / (U·uplink_gbps). Bisection for an even number of leaves is
    (L/2)·min(H·host_gbps, U·uplink_gbps); diameter 4 hops (2 with one leaf).

    >>> clos(4, 2, 8, 2, host_gbps=100, uplink_gbps=100).oversubscription()
    {'leaf': 4.0}
    """
    uplinks = spines if uplinks_per_leaf is None else uplinks_per_leaf
    _need(leaves >= 1 and spines >= 1 and hosts_per_leaf >= 1, "leaves, spines and hosts_per_leaf must be >= 1", "clos")
    _need(uplinks >= spines and uplinks % spines == 0,
          f"uplinks_per_leaf ({uplinks}) must be a positive multiple of spines ({spines})", "clos")
    _cap("clos", leaves * hosts_per_leaf + leaves + spines, leaves * (hosts_per_leaf + uplinks))
    f = Fabric(name or f"clos-{leaves}x{spines}")
    sp = [f"spine{j + 1}" for j in range(spines)]
    for s in sp:
        f.add_node(s, "spine")
    for i in range(leaves):
        leaf = f"leaf{i + 1}"
        f.add_node(leaf, "leaf")
        for h in range(hosts_per_leaf):
            host = f"{leaf}-h{h + 1}"
            f.add_node(host, host_role)
            f.add_link(host, leaf, host_gbps)
        for u in range(uplinks):
            f.add_link(leaf, sp[u % spines], uplink_gbps)
    f.meta.update(builder="clos", params={
        "leaves": leaves, "spines": spines, "hosts_per_leaf": hosts_per_leaf, "uplinks_per_leaf": uplinks,
        "host_gbps": host_gbps, "uplink_gbps": uplink_gbps, "host_role": host_role})
    if leaves % 2 == 0:
        f.meta["formulas"] = {
            "bisection_gbps": leaves / 2 * min(hosts_per_leaf * host_gbps, uplinks * uplink_gbps),
            "bisection_method": "formula (L/2) x min(H x host_gbps, U x uplink_gbps)",
            "diameter_hops": 4, "diameter_method": "formula (host-leaf-spine-leaf-host)",
        }
    return f


def rail_optimized(servers: int, gpus_per_server: int = DEFAULT_GPUS_PER_SERVER, *, servers_per_su: int | None = None,
                   spines: int | None = None, uplinks_per_leaf: int | None = None,
                   gpu_gbps: float = DEFAULT_PORT_GBPS, uplink_gbps: float = DEFAULT_PORT_GBPS,
                   name: str | None = None) -> Fabric:
    """Rail-optimised two-tier fabric, the layout of current GPU clusters.

    Servers are grouped into scalable units (SU) of ``servers_per_su``. In each SU there is one leaf
    per rail: GPU i of every server in the SU connects to the rail-i leaf, so same-rank GPUs talk
    through one switch. Leaves connect to the spines (which join the rails and the SUs) with
    ``uplinks_per_leaf`` links, by default as many as the leaf has GPU ports (non-blocking).
    Counts with R = gpus_per_server, N = servers, s = servers_per_su, U = uplinks_per_leaf:

    - GPUs N·R; leaves R·N/s; links N·R + (R·N/s)·U;
    - bisection, SU count even: (SUs/2)·R·min(s·gpu_gbps, U·uplink_gbps); one SU: (N·R/2)·gpu_gbps;
    - diameter 4 hops (gpu-leaf-spine-leaf-gpu), 2 with one SU and one rail.

    Each GPU node carries ``rail`` (its index) and ``server``; leaves carry ``rail``.
    """
    s = servers_per_su or min(servers, 32)
    _need(servers >= 1 and gpus_per_server >= 1, "servers and gpus_per_server must be >= 1", "rail_optimized")
    _need(servers % s == 0, f"servers ({servers}) must be a multiple of servers_per_su ({s})", "rail_optimized")
    sus = servers // s
    up = uplinks_per_leaf if uplinks_per_leaf is not None else max(1, round(s * gpu_gbps / uplink_gbps))
    nsp = spines if spines is not None else up
    _need(nsp >= 1 and up % nsp == 0, f"uplinks_per_leaf ({up}) must be a multiple of spines ({nsp})",
          "rail_optimized")
    leaves = gpus_per_server * sus
    _cap(f"rail_optimized(servers={servers})", servers * gpus_per_server + leaves + nsp,
         servers * gpus_per_server + leaves * up)
    f = Fabric(name or f"rail-{servers}x{gpus_per_server}")
    _rail_plane(f, servers, gpus_per_server, s, nsp, up, gpu_gbps, uplink_gbps, plane=None)
    f.meta.update(builder="rail_optimized", params={
        "servers": servers, "gpus_per_server": gpus_per_server, "servers_per_su": s, "spines": nsp,
        "uplinks_per_leaf": up, "gpu_gbps": gpu_gbps, "uplink_gbps": uplink_gbps})
    _rail_formulas(f, sus, gpus_per_server, s, up, gpu_gbps, uplink_gbps, planes=1)
    return f


def dual_plane(servers: int, gpus_per_server: int = DEFAULT_GPUS_PER_SERVER, *, servers_per_segment: int | None = None,
               spines_per_plane: int | None = None, uplinks_per_leaf: int | None = None,
               port_gbps: float = 200.0, uplink_gbps: float = DEFAULT_PORT_GBPS,
               name: str | None = None) -> Fabric:
    """Dual-plane rail-optimised fabric in the style of Alibaba HPN (SIGCOMM 2024).

    Every GPU has one NIC with two ports (2 x 200 Gb/s by default, as in HPN); port 1 goes to the
    rail leaf of plane A, port 2 to the rail leaf of plane B, and the two planes have separate spines,
    so a flow's path is fixed by its plane and hash polarisation between tiers cannot happen. Each
    plane is a :func:`rail_optimized` fabric over the same GPUs. Counts: GPUs N·R; leaves 2·R·N/s;
    spines 2·spines_per_plane; bisection twice that of one plane; diameter 4 hops.
    """
    s = servers_per_segment or min(servers, 32)
    _need(servers >= 1 and gpus_per_server >= 1, "servers and gpus_per_server must be >= 1", "dual_plane")
    _need(servers % s == 0, f"servers ({servers}) must be a multiple of servers_per_segment ({s})", "dual_plane")
    up = uplinks_per_leaf if uplinks_per_leaf is not None else max(1, round(s * port_gbps / uplink_gbps))
    nsp = spines_per_plane if spines_per_plane is not None else up
    _need(nsp >= 1 and up % nsp == 0, f"uplinks_per_leaf ({up}) must be a multiple of spines_per_plane ({nsp})",
          "dual_plane")
    leaves = 2 * gpus_per_server * (servers // s)
    _cap(f"dual_plane(servers={servers})", servers * gpus_per_server + leaves + 2 * nsp,
         2 * servers * gpus_per_server + leaves * up)
    f = Fabric(name or f"dual-plane-{servers}x{gpus_per_server}")
    for plane in ("A", "B"):
        _rail_plane(f, servers, gpus_per_server, s, nsp, up, port_gbps, uplink_gbps, plane=plane)
    f.meta.update(builder="dual_plane", params={
        "servers": servers, "gpus_per_server": gpus_per_server, "servers_per_segment": s,
        "spines_per_plane": nsp, "uplinks_per_leaf": up, "port_gbps": port_gbps, "uplink_gbps": uplink_gbps})
    _rail_formulas(f, servers // s, gpus_per_server, s, up, port_gbps, uplink_gbps, planes=2)
    return f


def _rail_plane(f: Fabric, servers: int, rails: int, per_su: int, nsp: int, up: int,
                gpu_gbps: float, uplink_gbps: float, plane: str | None) -> None:
    sfx = f"-p{plane}" if plane else ""
    width = len(str(servers))
    spine_names = [f"spine{j + 1}{sfx}" for j in range(nsp)]
    for sp in spine_names:
        f.add_node(sp, "spine", plane=plane)
    for su in range(servers // per_su):
        leaves = []
        for r in range(rails):
            leaf = f"su{su + 1}-rail{r}{sfx}"
            f.add_node(leaf, "leaf", rail=r, plane=plane)
            leaves.append(leaf)
        for srv in range(su * per_su, (su + 1) * per_su):
            for r in range(rails):
                gpu = f"s{srv + 1:0{width}d}-g{r}"
                if gpu not in f:
                    f.add_node(gpu, "gpu", rail=r, label=f"server{srv + 1}")
                f.add_link(gpu, leaves[r], gpu_gbps)
        for leaf in leaves:
            for u in range(up):
                f.add_link(leaf, spine_names[u % nsp], uplink_gbps)


def _rail_formulas(f: Fabric, sus: int, rails: int, per_su: int, up: int, gpu_gbps: float,
                   uplink_gbps: float, planes: int) -> None:
    if sus % 2 == 0:
        bis = sus / 2 * rails * planes * min(per_su * gpu_gbps, up * uplink_gbps)
        method = "formula (SUs/2) x rails x planes x min(servers_per_su x gpu_gbps, U x uplink_gbps)"
    elif sus == 1:
        bis = per_su * rails / 2 * gpu_gbps * planes
        method = "formula (GPUs/2) x gpu_gbps x planes (one SU: every rail is one leaf)"
    else:
        return
    f.meta["formulas"] = {"bisection_gbps": bis, "bisection_method": method,
                          "diameter_hops": 4 if (sus > 1 or rails > 1 or planes > 1) else 2,
                          "diameter_method": "formula (gpu-leaf-spine-leaf-gpu)"}


@dataclass(frozen=True)
class Site:
    """One site of a multi-site fabric: its fabric and where it is."""

    name: str
    fabric: Fabric
    lat: float | None = None
    lon: float | None = None
    dci_nodes: int = 1
    #: Capacity of each link from a top-tier switch to each DCI node.
    dci_uplink_gbps: float = DEFAULT_PORT_GBPS


@dataclass(frozen=True)
class WanLink:
    """Fibre between the DCI nodes of two sites. ``length_km`` None: great circle x route factor."""

    a: str
    b: str
    length_km: float | None = None
    capacity_gbps: float = WAVELENGTH_GBPS
    count: int = 1


def multi_site(sites: Sequence[Site] | Mapping[str, Fabric], wan_links: Sequence[WanLink | tuple], *,
               route_factor: float = DEFAULT_ROUTE_FACTOR, name: str = "multi-site") -> Fabric:
    """Several fabrics joined through DCI nodes by WAN links with ``length_km``.

    Each site's nodes are renamed ``{site}-{node}`` and get ``site``; each site gets ``dci_nodes``
    DCI nodes (``{site}-dci1``...) linked to every switch of the site's top tier. A WAN link of
    ``count`` parallel ``wdm`` links at ``capacity_gbps`` joins DCI node i of one site to DCI node i of
    the other (round robin). Without ``length_km`` the length is the great-circle distance between the
    sites' coordinates times ``route_factor`` (see :data:`fabric.constants.DEFAULT_ROUTE_FACTOR`).
    Counts: sum of the sites' nodes + DCI nodes; links: sites' links + DCI uplinks + WAN links.
    """
    if isinstance(sites, Mapping):
        sites = [Site(n, fab) for n, fab in sites.items()]
    _need(len(sites) >= 1, "multi_site needs at least one site", "multi_site")
    names = [s.name for s in sites]
    _need(len(set(names)) == len(names), f"duplicate site names in {names}", "multi_site")
    f = Fabric(name)
    by_name = {s.name: s for s in sites}
    for s in sites:
        top = max((r for r in ("leaf", "spine", "superspine") if s.fabric.nodes(r)),
                  key=("leaf", "spine", "superspine").index, default=None)
        _need(top is not None, f"site {s.name!r} has no switches to attach a DCI node to", "multi_site")
        for n, d in s.fabric.graph.nodes(data=True):
            attrs = {k: v for k, v in d.items() if k != "site"}
            role = attrs.pop("role")
            if s.lat is not None and "lat" not in attrs:
                attrs["lat"], attrs["lon"] = s.lat, s.lon
            f.add_node(f"{s.name}-{n}", role, site=s.name, **attrs)
        for lk in s.fabric.links():
            f.add_link(f"{s.name}-{lk.a}", f"{s.name}-{lk.b}", lk.capacity_gbps, length_km=lk.length_km,
                       kind=lk.kind, up=lk.up, port_a=lk.port_a, port_b=lk.port_b)
        for i in range(s.dci_nodes):
            dci = f"{s.name}-dci{i + 1}"
            f.add_node(dci, "dci", site=s.name, lat=s.lat, lon=s.lon)
            for sw in s.fabric.nodes(top):
                f.add_link(f"{s.name}-{sw}", dci, s.dci_uplink_gbps, kind="optical")
    for raw in wan_links:
        w = raw if isinstance(raw, WanLink) else WanLink(*raw)
        for end in (w.a, w.b):
            _need(end in by_name, f"WAN link names unknown site {end!r} (sites: {', '.join(names)})", "multi_site")
        _need(w.a != w.b, f"WAN link joins site {w.a!r} to itself", "multi_site")
        length = w.length_km
        if length is None:
            sa, sb = by_name[w.a], by_name[w.b]
            _need(None not in (sa.lat, sa.lon, sb.lat, sb.lon),
                  f"WAN link {w.a}--{w.b} has no length_km and a site has no coordinates", "multi_site")
            length = great_circle_km(sa.lat, sa.lon, sb.lat, sb.lon) * route_factor  # type: ignore[arg-type]
        na, nb = by_name[w.a].dci_nodes, by_name[w.b].dci_nodes
        for c in range(w.count):
            f.add_link(f"{w.a}-dci{c % na + 1}", f"{w.b}-dci{c % nb + 1}", w.capacity_gbps,
                       length_km=length, kind="wdm")
    f.meta.update(builder="multi_site", params={"sites": names, "route_factor": route_factor})
    return f


#: Coordinates of the two sites of the built-in example (city centres, degrees; public geodata).
EXAMPLE_SITES = {"beijing": (39.9075, 116.39723), "shanghai": (31.22222, 121.45806)}
#: Route factor of the example's WAN fibre (*assumption*: fibre 25% longer than the great circle).
EXAMPLE_ROUTE_FACTOR = 1.25


def example_two_site(servers_per_site: int = DEFAULT_SERVERS,
                     gpus_per_server: int = DEFAULT_GPUS_PER_SERVER) -> Fabric:
    """The built-in example of ``fabricctl demo``: two rail-optimised sites joined by 1.6T WAN links.

    Each site: ``servers_per_site`` servers of 8 GPUs at 400G, one leaf per rail, non-blocking spines,
    two DCI nodes; Beijing and Shanghai are joined by 2 x 1.6 Tb/s wavelengths over fibre of
    great-circle length x :data:`EXAMPLE_ROUTE_FACTOR`.
    """
    sites = []
    for site, (lat, lon) in EXAMPLE_SITES.items():
        fab = rail_optimized(servers_per_site, gpus_per_server, servers_per_su=servers_per_site,
                             spines=4, uplinks_per_leaf=4, name=site)
        sites.append(Site(site, fab, lat=lat, lon=lon, dci_nodes=2))
    return multi_site(sites, [WanLink("beijing", "shanghai", capacity_gbps=WAVELENGTH_GBPS, count=2)],
                      route_factor=EXAMPLE_ROUTE_FACTOR, name="example-two-site")
