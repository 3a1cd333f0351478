"""OpenAPI docs, health and readiness, and background ingest jobs."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.app import create_app
from engine import Engine, EngineSettings, Source
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


def test_ingest_by_url_is_a_job(engine: Engine, web: str) -> None:
    engine.settings = EngineSettings(allow_private_urls=True, decode_threads=2)
    with TestClient(create_app(engine)) as client:
        body = {
            "items": [{"url": f"{web}/{i}.jpg", "client_key": f"k{i}"} for i in range(3)]
            + [{"url": f"{web}/missing.jpg"}]
        }
        resp = client.post("/v1/ingest", json=body)
        assert resp.status_code == 202
        job = wait_for(client, resp.json()["id"])
        assert (job["status"], job["done"], job["failed"], job["total"]) == ("done", 3, 1, 4)
        assert client.get("/v1/items/by-key/k1").json()[0]["status"] == "embedded"
        assert client.post("/v1/ingest", json={"items": []}).status_code == 422


def test_cancel_then_resume(engine: Engine) -> None:
    from workers.queue import LocalQueue
    from workers.settings import WorkerSettings

    queue = LocalQueue(engine, WorkerSettings(job_batch_size=2))
    try:
        job, _ = queue.ingest([Source(uri=f"m{i}", data=jpeg(i, (64, 48))) for i in range(16)])
        cancelled = queue.cancel(job.id)
        assert cancelled.status == "cancelled"
        queue._pool.submit(lambda: None).result()  # let the queued batches see the cancel
        time.sleep(0.5)
        partial = engine.store.embeddings_count(engine.embedder.model_id, 512)
        assert partial < 16
        resumed = queue.resume(job.id)
        assert resumed.status == "running"
        final = queue.wait(job.id, timeout=60)
        assert (final.status, final.done) == ("done", 16)
        assert engine.store.embeddings_count(engine.embedder.model_id, 512) == 16
    finally:
        queue.close()


def wait_for(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError("job did not finish")
