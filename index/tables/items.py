"""The items table: one row per catalog image, its client's columns and its worker's."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from lancedb.query import ColumnOrdering

from index.errors import ItemNotFoundError
from index.filters import MetadataFilter
from index.schemas import Item, ItemStatus
from index.tables.base import Tables, chunked, keyed_rows, rows_as, sql_in, sql_str, sql_time

if TYPE_CHECKING:
    from lancedb.table import Table


# LanceDB sorts what a window holds by these; the keyset of a page is the same pair.
LIST_ORDER = [ColumnOrdering(column_name="created_at"), ColumnOrdering(column_name="id")]
LIST_BATCH = 256  # rows read from a window at a time when a filter drops some
LIST_SCAN_ROWS = 65_536  # rows per Arrow batch when a filter is matched over the whole table


class ItemRows(Tables):
    items: Table
    _oldest_seen: datetime | None = None
    # per filter, the last page's window: the next page's first guess
    _list_windows: dict[tuple[str | None, bool], timedelta] | None = None

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
            .execute(keyed_rows(self.items, "id", rows))
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
        return int(merge.execute(keyed_rows(self.items, "id", rows)).num_updated_rows)

    def mark_embedded(self, ids: Sequence[str]) -> None:
        """Items that have their vector but not the status (a crash between the two writes,
        a re-registration racing the worker): the status follows the vector."""
        rows = [{"id": i, "status": ItemStatus.embedded.value, "error": None} for i in ids]
        if rows:
            (
                self.items.merge_insert("id")
                .when_matched_update_all(where=f"target.status <> '{ItemStatus.embedded.value}'")
                .execute(keyed_rows(self.items, "id", rows))
            )

    def update_item(self, item_id: str, **values: Any) -> Item:
        """Write only the given columns of one item (a PATCH owns metadata, client key and
        product)."""
        done = self.items.update(where=f"id = {sql_str(item_id)}", values=values)
        if done.rows_updated == 0:
            raise ItemNotFoundError(f"No item has the id '{item_id[:80]}'.")
        return self.get_item(item_id)

    def merge_metadata(self, item_id: str, extra: dict[str, Any]) -> Item:
        """Add keys to an item's metadata, written only over the metadata it was read with
        (a PATCH that lands between the read and the write is kept: the merge is read
        again and retried)."""
        for _ in range(5):
            item = self.get_item(item_id)
            merged = json.dumps({**item.metadata, **extra}, sort_keys=True)
            where = f"id = {sql_str(item_id)} AND metadata_json = {sql_str(item.metadata_json)}"
            if self.items.update(where=where, values={"metadata_json": merged}).rows_updated:
                return self.get_item(item_id)
        raise ItemNotFoundError(f"The item '{item_id[:80]}' kept changing; try again.")

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

    def items_of_products(self, products: Sequence[str]) -> dict[str, list[Item]]:
        """Every item of each product (a product has a few photos; BTREE-indexed column)."""
        out: dict[str, list[Item]] = {p: [] for p in products}
        for chunk in chunked(list(dict.fromkeys(products))):
            rows = self.items.search().where(sql_in("product", chunk)).limit(None).to_list()
            for item in rows_as(Item, rows):
                out[item.product or ""].append(item)
        return out

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

    def list_page(
        self,
        limit: int,
        after: tuple[datetime, str] | None = None,
        status: str | None = None,
        where: MetadataFilter | None = None,
    ) -> tuple[list[Item], bool]:
        """Up to `limit` items in (created_at, id) order after the key `after`, and whether
        more follow. Costs what the page needs, not what the catalog holds: LanceDB sorts
        only the rows of a time window just after the key (a range the created_at BTREE
        finds), and the window grows until the page is full or no row is left. `status` is
        filtered by LanceDB; `where` (metadata) after reading, window by window."""
        need, got, last = limit + 1, list[Item](), list[Item]()
        start, last_id = after if after is not None else (self._oldest(), None)
        began = start
        hints = self._list_windows = self._list_windows or {}
        width = hints.get((status, not where), timedelta(seconds=1))
        where_status = "" if status is None else f" AND status = {sql_str(status)}"

        def read(condition: str) -> bool:
            """The next rows of `condition` into `got`; True when more may follow."""
            asked = max(need - len(got), LIST_BATCH)
            query = self.items.search().where(condition + where_status).order_by(LIST_ORDER)
            rows = rows_as(Item, query.limit(asked).to_list())
            got.extend(it for it in rows if not where or where.matches(it.metadata))
            last[:] = rows[-1:] or last
            return len(rows) == asked

        while True:
            if last_id is not None:
                # first the rest of the key's own instant, by id (a bulk write gives many
                # rows one time); kept apart, the window's range stays one the BTREE answers.
                # `id || ''` is the id, in a form the id's BTREE cannot take: through the
                # index, "id > x" selects most of the catalog (143 ms at a million, not 14)
                tie = f"created_at = {sql_time(start)} AND id || '' > {sql_str(last_id)}"
                more = read(tie)
                if more and len(got) < need:
                    last_id = last[0].id
                    continue
                low = f"created_at > {sql_time(start)}"
            else:
                low = f"created_at >= {sql_time(start)}"
            end = start + width
            more = len(got) < need and read(f"{low} AND created_at < {sql_time(end)}")
            if len(got) >= need:
                # the next page's window: twice what this one took, so that one read fills it
                span = last[0].created_at - began
                hints[(status, not where)] = max(timedelta(microseconds=1), 2 * span)
                return got[:limit], True
            if more:  # the window holds more: go on after the last row read
                start, last_id = last[0].created_at, last[0].id
                continue
            start, last_id, width = end, None, width * 4  # the window is read: widen it
            later = self.items.search().where(f"created_at >= {sql_time(end)}" + where_status)
            if later.select(["id"]).limit(1).to_arrow().num_rows == 0:
                return got, False

    def ids_matching(self, where: MetadataFilter, limit: int) -> list[str] | None:
        """The items whose metadata matches, or None past `limit` of them. One pass
        over the id and metadata columns, in Arrow batches: LanceDB cannot read inside the
        JSON, so the filter's needles screen the raw text (Arrow's substring search) and
        only the rows that pass are parsed and matched exactly."""
        query = self.items.search().select(["id", "metadata_json"]).limit(None)
        found: list[str] = []
        needles = where.needles()
        for batch in query.to_batches(LIST_SCAN_ROWS):
            text = batch.column("metadata_json")
            keep = None
            for needle in needles:
                hit = pc.match_substring(text, needle)
                keep = hit if keep is None else pc.and_(keep, hit)
            rows = batch.filter(keep) if keep is not None else batch
            for item_id, raw in zip(
                rows.column("id").to_pylist(), rows.column("metadata_json").to_pylist(), strict=True
            ):
                if where.matches(json.loads(raw)):
                    found.append(item_id)
            if len(found) > limit:
                return None
        return found

    def _oldest(self) -> datetime:
        """A time no item is older than, for the first page. Found once per store (one scan
        of the column): rows only ever come in newer, so it stays a lower bound."""
        if self._oldest_seen is None:
            rows = self.items.search().select(["created_at"]).limit(None).to_arrow()
            column = rows.column("created_at")
            first = pc.min(column).as_py() if len(column) else None
            if first is None:
                return datetime.now(UTC)  # empty: the first item will be newer
            self._oldest_seen = first.replace(tzinfo=UTC)
        return self._oldest_seen

    def list_items(self, status: str | None = None) -> list[Item]:
        """Every item (optionally of one status) ordered by creation time, then id: for
        small work (tests, tools); a listing pages with `list_page`, and whole-catalog work
        reads `ids_by_age`."""
        q = self.items.search()
        if status is not None:
            q = q.where(f"status = {sql_str(status)}")
        rows = rows_as(Item, q.limit(None).to_list())
        return sorted(rows, key=lambda it: (it.created_at, it.id))

    def ids_by_age(self, status: str | None = None) -> pa.Array:
        """The item ids (optionally of one status), oldest first (creation time, then id),
        read from those two columns and sorted by Arrow: no row becomes a Python object
        (rows as models were 3.4 s of reading at 200,000 items)."""
        q = self.items.search().select(["id", "created_at"])
        if status is not None:
            q = q.where(f"status = {sql_str(status)}")
        table = q.limit(None).to_arrow()
        order = pc.sort_indices(table, sort_keys=[("created_at", "ascending"), ("id", "ascending")])
        return table.column("id").take(order).combine_chunks()


def _last_per_id(items: Sequence[Item]) -> list[Item]:
    return list({it.id: it for it in items}.values())
