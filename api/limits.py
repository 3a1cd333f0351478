"""Request body cap, enforced while the body streams in, before it is all read."""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through as a 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is over the limit of {max_bytes:,} bytes.")


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"The request body stopped arriving for {seconds:g} s.")


class BodySizeLimit:
    """Answers 413 as soon as a body is known to be over its cap, 408 when it stalls.

    A declared Content-Length over the cap is refused before a byte is read; a chunked or
    lying body is cut off the moment the running count passes the cap. JSON bodies have a
    cap of their own, far below the uploads': FastAPI parses them on the event loop.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_json_bytes: int | None = None,
        body_timeout_s: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes or max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        json_body = headers.get(b"content-type", b"").split(b";")[0].strip().endswith(b"json")
        cap = min(self.max_bytes, self.max_json_bytes) if json_body else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await self._refuse(send, cap)
            return
        seen = 0
        started = False
        body_done = False

        async def counting_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # waiting for a disconnect is no stalled body
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError as exc:
                raise BodyTimeout(self.body_timeout_s or 0) from exc
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, cap)
        except BodyTimeout as exc:
            if not started:
                await self._answer(send, 408, "body_timeout", str(exc.detail))

    async def _refuse(self, send: Send, cap: int) -> None:
        detail = f"The request body is over the limit of {cap:,} bytes."
        await self._answer(send, 413, "body_too_large", detail)

    async def _answer(self, send: Send, status: int, code: str, detail: str) -> None:
        body = json.dumps({"error": code, "detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
