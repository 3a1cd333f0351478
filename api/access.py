"""Access control: API keys with scopes, and per-key rate limits.

Each route under /v1 declares the scope it needs with `needs(...)` (it lands in the OpenAPI
schema as `x-scope`). The check runs as middleware, before the body is read, so a stranger
cannot make the server read a large upload. A /v1 path that declares nothing needs admin:
forgetting to declare a scope closes a route instead of opening it.
"""

from __future__ import annotations

import contextlib
import math
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from api.keys import KeyRing, grants
from api.keys import Scope as KeyScope
from api.ratelimit import RateLimiter
from api.routing import RouteTable

SCOPE_FIELD = "x-scope"
COOKIE = "lookalike_key"
SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}


def needs(scope: KeyScope) -> dict[str, Any]:
    """The `openapi_extra` of a route that needs `scope`."""
    return {SCOPE_FIELD: scope.value, "security": [{name: []} for name in SCHEMES]}


def needed_scope(table: RouteTable, scope: Scope) -> KeyScope | None:
    """The scope a request needs; None for public routes outside /v1."""
    rule = table.for_request(scope)
    if rule is not None and SCOPE_FIELD in rule.operation:
        return KeyScope(rule.operation[SCOPE_FIELD])
    path = scope["path"]
    return KeyScope.admin if path.startswith("/v1/") or path == "/v1" else None


def _token(scope: Scope) -> str | None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    # The web page keeps its key in a SameSite=Strict cookie, so <img> requests carry it too.
    cookies = SimpleCookie()
    with contextlib.suppress(CookieError):
        cookies.load(headers.get("cookie", ""))
    cookie = cookies.get(COOKIE)
    return unquote(cookie.value) if cookie is not None and cookie.value else None


class AccessControl:
    def __init__(
        self,
        app: ASGIApp,
        api: FastAPI,
        keys: KeyRing,
        default_rate_per_s: float = 0.0,
    ) -> None:
        self.app = app
        self.table = RouteTable(api)
        self.keys = keys
        self.default_rate = default_rate_per_s
        self.limiter = RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        needed = needed_scope(self.table, scope)
        if needed is None:
            return await self.app(scope, receive, send)
        rate = self.default_rate
        client = "anon:" + (scope.get("client") or ("?", 0))[0]
        if self.keys.enabled():
            token = _token(scope)
            if not token:
                return await self._deny(
                    scope, receive, send, 401, "unauthorized",
                    "This route needs an API key: send it as 'Authorization: Bearer <key>' "
                    "or in the 'X-API-Key' header.",
                )  # fmt: skip
            key = self.keys.verify(token)
            if key is None:
                return await self._deny(
                    scope, receive, send, 401, "unauthorized",
                    "The API key is not valid or has been revoked.",
                )  # fmt: skip
            if not grants(key.scopes, needed):
                return await self._deny(
                    scope, receive, send, 403, "forbidden",
                    f"This key lacks the '{needed.value}' scope that this route needs.",
                )  # fmt: skip
            client = "key:" + key.key_id
            rate = key.rate_per_s if key.rate_per_s is not None else rate
            scope.setdefault("state", {})["api_key_id"] = key.key_id
        if rate > 0:
            wait = self.limiter.take(client, rate)
            if wait > 0:
                return await self._deny(
                    scope, receive, send, 429, "rate_limited",
                    f"Too many requests: this client may send {rate:g} per second.",
                    retry_after=wait,
                )  # fmt: skip
        await self.app(scope, receive, send)

    @staticmethod
    async def _deny(
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        code: str,
        detail: str,
        retry_after: float | None = None,
    ) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        await JSONResponse(error_body(code, detail), status, headers=headers)(scope, receive, send)


def install_security_schemes(app: FastAPI) -> None:
    """Declare the key schemes in the OpenAPI schema, so /docs offers an Authorize button."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
