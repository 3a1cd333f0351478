"""Ingest by URL: the server fetches the images, workers embed them, a job reports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.errors import ApiError
from api.keys import Scope
from api.schemas import ErrorOut, JobOut
from api.services import ServicesDep
from api.validation import check_client_key, check_metadata
from engine import Source
from engine.sources import FetchError, check_url

router = APIRouter(prefix="/v1/ingest", tags=["items"])


class UrlItem(BaseModel):
    """The same rules as an upload's fields (api/validation.py)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=4096)
    client_key: str | None = Field(None, max_length=512)
    product: str | None = Field(None, max_length=512)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("client_key")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        return check_client_key(key)

    @field_validator("product")
    @classmethod
    def _product(cls, product: str | None) -> str | None:
        return check_client_key(product, "product") or None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(metadata)


class UrlIngest(BaseModel):
    """A manifest in JSON: one entry per image."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "url": "https://shop.example/img/1042.jpg",
                            "client_key": "SKU-1042",
                            "metadata": {"colour": "red"},
                        },
                    ]
                }
            ]
        },
    )

    items: list[UrlItem] = Field(min_length=1)


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Ingest images by URL, as a background job",
    description="Only http(s) URLs to public addresses are fetched (see "
    "LOOKALIKE_ALLOW_PRIVATE_URLS), with a timeout and the file size cap; a URL that fails "
    "fails alone, with its reason stored on the job's counts.",
    responses={413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    openapi_extra=needs(Scope.write),
)
async def ingest_urls(services: ServicesDep, request: UrlIngest) -> Any:
    cap = services.settings.max_urls_per_request
    if len(request.items) > cap:
        raise ApiError(413, "too_many_items", f"Send at most {cap} URLs per request.")
    for n, item in enumerate(request.items):
        try:
            check_url(item.url, services.engine.settings)
        except FetchError as exc:
            raise ApiError(422, "bad_url", f"items.{n}.url: {exc}") from exc
    sources = [
        Source(
            uri=i.url, url=i.url, client_key=i.client_key, product=i.product, metadata=i.metadata
        )
        for i in request.items
    ]
    job = await run_in_threadpool(services.queue.ingest_later, sources, "url-ingest")
    return JSONResponse(JobOut.of(job).model_dump(mode="json"), status_code=202)
