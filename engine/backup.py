"""Backups of a whole catalog, and restoring one into a new home.

A backup is a folder or an object-store prefix holding what the catalog's home holds that
cannot be made again: every LanceDB table (items, each model's embeddings, jobs and their
batches, state, API keys) copied at one version each, pinned together at the start, a
slice at a time; the image of every item in that copy; whitening projections; the cursor
key; each model's current FAISS index snapshot. `backup.json` is written last, so a backup
cut short is never restored.

The index snapshot was saved at some version of its embeddings table, and a restored table
counts its versions from 1 again, so the copy's manifest says it covers an unknown
version (-1): the restored catalog loads it, and checks every id against the tables once
(the rescan of index/catalog.py) instead of trusting it or training a new index.

A backup records the table schemas' version (`SCHEMA_VERSION`); one written by another
version is refused in one sentence rather than half-read.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from engine.errors import ConflictError, SourceNotFoundError
from index import (
    SCHEMA_VERSION,
    BlobStore,
    DataLocation,
    IndexSettings,
    ItemNotFoundError,
    Objects,
    Store,
)
from index.persistence import CURRENT, Manifest
from index.snapshots import MANIFEST as SNAPSHOT_MANIFEST
from index.snapshots import shared_current

FORMAT = 1
MANIFEST = "backup.json"
KEYS = ("cursor.key",)  # single objects of the home, copied when present
FOLDERS = ("projections",)  # folders of the home whose every object is copied
Progress = Callable[[str, int], None]  # (what, how many more) as the copy goes


@dataclass
class BackupReport:
    where: str
    schema_version: int
    created_at: str
    tables: dict[str, int] = field(default_factory=dict)  # rows per table
    versions: dict[str, int] = field(default_factory=dict)  # the version each was copied at
    images: int = 0
    objects: int = 0
    indexes: list[str] = field(default_factory=list)  # models whose index snapshot came
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def location_of(uri: str, settings: IndexSettings) -> DataLocation:
    """A backup's place: a folder or an object-store URI, with the catalog's credentials."""
    return DataLocation.from_settings(settings.model_copy(update={"data_uri": uri}))


def create_backup(
    store: Store, home: DataLocation, target: DataLocation, progress: Progress | None = None
) -> BackupReport:
    """Copy the catalog at `home` (its `store`) to `target`, which must hold no backup."""
    start = time.perf_counter()
    if target.objects.exists(MANIFEST) or target.objects.children("lancedb"):
        raise ConflictError(f"{target.uri} already holds a backup; choose a new place.")
    report = BackupReport(
        where=target.uri,
        schema_version=SCHEMA_VERSION,
        created_at=datetime.now(UTC).isoformat(),
        versions=store.table_versions(),  # pinned together, before anything is copied
    )
    copy = Store(target.lance, target.lance_options)
    report.tables, item_ids = _copy_tables(store, report.versions, copy, progress)
    report.images = _copy_images(home.objects, target.objects, item_ids, progress)
    report.objects = _copy_objects(home.objects, target.objects)
    report.indexes = _copy_indexes(home.objects, target.objects)
    report.seconds = round(time.perf_counter() - start, 3)
    target.objects.put(MANIFEST, report.to_json().encode())  # last: the backup is whole
    return report


def read_backup(source: DataLocation) -> BackupReport:
    """The manifest of the backup at `source`, checked: whole, and of this schema version."""
    if not source.objects.exists(MANIFEST):
        raise SourceNotFoundError(f"{source.uri} holds no backup (no {MANIFEST}).")
    try:
        raw = json.loads(source.objects.get(MANIFEST))
        version = raw["schema_version"]
    except (ValueError, TypeError, KeyError):
        raise SourceNotFoundError(f"The {MANIFEST} at {source.uri} is not a backup's.") from None
    if version != SCHEMA_VERSION:
        raise ConflictError(
            f"The backup at {source.uri} has schema version {version} and this "
            f"Lookalike reads version {SCHEMA_VERSION}; restore it with the version that "
            "wrote it."
        )
    known = {f.name for f in fields(BackupReport)}
    return BackupReport(**{k: v for k, v in raw.items() if k in known})


def restore_backup(
    source: DataLocation, target: DataLocation, progress: Progress | None = None
) -> BackupReport:
    """Copy the backup at `source` into `target`, a catalog home that holds nothing yet."""
    start = time.perf_counter()
    report = read_backup(source)
    into = Store(target.lance, target.lance_options)
    if into.holds_rows():
        raise ConflictError(f"{target.uri} already holds a catalog; restore into a new home.")
    backup = Store(source.lance, source.lance_options)
    report.tables, item_ids = _copy_tables(backup, backup.table_versions(), into, progress)
    report.images = _copy_images(source.objects, target.objects, item_ids, progress)
    report.objects = _copy_objects(source.objects, target.objects)
    report.indexes = _copy_indexes(source.objects, target.objects)
    report.where = target.uri
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def _copy_tables(
    source: Store, versions: dict[str, int], into: Store, progress: Progress | None
) -> tuple[dict[str, int], list[str]]:
    """Each table at its version into `into`, a slice at a time: the rows per table, and
    the ids of the items copied (whose images go next)."""
    rows: dict[str, int] = {}
    item_ids: list[str] = []
    for name, version in versions.items():
        slices = source.read_table(name, version)
        first = next(slices, None)
        schema = first.schema if first is not None else source.table_schema(name, version)
        parts = _noting(_chain(first, slices), name, progress)
        if name == "items":
            parts = _collecting_ids(parts, item_ids)
        rows[name] = into.write_table(name, schema, parts)
    return rows, item_ids


def _chain(first: pa.Table | None, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    if first is not None:
        yield first
        yield from rest


def _noting(parts: Iterator[pa.Table], name: str, progress: Progress | None) -> Iterator[pa.Table]:
    for part in parts:
        if progress:
            progress(name, part.num_rows)
        yield part


def _collecting_ids(parts: Iterator[pa.Table], into: list[str]) -> Iterator[pa.Table]:
    for part in parts:
        into.extend(part.column("id").to_pylist())
        yield part


def _copy_images(
    source: Objects, target: Objects, item_ids: list[str], progress: Progress | None
) -> int:
    """The image of every item copied; an item whose image is gone (deleted meanwhile)
    keeps its row, as the catalog it came from had it."""
    src, dst = BlobStore(source.sub("blobs")), BlobStore(target.sub("blobs"))
    copied = 0
    for item_id in item_ids:
        try:
            dst.put(src.get(item_id))
        except ItemNotFoundError:
            continue
        copied += 1
        if progress:
            progress("images", 1)
    return copied


def _copy_objects(source: Objects, target: Objects) -> int:
    copied = 0
    for key in KEYS:
        if source.exists(key):
            target.put(key, source.get(key))
            copied += 1
    for folder in FOLDERS:
        for name in source.children(folder):
            target.put(f"{folder}/{name}", source.get(f"{folder}/{name}"))
            copied += 1
    return copied


def _copy_indexes(source: Objects, target: Objects) -> list[str]:
    """Each model's current index snapshot, its manifest last and marked as covering an
    unknown table version, then named current; streamed through a file (an index can
    be gigabytes). Returns the models copied."""
    copied = []
    for model_id in source.children("indexes"):
        src, dst = source.sub(f"indexes/{model_id}"), target.sub(f"indexes/{model_id}")
        name = shared_current(src)
        if name is None:
            continue
        files = src.children(name)
        if SNAPSHOT_MANIFEST not in files:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            part = Path(tmp) / "part"
            for file in files:
                if file != SNAPSHOT_MANIFEST:
                    src.download(f"{name}/{file}", part)
                    dst.upload(part, f"{name}/{file}")
        manifest = Manifest.model_validate_json(src.get(f"{name}/{SNAPSHOT_MANIFEST}"))
        unknown = manifest.model_copy(update={"lance_version": -1})
        dst.put(f"{name}/{SNAPSHOT_MANIFEST}", unknown.model_dump_json().encode())
        dst.put(CURRENT, name.encode())
        copied.append(model_id)
    return copied
