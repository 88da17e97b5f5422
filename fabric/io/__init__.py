"""Readers and writers of topology files: our YAML, containerlab, Topology Zoo GML.

:func:`load_fabric` is what every command uses to turn a FABRIC argument into a Fabric.
"""

from __future__ import annotations

import os
from pathlib import Path

from fabric.errors import ConfigError
from fabric.topology import Fabric

#: Names that ``load_fabric`` accepts instead of a file.
BUILTIN_FABRICS = ("example", "zoo:<Name> (Topology Zoo file shipped with fabricctl, e.g. zoo:Chinanet)")


def load_fabric(spec: str | os.PathLike[str], *, fmt: str | None = None) -> Fabric:
    """Load a Fabric from a file or a built-in name.

    ``spec`` is a path to our YAML (``.yaml``/``.yml``), a containerlab file (``*.clab.yml`` or a
    YAML file with a ``topology:`` key), a GML file (``.gml``), ``example`` (the demo's two-site
    fabric) or ``zoo:Name`` (a shipped Topology Zoo file). ``fmt`` (``yaml``, ``clab``, ``gml``)
    overrides detection.
    """
    text = str(spec)
    if fmt is None and text == "example":
        from fabric.builders import example_two_site

        return example_two_site()
    if fmt in (None, "gml") and text.startswith("zoo:"):
        from fabric.io.gml import load_gml, zoo_path

        return load_gml(zoo_path(text[4:]))
    p = Path(text)
    if not p.exists():
        raise ConfigError("no such file (or built-in name: example, zoo:<Name>)", file=text)
    kind = fmt or _detect(p)
    if kind == "gml":
        from fabric.io.gml import load_gml

        return load_gml(p)
    if kind == "clab":
        from fabric.io.containerlab import load_clab

        return load_clab(p)
    if kind == "yaml":
        from fabric.io.yamlio import load_yaml

        return load_yaml(p)
    raise ConfigError(f"unknown format {kind!r} (expected yaml, clab or gml)", file=text)


def _detect(p: Path) -> str:
    name = p.name.lower()
    if name.endswith(".gml"):
        return "gml"
    if name.endswith((".clab.yml", ".clab.yaml")):
        return "clab"
    if name.endswith((".yml", ".yaml", ".json")):
        from fabric.io.reader import head_lines

        if any(line.startswith("topology:") for line in head_lines(p)):
            return "clab"
        return "yaml"
    raise ConfigError("cannot tell the format from the file name (use .yaml, .clab.yml or .gml)", file=str(p))
