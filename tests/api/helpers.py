from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.images import jpeg


def upload(
    client: TestClient,
    *seeds: int,
    metadata: list[dict[str, Any]] | None = None,
    keys: list[str] | None = None,
) -> dict[str, Any]:
    files = [("files", (f"scene{s}.jpg", jpeg(s), "image/jpeg")) for s in seeds]
    data: dict[str, Any] = {}
    if metadata is not None:
        data["metadata"] = [json.dumps(m) for m in metadata]
    if keys is not None:
        data["client_keys"] = keys
    resp = client.post("/v1/items", files=files, data=data)
    assert resp.status_code == 200, resp.text
    return resp.json()


def search_file(client: TestClient, data: bytes, **form: Any) -> Any:
    return client.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", data, "image/jpeg"))],
        data={k: str(v) for k, v in form.items()},
    )
