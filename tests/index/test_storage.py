"""The catalog's home as a local folder and as a prefix on a real S3 API (moto's server on
loopback): the objects, the blobs, the tables and the index snapshots every host shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.s3 import index_settings
from index import BlobStore, Catalog, DataLocation, IndexSettings, ItemNotFoundError, Store
from index.snapshots import publish, shared_current
from index.storage import Objects
from tests.index.helpers import ids, items, unit_vectors

DIM = 16
MODEL = "test.none.gem.16"


@pytest.fixture(params=["local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Objects:
    if request.param == "local":
        return DataLocation.local(tmp_path / "home").objects
    env = request.getfixturevalue("s3_env")
    return DataLocation.from_settings(index_settings(env, tmp_path / "cache")).objects


def test_objects_behave_the_same_on_a_folder_and_on_s3(objects: Objects, tmp_path: Path) -> None:
    objects.put("a/b/one", b"1")
    objects.put("a/b/one", b"2")  # a second put replaces
    assert objects.get("a/b/one") == b"2" and objects.exists("a/b/one")
    assert not objects.exists("a/b/two")
    with pytest.raises(FileNotFoundError):
        objects.get("a/b/two")
    assert objects.put_once("key", b"first") == b"first"
    assert objects.put_once("key", b"second") == b"first"  # the one that stayed
    big = tmp_path / "big.bin"
    big.write_bytes(np.random.default_rng(0).bytes(9 * 2**20))  # over one streamed chunk
    objects.upload(big, "a/big")
    objects.download("a/big", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    assert objects.children("a") == ["b", "big"]
    assert objects.sub("a").children("b") == ["one"]
    objects.delete("a/b/one")
    objects.delete("a/b/one")  # gone already: no error
    objects.delete_tree("a")
    assert objects.children("a") == [] and objects.children("nothing-here") == []


def test_blobs_on_s3_are_content_addressed(s3_env: dict[str, str], tmp_path: Path) -> None:
    blobs = BlobStore(DataLocation.from_settings(index_settings(s3_env, tmp_path)).objects.sub("b"))
    item = blobs.put(b"image bytes")
    assert blobs.put(b"image bytes") == item and blobs.get(item) == b"image bytes"
    blobs.delete(item)
    with pytest.raises(ItemNotFoundError, match="No image is stored"):
        blobs.get(item)


def _catalog(settings: IndexSettings) -> Catalog:
    location = DataLocation.from_settings(settings)
    store = Store(location.lance, location.lance_options)
    return Catalog(store, MODEL, DIM, settings, shared=location.shared_snapshots(MODEL))


def test_a_snapshot_saved_on_one_host_is_loaded_on_another(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    names = ids(60)
    first = _catalog(index_settings(s3_env, tmp_path / "host-a"))
    first.store.register_items(items(names))
    first.add(names[:50], unit_vectors(50, DIM))
    first.save()
    second = _catalog(index_settings(s3_env, tmp_path / "host-b"))  # an empty cache of its own
    assert second.loaded_from == "disk" and len(second.index) == 50
    first.add(names[50:], unit_vectors(10, DIM, seed=1))
    assert second.refresh() == 10  # caught up from the shared tables, not the snapshot
    query = unit_vectors(10, DIM, seed=1)[:1]
    assert second.search(query, 1)[0][0].item.id == names[50]


def test_the_store_decides_which_snapshot_is_current(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    settings = index_settings(s3_env, tmp_path / "host-a")
    catalog = _catalog(settings)
    catalog.add(ids(20), unit_vectors(20, DIM))
    folder = catalog.save()
    shared = DataLocation.from_settings(settings).shared_snapshots(MODEL)
    assert shared is not None and shared_current(shared) == folder.name
    # A half-published save (files up, CURRENT not yet switched) is never what loads.
    shared.upload(folder / "index.faiss", "v9999999999999999999/index.faiss")
    assert _catalog(index_settings(s3_env, tmp_path / "host-b")).loaded_from == "disk"
    # A slower saver never rolls the shared index back to an older snapshot.
    older = folder.with_name("v1")
    older.mkdir()
    for file in folder.iterdir():
        (older / file.name).write_bytes(file.read_bytes())
    assert not publish(shared, older) and shared_current(shared) == folder.name
    # Deleting a host's cache costs a download, not a rebuild; a cache that the store does
    # not vouch for (a snapshot it no longer has) is never loaded.
    shared.delete("CURRENT")
    assert _catalog(settings).loaded_from == "rebuild"
