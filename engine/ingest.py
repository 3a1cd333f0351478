"""Ingest in two steps, so that a worker can do the second one on its own.

1. `register`: read and hash the files (threads), keep the bytes in the blob store and write
   the items as queued, one LanceDB write per chunk. What the catalog already holds under
   the model is skipped. Nothing is decoded yet.
2. `embed_items`: for item ids, load the blobs, decode and transform them (threads; on a
   GPU one chunk ahead of the model), run the chunk through the model in batches, write
   its vectors in one LanceDB write and the items' statuses in another. A bad image fails
   alone.

`ingest` does both in this process; the workers run step 2 for the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedder import Embedder, EmbedderError, Prepared
from engine.engine import Engine
from engine.errors import EngineError, SourceNotFoundError
from engine.metrics import (
    BATCH_SIZE,
    IMAGES_EMBEDDED,
    IMAGES_FAILED,
    compact,
    observe_prepared,
    timed,
)
from engine.settings import EngineSettings
from engine.sources import is_url
from index import Item, ItemNotFoundError, ItemStatus, chunked, content_id

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mpo"}
)
Progress = Callable[[int], None]
# Items per LanceDB write and per decode-ahead step. The model still runs in batches of
# LOOKALIKE_BATCH_SIZE inside a chunk; a LanceDB commit costs tens of milliseconds, so
# writing per forward batch would cost more than the forward itself on small batches.
WRITE_CHUNK = 64
VectorSink = Callable[[Sequence[str], Any], None]


@dataclass
class Source:
    """One image to ingest: bytes from `path` or given; key and metadata are the client's."""

    uri: str
    path: Path | None = None
    data: bytes | None = None
    client_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    product: str | None = None

    def read(self, settings: EngineSettings) -> bytes:
        if self.data is not None:
            return self.data
        if self.url is not None:
            from engine.sources import fetch_url

            return fetch_url(self.url, settings)
        assert self.path is not None
        return self.path.read_bytes()


@dataclass
class Outcome:
    source: str
    item_id: str | None
    status: str  # "queued", "added", "skipped", "failed" or "deleted"
    error: str | None = None


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def added(self) -> int:
        return self._count("added")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def images_per_second(self) -> float:
        return len(self.outcomes) / self.seconds if self.seconds > 0 else 0.0


def find_images(paths: Iterable[str | Path]) -> list[Source]:
    """Expand files, folders (recursively) and URLs into sources; folders yield images only."""
    sources: list[Source] = []
    for raw in paths:
        if isinstance(raw, str) and is_url(raw):
            sources.append(Source(uri=raw, url=raw))
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
        elif path.is_file():
            files = [path]
        else:
            raise SourceNotFoundError(f"{path} does not exist.")
        sources.extend(Source(uri=str(p), path=p) for p in files)
    return sources


def from_manifest(path: Path, *, allow_outside: bool = False) -> list[Source]:
    """Sources from a CSV, JSONL or plain list file (see `engine.sources.read_manifest`)."""
    from engine.sources import read_manifest

    sources = []
    for ref, key, product, metadata in read_manifest(path, allow_outside=allow_outside):
        url = ref if is_url(ref) else None
        sources.append(
            Source(
                uri=ref,
                url=url,
                path=None if url else Path(ref),
                client_key=key,
                product=product,
                metadata=metadata,
            )
        )
    return sources


# ---- step 1: register -------------------------------------------------------------------
def _read(engine: Engine, src: Source) -> tuple[Source, bytes | None, str | None, str | None]:
    """(source, bytes, item id, error) for one source."""
    try:
        data = src.read(engine.settings)
    except OSError as exc:
        return src, None, None, f"The file could not be read ({exc.strerror or exc})."
    except EngineError as exc:  # a URL that could not be fetched
        return src, None, None, str(exc)
    cap = engine.settings.max_file_bytes
    if len(data) > cap:
        return (
            src,
            None,
            content_id(data),
            f"The file is {len(data):,} bytes, over the limit of {cap:,}.",
        )
    return src, data, content_id(data), None


