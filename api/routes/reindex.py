"""Blue/green reindex over HTTP: start it, see where it stands, roll back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.errors import ApiError
from api.keys import Scope
from api.schemas import ErrorOut, JobOut
from api.services import ServicesDep
from workers import reindex

router = APIRouter(prefix="/v1/reindex", tags=["reindex"])
WEIGHTS_FILE = (".pth", ".pt", ".bin", ".safetensors")


def weights_choice(weights: str, folder: Path | None) -> str:
    """What a reindex over HTTP may load: a weights name as it is, or a file named inside
    the one configured weights folder (resolved there, links included). Anything else is
    refused with the same sentence whether or not it exists, so the answer tells nothing
    about the server's files."""
    looks_like_file = any(c in weights for c in "/\\") or weights.endswith(WEIGHTS_FILE)
    if not looks_like_file and ".." not in weights:
        return weights
    refused = ApiError(
        422,
        "weights_not_allowed",
        f"'{weights[:80]}' is not a weights name nor a file in the server's weights folder "
        "(LOOKALIKE_WEIGHTS_DIR).",
    )
    if folder is None or Path(weights).name != weights:
        raise refused
    root = folder.resolve()
    path = (root / weights).resolve()
    if not path.is_relative_to(root) or not path.is_file() or not os.access(path, os.R_OK):
        raise refused
    return str(path)


class ReindexRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "resnet50", "pooling": "gem"}]},
    )

    model: str = Field(description="Backbone, e.g. resnet50 or efficientnet_lite0.")
    weights: str = Field(
        "default",
        max_length=200,
        description="A weights name (default, none, or one of the backbone's, e.g. "
        "IMAGENET1K_V2), or the name of a file in the server's LOOKALIKE_WEIGHTS_DIR. "
        "Never a path: a key must not choose a file on the server as the model.",
    )
    pooling: Literal["gem", "avg"] = "gem"
    gem_p: float = Field(3.0, gt=0)


class ReindexStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "active": "resnet50.imagenet1k_v2.gem.2048",
                    "previous": "resnet18.imagenet1k_v1.gem.512",
                    "latest_job": "3b9f0c2a6d8e4f1a9c7b5e3d1f2a4c6e",
                    "backfill_job": None,
                }
            ]
        }
    )

    active: str | None
    previous: str | None
    latest_job: str | None
    backfill_job: str | None = None


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Embed the catalog with another model, then switch to it",
    description="The current model keeps serving until every item has a vector under the new "
    "model id; then model and index switch together. Follow the job under /v1/jobs.",
    responses={
        409: {"model": ErrorOut, "description": "A reindex is running already."},
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    openapi_extra=needs(Scope.admin),
)
async def start(services: ServicesDep, request: ReindexRequest) -> Any:
    fields = request.model_dump()
    fields["weights"] = await run_in_threadpool(
        weights_choice, request.weights, services.settings.weights_dir
    )
    target = services.engine.embedder_settings.model_copy(update=fields)
    job = await run_in_threadpool(reindex.start_reindex, services.queue, target)
    return JSONResponse(JobOut.of(job).model_dump(mode="json"), status_code=202)


@router.get(
    "",
    response_model=ReindexStatus,
    summary="The active and previous model ids",
    openapi_extra=needs(Scope.read),
)
def get_status(services: ServicesDep) -> ReindexStatus:
    return ReindexStatus(**reindex.status(services.engine.store))


@router.post(
    "/rollback",
    response_model=ReindexStatus,
    summary="Switch back to the previous model",
    responses={409: {"model": ErrorOut, "description": "There is no previous model."}},
    openapi_extra=needs(Scope.admin),
)
def roll_back(services: ServicesDep) -> ReindexStatus:
    result = reindex.rollback(services.queue)
    return ReindexStatus(
        **reindex.status(services.engine.store), backfill_job=result["backfill_job"]
    )
