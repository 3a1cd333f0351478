"""The LanceDB store, the FAISS index and its persistence, and search with filters.

A library: it never imports `embedder`, `api` or `workers`.
"""

from index.blobs import BlobStore, content_id
from index.calibration import Calibration, calibrate
from index.catalog import Catalog, Hit, check_manifest
from index.errors import (
    FilterError,
    IndexFileError,
    IndexStoreError,
    ItemNotFoundError,
    ModelMismatchError,
)
from index.filters import FILTER_SCHEMA, MetadataFilter
from index.persistence import Manifest, load_index, read_manifest, save_index
from index.schemas import (
    SCHEMA_VERSION,
    ApiKey,
    Batch,
    BatchState,
    Item,
    ItemStatus,
    Job,
    JobStatus,
)
from index.settings import IndexSettings
from index.storage import DataLocation, Objects
from index.store import Store, sql_str, sql_time
from index.tables.access import ACTIVE_MODEL, PREVIOUS_MODEL
from index.tables.base import chunked
from index.vectors import VectorIndex, as_matrix, label_of

__all__ = [
    "ACTIVE_MODEL",
    "FILTER_SCHEMA",
    "PREVIOUS_MODEL",
    "SCHEMA_VERSION",
    "ApiKey",
    "Batch",
    "BatchState",
    "BlobStore",
    "Calibration",
    "Catalog",
    "DataLocation",
    "FilterError",
    "Hit",
    "IndexFileError",
    "IndexSettings",
    "IndexStoreError",
    "Item",
    "ItemNotFoundError",
    "ItemStatus",
    "Job",
    "JobStatus",
    "Manifest",
    "MetadataFilter",
    "ModelMismatchError",
    "Objects",
    "Store",
    "VectorIndex",
    "as_matrix",
    "calibrate",
    "check_manifest",
    "chunked",
    "content_id",
    "label_of",
    "load_index",
    "read_manifest",
    "save_index",
    "sql_str",
    "sql_time",
]
