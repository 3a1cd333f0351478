"""Upload, get, look up, list, fetch, update and delete items over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient
from PIL import Image

from tests.api.helpers import search_file, upload
from tests.images import encode, jpeg


def test_upload_many_then_again_creates_nothing(client: TestClient) -> None:
    first = upload(client, 1, 2, 3, keys=["a", "b", "c"])
    assert (first["added"], first["existed"], first["failed"]) == (3, 0, 0)
    assert [r["client_key"] for r in first["results"]] == ["a", "b", "c"]
    again = upload(client, 1, 2, 3)
    assert (again["added"], again["existed"]) == (0, 3)
    assert all(r["existed"] and r["status"] == "existed" for r in again["results"])
    assert [r["item_id"] for r in again["results"]] == [r["item_id"] for r in first["results"]]
    assert len(client.get("/v1/items").json()["items"]) == 3


def test_a_bad_image_in_a_batch_fails_alone(client: TestClient) -> None:
    files = [
        ("files", ("good1.jpg", jpeg(1), "image/jpeg")),
        ("files", ("notes.jpg", b"plain text", "image/jpeg")),
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("good2.jpg", jpeg(2), "image/jpeg")),
    ]
    body = client.post("/v1/items", files=files).json()
    statuses = [(r["filename"], r["status"]) for r in body["results"]]
    assert statuses == [
        ("good1.jpg", "added"),
        ("notes.jpg", "failed"),
        ("empty.png", "failed"),
        ("good2.jpg", "added"),
    ]
    assert "not an image" in body["results"][1]["error"]
    assert "empty" in body["results"][2]["error"]


def test_bad_metadata_fails_that_file_only(client: TestClient) -> None:
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(3)]
    deep = "{" + '"a": {' * 6 + "}" * 6 + "}"
    body = client.post(
        "/v1/items", files=files, data={"metadata": ['{"ok": 1}', "{not json", deep]}
    ).json()
    assert [r["status"] for r in body["results"]] == ["added", "failed", "failed"]
    assert "not valid JSON" in body["results"][1]["error"]
    assert "deeper" in body["results"][2]["error"]


def test_misaligned_keys_are_a_422(client: TestClient) -> None:
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(2)]
    resp = client.post("/v1/items", files=files, data={"client_keys": ["only-one"]})
    assert resp.status_code == 422 and resp.json()["error"] == "misaligned"


def test_get_lookup_image_thumbnail_patch(client: TestClient) -> None:
    up = upload(client, 5, metadata=[{"colour": "red"}], keys=["SKU-5"])
    item_id = up["results"][0]["item_id"]
    item = client.get(f"/v1/items/{item_id}").json()
    assert item["metadata"] == {"colour": "red"} and (item["width"], item["height"]) == (160, 128)
    assert client.get("/v1/items/by-key/SKU-5").json()[0]["id"] == item_id
    image = client.get(f"/v1/items/{item_id}/image")
    assert image.status_code == 200 and image.content == jpeg(5)
    thumb = client.get(f"/v1/items/{item_id}/thumbnail")
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    patched = client.patch(f"/v1/items/{item_id}", json={"metadata": {"colour": "blue"}}).json()
    assert patched["metadata"] == {"colour": "blue"}
    assert client.get(f"/v1/items/{item_id}").json()["metadata"] == {"colour": "blue"}


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    for path in (
        "/v1/items/" + "0" * 64,
        "/v1/items/nope",
        "/v1/items/nope/thumbnail",
        "/v1/items/../../etc/passwd",
        "/v1/items/" + "0" * 64 + "/similar",
    ):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert set(resp.json()) == {"error", "detail"}
    assert client.delete("/v1/items/" + "f" * 64).status_code == 404


def test_list_with_filters_and_cursor(client: TestClient) -> None:
    upload(client, *range(7), metadata=[{"n": i, "even": i % 2 == 0} for i in range(7)])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/items", params=params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    evens = client.get("/v1/items", params={"filter": '{"even": true}'}).json()["items"]
    assert sorted(i["metadata"]["n"] for i in evens) == [0, 2, 4, 6]
    bad = client.get("/v1/items", params={"filter": '{"n": {"near": 3}}'})
    assert bad.status_code == 422 and bad.json()["error"] == "bad_filter"
    assert client.get("/v1/items", params={"cursor": "garbage!"}).status_code == 422


def test_delete_then_search_never_shows_it(client: TestClient) -> None:
    up = upload(client, *range(6))
    gone = up["results"][2]["item_id"]
    assert client.delete(f"/v1/items/{gone}").status_code == 204
    hits = search_file(client, jpeg(2), k=10, exclude_self=False).json()["hits"]
    assert gone not in [h["item_id"] for h in hits] and len(hits) == 5
    assert client.get(f"/v1/items/{gone}").status_code == 404
    assert client.get(f"/v1/items/{gone}/image").status_code == 404


def test_png_with_alpha_round_trips(client: TestClient) -> None:
    data = encode(Image.new("RGBA", (50, 40), (0, 0, 255, 128)), "PNG")
    body = client.post("/v1/items", files=[("files", ("a.png", data, "image/png"))]).json()
    assert body["added"] == 1


def test_an_item_with_its_vector_is_the_vector_searches_use(client: TestClient) -> None:
    body = upload(client, 1, 2, keys=["a", "b"])
    item = body["results"][0]["item_id"]
    plain = client.get(f"/v1/items/{item}").json()
    assert plain["vector"] is None and plain["model_id"] is None  # only when asked
    full = client.get(f"/v1/items/{item}", params={"include": "vector"}).json()
    assert full["model_id"] == client.get("/ready").json()["model_id"]
    assert len(full["vector"]) == 512
    assert abs(sum(x * x for x in full["vector"]) - 1.0) < 1e-4  # unit length, as stored
    bad = client.get(f"/v1/items/{item}", params={"include": "pixels"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    failed = client.post("/v1/items", files=[("files", ("x.jpg", b"text", "image/jpeg"))])
    failed_id = failed.json()["results"][0]["item_id"]
    if failed_id:  # a failed file has an id too (its bytes' hash) but no vector
        answer = client.get(f"/v1/items/{failed_id}", params={"include": "vector"}).json()
        assert answer["vector"] is None
