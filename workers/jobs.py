"""Jobs: rows in LanceDB, written before their messages are sent; progress from batch rows.

A job is split into batches of item ids. Each batch row is written (queued) before its task
is sent, and a worker marks it done with its counts. The job's counts are the sum over its
batches, so a batch that runs twice is still counted once. A reconciler resends batches
that stayed queued too long (a lost message, a dead worker); the tasks are idempotent.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from index import (
    ACTIVE_MODEL,
    Batch,
    BatchState,
    Job,
    JobStatus,
    Store,
    sql_str,
    sql_time,
)

log = logging.getLogger(__name__)
Send = Callable[[Batch, dict[str, Any]], None]
FINAL = (JobStatus.done.value, JobStatus.failed.value, JobStatus.cancelled.value)
# How a job of a kind closes once its batches are all finished, when closing is more than
# "done" (a reindex switches the catalog): registered by the module that owns the kind, so
# this generic bookkeeping names no job kind (workers/__init__.py imports the owners).
Finisher = Callable[[Store, str, "Send | None"], Job]
FINISHERS: dict[str, Finisher] = {}


def register_finisher(kind: str) -> Callable[[Finisher], Finisher]:
    def decorate(finish: Finisher) -> Finisher:
        FINISHERS[kind] = finish
        return finish

    return decorate


def now() -> datetime:
    return datetime.now(UTC)


def plan_batches(job: Job, item_ids: Sequence[str], batch_size: int, first: int) -> list[Batch]:
    """The batch rows that would append these items to a job after its `first` batches
    (nothing written). `first` comes from the caller's own reading of the job's batches:
    two writers that planned from the same reading make the same keys, and only one of
    them can insert the first."""
    stamp = now()
    batches = [
        Batch(
            key=f"{job.id}:{first + n}",
            job_id=job.id,
            batch_no=first + n,
            item_ids=list(item_ids[start : start + batch_size]),
            sent_at=stamp,
            updated_at=stamp,
        )
        for n, start in enumerate(range(0, len(item_ids), batch_size))
    ]
    return batches


def send_all(batches: Sequence[Batch], send: Send, model: dict[str, Any]) -> None:
    for batch in batches:
        send(batch, model)


def create_job(
    store: Store,
    kind: str,
    item_ids: Sequence[str],
    model: dict[str, Any],
    batch_size: int,
    send: Send,
    *,
    skipped: int = 0,
    failed: int = 0,
    job_id: str | None = None,
    **params: Any,
) -> Job:
    """`skipped` and `failed` count what registration settled (duplicates, unreadable files).
    `job_id` fills in a job row announced before registration began.

    The order matters across processes: the job row (queued), then its batch rows, then the
    job turns running, then the messages go. A refresh elsewhere that saw a running job
    before its batch rows existed would close it as done with nothing counted; a message
    lost after the rows exist is found and resent."""
    total = len(item_ids) + skipped + failed
    job = Job.new(
        job_id or uuid.uuid4().hex,
        kind,
        total=total,
        model=model,
        registered_skipped=skipped,
        batch_size=batch_size,
        registered_failed=failed,
        **params,
    )
    job = job.model_copy(update={"skipped": skipped, "failed": failed})
    queued = [JobStatus.queued.value]
    if job_id is None:
        store.create_job(job)
    else:  # announced as queued; a cancel that came meanwhile wins, and nothing is sent
        values = {k: getattr(job, k) for k in ("total", "params_json", "skipped", "failed")}
        if not store.update_job(job.id, when=queued, **values):
            return store.get_job(job.id)
    batches = plan_batches(job, item_ids, batch_size, len(store.job_batches(job.id)))
    store.create_batches(batches)
    if not store.update_job(job.id, when=queued, status=JobStatus.running.value):
        return store.get_job(job.id)  # cancelled while its batches were written
    job = job.model_copy(update={"status": JobStatus.running.value})
    send_all(batches, send, model)
    return job if item_ids else refresh_job(store, job.id, send)


def job_model(job: Job) -> dict[str, Any]:
    return dict(json.loads(job.params_json).get("model", {}))


def batch_counts(job: Job, batches: Sequence[Batch]) -> dict[str, Any]:
    """The job's counts: what registration settled plus the sum over its batches."""
    params = json.loads(job.params_json)
    return {
        "done": sum(b.done for b in batches),
        "failed": params.get("registered_failed", 0) + sum(b.failed for b in batches),
        "skipped": params.get("registered_skipped", 0) + sum(b.skipped for b in batches),
        "updated_at": now(),
    }


def refresh_job(store: Store, job_id: str, send: Send | None = None) -> Job:
    """Sum the batch counts into the job row, and close it when every batch is finished.

    The write is conditional on the job still running: a cancel written by another process
    while this one summed is never undone. A job whose kind has a finisher is closed by it:
    a reindex may add batches (items that arrived while it ran) through `send` before it
    switches the catalog over.
    """
    job = store.get_job(job_id)
    if job.status in FINAL or job.status == JobStatus.queued.value:  # queued: still registering
        return job
    batches = store.job_batches(job_id)
    update = batch_counts(job, batches)
    finished = all(b.state != BatchState.queued.value for b in batches)
    if finished and job.kind in FINISHERS:
        return FINISHERS[job.kind](store, job_id, send)
    if finished:
        update["status"] = JobStatus.done.value
    refreshed = job.model_copy(update=update)
    changed = any(
        getattr(refreshed, k) != getattr(job, k) for k in ("done", "failed", "skipped", "status")
    )
    if not changed:
        return refreshed
    if not store.update_job(job_id, when=[JobStatus.running.value], **update):
        return store.get_job(job_id)  # another writer moved it first
    if finished and send is not None:  # only the writer that closed it, so only once
        follow_switch(store, refreshed, batches, send)
    return refreshed


