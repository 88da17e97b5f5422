"""Our own topology YAML: load (strict, with line numbers in errors), validate, save (lossless).

Schema (also as JSON Schema in ``topology.schema.json`` next to this file)::

    name: example            # required
    nodes:                   # required unless 'builder' is given
      - {name: leaf1, role: leaf, site: bj, lat: 39.9, lon: 116.4, asn: 65001, loopback: 10.0.0.1}
    links:
      - {a: h1, b: leaf1, capacity_gbps: 400, length_km: 0.002, kind: copper, up: true,
         port_a: eth1, port_b: eth3}
    builder:                 # alternative to nodes/links: rebuild from a builder
      name: fat_tree         # fat_tree | clos | rail_optimized | dual_plane
      params: {k: 4}

Only ``name``/``role`` (nodes) and ``a``/``b``/``capacity_gbps`` (links) are required; unknown keys are
errors. A save/load round trip is lossless: names, roles, all attributes, ports, order, link state.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import jsonschema
import yaml

from fabric import builders
from fabric.errors import ConfigError, FabricError, TopologyError
from fabric.io.atomic import atomic_open
from fabric.io.limits import bounded
from fabric.io.reader import Dumper, LineIndex, read_document, where_in
from fabric.topology import Fabric

BUILDERS: dict[str, Callable[..., Fabric]] = {
    "fat_tree": builders.fat_tree,
    "clos": builders.clos,
    "rail_optimized": builders.rail_optimized,
    "dual_plane": builders.dual_plane,
}


#: Largest topology file read (256 MiB; ``FABRICCTL_MAX_INPUT_BYTES`` changes it): a 10^6-node,
#: 10^6-link file as ``topo build`` writes it is ~142 MB and validates in ~2.2 GiB (bench/topology_file.py);
#: other input files keep the reader's 64 MiB.
MAX_TOPOLOGY_BYTES = 256 * 1024 * 1024


def schema() -> dict[str, Any]:
    """The JSON Schema of the topology file."""
    text = (resources.files("fabric.io") / "topology.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def read_yaml(path: str | os.PathLike[str]) -> tuple[Any, LineIndex]:
    """Parse a topology YAML file through :func:`fabric.io.reader.read_document`: ``(data, lines)``.

    Every problem (unreadable, too large, not UTF-8, a syntax error with line and column, an alias
    bomb) is one :class:`ConfigError` naming the file.
    """
    doc = read_document(path, what="topology file", formats=("yaml",), max_bytes=MAX_TOPOLOGY_BYTES)
    return doc.data, doc.lines


@functools.lru_cache(maxsize=1)
def _validators() -> tuple[Any, dict[str, tuple[dict[str, Any], Any]]]:
    """The schema's validator, and one per list item schema (``nodes``, ``links``), built once."""
    sch = schema()
    items = {key: (sub["items"], jsonschema.Draft202012Validator(sub["items"]))
             for key, sub in sch["properties"].items() if sub.get("type") == "array" and set(sub) == {"type", "items"}}
    return jsonschema.Draft202012Validator(sch), items


#: JSON Schema keywords :func:`_surely_valid` understands; a schema with any other keyword is left to jsonschema.
_FAST_KEYWORDS = frozenset({"type", "enum", "minimum", "maximum", "exclusiveMinimum", "minLength", "required",
                            "additionalProperties", "properties", "description"})
_FAST_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                            "boolean": (bool,), "object": (dict,)}


