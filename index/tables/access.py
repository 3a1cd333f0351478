"""The API keys table and the state table (small key-value rows: the active model, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lancedb.pydantic import LanceModel

from index.schemas import ApiKey
from index.tables.base import Tables, rows_as, sql_str, upsert

if TYPE_CHECKING:
    from lancedb.table import Table


ACTIVE_MODEL = "active_model_id"
PREVIOUS_MODEL = "previous_model_id"  # what a rollback switches back to


class StateRow(LanceModel):
    key: str
    value: str


class KeyAndStateRows(Tables):
    keys: Table

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

    def switch_model(self, source: str, target: str) -> None:
        """Serve `target` and remember `source` for a rollback: the only way the active model
        changes once it is set (a reindex, a whitening, a rollback), both rows in one commit,
        so no reader sees the new model without the way back."""
        rows = [{"key": PREVIOUS_MODEL, "value": source}, {"key": ACTIVE_MODEL, "value": target}]
        upsert(self._state, "key", rows)
