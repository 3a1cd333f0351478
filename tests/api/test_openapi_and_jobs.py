"""OpenAPI docs, health and readiness, and background ingest jobs."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.images import jpeg


def test_docs_and_schema_describe_every_route(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            ok = [r for code, r in op["responses"].items() if code.startswith("2")]
            assert ok, path
            body = ok[0].get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref") or body.get("items", {}).get("$ref")
            if ref:  # every JSON answer shows an example in the docs
                name = ref.rsplit("/", 1)[-1]
                assert components[name].get("examples"), f"{method} {path}: {name} has no example"
    assert (
        "/v1/search/image" in schema["paths"] and "/v1/items/{item_id}/similar" in schema["paths"]
    )
    assert schema["components"]["schemas"]["SearchRequest"].get("examples")


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] is True and ready["model_id"] == "resnet18.none.gem.512"


def test_background_upload_job_reports_progress(client: TestClient) -> None:
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(5)]
    files.append(("files", ("bad.jpg", b"nope", "image/jpeg")))
    resp = client.post("/v1/items", files=files, params={"wait": "false"})
    assert resp.status_code == 202
    job_id = resp.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["status"] == "done" and (job["done"], job["failed"], job["total"]) == (5, 1, 6)
    assert job["progress"] == 1.0
    assert client.get("/v1/jobs").json()[0]["id"] == job_id


def test_web_page_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "What looks like this?" in page.text
