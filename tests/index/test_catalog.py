"""FAISS and LanceDB together: search, filters, deletes, save, load, catch-up, refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import (
    Catalog,
    IndexSettings,
    MetadataFilter,
    ModelMismatchError,
    Store,
    read_manifest,
)
from tests.index.helpers import ids, items, unit_vectors

MODEL, DIM = "toy.none.gem.16", 16


def make(
    tmp_path: Path, n: int = 30, model: str = MODEL, dim: int = DIM
) -> tuple[Catalog, list[str], np.ndarray]:
    store = Store(tmp_path / "lancedb")
    catalog = Catalog(store, model, dim, IndexSettings(data_dir=tmp_path, use_gpu="never"))
    some, vecs = ids(n), unit_vectors(n, dim)
    store.register_items(items(some))
    catalog.add(some, vecs)
    return catalog, some, vecs


def test_nearest_is_itself_with_score_one(tmp_path: Path) -> None:
    catalog, some, vecs = make(tmp_path)
    hits = catalog.search(vecs[:3], 5)
    for row, expected in zip(hits, some[:3], strict=True):
        assert row[0].item.id == expected and row[0].score == pytest.approx(1.0, abs=1e-5)
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)


def test_filters_return_k_results_when_k_match(tmp_path: Path) -> None:
    catalog, _, vecs = make(tmp_path, n=60)
    # only every third item is blue, and they are not the nearest ones
    hits = catalog.search(vecs[0], 10, where=MetadataFilter.parse({"colour": "blue"}))[0]
    assert len(hits) == 10 and all(h.item.metadata["colour"] == "blue" for h in hits)
    ranged = catalog.search(vecs[0], 5, where=MetadataFilter.parse({"n": {"gte": 50}}))[0]
    assert len(ranged) == 5 and all(h.item.metadata["n"] >= 50 for h in ranged)
    few = catalog.search(vecs[0], 10, where=MetadataFilter.parse({"n": {"in": [1, 2]}}))[0]
    assert sorted(h.item.metadata["n"] for h in few) == [1, 2]


def test_exclude_and_min_score(tmp_path: Path) -> None:
    catalog, some, vecs = make(tmp_path)
    hits = catalog.search(vecs[0], 3, exclude=[[some[0]]])[0]
    assert some[0] not in [h.item.id for h in hits] and len(hits) == 3
    assert catalog.search(vecs[0], 10, min_score=0.99)[0][0].item.id == some[0]
    assert len(catalog.search(vecs[0], 10, min_score=0.99)[0]) == 1


def test_deleted_items_vanish_at_once(tmp_path: Path) -> None:
    catalog, some, vecs = make(tmp_path)
    catalog.delete(some[:2])
    hits = catalog.search(vecs[:2], 30)
    assert all(h.item.id not in some[:2] for row in hits for h in row)
    assert len(catalog.index) == 28


def test_save_load_and_catch_up(tmp_path: Path) -> None:
    catalog, some, _ = make(tmp_path)
    catalog.save()
    manifest = read_manifest(catalog.index_dir)
    assert manifest is not None and manifest.count == 30 and manifest.model_id == MODEL
    # rows written after the save, and a delete, through the store alone (another process)
    more, more_vecs = ids(5, "late"), unit_vectors(5, DIM, seed=9)
    catalog.store.register_items(items(more))
    catalog.store.add_embeddings(MODEL, more, more_vecs)
    catalog.store.delete_items(some[:1])
    reopened = Catalog(catalog.store, MODEL, DIM, catalog.settings)
    assert reopened.loaded_from == "disk"
    assert len(reopened.index) == 34
    assert reopened.search(more_vecs[0], 1)[0][0].item.id == more[0]
    assert some[0] not in reopened.index


def test_unchanged_data_loads_without_rebuild(tmp_path: Path) -> None:
    catalog, _, _ = make(tmp_path)
    catalog.save()
    reopened = Catalog(catalog.store, MODEL, DIM, catalog.settings)
    assert reopened.loaded_from == "disk" and len(reopened.index) == 30


def test_corrupt_index_file_is_rebuilt_from_lancedb(tmp_path: Path) -> None:
    catalog, some, vecs = make(tmp_path)
    folder = catalog.save()
    (folder / "index.faiss").write_bytes(b"garbage")
    reopened = Catalog(catalog.store, MODEL, DIM, catalog.settings)
    assert reopened.loaded_from == "rebuild" and len(reopened.index) == 30
    assert reopened.search(vecs[3], 1)[0][0].item.id == some[3]


def test_half_written_save_is_never_loaded(tmp_path: Path) -> None:
    catalog, _, _ = make(tmp_path)
    catalog.save()
    # a crash mid-save leaves a temp folder behind; CURRENT still names the complete one
    (catalog.index_dir / ".v999.tmp").mkdir()
    (catalog.index_dir / ".v999.tmp" / "index.faiss").write_bytes(b"half")
    reopened = Catalog(catalog.store, MODEL, DIM, catalog.settings)
    assert reopened.loaded_from == "disk" and len(reopened.index) == 30


def test_index_of_another_model_is_refused(tmp_path: Path) -> None:
    catalog, _, _ = make(tmp_path)
    catalog.save()
    other_dir = tmp_path / "indexes" / "other.none.gem.16"
    other_dir.parent.mkdir(exist_ok=True)
    catalog.index_dir.rename(other_dir)  # an index folder that claims the wrong model
    with pytest.raises(ModelMismatchError, match=f"built for {MODEL}"):
        Catalog(catalog.store, "other.none.gem.16", 16, catalog.settings)


def test_wrong_dimension_vectors_are_refused(tmp_path: Path) -> None:
    catalog, _, _ = make(tmp_path)
    from index import IndexStoreError

    with pytest.raises(IndexStoreError, match="dimension 16"):
        catalog.search(np.zeros(8), 3)


def _faiss_gpus() -> int:
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


@pytest.mark.gpu
@pytest.mark.skipif(_faiss_gpus() == 0, reason="needs faiss-gpu and a GPU")
def test_gpu_index_adds_searches_removes_and_saves(tmp_path: Path) -> None:
    from index import VectorIndex

    some, vecs = ids(50), unit_vectors(50, DIM)
    index = VectorIndex(DIM, use_gpu=True)
    assert index.on_gpu
    index.add(some, vecs)
    assert index.search(vecs[7], 1)[0][0][0] == some[7]
    index.remove(some[:5])  # tombstones on the GPU
    found = [i for i, _ in index.search(vecs[:5], 10)[0]]
    assert not set(found) & set(some[:5])
    assert index.to_cpu().ntotal == 45


def test_concurrent_searches_answer_as_sequential_ones(tmp_path: Path) -> None:
    """Searches from many threads share FAISS calls and row reads (index/combine.py)."""
    from concurrent.futures import ThreadPoolExecutor

    catalog, _, vecs = make(tmp_path, n=60)
    blue = MetadataFilter.parse({"colour": "blue"})
    asks = [(vecs[i % 60], 1 + i % 7, blue if i % 3 == 0 else None) for i in range(48)]

    def ask(a: tuple[np.ndarray, int, MetadataFilter | None]) -> list[tuple[str, float]]:
        return [(h.item.id, round(h.score, 5)) for h in catalog.search(a[0], a[1], where=a[2])[0]]

    expected = [ask(a) for a in asks]
    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(ask, asks)) == expected
    assert all(len(e) == a[1] for e, a in zip(expected, asks, strict=True))
