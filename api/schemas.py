"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.validation import NOT_TEXT, JsonBool, JsonInt
from engine.drift import DriftReport
from engine.grouping import MAX_GROUP_SIZE
from index import Item, Job

# Values for the examples in the OpenAPI docs.
_ID = "9f2c4e0b7d1a5c3e8f6b2d4a1c7e9b3f5d8a2c6e4b1f7d9a3c5e8b2f4d6a1c3e"
_IMAGE = f"/v1/items/{_ID}/image"
_THUMB = f"/v1/items/{_ID}/thumbnail"
_MODEL = "resnet50.imagenet1k_v2.gem.2048"
_KEY: dict[str, Any] = {
    "key_id": "3fa85f64a1b2",
    "name": "shop-frontend",
    "scopes": ["read"],
    "created_at": "2026-11-24T10:00:00Z",
    "revoked": False,
    "rate_per_s": None,
}


class ErrorOut(BaseModel):
    error: str = Field(examples=["not_an_image"])
    detail: str = Field(examples=["The file is not an image: it looks like a text file."])


class ItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _ID,
                    "client_key": "SKU-1042-front",
                    "product": "SKU-1042",
                    "source": "upload:red-shoe.jpg",
                    "metadata": {"colour": "red", "price": 59},
                    "width": 1024,
                    "height": 768,
                    "format": "JPEG",
                    "size_bytes": 183204,
                    "created_at": "2026-11-24T10:00:00Z",
                    "status": "embedded",
                    "error": None,
                    "image_url": _IMAGE,
                    "thumbnail_url": _THUMB,
                }
            ]
        }
    )

    id: str = Field(description="sha256 of the image bytes.")
    client_key: str | None = None
    product: str | None = Field(None, description="The product this photo shows, if any.")
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
    model_id: str | None = Field(
        None, description="With include=vector: the model whose vector this is."
    )
    vector: list[float] | None = Field(
        None,
        description="With include=vector: the item's vector under the active model (unit "
        "length); null when the item has none (failed, or still queued).",
    )

    @classmethod
    def of(cls, item: Item, **extra: Any) -> ItemOut:
        return cls(
            **item.model_dump(exclude={"metadata_json"}),
            metadata=item.metadata,
            image_url=f"/v1/items/{item.id}/image",
            thumbnail_url=f"/v1/items/{item.id}/thumbnail",
            **extra,
        )


class ItemPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [], "next_cursor": "eJyrVkrOz0..."}]}
    )

    items: list[ItemOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class ItemPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"metadata": {"colour": "blue", "price": 49}}]},
    )

    metadata: dict[str, Any] | None = Field(None, description="Replaces the item's metadata.")
    client_key: str | None = Field(None, max_length=512)
    product: str | None = Field(
        None, max_length=512, description='The product this photo shows; "" removes it.'
    )


class UploadResult(BaseModel):
    filename: str | None
    item_id: str | None
    status: Literal["added", "existed", "failed", "queued"] = Field(
        description="queued: still being embedded when the wait ran out; see the job."
    )
    existed: bool
    error: str | None = None
    client_key: str | None = None
    near_duplicate_of: str | None = Field(
        None, description="An item already in the catalog that this one nearly duplicates."
    )
    near_duplicate_similarity: float | None = None


class UploadResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {
                            "filename": "red-shoe.jpg",
                            "item_id": _ID,
                            "status": "added",
                            "existed": False,
                            "error": None,
                            "client_key": "SKU-1042",
                        },
                        {
                            "filename": "notes.jpg",
                            "item_id": None,
                            "status": "failed",
                            "existed": False,
                            "error": "The file is not an image: it looks like a text file.",
                            "client_key": None,
                        },
                    ],
                    "added": 1,
                    "existed": 0,
                    "failed": 1,
                }
            ]
        }
    )

    results: list[UploadResult]
    added: int
    existed: int
    failed: int


class JobOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3b9f0c2a6d8e4f1a9c7b5e3d1f2a4c6e",
                    "kind": "upload",
                    "status": "running",
                    "total": 1000,
                    "done": 420,
                    "failed": 3,
                    "skipped": 12,
                    "queued": 565,
                    "created_at": "2026-11-24T10:00:00Z",
                    "updated_at": "2026-11-24T10:00:42Z",
                    "error": None,
                    "progress": 0.435,
                    "rate": 10.4,
                    "eta_s": 54.3,
                }
            ]
        }
    )

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
    queued: int = Field(description="Items not finished yet.")
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
            **job.model_dump(exclude={"params_json"}),
            queued=left,
            progress=progress,
            rate=rate,
            eta_s=eta,
        )


class HitOut(BaseModel):
    item_id: str
    client_key: str | None
    product: str | None = None
    score: float = Field(description="Cosine similarity, -1 to 1, on the model's own scale.")
    similarity: float = Field(
        description="Calibrated similarity, 0 to 1, comparable across models: 0 is as close as "
        "unrelated catalog items get (their 95th percentile), 1 the same picture."
    )
    metadata: dict[str, Any]
    thumbnail_url: str
    image_url: str


class GroupOut(BaseModel):
    key: str = Field(description="The product, or the item id of a photo that has none.")
    product: str | None
    hits: list[HitOut] = Field(description="The group's best-matching photos, best first.")


