"""One thread per process for every forward pass, whoever asks for it.

On the CPU, torch runs a pass as hundreds of short OpenMP parallel regions. libgomp keeps a
team of threads for every thread that ever ran parallel work, for as long as that thread
lives; once its threads outnumber the cores, idle team members stop spinning between regions
and each region waits for them to wake. Measured with resnet50 at batch 1 on two cores: 58 ms
a pass while one thread ran passes, 87-93 ms from the moment a second thread had run one (a
server's query passes beside an upload's, or the gatherers of two models in a worker). So
the passes of every Embedder in the process, of every caller, run here, one after another;
on two cores they would only have taken turns for the cores anyway.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_local = threading.local()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _mark() -> None:
    _local.is_model_thread = True


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="model", initializer=_mark)
        return _pool


def _forget() -> None:
    """In a forked child: the parent's model thread did not come along."""
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget)


def on_model_thread(work: Callable[[], T]) -> T:
    """Run `work` on the process's model thread and wait for it (at once when already there)."""
    if getattr(_local, "is_model_thread", False):
        return work()
    return _executor().submit(work).result()