def _surely_valid(sch: dict[str, Any], inst: Any) -> bool:
    """True only when ``inst`` certainly satisfies the (simple) schema ``sch``; False means "ask jsonschema".

    The topology schema's nodes and links are flat mappings of scalars, checked here at a few
    hundred nanoseconds per item instead of jsonschema's tens of microseconds (a 10^6-node file: seconds
    instead of minutes). It is conservative: anything unusual (a float that is an integer, NaN, a keyword
    it does not know) is handed to jsonschema, which then gives the message.
    """
    if not _FAST_KEYWORDS.issuperset(sch):
        return False
    typ = sch.get("type")
    if typ is not None:
        types = _FAST_TYPES.get(typ)
        if types is None or type(inst) not in types:  # noqa: E721 - bool is not an integer here
            return False
    if "enum" in sch and not (type(inst) is str and inst in sch["enum"]):
        return False
    if ("minimum" in sch and not inst >= sch["minimum"]) or ("maximum" in sch and not inst <= sch["maximum"]):
        return False
    if "exclusiveMinimum" in sch and not inst > sch["exclusiveMinimum"]:
        return False
    if "minLength" in sch and not len(inst) >= sch["minLength"]:
        return False
    if typ == "object" or "properties" in sch:
        if type(inst) is not dict:
            return False
        props = sch.get("properties", {})
        if any(k not in inst for k in sch.get("required", ())):
            return False
        for k, v in inst.items():
            sub = props.get(k)
            if sub is None:
                if sch.get("additionalProperties", True) is not True:
                    return False
            elif not _surely_valid(sub, v):
                return False
    return True


def _schema_errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    """The schema's errors as ``(path, error)``, shallowest first (ties by path text), as jsonschema reports.

    The long lists (nodes, links) are checked item by item by :func:`_surely_valid`; only the items it
    cannot vouch for go through jsonschema, so a valid 10^6-node file costs one quick pass.
    """
    top_validator, items = _validators()
    top = dict(data)
    doubtful: list[tuple[str, int, Any]] = []
    for key, (item_schema, _v) in items.items():
        if isinstance(data.get(key), list):
            top[key] = []
            doubtful.extend((key, i, it) for i, it in enumerate(data[key]) if not _surely_valid(item_schema, it))
    errors = [(tuple(e.absolute_path), e) for e in top_validator.iter_errors(top)]
    for key, i, it in doubtful:
        errors.extend(((key, i, *e.absolute_path), e) for e in items[key][1].iter_errors(it))
    return sorted(errors, key=lambda pe: (len(pe[0]), list(map(str, pe[0]))))


