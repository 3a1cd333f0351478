"""The jobs table and the batches of each job: rows written whole once, then only the
columns a step owns, each under a condition on the state it expects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from index.errors import ItemNotFoundError
from index.schemas import Batch, BatchState, Job
from index.tables.base import Tables, keyed_rows, rows_as, sql_in, sql_str, sql_time, upsert

if TYPE_CHECKING:
    from lancedb.table import Table


class JobRows(Tables):
    jobs: Table
    batches: Table

    def create_job(self, job: Job) -> None:
        """A new job row, written whole once; every later change goes through `update_job`."""
        upsert(self.jobs, "id", [job.model_dump()])

    def update_job(self, job_id: str, when: Sequence[str] | None = None, **values: Any) -> bool:
        """Write some columns of a job, only while its status is one of `when` (any status
        when None); False when the job was not in such a state (another writer moved it)."""
        where = f"id = {sql_str(job_id)}"
        if when is not None:
            where += " AND " + sql_in("status", when)
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

    def create_batches(self, batches: Sequence[Batch]) -> None:
        if batches:
            upsert(self.batches, "key", [b.model_dump() for b in batches])

    def claim_batch(self, batch: Batch) -> bool:
        """Insert a batch row unless its key exists: True for the one writer that made it
        (several processes may try to add the same round to a job)."""
        merge = self.batches.merge_insert("key").when_not_matched_insert_all()
        inserted = merge.execute(keyed_rows(self.batches, "key", [batch.model_dump()]))
        return int(inserted.num_inserted_rows) == 1

    def update_batches(self, where: str, when: Sequence[str] | None = None, **values: Any) -> int:
        """Write some columns of the batches matching `where` whose state is one of `when`;
        returns how many changed."""
        if when is not None:
            where = f"({where}) AND " + sql_in("state", when)
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
