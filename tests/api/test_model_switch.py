"""Queries across a blue/green switch and its rollback, over real HTTP: each one answers
200 within 10 s. None waits on a batcher that was stopped under it, and none is told 503:
a query that embedded with the old model when the switch came is answered again with the
new one."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.server import SMALL_MODEL, ServeProcess
from tests.images import jpeg

QUERIES = 500


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    srv = ServeProcess(
        tmp_path / "data",
        env={
            "LOOKALIKE_REFRESH_EVERY_S": "0.1",
            "LOOKALIKE_BATCH_WAIT_MS": "5",
            "LOOKALIKE_INPUT_SIZE": "64",  # the test is about the switch, not the model
        },
        model=[*SMALL_MODEL, "--inline"],
    )
    yield srv
    srv.stop()


def _wait_for_model(url: str, model_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url + "/v1/reindex", timeout=10).json()["active"] == model_id:
            return
        time.sleep(0.2)
    raise AssertionError(f"{model_id} never became active")


@pytest.mark.slow
def test_queries_across_a_switch_and_a_rollback_never_hang(server: ServeProcess) -> None:
    url = server.url
    files = [("files", (f"{i}.jpg", jpeg(i, (96, 80)), "image/jpeg")) for i in range(6)]
    assert httpx.post(url + "/v1/items", files=files, timeout=120).status_code == 200
    old = httpx.get(url + "/v1/reindex", timeout=10).json()["active"]
    query = jpeg(3, (96, 80))

    def ask(n: int) -> tuple[int, float, str]:
        start = time.monotonic()
        try:
            resp = httpx.post(
                url + "/v1/search/image",
                files=[("files", ("q.jpg", query, "image/jpeg"))],
                data={"k": "3"},
                timeout=10,
            )
        except httpx.TimeoutException:
            return -1, time.monotonic() - start, ""
        model = resp.json().get("model_id", "") if resp.status_code == 200 else ""
        return resp.status_code, time.monotonic() - start, model

    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(ask, range(QUERIES))
        job = httpx.post(
            url + "/v1/reindex",
            json={"model": "resnet18", "weights": "none", "pooling": "avg"},
            timeout=60,
        ).json()
        new = job["params"]["target_model_id"] if "params" in job else None
        deadline = time.monotonic() + 120
        while httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=10).json()["status"] != "done":
            assert time.monotonic() < deadline, "the reindex never finished"
            time.sleep(0.2)
        new = new or httpx.get(url + "/v1/reindex", timeout=10).json()["active"]
        _wait_for_model(url, new)
        time.sleep(1.0)  # the API follows the switch
        assert httpx.post(url + "/v1/reindex/rollback", timeout=30).status_code == 200
        _wait_for_model(url, old)
        results = list(answers)
    codes = Counter(code for code, _, _ in results)
    assert set(codes) == {200}, codes
    slowest = max(took for _, took, _ in results)
    assert slowest < 10, f"a query took {slowest:.1f} s"
    served_by = Counter(model for code, _, model in results if code == 200)
    assert served_by[old] > 0 and len(served_by) == 2, served_by  # both models answered
