"""GET /v1/duplicates and POST /v1/duplicates/resolve: groups of near duplicates with the
copy to keep by the documented rule, paged; one request keeps one copy and deletes or
tags the others."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import search_file
from tests.images import encode, jpeg, scene


def _catalog(client: TestClient) -> dict[str, str]:
    """Eight pictures, two of them with a smaller copy each (uploaded first, so older)."""
    files = [("files", ("small1.jpg", encode(scene(1).resize((120, 96)), "JPEG"), "image/jpeg"))]
    files.append(
        ("files", ("small5.jpg", encode(scene(5).resize((120, 96)), "JPEG"), "image/jpeg"))
    )
    files += [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(8)]
    up = client.post("/v1/items", files=files).json()
    return {r["filename"]: r["item_id"] for r in up["results"]}


def test_groups_with_the_copy_to_keep_paged(client: TestClient) -> None:
    ids = _catalog(client)
    page = client.get("/v1/duplicates", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["groups"]) == 1 and page["next_offset"] == 1
    rest = client.get("/v1/duplicates", params={"limit": 1, "offset": 1}).json()
    assert rest["next_offset"] is None
    groups = {
        frozenset(i["item_id"] for i in g["items"]): g for g in page["groups"] + rest["groups"]
    }
    assert set(groups) == {
        frozenset({ids["1.jpg"], ids["small1.jpg"]}),
        frozenset({ids["5.jpg"], ids["small5.jpg"]}),
    }
    for group in groups.values():  # the most pixels wins over the older, smaller copy
        big = max(group["items"], key=lambda i: i["width"] * i["height"])
        assert group["keep"] == big["item_id"] and big["width"] == 160
        assert all(i["thumbnail_url"].endswith("/thumbnail") for i in group["items"])


def test_resolve_deletes_or_tags_the_other_copies(client: TestClient) -> None:
    ids = _catalog(client)
    done = client.post(
        "/v1/duplicates/resolve", json={"keep": ids["1.jpg"], "others": [ids["small1.jpg"]]}
    )
    assert done.status_code == 200 and done.json()["deleted"] == [ids["small1.jpg"]]
    assert client.get(f"/v1/items/{ids['small1.jpg']}").status_code == 404
    found = search_file(client, jpeg(1), k=9, exclude_self="false").json()["hits"]
    assert ids["small1.jpg"] not in [h["item_id"] for h in found]
    tagged = client.post(
        "/v1/duplicates/resolve",
        json={"keep": ids["5.jpg"], "others": [ids["small5.jpg"]], "action": "tag"},
    )
    assert tagged.json()["tagged"] == [ids["small5.jpg"]]
    kept = client.get(f"/v1/items/{ids['small5.jpg']}").json()
    assert kept["metadata"] == {"duplicate_of": ids["5.jpg"]}
    assert client.get("/v1/duplicates").json()["total"] == 1  # the tagged pair is still one
    unknown = client.post(
        "/v1/duplicates/resolve", json={"keep": ids["5.jpg"], "others": ["0" * 64]}
    )
    assert unknown.status_code == 404 and client.get(f"/v1/items/{ids['5.jpg']}").status_code == 200
    alone = client.post(
        "/v1/duplicates/resolve", json={"keep": ids["5.jpg"], "others": [ids["5.jpg"]]}
    )
    assert alone.status_code == 422 and alone.json()["error"] == "nothing_to_resolve"
