"""Flat combining: calls that arrive together from many threads share one batched call.

A query server's searches come in bursts: a micro-batch of images leaves the forward pass
together, and each request then searches the index. One FAISS call for eight queries costs
about what two single ones do (the scan over the vectors is shared). The combiner adds no wait:
a caller that finds nobody running runs at once, alone; callers that arrive while a batched
call runs queue up, and the next of them to run takes all that queued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

Req = TypeVar("Req")
Res = TypeVar("Res")


class _Slot(Generic[Req, Res]):
    __slots__ = ("done", "error", "request", "result")

    def __init__(self, request: Req) -> None:
        self.request = request
        self.done = False
        self.result: Res | None = None
        self.error: BaseException | None = None


class Combiner(Generic[Req, Res]):
    """`combiner(request)` returns `run([..., request, ...])[i]`, batched with its neighbours.

    `run` takes the queued requests in arrival order and returns one result per request; if
    it raises, every caller in that batch gets the exception.
    """

    def __init__(self, run: Callable[[Sequence[Req]], Sequence[Res]], max_batch: int = 64) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queued: list[_Slot[Req, Res]] = []
        self._queue_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one batched call at a time

    def __call__(self, request: Req) -> Res:
        slot: _Slot[Req, Res] = _Slot(request)
        with self._queue_lock:
            self._queued.append(slot)
        while not slot.done:
            with self._run_lock:
                if slot.done:  # a batch run by another caller held ours
                    break
                with self._queue_lock:
                    batch = self._queued[: self._max_batch]
                    del self._queued[: self._max_batch]
                self._run_batch(batch)
        if slot.error is not None:
            raise slot.error
        return cast(Res, slot.result)  # set by the batch that marked the slot done

    def _run_batch(self, batch: list[_Slot[Req, Res]]) -> None:
        try:
            results = self._run([s.request for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} requests")
        except BaseException as exc:  # every waiter learns of the failure, none hangs
            for s in batch:
                s.error, s.done = exc, True
            return
        for s, r in zip(batch, results, strict=True):
            s.result, s.done = r, True
