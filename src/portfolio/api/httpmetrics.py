"""HTTP metrics, recorded by the service's middleware under the names
prometheus-fastapi-instrumentator gives them (``http_requests_total{handler,method,status}``,
``http_request_duration_seconds{handler,method}``, ``http_request_duration_highr_seconds``), so
dashboards and rules built for it work.

Written here rather than taken from the instrumentator: it resolves each request's route
template before the app runs by matching the path against every route (twice, with the access
log), and builds a Request, a Response and an Info object per request; together that was a third
of the cost of a trivial request. Here the template is read after the app has routed the request
(``route_template``: the route the router put on the scope, with the prefix it was matched
under), and label children are cached."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import Scope

UNMATCHED = "none"  # the instrumentator's name for paths no route matches
LATENCY_BUCKETS = (0.1, 0.5, 1.0)
# Fine from 1 ms up, so that the dashboard's quantiles tell 5 ms from 50 ms (an answer from the
# cache takes a few ms); unlabelled, so the buckets cost one series each.
HIGHR_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
                 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60)  # fmt: skip


def route_template(scope: Scope) -> str | None:
    """The template of the route that answered ("/api/v1/wallets/{wallet_id}"), or None when
    none did. The router puts the route on the scope; a route of an included router knows its
    path without the prefix it was included under, which is the part of the request's path
    before the part the route matches."""
    route = scope.get("route")
    template: str | None = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if template is None or regex is None:
        return template
    path: str = scope["path"]
    if regex.match(path):
        return template
    start = path.find("/", 1)
    while start > 0:
        if regex.match(path[start:]):  # a slice: the pattern is anchored with ^
            return path[:start] + template
        start = path.find("/", start + 1)
    return template


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry, excluded: tuple[str, ...] = ()) -> None:
        """``excluded``: route templates not counted (the metrics routes themselves)."""
        self._excluded = frozenset(excluded)
        self._requests = Counter(
            "http_requests", "Total number of requests by method, status and handler.",
            ["method", "status", "handler"], registry=registry,
        )  # fmt: skip
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler and method.",
            ["handler", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._highr = Histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no labels.",
            buckets=HIGHR_BUCKETS, registry=registry,
        )  # fmt: skip
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """One answered request (after the app has routed it)."""
        handler = route_template(scope) or UNMATCHED
        if handler in self._excluded:
            return
        requests, latency = self._child(scope["method"], f"{str(status)[0]}xx", handler)
        requests.inc()
        latency.observe(seconds)
        self._highr.observe(seconds)

    def _child(self, method: str, status: str, handler: str) -> tuple[Counter, Histogram]:
        key = (method, status, handler)
        child = self._children.get(key)
        if child is None:  # bounded: route templates x methods x status classes
            child = (
                self._requests.labels(method, status, handler),
                self._latency.labels(handler, method),
            )
            self._children[key] = child
        return child
