"""Item 3: cursors are signed, size-capped, bounded when inflated, checked again, and a
tampered one is a 422, never a 500."""

from __future__ import annotations

import base64
import json
import time
import zlib

import numpy as np
import pytest

from engine import Engine
from tests.api.helpers import upload
from tests.security.conftest import Keyed


@pytest.fixture
def cursor(keyed: Keyed) -> str:
    headers = keyed.as_("write")
    keyed.client.headers.update(headers)
    ids = [r["item_id"] for r in upload(keyed.client, *range(6))["results"]]
    page = keyed.client.post("/v1/search", json={"positive_ids": [ids[0]], "k": 2}).json()
    assert page["next_cursor"]
    return str(page["next_cursor"])


def _refused(keyed: Keyed, token: str) -> None:
    start = time.perf_counter()
    resp = keyed.client.post("/v1/search", json={"cursor": token})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "bad_cursor"
    assert time.perf_counter() - start < 2.0


def test_the_cursor_pages_on_and_a_changed_byte_is_refused(keyed: Keyed, cursor: str) -> None:
    assert keyed.client.post("/v1/search", json={"cursor": cursor}).status_code == 200
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-1] ^= 1
    _refused(keyed, base64.urlsafe_b64encode(bytes(raw)).decode())


def test_an_unsigned_cursor_is_refused_before_it_is_inflated(keyed: Keyed, cursor: str) -> None:
    """The issue's bomb: 1 GB of JSON in a cursor of a megabyte; and an unsigned k=10**9."""
    bomb = zlib.compress(b"[" * (64 * 1024 * 1024), 9)
    _refused(keyed, base64.urlsafe_b64encode(bytes(16) + bomb).decode())
    forged = {
        "model_id": "x", "vector": "", "k": 10**9, "after_score": 0.5, "after_id": "a",
    }  # fmt: skip
    raw = zlib.compress(json.dumps(forged).encode())
    _refused(keyed, base64.urlsafe_b64encode(raw).decode())
    _refused(keyed, "A" * 200_000)


def test_a_signed_cursor_is_still_checked(keyed: Keyed, engine: Engine, cursor: str) -> None:
    """Even a cursor signed with the catalog's key (the key leaked, the rules changed)."""
    from api.cursor import KEY_FILE, CursorCodec, SearchCursor

    codec = CursorCodec((engine.index_settings.data_dir / KEY_FILE).read_bytes())
    good = codec.decode(cursor, SearchCursor)
    nan = SearchCursor.pack_vector(np.full(engine.embedder.dim, np.nan))
    short = SearchCursor.pack_vector(np.ones(3))
    bombed = codec._mac(zlib.compress(b" " * (8 * 1024 * 1024)))
    for changed in ({"k": 10**9}, {"vector": nan}, {"vector": short}, {"vector": "%%%"}):
        _refused(keyed, codec.encode(good.model_copy(update=changed)))
    raw = zlib.compress(b" " * (8 * 1024 * 1024))
    _refused(keyed, base64.urlsafe_b64encode(bombed + raw).decode())
    items = keyed.client.get("/v1/items", params={"limit": 1}).json()["next_cursor"]
    _refused(keyed, items)  # an item cursor is no search cursor
