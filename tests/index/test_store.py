"""The LanceDB store on a real folder: items, embeddings per model, deletes, state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import Item, ItemNotFoundError, Store
from tests.index.helpers import ids, items, unit_vectors


def test_items_round_trip_and_upsert(tmp_path: Path) -> None:
    store = Store(tmp_path)
    some = ids(3)
    store.register_items(items(some))
    store.register_items(items(some))  # the same rows again: no duplicates
    assert store.status_counts() == {"embedded": 3}
    got = store.get_item(some[1])
    assert got.metadata == {"n": 1, "colour": "green"} and got.source == "file1.jpg"
    with pytest.raises(ItemNotFoundError):
        store.get_item(ids(1, "other")[0])


def test_client_key_lookup_survives_quotes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.register_items([Item.new(ids(1)[0], client_key="O'Brien's SKU")])
    assert [i.client_key for i in store.find_by_client_key("O'Brien's SKU")] == ["O'Brien's SKU"]


def test_embeddings_are_idempotent_and_tagged(tmp_path: Path) -> None:
    store = Store(tmp_path)
    some, vecs = ids(4), unit_vectors(4, 8)
    store.add_embeddings("m.none.gem.8", some, vecs)
    store.add_embeddings("m.none.gem.8", some, vecs)  # a retried batch
    assert store.embeddings_count("m.none.gem.8", 8) == 4
    got_ids, got = store.read_vectors("m.none.gem.8", 8, some[2:])
    assert sorted(got_ids) == sorted(some[2:])
    np.testing.assert_allclose(got[got_ids.index(some[2])], vecs[2])
    rows = store.embeddings("m.none.gem.8", 8).search().limit(None).to_list()
    assert {r["model_id"] for r in rows} == {"m.none.gem.8"}


def test_delete_removes_items_and_all_their_vectors(tmp_path: Path) -> None:
    store = Store(tmp_path)
    some = ids(3)
    store.register_items(items(some))
    store.add_embeddings("a.none.gem.4", some, unit_vectors(3, 4))
    store.add_embeddings("b.none.gem.8", some, unit_vectors(3, 8))
    store.delete_items(some[:1])
    assert store.existing_ids(some) == set(some[1:])
    assert store.embedded_ids("a.none.gem.4", 4) == set(some[1:])
    assert store.embedded_ids("b.none.gem.8", 8) == set(some[1:])


def test_state_is_persistent(tmp_path: Path) -> None:
    Store(tmp_path).set_state("k", "v1")
    Store(tmp_path).set_state("k", "v2")
    assert Store(tmp_path).get_state("k") == "v2"
    assert Store(tmp_path).get_state("missing") is None


def test_status_updates_never_recreate_a_deleted_item(tmp_path: Path) -> None:
    store = Store(tmp_path)
    some = ids(3)
    rows = items(some)
    store.register_items(rows)
    store.delete_items(some[:1])  # deleted while a worker held the rows
    store.set_results([{"id": r.id, "status": "failed", "error": "x"} for r in rows])
    assert store.existing_ids(some) == set(some[1:])
    assert store.status_counts() == {"failed": 2}


def test_id_lookups_go_through_btree_indexes_past_a_size_and_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.store

    monkeypatch.setattr(index.store, "INDEX_AT", 100)
    store = Store(tmp_path)
    few = ids(50)
    store.register_items(items(few))
    store.ensure_indexes()
    assert not store.items.list_indices()  # small tables are scanned
    many, vectors = ids(300), unit_vectors(300, 8)
    store.register_items(items(many))
    store.add_embeddings("m", many, vectors)
    store.ensure_indexes()
    # items: id lookups, the creation time and status a listing page reads by, the product
    # a grouped search reads a product's photos by
    assert sorted(ix.columns for ix in store.items.list_indices()) == [
        ["created_at"],
        ["id"],
        ["product"],
        ["status"],
    ]
    assert [ix.columns for ix in store.embeddings("m", 8).list_indices()] == [["item_id"]]
    later = ids(20, "later")  # written after the index: found beside it
    store.register_items(items(later))
    store.delete_items(many[:5])
    got = store.get_items([*many[:10], *later[:3]])
    assert sorted(got) == sorted([*many[5:10], *later[:3]])
    assert store.embedded_ids("m", 8, many[:10]) == set(many[5:10])
    store.compact()  # folds the new rows into the index; lookups unchanged
    assert sorted(store.get_items([*many[:10], *later[:3]])) == sorted([*many[5:10], *later[:3]])
    found, vecs = store.read_vectors("m", 8, [many[7]])
    assert found == [many[7]] and np.allclose(vecs[0], vectors[7])


def test_compaction_failures_are_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.metrics import UPKEEP_FAILURES, compact

    store = Store(tmp_path)
    for n in range(3):  # three fragments: something to compact
        store.register_items(items(ids(3, prefix=f"batch{n}")))
    for data in (tmp_path / "items.lance" / "data").iterdir():
        data.unlink()  # the table's files vanish under it (a disk fault, a bad restore)
    before = UPKEEP_FAILURES.labels("compact")._value.get()
    compact(store)
    assert UPKEEP_FAILURES.labels("compact")._value.get() == before + 1
    assert "compacting the items table failed" in caplog.text


def test_a_catalog_from_before_products_opens_and_takes_them(tmp_path: Path) -> None:
    """An items table written by an older version (no product column) is opened as it is
    and given the column, empty; its rows are kept and new ones carry a product."""
    import lancedb
    import pyarrow as pa

    from index import Item

    old = pa.schema([f for f in Item.to_arrow_schema() if f.name != "product"])
    before = items(ids(3))
    rows = [{k: v for k, v in it.model_dump().items() if k != "product"} for it in before]
    lancedb.connect(tmp_path).create_table("items", pa.Table.from_pylist(rows, schema=old))
    store = Store(tmp_path)
    assert {i.product for i in store.get_items(ids(3)).values()} == {None}
    store.update_item(ids(3)[0], product="P1")
    store.register_items([Item.new(ids(1, "new")[0], product="P1")])
    found = store.items_of_products(["P1", "P2"])
    assert sorted(i.id for i in found["P1"]) == sorted([ids(3)[0], ids(1, "new")[0]])
    assert found["P2"] == [] and len(Store(tmp_path).get_items(ids(3))) == 3
