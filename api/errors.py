"""Errors to HTTP, in one place: every error answers `{"error": code, "detail": sentence}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routing import RouteTable
from embedder import (
    EmbedderError,
    ImageDecodeError,
    TooManyPixelsError,
    UnknownModelError,
    UnsupportedFormatError,
    WeightsUnavailableError,
)
from engine import EngineError, NotIndexedError, SourceNotFoundError
from engine.errors import ConflictError, OutsideFolderError
from index import FilterError, IndexStoreError, ItemNotFoundError, ModelMismatchError
from workers.errors import QueueError, RegistrationBusyError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error raised by the API itself, with its status and code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class Overloaded(ApiError):
    def __init__(self, detail: str = "The server is busy; retry in a moment.") -> None:
        super().__init__(503, "overloaded", detail)


# Most specific first: the first class that matches decides the status.
STATUS: list[tuple[type[Exception], int]] = [
    (TooManyPixelsError, 413),
    (UnsupportedFormatError, 415),
    (ImageDecodeError, 422),
    # a model was asked for whose weights this server lacks: the request is well formed, the
    # server's state refuses it (and installing the weights changes the answer)
    (WeightsUnavailableError, 409),
    (UnknownModelError, 422),
    (EmbedderError, 422),
    (ItemNotFoundError, 404),
    (SourceNotFoundError, 404),
    (FilterError, 422),
    (ModelMismatchError, 409),
    (NotIndexedError, 409),
    (ConflictError, 409),
    (OutsideFolderError, 422),
    (EngineError, 422),  # a bad argument; what the state refuses is a ConflictError
    (IndexStoreError, 500),
    (RegistrationBusyError, 503),
    (QueueError, 503),
]


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def status_of(exc: Exception) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


def _validation_sentence(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    msg = str(first.get("msg", "is invalid")).rstrip(".")
    if first.get("type") == "value_error":  # our own validators' sentences, said as they are
        msg = msg.removeprefix("Value error, ")
        msg = msg[:1].upper() + msg[1:]
        return f"{where}: {msg}." if where else f"{msg}."
    return f"{where or 'The request'}: {msg}."


def allowed_methods(request: Request) -> str:
    """Every method the API serves at this path, as its OpenAPI document lists them.
    Starlette's own 405 names only the first route whose path matched, and
    /v1/items/{id} is three routes (GET, PATCH, DELETE)."""
    table = getattr(request.app.state, "route_table", None)
    if table is None:  # built once per app, from its (cached) OpenAPI document
        table = request.app.state.route_table = RouteTable(request.app)
    methods = table.methods(request.url.path)
    return ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
        return JSONResponse(error_body(exc.code, exc.detail), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _validation_sentence(exc)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and str(exc.detail).startswith("Part exceeded maximum size"):
            # Starlette's cap on one multipart form field (a filter, metadata): too large
            limit = str(exc.detail).rsplit(" ", 1)[-1].rstrip(".")
            return JSONResponse(
                error_body("body_too_large", f"A form field is over the limit of {limit}."), 413
            )
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        detail = str(exc.detail)
        # Starlette's own answers are two words; say what was wrong in a sentence.
        path = request.url.path[:120]
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no route at {path}; /docs lists them."
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {path}; /docs lists what is."
        elif exc.status_code == 400:
            # Starlette's and FastAPI's answers to a body they cannot decode (JSON that is
            # not UTF-8, a broken multipart form: "Invalid multipart data", "Missing
            # boundary..."): a bad body is a 422 here, like every other, as the docs promise
            form = request.headers.get("content-type", "").startswith("multipart/")
            sentence = (
                f"The multipart form could not be parsed ({detail.rstrip('.')[:120]})."
                if form
                else "The request body is not valid UTF-8 JSON."
            )
            return JSONResponse(error_body("invalid_request", sentence), 422)
        elif not detail.endswith("."):
            detail += "."
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return JSONResponse(error_body(code, detail), exc.status_code, headers=headers)

    for cls in (EmbedderError, IndexStoreError, EngineError, QueueError):

        @app.exception_handler(cls)
        async def _package(_: Request, exc: Exception) -> JSONResponse:
            status = status_of(exc)
            if status >= 500 and status != 503:
                log.exception("internal error", exc_info=exc)
            headers = {"Retry-After": "1"} if status == 503 else None
            body = error_body(getattr(exc, "code", "error"), str(exc))
            return JSONResponse(body, status, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(error_body("internal", "Something went wrong on our side."), 500)
