"""Our struct-packed rtnetlink messages, decoded by pyroute2 (an independent implementation)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from labs.nlbatch import Batch

hops_st = st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 256), st.integers(1, 2**32 - 2)),
                   min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(hops=hops_st, plen=st.integers(0, 32), dst=st.integers(0, 2**32 - 1))
def test_route_messages_decode_identically(hops, plen, dst):
    net = ipaddress.IPv4Network((dst, plen), strict=False)
    b = Batch(None, "t")
    try:
        b.route(str(net), [(oif, str(ipaddress.IPv4Address(gw)), w) for oif, w, gw in hops])
        m = rtmsg(b.msgs[0])
        m.decode()
    finally:
        b.close()
    assert m["dst_len"] == plen and m["table"] == 254 and m["proto"] == 4
    assert (m.get_attr("RTA_DST") or "0.0.0.0") == str(net.network_address)
    if len(hops) == 1:
        assert m.get_attr("RTA_OIF") == hops[0][0]
        assert m.get_attr("RTA_GATEWAY") == str(ipaddress.IPv4Address(hops[0][2]))
        assert m["flags"] & 4  # onlink
    else:
        got = [(h["oif"], h["hops"] + 1, h.get_attr("RTA_GATEWAY"), h["flags"]) for h in m.get_attr("RTA_MULTIPATH")]
        assert got == [(oif, w, str(ipaddress.IPv4Address(gw)), 4) for oif, w, gw in hops]


def test_veth_and_tbf_messages_decode():
    b = Batch(None, "t")
    try:
        b.veth("eth1", 7, 42, "peer0", 9)
        b.tbf(7, 400e6, 50_000, 50_000)
        link, qd = ifinfmsg(b.msgs[0]), tcmsg(b.msgs[1])
        link.decode()
        qd.decode()
    finally:
        b.close()
    assert link["index"] == 7 and link.get_attr("IFLA_IFNAME") == "eth1"
    info = link.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer["index"] == 9 and peer.get_attr("IFLA_IFNAME") == "peer0" and peer.get_attr("IFLA_NET_NS_FD") == 42
    assert qd["index"] == 7 and qd["handle"] == 0x10000 and qd["parent"] == 0xFFFFFFFF
    assert qd.get_attr("TCA_KIND") == "tbf"
    assert qd.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")["rate"] == 50_000_000
