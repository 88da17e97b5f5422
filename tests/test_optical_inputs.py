"""Input files of the optical planners: any YAML either loads or raises one ConfigError naming the
file (never another exception), fuzzed with hypothesis."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.errors import ConfigError
from optical.budget import load_pairs
from optical.ocs import load_block_demand, load_blocks, make_spec
from optical.wdm import load_demands

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True),
                    st.text(max_size=6), st.sampled_from(["a", "b", "c", "ocs1", "city", "hub", "1.6T"]))
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(st.sampled_from(
                                                           ["src", "dst", "tbps", "gbps", "name", "uplinks", "ocs",
                                                            "class", "budget_ms", "via", "protect", "pairs", "demands",
                                                            "blocks", "matrix", "ocs_ports", "max_latency_ms", "a", "b"]),
                                                           kids, max_size=5)), max_leaves=12)


def _write(obj) -> Path:
    fd = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115
    with fd:
        fd.write(yaml.safe_dump(obj) if not isinstance(obj, str) else obj)
    return Path(fd.name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=values)
def test_loaders_raise_only_config_errors(obj):
    p = _write(obj)
    spec = make_spec({"a": 2, "b": 2, "c": 2}, 2)
    try:
        for loader in (load_pairs, load_demands, load_blocks, lambda q: load_block_demand(q, spec)):
            try:
                loader(p)
            except ConfigError as exc:
                assert str(p) in str(exc)
    finally:
        p.unlink()


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=40))
def test_loaders_on_arbitrary_text(text):
    p = _write(text)
    try:
        for loader in (load_pairs, load_demands, load_blocks):
            try:
                loader(p)
            except ConfigError:
                pass
    finally:
        p.unlink()
