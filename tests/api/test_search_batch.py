"""POST /v1/search/batch: many queries in one request, each answered as its own search
would be, in order, the uploaded images embedded in one forward pass."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import search_file, upload
from tests.images import encode, jpeg, scene


def _batch(client: TestClient, queries: Any, files: list[bytes] | None = None) -> Any:
    parts = [("files", (f"q{n}.jpg", data, "image/jpeg")) for n, data in enumerate(files or [])]
    return client.post(
        "/v1/search/batch",
        data={"queries": queries if isinstance(queries, str) else json.dumps(queries)},
        files=parts or None,
    )


def _passes(client: TestClient) -> tuple[float, float]:
    text = client.get("/metrics").text
    found = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'lookalike_forward_batch_size_(count|sum)\{path="query"\} (\S+)', text
        )
    }
    return found.get("count", 0.0), found.get("sum", 0.0)


def test_queries_answered_in_order_as_single_searches_are(client: TestClient) -> None:
    colours = [{"colour": ["red", "blue"][i % 2]} for i in range(10)]
    ids = [r["item_id"] for r in upload(client, *range(10), metadata=colours)["results"]]
    copy4 = encode(scene(4).resize((320, 256)), "PNG")
    passes, images = _passes(client)
    body = _batch(
        client,
        [
            {"files": [0], "k": 3},
            {"positive_ids": [ids[1]], "k": 2, "filter": {"colour": "red"}},
            {"files": [1], "negative_ids": [ids[7]], "k": 4},
            {"files": [0], "box": "0,0,0.5,1", "k": 1},
        ],
        [copy4, jpeg(2)],
    )
    assert body.status_code == 200, body.text
    results = body.json()["results"]
    assert [len(r["hits"]) for r in results] == [3, 2, 4, 1]
    assert results[0]["hits"][0]["item_id"] == ids[4]
    assert {h["metadata"]["colour"] for h in results[1]["hits"]} == {"red"}
    assert ids[1] not in [h["item_id"] for h in results[1]["hits"]]  # its example left out
    # three distinct images (the same file with a box is another), one forward pass
    after_passes, after_images = _passes(client)
    assert (after_passes - passes, after_images - images) == (1, 3)
    # each answer is what its own search answers
    alone = search_file(client, copy4, k=3).json()["hits"]
    assert [(h["item_id"], h["score"]) for h in alone] == [
        (h["item_id"], h["score"]) for h in results[0]["hits"]
    ]
    steered = client.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", jpeg(2), "image/jpeg"))],
        data={"negative_ids": [ids[7]], "k": "4"},
    ).json()["hits"]
    assert [h["item_id"] for h in steered] == [h["item_id"] for h in results[2]["hits"]]
    # a query's cursor pages on like any search's
    more = client.post("/v1/search", json={"cursor": results[0]["next_cursor"]}).json()
    assert not {h["item_id"] for h in more["hits"]} & {h["item_id"] for h in results[0]["hits"]}


def test_a_bad_batch_says_what_is_wrong_in_one_sentence(client: TestClient) -> None:
    ids = [r["item_id"] for r in upload(client, 0, 1)["results"]]
    cases: list[tuple[Any, list[bytes], int, str]] = [
        ("not json", [], 422, "queries is not valid JSON"),
        ([], [], 422, "non-empty JSON array"),
        ([{"files": [2]}], [jpeg(0)], 422, "queries.0 names file 2; 1 were sent"),
        ([{"positive_ids": [ids[0]], "colour": "red"}], [], 422, "queries.0.colour"),
        ([{"positive_ids": [ids[0]], "k": 0}], [], 422, "k must be between"),
        ([{"negative_ids": [ids[0]]}], [], 422, "queries.0 has no positive example"),
        ([{"files": [0]}, {"files": [1]}], [jpeg(0), b"not an image"], 422, "files.1: "),
        ([{"positive_ids": ["0" * 64]}], [], 404, "No embedded item"),
        ([{"positive_ids": [ids[0]]}] * 33, [], 413, "at most 32 queries"),
    ]
    for queries, files, status, says in cases:
        resp = _batch(client, queries, files)
        assert resp.status_code == status, (queries, resp.text)
        assert says in resp.json()["detail"], resp.text
