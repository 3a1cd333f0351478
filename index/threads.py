"""OpenMP threads for FAISS in a process that also runs a network on its CPU.

Where torch is loaded, FAISS's OpenMP calls bind to torch's libgomp (loaded first, global),
so both share one runtime, and a FAISS call on any thread but the model's leaves an OpenMP
team behind that slows every later forward pass (why, and the figures: the docstring of
embedder/model_thread.py; a single search on another thread was enough).

The model's passes all run on one thread (embedder/model_thread.py). In such a process
(`share_cores_with_model`), FAISS's short calls (searches, adds, removals; a single query is
one thread's work in FAISS anyway) run on the calling thread alone, and bulk work
(`in_own_thread`: a build) runs on a thread that ends with it, taking its team along.
Elsewhere (a GPU model, a bench with no model) nothing changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_shared = False  # this process runs a network on its CPU
_bulk = threading.local()  # set on a thread that `in_own_thread` started


def share_cores_with_model() -> None:
    """Say that this process runs a network on its CPU (once; it stays so)."""
    global _shared
    _shared = True


@contextmanager
def faiss_call() -> Iterator[None]:
    """Around a short FAISS call: one OpenMP thread (the caller) when sharing cores."""
    if not _shared or getattr(_bulk, "on", False):
        yield
        return
    import faiss

    # The setting is this thread's: whatever the thread runs next gets its own back.
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def in_own_thread(work: Callable[[], T]) -> T:
    """Run bulk FAISS work with every core on a thread of its own, which ends with it."""
    if not _shared:
        return work()
    out: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        _bulk.on = True
        try:
            out.append(work())
        except BaseException as exc:  # handed to the caller, raised there
            failed.append(exc)

    thread = threading.Thread(target=run, name="faiss-bulk", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return out[0]