def follow_switch(store: Store, job: Job, batches: Sequence[Batch], send: Send) -> Job | None:
    """A job that embedded with a model that is no longer the active one (the catalog was
    switched while its batches were in flight) leaves its items without the active model's
    vectors: they are embedded again, as a backfill job, under the active model."""
    from embedder import ModelSpec  # the model id says its dimension

    active = store.get_state(ACTIVE_MODEL)
    if active is None:
        return None
    wanted = store.get_state(f"model_settings:{active}")
    if wanted is None or json.loads(wanted) == job_model(job):
        return None
    ids = [i for b in batches for i in b.item_ids]
    have = store.embedded_ids(active, ModelSpec.parse(active).dim, ids)
    existing = store.existing_ids(ids)
    missing = [i for i in dict.fromkeys(ids) if i in existing and i not in have]
    if not missing:
        return None
    log.warning("job %s embedded %d items with a model switched away from", job.id, len(missing))
    params = json.loads(job.params_json)
    return create_job(
        store, "backfill", missing, json.loads(wanted), int(params.get("batch_size", 32)), send
    )


def cancel_job(store: Store, job_id: str) -> Job:
    """Cancel a job that has not ended; batches not yet started are skipped by the workers."""
    store.update_job(
        job_id,
        when=[JobStatus.queued.value, JobStatus.running.value],
        status=JobStatus.cancelled.value,
        updated_at=now(),
    )
    return store.get_job(job_id)


def resume_job(store: Store, job_id: str, send: Send) -> Job:
    """Send again every batch that is not done; what was done is skipped by the tasks."""
    resumed = store.update_job(
        job_id, when=[JobStatus.cancelled.value], status=JobStatus.running.value, updated_at=now()
    )
    job = store.get_job(job_id)
    if not resumed:
        return job
    stamp = now()
    store.update_batches(
        f"job_id = {sql_str(job_id)}",
        when=[BatchState.queued.value, BatchState.cancelled.value],
        state=BatchState.queued.value,
        sent_at=stamp,
    )
    model = job_model(job)
    for batch in store.job_batches(job_id, BatchState.queued.value):
        send(batch, model)
    return job


def reconcile(store: Store, stale_after_s: float, send: Send) -> int:
    """Resend queued batches silent for longer than `stale_after_s`; returns how many.

    A batch is resent only by whoever moves its `sent_at` while it is still queued and still
    stale: a batch that finished meanwhile, or that another reconciler (a second API, a
    waiting CLI) resent first, is left alone."""
    cutoff = now() - timedelta(seconds=stale_after_s)
    resent = 0
    for batch in store.stale_batches(cutoff):
        job = store.get_job(batch.job_id)
        if job.status != JobStatus.running.value:
            continue
        claimed = store.update_batches(
            f"key = {sql_str(batch.key)} AND sent_at < {sql_time(cutoff)}",
            when=[BatchState.queued.value],
            sent_at=now(),
        )
        if claimed:
            send(batch, job_model(job))
            resent += 1
    if resent:
        log.warning("reconciler resent %d batches", resent)
    return resent


def run_batch(
    store: Store,
    job_id: str,
    batch_no: int,
    item_ids: Sequence[str],
    embed: Callable[[Sequence[str]], list[Any]],
    send: Send | None = None,
) -> dict[str, int]:
    """Embed one batch of a job: what a worker task does, and what the API does inline.

    `embed` turns item ids into outcomes (`engine.ingest.embed_items`, or a gatherer that
    merges concurrent batches). Idempotent: a batch already done is skipped, and so is
    every item that has its vector.
    """
    batch = next((b for b in store.job_batches(job_id) if b.batch_no == batch_no), None)
    if batch is None or batch.state == BatchState.done.value:
        return {"skipped": len(item_ids)}  # an earlier delivery finished it
    job = store.get_job(job_id)
    if job.status == JobStatus.cancelled.value:
        store.update_batch(
            batch.key,
            when=[BatchState.queued.value],
            state=BatchState.cancelled.value,
            updated_at=now(),
        )
        return {"cancelled": len(item_ids)}
    outcomes = embed(item_ids)
    # An item that already has a vector got it from an earlier delivery of this very batch
    # (duplicates were settled at registration), so it counts as done.
    counts = {
        "done": sum(1 for o in outcomes if o.status in ("added", "skipped")),
        "failed": sum(1 for o in outcomes if o.status == "failed"),
        "skipped": sum(1 for o in outcomes if o.status == "deleted"),  # deleted meanwhile
    }
    # The work is done whatever the batch's state became meanwhile (cancelled, resent):
    # only a batch already counted as done is left as it is, so nothing counts twice.
    when = [BatchState.queued.value, BatchState.cancelled.value]
    store.update_batch(
        batch.key, when=when, state=BatchState.done.value, updated_at=now(), **counts
    )
    refresh_job(store, job_id, send)
    return counts
