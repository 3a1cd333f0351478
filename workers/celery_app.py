"""The Celery app: thin, idempotent tasks that ack late and prefetch one."""

from __future__ import annotations

from celery import Celery

from workers.observe import install
from workers.settings import WorkerSettings

TASK_EMBED = "lookalike.embed_batch"
QUEUE = "lookalike"


def make_celery(settings: WorkerSettings | None = None) -> Celery:
    settings = settings or WorkerSettings()
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
    )
    return app


# `celery -A workers.celery_app worker` finds this one, and imports workers.tasks into it.
app = make_celery()
install(app, WorkerSettings())
