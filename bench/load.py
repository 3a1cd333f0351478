"""A bounded load test over loopback: mixed uploads, searches and deletes at a steady rate.

Open loop (requests start on a fixed schedule, not when the last one ended), so a slow
server shows up as latency and errors instead of silently lowering the rate. A second
"greedy" key sends far over its own rate limit on purpose: its 429s are counted apart, every
other non-2xx is an error. At the end the catalog is checked: every acknowledged upload is
embedded and searchable, every acknowledged delete is gone from reads and from results.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.images import small_jpeg
from bench.timing import percentiles

MIX = {"upload": 0.3, "search_image": 0.3, "similar": 0.25, "delete": 0.15}


@dataclass
class LoadReport:
    duration_s: float
    rate: float
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    deliberate_429: int = 0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rss_mib: list[tuple[float, float]] = field(default_factory=list)
    acked_uploads: int = 0
    acked_deletes: int = 0
    missing_after: list[str] = field(default_factory=list)
    resurrected_after: list[str] = field(default_factory=list)

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())

    def memory_growth(self) -> float:
        """RSS at the end over RSS when warm-up (the first fifth) ended, minus one."""
        warm_at = self.duration_s * 0.2
        warm = [r for t, r in self.rss_mib if t >= warm_at]
        return (self.rss_mib[-1][1] / warm[0] - 1.0) if warm else 0.0

    def rows(self) -> list[dict[str, Any]]:
        rows = [
            {"figure": "requests sent", "value": f"{sum(self.requests.values()):,}"},
            {"figure": "errors (not deliberate)", "value": str(self.total_errors), "target": "0"},
            {"figure": "deliberate 429s (greedy key)", "value": str(self.deliberate_429)},
            {
                "figure": "API RSS growth after warm-up",
                "value": f"{self.memory_growth() * 100:+.1f}%",
                "target": "<= 5%",
            },
            {
                "figure": "acknowledged uploads / deletes",
                "value": f"{self.acked_uploads} / {self.acked_deletes}",
            },
            {
                "figure": "lost uploads / resurrected deletes",
                "value": f"{len(self.missing_after)} / {len(self.resurrected_after)}",
                "target": "0 / 0",
            },
        ]  # fmt: skip
        for kind, values in sorted(self.latencies_ms.items()):
            q = percentiles(values)
            rows.append(
                {
                    "figure": f"{kind}: n, p50 / p95 ms",
                    "value": f"{len(values)}, {q['p50']:.0f} / {q['p95']:.0f}",
                }
            )
        return rows


class _Driver:
    def __init__(self, url: str, key: str, greedy_key: str | None, report: LoadReport) -> None:
        self.url = url
        self.headers = {"X-API-Key": key} if key else {}
        self.greedy = {"X-API-Key": greedy_key} if greedy_key else None
        self.report = report
        self.rng = random.Random(0)
        self.seed = 0
        self.live: dict[str, int] = {}  # acknowledged uploads not deleted: id -> image seed
        self.deleted: dict[str, int] = {}

    def _error(self, kind: str, what: str) -> None:
        self.report.errors[kind] += 1
        if len(self.report.error_samples) < 10:
            self.report.error_samples.append(f"{kind}: {what[:200]}")

    async def one(self, http: httpx.AsyncClient, kind: str) -> None:
        if kind == "delete" and len(self.live) < 10:
            kind = "upload"  # keep a floor of items to search and delete
        if kind in ("similar", "search_image") and not self.live:
            kind = "upload"
        self.report.requests[kind] += 1
        start = time.perf_counter()
        try:
            resp = await self._send(http, kind)
        except httpx.HTTPError as exc:
            self._error(kind, repr(exc))
            return
        self.report.latencies_ms[kind].append((time.perf_counter() - start) * 1000)
        if resp.status_code >= 300:
            self._error(kind, f"{resp.status_code} {resp.text}")

    async def _send(self, http: httpx.AsyncClient, kind: str) -> httpx.Response:
        if kind == "upload":
            self.seed += 1
            seed = self.seed
            files = [("files", (f"load{seed}.jpg", small_jpeg(seed), "image/jpeg"))]
            resp = await http.post("/v1/items", files=files, headers=self.headers)
            if resp.status_code == 200:
                result = resp.json()["results"][0]
                if result["status"] == "added":
                    self.live[result["item_id"]] = seed
                    self.report.acked_uploads += 1
            return resp
        item_id = self.rng.choice(list(self.live))
        if kind == "similar":
            return await http.get(
                f"/v1/items/{item_id}/similar", params={"k": 10}, headers=self.headers
            )
        if kind == "search_image":
            files = [("files", ("q.jpg", small_jpeg(self.live[item_id]), "image/jpeg"))]
            return await http.post(
                "/v1/search/image", files=files, data={"k": "10"}, headers=self.headers
            )
        seed = self.live.pop(item_id)
        resp = await http.delete(f"/v1/items/{item_id}", headers=self.headers)
        if resp.status_code < 300:
            self.deleted[item_id] = seed
            self.report.acked_deletes += 1
        else:
            self.live[item_id] = seed
        return resp  # fmt: skip

    async def greedy_client(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while self.greedy and not stop.is_set():
            resp = await http.get("/v1/items", params={"limit": 1}, headers=self.greedy)
            if resp.status_code == 429:
                self.report.deliberate_429 += 1
            elif resp.status_code != 200:
                self._error("greedy", f"{resp.status_code} {resp.text}")
            await asyncio.sleep(0.05)

    async def check(self, http: httpx.AsyncClient) -> None:
        """Every acknowledged upload searchable; every acknowledged delete gone."""
        for item_id in self.live:
            got = await http.get(
                f"/v1/items/{item_id}/similar", params={"k": 1}, headers=self.headers
            )
            if got.status_code != 200:
                self.report.missing_after.append(item_id)
        for item_id, seed in list(self.deleted.items())[:50]:
            got = await http.get(f"/v1/items/{item_id}", headers=self.headers)
            files = [("files", ("q.jpg", small_jpeg(seed), "image/jpeg"))]
            hits = await http.post(
                "/v1/search/image", files=files, data={"k": "20"}, headers=self.headers
            )
            found = {h["item_id"] for h in hits.json()["hits"]}
            if got.status_code != 404 or item_id in found:
                self.report.resurrected_after.append(item_id)  # fmt: skip


async def _drive(
    url: str, key: str, greedy_key: str | None, pid: int | None, report: LoadReport
) -> None:
    driver = _Driver(url, key, greedy_key, report)
    proc = psutil.Process(pid) if pid else None
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        stop = asyncio.Event()
        greedy = asyncio.create_task(driver.greedy_client(http, stop))
        tasks: set[asyncio.Task[None]] = set()
        kinds, weights = list(MIX), list(MIX.values())
        start = time.monotonic()
        next_sample, n = 0.0, 0
        while (elapsed := time.monotonic() - start) < report.duration_s:
            if proc is not None and elapsed >= next_sample:
                report.rss_mib.append((elapsed, proc.memory_info().rss / 2**20))
                next_sample += 2.0
            kind = driver.rng.choices(kinds, weights)[0]
            task = asyncio.create_task(driver.one(http, kind))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            await asyncio.sleep(max(0.0, start + n / report.rate - time.monotonic()))
        stop.set()
        await asyncio.gather(*tasks, greedy)
        if proc is not None:
            report.rss_mib.append((report.duration_s, proc.memory_info().rss / 2**20))
        await driver.check(http)  # fmt: skip


def run_against(
    url: str, key: str, greedy_key: str | None, pid: int | None, duration_s: float, rate: float
) -> LoadReport:
    report = LoadReport(duration_s=duration_s, rate=rate)
    asyncio.run(_drive(url, key, greedy_key, pid, report))
    return report  # fmt: skip


def run(duration_s: float = 300.0, rate: float = 4.0, data_dir: Path | None = None) -> LoadReport:
    """Start `lookalike serve` (resnet18, random init, CPU) with keys, and load it."""
    from api.keys import KeyRing
    from bench.server import ServeProcess
    from engine import Engine
    from index import IndexSettings

    with tempfile.TemporaryDirectory(prefix="lookalike-load-") as tmp:
        data = data_dir or Path(tmp) / "data"
        ring = KeyRing(Engine(index_settings=IndexSettings(data_dir=data)).store)
        _, key = ring.create(["write"], name="load")
        _, greedy = ring.create(["read"], name="greedy", rate_per_s=2.0)
        server = ServeProcess(data)
        try:
            return run_against(server.url, key, greedy, server.proc.pid, duration_s, rate)
        finally:
            server.stop()
