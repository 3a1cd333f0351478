"""Celery app and tasks: embed, ingest a source, reindex, reconcile."""
