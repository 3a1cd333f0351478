"""Ingest: files in, items and embeddings stored, the index updated.

Per chunk: read and hash (threads), skip what is already embedded, decode and transform
(threads), one forward pass, one LanceDB write for items and one for embeddings. The next
chunk is read and decoded while the current one is on the model. A bad file fails alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedder import EmbedderError, Prepared
from engine.engine import Engine
from engine.errors import SourceNotFoundError
from index import Item, ItemStatus, content_id

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mpo"}
)
Progress = Callable[[int], None]


@dataclass
class Source:
    """One image to ingest: bytes from `path` or given; key and metadata are the client's."""

    uri: str
    path: Path | None = None
    data: bytes | None = None
    client_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass
class Outcome:
    source: str
    item_id: str | None
    status: str  # "added", "skipped" or "failed"
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
    """Expand files and folders (recursively) into sources; folders yield image files only."""
    sources: list[Source] = []
    for raw in paths:
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


@dataclass
class _Loaded:
    source: Source
    item_id: str | None = None
    data: bytes | None = None
    prepared: Prepared | None = None
    error: str | None = None
    skipped: bool = False


class Ingestor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.catalog = engine.catalog  # opens (and checks) the model's catalog up front
        self.embedder = engine.embedder

    def _read(self, src: Source) -> _Loaded:
        try:
            data = src.read()
        except OSError as exc:
            return _Loaded(src, error=f"The file could not be read ({exc.strerror or exc}).")
        if len(data) > self.engine.settings.max_file_bytes:
            return _Loaded(
                src,
                item_id=content_id(data),
                error=f"The file is {len(data):,} bytes, over the limit of "
                f"{self.engine.settings.max_file_bytes:,}.",
            )
        return _Loaded(src, item_id=content_id(data), data=data)

    def _decode(self, loaded: _Loaded) -> _Loaded:
        try:
            assert loaded.data is not None
            loaded.prepared = self.embedder.prepare(loaded.data)
        except EmbedderError as exc:
            loaded.error = str(exc)
        return loaded

    def _load_chunk(self, pool: ThreadPoolExecutor, chunk: Sequence[Source]) -> list[_Loaded]:
        loaded = list(pool.map(self._read, chunk))
        ids = [x.item_id for x in loaded if x.item_id and not x.error]
        done = self.engine.store.embedded_ids(self.catalog.model_id, self.catalog.dim, ids)
        seen: set[str] = set()
        todo: list[_Loaded] = []
        for x in loaded:
            if x.error or x.item_id is None:
                continue
            if x.item_id in done or x.item_id in seen:
                x.skipped = True
            else:
                seen.add(x.item_id)
                todo.append(x)
        list(pool.map(self._decode, todo))
        return loaded

    def _write_chunk(self, loaded: list[_Loaded], report: IngestReport) -> None:
        good = [x for x in loaded if x.prepared is not None and not x.skipped]
        vectors = self.embedder.embed_tensors([x.prepared.tensor for x in good])  # type: ignore[union-attr]
        rows: list[Item] = []
        for x in loaded:
            if x.skipped:
                report.outcomes.append(Outcome(x.source.uri, x.item_id, "skipped"))
                continue
            if x.item_id is None:  # unreadable file: no bytes, no id, nothing to store
                report.outcomes.append(Outcome(x.source.uri, None, "failed", x.error))
                continue
            ok = x.prepared is not None
            if ok:
                self.engine.blobs.put(x.data)  # type: ignore[arg-type]
            rows.append(
                Item.new(
                    x.item_id,
                    client_key=x.source.client_key,
                    source=x.source.uri,
                    metadata=x.source.metadata,
                    width=x.prepared.width if ok else None,  # type: ignore[union-attr]
                    height=x.prepared.height if ok else None,  # type: ignore[union-attr]
                    format=x.prepared.format if ok else None,  # type: ignore[union-attr]
                    size_bytes=len(x.data or b""),
                    status=(ItemStatus.embedded if ok else ItemStatus.failed).value,
                    error=x.error,
                )
            )
            report.outcomes.append(
                Outcome(x.source.uri, x.item_id, "added" if ok else "failed", x.error)
            )
        # Items first, then vectors: a crash in between leaves items whose vectors a re-run adds.
        self.engine.store.upsert_items(rows)
        self.catalog.add([x.item_id for x in good], vectors)  # type: ignore[misc]

    def run(self, sources: Sequence[Source], progress: Progress | None = None) -> IngestReport:
        report = IngestReport()
        start = time.perf_counter()
        size = max(self.embedder.settings.batch_size, 8)
        chunks = [sources[i : i + size] for i in range(0, len(sources), size)]
        threads = self.engine.settings.decode_threads
        with ThreadPoolExecutor(threads) as pool, ThreadPoolExecutor(1) as stager:
            pending: Future[list[_Loaded]] | None = None
            if chunks:
                pending = stager.submit(self._load_chunk, pool, chunks[0])
            for n in range(len(chunks)):
                assert pending is not None
                loaded = pending.result()
                if n + 1 < len(chunks):  # decode the next chunk while this one is embedded
                    pending = stager.submit(self._load_chunk, pool, chunks[n + 1])
                self._write_chunk(loaded, report)
                if progress:
                    progress(len(loaded))
        if report.added:
            self.engine.store.compact()
            self.catalog.save()
        report.seconds = time.perf_counter() - start
        return report


def ingest(
    engine: Engine, sources: Sequence[Source], progress: Progress | None = None
) -> IngestReport:
    return Ingestor(engine).run(sources, progress)
