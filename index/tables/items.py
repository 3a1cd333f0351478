"""The items table: one row per catalog image, its client's columns and its worker's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from index.errors import ItemNotFoundError
from index.schemas import Item, ItemStatus
from index.tables.base import Tables, chunked, partial, rows_as, sql_in, sql_str

if TYPE_CHECKING:
    from lancedb.table import Table


class ItemRows(Tables):
    items: Table

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunked(list(ids)):
            rows = self.items.search().where(sql_in("id", chunk)).select(["id"]).limit(None)
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
        for chunk in chunked(list(dict.fromkeys(ids))):
            rows = self.items.search().where(sql_in("id", chunk)).limit(None).to_list()
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
        for chunk in chunked(list(ids)):
            self.items.delete(sql_in("id", chunk))
            for name in self._embedding_tables():
                self._open(name).delete(sql_in("item_id", chunk))

    def status_counts(self) -> dict[str, int]:
        col = self.items.search().select(["status"]).limit(None).to_arrow().column("status")
        return dict(Counter(col.to_pylist()))

    def failed_items(self) -> list[Item]:
        rows = self.items.search().where("status = 'failed'").limit(None).to_list()
        return rows_as(Item, rows)

    def list_items(self, status: str | None = None) -> list[Item]:
        """Every item (optionally of one status) ordered by creation time, then id."""
        q = self.items.search()
        if status is not None:
            q = q.where(f"status = {sql_str(status)}")
        rows = rows_as(Item, q.limit(None).to_list())
        return sorted(rows, key=lambda it: (it.created_at, it.id))


def _last_per_id(items: Sequence[Item]) -> list[Item]:
    return list({it.id: it for it in items}.values())
