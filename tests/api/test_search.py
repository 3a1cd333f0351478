"""Search over HTTP: by upload, by id, by examples, with filters, k limits and cursors."""

from __future__ import annotations

from fastapi.testclient import TestClient
from PIL import Image

from tests.api.helpers import search_file, upload
from tests.images import encode, jpeg, scene


def test_search_by_upload_finds_the_copy_first(client: TestClient) -> None:
    up = upload(client, *range(8))
    resized = encode(scene(4).resize((320, 256)), "PNG")
    body = search_file(client, resized, k=3).json()
    assert body["hits"][0]["item_id"] == up["results"][4]["item_id"]
    assert body["model_id"] == "resnet18.none.gem.512" and len(body["hits"]) == 3
    hit = body["hits"][0]
    assert hit["thumbnail_url"].endswith("/thumbnail") and -1 <= hit["score"] <= 1
    # the exact bytes of a catalog item leave that item out unless asked
    same = search_file(client, jpeg(4), k=3).json()["hits"]
    assert up["results"][4]["item_id"] not in [h["item_id"] for h in same]
    kept = search_file(client, jpeg(4), k=1, exclude_self="false").json()["hits"]
    assert kept[0]["item_id"] == up["results"][4]["item_id"]


def test_similar_to_an_item(client: TestClient) -> None:
    up = upload(client, *range(5))
    first = up["results"][0]["item_id"]
    hits = client.get(f"/v1/items/{first}/similar", params={"k": 4}).json()["hits"]
    assert len(hits) == 4 and first not in [h["item_id"] for h in hits]


def test_positive_and_negative_examples(client: TestClient) -> None:
    up = upload(client, *range(10))
    ids = [r["item_id"] for r in up["results"]]
    body = client.post(
        "/v1/search", json={"positive_ids": ids[:2], "negative_ids": [ids[2]], "k": 5}
    ).json()
    found = [h["item_id"] for h in body["hits"]]
    assert len(found) == 5 and not set(found) & set(ids[:3])
    mixed = client.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", jpeg(3), "image/jpeg"))],
        data={"positive_ids": [ids[4]], "negative_ids": [ids[5]], "k": "3"},
    )
    assert mixed.status_code == 200 and len(mixed.json()["hits"]) == 3
    none = client.post("/v1/search", json={"positive_ids": []})
    assert none.status_code == 422 and none.json()["error"] == "no_examples"


def test_filters_still_return_k(client: TestClient) -> None:
    upload(
        client,
        *range(12),
        metadata=[{"colour": ["red", "blue", "green"][i % 3], "price": i} for i in range(12)],
    )
    hits = search_file(client, jpeg(0), k=4, filter='{"colour": "green"}').json()["hits"]
    assert len(hits) == 4 and {h["metadata"]["colour"] for h in hits} == {"green"}
    ranged = search_file(
        client,
        jpeg(0),
        k=3,
        filter='{"price": {"gte": 3, "lt": 9}, "colour": {"in": ["red", "blue"]}}',
    ).json()["hits"]
    assert len(ranged) == 3 and all(3 <= h["metadata"]["price"] < 9 for h in ranged)


def test_k_and_filter_errors_are_422(client: TestClient) -> None:
    upload(client, 1, 2)
    for k in (0, -1, 51, 10**9):
        resp = search_file(client, jpeg(1), k=k)
        assert resp.status_code == 422 and resp.json()["error"] in ("bad_k", "invalid_request"), k
    assert search_file(client, jpeg(1), k="many").status_code == 422
    bad = search_file(client, jpeg(1), filter="{oops")
    assert bad.status_code == 422 and "not valid JSON" in bad.json()["detail"]


def test_cursor_pages_are_stable_while_items_arrive(client: TestClient) -> None:
    upload(client, *range(12))
    first = search_file(client, jpeg(100), k=4).json()
    upload(client, *range(200, 206))  # new items between pages
    seen = [h["item_id"] for h in first["hits"]]
    scores = [h["score"] for h in first["hits"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.post("/v1/search", json={"cursor": cursor}).json()
        seen += [h["item_id"] for h in page["hits"]]
        scores += [h["score"] for h in page["hits"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) and len(seen) >= 12
    assert scores == sorted(scores, reverse=True)  # later pages never outrank earlier ones
    assert client.post("/v1/search", json={"cursor": "nonsense"}).status_code == 422


def test_min_score_threshold(client: TestClient) -> None:
    upload(client, *range(6))
    hits = search_file(client, jpeg(2), k=10, min_score=0.999, exclude_self="false").json()["hits"]
    assert len(hits) == 1


def test_query_expansion_moves_the_query_and_keeps_exclusions(client: TestClient) -> None:
    ids = [r["item_id"] for r in upload(client, 1, 2, 3, 4, 5)["results"]]
    plain = search_file(client, jpeg(3)).json()["hits"]
    expanded = search_file(client, jpeg(3), expand=3).json()["hits"]
    assert len(plain) == len(expanded) == 4  # the exact copy stays excluded
    assert ids[2] not in [h["item_id"] for h in expanded]
    assert [h["score"] for h in plain] != [h["score"] for h in expanded]
    similar = client.get(f"/v1/items/{ids[0]}/similar", params={"expand": 2}).json()["hits"]
    assert ids[0] not in [h["item_id"] for h in similar] and len(similar) == 4
    body = client.post("/v1/search", json={"positive_ids": [ids[1]], "expand": 2}).json()
    assert len(body["hits"]) == 4
    assert (
        client.post("/v1/search", json={"positive_ids": [ids[1]], "expand": 11}).status_code == 422
    )


def test_search_by_a_region_of_the_query(client: TestClient) -> None:
    """Two catalog pictures side by side in one query: the box picks which one it means, in
    pixels or as fractions alike; a box that leaves the image is one sentence."""
    up = upload(client, *range(6))
    left, right = scene(1), scene(4)
    both = Image.new("RGB", (320, 128))
    both.paste(left, (0, 0))
    both.paste(right, (160, 0))
    query = encode(both, "PNG")
    ids = [r["item_id"] for r in up["results"]]
    for box, expected in (
        ("0,0,160,128", ids[1]),
        ("0.5,0,1,1", ids[4]),
        ("160,0,320,128", ids[4]),
    ):
        hits = search_file(client, query, k=1, box=box).json()["hits"]
        assert hits[0]["item_id"] == expected, box
    for box, says in (
        ("0,0,400,128", "lies outside the 320x128 image"),
        ("10,10,5,20", "is empty"),
        ("a,b,c,d", "is not four numbers"),
        ("0,0,1", "is not four numbers"),
    ):
        resp = search_file(client, query, k=1, box=box)
        assert resp.status_code == 422 and resp.json()["error"] == "bad_box", resp.text
        assert says in resp.json()["detail"] and resp.json()["detail"].count(". ") == 0
