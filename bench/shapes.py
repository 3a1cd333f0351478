"""`lookalike bench shapes`: what the other shapes of a search cost beside a plain one, on
a real `lookalike serve` (in-process embedding), all in one run.

- Many queries: 16 image queries as 16 requests one after another, as 16 at once, and as
  one POST /v1/search/batch (every image in one forward pass, the searches together).
- Products: `group_by=product` (three photos a group) beside the plain search, from an item
  (no forward pass: the index and the grouping alone).
- A region: an image search with a `box` beside the whole image (a region is cut from the
  full-scale decode, where the whole image may decode at a reduced JPEG scale).

The catalog is synthetic pictures in products of four; every figure is a median of rounds.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.images import encode, jpeg, scene
from bench.server import ServeProcess
from bench.timing import timed_ms

QUERIES = 16
ROUNDS = 5


def _median_ms(work: Callable[[], object], rounds: int = ROUNDS) -> float:
    work()  # warm: the first call of each shape pays for what the others reuse
    return statistics.median(timed_ms(work) for _ in range(rounds))


def _ok(resp: httpx.Response) -> httpx.Response:
    if resp.status_code != 200:
        raise RuntimeError(f"{resp.request.url.path} answered {resp.status_code}: {resp.text}")
    return resp


def run(model: str, weights: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-shapes-") as tmp:
        args = ["--model", model, "--weights", weights, "--device", "cpu", "--inline"]
        server = ServeProcess(Path(tmp) / "data", model=args)
        try:
            return _measure(server.url, count)
        finally:
            server.stop()


def _measure(url: str, count: int) -> dict[str, Any]:
    http = httpx.Client(base_url=url, timeout=300)
    for first in range(0, count, 32):
        numbers = range(first, min(count, first + 32))
        files = [("files", (f"{i}.jpg", jpeg(i, (320, 256)), "image/jpeg")) for i in numbers]
        _ok(http.post("/v1/items", files=files, data={"products": [f"P{i // 4}" for i in numbers]}))
    queries = [encode(scene(i, (320, 256)).rotate(3), "JPEG") for i in range(QUERIES)]

    def one(data: bytes, **form: str) -> None:
        files = [("files", ("q.jpg", data, "image/jpeg"))]
        _ok(http.post("/v1/search/image", files=files, data={"k": "10", **form}))

    def sequential() -> None:
        for data in queries:
            one(data)

    def concurrent() -> None:
        with ThreadPoolExecutor(QUERIES) as pool:
            list(pool.map(one, queries))

    def batch() -> None:
        files = [("files", (f"q{n}.jpg", d, "image/jpeg")) for n, d in enumerate(queries)]
        asks = json.dumps([{"files": [n], "k": 10} for n in range(QUERIES)])
        _ok(http.post("/v1/search/batch", files=files, data={"queries": asks}))

    item = http.get("/v1/items", params={"limit": 1}).json()["items"][0]["id"]
    similar = f"/v1/items/{item}/similar"
    grouped: dict[str, str | int] = {"k": 10, "group_by": "product", "group_size": 3}
    began = time.perf_counter()
    figures = {
        "catalog": count,
        "queries": QUERIES,
        "sequential_ms": _median_ms(sequential, 3),
        "concurrent_ms": _median_ms(concurrent, 3),
        "batch_ms": _median_ms(batch, 3),
        "plain_ms": _median_ms(lambda: _ok(http.get(similar, params={"k": 10}))),
        "grouped_ms": _median_ms(lambda: _ok(http.get(similar, params=grouped))),
        "whole_ms": _median_ms(lambda: one(queries[0])),
        "box_ms": _median_ms(lambda: one(queries[0], box="0.25,0.25,0.75,0.75")),
    }
    figures["seconds"] = round(time.perf_counter() - began, 1)
    return figures


def rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    def ms(key: str) -> str:
        return f"{r[key]:.1f} ms"

    def ratio(a: str, b: str) -> str:
        return f"{r[a] / r[b]:.2f}x"

    n = r["queries"]
    return [
        {"figure": f"{n} image queries, one request each, in turn", "value": ms("sequential_ms")},
        {"figure": f"{n} image queries, {n} requests at once", "value": ms("concurrent_ms")},
        {"figure": f"{n} image queries in one POST /v1/search/batch", "value": ms("batch_ms")},
        {
            "figure": "batch speed-up over one at a time",
            "value": ratio("sequential_ms", "batch_ms"),
        },
        {"figure": "batch speed-up over all at once", "value": ratio("concurrent_ms", "batch_ms")},
        {"figure": "search from an item, plain (median)", "value": ms("plain_ms")},
        {"figure": "the same, group_by=product, 3 photos", "value": ms("grouped_ms")},
        {"figure": "grouped / plain", "value": ratio("grouped_ms", "plain_ms")},
        {"figure": "image search, whole image (median)", "value": ms("whole_ms")},
        {"figure": "image search, a box of the middle", "value": ms("box_ms")},
        {"figure": "box / whole", "value": ratio("box_ms", "whole_ms")},
    ]
