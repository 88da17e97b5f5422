"""``fabricctl topo ...``: build, show, validate, import, export and draw topologies."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from fabric.builders import (
    DEFAULT_CLOS_LEAVES,
    DEFAULT_CLOS_SPINES,
    DEFAULT_FAT_TREE_K,
    DEFAULT_GPUS_PER_SERVER,
    DEFAULT_HOSTS_PER_LEAF,
    DEFAULT_PORT_GBPS,
    DEFAULT_SERVERS,
)
from fabric.cli.common import DEFAULT_DRAW_FILE, JSON_HELP, console, emit_json, err_console
from fabric.cli.options import at_least, positive
from fabric.cli.progress import progress
from fabric.errors import ConfigError


class BuildKind(StrEnum):
    fat_tree = "fat-tree"
    clos = "clos"
    rail = "rail"
    dual_plane = "dual-plane"
    multi_site = "multi-site"


class ImportFormat(StrEnum):
    clab = "clab"
    gml = "gml"
    yaml = "yaml"


class ExportFormat(StrEnum):
    clab = "clab"
    yaml = "yaml"


FABRIC_HELP = "Topology: our YAML, a containerlab file, a GML file, 'example' or 'zoo:<Name>'."


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    topo = groups["topo"]

    @topo.command("build")
    def build(kind: BuildKind = typer.Argument(..., help="Which builder."),
              out: Path = typer.Option(..., "-o", "--out", help="YAML file to write."),
              k: int = typer.Option(DEFAULT_FAT_TREE_K, callback=at_least(2), help="fat-tree: switch radix k (even)."),
              leaves: int = typer.Option(DEFAULT_CLOS_LEAVES, callback=at_least(1), help="clos: number of leaves."),
              spines: int | None = typer.Option(None, callback=at_least(1), help=f"Number of spines (clos default {DEFAULT_CLOS_SPINES}; rail/dual-plane default: one per uplink; per plane for dual-plane)."),
              hosts_per_leaf: int = typer.Option(DEFAULT_HOSTS_PER_LEAF, callback=at_least(1), help="clos: hosts per leaf."),
              uplinks_per_leaf: int | None = typer.Option(None, callback=at_least(1), help="clos/rail: uplinks per leaf (multiple of spines)."),
              servers: int = typer.Option(DEFAULT_SERVERS, callback=at_least(1), help="rail/dual-plane: servers; multi-site: servers per site of the two-site example."),
              gpus_per_server: int = typer.Option(DEFAULT_GPUS_PER_SERVER, callback=at_least(1), help="rail/dual-plane: GPUs per server (rails)."),
              servers_per_su: int | None = typer.Option(None, callback=at_least(1), help="rail/dual-plane: servers per scalable unit."),
              host_gbps: float = typer.Option(DEFAULT_PORT_GBPS, callback=positive("Gb/s"), help="Endpoint port speed, Gb/s."),
              uplink_gbps: float = typer.Option(DEFAULT_PORT_GBPS, callback=positive("Gb/s"), help="Switch uplink speed, Gb/s."),
              name: str | None = typer.Option(None, help="Fabric name."),
              json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Build a fabric with one of the builders and write it as YAML."""
        from fabric import builders
        from fabric.io.yamlio import save_yaml

        def _build(kind: BuildKind) -> builders.Fabric:
            if kind is BuildKind.fat_tree:
                return builders.fat_tree(k, host_gbps, name=name)
            if kind is BuildKind.clos:
                return builders.clos(leaves, spines or DEFAULT_CLOS_SPINES, hosts_per_leaf, uplinks_per_leaf, host_gbps=host_gbps,
                                     uplink_gbps=uplink_gbps, name=name)
            if kind is BuildKind.rail:
                return builders.rail_optimized(servers, gpus_per_server, servers_per_su=servers_per_su, spines=spines,
                                               uplinks_per_leaf=uplinks_per_leaf, gpu_gbps=host_gbps,
                                               uplink_gbps=uplink_gbps, name=name)
            if kind is BuildKind.dual_plane:
                return builders.dual_plane(servers, gpus_per_server, servers_per_segment=servers_per_su,
                                           spines_per_plane=spines, uplinks_per_leaf=uplinks_per_leaf,
                                           port_gbps=host_gbps / 2, uplink_gbps=uplink_gbps, name=name)
            return builders.example_two_site(servers, gpus_per_server)  # multi-site: the demo's two sites

        with progress(f"building {kind.value} ...", quiet=json_out):
            fab = _build(kind)
        save_yaml(fab, out)
        s = fab.summary()
        if json_out:
            emit_json({"file": str(out), **s})
        else:
            console.print(f"wrote {out}: {s['nodes']:,} nodes, {s['links']:,} links")

    @topo.command("show")
    def show(fabric: str = typer.Argument(..., help=FABRIC_HELP),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Summary: nodes per role, links, capacity per tier, oversubscription, bisection, diameter."""
        from fabric.io import load_fabric
        from fabric.report import summary_table

        fab = load_fabric(fabric)
        s = fab.summary()
        if json_out:
            emit_json(s)
        else:
            console.print(summary_table(s))

    @topo.command("validate")
    def validate(fabric: str = typer.Argument(..., help=FABRIC_HELP),
                 json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Load and check a topology; exit 2 with one line naming file, place and reason if it is wrong."""
        from fabric.io import load_fabric

        fab = load_fabric(fabric)
        warnings = fab.validate()
        if json_out:
            emit_json({"valid": True, "file": fabric, "nodes": len(fab), "links": fab.graph.number_of_edges(),
                       "warnings": warnings})
            return
        console.print(f"[green]valid[/]: {fabric} ({len(fab):,} nodes, {fab.graph.number_of_edges():,} links)")
        for w in warnings:
            err_console.print(f"[yellow]warning[/]: {w}")

    @topo.command("import")
    def import_(src: str = typer.Argument(..., help="File to import (or zoo:<Name> with --from gml)."),
                from_: ImportFormat = typer.Option(..., "--from", help="Format of the file."),
                out: Path = typer.Option(..., "-o", "--out", help="Our YAML file to write."),
                route_factor: float | None = typer.Option(None, callback=at_least(1.0), help="gml: fibre length / great-circle distance."),
                json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Import a containerlab or Topology Zoo GML file into our YAML."""
        from fabric.io import load_fabric
        from fabric.io.yamlio import save_yaml

        if from_ is ImportFormat.gml and route_factor is not None:
            from fabric.io.gml import load_gml, zoo_path

            fab = load_gml(zoo_path(src[4:]) if src.startswith("zoo:") else src, route_factor=route_factor)
        else:
            import warnings

            with warnings.catch_warnings():  # shown below as "warning:" lines (and in --json)
                warnings.simplefilter("ignore")
                fab = load_fabric(src, fmt=from_.value)
        save_yaml(fab, out)
        missing = fab.meta.get("no_coordinates", [])
        skipped = list(fab.meta.get("import_warnings", []))
        if json_out:
            emit_json({"file": str(out), "nodes": len(fab), "links": fab.graph.number_of_edges(),
                       "no_coordinates": missing, "unknown_length_links": fab.meta.get("unknown_length_links", []),
                       "warnings": skipped})
            return
        for w in skipped:
            err_console.print(f"[yellow]warning[/]: {w}")
        console.print(f"wrote {out}: {len(fab):,} nodes, {fab.graph.number_of_edges():,} links")
        if missing:
            err_console.print(f"[yellow]note[/]: {len(missing)} node(s) without coordinates (lengths unknown): "
                              + ", ".join(missing))

    @topo.command("export")
    def export(fabric: str = typer.Argument(..., help=FABRIC_HELP),
               to: ExportFormat = typer.Option(..., "--to", help="Target format."),
               out: Path = typer.Option(..., "-o", "--out", help="File to write."),
               json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Export a topology, e.g. to a containerlab file (kinds linux and bridge)."""
        from fabric.io import load_fabric

        fab = load_fabric(fabric)
        if to is ExportFormat.clab:
            from fabric.io.containerlab import save_clab

            save_clab(fab, out)
        else:
            from fabric.io.yamlio import save_yaml

            save_yaml(fab, out)
        if json_out:
            emit_json({"file": str(out), "format": to.value, "nodes": len(fab), "links": fab.graph.number_of_edges()})
        else:
            console.print(f"wrote {out} ({to.value})")

    @topo.command("draw")
    def draw(fabric: str = typer.Argument(..., help=FABRIC_HELP),
             out: Path = typer.Option(DEFAULT_DRAW_FILE, "-o", "--out", help="PNG file to write."),
             json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """Draw a topology: layered for a Clos, geographic for sites with coordinates."""
        from fabric.io import load_fabric
        from fabric.report import draw_fabric

        if out.suffix.lower() != ".png":
            raise ConfigError("only PNG output is supported", file=str(out))
        fab = load_fabric(fabric)
        layout = draw_fabric(fab, out)
        if json_out:
            emit_json({"file": str(out), "layout": layout, "nodes": len(fab)})
        else:
            console.print(f"wrote {out} ({layout} layout)")
