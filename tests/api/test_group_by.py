"""Searches that answer products: `group_by=product` over HTTP, on a catalog of products
with four photos each (the photo, a crop, a mirror, a half-size copy) made from Oxford
photos, among photos that belong to no product; efficientnet_lite0's packaged weights.

One catalog for the module (a fixture); every test runs alone on it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from api.app import create_app
from api.settings import ApiSettings
from bench.common import OXFORD
from embedder import EmbedderSettings
from engine import Engine
from index import IndexSettings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OXFORD.is_dir(), reason="needs ../shared/datasets/oxford5k-gt"),
]
PRODUCTS = 10
SINGLES = 16
VIEWS = ("photo", "crop", "mirror", "half")


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _view(img: Image.Image, view: str) -> Image.Image:
    w, h = img.size
    if view == "crop":  # the left two thirds: another framing of the same facade
        return img.crop((0, 0, 2 * w // 3, h))
    if view == "mirror":
        return ImageOps.mirror(img)
    if view == "half":
        return img.resize((w // 2, h // 2))
    return img


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    """The served catalog, and what was uploaded: the originals per product, the singles."""
    files = sorted(OXFORD.iterdir())[::9][: PRODUCTS + SINGLES + 1]
    photos = [Image.open(f).convert("RGB").resize((384, 288)) for f in files]
    engine = Engine(
        EmbedderSettings(model="efficientnet_lite0", device="cpu"),
        IndexSettings(data_dir=tmp_path_factory.mktemp("shop"), use_gpu="never"),
    )
    with TestClient(create_app(engine, ApiSettings(max_files_per_request=20))) as client:
        for n, img in enumerate(photos[:PRODUCTS]):
            views = [
                ("files", (f"p{n}-{v}.jpg", _jpeg(_view(img, v)), "image/jpeg")) for v in VIEWS
            ]
            shop_of = {"shop": "north" if n % 2 else "south"}
            data = {"products": f"P{n}", "metadata": json.dumps(shop_of)}
            resp = client.post("/v1/items", files=views, data=data)
            assert resp.status_code == 200 and resp.json()["added"] == len(VIEWS), resp.text
        singles = [
            ("files", (f"s{n}.jpg", _jpeg(img), "image/jpeg"))
            for n, img in enumerate(photos[PRODUCTS : PRODUCTS + SINGLES])
        ]
        resp = client.post("/v1/items", files=singles, data={"metadata": '{"shop": "south"}'})
        assert resp.json()["added"] == SINGLES, resp.text
        yield client, {"photos": photos, "outsider": photos[-1]}


def _query(img: Image.Image) -> bytes:
    """A photo the catalog does not hold: another crop of the same scene, smaller."""
    w, h = img.size
    return _jpeg(img.crop((w // 8, h // 10, w - w // 10, h - h // 12)).resize((300, 220)))


def _search(client: TestClient, data: bytes, **form: Any) -> dict[str, Any]:
    resp = client.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", data, "image/jpeg"))],
        data={k: str(v) for k, v in form.items()},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_k_distinct_products_the_right_one_first(shop: tuple[TestClient, dict[str, Any]]) -> None:
    client, made = shop
    right = 0
    for n in range(PRODUCTS):
        query = _query(made["photos"][n])
        plain = _search(client, query, k=4)["hits"]
        grouped = _search(client, query, k=5, group_by="product", group_size=3)
        groups = grouped["groups"]
        keys = [g["key"] for g in groups]
        assert len(groups) == 5 and len(set(keys)) == 5
        # `hits` holds each group's best photo, in the groups' order
        assert [h["item_id"] for h in grouped["hits"]] == [g["hits"][0]["item_id"] for g in groups]
        for group in groups:
            scores = [h["score"] for h in group["hits"]]
            assert scores == sorted(scores, reverse=True)
            if group["product"] is None:  # a photo without a product is a group of one
                assert len(group["hits"]) == 1 and group["key"] == group["hits"][0]["item_id"]
            else:
                assert len(group["hits"]) == 3
                assert {h["product"] for h in group["hits"]} == {group["product"]}
        right += groups[0]["product"] == f"P{n}"
        if groups[0]["product"] == f"P{n}":
            # ungrouped, the same product's photos fill the first places
            assert [h["product"] for h in plain[:2]] == [f"P{n}"] * 2
    print(f"\ngroup_by=product: the right product first for {right} of {PRODUCTS} queries")
    assert right >= PRODUCTS - 1


def test_groups_page_on_with_a_cursor_and_never_repeat(
    shop: tuple[TestClient, dict[str, Any]],
) -> None:
    client, made = shop
    first = _search(client, _query(made["photos"][3]), k=4, group_by="product", group_size=2)
    seen = [g["key"] for g in first["groups"]]
    cursor, pages = first["next_cursor"], 1
    last_best = first["groups"][-1]["hits"][0]["score"]
    while cursor:
        page = client.post("/v1/search", json={"cursor": cursor}).json()
        assert page["groups"], page
        assert page["groups"][0]["hits"][0]["score"] <= last_best + 1e-6
        last_best = page["groups"][-1]["hits"][0]["score"]
        seen += [g["key"] for g in page["groups"]]
        cursor, pages = page["next_cursor"], pages + 1
    assert len(seen) == len(set(seen)) == PRODUCTS + SINGLES  # every group once, in order
    assert pages == -(-(PRODUCTS + SINGLES) // 4)


def test_groups_with_a_filter_and_with_collapse(shop: tuple[TestClient, dict[str, Any]]) -> None:
    client, made = shop
    query = _query(made["photos"][2])
    north = _search(
        client, query, k=20, group_by="product", group_size=4, filter='{"shop": "north"}'
    )
    products = {g["product"] for g in north["groups"]}
    assert products == {f"P{n}" for n in range(1, PRODUCTS, 2)}  # min(k, matching) groups
    assert all(h["metadata"]["shop"] == "north" for g in north["groups"] for h in g["hits"])
    whole = _search(client, query, k=3, group_by="product", group_size=4)["groups"][0]
    folded = _search(client, query, k=3, group_by="product", group_size=4, collapse="true")
    # the half-size copy is a near duplicate of the photo: collapse keeps one of the two
    assert whole["product"] == folded["groups"][0]["product"] == "P2"
    assert len(folded["groups"][0]["hits"]) < len(whole["hits"]) == 4
    assert folded["next_cursor"] is None and len(folded["groups"]) == 3


def test_similar_items_by_product_and_a_product_moved_by_patch(
    shop: tuple[TestClient, dict[str, Any]],
) -> None:
    client, made = shop
    p5 = client.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", _query(made["photos"][5]), "image/jpeg"))],
        data={"k": "1", "group_by": "product", "group_size": "4"},
    ).json()["groups"][0]
    assert p5["product"] == "P5"
    moved = p5["hits"][1]["item_id"]  # a near copy of the best: its twin stays in P5
    resp = client.patch(f"/v1/items/{moved}", json={"product": "P5-b"})
    assert resp.status_code == 200 and resp.json()["product"] == "P5-b"
    similar = client.get(
        f"/v1/items/{p5['hits'][0]['item_id']}/similar",
        params={"k": 3, "group_by": "product", "group_size": 4},
    ).json()["groups"]
    assert {g["product"] for g in similar} >= {"P5", "P5-b"}
    assert moved not in [h["item_id"] for g in similar if g["product"] == "P5" for h in g["hits"]]
    by_examples = client.post(
        "/v1/search",
        json={"positive_ids": [moved], "k": 3, "group_by": "product", "group_size": 2},
    ).json()["groups"]
    # the photo is left out of its own answer, and so its one-photo product; its twins stay
    assert "P5-b" not in [g["product"] for g in by_examples]
    assert "P5" in [g["product"] for g in by_examples]
    cleared = client.patch(f"/v1/items/{moved}", json={"product": ""})
    assert cleared.json()["product"] is None
    client.patch(f"/v1/items/{moved}", json={"product": "P5"})


def test_grouping_refuses_what_it_cannot_do(shop: tuple[TestClient, dict[str, Any]]) -> None:
    client, made = shop
    query = _jpeg(made["outsider"])
    for form in ({"group_by": "colour"}, {"group_by": "product", "group_size": "0"}):
        resp = client.post(
            "/v1/search/image", files=[("files", ("q.jpg", query, "image/jpeg"))], data=form
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"].count(".") <= 2  # one sentence
    bad = client.patch(f"/v1/items/{'0' * 64}", json={"product": "x\x1by"})
    assert bad.status_code == 422 and bad.json()["error"] == "bad_product"
