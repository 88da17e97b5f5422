"""The one reader of structured input files: bytes -> text -> YAML/JSON/CSV data, or one ConfigError.

Every loader (topology YAML, containerlab, GML, demand, job, DPU spec and pipeline, optical pairs,
demands and blocks, lab clab and budgets files, plans) reads its file through here, so that every
way a file can be unreadable gives the same kind of message: one :class:`~fabric.errors.ConfigError`
naming the file, where in it (``line 3, column 7``, ``byte offset 12``, ``links[2].b``) and why.
What the data *means* is checked by each loader, not here.

The reader refuses, before any work is done on the content:

- a missing file, a directory, a file it may not read;
- a file larger than :data:`MAX_INPUT_BYTES` (checked from ``stat`` before reading, and again while
  reading, so that a device or a growing file cannot get past it);
- an empty file, bytes that are not UTF-8 (a binary file: the error names the byte offset) and NUL
  characters;
- YAML or JSON syntax errors (line and column), YAML tags other than the standard ones;
- YAML whose aliases expand to more than :data:`MAX_ALIAS_EXPANSION` nodes beyond those written
  (the "billion laughs" bomb: a 1 KB file that would otherwise unfold into gigabytes in whatever walks
  the data), recursive aliases, and data nested deeper than :data:`MAX_NESTING_DEPTH`.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "x.yaml")
>>> _ = open(p, "w").write("name: x\\nnodes:\\n  - {name: a, role: leaf}\\n")
>>> doc = read_document(p, what="topology file")
>>> doc.data["nodes"][0]["name"], doc.where(("nodes", 0, "role"))
('a', 'line 3: nodes[0].role')
>>> _ = open(p, "wb").write(b"name: \\xff\\n")
>>> read_document(p)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
fabric.errors.ConfigError: ...x.yaml: byte offset 6: not UTF-8 text (byte 0xff); is it a binary file?
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fabric.errors import ConfigError

#: Largest input file read, in bytes (64 MiB): far above any real topology, demand or plan file,
#: small enough that reading and parsing it stays within a laptop's memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: How many nodes YAML aliases may add beyond the nodes written in the file (an alias to a list of
#: ten items adds ten). Real files reuse a few defaults; an alias bomb adds billions.
MAX_ALIAS_EXPANSION = 100_000
#: Deepest nesting of lists/mappings accepted (our formats use fewer than ten levels).
MAX_NESTING_DEPTH = 100
#: Bytes read from the start of a file to guess its format (see :func:`head_lines`).
SNIFF_BYTES = 65536

FORMATS = ("yaml", "json")

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader (C when available), with every mapping key the string written in the file.

    As in JSON, keys are names: ``1:``, ``yes:`` and ``null:`` give the keys ``"1"``, ``"yes"`` and
    ``"null"``, never an int, a bool or None that messages and ``sorted()`` cannot handle. A list or a
    mapping used as a key is a syntax error.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}",
                                                    node.start_mark)
        self.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        "a key must be a name, not a list or a mapping",
                                                        key_node.start_mark)
            out[str(key_node.value)] = self.construct_object(value_node, deep=deep)
        return out


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


# ----------------------------------------------------------------------------- paths and lines
def fmt_path(path: Iterable[Any]) -> str:
    """A data path as it is written in messages: ``links[3].capacity_gbps``; ``(top level)`` for ``()``.

    >>> fmt_path(("topology", "links", 0, "endpoints")), fmt_path(())
    ('topology.links[0].endpoints', '(top level)')
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) else (
            f".{part}" if out else str(part))
    return out or "(top level)"


