"""Prometheus metrics of the controller (prometheus-client), one registry per service.

Metric names (all present in every scrape, the per-link and per-switch families once there is a plan
and switches):

- ``fabricctl_link_planned_utilisation{link,mode}``: planned utilisation of each loaded link of the
  desired plan (the newest when none is desired), WCMP and ECMP;
- ``fabricctl_switch_applied_version{switch}``, ``fabricctl_switch_desired_version{switch}``,
  ``fabricctl_switch_connected{switch}`` (1/0);
- ``fabricctl_reconcile_seconds``: time the loop took per event (histogram);
- ``fabricctl_failure_reaction_seconds{step}``: failure reaction, per step (recompute, diff, push,
  total; histogram);
- ``fabricctl_api_requests_total{method,code}``, ``fabricctl_api_request_seconds{method}``: gRPC API
  calls (counted by :meth:`Metrics.interceptor`, before the token check, so refused calls count);
- ``fabricctl_http_requests_total{path,code}``: the web view's requests;
- ``fabricctl_store_bytes``, ``fabricctl_store_plans``, ``fabricctl_plan_version``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fabric.errors import FabricError
from fabric.web.live import LiveView

#: Histogram buckets for the loop's per-event time (seconds; assumption: 0.1 ms .. 10 s spans a tick).
RECONCILE_BUCKETS_S = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
#: Histogram buckets of failure-reaction steps (seconds; the published sub-second target sits mid-range).
REACTION_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: API call latency buckets (seconds).
API_BUCKETS_S = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0)
#: Names every scrape carries (the test checks them).
METRIC_NAMES = ("fabricctl_link_planned_utilisation", "fabricctl_switch_applied_version",
                "fabricctl_switch_desired_version", "fabricctl_switch_connected", "fabricctl_reconcile_seconds",
                "fabricctl_failure_reaction_seconds", "fabricctl_api_requests_total",
                "fabricctl_api_request_seconds", "fabricctl_http_requests_total", "fabricctl_store_bytes",
                "fabricctl_store_plans", "fabricctl_plan_version")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StateCollector(Collector):
    """Gauges read at scrape time from the controller (no copy of its state is kept here)."""

    def __init__(self, live: LiveView) -> None:
        self.live = live

    def collect(self) -> Iterator[GaugeMetricFamily]:
        util = GaugeMetricFamily("fabricctl_link_planned_utilisation",
                                 "Planned utilisation (load / capacity) of a link under the desired plan",
                                 labels=["link", "mode"])
        st = self.live.status()
        try:
            ver = self.live.version(None)     # the desired version, else the newest
        except FabricError:
            ver = 0
        if ver:
            for mode in ("wcmp", "ecmp"):
                try:
                    for lid, u in sorted(self.live.utilisation(ver, mode).items()):
                        util.add_metric([lid, mode], u)
                except Exception:  # noqa: BLE001 (a scrape reports what it can)
                    pass
        yield util
        applied = GaugeMetricFamily("fabricctl_switch_applied_version", "Plan version a switch holds",
                                    labels=["switch"])
        desired = GaugeMetricFamily("fabricctl_switch_desired_version", "Plan version a switch should hold",
                                    labels=["switch"])
        conn = GaugeMetricFamily("fabricctl_switch_connected", "1 when the controller's stream to the switch is up",
                                 labels=["switch"])
        for s in st["switches"]:
            applied.add_metric([s["name"]], s["applied_version"])
            desired.add_metric([s["name"]], s["desired_version"])
            conn.add_metric([s["name"]], 1.0 if s["connected"] else 0.0)
        yield applied
        yield desired
        yield conn
        yield GaugeMetricFamily("fabricctl_store_bytes", "Bytes of the controller's SQLite store",
                                value=self.live.store_bytes())
        yield GaugeMetricFamily("fabricctl_store_plans", "Plan versions in the store",
                                value=len(self.live.ctl.store.plans()))
        yield GaugeMetricFamily("fabricctl_plan_version", "The desired plan version (0: none)",
                                value=st["plan_version"] or 0)


class Metrics:
    """The registry; :meth:`observe` is the controller observer, :meth:`interceptor` the gRPC one."""

    def __init__(self, live: LiveView) -> None:
        self.live = live
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.reconcile = Histogram("fabricctl_reconcile_seconds", "Seconds the controller loop took per event",
                                   buckets=RECONCILE_BUCKETS_S, registry=r)
        self.reaction = Histogram("fabricctl_failure_reaction_seconds",
                                  "Seconds of each step of the reaction to a topology event",
                                  labelnames=["step"], buckets=REACTION_BUCKETS_S, registry=r)
        self.api_requests = Counter("fabricctl_api_requests", "gRPC API calls", labelnames=["method", "code"],
                                    registry=r)
        self.api_seconds = Histogram("fabricctl_api_request_seconds", "Seconds per gRPC API call",
                                     labelnames=["method"], buckets=API_BUCKETS_S, registry=r)
        self.http_requests = Counter("fabricctl_http_requests", "Web view requests", labelnames=["path", "code"],
                                     registry=r)
        for step in ("recompute", "diff", "push", "total"):
            self.reaction.labels(step=step)
        r.register(_StateCollector(live))
        live.ctl.observers.append(self.observe)

    def observe(self, what: str, figures: dict[str, Any]) -> None:
        if what == "loop":
            self.reconcile.observe(float(figures.get("seconds", 0.0)))
        elif what == "reaction":
            for step in ("recompute", "diff", "push", "total"):
                ms = figures.get(f"{step}_ms")
                if isinstance(ms, (int, float)):
                    self.reaction.labels(step=step).observe(ms / 1000.0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def interceptor(self) -> grpc.ServerInterceptor:
        return _ApiInterceptor(self)


class _ApiInterceptor(grpc.ServerInterceptor):
    """Counts each call by method and status code and times it (unary and server-streaming calls)."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method = str(details.method).rsplit("/", 1)[-1]
        m = self.m

        def record(t0: float, context: Any, failed: bool) -> None:
            code = context.code() if hasattr(context, "code") else None
            name = code.name if isinstance(code, grpc.StatusCode) else ("UNKNOWN" if failed else "OK")
            m.api_requests.labels(method=method, code=name).inc()
            m.api_seconds.labels(method=method).observe(time.perf_counter() - t0)

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request: Any, context: Any) -> Any:
                t0 = time.perf_counter()
                failed = True
                try:
                    out = inner(request, context)
                    failed = False
                    return out
                finally:
                    record(t0, context, failed)

            return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=handler.request_deserializer,
                                                       response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_s = handler.unary_stream

            def stream(request: Any, context: Any) -> Any:
                t0 = time.perf_counter()
                failed = True
                try:
                    yield from inner_s(request, context)
                    failed = False
                finally:
                    record(t0, context, failed)

            return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=handler.request_deserializer,
                                                        response_serializer=handler.response_serializer)
        return handler
