"""Errors of the job queue."""


class QueueError(Exception):
    """Base class of every error raised by the workers package."""

    code = "queue_error"


class RegistrationBusyError(QueueError):
    """Every URL registration slot is taken: the caller should retry later."""

    code = "busy"
