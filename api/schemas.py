"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from index import Item, Job


class ErrorOut(BaseModel):
    error: str = Field(examples=["not_an_image"])
    detail: str = Field(examples=["The file is not an image: it looks like a text file."])


class ItemOut(BaseModel):
    id: str = Field(description="sha256 of the image bytes.")
    client_key: str | None = None
    source: str
    metadata: dict[str, Any]
    width: int | None
    height: int | None
    format: str | None
    size_bytes: int
    created_at: datetime
    status: str
    error: str | None
    image_url: str
    thumbnail_url: str

    @classmethod
    def of(cls, item: Item) -> ItemOut:
        return cls(
            **item.model_dump(exclude={"metadata_json"}),
            metadata=item.metadata,
            image_url=f"/v1/items/{item.id}/image",
            thumbnail_url=f"/v1/items/{item.id}/thumbnail",
        )


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] | None = Field(None, description="Replaces the item's metadata.")
    client_key: str | None = Field(None, max_length=512)


class UploadResult(BaseModel):
    filename: str | None
    item_id: str | None
    status: Literal["added", "existed", "failed", "queued"] = Field(
        description="queued: still being embedded when the wait ran out; see the job."
    )
    existed: bool
    error: str | None = None
    client_key: str | None = None


class UploadResponse(BaseModel):
    results: list[UploadResult]
    added: int
    existed: int
    failed: int


class JobOut(BaseModel):
    id: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    skipped: int
    created_at: datetime
    updated_at: datetime
    error: str | None
    progress: float = Field(description="Share of the work done, 0 to 1.")
    rate: float = Field(description="Items finished per second so far.")
    eta_s: float | None = Field(description="Seconds left at that rate; null when unknown.")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        finished = job.done + job.failed + job.skipped
        progress = 1.0 if job.total == 0 else min(1.0, finished / job.total)
        elapsed = (job.updated_at - job.created_at).total_seconds()
        rate = finished / elapsed if elapsed > 0 else 0.0
        left = max(0, job.total - finished)
        eta = 0.0 if left == 0 else (left / rate if rate > 0 else None)
        return cls(
            **job.model_dump(exclude={"params_json"}), progress=progress, rate=rate, eta_s=eta
        )


class HitOut(BaseModel):
    item_id: str
    client_key: str | None
    score: float = Field(description="Cosine similarity, -1 to 1.")
    metadata: dict[str, Any]
    thumbnail_url: str
    image_url: str


class SearchResponse(BaseModel):
    hits: list[HitOut]
    model_id: str
    next_cursor: str | None = Field(None, description="Pass to POST /v1/search for more.")
    took_ms: float


class SearchRequest(BaseModel):
    """Search by examples already in the catalog, or continue a search with its cursor."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"positive_ids": ["<item id>"], "k": 10, "filter": {"colour": {"in": ["red"]}}},
                {"cursor": "<next_cursor of an earlier answer>"},
            ]
        },
    )

    positive_ids: list[str] = Field(default_factory=list, max_length=100)
    negative_ids: list[str] = Field(default_factory=list, max_length=100)
    k: int | None = Field(None, description="Results per page (default 10, capped).")
    filter: dict[str, Any] | None = Field(None, description="Metadata filter object.")
    min_score: float | None = Field(None, ge=-1, le=1)
    exclude_self: bool = True
    cursor: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    ready: bool
    model_id: str | None
    indexed: int
    detail: str
