"""What every table of the store shares: the connection, table handles, SQL literals,
rows as their pydantic models, and the two merge forms (whole rows, some columns)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from lancedb.pydantic import LanceModel

if TYPE_CHECKING:
    from lancedb.table import Table

_IN_CHUNK = 500  # ids per "IN (...)" clause keeps the SQL small
T = TypeVar("T")
M = TypeVar("M", bound=LanceModel)


def chunked(values: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    """`values` in slices of `size` (itertools.batched, which is Python 3.12's)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


def sql_time(value: datetime) -> str:
    """A timestamp literal for a filter; stored times are UTC without a zone."""
    return f"timestamp '{value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


def rows_as(model: type[M], rows: Iterable[dict[str, Any]]) -> list[M]:
    """Table rows as their pydantic model (a search hands back extra columns, e.g. _distance)."""
    fields = model.model_fields
    return [model(**{k: r[k] for k in fields}) for r in rows]


def upsert(table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, or overwrite the rows with the same key: only for rows that one writer
    creates whole (a new job, a new key); every later change is a column update."""
    merge = table.merge_insert(key).when_matched_update_all().when_not_matched_insert_all()
    merge.execute(keyed_rows(table, key, rows))


def keyed_rows(table: Table, key: str, rows: Sequence[dict[str, Any]] | pa.Table) -> pa.Table:
    """Rows for a merge on `key`, holding only the columns they name, typed as the table's,
    with the key not nullable (Lance refuses a nullable primary key in a merge's data)."""
    if not isinstance(rows, pa.Table):
        names = list(dict.fromkeys(name for row in rows for name in row))
        schema = pa.schema([table.schema.field(n) for n in names])
        rows = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema)
    at = rows.schema.get_field_index(key)
    return rows.cast(rows.schema.set(at, rows.schema.field(at).with_nullable(False)))


# A column Lance treats as the table's primary key (not enforced on plain appends): two
# concurrent merge_inserts of the same new key then conflict and one retries, seeing the
# other's row. Without it both commit and the key has two rows (four writers claiming 40
# new keys at once left 70 rows, measured), which double-counted a reindex's batches.
PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}


def keyed_schema(model: type[LanceModel], key: str) -> pa.Schema:
    """The model's Arrow schema with `key` declared its primary key (and so not nullable)."""
    schema = model.to_arrow_schema()
    at = schema.get_field_index(key)
    field = schema.field(at)
    keyed = field.with_nullable(False).with_metadata({**(field.metadata or {}), **PRIMARY_KEY})
    return schema.set(at, keyed)


# The Arrow types of columns added to an existing table, as SQL casts name them.
_SQL_TYPES = {pa.string(): "STRING", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}


def embeddings_table_name(model_id: str) -> str:
    return "emb_" + re.sub(r"[^A-Za-z0-9_]", "_", model_id)


class Tables:
    """The connection, the table handles and the state rows, which every table's methods
    use."""

    _db: Any
    _tables: dict[str, Table]
    _state: Table

    def get_state(self, key: str) -> str | None:
        rows = self._state.search().where(f"key = {sql_str(key)}").limit(1).to_list()
        return rows[0]["value"] if rows else None

    def set_state(self, key: str, value: str) -> None:
        upsert(self._state, "key", [{"key": key, "value": value}])

    def _open(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = self._db.open_table(name)
        return table

    def _open_or_create(
        self, name: str, model: type[LanceModel], key: str, **options: Any
    ) -> Table:
        """The table, created keyed on `key` when it does not exist yet. One made by an
        older version is opened as it is, and given the model's nullable columns it lacks,
        as nulls, in place (a metadata-only change in Lance: no row is rewritten); its key
        cannot be declared in place: there, concurrent first inserts of one key can still
        leave two rows."""
        if name not in self._table_names():
            created: Table = self._db.create_table(
                name, schema=keyed_schema(model, key), exist_ok=True, **options
            )
            return created
        table: Table = self._db.open_table(name)
        wanted = model.to_arrow_schema()
        for attempt in range(3):
            have = set(table.schema.names)
            missing = [f for f in wanted if f.name not in have and f.nullable]
            if not missing:
                break
            try:
                table.add_columns({f.name: f"CAST(NULL AS {_SQL_TYPES[f.type]})" for f in missing})
            except (OSError, RuntimeError, ValueError):
                # another process added them first: the next look sees its columns
                if attempt == 2:
                    raise
                table = self._db.open_table(name)
        return table

    def _table_names(self) -> list[str]:
        db = self._db
        names = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
        return list(getattr(names, "tables", names))

    def _embedding_tables(self) -> list[str]:
        return [n for n in self._table_names() if n.startswith("emb_")]
