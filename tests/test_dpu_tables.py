"""Tables against brute-force references: exact (dict), LPM v4/v6 (scan all prefixes), ternary (scan
by priority, earliest entry on ties)."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpu.tables import ExactTable, LpmTable, TernaryTable
from fabric.errors import ConfigError


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2**64 - 1)), unique=True, max_size=60),
       queries=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=80))
def test_exact_vs_dict(keys, queries):
    t = ExactTable("t", ["a", "b"], keys)
    ref = {k: i for i, k in enumerate(keys)}
    # half the queries reuse stored second fields so they can hit
    q = [(a, keys[b % len(keys)][1] if keys and b < 2 else b) for a, b in queries]
    got = t.lookup(np.array(q, dtype=np.uint64).reshape(len(q), 2))
    assert got.tolist() == [ref.get(k, -1) for k in q]


def test_exact_duplicate_rejected():
    with pytest.raises(ConfigError, match=r"entries\[2\]: duplicate key \[1, 2\]"):
        ExactTable("t", ["a", "b"], [[1, 2], [2, 1], [1, 2]])


def _lpm_ref(nets, addr):
    best, best_len = -1, -1
    for i, n in enumerate(nets):
        if addr in n and n.prefixlen > best_len:
            best, best_len = i, n.prefixlen
    return best


@pytest.mark.parametrize("family", [4, 6])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_lpm_vs_scan(family, data):
    bits = 32 if family == 4 else 128
    cls = ipaddress.IPv4Network if family == 4 else ipaddress.IPv6Network
    addr_cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    # few base addresses so prefixes nest (longest-prefix ties between many matching prefixes)
    bases = data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=1, max_size=4))
    raw = data.draw(st.lists(st.tuples(st.sampled_from(bases), st.integers(0, bits)), max_size=40))
    nets = list(dict.fromkeys(cls((a, ln), strict=False) for a, ln in raw))
    t = LpmTable("r", family, [str(n) for n in nets])
    qs = [addr_cls(data.draw(st.sampled_from(bases)) ^ data.draw(st.integers(0, 2**bits - 1)) >> data.draw(
        st.integers(0, bits))) for _ in range(30)]
    got = t.lookup_text([str(q) for q in qs])
    assert got.tolist() == [_lpm_ref(nets, q) for q in qs]


def test_lpm_checks():
    with pytest.raises(ConfigError, match="duplicate prefix 10.0.0.0/8"):
        LpmTable("r", 4, ["10.0.0.0/8", "10.0.0.0/8"])
    with pytest.raises(ConfigError, match=r"entries\[0\].prefix: bad prefix"):
        LpmTable("r", 4, ["10.0.0.1/8"])
    with pytest.raises(ConfigError, match="not IPv4"):
        LpmTable("r", 4, ["2001:db8::/32"])
    assert LpmTable("r", 6, ["::/0", "2001:db8::/32", "2001:db8::1/128"]).lookup_text(
        ["2001:db8::1", "2001:db8::2", "fe80::1"]).tolist() == [2, 1, 0]


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(0, 15), st.integers(0, 15),
                                  st.integers(0, 3)), max_size=30),
       queries=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), max_size=50))
def test_ternary_vs_scan(entries, queries):
    matches = [[(v1, m1), (v2, m2)] for v1, m1, v2, m2, _ in entries]
    prios = [p for *_, p in entries]
    t = TernaryTable("acl", ["a", "b"], matches, prios)

    def ref(q):
        best, bp = -1, None
        for i, ((v1, m1), (v2, m2)) in enumerate(matches):
            if q[0] & m1 == v1 & m1 and q[1] & m2 == v2 & m2 and (bp is None or prios[i] > bp):
                best, bp = i, prios[i]
        return best

    got = t.lookup(np.array(queries, dtype=np.uint64).reshape(len(queries), 2))
    assert got.tolist() == [ref(q) for q in queries]
