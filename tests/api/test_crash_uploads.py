"""SIGKILL of the API process while uploads stream in: after a restart every acknowledged
upload is there, embedded and searchable, and the index is loaded or rebuilt consistently."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.server import Server
from tests.images import jpeg

pytestmark = pytest.mark.slow


def _uploader(url: str, acked: list[str], stop: threading.Event, first: int) -> None:
    seed = first  # every client sends pictures of its own
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            seed += 1
            try:
                resp = http.post(
                    url + "/v1/items", files=[("files", (f"{seed}.jpg", jpeg(seed), "image/jpeg"))]
                )
            except httpx.HTTPError:
                return  # the server is gone
            if resp.status_code == 200 and resp.json()["results"][0]["status"] == "added":
                acked.append(resp.json()["results"][0]["item_id"])


def test_sigkill_during_uploads_loses_no_acknowledged_upload(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data)
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_uploader, args=(server.url, acked, stop, n * 10_000))
        for n in range(3)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.proc.send_signal(signal.SIGKILL)  # mid-upload: three clients are sending
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    at_kill = list(acked)
    assert len(at_kill) >= 20 and len(set(at_kill)) == len(at_kill)

    restarted = Server(data)
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as http:
            ready = http.get("/ready").json()
            assert ready["indexed"] >= len(at_kill), ready
            for item_id in at_kill:
                item = http.get(f"/v1/items/{item_id}").json()
                assert item["status"] == "embedded", item
                hits = http.get(f"/v1/items/{item_id}/similar", params={"k": 1}).json()["hits"]
                assert len(hits) == 1  # its vector is in the served index
        print(f"\nAPI SIGKILLed after {len(at_kill)} acknowledged uploads: all {len(at_kill)} "
              f"found embedded and searchable after restart ({ready['detail']})")  # fmt: skip
    finally:
        restarted.stop()
