"""Opaque, self-contained cursors, so that paging needs no server-side session.

A search cursor carries the query vector (as float16), the filter, the exclusions and the
(score, id) of the last hit served. The next page holds the hits that rank after that one,
so items added between two pages never shift or repeat what a client has already seen.

A cursor comes back from the client, so it is untrusted input: it is HMAC-signed with a key
kept in the data folder (a cursor that was not made here is refused before anything in it
is read), its size is capped before decoding, it is decompressed with a bound, and what it
says (k, vector, filter) is checked again as if the client had sent it directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import zlib
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator

from api.errors import ApiError
from engine.grouping import MAX_GROUP_SIZE
from index import Objects

T = TypeVar("T", bound=BaseModel)
MAX_CURSOR_CHARS = 64 * 1024  # a cursor of a 2048-d vector and 1,000 exclusions is ~40 KB
MAX_JSON_BYTES = 256 * 1024
MAX_EXCLUDE = 1000
MAC_BYTES = 16
KEY_FILE = "cursor.key"


class SearchCursor(BaseModel):
    model_id: str = Field(max_length=300)
    vector: str = Field(max_length=MAX_CURSOR_CHARS)  # base64 of float16 values
    k: int = Field(ge=1)
    filter: dict[str, Any] | None = None
    min_score: float | None = Field(None, ge=-1, le=1)
    exclude: list[str] = Field(default_factory=list, max_length=MAX_EXCLUDE)
    after_score: float = Field(allow_inf_nan=False)
    after_id: str = Field(max_length=128)
    # a grouped search pages by groups: (after_score, after_id) is the last group's best photo
    group_by: Literal["product"] | None = None
    group_size: int = Field(1, ge=1, le=MAX_GROUP_SIZE)

    def query_vector(self, dim: int) -> np.ndarray:
        """The vector, checked: `dim` finite values (a signed cursor of another catalog, or
        of a model with another dimension, is refused in one sentence)."""
        try:
            vector = self.unpack_vector(self.vector)
        except (ValueError, binascii.Error) as exc:
            raise bad_cursor() from exc
        if vector.shape != (dim,) or not np.isfinite(vector).all():
            raise bad_cursor()
        return vector

    @field_validator("exclude")
    @classmethod
    def _short_ids(cls, ids: list[str]) -> list[str]:
        if any(len(i) > 128 for i in ids):
            raise ValueError("an excluded id is too long")
        return ids

    @staticmethod
    def unpack_vector(packed: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(packed), dtype=np.float16).astype(np.float32)

    @staticmethod
    def pack_vector(vector: np.ndarray) -> str:
        return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()


class ItemCursor(BaseModel):
    created_at: str = Field(max_length=64)
    id: str = Field(max_length=128)


def bad_cursor() -> ApiError:
    return ApiError(422, "bad_cursor", "The cursor is not valid; start again without it.")


def load_key(objects: Objects) -> bytes:
    """The signing key of this catalog, made on first use and kept in the catalog's home,
    so that every API process (on any host) signs and reads the same cursors."""
    return objects.put_once(KEY_FILE, secrets.token_bytes(32))


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, raw: bytes) -> bytes:
        return hmac.new(self._key, raw, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, cursor: BaseModel) -> str:
        raw = zlib.compress(cursor.model_dump_json().encode())
        return base64.urlsafe_b64encode(self._mac(raw) + raw).decode().rstrip("=")

    def decode(self, token: str, kind: type[T]) -> T:
        """The cursor, or a 422: never a 500, never a large allocation. CPU-bound (up to a
        few milliseconds): call it off the event loop."""
        if len(token) > MAX_CURSOR_CHARS:
            raise bad_cursor()
        try:
            data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, binascii.Error) as exc:
            raise bad_cursor() from exc
        mac, raw = data[:MAC_BYTES], data[MAC_BYTES:]
        if len(mac) != MAC_BYTES or not hmac.compare_digest(mac, self._mac(raw)):
            raise bad_cursor()
        try:
            inflate = zlib.decompressobj()
            text = inflate.decompress(raw, MAX_JSON_BYTES)
            if inflate.unconsumed_tail or not inflate.eof:
                raise bad_cursor()
            return kind.model_validate_json(text)
        except (ValueError, zlib.error, ValidationError) as exc:
            raise bad_cursor() from exc
