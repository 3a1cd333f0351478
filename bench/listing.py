"""`lookalike bench list`: a page of the items listing at catalog size, beside the full
read-and-sort that `GET /v1/items` did for every page before it paged by windows.

Items are bulk-appended as a finished ingest leaves them (created over a day, one in a
hundred failed, a `shard` key in the metadata) and get the scalar indexes a catalog past
`INDEX_AT` rows gets; every figure is the median of a few runs, all in this one run.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.catalog import item_rows
from bench.timing import timed_ms
from bench.vectors import CHUNK, row_ids
from index import MetadataFilter, Store

PAGE = 100
ROUNDS = 5


START = datetime(2026, 1, 1, tzinfo=UTC)


def _fill(store: Store, count: int) -> timedelta:
    """`count` items created one `step` apart from START; returns the step."""
    step = timedelta(days=1) / max(1, count)
    start = START
    for first in range(0, count, CHUNK):
        n = min(CHUNK, count - first)
        numbers = range(first, first + n)
        rows = item_rows(
            store,
            row_ids(first, n),
            [json.dumps({"shard": i % 10}) for i in numbers],
            [start + step * i for i in numbers],
            status=["failed" if i % 100 == 0 else "embedded" for i in numbers],
        )
        store.items.add(rows)
    store.compact()  # fragments merged and the scalar indexes built, as upkeep leaves them
    return step


def _median_ms(work: Callable[[], object], rounds: int = ROUNDS) -> float:
    return statistics.median(timed_ms(work) for _ in range(rounds))


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-list-") as tmp:
        store = Store(Path(tmp) / "lancedb")
        began = time.perf_counter()
        step = _fill(store, count)
        fill_s = time.perf_counter() - began
        store = Store(Path(tmp) / "lancedb")  # a fresh process's view: no hint cached yet
        first_call_ms = timed_ms(lambda: store.list_page(PAGE))  # finds the oldest item once
        after = (START + step * (count // 2), "")  # from the middle item's instant on

        shard = MetadataFilter.parse({"shard": 3})
        figures = {
            "first page": _median_ms(lambda: store.list_page(PAGE)),
            "a page from the middle (cursor)": _median_ms(lambda: store.list_page(PAGE, after)),
            "status=failed (1%), from the middle": _median_ms(
                lambda: store.list_page(PAGE, after, status="failed")
            ),
            "metadata filter (10%), from the middle": _median_ms(
                lambda: store.list_page(PAGE, after, where=shard)
            ),
        }
        full_ms = _median_ms(store.list_items, rounds=1)
        return {
            "count": count,
            "fill_s": round(fill_s, 1),
            "first_call_ms": round(first_call_ms, 1),
            "pages_ms": {k: round(v, 1) for k, v in figures.items()},
            "full_sort_ms": round(full_ms, 1),
        }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    full = result["full_sort_ms"]
    out = [
        {"figure": f"{result['count']:,} items written and indexed (s)", "value": result["fill_s"]},
        {
            "figure": "first call of a process (finds the oldest item once), ms",
            "value": result["first_call_ms"],
        },
    ]
    for name, ms in result["pages_ms"].items():
        out.append(
            {
                "figure": f"page of {PAGE}: {name}, ms",
                "value": f"{ms:.1f}",
                "target": "<= 50",
                "vs full sort": f"{full / ms:.0f}x faster",
            }
        )
    out.append({"figure": "every item read and sorted (the old way), ms", "value": f"{full:.0f}"})
    return out
