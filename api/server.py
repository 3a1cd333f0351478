"""Running the app under uvicorn with limits a public server needs.

uvicorn closes idle keep-alive connections, but a client that sends its request line and
headers a byte at a time keeps a connection (and its memory) for as long as it likes: eight
such connections were held for 28 s and more. Here every connection must finish its request
headers within `header_timeout_s` of the moment it could start one, a body must keep coming
(`body_timeout_s` between chunks, api/limits.py), and past `max_connections` uvicorn answers
503 at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from api.settings import ApiSettings


def _base(parser: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 parser: httptools (uvicorn[standard]; the faster) unless h11 is
    asked for or httptools is missing."""
    if parser != "h11":
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

            return HttpToolsProtocol
        except ImportError:  # httptools is an optional part of uvicorn
            if parser == "httptools":
                raise
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def protocol(header_timeout_s: float, base: type[Any] | None = None) -> type[asyncio.Protocol]:
    """`base` (either of uvicorn's HTTP protocols) with a deadline for the request line and
    headers of each request. Both parse what `data_received` gets at once and make a new
    `cycle` when a request's headers are complete: a new cycle disarms the deadline."""
    parent: Any = base or _base()

    class HeaderDeadline(parent):  # type: ignore[misc]  # a base chosen at run time is Any
        _deadline: asyncio.TimerHandle | None = None
        _armed_for: Any = None

        def _arm(self) -> None:
            self._disarm()
            self._armed_for = self.cycle
            self._deadline = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            if self.cycle is self._armed_for and not self.transport.is_closing():
                self.transport.close()  # no request began in time: drop the connection

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._deadline is not None and self.cycle is not self._armed_for:
                self._disarm()  # a request's headers arrived

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # keep-alive: the next request must come as promptly

    return HeaderDeadline


def run(app: Any, settings: ApiSettings) -> None:
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol(settings.header_timeout_s, _base(settings.http_parser)),
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=5,
        log_config=None,  # our handler: plain or JSON lines with the request id
        timeout_graceful_shutdown=10,
    )
