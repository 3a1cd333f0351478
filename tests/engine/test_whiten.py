"""PCA-whitening learned on the catalog: a new model id, vectors projected without a forward
pass, and new images through the embedder land exactly where the projected ones are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.s3 import index_settings
from cli.main import app
from embedder import Embedder
from embedder.projection import Projection
from engine import Engine, EngineError, Source, ingest
from engine.engine import settings_for
from engine.whiten import whiten_catalog
from index import PREVIOUS_MODEL
from tests.images import jpeg


@pytest.fixture(params=["folder", "s3"])
def home(request: pytest.FixtureRequest) -> dict[str, str]:
    """The catalog in a local folder, or on the S3 server (the projection then travels
    through the bucket to a process with a local folder of its own)."""
    return {} if request.param == "folder" else request.getfixturevalue("s3_env")


def test_whitened_catalog_matches_the_embedder_path(
    tmp_path: Path, small_embedder: Embedder, home: dict[str, str]
) -> None:
    engine = Engine(
        small_embedder.settings, index_settings(home, tmp_path), embedder=small_embedder
    )
    report = ingest(engine, [Source(uri=f"s{i}", data=jpeg(i)) for i in range(40)])
    source = engine.active_model_id
    with pytest.raises(EngineError, match="at least 256 items"):
        whiten_catalog(engine, dim=128)
    target = whiten_catalog(engine, dim=16)
    assert target.startswith("resnet18.none.gem-w16x") and target.endswith(".16")
    assert engine.store.get_state(PREVIOUS_MODEL) == source
    assert engine.store.embeddings_count(target, 16) == 40

    other_host = tmp_path / "elsewhere" if home else tmp_path  # with S3: an empty disk
    whitened = Engine(
        settings_for(engine.store, target, engine.embedder_settings),
        index_settings(home, other_host),
    )
    assert whitened.embedder.model_id == target and whitened.embedder.dim == 16
    item = report.outcomes[7].item_id
    stored = whitened.catalog.vectors_of([item])[item]
    fresh = whitened.embedder.embed_bytes(jpeg(7))
    assert np.allclose(stored, fresh, atol=1e-4)  # projected == embedded through the model
    hits = whitened.catalog.search(fresh, 1)[0]
    assert hits[0].item.id == item and hits[0].score > 0.999

    if not home:
        again = CliRunner().invoke(app, ["whiten", "-d", str(tmp_path), "--dim", "8"])
        assert again.exit_code == 2 and "whitened already" in again.output


def test_whitening_learned_a_chunk_at_a_time_is_the_one_learned_whole() -> None:
    """The catalog streams through `learn_chunks`: the same map as from all of it at once
    (the SVD of the centred vectors), up to the sign of each direction."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((600, 48)).astype(np.float32) * np.linspace(0.2, 3, 48)
    whole = Projection.learn(vectors, 16)
    chunked = Projection.learn_chunks(np.array_split(vectors, 7), 16)
    mean = vectors.mean(axis=0)
    _, sing, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    by_svd = vt[:16].T / (sing[:16] ** 2 / len(vectors)) ** 0.25
    for projection in (whole, chunked):
        assert np.allclose(np.abs(projection.matrix), np.abs(by_svd), atol=1e-3)
    assert np.allclose(np.abs(whole.apply(vectors)), np.abs(chunked.apply(vectors)), atol=1e-4)
