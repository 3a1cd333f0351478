"""Item 6: filters are capped in conditions, `in` values and body size, with a sentence."""

from __future__ import annotations

import json
import time

import pytest

from tests.api.helpers import upload
from tests.security.conftest import Keyed


@pytest.mark.parametrize(
    "spec",
    [
        {f"k{n}": n for n in range(200_000)},
        {"colour": {"in": list(range(5000))}},
        {f"k{n}": n for n in range(40)},
    ],
)
def test_oversized_filters_are_refused_quickly(keyed: Keyed, spec: dict) -> None:
    keyed.client.headers.update(keyed.as_("write"))
    item = upload(keyed.client, 1)["results"][0]["item_id"]
    start = time.perf_counter()
    as_body = keyed.client.post("/v1/search", json={"positive_ids": [item], "filter": spec})
    as_form = keyed.client.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", b"x", "image/jpeg"))],
        data={"filter": json.dumps(spec)},
    )
    assert time.perf_counter() - start < 3.0
    assert as_body.status_code in (413, 422), as_body.text[:200]
    assert as_form.status_code in (413, 422), as_form.text[:200]
    if len(json.dumps(spec)) < 8000:  # a URL has room for small ones only
        path = f"/v1/items/{item}/similar"
        as_query = keyed.client.get(path, params={"filter": json.dumps(spec)})
        assert as_query.status_code == 422, as_query.text[:200]
    assert as_body.json()["detail"].endswith(".")
