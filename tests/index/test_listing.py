"""Paging the items table: every item once, in (created_at, id) order, whatever the shape
of the catalog in time (bursts at one instant, years of silence, a filter that drops most)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import index.store
from index import Item, MetadataFilter, Store
from tests.index.helpers import ids


def _catalog(store: Store) -> list[Item]:
    """Bursts of items at one instant, sparse items years apart, dense runs a microsecond
    apart: the windows a page reads must widen, narrow and split ties by id."""
    rng = random.Random(7)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    times = [base] * 40  # one instant (a bulk write)
    times += [base + timedelta(days=400 * n) for n in range(1, 6)]  # years apart
    times += [base + timedelta(days=2001, microseconds=n) for n in range(60)]  # dense
    times += [base + timedelta(seconds=rng.randrange(10**8)) for _ in range(45)]  # scattered
    made = [
        Item.new(i, status=rng.choice(["embedded", "failed"]), metadata={"n": n})
        for n, i in enumerate(ids(len(times)))
    ]
    made = [it.model_copy(update={"created_at": t}) for it, t in zip(made, times, strict=True)]
    for start in range(0, len(made), 37):  # several writes: several fragments
        store.register_items(made[start : start + 37])
    return sorted(made, key=lambda it: (it.created_at, it.id))


def _all_pages(store: Store, limit: int, **kwargs: Any) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page, more = store.list_page(limit, after, **kwargs)
        assert len(page) <= limit and (not more or len(page) == limit)
        seen += [it.id for it in page]
        if not more:
            return seen
        after = (page[-1].created_at, page[-1].id)


@pytest.mark.parametrize("indexed", [False, True])
def test_pages_cover_every_item_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexed: bool
) -> None:
    store = Store(tmp_path)
    expected = _catalog(store)
    if indexed:  # the scalar indexes a large catalog gets (created_at BTREE, status BITMAP)
        monkeypatch.setattr(index.store, "INDEX_AT", 10)
        store.ensure_indexes()
        assert {c for ix in store.items.list_indices() for c in ix.columns} >= {
            "created_at",
            "status",
        }
    for limit in (1, 7, 50, 1000):
        assert _all_pages(store, limit) == [it.id for it in expected], limit


def test_status_and_metadata_filters_page_like_the_full_list(tmp_path: Path) -> None:
    store = Store(tmp_path)
    expected = _catalog(store)
    failed = [it.id for it in expected if it.status == "failed"]
    assert _all_pages(store, 9, status="failed") == failed
    rare = [it.id for it in expected if it.metadata["n"] % 50 == 3]  # 3 of 150
    three = MetadataFilter.parse({"n": {"in": [3, 53, 103]}})  # n % 50 == 3 of 150
    assert _all_pages(store, 2, where=three) == rare
    assert store.list_page(5, status="queued") == ([], False)


def test_a_page_after_the_last_item_is_empty_and_new_items_come_last(tmp_path: Path) -> None:
    store = Store(tmp_path)
    expected = _catalog(store)
    last = expected[-1]
    assert store.list_page(10, (last.created_at, last.id)) == ([], False)
    late = Item.new(ids(1, "late")[0])  # created now: after everything above
    store.register_items([late])
    page, more = store.list_page(10, (last.created_at, last.id))
    assert [it.id for it in page] == [late.id] and not more
