"""Ingest and search end to end on real LanceDB and FAISS, with synthetic known answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine import Engine, Source, find_images, ingest, search_image, search_item, search_path_or_id
from engine.errors import SourceNotFoundError
from index import ItemStatus, MetadataFilter, ModelMismatchError, content_id
from tests.images import encode, jpeg, scene


def write_catalog(folder: Path, n: int = 12) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"scene{i:02d}.jpg"
        p.write_bytes(jpeg(i))
        paths.append(p)
    return paths


def test_exact_and_resized_copies_rank_first(engine: Engine, tmp_path: Path) -> None:
    paths = write_catalog(tmp_path / "catalog")
    report = ingest(engine, find_images([tmp_path / "catalog"]))
    assert report.added == 12 and not report.failed
    for i in (0, 5, 11):
        exact = search_image(engine, paths[i].read_bytes(), 3, exclude_self=False)
        assert exact[0].item.source == str(paths[i]) and exact[0].score > 0.999
        resized = encode(scene(i).resize((320, 256)), "PNG")
        hits = search_image(engine, resized, 3)
        assert hits[0].item.source == str(paths[i])


def test_bad_files_fail_alone_with_reasons(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    good = write_catalog(folder, 4)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_bytes(b"just some text, not a picture")
    full = jpeg(99, (400, 300))
    (folder / "cut.jpg").write_bytes(full[: len(full) // 3])
    (folder / "icon.gif").write_bytes(encode(Image.new("RGB", (16, 16)), "ICO"))
    report = ingest(engine, find_images([folder]))
    assert report.added == 4
    reasons = {Path(o.source).name: o.error for o in report.failed}
    assert set(reasons) == {"empty.jpg", "notes.png", "cut.jpg", "icon.gif"}
    assert "empty" in reasons["empty.jpg"]
    assert "text" in reasons["notes.png"]
    assert "truncated" in reasons["cut.jpg"] or "corrupt" in reasons["cut.jpg"]
    assert "ICO" in reasons["icon.gif"]
    # failures are stored with their reason, and the good ones are searchable
    assert engine.store.status_counts() == {"embedded": 4, "failed": 4}
    failed = {Path(i.source).name: i for i in engine.store.failed_items()}
    assert failed["notes.png"].status == ItemStatus.failed and "text" in (
        failed["notes.png"].error or ""
    )
    assert search_image(engine, good[2].read_bytes(), 1, exclude_self=False)[0].item.source == str(
        good[2]
    )


def test_reingest_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    write_catalog(tmp_path / "catalog", 6)
    (tmp_path / "catalog" / "copy.jpg").write_bytes(jpeg(0))  # same bytes as scene00
    first = ingest(engine, find_images([tmp_path / "catalog"]))
    assert (first.added, first.skipped) == (6, 1)
    version = engine.store.embeddings_version(engine.catalog.model_id, engine.catalog.dim)
    second = ingest(engine, find_images([tmp_path / "catalog"]))
    assert (second.added, second.skipped, len(second.failed)) == (0, 7, 0)
    assert engine.store.embeddings_version(engine.catalog.model_id, engine.catalog.dim) == version
    assert engine.store.status_counts() == {"embedded": 6}
    assert len(engine.catalog.index) == 6


def test_search_by_item_id_uses_the_stored_vector(engine: Engine, tmp_path: Path) -> None:
    paths = write_catalog(tmp_path / "catalog", 5)
    ingest(engine, find_images(paths))
    item_id = content_id(paths[2].read_bytes())
    hits = search_item(engine, item_id, 4)
    assert len(hits) == 4 and item_id not in [h.item.id for h in hits]
    assert search_item(engine, item_id, 1, exclude_self=False)[0].item.id == item_id
    assert search_path_or_id(engine, item_id, 2)[0].item.id == hits[0].item.id


def test_metadata_filters_through_the_engine(engine: Engine) -> None:
    sources = [
        Source(
            uri=f"mem:{i}",
            data=jpeg(i),
            client_key=f"sku-{i}",
            metadata={"colour": "red" if i % 2 else "blue", "price": i},
        )
        for i in range(10)
    ]
    ingest(engine, sources)
    hits = search_image(engine, jpeg(0), 3, where=MetadataFilter.parse({"colour": "red"}))
    assert len(hits) == 3 and all(h.item.metadata["colour"] == "red" for h in hits)
    assert engine.store.find_by_client_key("sku-3")[0].metadata["price"] == 3


def test_missing_path_and_wrong_query(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        find_images([tmp_path / "nowhere"])
    with pytest.raises(SourceNotFoundError, match="neither an image file nor an item id"):
        search_path_or_id(engine, "not-a-thing")


def test_catalog_refuses_another_model(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, [Source(uri="a", data=jpeg(1))])
    from embedder import Embedder, EmbedderSettings

    other = Embedder.load(EmbedderSettings(model="resnet18", weights="none", pooling="avg"))
    second = Engine(engine.embedder_settings, engine.index_settings, embedder=other)
    with pytest.raises(ModelMismatchError, match=r"indexed with resnet18\.none\.gem\.512"):
        search_image(second, jpeg(1))


def test_index_survives_a_restart(engine: Engine, tmp_path: Path) -> None:
    paths = write_catalog(tmp_path / "catalog", 5)
    ingest(engine, find_images(paths))
    again = Engine(engine.embedder_settings, engine.index_settings, embedder=engine.embedder)
    assert again.catalog.loaded_from == "disk" and len(again.catalog.index) == 5


def test_a_vector_written_after_its_item_was_deleted_never_surfaces(engine: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from engine.ingest import embed_items, register

    catalog = engine.catalog
    with ThreadPoolExecutor(2) as pool:
        outcomes = register(
            engine,
            [Source(uri=f"m{i}", data=jpeg(i)) for i in range(4)],
            catalog.model_id,
            catalog.dim,
            pool,
        )
    ids = [o.item_id for o in outcomes]
    deleted: list[str] = []

    def sink(item_ids, vectors):  # type: ignore[no-untyped-def]
        catalog.delete([ids[0]])  # a DELETE lands while the batch is on the model
        deleted.append(ids[0])
        catalog.add(item_ids, vectors)

    embed_items(engine, ids, embedder=engine.embedder, sink=sink)
    assert deleted and ids[0] not in engine.store.existing_ids(ids)
    hits = search_image(engine, jpeg(0), 4, exclude_self=False)
    assert ids[0] not in [h.item.id for h in hits] and len(hits) == 3