class LineIndex:
    """Maps data paths (tuples of keys and list indices) to 1-based line numbers of a YAML file.

    Looked up lazily in the composed node tree, so that it costs nothing until an error is reported
    and never walks what aliases repeat. A path that is not found gives the line of its longest
    prefix that is.
    """

    def __init__(self, root: yaml.Node | None = None) -> None:
        self.root = root

    def _child(self, node: yaml.Node, part: Any) -> tuple[yaml.Node, int] | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and (k.value == part or k.value == str(part)):
                    return v, k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and not isinstance(part, bool):
            if 0 <= part < len(node.value):
                v = node.value[part]
                return v, v.start_mark.line + 1
        return None

    def line(self, path: Sequence[Any]) -> int | None:
        """Line of ``path`` (or of its longest known prefix); None without a node tree."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            hit = self._child(node, part)
            if hit is None:
                break
            node, line = hit
        return line


def where_in(lines: LineIndex | None, path: Sequence[Any]) -> str:
    """``line N: a.b[2]`` when the line is known, else the path alone."""
    line = lines.line(tuple(path)) if lines is not None else None
    return f"line {line}: {fmt_path(path)}" if line else fmt_path(path)


@dataclass(frozen=True)
class Document:
    """A parsed input file: its data, where it came from, and a line index for error messages."""

    data: Any
    file: str
    format: str
    lines: LineIndex = field(default_factory=LineIndex)

    def where(self, path: Sequence[Any]) -> str:
        """``line N: path`` for a path into :attr:`data` (see :func:`where_in`)."""
        return where_in(self.lines, path)

    def error(self, reason: str, path: Sequence[Any] | None = None) -> ConfigError:
        """A ConfigError naming this file and, when given, the path (with its line)."""
        return ConfigError(reason, file=self.file, where=None if path is None else self.where(path))


# ----------------------------------------------------------------------------- bytes and text
def read_bytes(path: str | os.PathLike[str], *, what: str = "input file", max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a file, at most ``max_bytes``; a ConfigError for anything that stops reading.

    A missing file, a directory, a permission problem, a file over the limit (checked before reading)
    and an empty file are all refused with the file's name and the reason.
    """
    file = str(path)
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError("no such file", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=file) from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"is a directory, not a {what}", file=file)
    if st.st_size > max_bytes:
        raise ConfigError(f"{what} is too large: {st.st_size:,} bytes, the limit is {_mib(max_bytes)} "
                          "(fabric.io.reader.MAX_INPUT_BYTES)", file=file)
    try:
        with p.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=file) from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{what} is too large: more than {_mib(max_bytes)} "
                          "(fabric.io.reader.MAX_INPUT_BYTES)", file=file)
    if not raw:
        raise ConfigError(f"the {what} is empty", file=file)
    return raw


def decode_text(raw: bytes, *, file: str | None = None) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); a ConfigError naming the first bad byte.

    >>> decode_text(b"a: 1\\n")
    'a: 1\\n'
    >>> decode_text(b"ab\\x00", file="f")
    Traceback (most recent call last):
    ...
    fabric.errors.ConfigError: f: byte offset 2: not a text file (NUL byte)
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); is it a binary file?", file=file,
                          where=f"byte offset {exc.start}") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise ConfigError("not a text file (NUL byte)", file=file, where=f"byte offset {len(text[:nul].encode())}")
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: str | os.PathLike[str], *, what: str = "input file", max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a file (:func:`read_bytes`, then :func:`decode_text`)."""
    return decode_text(read_bytes(path, what=what, max_bytes=max_bytes), file=str(path))


def head_lines(path: str | os.PathLike[str], n_bytes: int = SNIFF_BYTES) -> list[str]:
    """The lines in the first ``n_bytes`` of a file, for guessing its format; ``[]`` when unreadable.

    Never raises: the loader that reads the file afterwards reports what is wrong with it.
    """
    try:
        p = Path(path)
        if not p.is_file():
            return []
        with p.open("rb") as fh:
            raw = fh.read(n_bytes)
    except OSError:
        return []
    return raw.decode("utf-8", errors="replace").splitlines()


# ----------------------------------------------------------------------------- YAML and JSON
def _check_node_tree(root: yaml.Node, file: str | None) -> None:
    """Refuse alias bombs, recursive aliases and deep nesting, walking each distinct node once."""
    size: dict[int, int] = {}  # id(node) -> nodes in its expanded subtree
    depth: dict[int, int] = {}
    written = 0
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if depth[key] > MAX_NESTING_DEPTH:
                raise ConfigError(f"nested more than {MAX_NESTING_DEPTH} levels deep "
                                  "(fabric.io.reader.MAX_NESTING_DEPTH)", file=file,
                                  where=f"line {node.start_mark.line + 1}")
            if size[key] - written > MAX_ALIAS_EXPANSION:
                raise ConfigError(f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes beyond the "
                                  "ones written (fabric.io.reader.MAX_ALIAS_EXPANSION); an alias bomb?",
                                  file=file, where=f"line {node.start_mark.line + 1}")
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError("recursive YAML alias (a node that contains itself)", file=file,
                              where=f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}")
        on_path.add(key)
        written += 1
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise ConfigError("recursive YAML alias (a node that contains itself)", file=file,
                                  where=f"line {kid.start_mark.line + 1}, column {kid.start_mark.column + 1}")
            if id(kid) not in size:
                stack.append((kid, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_depth(data: Any, file: str | None) -> None:
    """Refuse data nested deeper than MAX_NESTING_DEPTH (JSON has no aliases, so this is linear)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        obj, d = stack.pop()
        if d > MAX_NESTING_DEPTH:
            raise ConfigError(f"nested more than {MAX_NESTING_DEPTH} levels deep "
                              "(fabric.io.reader.MAX_NESTING_DEPTH)", file=file)
        if isinstance(obj, dict):
            stack.extend((v, d + 1) for v in obj.values())
        elif isinstance(obj, list):
            stack.extend((v, d + 1) for v in obj)


