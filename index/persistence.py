"""Saving and loading a FAISS index with its manifest and id map, atomically.

Each save writes a fresh folder (index.faiss, ids.npy, manifest.json), fsyncs it, renames it
into place and then swaps a CURRENT pointer file by rename. A reader follows CURRENT, so it
never sees a half-written index, even after a crash in the middle of a save.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from index.errors import IndexFileError
from index.plan import IndexPlan
from index.refine import RefineStore
from index.storage import fsync_dir
from index.vectors import VectorIndex, labels_of

CURRENT = "CURRENT"
KEEP_SAVED = 1  # the current one: a refine file of a million 2048-d rows is 4 GB
# What another host left cannot be checked for life; it is removed only when this old.
FOREIGN_AFTER_S = 24 * 3600
LEGACY_AFTER_S = 3600  # names without an owner (written before owners were named)


def _owner() -> str:
    return f"{socket.gethostname()}~{os.getpid()}"


def build_file(root: Path) -> Path:
    """A refine file for a build in this process: named by its owner, so that a save in
    another process can tell whether its writer still lives."""
    return root / f".build-{_owner()}-{time.time_ns()}.f16"


def _alive(owner: str) -> bool | None:
    """Whether the owner (host~pid) still runs; None when that cannot be told here."""
    host, _, pid = owner.rpartition("~")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Manifest(BaseModel):
    model_id: str
    dim: int
    metric: str = "inner_product"
    index_type: str = "flat"
    lance_version: int = Field(description="Version of the embeddings table the index covers.")
    count: int
    plan: IndexPlan | None = Field(None, description="How it was built (None: exact, flat).")
    faiss_version: str = ""
    saved_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def fresh_folder(root: Path, name: str) -> Path:
    """An empty folder to write a snapshot `name` into, named by its owner, so that a crash
    leaves something `_remove_stale` can tell from another process's work in progress."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}-{_owner()}.tmp"
    tmp.mkdir()
    return tmp


def seal(tmp: Path, final: Path) -> None:
    """Make a written snapshot folder durable and move it into place under its name."""
    for f in tmp.iterdir():
        _fsync_file(f)
    fsync_dir(tmp)
    os.replace(tmp, final)


def point_to(root: Path, name: str) -> None:
    """Swap the CURRENT pointer to the snapshot `name`, by rename: a reader follows the old
    pointer or the new one."""
    pointer = root / f".{CURRENT}-{_owner()}.tmp"
    pointer.write_text(name)
    _fsync_file(pointer)
    os.replace(pointer, root / CURRENT)
    fsync_dir(root)


def save_index(root: Path, index: VectorIndex, manifest: Manifest) -> Path:
    import faiss

    name = f"v{time.time_ns()}"
    tmp = fresh_folder(root, name)
    faiss.write_index(index.to_cpu(), str(tmp / "index.faiss"))
    # ASCII hex ids as bytes, sorted by label: a load uses the arrays as they are (IdMap)
    labels, ids = index.id_arrays()
    tombstones = np.array(index.saved_tombstones(), np.int64)
    np.save(tmp / "ids.npy", ids)
    np.save(tmp / "labels.npy", labels)
    np.save(tmp / "tombstones.npy", tombstones)
    if index.plan.refine:
        index.refine.save(tmp, np.concatenate([labels, tombstones]))
    manifest = manifest.model_copy(update={"faiss_version": faiss.__version__})
    (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    final = root / name
    seal(tmp, final)
    point_to(root, name)
    if index.plan.refine:
        built = index.refine.path
        index.refine.reopen(final)  # rows added since the last save are in the new file now
        if built is not None and built.name.startswith(".build-"):
            built.unlink(missing_ok=True)  # the saved folder holds its link now
    _remove_stale(root, keep=name)
    return final


def _remove_stale(root: Path, keep: str) -> None:
    """Older index folders, and what builds and saves left behind when their process died.

    Several processes save into one folder (`serve`, a CLI `ingest`, a reindex): a file or
    folder in progress is named by its owner (host~pid) and removed only once that process
    is gone; age says nothing, as training a large index writes nothing for minutes."""
    saved = sorted((e for e in root.iterdir() if e.is_dir() and e.name.startswith("v")),
                   key=lambda e: e.name)  # fmt: skip
    for entry in saved[:-KEEP_SAVED]:
        if entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)
    for entry in root.iterdir():
        if not entry.name.startswith("."):
            continue
        owner = _owner_of(entry.name)
        if owner is None:
            continue
        if owner == "":
            too_old = LEGACY_AFTER_S
        else:
            alive = _alive(owner)
            if alive:
                continue
            too_old = 0 if alive is False else FOREIGN_AFTER_S
        with contextlib.suppress(OSError):
            if time.time() - entry.stat().st_mtime >= too_old:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()


def _owner_of(name: str) -> str | None:
    """host~pid of a build file or save folder; "" for an unnamed (older) one; None for
    anything else."""
    if name.startswith(".build-"):
        body = name.removeprefix(".build-")
    elif name.endswith(".tmp") and name.startswith((".v", f".{CURRENT}")):
        body = name.removesuffix(".tmp")
    else:
        return None
    if "~" not in body:
        return ""
    head, _, tail = body.rpartition("~")
    pid = tail.split("-", 1)[0].split(".", 1)[0]
    host = head.split("-", 1)[1] if head.startswith((".v", f".{CURRENT}")) else head
    return f"{host}~{pid}"


def read_manifest(root: Path) -> Manifest | None:
    pointer = root / CURRENT
    if not pointer.is_file():
        return None
    try:
        return Manifest.model_validate_json(
            (root / pointer.read_text().strip() / "manifest.json").read_text()
        )
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"The index manifest in {root} is unreadable ({exc}).") from exc


def load_index(root: Path, *, use_gpu: bool) -> tuple[VectorIndex, Manifest]:
    """Load the current index; raises IndexFileError when it is missing or inconsistent."""
    import faiss

    manifest = read_manifest(root)
    if manifest is None:
        raise IndexFileError(f"No index has been saved in {root}.")
    folder = root / (root / CURRENT).read_text().strip()
    try:
        cpu = faiss.read_index(str(folder / "index.faiss"))
        ids = np.load(folder / "ids.npy")
        labels = np.load(folder / "labels.npy") if (folder / "labels.npy").exists() else None
        tomb = folder / "tombstones.npy"
        tombstones = np.load(tomb).tolist() if tomb.exists() else []
        plan = manifest.plan or IndexPlan()
        refine = RefineStore.open(folder, manifest.dim) if plan.refine else None
    except (OSError, RuntimeError, ValueError) as exc:
        raise IndexFileError(f"The index in {folder} is unreadable ({exc}).") from exc
    if labels is None:  # saved before labels were
        labels = labels_of([i.decode() for i in ids.tolist()])
    held = cpu.ntotal - len(tombstones)
    if (
        held != manifest.count
        or len(ids) != manifest.count
        or len(labels) != len(ids)
        or (cpu.d != manifest.dim)
    ):
        raise IndexFileError(
            f"The index in {folder} holds {held} vectors and {len(ids)} ids but its "
            f"manifest says {manifest.count}."
        )
    index = VectorIndex(
        manifest.dim,
        use_gpu=use_gpu,
        plan=plan,
        index=cpu,
        ids=ids,
        labels=labels,
        refine=refine,
        tombstones=tombstones,
    )
    return index, manifest
