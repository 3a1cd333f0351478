"""Opaque, self-contained cursors, so that paging needs no server-side session.

A search cursor carries the query vector (as float16), the filter, the exclusions and the
(score, id) of the last hit served. The next page holds the hits that rank after that one,
so items added between two pages never shift or repeat what a client has already seen.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from api.errors import ApiError

T = TypeVar("T", bound=BaseModel)


class SearchCursor(BaseModel):
    model_id: str
    vector: str  # base64 of float16 values
    k: int
    filter: dict[str, Any] | None = None
    min_score: float | None = None
    exclude: list[str] = []
    after_score: float
    after_id: str

    def query_vector(self) -> np.ndarray:
        return self.unpack_vector(self.vector)

    @staticmethod
    def unpack_vector(packed: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(packed), dtype=np.float16).astype(np.float32)

    @staticmethod
    def pack_vector(vector: np.ndarray) -> str:
        return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()


class ItemCursor(BaseModel):
    created_at: str
    id: str


def encode(cursor: BaseModel) -> str:
    raw = zlib.compress(cursor.model_dump_json().encode())
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, kind: type[T]) -> T:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return kind.model_validate(json.loads(zlib.decompress(raw)))
    except (ValueError, zlib.error, ValidationError) as exc:
        raise ApiError(
            422, "bad_cursor", "The cursor is not valid; start again without it."
        ) from exc
