"""A filter matching a few items far from the query, on an approximate index: the answer
is every match (min(k, matching) hits), not what the probed cells happened to hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import Catalog, IndexSettings, Item, MetadataFilter, Store
from tests.index.helpers import ids

DIM = 16


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, DIM)).astype(np.float32)
    x = centres[rng.integers(0, 64, n)] + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["ivf_flat", "ivf_sq8", "ivf_pq", "hnsw_flat"])
def test_a_rare_filter_far_from_the_query_finds_every_match(tmp_path: Path, kind: str) -> None:
    n = 3000
    vectors = _clustered(n)
    query = vectors[0]
    far = np.argsort(vectors @ query)[:3]  # the three least like the query
    names = ids(n)
    rare = {names[i] for i in far}
    store = Store(tmp_path / "lancedb")
    store.register_items(
        [Item.new(i, metadata={"tag": "rare" if i in rare else "common"}) for i in names]
    )
    store.add_embeddings("toy.none.gem.16", names, vectors)
    settings = IndexSettings(data_dir=tmp_path, use_gpu="never", index_type=kind, nlist=64)
    catalog = Catalog(store, "toy.none.gem.16", DIM, settings)
    assert catalog.index.index_type == kind
    where = MetadataFilter.parse('{"tag": "rare"}')
    for k in (2, 3, 10):
        hits = catalog.search(query, k, where=where)[0]
        assert {h.item.id for h in hits} <= rare and len(hits) == min(k, 3), (kind, k)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