def register(
    engine: Engine, sources: Sequence[Source], model_id: str, dim: int, pool: ThreadPoolExecutor
) -> list[Outcome]:
    """Store the bytes and queued item rows; outcomes are queued, skipped or failed."""
    outcomes: list[Outcome] = []
    for chunk in chunked(sources, 256):
        read = list(pool.map(lambda s: _read(engine, s), chunk))
        ids = [item_id for _, data, item_id, _ in read if data is not None and item_id]
        # Skipped: items whose row says embedded and whose vector is there. A vector without
        # its row (an item deleted while a worker embedded it) or a row still queued is
        # registered again, so an answer of "existed" always has an item behind it.
        known = engine.store.get_items([item_id for _, _, item_id, _ in read if item_id])
        with_vector = engine.store.embedded_ids(model_id, dim, ids)
        done = {
            i for i in with_vector if i in known and known[i].status == ItemStatus.embedded.value
        }
        rows: list[Item] = []
        seen: set[str] = set()
        for src, data, item_id, error in read:
            if error is not None or data is None or item_id is None:
                outcomes.append(Outcome(src.uri, item_id, "failed", error))
                if item_id is not None:
                    rows.append(_item(item_id, src, len(data or b""), ItemStatus.failed, error))
                continue
            if item_id in done or item_id in seen:
                outcomes.append(Outcome(src.uri, item_id, "skipped"))
                continue
            seen.add(item_id)
            engine.blobs.put(data)
            rows.append(_item(item_id, src, len(data), ItemStatus.queued, None))
            outcomes.append(Outcome(src.uri, item_id, "queued"))
        # An item seen before (it failed, or a crash left it queued) keeps its creation time.
        rows = [
            r.model_copy(update={"created_at": known[r.id].created_at}) if r.id in known else r
            for r in rows
        ]
        engine.store.register_items(rows)
    return outcomes


def _item(item_id: str, src: Source, size: int, status: ItemStatus, error: str | None) -> Item:
    return Item.new(
        item_id,
        client_key=src.client_key,
        product=src.product,
        source=src.uri,
        metadata=src.metadata,
        size_bytes=size,
        status=status.value,
        error=error,
    )


# ---- step 2: embed ----------------------------------------------------------------------
@dataclass
class _Loaded:
    item: Item
    prepared: Prepared | None = None
    error: str | None = None


