"""``fabricctl ctl ...``: talk to a running controller (``fabricctl serve``) over its gRPC API.

The server is ``--server`` or ``FABRICCTL_SERVER`` (default 127.0.0.1:50051), the bearer token
``--token`` or ``FABRICCTL_TOKEN``, the CA of a TLS server ``--ca`` or ``FABRICCTL_CA``. A failed call
is one line naming the server and the gRPC status, exit status 2.
"""

from __future__ import annotations

import json

import typer

from fabric.cli.common import JSON_HELP, console, emit_json
from fabric.cli.options import non_negative, positive

SERVER_HELP = "Controller address HOST:PORT (default: $FABRICCTL_SERVER or 127.0.0.1:50051)."
TOKEN_HELP = "Bearer token (default: $FABRICCTL_TOKEN)."
CA_HELP = "CA certificate of a TLS controller (default: $FABRICCTL_CA)."
#: Seconds `ctl apply/fail/restore` wait for the switches to acknowledge.
DEFAULT_WAIT_S = 60.0
#: `ctl events --since`: from the first event; `ctl compute --base`: a new plan (no base version).
FROM_FIRST_EVENT = 0
NO_BASE_VERSION = 0
#: `ctl compute --options`: the planner's defaults.
NO_OPTIONS = "{}"
#: The keys of `ctl fail --json` / `ctl restore --json` (issue 14's contract), in order.
EVENT_KEYS = ("event_id", "plan_version", "recompute_ms", "push_ms", "total_ms", "switches_updated", "updates")
#: The keys of each switch in `ctl status --json` (issue 14's contract).
SWITCH_KEYS = ("name", "connected", "primary", "desired_version", "applied_version", "error")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    ctl = groups.setdefault("ctl", typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                                               help="Talk to a running controller (fabricctl serve)."))

    def client(server: str | None, token: str | None, ca: str | None):  # type: ignore[no-untyped-def]
        from fabric.server.client import ControllerClient

        return ControllerClient(server, token=token, ca_file=ca)

    server_opt = typer.Option(None, "--server", help=SERVER_HELP)
    token_opt = typer.Option(None, "--token", help=TOKEN_HELP)
    ca_opt = typer.Option(None, "--ca", help=CA_HELP)
    json_opt = typer.Option(False, "--json", help=JSON_HELP)
    wait_opt = typer.Option(True, "--wait/--no-wait", help="Wait for the switches to acknowledge.")
    timeout_opt = typer.Option(DEFAULT_WAIT_S, "--timeout", help="Seconds to wait.", callback=positive("s"))
    a_arg = typer.Argument(..., help="Node (or one end of the link).")
    b_arg = typer.Argument(None, help="The other end of the link.")

    @ctl.command("status")
    def status_cmd(server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                   json_out: bool = json_opt) -> None:
        """Per switch: connected, primary, desired and applied plan version, last error."""
        with client(server, token, ca) as c:
            st = c.status()
        if json_out:
            emit_json({"plan_version": st["plan_version"], "converged": st["converged"],
                       "fabric_digest": st["fabric_digest"],
                       "switches": [{k: s[k] for k in (*SWITCH_KEYS, "device_id", "address")} for s in st["switches"]]})
            return
        from rich.table import Table

        t = Table(title=f"plan version {st['plan_version']} - {'converged' if st['converged'] else 'converging'}")
        for col in ("switch", "connected", "primary", "desired", "applied", "error"):
            t.add_column(col)
        for s in st["switches"]:
            t.add_row(s["name"], "yes" if s["connected"] else "no", "yes" if s["primary"] else "no",
                      str(s["desired_version"]), str(s["applied_version"]), s["error"])
        console.print(t)

    @ctl.command("plans")
    def plans_cmd(server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                  json_out: bool = json_opt) -> None:
        """Plan versions in the store (content-addressed, with why each was made)."""
        with client(server, token, ca) as c:
            doc = c.plans()
        if json_out:
            emit_json(doc)
            return
        from rich.table import Table

        t = Table()
        for col in ("version", "desired", "parent", "sections", "reason"):
            t.add_column(col)
        for p in doc["plans"]:
            t.add_row(str(p["version"]), "*" if p["desired"] else "", str(p["parent_version"] or ""),
                      ",".join(p["sections"]), p["reason"])
        console.print(t)

    @ctl.command("diff")
    def diff_cmd(old: int = typer.Argument(..., help="Older plan version."),
                 new: int = typer.Argument(..., help="Newer plan version."),
                 server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                 json_out: bool = json_opt) -> None:
        """What changed between two plan versions (as `fabricctl plan diff`)."""
        with client(server, token, ca) as c:
            d = c.diff(old, new)
        if json_out:
            emit_json(d)
        else:
            console.print(json.dumps(d, indent=2, default=str))

    @ctl.command("apply")
    def apply_cmd(version: int = typer.Argument(..., help="Plan version to make desired and push."),
                  wait: bool = wait_opt, timeout: float = timeout_opt,
                  server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                  json_out: bool = json_opt) -> None:
        """Apply a plan version: push only what differs on each switch."""
        with client(server, token, ca) as c:
            out = c.apply(version, wait=wait, timeout_s=timeout)
        if json_out:
            emit_json({k: out[k] for k in ("version", "converged", "switches_updated", "updates", "push_ms")})
        else:
            console.print(f"version {out['version']}: {out['switches_updated']} switches, {out['updates']} updates, "
                          f"{'converged' if out['converged'] else 'not converged yet'} "
                          f"({out['push_ms']:.1f} ms)")

    def event(kind: str, a: str, b: str | None, node: bool, wait: bool, timeout: float, server: str | None,
              token: str | None, ca: str | None, json_out: bool) -> None:
        from fabric.errors import ConfigError

        if not node and not b:
            raise ConfigError("give both ends of the link (A B), or --node A", where="B")
        with client(server, token, ca) as c:
            out = c.event(f"{'node' if node else 'link'}_{kind}", a, b or "", wait=wait, timeout_s=timeout)
        if json_out:
            emit_json({k: out[k] for k in (*EVENT_KEYS, "diff_ms", "acked_ms", "store_ms")})
        else:
            what = f"node {a}" if node else f"link {a}--{b}"
            console.print(f"{what} {kind}: plan version {out['plan_version']}, {out['switches_updated']} switches, "
                          f"{out['updates']} updates; recompute {out['recompute_ms']:.1f} ms, diff "
                          f"{out['diff_ms']:.1f} ms, push {out['push_ms']:.1f} ms, total {out['total_ms']:.1f} ms")

    @ctl.command("fail")
    def fail_cmd(a: str = a_arg, b: str | None = b_arg,
                 node: bool = typer.Option(False, "--node", help="A is a node: all its links fail."),
                 wait: bool = wait_opt, timeout: float = timeout_opt,
                 server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                 json_out: bool = json_opt) -> None:
        """A link (or node) failed: recompute warm, push the diff, print each step's time."""
        event("down", a, b, node, wait, timeout, server, token, ca, json_out)

    @ctl.command("restore")
    def restore_cmd(a: str = a_arg, b: str | None = b_arg,
                    node: bool = typer.Option(False, "--node", help="A is a node."),
                    wait: bool = wait_opt, timeout: float = timeout_opt,
                    server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                    json_out: bool = json_opt) -> None:
        """A link (or node) is back: recompute, push the diff."""
        event("up", a, b, node, wait, timeout, server, token, ca, json_out)

    @ctl.command("events")
    def events_cmd(since: int = typer.Option(FROM_FIRST_EVENT, "--since", help="Only events after this id.",
                                           callback=non_negative()),
                   follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
                   server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                   json_out: bool = json_opt) -> None:
        """The event log (link/node events with their timings), and with --follow what happens next."""
        with client(server, token, ca) as c:
            for e in c.watch(since, timeout_s=None if follow else 2.0):
                if not follow and e["event_id"] == 0:
                    continue        # live notifications: only with --follow
                if json_out:
                    print(json.dumps(e, default=str), flush=True)
                else:
                    console.print(f"{e['event_id']:>6} {e['kind']:10} {e['a']} {e['b']} {json.dumps(e['body'])}")

    @ctl.command("submit")
    def submit_cmd(file: str = typer.Argument(..., help="Topology (file, 'example', 'zoo:<Name>')."),
                   server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                   json_out: bool = json_opt) -> None:
        """Submit a fabric to the controller (read here, checked there)."""
        from pathlib import Path

        from fabric.io.reader import read_text

        p = Path(file)
        with client(server, token, ca) as c:
            if p.exists():
                name = p.name.lower()
                fmt = "gml" if name.endswith(".gml") else "clab" if ".clab." in name else "yaml"
                out = c.submit_fabric(body=read_text(file, what="topology"), fmt=fmt)
            else:
                out = c.submit_fabric(name=file)
        if json_out:
            emit_json(out)
        else:
            console.print(f"fabric {out['name']} {out['digest']} ({out['nodes']} nodes, {out['links']} links)")

    @ctl.command("compute")
    def compute_cmd(planner: str = typer.Argument(..., help="wcmp or cc."),
                    options: str = typer.Option(NO_OPTIONS, "--options", help="Planner options as a JSON object."),
                    base: int = typer.Option(NO_BASE_VERSION, "--base", help="Add the section to this plan version "
                                             "(0: a new plan).", callback=non_negative()),
                    apply: bool = typer.Option(False, "--apply", help="Make the new version desired at once."),
                    server: str | None = server_opt, token: str | None = token_opt, ca: str | None = ca_opt,
                    json_out: bool = json_opt) -> None:
        """Compute a plan on the controller and store it as a new version."""
        from fabric.errors import ConfigError

        try:
            opts = json.loads(options)
        except ValueError as exc:
            raise ConfigError(f"not JSON: {exc}", where="--options") from None
        if not isinstance(opts, dict):
            raise ConfigError("must be a JSON object", where="--options")
        with client(server, token, ca) as c:
            out = c.compute_plan(planner, options=opts, base_version=base, apply=apply)
        if json_out:
            emit_json(out)
        else:
            console.print(f"plan version {out['version']}{'' if out['new'] else ' (identical to an existing one)'} "
                          f"in {out['seconds']:.2f} s")
