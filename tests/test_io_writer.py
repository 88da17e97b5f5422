"""The topology YAML writer formats short flat entries itself; the bytes must be PyYAML's, always."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fabric import builders
from fabric.io.reader import Dumper, parse_yaml
from fabric.io.yamlio import _entry_lines, dump_yaml, fabric_to_dict

words = st.one_of(st.text(max_size=12), st.sampled_from(["yes", "no", "null", "~", "1e3", "0x1F", "1.5", "a b", "-x", "x:",
                                                        "eth1", "s01-g0", "2024-01-01", "y", "on", ".inf", "1_000"]))
values = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True), words)
entries = st.lists(st.dictionaries(st.one_of(words, st.sampled_from(["a", "b", "name", "role"])), values, max_size=9),
                   max_size=6)


@settings(max_examples=1000, deadline=None)
@given(chunk=entries)
def test_entries_are_written_as_pyyaml_writes_them(chunk):
    chunk = [e for e in chunk if e]  # an empty mapping is never an entry (every node has a name)
    want = yaml.dump(chunk, Dumper=Dumper, sort_keys=False, default_flow_style=None, width=120) if chunk else ""
    assert _entry_lines(chunk) == want


def test_whole_files_are_the_bytes_of_one_dump():
    for fab in (builders.fat_tree(4), builders.example_two_site(), builders.dual_plane(32, 8)):
        old = f"# fabricctl topology: {fab.name}\n" + yaml.dump(fabric_to_dict(fab), Dumper=Dumper, sort_keys=False,
                                                                 default_flow_style=None, width=120)
        text = dump_yaml(fab)
        assert text == old
        assert parse_yaml(text).data == fabric_to_dict(fab)
