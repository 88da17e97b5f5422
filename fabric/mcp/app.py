"""The MCP server (the official ``mcp`` SDK's ``MCPServer``): tools, resources and prompts over a
:class:`~fabric.mcp.backend.Backend`.

Tools are registered from typed signatures (the SDK derives each input schema from the annotations
and ``Field`` descriptions) and return JSON objects (structured output). A
:class:`~fabric.errors.FabricError` comes back as a tool error whose text is the CLI's line
(``error: <file>: <where>: <reason>``). The act tools exist only with a controller (``--server``) and
without ``--read-only``; each first answers with a preview and a one-time token
(:mod:`fabric.mcp.confirm`) and acts when called again with it, naming the MCP client (its
``clientInfo.name`` from ``initialize``) to the controller, whose audit log records it after the
token's name (``x-fabricctl-actor``).

No ``from __future__ import annotations`` here: the SDK reads the tool signatures' annotations at
registration, and closures' string annotations would not resolve.
"""

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from fabric.errors import ConfigError, FabricError
from fabric.mcp import tools as T
from fabric.mcp.backend import Backend
from fabric.mcp.confirm import CONFIRM_TTL_S, Confirmations

SERVER_NAME = "fabricctl"
#: Tools that change the controller's state (absent with ``--read-only`` and without ``--server``).
ACT_TOOLS = ("apply_plan", "fail_link", "restore_link")
READ_TOOLS = ("fabric_summary", "find_nodes", "plan_show", "plan_diff", "link_status", "hot_links",
              "budget_check", "cc_parameters", "events")
WHAT_IF_TOOLS = ("what_if_fail", "what_if_demand")
#: Resource URIs.
FABRIC_URI, PLAN_URI, GUIDE_URI = "fabricctl://fabric", "fabricctl://plan/current", "fabricctl://docs/operator-guide"
#: README headings the operator guide resource serves, the first one found (case-insensitive).
GUIDE_HEADINGS = ("operator guide", "controller", "5-minute tour")
#: Who acts when the client sent no clientInfo name.
UNNAMED_CLIENT = "unnamed-mcp-client"
#: Characters of a refused argument value quoted in its error line.
MAX_QUOTED_CHARS = 80
#: Seconds the act tools wait for the switches to acknowledge.
ACT_WAIT_S = 60.0

INSTRUCTIONS = """fabricctl: a RoCE/AI fabric controller and its planners. Read tools describe the fabric and
the current plan; what-if tools compute what a failure or a new job would do and change nothing; act tools
(apply_plan, fail_link, restore_link) first return a preview and a one-time `confirm` token: show the
preview to the operator, and call again with the token only after the operator said yes."""

Kind = Literal["ring", "tree", "all-to-all", "permutation", "incast", "uniform"]
SectionName = Literal["wcmp", "qp_ports", "cc", "ocs", "wdm", "budgets"]
Json = dict[str, Any]


class Pair(BaseModel):
    """A latency budget pair, as in a pairs file."""

    src: Annotated[str, Field(description="Source node.")]
    dst: Annotated[str, Field(description="Destination node.")]
    budget_class: Annotated[Literal["city", "regional", "hub"] | None,
                            Field(None, alias="class", description="Budget class (default: by distance).")] = None
    budget_ms: Annotated[float | None, Field(None, gt=0, description="Budget in ms (overrides the class).")] = None
    via: Annotated[list[str] | None, Field(None, description="Nodes the path must pass, in order.")] = None

    def spec(self) -> Json:
        return {"src": self.src, "dst": self.dst, "class": self.budget_class, "budget_ms": self.budget_ms,
                "via": self.via or []}


# argument types shared by several tools
DemandKind = Annotated[Kind | None, Field(description="Collective of the demand (default: the controller's, ring).")]
RateGbps = Annotated[float | None, Field(gt=0, description="Gb/s each GPU sends (default: fabric.traffic.DEFAULT_RATE_GBPS).")]
Seed = Annotated[int | None, Field(ge=0, description="Seed of the demand generator (default 0).")]
Qps = Annotated[int | None, Field(ge=1, description="QPs per communicating pair (default 1).")]
Rate = Annotated[str, Field(description="Line rate per wavelength: 400G, 800G or 1.6T.")]
Confirm = Annotated[str | None, Field(description="The token a preview returned; omit it to get a preview.")]


