"""The web page's key, kept by the server in a cookie that page scripts cannot read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.access import COOKIE, same_origin
from api.errors import ApiError
from api.schemas import ErrorOut
from api.services import ServicesDep

router = APIRouter(tags=["session"])


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


@router.post(
    "/session",
    status_code=204,
    response_class=Response,
    summary="Keep an API key in this browser (an HttpOnly, SameSite=Strict cookie)",
    description="Send the key as `Authorization: Bearer <key>`; the answer sets the cookie "
    "that the web page's requests and images then carry. Only the page's own origin may "
    "ask.",
    responses={
        401: {"model": ErrorOut, "description": "The key is not valid."},
        403: {"model": ErrorOut, "description": "Asked from another origin."},
    },
)
async def create_session(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str, Header(description="Bearer <key>")] = "",
) -> Response:
    if not same_origin(_headers(request)):
        raise ApiError(403, "cross_origin", "Only this server's own page may set its key cookie.")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    key = await run_in_threadpool(services.keys.verify, token) if token else None
    if key is None:
        raise ApiError(401, "unauthorized", "The API key is not valid or has been revoked.")
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.delete(
    "/session",
    status_code=204,
    response_class=Response,
    summary="Forget this browser's key cookie",
)
def delete_session() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
