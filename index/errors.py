"""The index package's errors: one base class, one subclass per thing a caller handles."""


class IndexStoreError(Exception):
    """Base class of every error raised by the index package."""

    code = "index_error"


class ItemNotFoundError(IndexStoreError):
    code = "not_found"


class FilterError(IndexStoreError):
    code = "bad_filter"


class ModelMismatchError(IndexStoreError):
    """An index or catalog built with another model than the one asked to serve it."""

    code = "model_mismatch"


class IndexFileError(IndexStoreError):
    """An index on disk that cannot be used as it is (corrupt, partial, stale manifest)."""

    code = "index_file"
