"""The one reader (fabric/io/reader.py): every way a file can be unreadable is one ConfigError naming
file, where and reason. Pinned messages, one test per rule (faucet's test_config.py style)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fabric.errors import ConfigError
from fabric.io import reader
from fabric.io.reader import (
    MAX_ALIAS_EXPANSION,
    MAX_INPUT_BYTES,
    MAX_NESTING_DEPTH,
    LineIndex,
    decode_text,
    fmt_path,
    head_lines,
    parse_yaml,
    read_csv,
    read_document,
    where_in,
)

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


def _err(path, **kw) -> str:
    with pytest.raises(ConfigError) as exc:
        read_document(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


def test_a_document_keeps_data_file_and_lines(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("name: x\nnodes:\n  - name: a\n    role: leaf\n")
    doc = read_document(p)
    assert doc.data == {"name": "x", "nodes": [{"name": "a", "role": "leaf"}]} and doc.format == "yaml"
    assert doc.file == str(p)
    assert doc.where(("nodes", 0, "role")) == "line 4: nodes[0].role"
    assert doc.where(("nodes", 0, "colour")) == "line 3: nodes[0].colour"  # longest known prefix
    assert doc.where(()) == "line 1: (top level)"
    assert str(doc.error("bad", ("nodes", 0))) == f"{p}: line 3: nodes[0]: bad"


def test_missing_file_and_directory(tmp_path):
    assert _err(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file"
    assert _err(tmp_path, what="demand file") == f"{tmp_path}: is a directory, not a demand file"


def test_permission_denied(tmp_path, monkeypatch):
    p = tmp_path / "locked.yaml"
    p.write_text("a: 1\n")

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    assert _err(p, what="job file") == f"{p}: cannot read job file: Permission denied"


def test_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "huge.yaml"
    with p.open("wb") as fh:  # sparse: costs no disk
        fh.truncate(MAX_INPUT_BYTES + 1)

    def no_read(*_a, **_k):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_read)
    msg = _err(p, what="topology file")
    assert msg == (f"{p}: topology file is too large: {MAX_INPUT_BYTES + 1:,} bytes, the limit is 64 MiB "
                   "(set FABRICCTL_MAX_INPUT_BYTES to raise it)")


def test_size_limit_also_holds_while_reading(tmp_path):
    p = tmp_path / "grows.yaml"
    p.write_text("a: 1\n" * 100)
    assert "too large: 500 bytes, the limit is 100 bytes" in _err(p, max_bytes=100)


def test_empty_and_blank_files(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_bytes(b"")
    assert _err(p, what="pairs file") == f"{p}: the pairs file is empty"
    p.write_text("# only a comment\n\n")
    assert _err(p) == f"{p}: no YAML document (the file holds only blank lines or comments)"


def test_binary_file_names_the_byte_offset(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_bytes(b"name: x\n\x89PNG\r\n")
    assert _err(p) == f"{p}: byte offset 8: not UTF-8 text (byte 0x89); is it a binary file?"
    p.write_bytes("name: é\n".encode() + b"\x00\x01")
    assert _err(p) == f"{p}: byte offset 9: not a text file (NUL byte)"


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    p = tmp_path / "bom.json"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_document(p).data == {"a": 1}


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("a: 1\nb: [1, 2\n")
    assert _err(p).startswith(f"{p}: line 3, column 1: YAML syntax error: ")
    p.write_text("a: 1\n---\nb: 2\n")
    assert _err(p) == (f"{p}: line 2, column 1: YAML syntax error: but found another document "
                       "(expected a single document in the stream)")
    p.write_text("a: !!python/object:os.system ls\n")
    assert "line 1, column 4: YAML syntax error: could not determine a constructor" in _err(p)
    p.write_text("a: *nowhere\n")
    assert _err(p) == f"{p}: line 1, column 4: YAML syntax error: found undefined alias"


def test_json_syntax_error_has_line_and_column(tmp_path):
    p = tmp_path / "plan.json"
    p.write_text('{\n  "schema_version": "1.0",\n')
    assert _err(p, formats=("json",)) == (f"{p}: line 3, column 1: not valid JSON: Expecting property name "
                                          "enclosed in double quotes")
    q = tmp_path / "plan.txt"  # ("json",): JSON whatever the name
    q.write_text("a: 1\n")
    assert "line 1, column 1: not valid JSON" in _err(q, formats=("json",))
    assert read_document(q, formats=("yaml", "json")).data == {"a": 1}


def test_alias_bomb_is_refused_before_the_work(tmp_path):
    p = tmp_path / "lol.yaml"
    p.write_text(BOMB)
    assert len(BOMB) < 1024
    t0 = time.perf_counter()
    msg = _err(p)
    assert time.perf_counter() - t0 < 1.0
    assert f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes beyond the ones written" in msg
    assert "an alias bomb?" in msg


def test_ordinary_aliases_and_merge_keys_still_load(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("defaults: &d {kind: linux, image: alpine}\nnodes:\n  a: {<<: *d, image: debian}\n  b: *d\n")
    data = read_document(p).data
    assert data["nodes"] == {"a": {"kind": "linux", "image": "debian"}, "b": {"kind": "linux", "image": "alpine"}}


def test_recursive_alias_is_refused(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("a: &a [1, *a]\n")
    assert "recursive YAML alias" in _err(p)


def test_nesting_depth(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("[" * (MAX_NESTING_DEPTH + 1) + "]" * (MAX_NESTING_DEPTH + 1))
    assert f"nested more than {MAX_NESTING_DEPTH} levels deep" in _err(p)
    q = tmp_path / "deep.json"
    q.write_text("[" * 100_000 + "]" * 100_000)
    assert f"nested more than {MAX_NESTING_DEPTH} levels deep" in _err(q, formats=("json",))
    q.write_text("[" * 5000)
    assert _err(q, formats=("json",)).startswith(f"{q}: ")
    p.write_text("[" * MAX_NESTING_DEPTH + "]" * MAX_NESTING_DEPTH)
    assert read_document(p).data is not None


def test_values_python_refuses_are_config_errors(tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text("a: " + "9" * 5000 + "\n")
    assert "bad YAML value" in _err(p)
    p.write_text("when: 2020-13-45\n")
    assert "bad YAML value" in _err(p)
    q = tmp_path / "v.json"
    q.write_text('{"a": ' + "9" * 5000 + "}")
    assert "bad JSON value" in _err(q)


def test_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('src,dst,rate_gbps\n\na,b,1\n"c\nd",e,2\n')
    header, rows = read_csv(p)
    assert header == ["src", "dst", "rate_gbps"]
    assert rows == [(3, {"src": "a", "dst": "b", "rate_gbps": "1"}), (4, {"src": "c\nd", "dst": "e", "rate_gbps": "2"})]
    p.write_text("src,dst\na,b,c\n")
    with pytest.raises(ConfigError, match=r"d.csv: line 2: 3 fields but the header has 2"):
        read_csv(p)
    p.write_text("src,dst\n" + '"' + "x" * 200_000 + '",b\n')
    with pytest.raises(ConfigError, match=r"d.csv: line \d+: CSV syntax error: field larger than field limit"):
        read_csv(p)
    p.write_bytes(b"src,dst\n\xff,b\n")
    with pytest.raises(ConfigError, match=r"d.csv: byte offset 8: not UTF-8"):
        read_csv(p)


def test_helpers():
    assert fmt_path(("topology", "nodes", "r1", "kind")) == "topology.nodes.r1.kind"
    assert fmt_path(("links", 3, "b")) == "links[3].b" and fmt_path(()) == "(top level)"
    assert where_in(None, ("a",)) == "a" and where_in(LineIndex(), ("a", 0)) == "a[0]"
    doc = parse_yaml("x:\n  - 1\n  - 2\n", file="f")
    assert where_in(doc.lines, ("x", 1)) == "line 3: x[1]"
    with pytest.raises(ConfigError, match="^f: byte offset 1: not UTF-8"):
        decode_text(b"a\xc3(", file="f")
    with pytest.raises(ValueError, match="formats"):
        read_document("x", formats=("toml",))


def test_head_lines_never_raises(tmp_path):
    assert head_lines(tmp_path / "nope") == [] and head_lines(tmp_path) == []
    p = tmp_path / "x.yml"
    p.write_bytes(b"topology:\n\xff\n" + b"a" * 100)
    assert head_lines(p, 12)[0] == "topology:"


def test_limits_are_documented_constants():
    assert reader.MAX_INPUT_BYTES == 64 * 1024 * 1024
    assert reader.MAX_ALIAS_EXPANSION >= 10_000 and reader.MAX_NESTING_DEPTH >= 20
    assert os.path.basename(reader.__file__) == "reader.py"


def test_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(reader, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_duplicate_keys_name_both_lines(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("name: x\nnodes:\n  - {name: a, role: leaf}\nname: y\n")
    assert _err(p) == (f"{p}: line 4: duplicate key 'name': line 1 and line 4 (a key may be written once in a "
                       "mapping)")
    p.write_text("a:\n  b: 1\n  c: 2\n  'b': 3\n")  # the same name quoted is the same key
    assert "duplicate key 'b': line 2 and line 4" in _err(p)
    p.write_text("- {x: 1, x: 2}\n")
    assert "duplicate key 'x': line 1, columns 4 and 10" in _err(p)
    # a merge key is not a duplicate: keys written in the mapping override the merged ones
    p.write_text("d: &d {x: 1, y: 2}\ne: {<<: *d, x: 3}\nf: {<<: [*d, {x: 9, z: 0}], y: 5}\n")
    assert read_document(p).data == {"d": {"x": 1, "y": 2}, "e": {"x": 3, "y": 2}, "f": {"x": 1, "y": 5, "z": 0}}


def test_yaml_1_2_floats(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text("a: 1e3\nb: 1.5e3\nc: -2E-3\nd: +4e+2\ne: 1_000\nf: 2.5\ng: .5e1\nh: 1e\ni: e3\nj: '1e3'\nk: 0x1F\n")
    assert read_document(p).data == {"a": 1000.0, "b": 1500.0, "c": -0.002, "d": 400.0, "e": 1000, "f": 2.5,
                                     "g": 5.0, "h": "1e", "i": "e3", "j": "1e3", "k": 31}


def test_strings_that_look_like_yaml_1_2_floats_are_quoted_when_written():
    import yaml

    text = yaml.dump({"site": "0e0", "x": "1e3", "n": 1e20}, Dumper=reader.Dumper)
    assert "'0e0'" in text and "'1e3'" in text
    assert parse_yaml(text).data == {"site": "0e0", "x": "1e3", "n": 1e20}


def test_line_index_keeps_only_the_text():
    doc = parse_yaml("a:\n  - {b: 1}\n  - &x {c: 2}\n  - *x\nz: [1, [2, 3]]\n")
    assert doc.lines.text is not None and not hasattr(doc.lines, "root")
    assert doc.where(("a", 2, "c")) == "line 4: a[2].c"  # an alias: the line of the alias
    assert doc.where(("a", 1, "c")) == "line 3: a[1].c"
    assert doc.where(("z", 1, 1)) == "line 5: z[1][1]"
    assert doc.where(("z", 7)) == "line 5: z[7]"
