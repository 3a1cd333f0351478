"""Item 9: security headers, /docs from packaged assets, one reindex at a time, a bounded
model cache, connection timeouts, PATCH's key check, and refused requests rate-limited."""

from __future__ import annotations

import gc
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import KeyRing
from api.settings import ApiSettings
from bench.server import SMALL_MODEL, ServeProcess
from embedder import Embedder
from engine import Engine, Source, ingest
from index import Batch
from tests.api.helpers import upload
from tests.images import jpeg
from tests.security.conftest import Keyed
from workers.queue import JobQueue, LocalQueue
from workers.settings import WorkerSettings


def test_every_answer_carries_the_security_headers(keyed: Keyed) -> None:
    for path in ("/", "/docs", "/health", "/v1/items", "/nowhere"):
        headers = keyed.client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert headers["x-content-type-options"] == "nosniff", path


def test_the_page_and_docs_run_no_inline_or_foreign_script(keyed: Keyed) -> None:
    for path in ("/", "/docs"):
        html = keyed.client.get(path).text
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert scripts, path
        for attrs, body in scripts:
            assert body.strip() == "", f"inline script in {path}"
            src = re.search(r'src="([^"]+)"', attrs)
            assert src and src.group(1).startswith("/"), attrs
            assert keyed.client.get(src.group(1)).status_code == 200, src.group(1)
        html = html.replace("http://www.w3.org/2000/svg", "")  # a namespace, not a fetch
        assert "http://" not in html and "https://" not in html


class HeldQueue(JobQueue):
    """Writes the job and batch rows, sends nothing: the reindex stays running."""

    def send(self, batch: Batch, model: dict[str, Any]) -> None:
        pass


def test_one_reindex_at_a_time(engine: Engine) -> None:
    _, admin = KeyRing(engine.store).create(["admin"])
    headers = {"Authorization": f"Bearer {admin}"}
    settings = ApiSettings(auth_failures_per_s=0)
    ingest(engine, [Source(uri=f"mem:{n}", data=jpeg(n)) for n in range(2)])
    with TestClient(create_app(engine, settings, HeldQueue(engine, WorkerSettings()))) as client:
        client.headers.update(headers)
        body = {"model": "resnet18", "weights": "none", "pooling": "avg"}
        assert client.post("/v1/reindex", json=body).status_code == 202
        second = client.post("/v1/reindex", json={**body, "gem_p": 4.0, "pooling": "gem"})
        assert second.status_code == 409 and "still running" in second.json()["detail"]


def test_other_models_are_not_kept_forever(engine: Engine) -> None:
    queue = LocalQueue(engine, WorkerSettings())
    base = {"model": "resnet18", "weights": "none", "pooling": "gem", "input_size": None,
            "whiten": None}  # fmt: skip

    def embedders() -> int:
        gc.collect()
        return sum(isinstance(o, Embedder) for o in gc.get_objects())

    before = embedders()
    for p in (2.0, 4.0, 5.0, 6.0):
        queue._run(Batch.model_validate(_batch()), {**base, "gem_p": p})
    assert embedders() - before <= 1  # the latest other model only
    queue.close()


def _batch() -> dict[str, Any]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return {"key": "j:0", "job_id": "j", "batch_no": 0, "item_ids": [], "sent_at": now,
            "updated_at": now}  # fmt: skip


def test_patch_checks_the_client_key(keyed: Keyed) -> None:
    keyed.client.headers.update(keyed.as_("write"))
    item = upload(keyed.client, 1)["results"][0]["item_id"]
    for bad in ("a\r\nb", "\x00", "x" * 600):
        resp = keyed.client.patch(f"/v1/items/{item}", json={"client_key": bad})
        assert resp.status_code == 422, bad
    assert keyed.client.get(f"/v1/items/{item}").json()["client_key"] is None


def test_refused_requests_spend_the_callers_rate(engine: Engine) -> None:
    KeyRing(engine.store).create(["read"])
    with TestClient(create_app(engine, ApiSettings(auth_failures_per_s=1))) as client:
        codes = [
            client.get("/v1/items", headers={"X-API-Key": f"lk_000000000000_guess{n}"}).status_code
            for n in range(8)
        ]
    assert codes[0] == 401 and 429 in codes, codes


@pytest.fixture(params=["httptools", "h11"])
def timed_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServeProcess]:
    """`serve`, with each of uvicorn's HTTP parsers (httptools when installed, else h11)."""
    env = {"LOOKALIKE_HEADER_TIMEOUT_S": "1", "LOOKALIKE_BODY_TIMEOUT_S": "1"}
    if request.param == "h11":
        env["LOOKALIKE_HTTP_PARSER"] = "h11"
    # --inline: no Redis, no worker, which the test does not need (it starts in half the time)
    proc = ServeProcess(tmp_path / "data", env=env, model=[*SMALL_MODEL, "--inline"])
    yield proc
    proc.stop()


@pytest.mark.slow
def test_slow_clients_are_cut_off(timed_server: ServeProcess) -> None:
    """Eight slowloris connections and one stalled body are dropped within the timeouts,
    and the server answers others meanwhile."""
    port = timed_server.port
    socks = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    body = socket.create_connection(("127.0.0.1", port))
    body.sendall(
        b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    start = time.monotonic()
    closed: set[int] = set()
    while len(closed) < len(socks) and time.monotonic() - start < 6:
        for n, s in enumerate(socks):
            if n in closed:
                continue
            try:
                s.sendall(b"X-Slow: 1\r\n")
                s.settimeout(0.05)
                if s.recv(1024) == b"":
                    closed.add(n)
            except TimeoutError:
                pass
            except OSError:
                closed.add(n)
        assert httpx.get(timed_server.url + "/health", timeout=5).status_code == 200
        time.sleep(0.25)
    assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow connections held"
    assert time.monotonic() - start < 4
    body.settimeout(5)
    answer = body.recv(4096)
    assert b" 408 " in answer.split(b"\r\n")[0], answer[:200]
