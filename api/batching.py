"""Micro-batching of query embeddings: concurrent queries share one forward pass.

A batch takes the queries waiting when the previous pass ends, and waits at most `max_wait`
for company only while other queries are still being decoded (a lone query goes at once); it
holds at most `max_batch` images, and at most `max_queue` queries wait at all: past that the
API answers 503 at once instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from api.errors import Overloaded
from engine.metrics import BATCH_SIZE, QUERY_QUEUE_DEPTH, timed

EmbedFn = Callable[[Sequence[torch.Tensor]], np.ndarray]


class QueryBatcher:
    def __init__(self, embed: EmbedFn, max_batch: int, max_wait_s: float, max_queue: int) -> None:
        self._embed = embed
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[torch.Tensor, asyncio.Future[np.ndarray]]] = asyncio.Queue(
            max_queue
        )
        self._task: asyncio.Task[None] | None = None
        self._arriving = 0  # queries being decoded (event loop only: no lock)
        self._closed = False  # no new queries: the batcher is draining or stopped
        self._busy = False  # a forward pass is running

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop at once: every query waiting or in a pass is answered 503, none hangs."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            _fail(fut, _switching())

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Take no new queries, answer those already here, then stop (a model switch: the
        old pair finishes its own queries, and a request that took it too late is refused with
        Switching, which the image search answers again with the new pair)."""
        self._closed = True
        deadline = time.monotonic() + timeout_s
        while (self._busy or not self._queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await self.stop()

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Around a query's decode: tells the batcher that company is on its way."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1

    async def embed(self, tensor: torch.Tensor) -> np.ndarray:
        if self._closed:
            raise _switching()
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((tensor, future))
        except asyncio.QueueFull as exc:
            raise Overloaded("Too many queries are waiting; retry in a moment.") from exc
        return await future

    async def embed_all(self, tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Several queries' images of one request, queued in one step so that they leave in
        the same forward pass (as many as `max_batch` allows)."""
        return list(await asyncio.gather(*(self.embed(t) for t in tensors)))

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic() if self._arriving else 0.0
                if remaining <= 0 and self._queue.empty():
                    break
                try:
                    if remaining > 0:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    else:
                        batch.append(self._queue.get_nowait())
                except (TimeoutError, asyncio.QueueEmpty):
                    break
            self._busy = True
            try:
                await self._forward(batch)
            finally:
                self._busy = False

    async def _forward(self, batch: list[tuple[torch.Tensor, asyncio.Future[np.ndarray]]]) -> None:
        BATCH_SIZE.labels("query").observe(len(batch))
        QUERY_QUEUE_DEPTH.set(self._queue.qsize())
        try:
            with timed("forward"):
                # a thread waits for the pass, which runs on the process's model thread
                # with every other pass (embedder/model_thread.py)
                vectors = await asyncio.to_thread(self._embed, [t for t, _ in batch])
        except asyncio.CancelledError:  # stopped mid-pass: the waiters hear so, then stop
            for _, fut in batch:
                _fail(fut, _switching())
            raise
        except Exception as exc:  # every waiter learns of the failure, none hangs
            for _, fut in batch:
                _fail(fut, exc)
            return
        for (_, fut), vector in zip(batch, vectors, strict=True):
            if not fut.done():
                fut.set_result(vector)


class Switching(Overloaded):
    """This batcher no longer takes queries: its model is being replaced, or the server stops."""

    def __init__(self) -> None:
        super().__init__("The server is switching models or stopping; retry in a moment.")


def _switching() -> Overloaded:
    return Switching()


def _fail(future: asyncio.Future[np.ndarray], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
