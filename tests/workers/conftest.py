from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedder import Embedder
from engine import Engine, EngineSettings
from index import IndexSettings
from workers.process import start_worker, stop_worker
from workers.queue import CeleryQueue as TaskQueue
from workers.redis_server import EmbeddedRedis
from workers.settings import WorkerSettings

WORKER_ENV = {
    "LOOKALIKE_DEVICE": "cpu",
    "LOOKALIKE_BATCH_SIZE": "16",
    "LOOKALIKE_DECODE_THREADS": "2",
}
Worker = subprocess.Popen[bytes]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def queue_engine(data_dir: Path, small_embedder: Embedder) -> Engine:
    return Engine(
        small_embedder.settings,
        IndexSettings(data_dir=data_dir, use_gpu="never"),
        EngineSettings(decode_threads=2),
        embedder=small_embedder,
    )


@pytest.fixture
def worker_settings(redis_server: EmbeddedRedis) -> WorkerSettings:
    return WorkerSettings(
        redis_url=redis_server.url,
        job_batch_size=32,
        stale_after_s=4,
        reconcile_every_s=1,
        visibility_timeout_s=3600,
    )


@pytest.fixture
def queue(queue_engine: Engine, worker_settings: WorkerSettings) -> TaskQueue:
    return TaskQueue(queue_engine, worker_settings)


@pytest.fixture
def worker(redis_server: EmbeddedRedis, data_dir: Path, tmp_path: Path) -> Iterator[Worker]:
    proc = start_worker(redis_server.url, data_dir, env=WORKER_ENV, log=tmp_path / "worker.log")
    yield proc
    stop_worker(proc)