class _Embedding:
    def __init__(self, engine: Engine, embedder: Embedder, pool: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.embedder = embedder
        self.pool = pool

    def _decode(self, item: Item) -> _Loaded:
        try:
            return _Loaded(item, prepared=self.embedder.prepare(self.engine.blobs.get(item.id)))
        except (EmbedderError, ItemNotFoundError) as exc:
            return _Loaded(item, error=str(exc))

    def load(self, ids: Sequence[str]) -> list[_Loaded]:
        items = self.engine.store.get_items(ids)
        return list(self.pool.map(self._decode, [items[i] for i in ids if i in items]))

    def write(self, loaded: list[_Loaded], sink: VectorSink) -> list[Outcome]:
        good = [x for x in loaded if x.prepared is not None]
        prepared = [x.prepared for x in loaded if x.prepared is not None]
        for p in prepared:
            observe_prepared(p)
        BATCH_SIZE.labels("ingest").observe(len(good))
        with timed("forward"):
            vectors = self.embedder.embed_tensors([p.tensor for p in prepared])
        results: list[dict[str, Any]] = []
        outcomes: list[Outcome] = []
        for x in loaded:
            ready = x.prepared
            result: dict[str, Any] = {
                "id": x.item.id,
                "status": (ItemStatus.embedded if ready else ItemStatus.failed).value,
                "error": x.error,
            }
            if ready is not None:
                result.update(width=ready.width, height=ready.height, format=ready.format)
            results.append(result)
            outcomes.append(
                Outcome(x.item.source, x.item.id, "added" if ready else "failed", x.error)
            )
        good_ids = [x.item.id for x in good]
        store = self.engine.store
        # Vectors first, then the worker's own columns of the rows: a crash in between leaves
        # vectors whose status a rerun sets (`mark_embedded`); a PATCH made meanwhile stays.
        with timed("store"):
            sink(good_ids, vectors)
            if store.set_results(results) < len(results) and good_ids:
                # some rows were deleted while we embedded them: so must be their vectors
                gone = set(good_ids) - store.existing_ids(good_ids)
                store.delete_embeddings(self.embedder.model_id, sorted(gone))
        for x in loaded:
            if x.prepared is None:  # bytes that are no image are not kept (the row says why)
                self.engine.blobs.delete(x.item.id)
        IMAGES_EMBEDDED.labels(self.embedder.model_id).inc(len(good))
        IMAGES_FAILED.inc(len(loaded) - len(good))
        return outcomes


def embed_items(
    engine: Engine,
    item_ids: Sequence[str],
    *,
    embedder: Embedder,
    sink: VectorSink,
    progress: Progress | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> list[Outcome]:
    """Embed stored items chunk by chunk (on a GPU, decoding the next one meanwhile); idempotent."""
    model_id = embedder.model_id
    done = engine.store.embedded_ids(model_id, embedder.dim, list(item_ids))
    outcomes = [Outcome("", i, "skipped") for i in item_ids if i in done]
    engine.store.mark_embedded(sorted(done))
    todo = [i for i in dict.fromkeys(item_ids) if i not in done]
    if progress and outcomes:
        progress(len(outcomes))
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(engine.settings.decode_threads)
    work = _Embedding(engine, embedder, pool)
    chunks = list(chunked(todo, max(embedder.batch_size, WRITE_CHUNK)))
    # On a GPU the next chunk is decoded while this one is on the device. On the CPU the
    # model already uses every core, and decoding beside it stalls its threads (measured:
    # 0.69 of the forward rate overlapped, against 0.8+ decoding between forward passes).
    overlap = embedder.device.type != "cpu"
    try:
        with ThreadPoolExecutor(1) as stager:
            pending: Future[list[_Loaded]] | None = None
            for n in range(len(chunks)):
                loaded = pending.result() if pending is not None else work.load(chunks[n])
                pending = None
                if overlap and n + 1 < len(chunks):
                    pending = stager.submit(work.load, chunks[n + 1])
                outcomes.extend(work.write(loaded, sink))
                if progress:
                    progress(len(chunks[n]))
    finally:
        if own_pool:
            pool.shutdown()
    # an item deleted before its turn has no row to load: it is accounted for, not lost
    answered = {o.item_id for o in outcomes}
    outcomes += [
        Outcome("", i, "deleted", "The item was deleted before it was embedded.")
        for i in todo
        if i not in answered
    ]
    return outcomes


def ingest(
    engine: Engine, sources: Sequence[Source], progress: Progress | None = None
) -> IngestReport:
    """Register and embed in this process, then save the index."""
    start = time.perf_counter()
    catalog = engine.catalog  # opens and checks the model's catalog up front
    with ThreadPoolExecutor(engine.settings.decode_threads) as pool:
        registered = register(engine, sources, catalog.model_id, catalog.dim, pool)
        early = [o for o in registered if o.status != "queued"]
        if progress and early:
            progress(len(early))
        queued = [o.item_id for o in registered if o.status == "queued" and o.item_id]
        embedded = embed_items(
            engine, queued, embedder=engine.embedder, sink=catalog.add, progress=progress, pool=pool
        )
    by_id = {o.item_id: o for o in embedded}
    report = IngestReport()
    for o in registered:
        if o.status == "queued":
            result = by_id[o.item_id]
            report.outcomes.append(Outcome(o.source, o.item_id, result.status, result.error))
        else:
            report.outcomes.append(o)
    if report.added:
        compact(engine.store)
        catalog.refresh()  # records the version that now covers our own writes
        catalog.save()
    report.seconds = time.perf_counter() - start
    return report
