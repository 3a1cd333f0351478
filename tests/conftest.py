from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bench.s3 import S3Server
from embedder import Embedder, EmbedderSettings
from engine import Engine, EngineSettings
from index import IndexSettings
from tests.images import jpeg

torch.set_num_threads(2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def small_settings() -> EmbedderSettings:
    """resnet18 with random init: fast, and the choice of no weights is explicit."""
    return EmbedderSettings(model="resnet18", weights="none", device="cpu", batch_size=16)


@pytest.fixture(scope="session")
def small_embedder(small_settings: EmbedderSettings) -> Embedder:
    torch.manual_seed(0)
    return Embedder.load(small_settings)


@pytest.fixture
def engine(tmp_path: Path, small_embedder: Embedder) -> Iterator[Engine]:
    yield Engine(
        small_embedder.settings,
        IndexSettings(data_dir=tmp_path / "data", use_gpu="never"),
        EngineSettings(decode_threads=2),
        embedder=small_embedder,
    )


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback serving tmp_path/site."""
    site = tmp_path / "site"
    site.mkdir()
    for i in range(3):
        (site / f"{i}.jpg").write_bytes(jpeg(i))
    (site / "big.jpg").write_bytes(b"\xff" * 4096)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 HTTP API on loopback (moto's server), shared by the tests of a session."""
    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings (as environment variables) of a catalog in a fresh bucket of its own."""
    bucket = "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]
    return s3_server.env(s3_server.bucket(bucket) + "/catalog")
