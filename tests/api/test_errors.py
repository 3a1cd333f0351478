"""Every bad input answers a 4xx in one JSON shape with a reason; nothing answers 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.helpers import search_file, upload
from tests.embedder.test_decode import _png_with_size
from tests.images import encode, jpeg, scene


def _truncated() -> bytes:
    data = encode(scene(1, (400, 300)), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data,status,code",
    [
        (b"hello there", 422, "not_an_image"),
        (b"", 422, "empty_file"),
        (b"%PDF-1.7 pretending", 422, "not_an_image"),
        (encode(Image.new("RGB", (16, 16)), "ICO"), 415, "unsupported_format"),
        (_png_with_size(60_000, 60_000), 413, "too_many_pixels"),
    ],
)
def test_bad_query_images(client: TestClient, data: bytes, status: int, code: str) -> None:
    upload(client, 1)
    resp = search_file(client, data)
    assert resp.status_code == status
    body = resp.json()
    assert body["error"] == code and body["detail"].endswith(".")


def test_truncated_query(client: TestClient) -> None:
    upload(client, 1)
    resp = search_file(client, _truncated())
    assert resp.status_code == 422 and resp.json()["error"] in ("truncated_image", "corrupt_image")


def test_body_too_large_is_413(client: TestClient) -> None:
    big = b"\xff" * (6 * 1024 * 1024)
    resp = client.post("/v1/items", files=[("files", ("big.jpg", big, "image/jpeg"))])
    assert resp.status_code == 413 and resp.json()["error"] == "body_too_large"


def test_too_many_files(client: TestClient) -> None:
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(21)]
    resp = client.post("/v1/items", files=files)
    assert resp.status_code == 413 and resp.json()["error"] == "too_many_files"


def test_malformed_requests(client: TestClient) -> None:
    no_files = client.post("/v1/items")
    assert no_files.status_code == 422 and no_files.json()["error"] == "invalid_request"
    garbage = client.post(
        "/v1/items",
        content=b"--zzz\r\ngarbage",
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert 400 <= garbage.status_code < 500
    unknown_field = client.post("/v1/search", json={"positive_ids": [], "bogus": 1})
    assert unknown_field.status_code == 422
    not_json = client.post("/v1/search", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    patch = client.patch("/v1/items/" + "0" * 64, json={"metadata": {"a": 1}})
    assert patch.status_code == 404
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.post("/v1/items/x").status_code in (404, 405)
