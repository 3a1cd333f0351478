from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from embedder import Embedder, EmbedderSettings
from engine import Engine, EngineSettings
from index import IndexSettings

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
