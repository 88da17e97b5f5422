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
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fabric.errors import ConfigError
from fabric.io.limits import env_name, limit

#: Largest input file read, in bytes (64 MiB): far above any real topology, demand or plan file,
#: small enough that reading and parsing it stays within a laptop's memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: How many nodes YAML aliases may add beyond the nodes written in the file (an alias to a list of
#: ten items adds ten). Real files reuse a few defaults; an alias bomb adds billions.
MAX_ALIAS_EXPANSION = 100_000
#: Deepest nesting of lists/mappings accepted (our formats use fewer than ten levels).
MAX_NESTING_DEPTH = 100
#: Bytes read per call once a file is longer than ``stat`` said (it grew while being read).
READ_CHUNK_BYTES = 1024 * 1024
#: Bytes read from the start of a file to guess its format (see :func:`head_lines`).
SNIFF_BYTES = 65536

FORMATS = ("yaml", "json")

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: YAML 1.2 floats that YAML 1.1 (PyYAML's resolver) reads as strings: an exponent without a dot or
#: without a sign (``1e3``, ``2.5e-3`` already worked, ``1.5e3`` did not). YAML 1.2 core schema, 10.3.2.
_YAML12_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$")
#: First characters of plain scalars and the (tag, pattern) pairs that may resolve them: PyYAML's
#: YAML 1.1 table (bool, int, float, null, timestamp, merge) plus :data:`_YAML12_FLOAT`.
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    k: list(v) for k, v in _BaseLoader.yaml_implicit_resolvers.items()}
for _c in "-+.0123456789":
    _RESOLVERS.setdefault(_c, []).append(("tag:yaml.org,2002:float", _YAML12_FLOAT))
_STR = "tag:yaml.org,2002:str"

class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The safe dumper (C when available) that quotes every string this reader would not read back as
    a string: PyYAML's YAML 1.1 table plus YAML 1.2 floats (``'1e3'``, ``'0e0'``), so that a file we
    write reads back as written here, in containerlab (YAML 1.2) and in PyYAML."""


Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+.0123456789"))

_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_NO_KEY: Any = object()
_MERGE: Any = object()


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

    It keeps only the text: a lookup walks the YAML events once more, up to the path it is asked
    for, so that it costs nothing until an error is reported, holds no node tree (a 10^6-node file's
    tree is gigabytes), and never walks what aliases repeat. A path that is not found gives the line
    of its longest prefix that is.
    """

    def __init__(self, text: str | None = None) -> None:
        self.text = text

    def line(self, path: Sequence[Any]) -> int | None:
        """Line of ``path`` (or of its longest known prefix); None without a text."""
        if self.text is None:
            return None
        loader = _BaseLoader(self.text)
        try:
            return _line_of(loader, tuple(path))
        except yaml.YAMLError:
            return None
        finally:
            loader.dispose()


def _line_of(loader: Any, path: tuple[Any, ...]) -> int | None:
    ev = loader.get_event()
    while not isinstance(ev, (yaml.NodeEvent, yaml.StreamEndEvent)):
        ev = loader.get_event()
    if isinstance(ev, yaml.StreamEndEvent):
        return None
    line = ev.start_mark.line + 1
    for part in path:
        if isinstance(ev, yaml.MappingStartEvent):
            while True:
                key = loader.get_event()
                if isinstance(key, yaml.MappingEndEvent):
                    return line
                match = isinstance(key, yaml.ScalarEvent) and (key.value == part or key.value == str(part))
                if not match:
                    _skip(loader, key)
                value = loader.get_event()
                if match:
                    ev, line = value, key.start_mark.line + 1
                    break
                _skip(loader, value)
        elif isinstance(ev, yaml.SequenceStartEvent) and isinstance(part, int) and not isinstance(part, bool):
            for _ in range(part):
                item = loader.get_event()
                if isinstance(item, yaml.SequenceEndEvent):
                    return line
                _skip(loader, item)
            item = loader.get_event()
            if isinstance(item, yaml.SequenceEndEvent):
                return line
            ev, line = item, item.start_mark.line + 1
        else:
            return line
    return line


