"""Errors of the pipeline itself (bad paths, bad arguments), apart from embedder and index."""


class EngineError(Exception):
    """Base class of every error raised by the engine package."""

    code = "bad_request"


class SourceNotFoundError(EngineError):
    code = "source_not_found"


class NotIndexedError(EngineError):
    """The catalog holds no embeddings yet, so there is nothing to search."""

    code = "empty_catalog"


class OutsideFolderError(EngineError):
    """A manifest names a file outside its own folder, and that was not allowed."""

    code = "outside_manifest_folder"


class ConflictError(EngineError):
    """The request conflicts with what is going on (a reindex running, nothing to roll back)."""

    code = "conflict"