GROUP_BY = "Answer products: k distinct products, each with its best photos (`hits` then "
"holds each group's best photo)."
GROUP_SIZE = f"Photos per group with group_by (1 to {MAX_GROUP_SIZE})."


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hits": [
                        {
                            "item_id": _ID,
                            "client_key": "SKU-1042",
                            "score": 0.913,
                            "similarity": 0.78,
                            "metadata": {"colour": "red"},
                            "thumbnail_url": _THUMB,
                            "image_url": _IMAGE,
                        }
                    ],
                    "model_id": _MODEL,
                    "next_cursor": None,
                    "took_ms": 31.5,
                }
            ]
        }
    )

    hits: list[HitOut]
    groups: list[GroupOut] | None = Field(None, description="With group_by: the groups.")
    model_id: str
    next_cursor: str | None = Field(None, description="Pass to POST /v1/search for more.")
    took_ms: float


class SearchRequest(BaseModel):
    """Search by examples already in the catalog, or continue a search with its cursor."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"positive_ids": [_ID], "k": 10, "filter": {"colour": {"in": ["red"]}}},
            ],
            # a search needs an example to start from, or the cursor of an earlier page
            "anyOf": [
                {"required": ["cursor"], "properties": {"cursor": {"type": "string"}}},
                {"required": ["positive_ids"], "properties": {"positive_ids": {"minItems": 1}}},
            ],
        },
    )

    positive_ids: list[str] = Field(default_factory=list, max_length=100)
    negative_ids: list[str] = Field(default_factory=list, max_length=100)
    k: JsonInt | None = Field(None, description="Results per page (default 10, capped).")
    filter: dict[str, Any] | None = Field(None, description="Metadata filter object.")
    # bounds before the validator: after it they land in the schema as "ge"/"le", words
    # JSON Schema does not know, and the document would not say them
    min_score: Annotated[float, Field(ge=-1, le=1), NOT_TEXT] | None = None
    exclude_self: JsonBool = True
    cursor: str | None = Field(None, description="The `next_cursor` of an earlier answer.")
    expand: JsonInt = Field(0, ge=0, le=10, description="Query expansion with the top N results.")
    collapse: JsonBool = Field(False, description="Drop near duplicates of a better hit.")
    group_by: Literal["product"] | None = Field(None, description=GROUP_BY)
    group_size: JsonInt = Field(1, ge=1, le=MAX_GROUP_SIZE, description=GROUP_SIZE)


class BatchQuery(BaseModel):
    """One query of POST /v1/search/batch: examples by id and by uploaded image (an index
    into the request's `files`), with its own k, filter and grouping."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"files": [0], "k": 5}, {"positive_ids": [_ID], "group_by": "product"}],
            # a query needs an image or an id to start from
            "anyOf": [
                {"required": ["files"], "properties": {"files": {"minItems": 1}}},
                {"required": ["positive_ids"], "properties": {"positive_ids": {"minItems": 1}}},
            ],
        },
    )

    positive_ids: list[str] = Field(default_factory=list, max_length=100)
    negative_ids: list[str] = Field(default_factory=list, max_length=100)
    files: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, max_length=100, description="Indexes of query images in `files`."
    )
    negative_files: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, max_length=100, description="Indexes of images to move away from."
    )
    box: str | None = Field(None, max_length=200, description="A region of this query's images.")
    k: JsonInt | None = Field(None, description="Results (default 10, capped).")
    filter: dict[str, Any] | None = Field(None, description="Metadata filter object.")
    min_score: Annotated[float, Field(ge=-1, le=1), NOT_TEXT] | None = None
    exclude_self: JsonBool = True
    group_by: Literal["product"] | None = Field(None, description=GROUP_BY)
    group_size: JsonInt = Field(1, ge=1, le=MAX_GROUP_SIZE, description=GROUP_SIZE)


class BatchSearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"hits": [], "model_id": _MODEL, "next_cursor": None, "took_ms": 12.0}
                    ],
                    "took_ms": 14.2,
                }
            ]
        }
    )

    results: list[SearchResponse] = Field(description="One answer per query, in order.")
    took_ms: float


class HealthOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ready": True,
                    "model_id": _MODEL,
                    "indexed": 12840,
                    "detail": f"serving 12840 items with {_MODEL}; workers answer",
                }
            ]
        }
    )

    ready: bool
    model_id: str | None
    indexed: int
    detail: str


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"scopes": ["read"], "name": "shop-frontend"}]},
    )

    scopes: list[Literal["read", "write", "admin"]] = Field(
        min_length=1, description="read: search and get; write: upload, delete, reindex; admin."
    )
    name: str = Field("", max_length=200)
    rate_per_s: Annotated[float, Field(gt=0), NOT_TEXT] | None = Field(
        None, description="Requests per second for this key; the server default if unset."
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KEY]})

    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked: bool
    rate_per_s: float | None


class KeyCreated(KeyOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY, "token": "lk_3fa85f64a1b2_Xn2v..."}]}
    )

    token: str = Field(description="Shown once; only its hash is stored.")


class DriftOut(DriftReport):
    """The drift report, with an example for the docs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_id": _MODEL,
                    "recent": 500,
                    "reference": 5000,
                    "mean_shift": 0.0021,
                    "concentration_recent": 0.81,
                    "concentration_reference": 0.8,
                    "nn_similarity_recent": 0.91,
                    "nn_similarity_reference": 0.92,
                    "ks_distance": 0.06,
                    "drifted": False,
                    "summary": "recent uploads look like the catalog (KS 0.06, mean shift 0.002)",
                }
            ]
        }
    )