def _skip(loader: Any, ev: Any) -> None:
    """Consume the rest of the node that starts with event ``ev``."""
    depth = 1 if isinstance(ev, yaml.CollectionStartEvent) else 0
    while depth:
        e = loader.get_event()
        if isinstance(e, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(e, yaml.CollectionEndEvent):
            depth -= 1


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
def read_bytes(path: str | os.PathLike[str], *, what: str = "input file", max_bytes: int | None = None,
               allow_empty: bool = False, cap: str = "MAX_INPUT_BYTES") -> bytes:
    """The bytes of a file, at most ``max_bytes``; a ConfigError for anything that stops reading.

    A missing file, a directory, anything that is not a regular file (a FIFO, which would block the
    open; ``/dev/zero`` or ``/dev/urandom``, which never end; a socket), a permission problem, a file
    over the limit (checked before reading) and an empty file (unless ``allow_empty``) are all refused
    with the file's name and the reason. The limit is ``max_bytes`` (default :data:`MAX_INPUT_BYTES`),
    or what the environment variable ``FABRICCTL_<cap>`` says (:func:`fabric.io.limits.limit`).
    """
    file = str(path)
    p = Path(path)
    max_bytes = limit(cap, MAX_INPUT_BYTES if max_bytes is None else max_bytes)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError("no such file", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=file) from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"is a directory, not a {what}", file=file)
    if not stat.S_ISREG(st.st_mode):  # opening a FIFO blocks; /dev/zero and /dev/urandom never end
        raise ConfigError(f"is {_file_kind(st.st_mode)}, not a regular file; a {what} must be a file", file=file)
    if st.st_size > max_bytes:
        raise ConfigError(f"{what} is too large: {st.st_size:,} bytes, the limit is {_mib(max_bytes)} "
                          f"(set {env_name(cap)} to raise it)", file=file)
    try:
        with p.open("rb") as fh:  # read(n) allocates n bytes first: ask for the size stat gave, then more
            parts = [fh.read(min(st.st_size, max_bytes) + 1)]
            got = len(parts[0])
            while parts[-1] and got <= max_bytes:
                parts.append(fh.read(min(READ_CHUNK_BYTES, max_bytes + 1 - got)))
                got += len(parts[-1])
            raw = b"".join(parts)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=file) from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{what} is too large: more than {_mib(max_bytes)} "
                          f"(set {env_name(cap)} to raise it)", file=file)
    if not raw and not allow_empty:
        raise ConfigError(f"the {what} is empty", file=file)
    return raw


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


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


def read_text(path: str | os.PathLike[str], *, what: str = "input file", max_bytes: int | None = None,
              cap: str = "MAX_INPUT_BYTES") -> str:
    """The UTF-8 text of a file (:func:`read_bytes`, then :func:`decode_text`)."""
    return decode_text(read_bytes(path, what=what, max_bytes=max_bytes, cap=cap), file=str(path))


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
class _Frame:
    """An open mapping or sequence while the events are turned into data."""

    __slots__ = ("obj", "is_map", "key", "key_line", "key_col", "lines", "merges", "size", "depth", "anchor", "mark")

    def __init__(self, is_map: bool, anchor: str | None, mark: Any) -> None:
        self.obj: Any = {} if is_map else []
        self.is_map = is_map
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.key_col = 0
        self.lines: dict[str, tuple[int, int]] = {}
        self.merges: list[Any] = []
        self.size = 1
        self.depth = 1
        self.anchor = anchor
        self.mark = mark


