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


def test_a_selective_filter_is_looked_up_and_ranked_exactly(tmp_path: Path) -> None:
    """Past the first few thousand neighbours without k matches, the matches are found by
    their metadata (text that needs escaping in JSON too) and ranked by exact score."""
    n = 10_000
    vectors = _clustered(n, seed=3)
    names = ids(n)
    key, value = 'naïve "key"', 'välue "q", ünïcode'
    chosen = set(range(0, n, 500))  # 20 items, spread over the catalog
    store = Store(tmp_path / "lancedb")
    store.register_items(
        [
            Item.new(i, metadata={key: value, "n": j} if j in chosen else {"n": j, key: "other"})
            for j, i in enumerate(names)
        ]
    )
    store.add_embeddings("toy.none.gem.16", names, vectors)
    settings = IndexSettings(data_dir=tmp_path, use_gpu="never", index_type="ivf_flat", nlist=64)
    catalog = Catalog(store, "toy.none.gem.16", DIM, settings)
    query = vectors[1]
    where = MetadataFilter.parse({key: value, "n": {"gte": 300}})
    hits = catalog.search(query, 15, where=where)[0]  # 19 match: few among the first 2,048
    members = [j for j in sorted(chosen) if j >= 300]
    exact = sorted(members, key=lambda j: -float(vectors[j] @ query))[:15]
    assert [h.item.id for h in hits] == [names[j] for j in exact]
    assert catalog.filter_paths["prefilter"] == 1
