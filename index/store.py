"""The LanceDB store: items, one embeddings table per model id, and a little state.

LanceDB is the source of truth; every FAISS index can be rebuilt from what is here.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
from lancedb.pydantic import LanceModel

from index.errors import ItemNotFoundError
from index.schemas import ApiKey, Batch, BatchState, Item, ItemStatus, Job, embedding_schema

if TYPE_CHECKING:
    from lancedb.table import Table

log = logging.getLogger(__name__)
ITEMS = "items"
JOBS = "jobs"
BATCHES = "batches"
STATE = "state"
KEYS = "api_keys"
_IN_CHUNK = 500  # ids per "IN (...)" clause keeps the SQL small
# Past this many rows, id lookups get a BTREE index: at a million items, fetching the ten
# items of a search result took 93 ms by scanning and 10 ms through the index (measured).
INDEX_AT = 10_000


class StateRow(LanceModel):
    key: str
    value: str


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


def sql_time(value: datetime) -> str:
    """A timestamp literal for a filter; stored times are UTC without a zone."""
    return f"timestamp '{value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


M = TypeVar("M", bound=LanceModel)


def rows_as(model: type[M], rows: Iterable[dict[str, Any]]) -> list[M]:
    """Table rows as their pydantic model (a search hands back extra columns, e.g. _distance)."""
    fields = model.model_fields
    return [model(**{k: r[k] for k in fields}) for r in rows]


def upsert(table: Table, key: str, rows: Sequence[dict[str, Any]] | pa.Table) -> None:
    """Insert rows, or overwrite the rows with the same key: only for rows that one writer
    creates whole (a new job, a new key); every later change is a column update."""
    table.merge_insert(key).when_matched_update_all().when_not_matched_insert_all().execute(rows)


def partial(model: type[LanceModel], rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows holding only some of a table's columns, typed as the table's, for a merge that
    writes just those columns."""
    full = model.to_arrow_schema()
    names = list(dict.fromkeys(name for row in rows for name in row))
    schema = pa.schema([full.field(n) for n in names])
    return pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema)


def embeddings_table_name(model_id: str) -> str:
    return "emb_" + re.sub(r"[^A-Za-z0-9_]", "_", model_id)


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