def _yaml_data(loader: Any, file: str | None) -> Any:
    """Turn the parser's events into plain data in one pass, with the reader's limits.

    No node tree is built (PyYAML composes one first, which for a large file costs ten times the
    data and most of the time). Aliases share the anchored object as PyYAML does; their expansion
    is counted (:data:`MAX_ALIAS_EXPANSION`), containers deeper than :data:`MAX_NESTING_DEPTH` are
    refused, a key written twice in one mapping is refused naming both lines, merge keys (``<<``)
    follow YAML 1.1 (keys written in the mapping win; earlier merged mappings win over later ones).
    """
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int, int, str | None]] = {}  # anchor -> (object, size, depth, scalar text)
    open_anchors: set[str] = set()
    extra = 0  # nodes added by aliases
    root: Any = _NO_KEY
    docs = 0
    get = loader.get_event
    cons = loader.yaml_constructors
    scalar_ev, alias_ev = yaml.ScalarEvent, yaml.AliasEvent
    while True:
        ev = get()
        t = type(ev)
        raw: str | None = None
        if t is scalar_ev:
            raw = ev.value
            tag = ev.tag
            if tag is None or tag == "!":
                if ev.implicit[0]:
                    tag = _STR
                    for rtag, regexp in _RESOLVERS.get(raw[:1], ()):
                        if regexp.match(raw):
                            tag = rtag
                            break
                else:
                    tag = _STR
            if tag == _STR:
                value: Any = raw
            elif tag == "tag:yaml.org,2002:merge" and stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
                value = _MERGE
            else:
                node = yaml.ScalarNode(tag, raw, ev.start_mark, ev.end_mark, ev.style)
                try:
                    value = cons.get(tag, cons[None])(loader, node)
                except yaml.YAMLError:
                    raise
                except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
                    raise ConfigError(f"bad YAML value: {exc}", file=file,
                                      where=f"line {ev.start_mark.line + 1}") from None
            size, depth = 1, 1
            if len(stack) >= MAX_NESTING_DEPTH:
                raise _too_deep(file, ev.start_mark)
            if ev.anchor is not None:
                anchors[ev.anchor] = (value, 1, 1, raw)
        elif t is alias_ev:
            hit = anchors.get(ev.anchor)
            if hit is None:
                if ev.anchor in open_anchors:
                    raise ConfigError("recursive YAML alias (a node that contains itself)", file=file,
                                      where=f"line {ev.start_mark.line + 1}, column {ev.start_mark.column + 1}")
                raise yaml.composer.ComposerError(None, None, "found undefined alias", ev.start_mark)
            value, size, depth, raw = hit
            extra += size
            if extra > MAX_ALIAS_EXPANSION:
                raise ConfigError(f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes beyond the "
                                  "ones written (fabric.io.reader.MAX_ALIAS_EXPANSION); an alias bomb?",
                                  file=file, where=f"line {ev.start_mark.line + 1}")
            if len(stack) + depth > MAX_NESTING_DEPTH:
                raise _too_deep(file, ev.start_mark)
        elif t is yaml.MappingStartEvent or t is yaml.SequenceStartEvent:
            is_map = t is yaml.MappingStartEvent
            if ev.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                raise yaml.constructor.ConstructorError(
                    None, None, f"could not determine a constructor for the tag {ev.tag!r}", ev.start_mark)
            if len(stack) >= MAX_NESTING_DEPTH:
                raise _too_deep(file, ev.start_mark)
            if ev.anchor is not None:
                open_anchors.add(ev.anchor)
            stack.append(_Frame(is_map, ev.anchor, ev.start_mark))
            continue
        elif t is yaml.MappingEndEvent or t is yaml.SequenceEndEvent:
            f = stack.pop()
            value, size, depth = f.obj, f.size, f.depth
            if f.merges:
                value = {}
                for m in f.merges:
                    value.update(m)
                value.update(f.obj)
            if f.anchor is not None:
                open_anchors.discard(f.anchor)
                anchors[f.anchor] = (value, size, depth, None)
        elif t is yaml.DocumentStartEvent:
            docs += 1
            if docs > 1:
                raise yaml.composer.ComposerError("expected a single document in the stream", None,
                                                  "but found another document", ev.start_mark)
            continue
        elif t is yaml.StreamEndEvent:
            break
        else:  # stream start, document end
            continue
        if not stack:
            root = value
            continue
        f = stack[-1]
        f.size += size
        if depth + 1 > f.depth:
            f.depth = depth + 1
        if not f.is_map:
            f.obj.append(value)
        elif f.key is _NO_KEY:
            if value is _MERGE:
                f.key = _MERGE
            elif raw is None:
                raise yaml.constructor.ConstructorError("while constructing a mapping", f.mark,
                                                        "a key must be a name, not a list or a mapping",
                                                        ev.start_mark)
            else:
                f.key, f.key_line, f.key_col = raw, ev.start_mark.line + 1, ev.start_mark.column + 1
        elif f.key is _MERGE:
            f.key = _NO_KEY
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in items):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", f.mark,
                    "expected a mapping or list of mappings for merging", ev.start_mark)
            f.merges.extend(reversed(items))  # the first mapping listed wins
        else:
            key, f.key = f.key, _NO_KEY
            first = f.lines.get(key)
            if first is not None:
                both = (f"line {first[0]} and line {f.key_line}" if first[0] != f.key_line else
                        f"line {f.key_line}, columns {first[1]} and {f.key_col}")
                raise ConfigError(f"duplicate key {key!r}: {both} (a key may be written once in a mapping)",
                                  file=file, where=f"line {f.key_line}")
            f.lines[key] = (f.key_line, f.key_col)
            f.obj[key] = value
    if root is _NO_KEY:
        raise ConfigError("no YAML document (the file holds only blank lines or comments)", file=file)
    return root


def _too_deep(file: str | None, mark: Any) -> ConfigError:
    return ConfigError(f"nested more than {MAX_NESTING_DEPTH} levels deep (fabric.io.reader.MAX_NESTING_DEPTH)",
                       file=file, where=f"line {mark.line + 1}")


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
    """Parse one YAML document (JSON is YAML too) with the limits above; errors give line and column.

    One pass over the parser's events (:func:`_yaml_data`); the line index keeps only the text.
    """
    loader = _BaseLoader(text)
    try:
        data = _yaml_data(loader, file)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    except RecursionError:
        raise ConfigError(f"nested too deeply (limit {MAX_NESTING_DEPTH} levels)", file=file) from None
    finally:
        loader.dispose()
    return Document(data, file or "", "yaml", LineIndex(text))


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
                  formats: Sequence[str] = FORMATS, max_bytes: int | None = None,
                  cap: str = "MAX_INPUT_BYTES") -> Document:
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
    text = read_text(path, what=what, max_bytes=max_bytes, cap=cap)
    as_json = "json" in formats and ("yaml" not in formats or file.lower().endswith(".json"))
    return parse_json(text, file=file) if as_json else parse_yaml(text, file=file)


def read_csv(path: str | os.PathLike[str], *, what: str = "CSV file", max_bytes: int | None = None
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


__all__ = ["FORMATS", "Dumper", "MAX_ALIAS_EXPANSION", "MAX_INPUT_BYTES", "MAX_NESTING_DEPTH", "SNIFF_BYTES", "Document",
           "LineIndex", "decode_text", "fmt_path", "head_lines", "parse_json", "parse_yaml", "read_bytes",
           "read_csv", "read_document", "read_text", "where_in"]
