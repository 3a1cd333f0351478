"""Item 7: with keys, images and thumbnails may be cached by the client only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import upload
from tests.security.conftest import Keyed


def test_keyed_images_are_private(keyed: Keyed) -> None:
    keyed.client.headers.update(keyed.as_("write"))
    item = upload(keyed.client, 1)["results"][0]["item_id"]
    for path in (f"/v1/items/{item}/image", f"/v1/items/{item}/thumbnail"):
        cache = keyed.client.get(path).headers["cache-control"]
        assert cache.startswith("private") and "public" not in cache


def test_without_keys_images_stay_public(client: TestClient) -> None:
    item = upload(client, 1)["results"][0]["item_id"]
    assert client.get(f"/v1/items/{item}/image").headers["cache-control"].startswith("public")