class Store:
    def __init__(self, path: Path, cache_mib: int = 16) -> None:
        import lancedb  # heavy import, only when a store is opened

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Workers and the API write the same tables from different processes: every read
        # checks for newer versions instead of trusting the handle it opened.
        self._db = lancedb.connect(
            str(path), read_consistency_interval=timedelta(0), session=_session(cache_mib)
        )
        self.items = self._db.create_table(ITEMS, schema=Item, exist_ok=True)
        self._state = self._db.create_table(STATE, schema=StateRow, exist_ok=True)
        self.jobs = self._db.create_table(JOBS, schema=Job, exist_ok=True)
        self.batches = self._db.create_table(BATCHES, schema=Batch, exist_ok=True)
        self.keys = self._db.create_table(KEYS, schema=ApiKey, exist_ok=True)
        self._tables: dict[str, Table] = {}

    # ---- items -------------------------------------------------------------------------
    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(ids)):
            rows = self.items.search().where(_in("id", chunk)).select(["id"]).limit(None)
            found.update(rows.to_arrow().column("id").to_pylist())
        return found

    def register_items(self, items: Sequence[Item]) -> None:
        """Insert new items; re-register known ones (a retry after a failure, a crash that left
        them queued) unless a worker has embedded them meanwhile. Registration owns the
        client's columns and sets the status back to queued; it keeps `created_at`."""
        if not items:
            return
        rows = [it.model_dump() for it in _last_per_id(items)]
        (
            self.items.merge_insert("id")
            .when_matched_update_all(where=f"target.status <> '{ItemStatus.embedded.value}'")
            .when_not_matched_insert_all()
            .execute(rows)
        )

    WORKER_COLUMNS = ("status", "error", "width", "height", "format")

    def set_results(self, results: Sequence[dict[str, Any]]) -> int:
        """A worker's outcome per item (`id` and WORKER_COLUMNS only), in one write; returns
        how many rows it changed. Only those columns change, so a PATCH made during the
        forward pass stays; an item deleted meanwhile is not re-created."""
        if not results:
            return 0
        unknown = {k for r in results for k in r} - {"id", *self.WORKER_COLUMNS}
        if unknown:
            raise ValueError(f"A worker does not write {sorted(unknown)}.")
        rows = list({r["id"]: r for r in results}.values())
        merge = self.items.merge_insert("id").when_matched_update_all()
        return int(merge.execute(partial(Item, rows)).num_updated_rows)

    def mark_embedded(self, ids: Sequence[str]) -> None:
        """Items that have their vector but not the status (a crash between the two writes,
        a re-registration racing the worker): the status follows the vector."""
        rows = [{"id": i, "status": ItemStatus.embedded.value, "error": None} for i in ids]
        if rows:
            (
                self.items.merge_insert("id")
                .when_matched_update_all(where=f"target.status <> '{ItemStatus.embedded.value}'")
                .execute(partial(Item, rows))
            )

    def update_item(self, item_id: str, **values: Any) -> Item:
        """Write only the given columns of one item (a PATCH owns metadata and client key)."""
        done = self.items.update(where=f"id = {sql_str(item_id)}", values=values)
        if done.rows_updated == 0:
            raise ItemNotFoundError(f"No item has the id '{item_id[:80]}'.")
        return self.get_item(item_id)

    def get_items(self, ids: Sequence[str]) -> dict[str, Item]:
        out: dict[str, Item] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = self.items.search().where(_in("id", chunk)).limit(None).to_list()
            out.update((it.id, it) for it in rows_as(Item, rows))
        return out

    def get_item(self, item_id: str) -> Item:
        found = self.get_items([item_id]).get(item_id)
        if found is None:
            raise ItemNotFoundError(f"No item has the id '{item_id[:80]}'.")
        return found

    def find_by_client_key(self, key: str) -> list[Item]:
        rows = self.items.search().where(f"client_key = {sql_str(key)}").limit(None).to_list()
        return rows_as(Item, rows)

    def delete_items(self, ids: Sequence[str]) -> None:
        for chunk in _chunks(list(ids)):
            self.items.delete(_in("id", chunk))
            for name in self._embedding_tables():
                self._open(name).delete(_in("item_id", chunk))

    def status_counts(self) -> dict[str, int]:
        col = self.items.search().select(["status"]).limit(None).to_arrow().column("status")
        return dict(Counter(col.to_pylist()))

    def failed_items(self) -> list[Item]:
        rows = self.items.search().where("status = 'failed'").limit(None).to_list()
        return rows_as(Item, rows)

    # ---- embeddings --------------------------------------------------------------------
    def _embedding_tables(self) -> list[str]:
        return [n for n in _table_names(self._db) if n.startswith("emb_")]

    def embeddings(self, model_id: str, dim: int) -> Table:
        """The model's table; one handle per table for the life of the store (a handle per
        call made the server's memory climb with every request)."""
        name = embeddings_table_name(model_id)
        table = self._tables.get(name)
        if table is None:
            table = self._db.create_table(name, schema=embedding_schema(dim), exist_ok=True)
            self._tables[name] = table
        return table

    def _open(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = self._db.open_table(name)
        return table

    def add_embeddings(self, model_id: str, item_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Write a batch of vectors in one LanceDB write; an id already there is left alone."""
        if not item_ids:
            return
        table = self.embeddings(model_id, int(vectors.shape[1]))
        rows = [
            {"item_id": i, "model_id": model_id, "vector": v}
            for i, v in zip(item_ids, vectors, strict=True)
        ]
        table.merge_insert("item_id").when_not_matched_insert_all().execute(rows)

    def delete_embeddings(self, model_id: str, item_ids: Sequence[str]) -> None:
        """Drop vectors of one model (written for items deleted while they were embedded)."""
        name = embeddings_table_name(model_id)
        if name in self._tables or name in _table_names(self._db):
            for chunk in _chunks(list(item_ids)):
                self._open(name).delete(_in("item_id", chunk))

    def embedded_ids(self, model_id: str, dim: int, among: Sequence[str] | None = None) -> set[str]:
        if among is None:
            return set(self.embedded_id_column(model_id, dim).to_pylist())
        table = self.embeddings(model_id, dim)
        found: set[str] = set()
        for chunk in _chunks(list(among)):
            q = table.search().where(_in("item_id", chunk)).select(["item_id"]).limit(None)
            found.update(q.to_arrow().column("item_id").to_pylist())
        return found

    def embedded_id_column(self, model_id: str, dim: int) -> pa.Array:
        """Every item id with a vector of this model, as one Arrow string array (no Python
        strings: a million of them took most of an index catch-up)."""
        q = self.embeddings(model_id, dim).search().select(["item_id"]).limit(None)
        return q.to_arrow().column("item_id").combine_chunks()

    def read_vectors(
        self, model_id: str, dim: int, ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        table = self.embeddings(model_id, dim)
        if ids is None:
            tables = [table.search().select(["item_id", "vector"]).limit(None).to_arrow()]
        else:
            tables = [
                table.search()
                .where(_in("item_id", c))
                .select(["item_id", "vector"])
                .limit(None)
                .to_arrow()
                for c in _chunks(list(ids))
            ]
        out_ids: list[str] = []
        parts: list[np.ndarray] = []
        for t in tables:
            if t.num_rows == 0:
                continue
            out_ids.extend(t.column("item_id").to_pylist())
            flat = t.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            parts.append(flat.reshape(t.num_rows, dim))
        vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        return out_ids, np.ascontiguousarray(vectors, dtype=np.float32)

    def iter_vectors(
        self, model_id: str, dim: int, batch_rows: int = 32_768
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every (ids, vectors) of the model in batches: a million 2048-d vectors are 8 GiB,
        so an index build streams them instead of reading them whole."""
        query = self.embeddings(model_id, dim).search().select(["item_id", "vector"]).limit(None)
        for batch in query.to_batches(batch_rows):
            if batch.num_rows == 0:
                continue
            flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
            vectors = np.ascontiguousarray(flat.reshape(batch.num_rows, dim), dtype=np.float32)
            yield batch.column("item_id").to_pylist(), vectors

    def embeddings_version(self, model_id: str, dim: int) -> int:
        return int(self.embeddings(model_id, dim).version)

    def embeddings_count(self, model_id: str, dim: int) -> int:
        return int(self.embeddings(model_id, dim).count_rows())

    # ---- items: listing ----------------------------------------------------------------
    def list_items(self, status: str | None = None) -> list[Item]:
        """Every item (optionally of one status) ordered by creation time, then id."""
        q = self.items.search()
        if status is not None:
            q = q.where(f"status = {sql_str(status)}")
        rows = rows_as(Item, q.limit(None).to_list())
        return sorted(rows, key=lambda it: (it.created_at, it.id))

    # ---- jobs ---------------------------------------------------------------------------
    def create_job(self, job: Job) -> None:
        """A new job row, written whole once; every later change goes through `update_job`."""
        upsert(self.jobs, "id", [job.model_dump()])

    def update_job(self, job_id: str, when: Sequence[str] | None = None, **values: Any) -> bool:
        """Write some columns of a job, only while its status is one of `when` (any status
        when None); False when the job was not in such a state (another writer moved it)."""
        where = f"id = {sql_str(job_id)}"
        if when is not None:
            where += " AND " + _in("status", when)
        return self.jobs.update(where=where, values=values).rows_updated > 0

    def get_job(self, job_id: str) -> Job:
        rows = self.jobs.search().where(f"id = {sql_str(job_id)}").limit(1).to_list()
        if not rows:
            raise ItemNotFoundError(f"No job has the id '{job_id[:80]}'.")
        return rows_as(Job, rows)[0]

    def job_counts(self) -> dict[str, int]:
        col = self.jobs.search().select(["status"]).limit(None).to_arrow().column("status")
        return dict(Counter(col.to_pylist()))

    def list_jobs(self, limit: int = 50) -> list[Job]:
        rows = rows_as(Job, self.jobs.search().limit(None).to_list())
        return sorted(rows, key=lambda j: j.created_at, reverse=True)[:limit]

    # ---- batches of a job ---------------------------------------------------------------
    def create_batches(self, batches: Sequence[Batch]) -> None:
        if batches:
            upsert(self.batches, "key", [b.model_dump() for b in batches])

    def claim_batch(self, batch: Batch) -> bool:
        """Insert a batch row unless its key exists: True for the one writer that made it
        (several processes may try to add the same round to a job)."""
        merge = self.batches.merge_insert("key").when_not_matched_insert_all()
        return int(merge.execute([batch.model_dump()]).num_inserted_rows) == 1

    def update_batches(self, where: str, when: Sequence[str] | None = None, **values: Any) -> int:
        """Write some columns of the batches matching `where` whose state is one of `when`;
        returns how many changed."""
        if when is not None:
            where = f"({where}) AND " + _in("state", when)
        return int(self.batches.update(where=where, values=values).rows_updated)

    def update_batch(self, key: str, when: Sequence[str] | None = None, **values: Any) -> bool:
        return self.update_batches(f"key = {sql_str(key)}", when, **values) > 0

    def job_batches(self, job_id: str, state: str | None = None) -> list[Batch]:
        where = f"job_id = {sql_str(job_id)}"
        if state is not None:
            where += f" AND state = {sql_str(state)}"
        rows = self.batches.search().where(where).limit(None).to_list()
        return sorted(rows_as(Batch, rows), key=lambda b: b.batch_no)

    def stale_batches(self, older_than: datetime) -> list[Batch]:
        """Queued batches last sent before `older_than`: candidates to resend."""
        where = f"state = '{BatchState.queued.value}' AND sent_at < {sql_time(older_than)}"
        return rows_as(Batch, self.batches.search().where(where).limit(None).to_list())

    # ---- API keys -----------------------------------------------------------------------
    def create_key(self, key: ApiKey) -> None:
        upsert(self.keys, "key_id", [key.model_dump()])

    def revoke_key(self, key_id: str) -> bool:
        done = self.keys.update(where=f"key_id = {sql_str(key_id)}", values={"revoked": True})
        return done.rows_updated > 0

    def list_keys(self) -> list[ApiKey]:
        keys = rows_as(ApiKey, self.keys.search().limit(None).to_list())
        return sorted(keys, key=lambda k: k.created_at)

    def keys_version(self) -> int:
        return int(self.keys.version)

    # ---- state and upkeep ---------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        rows = self._state.search().where(f"key = {sql_str(key)}").limit(1).to_list()
        return rows[0]["value"] if rows else None

    def set_state(self, key: str, value: str) -> None:
        upsert(self._state, "key", [{"key": key, "value": value}])

    def ensure_indexes(self) -> None:
        """BTREE indexes on the id columns of tables past INDEX_AT rows; rows written since
        an index was built are searched alongside it and folded in by `compact`."""
        wanted = [(ITEMS, "id")] + [(name, "item_id") for name in self._embedding_tables()]
        for name, column in wanted:
            table = self._open(name)
            if any(column in ix.columns for ix in table.list_indices()):
                continue
            if table.count_rows() >= INDEX_AT:
                table.create_scalar_index(column, index_type="BTREE", replace=False)

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


def _chunks(values: list[str], size: int = _IN_CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _last_per_id(items: Sequence[Item]) -> list[Item]:
    return list({it.id: it for it in items}.values())


def _table_names(db: Any) -> list[str]:
    names = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    return list(getattr(names, "tables", names))
