"""The LanceDB store: items, one embeddings table per model id, jobs and their batches, API
keys and a little state, behind one face (`Store`); each table's methods live in
index/tables/, and the upkeep that spans them all (compaction, id indexes) here.

LanceDB is the source of truth; every FAISS index can be rebuilt from what is here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from index.errors import IndexStoreError
from index.schemas import ApiKey, Batch, Item, Job
from index.tables.access import KeyAndStateRows, StateRow
from index.tables.base import sql_str, sql_time
from index.tables.embeddings import STABLE_ROW_IDS, EmbeddingRows
from index.tables.items import ItemRows
from index.tables.jobs import JobRows

if TYPE_CHECKING:
    from lancedb.table import Table

__all__ = ["Store", "sql_str", "sql_time"]

log = logging.getLogger(__name__)
ITEMS = "items"
JOBS = "jobs"
BATCHES = "batches"
STATE = "state"
KEYS = "api_keys"
# Past this many rows, id lookups get a BTREE index: at a million items, fetching the ten
# items of a search result took 93 ms by scanning and 10 ms through the index (measured).
INDEX_AT = 10_000


@functools.cache
def _session(cache_mib: int) -> Any:
    """One LanceDB session per process with bounded caches. The defaults are sized for large
    indexes (gigabytes); every write makes a version whose metadata lands in the cache, so
    a long-running server's memory would climb with its write count. Our tables are scans
    and key lookups (no LanceDB vector index; id lookups through a BTREE index took 10 ms at
    a million items with these caches), and whatever they hold is part of the server's
    memory until they are full."""
    import lancedb

    size = cache_mib * 2**20
    return lancedb.Session(index_cache_size_bytes=size, metadata_cache_size_bytes=size // 2)


class Store(ItemRows, EmbeddingRows, JobRows, KeyAndStateRows):
    def __init__(
        self,
        uri: Path | str,
        storage_options: Mapping[str, str] | None = None,
        cache_mib: int = 16,
    ) -> None:
        """`uri`: a local folder or an object-store URI (s3://bucket/prefix/lancedb), with the
        endpoint and credentials for it in `storage_options` (index/storage.py)."""
        import lancedb  # heavy import, only when a store is opened

        if isinstance(uri, Path):
            uri.mkdir(parents=True, exist_ok=True)
        self.uri = str(uri)
        try:
            # Workers and the API write the same tables from different processes: every
            # read checks for newer versions instead of trusting the handle it opened.
            self._db = lancedb.connect(
                self.uri,
                read_consistency_interval=timedelta(0),
                session=_session(cache_mib),
                storage_options=dict(storage_options or {}),
            )
            self.items = self._open_or_create(ITEMS, Item, "id")
            self._state = self._open_or_create(STATE, StateRow, "key")
            self.jobs = self._open_or_create(JOBS, Job, "id")
            self.batches = self._open_or_create(BATCHES, Batch, "key")
            self.keys = self._open_or_create(KEYS, ApiKey, "key_id")
        except (OSError, RuntimeError, ValueError) as exc:  # an object store out of reach
            raise IndexStoreError(
                f"The catalog's tables at {self.uri} cannot be opened ({str(exc)[:300]})."
            ) from exc
        self._tables: dict[str, Table] = {}

    def ensure_indexes(self) -> None:
        """Scalar indexes on tables past INDEX_AT rows: BTREE on the id columns, the product
        key and the items' creation time (the windows a listing page reads), BITMAP on their
        status (a few values); rows written since an index was built are searched alongside it and
        folded in by `compact`."""
        wanted: list[tuple[str, str, Literal["BTREE", "BITMAP"]]] = [
            (ITEMS, "id", "BTREE"),
            (ITEMS, "created_at", "BTREE"),
            (ITEMS, "status", "BITMAP"),
            (ITEMS, "product", "BTREE"),  # a product's photos, for searches grouped by it
        ]
        wanted += [(name, "item_id", "BTREE") for name in self._embedding_tables()]
        for name, column, kind in wanted:
            table = self._open(name)
            if any(column in ix.columns for ix in table.list_indices()):
                continue
            if table.count_rows() >= INDEX_AT:
                table.create_scalar_index(column, index_type=kind, replace=False)

    def table_versions(self) -> dict[str, int]:
        """Every table of the store and its current version (what a backup pins)."""
        return {name: self._db.open_table(name).version for name in self._table_names()}

    def read_table(self, name: str, version: int, rows: int = 65_536) -> Iterator[pa.Table]:
        """One table as it was at `version`, a slice of `rows` at a time (never the whole
        table in memory), with its schema (primary-key marks included)."""
        table = self._db.open_table(name)
        table.checkout(version)
        reader = table.search().limit(None).to_batches(rows)
        for batch in reader:
            yield pa.Table.from_batches([batch], schema=table.schema)

    def table_schema(self, name: str, version: int) -> pa.Schema:
        table = self._db.open_table(name)
        table.checkout(version)
        schema: pa.Schema = table.schema
        return schema

    def holds_rows(self) -> bool:
        """Whether any table has a row (a store just opened has its tables, all empty)."""
        return any(self._db.open_table(n).count_rows() for n in self._table_names())

    def write_table(self, name: str, schema: pa.Schema, slices: Iterable[pa.Table]) -> int:
        """A table made anew from slices of rows (a backup, a restore), in place of an empty
        one of that name; returns its row count. Each slice is one append: appending from
        a reader of another table's scan still open (the two share LanceDB's runtime) was
        seen to hang. For a store opened to be written whole (a backup, a restore): the
        handles it opened on the replaced table are not used again."""
        if name in self._table_names():
            if self._db.open_table(name).count_rows():
                raise IndexStoreError(f"The table {name} holds rows; write into a new home.")
            self._db.drop_table(name)
        options = STABLE_ROW_IDS if name.startswith("emb_") else {}
        table = self._db.create_table(name, schema=schema, storage_options=options)
        count = 0
        for part in slices:
            table.add(part)
            count += part.num_rows
        self._tables.pop(name, None)
        return count

    def compact(self) -> list[str]:
        """Merge the small fragments that many writes leave behind, and drop versions older
        than ten minutes: every upload is a commit, and a long-running server reads better
        (and holds less memory) over a few large fragments than over thousands of small ones.

        Returns what failed, each logged: upkeep loses nothing when it fails, but a failure
        that repeats (a full disk, a commit conflict every time) must be seen."""
        failed: list[str] = []
        for name in (ITEMS, JOBS, BATCHES, *self._embedding_tables()):
            for attempt in range(3):
                try:
                    self._open(name).optimize(cleanup_older_than=timedelta(minutes=10))
                    break
                except Exception as exc:
                    # a writer committed meanwhile: LanceDB says to retry, and it is cheap
                    if "Retryable commit conflict" in str(exc) and attempt < 2:
                        continue
                    log.warning("compacting the %s table failed: %s", name, exc)
                    failed.append("compact")
                    break
        try:
            self.ensure_indexes()
        except Exception as exc:
            log.warning("building the id indexes failed: %s", exc)
            failed.append("index")
        return failed
