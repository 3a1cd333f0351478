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
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from api.keys import KeyRing, grants
from api.keys import Scope as KeyScope
from api.ratelimit import RateLimiter
from api.routing import RouteTable
from index import ApiKey

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


SAFE_METHODS = ("GET", "HEAD")


class Credentials:
    """What a request presents: a token and where it came from."""

    def __init__(self, scope: Scope) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.headers = headers
        header = headers.get("x-api-key", "").strip() or None
        auth = headers.get("authorization", "")
        is_bearer = auth.lower().startswith("bearer ") or auth.strip().lower() == "bearer"
        bearer = (auth[7:].strip() or None) if is_bearer else None
        # A credential header that is there but empty is refused like a wrong key, not taken
        # for an absent one: a client whose key did not make it into the header learns it.
        self.empty = ("x-api-key" in headers and header is None) or (is_bearer and not bearer)
        self.conflict = header is not None and bearer is not None and header != bearer
        self.from_cookie = False
        self.token = header or bearer
        if self.token is None:
            # The web page's key: an HttpOnly, SameSite=Strict cookie that the server sets
            # (POST /session), so <img> requests carry it and page scripts cannot read it.
            cookies: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                cookies.load(headers.get("cookie", ""))
            cookie = cookies.get(COOKIE)
            if cookie is not None and cookie.value:
                self.token, self.from_cookie = unquote(cookie.value), True


def same_origin(headers: dict[str, str]) -> bool:
    """A browser says where a request comes from: Sec-Fetch-Site, else Origin. A cookie
    alone must never authorize a write that another site's page sent (CSRF)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == headers.get("host")


Refusal = tuple[int, str, str, str, float]  # status, code, detail, rate bucket, its rate


class AccessControl:
    def __init__(
        self,
        app: ASGIApp,
        api: FastAPI,
        keys: KeyRing,
        default_rate_per_s: float = 0.0,
        auth_failures_per_s: float = 5.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.table = RouteTable(api)
        self.keys = keys
        self.default_rate = default_rate_per_s
        self.failure_rate = auth_failures_per_s
        self.limiter = limiter or RateLimiter()

    async def _take(self, client: str, rate: float) -> float:
        """The bucket's answer; a shared one (Redis) is asked on a thread."""
        if self.limiter.shared:
            return await run_in_threadpool(self.limiter.take, client, rate)
        return self.limiter.take(client, rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        needed = needed_scope(self.table, scope)
        if needed is None:
            return await self.app(scope, receive, send)
        rate = self.default_rate
        client = "anon:" + (scope.get("client") or ("?", 0))[0]
        if self.keys.due():  # LanceDB is read on a thread, never on the event loop
            await run_in_threadpool(self.keys.reload)
        if self.keys.enabled(fresh=False):
            checked = self._check(scope, needed)
            if isinstance(checked, tuple):
                # Refused requests count against the caller: a key cannot be guessed at line
                # rate, and a key without the scope still spends its own rate.
                status, code, detail, bucket, bucket_rate = checked
                wait = await self._take(bucket, bucket_rate) if bucket_rate > 0 else 0.0
                if wait > 0:
                    return await self._deny(
                        scope, receive, send, 429, "rate_limited",
                        f"Too many refused requests: this client may send {bucket_rate:g} "
                        "per second.", retry_after=wait,
                    )  # fmt: skip
                return await self._deny(scope, receive, send, status, code, detail)
            client = "key:" + checked.key_id
            rate = checked.rate_per_s if checked.rate_per_s is not None else rate
            scope.setdefault("state", {})["api_key_id"] = checked.key_id
        if rate > 0:
            wait = await self._take(client, rate)
            if wait > 0:
                return await self._deny(
                    scope, receive, send, 429, "rate_limited",
                    f"Too many requests: this client may send {rate:g} per second.",
                    retry_after=wait,
                )  # fmt: skip
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, needed: KeyScope) -> ApiKey | Refusal:
        """The request's key, or why it is refused."""
        creds = Credentials(scope)
        failures = "fail:" + (scope.get("client") or ("?", 0))[0]
        if creds.conflict:
            return (
                401, "unauthorized",
                "The X-API-Key and Authorization headers carry different keys; send one.",
                failures, self.failure_rate,
            )  # fmt: skip
        if creds.empty:
            return (
                401, "unauthorized",
                "An X-API-Key or Authorization: Bearer header is present but empty.",
                failures, self.failure_rate,
            )  # fmt: skip
        if not creds.token:
            return (
                401, "unauthorized",
                "This route needs an API key: send it as 'Authorization: Bearer <key>' "
                "or in the 'X-API-Key' header.",
                failures, self.failure_rate,
            )  # fmt: skip
        key = self.keys.verify(creds.token, fresh=False)
        if key is None:
            return (
                401, "unauthorized", "The API key is not valid or has been revoked.",
                failures, self.failure_rate,
            )  # fmt: skip
        key_rate = key.rate_per_s if key.rate_per_s is not None else self.default_rate
        cross_site = creds.from_cookie and not same_origin(creds.headers)
        if cross_site and scope["method"] not in SAFE_METHODS:
            return (
                403, "cross_origin",
                "A request authorized by the page's cookie must come from this server's own "
                "page; send the key in a header instead.",
                "key:" + key.key_id, key_rate,
            )  # fmt: skip
        if not grants(key.scopes, needed):
            return (
                403, "forbidden",
                f"This key lacks the '{needed.value}' scope that this route needs.",
                "key:" + key.key_id, key_rate,
            )  # fmt: skip
        return key

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
