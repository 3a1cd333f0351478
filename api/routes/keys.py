"""API keys over HTTP (admin scope). The first admin key comes from `lookalike keys create`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.keys import Scope
from api.schemas import ErrorOut, KeyCreate, KeyCreated, KeyOut
from api.services import ServicesDep

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get(
    "", response_model=list[KeyOut], summary="All API keys", openapi_extra=needs(Scope.admin)
)
async def list_keys(services: ServicesDep) -> list[KeyOut]:
    keys = await run_in_threadpool(services.keys.list)
    return [KeyOut(**k.model_dump()) for k in keys]


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    summary="Create an API key; its token is in this answer only",
    openapi_extra=needs(Scope.admin),
)
async def create_key(services: ServicesDep, body: KeyCreate) -> KeyCreated:
    key, token = await run_in_threadpool(
        services.keys.create, body.scopes, body.name, body.rate_per_s
    )
    return KeyCreated(**key.model_dump(), token=token)


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke an API key",
    responses={
        404: {"model": ErrorOut, "description": "No such key."},
        409: {"model": ErrorOut, "description": "The last admin key: create another first."},
    },
    openapi_extra=needs(Scope.admin),
)
async def revoke_key(services: ServicesDep, key_id: str) -> KeyOut:
    key = await run_in_threadpool(services.keys.revoke, key_id)
    return KeyOut(**key.model_dump())