def parse_yaml(text: str, *, file: str | None = None) -> Document:
    """Parse one YAML document (JSON is YAML too) with the limits above; errors give line and column."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, file) from None
        if node is None:
            raise ConfigError("no YAML document (the file holds only blank lines or comments)", file=file)
        _check_node_tree(node, file)
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, file) from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
            mark = node.start_mark
            raise ConfigError(f"bad YAML value: {exc}", file=file, where=f"line {mark.line + 1}") from None
    except RecursionError:
        raise ConfigError(f"nested too deeply (limit {MAX_NESTING_DEPTH} levels)", file=file) from None
    finally:
        loader.dispose()
    return Document(data, file or "", "yaml", LineIndex(node))


def _yaml_error(exc: yaml.YAMLError, file: str | None) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    w = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    context = getattr(exc, "context", None)
    return ConfigError(f"YAML syntax error: {problem}" + (f" ({context})" if context else ""), file=file, where=w)


def parse_json(text: str, *, file: str | None = None) -> Document:
    """Parse a JSON document; a syntax error gives line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", file=file,
                          where=f"line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise ConfigError(f"nested more than {MAX_NESTING_DEPTH} levels deep "
                          "(fabric.io.reader.MAX_NESTING_DEPTH)", file=file) from None
    except ValueError as exc:  # e.g. an integer of 5,000 digits
        raise ConfigError(f"bad JSON value: {exc}", file=file) from None
    _check_depth(data, file)
    return Document(data, file or "", "json")


def read_document(path: str | os.PathLike[str], *, what: str = "input file",
                  formats: Sequence[str] = FORMATS, max_bytes: int = MAX_INPUT_BYTES) -> Document:
    """Read a YAML or JSON file into a :class:`Document`, or raise one ConfigError.

    ``formats`` says what the file may be: ``("json",)`` parses strict JSON whatever the name (plans,
    budgets files); ``("yaml", "json")`` (the default) parses ``*.json`` as JSON and anything else as
    YAML; ``("yaml",)`` parses everything as YAML (JSON is YAML). ``what`` names the kind of file in
    messages ("cannot read demand file: ...").
    """
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be drawn from {FORMATS}, got {formats!r}")
    file = str(path)
    text = read_text(path, what=what, max_bytes=max_bytes)
    as_json = "json" in formats and ("yaml" not in formats or file.lower().endswith(".json"))
    return parse_json(text, file=file) if as_json else parse_yaml(text, file=file)


def read_csv(path: str | os.PathLike[str], *, what: str = "CSV file", max_bytes: int = MAX_INPUT_BYTES
             ) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a CSV file with a header row: ``(header, [(line, {column: value})])``.

    ``line`` is the 1-based line a row starts on. Blank lines are skipped; a row with more fields than
    the header, a CSV syntax error (e.g. a field over the csv module's size limit) is a ConfigError.
    """
    file = str(path)
    text = read_text(path, what=what, max_bytes=max_bytes)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    try:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if not row:
                continue
            if header is None:
                header = row
                continue
            if len(row) > len(header):
                raise ConfigError(f"{len(row)} fields but the header has {len(header)}", file=file,
                                  where=f"line {start}")
            rows.append((start, dict(zip(header, row, strict=False))))
    except csv.Error as exc:
        raise ConfigError(f"CSV syntax error: {exc}", file=file, where=f"line {reader.line_num}") from None
    return header or [], rows


__all__ = ["FORMATS", "MAX_ALIAS_EXPANSION", "MAX_INPUT_BYTES", "MAX_NESTING_DEPTH", "SNIFF_BYTES", "Document",
           "LineIndex", "decode_text", "fmt_path", "head_lines", "parse_json", "parse_yaml", "read_bytes",
           "read_csv", "read_document", "read_text", "where_in"]
