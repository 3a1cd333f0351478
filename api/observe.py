"""Per request: an id (from X-Request-ID or new) in every log line and in the answer, and
the HTTP metrics (count and latency per route template, method and status)."""

from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.routing import ROUTE_RULE, RouteTable
from engine.logs import new_request_id, request_id

REQUESTS = Counter(
    "lookalike_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "lookalike_http_request_seconds",
    "HTTP request latency, first byte in to last byte out.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class Observe:
    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.table = RouteTable(api)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = new_request_id(headers.get("x-request-id"))
        token = request_id.set(rid)
        rule = self.table.match(scope["method"], scope["path"])
        scope.setdefault("state", {})[ROUTE_RULE] = rule  # access control reads it, too
        route = rule.template if rule is not None else "unmatched"  # bounded label values
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - start)
            request_id.reset(token)