def fabric_from_dict(data: Any, *, file: str | None = None, lines: LineIndex | None = None,
                     consume: bool = False) -> Fabric:
    """Build a Fabric from parsed YAML/JSON data; every error names file, line and YAML path.

    ``consume``: each node and link entry of ``data`` is dropped (set to None) once it is in the Fabric,
    so that the data and the Fabric are never both whole in memory (a 10^6-node file: the data alone
    is ~1.5 GB). :func:`load_yaml` owns its data and consumes it.
    """
    lines = lines or LineIndex()
    if not isinstance(data, dict):
        raise ConfigError("a topology file must be a mapping with 'name' and 'nodes'", file=file)
    errors = _schema_errors(data)
    if errors:
        path, err = errors[0]
        msg = err.message
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            msg = f"unknown key(s) {', '.join(map(repr, extra))}"
            # point at the first unknown key itself
            path = path + (extra[0],)
        elif err.validator == "required":
            msg = f"missing required field {msg.split(' is a required')[0]}"
        elif err.validator in ("exclusiveMinimum", "minimum", "maximum"):
            bound = {"exclusiveMinimum": ">", "minimum": ">=", "maximum": "<="}[str(err.validator)]
            msg = f"must be {bound} {err.validator_value}, got {err.instance!r}"
        elif err.validator == "enum":
            msg = f"must be one of {', '.join(map(str, err.validator_value))}, got {err.instance!r}"
        elif err.validator == "type":
            msg = f"must be of type {err.validator_value}, got {err.instance!r}"
        elif err.validator == "minLength":
            msg = "must not be empty"
        raise ConfigError(msg, file=file, where=where_in(lines, path))
    name = data["name"]
    if "builder" in data:
        b = data["builder"]
        if "nodes" in data or "links" in data:
            raise ConfigError("give either 'builder' or 'nodes'/'links', not both", file=file,
                              where=where_in(lines, ("builder",)))
        func = BUILDERS[b["name"]]
        try:
            fab = func(**b.get("params", {}), name=name)
        except TypeError as exc:
            raise ConfigError(f"bad builder parameters: {exc}", file=file, where=where_in(lines, ("builder", "params"))) from None
        except FabricError as exc:
            raise ConfigError(exc.reason, file=file, where=where_in(lines, ("builder", "params"))) from None
        return fab
    fab = Fabric(name)
    node_list = data.get("nodes", [])
    for i, nd in enumerate(node_list):
        if consume:
            node_list[i] = None
        attrs = dict(nd)
        nname, role = attrs.pop("name"), attrs.pop("role")
        try:
            fab.add_node(nname, role, **attrs)
        except TopologyError as exc:
            key = "name" if "duplicate" in exc.reason else ("role" if "role" in exc.reason else None)
            raise TopologyError(exc.reason, file=file,
                                where=where_in(lines, ("nodes", i) + ((key,) if key else ()))) from None
    link_list = data.get("links", [])
    for i, lk in enumerate(link_list):
        if consume:
            link_list[i] = None
        attrs = dict(lk)
        a, b, cap = attrs.pop("a"), attrs.pop("b"), attrs.pop("capacity_gbps")
        try:
            fab.add_link(a, b, cap, **attrs)
        except TopologyError as exc:
            r = exc.reason
            key = ("capacity_gbps" if "capacity" in r else "length_km" if "length" in r else
                   "b" if (f"unknown node {b!r}" in r) else "a" if "unknown node" in r else
                   "kind" if "kind" in r else None)
            raise TopologyError(f"{r} (link {a}--{b})", file=file,
                                where=where_in(lines, ("links", i) + ((key,) if key else ()))) from None
    if isinstance(data.get("generated_by"), dict):
        _restore_builder_formulas(fab, data["generated_by"])
    return fab


def load_yaml(path: str | os.PathLike[str]) -> Fabric:
    """Load and validate one of our topology YAML files."""
    data, lines = read_yaml(path)
    return fabric_from_dict(data, file=str(path), lines=lines, consume=True)


def _restore_builder_formulas(fab: Fabric, generated_by: dict[str, Any]) -> None:
    """Keep a builder's exact formulas (bisection, diameter) when the file is still what it built.

    The builder is run again with the recorded parameters and compared link by link; a file edited
    after it was built keeps only the computed (max-flow) figures.
    """
    func = BUILDERS.get(str(generated_by.get("builder")))
    if func is None:
        return
    params = generated_by.get("params", {})
    if not isinstance(params, dict):
        return
    try:  # never bigger than the file itself: a 1 KB file saying fat_tree k: 100000 builds nothing
        with bounded(MAX_BUILD_NODES=len(fab), MAX_BUILD_LINKS=fab.graph.number_of_edges()):
            rebuilt = func(**params, name=fab.name)
    except (TypeError, ValueError, ArithmeticError, FabricError):
        return
    same = all(a == b for a, b in itertools.zip_longest(_node_dicts(rebuilt), _node_dicts(fab))) and all(
        a == b for a, b in itertools.zip_longest(_link_dicts(rebuilt), _link_dicts(fab)))  # entry by entry
    if same:
        fab.meta.update(rebuilt.meta)


def _node_dicts(fab: Fabric) -> Iterator[dict[str, Any]]:
    for n, d in fab.graph.nodes(data=True):
        yield {"name": n, "role": d["role"], **{k: v for k, v in d.items() if k != "role"}}


def _link_dicts(fab: Fabric) -> Iterator[dict[str, Any]]:
    for lk in fab.links():
        yield {"a": lk.a, "b": lk.b, **lk.attributes(), "port_a": lk.port_a, "port_b": lk.port_b}


