"""Two API replicas over one store and one Redis: real `lookalike serve --workers 0`
processes, a real worker process. Writes through one are seen through the other; exactly one
leads the upkeep (snapshots), and when it is SIGKILLed the other takes over within the
leader lock's TTL and saves a whole snapshot."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.keys import KeyRing
from bench.server import SMALL_MODEL, ServeProcess
from index import Store, load_index, read_manifest
from tests.images import jpeg
from tests.workers.conftest import WORKER_ENV
from workers.process import start_worker, stop_worker
from workers.redis_server import EmbeddedRedis

pytestmark = pytest.mark.slow
TTL_S = 3.0
SEEN_WITHIN_S = 2.0


def _start_replicas(data: Path, redis_url: str, started: list[ServeProcess]) -> None:
    """Two servers started side by side (each waits for its own readiness) into `started`."""
    env = {
        "LOOKALIKE_INPUT_SIZE": "64",
        "LOOKALIKE_REFRESH_EVERY_S": "0.5",
        "LOOKALIKE_SAVE_EVERY_S": "1",
        "LOOKALIKE_LEADER_TTL_S": str(TTL_S),
    }
    model = [*SMALL_MODEL, "--workers", "0", "--redis-url", redis_url]
    threads = [
        threading.Thread(target=lambda: started.append(ServeProcess(data, env=env, model=model)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 2, "a replica did not start"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[list[ServeProcess], Path]]:
    data = tmp_path / "data"
    redis = EmbeddedRedis(tmp_path / "redis").start()
    worker = start_worker(redis.url, data, env=WORKER_ENV, log=tmp_path / "worker.log")
    servers: list[ServeProcess] = []
    try:
        _start_replicas(data, redis.url, servers)
        yield servers, data
    finally:
        for srv in servers:
            if srv.proc.poll() is None:
                srv.stop()
        stop_worker(worker)
        redis.stop()


def _leads(srv: ServeProcess) -> bool:
    metrics = httpx.get(srv.url + "/metrics", timeout=10).text
    return "lookalike_leader 1.0" in metrics


def _until(check: object, within_s: float) -> float:
    """Seconds until `check()` held; fails past `within_s`."""
    began = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - began < within_s, f"not within {within_s} s"
        time.sleep(0.05)
    return time.monotonic() - began


def _found(url: str, item_id: str) -> bool:
    answer = httpx.post(
        url + "/v1/search/image",
        files=[("files", ("q.jpg", jpeg(7), "image/jpeg"))],
        data={"k": "20", "exclude_self": "false"},
        timeout=30,
    ).json()
    return item_id in [h["item_id"] for h in answer["hits"]]


LIMIT_S = 4.0


def _limited_across_both(a: ServeProcess, b: ServeProcess, data: Path, item: str) -> int:
    """A key limited to 2/s, sent to both replicas in turn as fast as they answer, is
    served 2/s in total (plus the burst of 2 s), not 2/s by each; its revocation through
    one replica holds at the other."""
    ring = KeyRing(Store(data / "lancedb"))
    admin = {"Authorization": f"Bearer {ring.create(['admin'])[1]}"}
    key, token = ring.create(["read"], rate_per_s=2.0)
    reader = {"Authorization": f"Bearer {token}"}
    for srv in (a, b):  # each replica re-reads the keys table within a second
        _until(lambda srv=srv: httpx.get(f"{srv.url}/v1/items/{item}").status_code == 401, 5)
    served = 0
    began = time.monotonic()
    with httpx.Client(timeout=10) as http:
        while time.monotonic() - began < LIMIT_S:
            for srv in (a, b):
                answer = http.get(f"{srv.url}/v1/items/{item}", headers=reader)
                assert answer.status_code in (200, 429), answer.text
                served += answer.status_code == 200
    burst = 2.0 * 2  # the bucket holds two seconds' worth
    assert served <= burst + 2.0 * LIMIT_S + 1, served  # one bucket for both, not two
    assert served >= 2.0 * LIMIT_S, served
    assert httpx.delete(f"{a.url}/v1/keys/{key.key_id}", headers=admin).status_code == 200
    _until(lambda: httpx.get(f"{b.url}/v1/items/{item}", headers=reader).status_code == 401, 3)
    return served


def test_two_replicas_share_writes_and_one_leader(
    cluster: tuple[list[ServeProcess], Path],
) -> None:
    (a, b), data = cluster
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(8)]
    up = httpx.post(a.url + "/v1/items", files=files, timeout=120).json()
    ids = [r["item_id"] for r in up["results"]]
    assert up["added"] == 8
    seen = _until(lambda: _found(b.url, ids[7]), SEEN_WITHIN_S)  # uploaded via A, found via B

    assert httpx.delete(f"{b.url}/v1/items/{ids[7]}", timeout=30).status_code == 204
    gone = _until(lambda: not _found(a.url, ids[7]), SEEN_WITHIN_S)  # deleted via B, gone at A

    patched = httpx.patch(f"{a.url}/v1/items/{ids[2]}", json={"metadata": {"tag": "x"}})
    assert patched.status_code == 200
    assert httpx.get(f"{b.url}/v1/items/{ids[2]}").json()["metadata"] == {"tag": "x"}

    _until(lambda: _leads(a) or _leads(b), TTL_S * 2)
    leader, other = (a, b) if _leads(a) else (b, a)
    assert not _leads(other)  # exactly one

    served = _limited_across_both(a, b, data, ids[2])

    leader.proc.send_signal(signal.SIGKILL)  # no clean shutdown, no release of the lock
    leader.proc.wait()
    took_over = _until(lambda: _leads(other), TTL_S + 5)
    index_dir = next((data / "indexes").iterdir())
    # the new leader saves what it serves (save every 1 s); what is on disk loads whole
    _until(lambda: (m := read_manifest(index_dir)) is not None and m.count == 7, 15)
    index, manifest = load_index(index_dir, use_gpu=False)
    assert len(index) == manifest.count == 7
    print(
        f"\nupload via A searchable via B after {seen:.2f} s, delete via B gone from A after "
        f"{gone:.2f} s; a 2/s key served {served} of {LIMIT_S:g} s of requests to both; leader "
        f"SIGKILLed, the other led after {took_over:.1f} s (TTL {TTL_S} s)"
    )
