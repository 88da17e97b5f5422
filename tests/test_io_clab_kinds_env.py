"""containerlab kinds by any of their names, and environment variables expanded as containerlab does
(core/file.go: hellt/envsubst with the "no replace" restriction) before the file is parsed."""

from __future__ import annotations

import warnings

import pytest

from fabric.errors import ConfigError
from fabric.io.containerlab import CLAB_KINDS, ClabImportWarning, canonical_kind, expand_env, load_clab


@pytest.mark.parametrize("short, long", [("srl", "nokia_srlinux"), ("ceos", "arista_ceos"), ("crpd", "juniper_crpd"),
                                         ("cvx", "cumulus_cvx"), ("xrd", "cisco_xrd"), ("vr-sros", "nokia_sros"),
                                         ("vr-n9kv", "cisco_n9kv"), ("vr-vmx", "juniper_vmx")])
def test_kind_aliases(short, long):
    assert canonical_kind(short) == canonical_kind(long) == long
    assert canonical_kind(short.upper()) == long  # containerlab lower-cases the kind


def test_every_kind_name_is_listed_once():
    names = [n for names in CLAB_KINDS for n in names]
    assert len(names) == len(set(names))
    for kind in ("linux", "bridge", "ovs-bridge", "host", "ext-container", "sonic-vs", "k8s-kind"):
        assert canonical_kind(kind) == kind


def _load(tmp_path, text, **kw):
    p = tmp_path / "t.clab.yml"
    p.write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fab = load_clab(p)
    return fab, [str(w.message) for w in caught if issubclass(w.category, ClabImportWarning)]


def test_roles_by_kind_alias_and_unknown_kind(tmp_path):
    fab, warned = _load(tmp_path, """name: k
topology:
  nodes:
    s1: {kind: srl}
    s2: {kind: nokia_srlinux}
    c1: {kind: ceos}
    h1: {kind: Linux}
    b1: {kind: ovs-bridge}
    v1: {kind: generic_vm}
    z1: {kind: zebra-os}
  links:
    - endpoints: [s1:e1-1, s2:e1-1]
    - endpoints: [h1:eth1, c1:eth1]
""")
    assert {n: fab.role(n) for n in fab.graph.nodes} == {"s1": "leaf", "s2": "leaf", "c1": "leaf", "h1": "host",
                                                         "b1": "leaf", "v1": "host", "z1": "leaf"}
    assert fab.meta["clab_kinds"]["s1"] == "srl"  # as written
    assert len(warned) == 1 and "line 10: topology.nodes.z1.kind: skipped nothing: unknown containerlab kind " \
        "'zebra-os'" in warned[0], warned


def test_env_expansion_rules():
    env = {"SET": "v", "EMPTY": ""}
    cases = {
        "$SET ${SET}": "v v", "$UNSET ${UNSET}": "$UNSET $UNSET", "${EMPTY}": "$EMPTY",
        "${SET:=d} ${UNSET:=d} ${EMPTY:=d}": "v d d", "${SET:-d} ${UNSET:-d} ${EMPTY:-d}": "v d d",
        "${SET=d} ${UNSET=d} ${EMPTY=d}": "v d $EMPTY", "${SET-d} ${UNSET-d}": "v d",
        "${SET:+a} ${UNSET:+a} ${EMPTY+a}": "a  a", "$$SET": "$SET", "$1 ${1}": "$1 ${1}",
        "${UNSET:=$SET}": "v", "cost $_": "cost $_", "a: 1e3": "a: 1e3",
    }
    for text, want in cases.items():
        assert expand_env(text, env) == want, text


def test_env_in_a_lab_file(tmp_path, monkeypatch):
    text = """name: ${LAB_NAME:=envlab}
topology:
  defaults:
    kind: ${KIND:=linux}
  nodes:
    a: {exec: ["ip addr add $ADDR dev eth1"]}
    b: {}
  links:
    - endpoints: ["a:${IF:=eth1}", "b:eth1"]
"""
    monkeypatch.delenv("LAB_NAME", raising=False)
    monkeypatch.delenv("ADDR", raising=False)
    monkeypatch.setenv("IF", "eth9")
    fab, _ = _load(tmp_path, text)
    assert fab.name == "envlab" and fab.meta["clab_kinds"] == {"a": "linux", "b": "linux"}
    assert fab.meta["clab_exec"]["a"] == ["ip addr add $ADDR dev eth1"]  # unset: left for the shell
    assert {lk.port_a for lk in fab.links()} | {lk.port_b for lk in fab.links()} == {"eth9", "eth1"}
    monkeypatch.setenv("LAB_NAME", "mine")
    assert _load(tmp_path, text)[0].name == "mine"
    p = tmp_path / "bad.clab.yml"
    p.write_text("name: x\ntopology:\n  nodes:\n    a: {kind: ${KIND\n")
    with pytest.raises(ConfigError, match=r"bad.clab.yml: line 4, column 15: closing brace expected"):
        load_clab(p)