def _head(fab: Fabric) -> dict[str, Any]:
    out: dict[str, Any] = {"name": fab.name}
    if fab.meta.get("builder") in BUILDERS:
        out["generated_by"] = {"builder": fab.meta["builder"], "params": fab.meta.get("params", {})}
    return out


def fabric_to_dict(fab: Fabric) -> dict[str, Any]:
    """The YAML-ready dict of a Fabric (explicit nodes and links; the builder is noted, not needed)."""
    return {**_head(fab), "nodes": list(_node_dicts(fab)), "links": list(_link_dicts(fab))}


#: Entries dumped per call when writing a file: the YAML dumper builds a node tree of what it is given
#: (~4 KB per entry), so the whole of a 250,000-node fabric at once took 3 GB; 2,000 at a time keeps
#: the writer within a few MB whatever the size.
DUMP_CHUNK = 2_000


_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
_STR_TAG = "tag:yaml.org,2002:str"
#: Longest entry line written without PyYAML: its emitter folds a flow mapping only past column 120.
_FAST_LINE = 110


def _fast_scalar(v: Any) -> str | None:
    """``v`` as PyYAML's safe dumper writes it in a flow mapping, for the simple cases; None otherwise."""
    t = type(v)
    if t is str:
        if _PLAIN.match(v) and Dumper.resolve(Dumper, yaml.ScalarNode, v, (True, False)) == _STR_TAG:
            return v
        return None
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        if v != v or v in (math.inf, -math.inf):
            return None
        text = repr(v).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text  # as represent_float
    if v is None:
        return "null"
    return None


def _entry_lines(chunk: list[dict[str, Any]]) -> str:
    """``yaml.dump(chunk)`` (a list of flat mappings, flow style): short plain entries formatted directly,
    byte for byte as PyYAML writes them (checked by a test), the rest by PyYAML."""
    out: list[str] = []
    slow: list[dict[str, Any]] = []
    for entry in chunk:
        parts: list[str] | None = []
        for k, v in entry.items():
            ks, vs = _fast_scalar(k), _fast_scalar(v)
            if ks is None or vs is None or type(k) is not str or parts is None:
                parts = None
                break
            parts.append(f"{ks}: {vs}")
        line = None if parts is None else "- {" + ", ".join(parts) + "}"
        if line is None or len(line) > _FAST_LINE:
            slow.append(entry)
            out.append("")
        else:
            out.append(line + "\n")
    if slow:
        dumped = iter(yaml.dump([e], Dumper=Dumper, sort_keys=False, default_flow_style=None, width=120)
                      for e in slow)
        out = [line or next(dumped) for line in out]
    return "".join(out)


def _yaml_pieces(fab: Fabric) -> Iterator[str]:
    """The text of :func:`dump_yaml`, piece by piece (the same bytes as dumping the whole dict at once)."""
    yield f"# fabricctl topology: {fab.name}\n"
    head = yaml.dump({**_head(fab), "nodes": []}, Dumper=Dumper, sort_keys=False, default_flow_style=None,
                     width=120)  # with a list in it the mapping stays in block style, as in the whole dump
    yield head.removesuffix("nodes: []\n")
    for key, items in (("nodes", _node_dicts(fab)), ("links", _link_dicts(fab))):
        chunk = list(itertools.islice(items, DUMP_CHUNK))
        if not chunk:
            yield f"{key}: []\n"
            continue
        yield f"{key}:\n"
        while chunk:
            yield _entry_lines(chunk)
            chunk = list(itertools.islice(items, DUMP_CHUNK))


def dump_yaml(fab: Fabric) -> str:
    return "".join(_yaml_pieces(fab))


def save_yaml(fab: Fabric, path: str | os.PathLike[str]) -> None:
    """Write atomically, piece by piece (memory does not grow with the fabric)."""
    with atomic_open(path, "w") as fh:
        for piece in _yaml_pieces(fab):
            fh.write(piece)
