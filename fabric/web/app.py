"""The web application (Starlette, served by uvicorn on a thread next to the gRPC server).

Starlette because it is a small, maintained ASGI toolkit with server-sent events (a streaming
response) and static files built in, and uvicorn is its reference server; both were already
installed with the MCP server's dependencies.

Routes: ``/`` (the page; ``?level=``, ``?mode=``), ``/static/*``,
``/api/{status,plans,plans/N,diff,map,utilisation,events,audit,progress,budgets,cc,cc/plots}`` (JSON; ``map`` and
``utilisation`` take ``level``, ``version``, ``expand``), ``/api/cc/plots/NAME`` (a PNG from the plots
folder, ``fabric.web.plots``), ``/api/stream`` (server-sent events from the controller's watch
queue), ``/metrics`` (Prometheus). With tokens, every route but ``/healthz`` needs
``Authorization: Bearer TOKEN`` (the API's tokens), or the ``fabricctl_token`` cookie that
``/?token=TOKEN`` sets for a browser. Errors are JSON ``{"error": "one line"}`` with 400/401/404/409,
never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fabric.errors import ConfigError, FabricError
from fabric.server.grpc_api import token_name
from fabric.server.service import Controller, NotFoundError, PreconditionError
from fabric.web import plots, views
from fabric.web.live import MAX_ROWS, LiveView
from fabric.web.metrics import CONTENT_TYPE, Metrics

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: Cookie a browser keeps the bearer token in (EventSource cannot send headers).
TOKEN_COOKIE = "fabricctl_token"
#: Seconds between keep-alive comments on the event stream.
SSE_KEEPALIVE_S = 15.0
#: Seconds the event stream sleeps when the watch queue is empty.
SSE_POLL_S = 0.05
#: Most groups one map request expands, and the longest group id.
MAX_EXPAND, MAX_ID_CHARS = 256, 300
#: Largest accepted integer query parameter (plan versions, event ids, limits).
MAX_QUERY_INT = 2**53


def page(mode: str, data: dict[str, Any] | None = None, *, inline: bool = False) -> str:
    """The page's HTML: live (assets from /static) or one self-contained file (assets inlined)."""
    html = (HERE / "templates" / "index.html").read_text(encoding="utf-8")
    boot = json.dumps({"mode": mode, "data": data}, separators=(",", ":")).replace("</", "<\\/")
    if inline:
        css = (STATIC / "app.css").read_text(encoding="utf-8")
        js = (STATIC / "app.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
        html = html.replace('<link rel="stylesheet" href="/static/app.css">', f"<style>{css}</style>")
        html = html.replace('<script src="/static/app.js"></script>', f"<script>{js}</script>")
    return html.replace("/*BOOT*/null", boot)


def _int(request: Request, name: str, default: int | None, *, low: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 16 or int(raw) > MAX_QUERY_INT:
        raise ConfigError(f"must be a whole number, got {raw[:40]!r}", where=f"query parameter {name}")
    v = int(raw)
    if v < low:
        raise ConfigError(f"must be >= {low}, got {v}", where=f"query parameter {name}")
    return v


def _choice(request: Request, name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = request.query_params.get(name, default)
    if raw not in allowed:
        raise ConfigError(f"must be one of {', '.join(allowed)}, got {raw[:40]!r}", where=f"query parameter {name}")
    return raw


def _expand(request: Request) -> tuple[str, ...]:
    raw = request.query_params.get("expand", "")
    ids = tuple(sorted({x for x in raw.split(",") if x}))
    if len(ids) > MAX_EXPAND or any(len(x) > MAX_ID_CHARS for x in ids):
        raise ConfigError(f"at most {MAX_EXPAND} group ids of at most {MAX_ID_CHARS} characters",
                          where="query parameter expand")
    return ids


def build_app(ctl: Controller, *, tokens: dict[str, str] | None = None,
              metrics: Metrics | None = None, plots_dir: str | os.PathLike[str] | None = None) -> Starlette:
    """The application for ``ctl``; ``metrics`` (made here when None) also observes ``ctl``;
    ``plots_dir``: the folder ``fabricctl sim cc --out-dir`` writes PNG plots to (none: no plots)."""
    live = metrics.live if metrics is not None else LiveView(ctl)
    m = metrics or Metrics(live)
    stopping = threading.Event()        # set by WebServer.stop: event streams end before the server does

    async def index(request: Request) -> Response:
        resp = HTMLResponse(page("live"))
        tok = request.query_params.get("token")
        if tok and tokens and token_name(tokens, tok) is not None:
            resp.set_cookie(TOKEN_COOKIE, tok, httponly=True, samesite="strict")
        return resp

    def j(fn: Any) -> Any:
        def endpoint(request: Request) -> Response:
            return JSONResponse(fn(request))
        return endpoint

    def plan_one(request: Request) -> Any:
        raw = request.path_params["version"]
        if not raw.isdigit() or len(raw) > 16:
            raise ConfigError(f"a plan version is a whole number, got {raw[:40]!r}", where="path")
        v = live.version(int(raw))
        return json.loads(ctl.plan_json(v)) | {"version": v}

    def diff(request: Request) -> Any:
        a, b = _int(request, "a", None, low=1), _int(request, "b", None, low=1)
        if a is None or b is None:
            raise ConfigError("a diff needs two plan versions: ?a=OLD&b=NEW", where="query")
        return live.diff(a, b) | {"a": a, "b": b}

    def fmap(request: Request) -> Any:
        return live.fabric_map(_choice(request, "level", "auto", views.LEVELS), _int(request, "version", None),
                               _expand(request))

    def util(request: Request) -> Any:
        return live.utilisation_doc(_int(request, "version", None), _choice(request, "mode", "wcmp", views.MODES),
                                    _choice(request, "level", "auto", views.LEVELS),
                                    _int(request, "top", views.DEFAULT_TOP, low=1) or views.DEFAULT_TOP,
                                    _expand(request))

    def events(request: Request) -> Any:
        return live.events(_int(request, "since", 0) or 0, _int(request, "limit", MAX_ROWS, low=1) or MAX_ROWS)

    def audit(request: Request) -> Any:
        return live.audit(_int(request, "limit", MAX_ROWS, low=1) or MAX_ROWS)

    async def stream(request: Request) -> Response:
        async def gen() -> Any:
            last = time.monotonic()
            q = ctl.watch()     # here, not in the endpoint: a stream never started must not keep a queue
            try:
                yield "retry: 1000\n\n"
                while not stopping.is_set() and not await request.is_disconnected():
                    try:
                        msg = q.get_nowait()
                    except queue.Empty:
                        if time.monotonic() - last > SSE_KEEPALIVE_S:
                            last = time.monotonic()
                            yield ": keep-alive\n\n"
                        await asyncio.sleep(SSE_POLL_S)
                        continue
                    yield f"event: {msg['kind']}\ndata: {json.dumps(msg, default=str)}\n\n"
            finally:
                ctl.unwatch(q)

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def plot_png(request: Request) -> Response:
        name = request.path_params["name"]
        data = plots.plot_bytes(plots_dir, name)
        if data is None:
            where = "no plots folder (serve --plots-dir DIR)" if plots_dir is None else "no such plot"
            return error(404, f"{where}: {name[:60]!r}")
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store",
                                                                "X-Content-Type-Options": "nosniff"})

    def metrics_ep(request: Request) -> Response:
        return Response(m.exposition(), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/", index), Route("/healthz", healthz), Route("/metrics", metrics_ep),
        Route("/api/status", j(lambda r: live.status())), Route("/api/plans", j(lambda r: live.plans())),
        Route("/api/plans/{version}", j(plan_one)), Route("/api/diff", j(diff)), Route("/api/map", j(fmap)),
        Route("/api/utilisation", j(util)), Route("/api/events", j(events)), Route("/api/audit", j(audit)),
        Route("/api/progress", j(lambda r: live.progress())),
        Route("/api/budgets", j(lambda r: live.budgets(_int(r, "version", None)))),
        Route("/api/cc", j(lambda r: live.cc(_int(r, "version", None)))),
        Route("/api/cc/plots", j(lambda r: plots.list_plots(plots_dir))),
        Route("/api/cc/plots/{name:path}", plot_png),
        Route("/api/stream", stream),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]

    def error(status: int, text: str) -> JSONResponse:
        return JSONResponse({"error": text}, status_code=status)

    async def on_fabric_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFoundError):
            return error(404, str(exc))
        if isinstance(exc, PreconditionError):
            return error(409, str(exc))
        return error(400, str(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, f"{exc.detail}: {request.url.path}")

    async def on_other(request: Request, exc: Exception) -> Response:
        return error(500, f"internal error: {type(exc).__name__}")

    app = Starlette(routes=routes, exception_handlers={FabricError: on_fabric_error, HTTPException: on_http,
                                                       Exception: on_other})

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        """Token check and request counting around the application."""
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        status = {"code": 0}

        async def counted(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            await send(msg)

        if tokens and path != "/healthz" and not _authorised(scope, tokens):
            resp = error(401, "this service needs a bearer token (Authorization: Bearer TOKEN, or /?token=TOKEN "
                              "once in a browser)")
            await resp(scope, receive, counted)
        else:
            await app(scope, receive, counted)
        label = path if path in _COUNTED else ("/static" if path.startswith("/static/") else
                                               "/api/plans/N" if path.startswith("/api/plans/") else
                                               "/api/cc/plots/NAME" if path.startswith("/api/cc/plots/") else "other")
        m.http_requests.labels(path=label, code=str(status["code"])).inc()

    asgi.app = app  # type: ignore[attr-defined]
    asgi.live = live  # type: ignore[attr-defined]
    asgi.metrics = m  # type: ignore[attr-defined]
    asgi.stopping = stopping  # type: ignore[attr-defined]
    return asgi  # type: ignore[return-value]


_COUNTED = frozenset({"/", "/healthz", "/metrics", "/api/status", "/api/plans", "/api/diff", "/api/map",
                      "/api/utilisation", "/api/events", "/api/audit", "/api/progress", "/api/budgets", "/api/cc",
                      "/api/cc/plots", "/api/stream"})


def _authorised(scope: Any, tokens: dict[str, str]) -> bool:
    from http.cookies import SimpleCookie

    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    auth = headers.get("authorization", "")
    if auth.startswith("Bearer ") and token_name(tokens, auth[7:].strip()) is not None:
        return True
    if "cookie" in headers:
        c: SimpleCookie = SimpleCookie()
        try:
            c.load(headers["cookie"])
        except Exception:  # noqa: BLE001 (a malformed cookie is no token)
            return False
        if TOKEN_COOKIE in c and token_name(tokens, c[TOKEN_COOKIE].value) is not None:
            return True
    if scope.get("path") == "/":
        from urllib.parse import parse_qs

        tok = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return bool(tok) and token_name(tokens, tok) is not None
    return False


class WebServer:
    """uvicorn serving an application on a daemon thread; :attr:`port` once started."""

    def __init__(self, app: Any, listen: str) -> None:
        import uvicorn

        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"--http wants HOST:PORT, got {listen!r}", where="--http")
        self.host = host.strip("[]")
        config = uvicorn.Config(app, host=self.host, port=int(port), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.stopping: threading.Event | None = getattr(app, "stopping", None)
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)
        self.port = 0

    def start(self, timeout_s: float = 10.0) -> int:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"cannot serve HTTP on {self.host} (address in use or not local)", where="--http")
            time.sleep(0.02)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self.port

    def stop(self) -> None:
        if self.stopping is not None:
            self.stopping.set()
            time.sleep(2 * SSE_POLL_S)
        self.server.should_exit = True
        self.thread.join(timeout=5)
