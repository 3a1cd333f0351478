"""Celery app and tasks: embed, ingest a source, reindex, reconcile."""

# Job kinds whose closing is their own register a finisher with workers.jobs when their
# module is imported: imported here, so any process that touches a job knows them all.
import workers.reindex  # noqa: F401
