"""The Celery app: thin, idempotent tasks that ack late and prefetch one.

This module is also the worker process's entry point (`celery -A workers.celery_app worker`):
it reads the settings once, here, and the tasks take them from the app it builds.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from index import Batch
from workers.observe import install, task_headers
from workers.settings import WorkerSettings

TASK_EMBED = "lookalike.embed_batch"
QUEUE = "lookalike"


def make_celery(settings: WorkerSettings) -> Celery:
    # the worker imports the tasks when it starts (Celery's `include`): this module does
    # not import them, so the tasks may import it without a cycle
    app = Celery(
        "lookalike",
        broker=settings.redis_url or "redis://localhost:6379/0",
        include=["workers.tasks"],
    )
    app.conf.update(
        task_acks_late=True,  # a task is acked when done, so a dead worker's task is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # the settings reach the task's attributes here, not in its decorator at import
        task_annotations={TASK_EMBED: {"max_retries": settings.max_retries}},
    )
    return app


def send_embed(celery: Celery, batch: Batch, model: dict[str, Any]) -> None:
    """Queue one batch for the workers: the only place a task message is made."""
    celery.send_task(
        TASK_EMBED,
        args=[batch.job_id, batch.batch_no, batch.item_ids, model],
        queue=QUEUE,
        headers=task_headers(),  # the request id follows the work into the worker's logs
    )


def broker_unreachable(celery: Celery) -> str | None:
    """Why the broker cannot be reached, or None when it answers (one try, no retries)."""
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # any failure to connect is the answer, whatever raised it
        return f"{exc.__class__.__name__}: {exc}"
    return None


# `celery -A workers.celery_app worker` finds this one, and imports workers.tasks into it.
SETTINGS = WorkerSettings()
app = make_celery(SETTINGS)
install(app, SETTINGS)
