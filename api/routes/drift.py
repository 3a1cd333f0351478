"""Drift of recent uploads against the catalog, over HTTP (admin scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.keys import Scope
from api.schemas import DriftOut, ErrorOut
from api.services import ServicesDep
from engine.drift import measure_drift

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get(
    "/drift",
    response_model=DriftOut,
    summary="Do recent uploads look like the catalog?",
    description="Mean shift, concentration, nearest-neighbour similarity and their KS "
    "distance between the newest `recent` items and the rest.",
    responses={409: {"model": ErrorOut, "description": "Too few embedded items for `recent`."}},
    openapi_extra=needs(Scope.admin),
)
async def drift(services: ServicesDep, recent: int = Query(500, ge=1, le=100_000)) -> Any:
    report = await run_in_threadpool(measure_drift, services.engine, recent)
    return DriftOut(**report.model_dump())
