"""Concurrent queries share one forward pass; a full queue answers 503 at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from api.app import create_app
from api.batching import QueryBatcher
from api.errors import Overloaded
from api.settings import ApiSettings
from engine import Engine
from tests.images import jpeg


def test_concurrent_queries_are_gathered_into_one_forward() -> None:
    sizes: list[int] = []

    def embed(tensors: Sequence[torch.Tensor]) -> np.ndarray:
        sizes.append(len(tensors))
        time.sleep(0.05)
        return np.stack([t.numpy() for t in tensors])

    async def run() -> list[np.ndarray]:
        batcher = QueryBatcher(embed, max_batch=8, max_wait_s=0.02, max_queue=64)
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.embed(torch.full((2,), float(i))) for i in range(20))
            )
        finally:
            await batcher.stop()

    results = asyncio.run(run())
    assert [float(r[0]) for r in results] == [float(i) for i in range(20)]  # each its own answer
    assert max(sizes) == 8 and sum(sizes) == 20 and len(sizes) <= 4


def test_a_full_queue_is_refused_at_once() -> None:
    def slow(tensors: Sequence[torch.Tensor]) -> np.ndarray:
        time.sleep(0.3)
        return np.zeros((len(tensors), 2), np.float32)

    async def run() -> list[object]:
        batcher = QueryBatcher(slow, max_batch=1, max_wait_s=0, max_queue=2)
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.embed(torch.zeros(2)) for _ in range(8)), return_exceptions=True
            )
        finally:
            await batcher.stop()

    outcomes = asyncio.run(run())
    refused = [o for o in outcomes if isinstance(o, Overloaded)]
    assert refused and len(refused) < 8


def test_overload_over_http_is_503_with_retry_after(engine: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = ApiSettings(queue_max=1, batch_max=1, batch_wait_ms=0)
    with TestClient(create_app(engine, settings)) as client:
        client.post("/v1/items", files=[("files", ("a.jpg", jpeg(1), "image/jpeg"))])

        def search(i: int):  # type: ignore[no-untyped-def]
            files = [("files", ("q.jpg", jpeg(i), "image/jpeg"))]
            return client.post("/v1/search/image", files=files)

        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(search, range(24)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503} and 503 in codes and 200 in codes
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["error"] == "overloaded"


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_a_lone_query_does_not_wait_for_company_but_waits_for_one_being_decoded() -> None:
    sizes: list[int] = []

    def embed(tensors: Sequence[torch.Tensor]) -> np.ndarray:
        sizes.append(len(tensors))
        return np.stack([t.numpy() for t in tensors])

    async def run() -> float:
        batcher = QueryBatcher(embed, max_batch=8, max_wait_s=2.0, max_queue=64)
        batcher.start()
        try:
            start = time.perf_counter()
            await batcher.embed(torch.zeros(2))  # nobody else is coming: no 2 s wait
            alone = time.perf_counter() - start

            async def decoded_later() -> np.ndarray:
                with batcher.arriving():
                    await asyncio.sleep(0.2)  # still decoding when the first one queues
                return await batcher.embed(torch.ones(2))

            await asyncio.gather(batcher.embed(torch.zeros(2)), decoded_later())
            return alone
        finally:
            await batcher.stop()

    alone = asyncio.run(run())
    assert alone < 1.0
    assert sizes == [1, 2]  # the second batch waited for the query being decoded
