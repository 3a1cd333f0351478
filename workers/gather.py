"""Gathering the items of concurrent tasks into GPU-sized forward passes.

A worker runs several tasks at once (threads, each prefetching one message). Each task hands
its item ids to the gatherer of its model and waits; the gatherer takes what has arrived
until it holds a GPU batch (the size cap) or a short wait has passed, embeds it all at once,
and answers every task with its own items' outcomes. So one-image uploads from many clients
still reach the GPU as full batches, while each message is acked only when its items are
written.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from engine.ingest import Outcome

log = logging.getLogger(__name__)
EmbedMany = Callable[[Sequence[str]], list[Outcome]]


@dataclass
class _Request:
    item_ids: list[str]
    future: Future[list[Outcome]] = field(default_factory=Future)


class Gatherer:
    def __init__(self, embed_many: EmbedMany, max_items: int, max_wait_s: float) -> None:
        self._embed_many = embed_many
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="lookalike-gather", daemon=True)
        self._thread.start()

    def embed(self, item_ids: Sequence[str]) -> list[Outcome]:
        """Embed these items together with whatever other tasks send meanwhile; blocks."""
        request = _Request(list(item_ids))
        self._queue.put(request)
        return request.future.result()

    def _collect(self) -> list[_Request]:
        requests = [self._queue.get()]
        count = len(requests[0].item_ids)
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_items:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                requests.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
            count += len(requests[-1].item_ids)
        return requests

    def _loop(self) -> None:
        while True:
            requests = self._collect()
            ids = list(dict.fromkeys(i for r in requests for i in r.item_ids))
            try:
                outcomes = {o.item_id: o for o in self._embed_many(ids)}
            except BaseException as exc:  # every waiting task learns of it; none hangs
                for r in requests:
                    r.future.set_exception(exc)
                continue
            log.info("forward pass of %d items gathered from %d tasks", len(ids), len(requests))
            for r in requests:
                r.future.set_result([outcomes[i] for i in r.item_ids if i in outcomes])
