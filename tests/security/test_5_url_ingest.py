"""Item 5: URL items obey the upload's rules, and registration runs on a bounded pool."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from engine import Engine, EngineSettings
from tests.security.conftest import Keyed
from workers.queue import LocalQueue
from workers.settings import WorkerSettings


def _deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "item",
    [
        {"url": "https://shop.example/1.jpg", "metadata": _deep(60)},
        {"url": "https://shop.example/1.jpg", "metadata": {"x": "y" * 20_000}},
        {"url": "https://shop.example/1.jpg", "client_key": "a\r\nSet-Cookie: x"},
    ],
)
def test_url_items_get_the_uploads_checks(keyed: Keyed, item: dict) -> None:
    resp = keyed.client.post("/v1/ingest", json={"items": [item]}, headers=keyed.as_("write"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"].endswith(".")


@pytest.fixture
def slow_origin() -> Iterator[str]:
    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(3)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_registration_is_bounded_and_answers_503_when_full(
    engine: Engine, slow_origin: str
) -> None:
    engine.settings = EngineSettings(allow_private_urls=True, decode_threads=2)
    queue = LocalQueue(engine, WorkerSettings(registration_threads=1, registrations_max=2))
    with TestClient(create_app(engine, ApiSettings(), queue)) as client:
        body = {"items": [{"url": f"{slow_origin}/{n}.jpg"} for n in range(2)]}
        codes = [client.post("/v1/ingest", json=body).status_code for _ in range(6)]
        assert codes[:2] == [202, 202] and set(codes[2:]) == {503}, codes
        busy = client.post("/v1/ingest", json=body)
        assert busy.json()["error"] == "busy" and busy.headers["Retry-After"]
        names = [t.name for t in threading.enumerate()]
        registrars = [n for n in names if "register" in n]
        assert len(registrars) == 1, names  # one registrar thread, not one a job
