"""A reader's catch-up with what other writers put in LanceDB: the rows written since the
version it covers when the table keeps row versions, a rescan of every id when it cannot
know (a delete elsewhere, a table made before row versions, a first load), and the two
always agree with an index rebuilt from scratch."""

from __future__ import annotations

from pathlib import Path

from index import Catalog, IndexSettings, Store
from tests.index.helpers import ids, items, unit_vectors

MODEL, DIM = "toy.none.gem.16", 16


def _writer(tmp_path: Path) -> Store:
    return Store(tmp_path / "lancedb")  # its own connection, as a worker process has


def _reader(tmp_path: Path) -> Catalog:
    settings = IndexSettings(data_dir=tmp_path, use_gpu="never")
    return Catalog(Store(tmp_path / "lancedb"), MODEL, DIM, settings)


def _write(store: Store, names: list[str], seed: int) -> None:
    store.register_items(items(names))
    store.add_embeddings(MODEL, names, unit_vectors(len(names), DIM, seed))


def _agrees_with_a_rebuild(catalog: Catalog, writer: Store) -> None:
    stored = set(writer.embedded_ids(MODEL, DIM))
    assert set(catalog.index.item_ids) == stored
    rebuilt = Catalog(catalog.store, MODEL, DIM, catalog.settings)
    rebuilt.index = rebuilt.rebuild_index()
    queries = unit_vectors(5, DIM, seed=99)
    got = [[h.item.id for h in row] for row in catalog.search(queries, 8)]
    want = [[h.item.id for h in row] for row in rebuilt.search(queries, 8)]
    assert got == want


def test_incremental_catch_up_agrees_with_a_rescan(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    names = ids(60)
    _write(writer, names[:30], seed=1)
    catalog = _reader(tmp_path)
    assert len(catalog.index) == 30

    _write(writer, names[30:45], seed=2)  # adds
    since, _ = writer.vectors_since(MODEL, DIM, catalog.version)
    assert sorted(since) == sorted(names[30:45])  # what was written, not the whole table
    assert catalog.refresh() == 15 and catalog.catch_ups["incremental"] == 1
    _agrees_with_a_rebuild(catalog, writer)

    writer.delete_items(names[:5])  # a delete by another process: only a rescan sees it
    assert catalog.refresh() == 5 and catalog.catch_ups["rescan"] == 1
    _agrees_with_a_rebuild(catalog, writer)

    _write(writer, names[:3] + names[45:50], seed=3)  # re-adds and new ones
    assert catalog.refresh() == 8 and catalog.catch_ups["incremental"] == 2
    _agrees_with_a_rebuild(catalog, writer)

    assert writer.compact() == []  # fragments rewritten: the rows keep their versions
    _write(writer, names[50:53], seed=4)
    assert catalog.refresh() == 3 and catalog.catch_ups["incremental"] == 3
    _agrees_with_a_rebuild(catalog, writer)
    assert catalog.refresh() == 0  # nothing new: the version alone says so

    catalog.save()  # a restart: the saved index catches up from the version it covers
    _write(writer, names[53:60], seed=5)
    again = _reader(tmp_path)
    assert again.loaded_from == "disk" and again.catch_ups == {"incremental": 1}
    _agrees_with_a_rebuild(again, writer)


def test_a_table_without_row_versions_is_rescanned(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    names = ids(20)
    _write(writer, names[:10], seed=1)
    catalog = _reader(tmp_path)
    # a catalog made before tables kept row versions has no mark saying they do
    writer._state.delete("key LIKE 'row_versions:%'")
    catalog.store._row_versions = None
    _write(writer, names[10:], seed=2)
    assert catalog.refresh() == 10 and catalog.catch_ups == {"rescan": 1}
    _agrees_with_a_rebuild(catalog, writer)
