"""Blue/green reindex over HTTP: start it, see where it stands, roll back."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.errors import ApiError
from api.keys import Scope
from api.schemas import ErrorOut, JobOut
from api.services import ServicesDep
from api.validation import JsonFloat
from embedder import backbone_entry, list_backbones
from workers import reindex

router = APIRouter(prefix="/v1/reindex", tags=["reindex"])
WEIGHTS_FILE = (".pth", ".pt", ".bin", ".safetensors")
# A file of the weights folder, named as it is there: no folder, no "..", one of the suffixes.
WEIGHTS_FILE_NAME = r"^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9._-]{0,150}\.(pth|pt|bin|safetensors)$"


def looks_like_file(weights: str) -> bool:
    """A path or a file name, as opposed to a weights name such as imagenet1k_v2."""
    return any(c in weights for c in "/\\") or weights.endswith(WEIGHTS_FILE)


def weights_choice(weights: str, folder: Path | None) -> str:
    """What a reindex over HTTP may load: a weights name as it is, or a file named inside
    the one configured weights folder (resolved there, links included). Anything else is
    refused with the same sentence whether or not it exists, so the answer tells nothing
    about the server's files."""
    if not looks_like_file(weights) and ".." not in weights:
        return weights
    # A bare file name is well formed, and a file the folder lacks is the server's state (409);
    # a path is refused as malformed (422). The sentence is the same either way.
    bare = re.fullmatch(WEIGHTS_FILE_NAME, weights) is not None
    refused = ApiError(
        409 if bare else 422,
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


def weights_names(model: str) -> list[str]:
    return ["default", "none", *backbone_entry(model).weights]


def _registry_schema(schema: dict[str, Any]) -> None:
    """The backbones and each one's weights, from the registry when the schema is built: a
    backbone registered at startup is in /openapi.json with no other change."""
    names = list_backbones()
    schema["properties"]["model"]["enum"] = names
    schema["oneOf"] = [
        {
            "properties": {
                "model": {"const": name},
                "weights": {
                    "anyOf": [
                        {"enum": weights_names(name)},
                        {"type": "string", "pattern": WEIGHTS_FILE_NAME},
                    ]
                },
            }
        }
        for name in names
    ]


class ReindexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_registry_schema)

    model: str = Field(
        description="A registered backbone.", examples=["resnet50", "efficientnet_lite0"]
    )
    weights: str = Field(
        "default",
        max_length=200,
        description="A weights name (default, none, or one of the backbone's, e.g. "
        "IMAGENET1K_V2), or the name of a file in the server's LOOKALIKE_WEIGHTS_DIR. "
        "Never a path: a key must not choose a file on the server as the model.",
    )
    pooling: Literal["gem", "avg"] = "gem"
    gem_p: JsonFloat = Field(3.0, gt=0, le=10)

    @model_validator(mode="after")
    def _known(self) -> ReindexRequest:
        """What the schema says, enforced: a registered backbone, one of its weights names or
        a file name (paths are left to weights_choice, which refuses them in its words)."""
        if self.model not in list_backbones():
            raise ValueError(
                f"unknown backbone '{self.model[:80]}'; choose one of {', '.join(list_backbones())}"
            )
        if not looks_like_file(self.weights) and self.weights not in weights_names(self.model):
            raise ValueError(
                f"{self.model} has no weights named '{self.weights[:80]}'; choose "
                f"{', '.join(weights_names(self.model))} or a file of the weights folder"
            )
        return self


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
