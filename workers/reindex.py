"""Blue/green reindex: embed the whole catalog under a new model id while the old one serves.

The new vectors go to the new model's own table. When every item the old model serves has
a new vector (items that arrived meanwhile are added in further rounds), the active model
id is switched in one state write; the API notices and swaps model and index together, so
no query ever sees a mixed index. A rollback switches back the same way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from embedder import Embedder, EmbedderSettings, ModelSpec
from engine import Engine
from engine.engine import model_of, remember_model
from engine.errors import ConflictError
from index import ACTIVE_MODEL, PREVIOUS_MODEL, Batch, BatchState, Job, JobStatus, Store
from workers.jobs import (
    FINAL,
    Send,
    batch_counts,
    now,
    plan_batches,
    register_finisher,
    send_all,
)
from workers.queue import JobQueue

log = logging.getLogger(__name__)
MAX_ROUNDS = 5  # rounds of catching up with items that arrived during the reindex
# The last batch's thread and a poller (`queue.wait`, GET /v1/jobs) may both see a reindex
# finished at once; in one process they take turns here, and across processes the
# "already switched" check below makes a second finisher agree with the first.
_finishing = threading.Lock()


def _dim(model_id: str) -> int:
    return ModelSpec.parse(model_id).dim


def missing_ids(store: Store, source: str, target: str) -> list[str]:
    """Items the source model serves that the target model has no vector for yet."""
    have = store.embedded_ids(source, _dim(source))
    done = store.embedded_ids(target, _dim(target))
    return sorted(have - done)


def start_reindex(queue: JobQueue, target: EmbedderSettings) -> Job:
    """Queue the embedding of the whole catalog with `target`; the old model keeps serving."""
    engine: Engine = queue.engine
    source = engine.active_model_id
    if source is None:
        raise ConflictError("The catalog is empty: there is nothing to reindex.")
    running = [
        j
        for j in engine.store.list_jobs(200)
        if j.kind == "reindex" and j.status in (JobStatus.queued.value, JobStatus.running.value)
    ]
    if running:  # two at once would race to switch the catalog, each to its own model
        raise ConflictError(
            f"Reindex job {running[0].id} is still running; wait for it or cancel it first."
        )
    target_id = Embedder.load(target).model_id  # resolves the weights now: a clear error early
    if target_id == source:
        raise ConflictError(f"The catalog is already served by {source}.")
    remember_model(engine.store, target_id, target)
    todo = missing_ids(engine.store, source, target_id)
    log.info("reindex %s -> %s: %d items", source, target_id, len(todo))
    return queue.submit(
        "reindex",
        todo,
        model_of(target),
        source_model_id=source,
        target_model_id=target_id,
        rounds=1,
    )


@register_finisher("reindex")
def finish_reindex(store: Store, job_id: str, send: Send | None) -> Job:
    """Called when every batch of a reindex job is finished: catch up, verify, switch.

    The job and its batches are read again here, under the lock: another finisher may have
    closed the job or added a catch-up round while this one waited.
    """
    with _finishing:
        job = store.get_job(job_id)
        if job.status in FINAL:
            return job
        batches = store.job_batches(job_id)
        counts = batch_counts(job, batches)
        job = job.model_copy(update=counts)
        if any(b.state == BatchState.queued.value for b in batches):
            _save(store, job, **counts)
            return job
        return _finish(store, job, batches, send)


def _finish(store: Store, job: Job, batches: Sequence[Batch], send: Send | None) -> Job:
    """`batches`: the job's batches as read with `job`, all finished; a new round is
    numbered and counted from them (see below)."""
    params = json.loads(job.params_json)
    source, target = params["source_model_id"], params["target_model_id"]
    active = store.get_state(ACTIVE_MODEL)
    if active == target and store.get_state(PREVIOUS_MODEL) == source:
        return _close(store, job, JobStatus.done, None)  # a finisher elsewhere switched
    if active != source:
        return _close(store, job, JobStatus.failed, f"The active model is no longer {source}.")
    missing = missing_ids(store, source, target)
    failed_items = {i.id for i in store.failed_items()}
    missing = [i for i in missing if i not in failed_items]
    if missing and params.get("rounds", 1) < MAX_ROUNDS and send is not None:
        params["rounds"] = params.get("rounds", 1) + 1
        # the total from the batches read, so a round planned on them counts exactly them
        registered = params.get("registered_skipped", 0) + params.get("registered_failed", 0)
        total = registered + sum(len(b.item_ids) for b in batches) + len(missing)
        update = {"total": total, "params_json": json.dumps(params)}
        job = job.model_copy(update=update)
        # A finisher in another process may be here too, with its own list: the one that
        # inserts the round's first batch row owns the round (the row's key is the job and
        # the batch number), the other backs off. The number is the one after the batches
        # this finisher read with the job, not a fresh count: counted afresh, a finisher
        # that read the job before another's round was written numbered its own round
        # after that one and sent the same items again (the stress test counted 18 items
        # twice). Rows before the job's new total: a poller sees queued batches (and
        # waits), never a finished job missing items.
        size = int(params.get("batch_size", 128))
        round_ = plan_batches(job, missing, size, len(batches))
        if not store.claim_batch(round_[0]):
            return store.get_job(job.id)
        store.create_batches(round_[1:])
        if not _save(store, job, **update):
            return store.get_job(job.id)  # cancelled meanwhile: no new round
        send_all(round_, send, params["model"])
        return job
    if missing:
        if send is None:  # the caller cannot send; whoever polls next with a sender will
            _save(store, job, done=job.done, failed=job.failed, skipped=job.skipped)
            return job
        return _close(
            store,
            job,
            JobStatus.failed,
            f"{len(missing)} items still have no {target} vector; not switched.",
        )
    if store.get_job(job.id).status != JobStatus.running.value:
        return store.get_job(job.id)  # cancelled while we checked: no switch
    store.switch_model(source, target)  # the switch: one commit
    log.warning("switched the catalog from %s to %s", source, target)
    return _close(store, job, JobStatus.done, None)


def _save(store: Store, job: Job, **values: Any) -> bool:
    """Write the given columns while the job is still running (a cancel elsewhere wins)."""
    return store.update_job(job.id, when=[JobStatus.running.value], updated_at=now(), **values)


def _close(store: Store, job: Job, status: JobStatus, error: str | None) -> Job:
    closed = {
        "status": status.value,
        "error": error,
        "done": job.done,
        "failed": job.failed,
        "skipped": job.skipped,
    }
    if not _save(store, job, **closed):
        return store.get_job(job.id)
    return job.model_copy(update={**closed, "updated_at": now()})


def rollback(queue: JobQueue) -> dict[str, Any]:
    """Switch back to the previous model; items it lacks vectors for are embedded in a job."""
    store = queue.engine.store
    active, previous = store.get_state(ACTIVE_MODEL), store.get_state(PREVIOUS_MODEL)
    if previous is None or active is None:
        raise ConflictError("There is no previous model to roll back to.")
    store.switch_model(active, previous)
    log.warning("rolled the catalog back from %s to %s", active, previous)
    job = backfill(queue, active, previous)
    return {"active": previous, "previous": active, "backfill_job": job.id if job else None}


def backfill(queue: JobQueue, source: str, target: str) -> Job | None:
    """Embed under `target` what `source` has and `target` lacks: after a rollback, and
    after a switch, for what was uploaded while the API still embedded with the old model
    (between the finisher's last check and the API seeing the switch)."""
    store = queue.engine.store
    for job in store.list_jobs(50):  # a rollback's backfill, seen again by the API's switch
        running = job.status in (JobStatus.queued.value, JobStatus.running.value)
        if running and job.kind == "backfill" and _params(job).get("target_model_id") == target:
            return None
    gap = missing_ids(store, source, target)
    if not gap:
        return None
    raw = store.get_state(f"model_settings:{target}")
    model = json.loads(raw) if raw else {}
    log.warning("backfilling %d items under %s", len(gap), target)
    return queue.submit("backfill", gap, model, target_model_id=target)


def _params(job: Job) -> dict[str, Any]:
    return dict(json.loads(job.params_json))


def status(store: Store) -> dict[str, Any]:
    reindexes = [j for j in store.list_jobs(200) if j.kind == "reindex"]
    return {
        "active": store.get_state(ACTIVE_MODEL),
        "previous": store.get_state(PREVIOUS_MODEL),
        "latest_job": reindexes[0].id if reindexes else None,
    }
