"""Fuzzing the loaders: whatever the input, the result is a Fabric or a FabricError, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.errors import FabricError
from fabric.io import load_fabric
from fabric.io.gml import zoo_path
from fabric.io.yamlio import fabric_from_dict

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["leaf", "spine", "a", "b", "eth1", "copper", "wdm"]))
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(
    st.sampled_from(["name", "nodes", "links", "role", "a", "b", "capacity_gbps", "length_km", "kind", "up",
                     "port_a", "port_b", "lat", "lon", "site", "builder", "params", "k", "generated_by", "x"]),
    c, max_size=5), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(data=json_like)
def test_fabric_from_dict_never_crashes(data):
    try:
        fabric_from_dict(data, file="fuzz.yaml")
    except FabricError as exc:
        assert str(exc).startswith("fuzz.yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".clab.yml", ".gml"]))
def test_loaders_on_garbage_files(tmp_path, blob, suffix):
    p = tmp_path / f"g{suffix}"
    p.write_bytes(blob)
    try:
        load_fabric(p)
    except FabricError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 5000), junk=st.sampled_from(["", "]", "[", "node [ id 0 ]", "edge [ source 0 target 999 ]"]))
def test_truncated_or_corrupted_gml(tmp_path, cut, junk):
    text = zoo_path("Abilene").read_text()
    p = tmp_path / "t.gml"
    p.write_text(text[:cut] + junk)
    try:
        load_fabric(p)
    except FabricError as exc:
        assert str(p) in str(exc)


def test_builder_with_bad_params_is_a_config_error(tmp_path):
    with pytest.raises(FabricError, match="bad builder parameters"):
        fabric_from_dict({"name": "x", "builder": {"name": "fat_tree", "params": {"q": 1}}})
