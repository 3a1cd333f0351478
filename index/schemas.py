"""Table schemas. One pydantic model defines each LanceDB table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any

from lancedb.pydantic import LanceModel, Vector
from pydantic import field_validator

# The tables' layout, as a backup records it: 2 added the items' `product`. A backup of
# another version is refused (engine/backup.py), not half-read.
SCHEMA_VERSION = 2


class ItemStatus(StrEnum):
    queued = "queued"
    embedded = "embedded"
    failed = "failed"


class _Row(LanceModel):
    """LanceDB hands timestamps back without a zone; they were written in UTC."""

    @field_validator("created_at", "updated_at", "sent_at", check_fields=False)
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Item(_Row):
    """A catalog item. Its id is the sha256 of the image bytes (content addressing)."""

    id: str
    client_key: str | None = None
    # Several photos of one product share it: searches can answer products, not photos.
    product: str | None = None
    source: str = ""
    metadata_json: str = "{}"
    width: int | None = None
    height: int | None = None
    format: str | None = None
    size_bytes: int = 0
    created_at: datetime
    status: str = ItemStatus.queued.value
    error: str | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = json.loads(self.metadata_json)
        return metadata

    @classmethod
    def new(cls, item_id: str, **fields: Any) -> Item:
        metadata = fields.pop("metadata", None) or {}
        return cls(
            id=item_id,
            created_at=datetime.now(UTC),
            metadata_json=json.dumps(metadata, sort_keys=True),
            **fields,
        )


@cache
def embedding_schema(dim: int) -> type[LanceModel]:
    """The embeddings table of one model: each vector carries its model id."""

    class Embedding(LanceModel):
        item_id: str
        model_id: str
        # LanceDB's Vector(dim) builds the column's type at run time, which no checker can see
        vector: Vector(dim)  # type: ignore[valid-type]

    Embedding.__name__ = f"Embedding{dim}"
    return Embedding


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class Job(_Row):
    """A unit of background work (an ingest, a reindex) and its progress counts."""

    id: str
    kind: str
    status: str = JobStatus.queued.value
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    params_json: str = "{}"

    @classmethod
    def new(cls, job_id: str, kind: str, total: int = 0, **params: Any) -> Job:
        now = datetime.now(UTC)
        return cls(
            id=job_id,
            kind=kind,
            total=total,
            created_at=now,
            updated_at=now,
            params_json=json.dumps(params, sort_keys=True, default=str),
        )


class BatchState(StrEnum):
    queued = "queued"
    done = "done"
    cancelled = "cancelled"


class Batch(_Row):
    """A slice of a job's items: the unit a worker embeds, written before its message is sent.

    `key` is job id and batch number, so a retried or resent batch overwrites its own row and
    is counted once however often it runs.
    """

    key: str
    job_id: str
    batch_no: int
    item_ids: list[str]
    state: str = BatchState.queued.value
    sent_at: datetime
    updated_at: datetime
    done: int = 0
    failed: int = 0
    skipped: int = 0


class ApiKey(_Row):
    """An API key: only the sha256 of its secret is stored; `key_id` is the public part."""

    key_id: str
    name: str = ""
    scopes: list[str]
    secret_sha256: str
    created_at: datetime
    revoked: bool = False
    rate_per_s: float | None = None  # None: the server's default rate