def error_result(exc: BaseException) -> CallToolResult:
    """A tool error carrying the line the CLI prints for this error."""
    return CallToolResult(content=[TextContent(type="text", text=f"error: {exc}")], is_error=True)


def _one_line(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except FabricError as exc:
            return error_result(exc)
    return wrapped


class FabricMCPServer(MCPServer):
    """``MCPServer`` whose argument-validation errors are one line, as the CLI's (``error: limit: Input
    should be greater than or equal to 1, got 0``), instead of pydantic's multi-line report."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            e = cause.errors()[0]
            got = repr(e.get("input"))
            got = got if len(got) <= MAX_QUOTED_CHARS else got[:MAX_QUOTED_CHARS] + "..."
            where = ".".join(str(p) for p in e["loc"]) or "arguments"
            return error_result(ConfigError(f"{e['msg']}, got {got}", where=where))


def client_name(ctx: Context | None) -> str:
    """The MCP client's ``clientInfo.name`` from its ``initialize`` request."""
    try:
        params = ctx.session.client_params if ctx is not None else None
    except (AttributeError, ValueError):  # outside a request
        params = None
    name = params.client_info.name if params is not None and params.client_info is not None else ""
    return name.strip() or UNNAMED_CLIENT


def operator_guide(readme: Path | None = None) -> str:
    """The README's operator guide section (the first of :data:`GUIDE_HEADINGS` found), from the README
    next to the package, else the installed distribution's description (the same README)."""
    text = None
    path = readme or Path(__file__).resolve().parents[2] / "README.md"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        from importlib.metadata import PackageNotFoundError, metadata

        try:
            text = metadata("fabricctl").get_payload()  # type: ignore[attr-defined]
        except PackageNotFoundError:
            text = None
    if not text:
        raise ResourceError("no README found (neither next to the package nor in the installed metadata)")
    heads = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^(#{1,6})\s+(.+)$", text, re.M)]
    for want in GUIDE_HEADINGS:
        for i, (pos, level, title) in enumerate(heads):
            if want in title.lower():
                end = next((p for p, lv, _t in heads[i + 1:] if lv <= level), len(text))
                return text[pos:end].rstrip() + "\n"
    raise ResourceError(f"the README has no section titled {' or '.join(repr(h) for h in GUIDE_HEADINGS)}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fabricctl")
    except PackageNotFoundError:
        return "unknown"


def build_server(backend: Backend, *, read_only: bool = False) -> MCPServer:
    """The server: read and what-if tools always, act tools with a controller unless ``read_only``."""
    mcp = FabricMCPServer(SERVER_NAME, title="fabricctl", instructions=INSTRUCTIONS, version=_version(),
                    log_level="WARNING")
    ro = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
    be = backend

    def tool(title: str, annotations: ToolAnnotations = ro) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            mcp.add_tool(_one_line(fn), name=fn.__name__, title=title, annotations=annotations,
                         structured_output=True)
            return fn
        return deco

    # ------------------------------------------------------------------ read
    @tool("Fabric summary")
    def fabric_summary() -> Json:
        """Nodes per role, links, capacity per tier, oversubscription, bisection, diameter, digest of the fabric."""
        return T.fabric_summary(be)

    @tool("Find nodes")
    def find_nodes(name: Annotated[str | None, Field(description="Glob (*spine*) or substring of the name.")] = None,
                   role: Annotated[str | None, Field(description="gpu, nic, host, leaf, spine, superspine, ocs, dci.")] = None,
                   site: Annotated[str | None, Field(description="Site name.")] = None,
                   limit: Annotated[int, Field(ge=1, description="Most nodes to return.")] = T.DEFAULT_FIND_LIMIT) -> Json:
        """Nodes by name, role and site: name, role, site, degree (count is the full number of matches)."""
        return T.find_nodes(be, name, role, site, limit)

    @tool("Show the current plan")
    def plan_show(section: Annotated[SectionName | None, Field(description="Also return this section's data.")] = None) -> Json:
        """The current plan (--plan file, or the controller's desired version): per section how it was computed;
        with `section`, that section's data (wcmp groups, cc parameters, budgets...)."""
        return T.plan_show(be, section)

    @tool("Diff two plans")
    def plan_diff(old: Annotated[str, Field(description="Older plan: a controller version number or a plan file.")],
                  new: Annotated[str, Field(description="Newer plan: a controller version number or a plan file.")]) -> Json:
        """What changed per section (as `fabricctl plan diff --json`): WCMP groups added/removed/re-weighted per
        switch, failed links, QP ports, cc port groups, budgets."""
        return T.plan_diff(be, old, new)

    @tool("Link status")
    def link_status(a: Annotated[str, Field(description="A node, or a link a--b / a--b#key / a:port--b:port.")],
                    b: Annotated[str | None, Field(description="The other end (a and b are nodes).")] = None,
                    demand: DemandKind = None, rate_gbps: RateGbps = None, seed: Seed = None,
                    qps_per_pair: Qps = None) -> Json:
        """Links of a node or between two nodes: capacity, length, latency, up, failed in the plan, and each
        direction's load under the plan's WCMP groups (planned split and hashed flows)."""
        return T.link_status(be, a, b, T.recipe(demand, rate_gbps, seed, qps_per_pair))

    @tool("Hot links")
    def hot_links(top: Annotated[int, Field(ge=1, description="How many links.")] = 10,
                  basis: Annotated[Literal["planned", "hashed"], Field(
                      description="planned: exact weighted split of the groups; hashed: flow by flow through the "
                                  "switch hash (what the dataplane does).")] = "planned",
                  demand: DemandKind = None, rate_gbps: RateGbps = None, seed: Seed = None,
                  qps_per_pair: Qps = None) -> Json:
        """The most utilised directed links under the current plan's WCMP groups, with the flows crossing each
        (src, dst, UDP source port, Gb/s). Measured counters are not read (the model is the plan)."""
        return T.hot_links(be, top, basis, T.recipe(demand, rate_gbps, seed, qps_per_pair))

    @tool("Latency budgets")
    def budget_check(pairs: Annotated[list[Pair] | None, Field(description="Pairs to check.")] = None,
                     hubs: Annotated[bool, Field(description="Every pair of the eight national hub cities "
                                                             "(needs zoo:Chinanet).")] = False,
                     rate: Rate = "1.6T") -> Json:
        """One-way latency per pair (fibre, transponders, FEC, regeneration, amplifiers, switches, serialisation)
        against its budget class (city 1 ms, regional 5 ms, hub 20 ms); `over` counts violations."""
        return T.budget_check(be, [p.spec() for p in pairs] if pairs else None, hubs, rate)

    @tool("Congestion-control parameters")
    def cc_parameters(options: Annotated[Json | None, Field(
            description="fabric.cc.CcOptions fields, e.g. {\"profile\": \"nvidia\", \"over_subscribe_ratio\": 2}.")] = None) -> Json:
        """PFC headroom (xon/xoff), ECN Kmin/Kmax/Pmax and DCQCN parameters per port group, buffer pools and
        warnings (as `fabricctl plan cc --json`)."""
        return T.cc_parameters(be, options)

    @tool("Controller events")
    def events(since: Annotated[int, Field(ge=0, description="Only events after this id.")] = 0,
               limit: Annotated[int, Field(ge=1, description="Most events.")] = T.DEFAULT_EVENTS_LIMIT) -> Json:
        """The controller's event log (link/node events with their recompute and push timings). Needs --server."""
        return T.events(be, since, limit)

    # ------------------------------------------------------------------ what-if
    @tool("What if links or nodes fail")
    def what_if_fail(links: Annotated[list[str] | None, Field(description="Links to fail: a--b, a--b#key, a:port--b:port.")] = None,
                     nodes: Annotated[list[str] | None, Field(description="Nodes whose links all fail.")] = None,
                     pairs: Annotated[list[Pair] | None, Field(
                         description="Budget pairs to re-check (default: the plan's budgets section).")] = None,
                     demand: DemandKind = None, rate_gbps: RateGbps = None, seed: Seed = None,
                     qps_per_pair: Qps = None, rate: Rate = "1.6T") -> Json:
        """Changes nothing. MLU (LP optimum, WCMP, ECMP) before and after the failure (warm recompute), the
        switches whose WCMP groups would change, and latency-budget violations after it."""
        return T.what_if_fail(be, links, nodes, T.recipe(demand, rate_gbps, seed, qps_per_pair),
                              [p.spec() for p in pairs] if pairs is not None else None, rate)

    @tool("What if a job runs")
    def what_if_demand(collective: Annotated[Kind, Field(description="The job's collective.")] = "ring",
                       gpus: Annotated[list[str] | None, Field(description="The job's GPUs (endpoint names).")] = None,
                       servers: Annotated[int | None, Field(ge=1, description="Or: this many servers placed at random.")] = None,
                       gpus_per_server: Annotated[int | None, Field(ge=1, description="GPUs per placed server (default all).")] = None,
                       rate_gbps: RateGbps = None, seed: Annotated[int, Field(ge=0)] = 0,
                       qps_per_pair: Annotated[int, Field(ge=1)] = 1,
                       top: Annotated[int, Field(ge=1, description="Hottest links to list.")] = 5) -> Json:
        """Changes nothing. Plans the job's collective on the fabric (with the plan's failures): MLU LP/WCMP/ECMP,
        table entries, hottest links, and its MLU on the current plan's groups unchanged (when they cover it)."""
        return T.what_if_demand(be, collective, gpus, servers, gpus_per_server, rate_gbps, seed, qps_per_pair, top)

    if be.has_server and not read_only:
        _act_tools(mcp, be, tool)
    _resources(mcp, be)
    _prompts(mcp)
    return mcp


def _act_tools(mcp: MCPServer, be: Backend, tool: Callable[..., Any]) -> None:
    book = Confirmations()
    act = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)

    def preview(action: str, args: Json, ctx: Context | None, body: Json) -> Json:
        state = be.desired_version()
        token = book.issue(action, args, client_name(ctx), state=state)
        return {"preview": True, "action": action, "arguments": args, "desired_version": state, **body,
                "confirm": token, "expires_in_s": CONFIRM_TTL_S,
                "next": f"show this preview to the operator; to act, call {action} again with the same arguments "
                        f"and confirm={token!r}"}

    def confirmed(action: str, args: Json, ctx: Context | None, token: str) -> str:
        who = client_name(ctx)
        book.take(token, action, args, who, state=be.desired_version())
        return who

    @tool("Apply a plan version", act)
    def apply_plan(version: Annotated[int, Field(ge=1, description="Plan version on the controller.")],
                   confirm: Confirm = None, ctx: Context | None = None) -> Json:
        """Make a plan version desired and push it to the switches. Without `confirm`: a preview (what changes
        against the desired version) and a one-time token; with the token: acts (audited with your client name)."""
        args = {"version": version}
        if confirm is None:
            with be.client() as c:
                c.plan(version)                     # NOT_FOUND for an unknown version
                desired = int(c.plans()["desired_version"])
                d = c.diff(desired, version) if desired else None
            return preview("apply_plan", args, ctx, {"diff": d})
        who = confirmed("apply_plan", args, ctx, confirm)
        with be.client(actor=who) as c:
            out = c.apply(version, wait=True, timeout_s=ACT_WAIT_S)
        return {"preview": False, "action": "apply_plan", "who": who,
                **{k: out[k] for k in ("version", "converged", "switches_updated", "updates", "push_ms")}}

    def link_act(action: str, kind: str, a: str, b_end: str, confirm: str | None, ctx: Context | None) -> Json:
        args = {"a": a, "b": b_end}
        if confirm is None:
            be.fabric().find_link(f"{a}--{b_end}")   # one line for an unknown link
            body = (T.what_if_fail(be, links=[f"{a}--{b_end}"]) if kind == "link_down"
                    else {"currently_failed": _failed_now(be, a, b_end)})
            return preview(action, args, ctx, {"what_if": body})
        who = confirmed(action, args, ctx, confirm)
        with be.client(actor=who) as c:
            out = c.event(kind, a, b_end, wait=True, timeout_s=ACT_WAIT_S)
        return {"preview": False, "action": action, "who": who, **out}

    @tool("Fail a link", act)
    def fail_link(a: Annotated[str, Field(description="One end of the link.")],
                  b: Annotated[str, Field(description="The other end.")],
                  confirm: Confirm = None, ctx: Context | None = None) -> Json:
        """Report a link down to the controller (it recomputes and pushes). Without `confirm`: the what-if
        preview and a one-time token; with the token: acts (audited with your client name)."""
        return link_act("fail_link", "link_down", a, b, confirm, ctx)

    @tool("Restore a link", act)
    def restore_link(a: Annotated[str, Field(description="One end of the link.")],
                     b: Annotated[str, Field(description="The other end.")],
                     confirm: Confirm = None, ctx: Context | None = None) -> Json:
        """Report a link back up to the controller. Without `confirm`: a preview and a one-time token; with
        the token: acts (audited with your client name)."""
        return link_act("restore_link", "link_up", a, b, confirm, ctx)


def _failed_now(b: Backend, a: str, b_end: str) -> bool:
    plan, _source = b.current_plan()
    if plan is None or plan.wcmp is None:
        return False
    fab = b.fabric()
    lk = fab.find_link(f"{a}--{b_end}")
    return any(fab.find_link(s) == lk for s in plan.wcmp.failed_links)


def _resources(mcp: MCPServer, b: Backend) -> None:
    @mcp.resource(FABRIC_URI, name="fabric", title="The fabric (YAML)", mime_type="application/yaml",
                  description="The topology the tools work on, in fabricctl's YAML format.")
    def fabric_yaml() -> str:
        from fabric.io.yamlio import dump_yaml

        try:
            return dump_yaml(b.fabric())
        except FabricError as exc:
            raise ResourceError(f"error: {exc}") from None

    @mcp.resource(PLAN_URI, name="current-plan", title="The current plan (JSON)", mime_type="application/json",
                  description="The --plan file, or the controller's desired plan version.")
    def plan_json() -> str:
        try:
            plan, source = b.current_plan()
        except FabricError as exc:
            raise ResourceError(f"error: {exc}") from None
        if plan is None:
            raise ResourceError(f"error: there is no current plan ({source})")
        return plan.to_json()

    @mcp.resource(GUIDE_URI, name="operator-guide", title="Operator guide", mime_type="text/markdown",
                  description="The README's operator guide section.")
    def guide() -> str:
        return operator_guide()


def _prompts(mcp: MCPServer) -> None:
    @mcp.prompt(name="triage_hot_link", title="Triage a hot link",
                description="Find why a link is hot and what would relieve it, without changing anything.")
    def triage(link: Annotated[str, Field(description="The link (a--b), or empty for the hottest.")] = "") -> str:
        target = f"the link {link}" if link else "the hottest link (hot_links top=1)"
        return (f"Triage {target} on the fabric.\n"
                "1. Call hot_links (basis planned, then hashed) and link_status for it: its utilisation each way, "
                "capacity, and the flows crossing it.\n"
                "2. If hashed is much above planned, the hash is concentrating flows (QP source ports): say so.\n"
                "3. Call plan_show section=wcmp to see whether the plan already has failed links that push traffic "
                "onto it, and events for recent link events.\n"
                "4. Use what_if_fail / what_if_demand to test a relief (restoring a failed link, moving a job); "
                "report MLU before/after.\n"
                "Change nothing: propose an act tool call (with its preview) only if the operator asks for it.")

    @mcp.prompt(name="plan_spine_maintenance", title="Plan a maintenance window for a spine",
                description="What taking one spine out of service does, and how to do it safely.")
    def maintenance(spine: Annotated[str, Field(description="The spine to take out of service.")]) -> str:
        return (f"Plan a maintenance window for {spine}.\n"
                f"1. find_nodes name={spine} and link_status a={spine}: its links and their load.\n"
                f"2. what_if_fail nodes=[{spine}]: MLU before/after, the switches whose groups change, budget "
                "violations. Is the worst link still below 1.0 (and below 0.8 for headroom)?\n"
                "3. hot_links and link_status describe the plan as it is; for the state after the failure use "
                "what_if_fail's figures.\n"
                "4. Write the steps: fail its links one by one with fail_link (each needs the operator's "
                "confirmation of its preview), check events and hot_links after each, then restore_link each "
                "after the work. Do not call an act tool until the operator confirmed its preview.")
