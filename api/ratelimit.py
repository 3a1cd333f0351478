"""Per-client token buckets: a steady rate with a burst of two seconds' worth."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, burst_seconds: float = 2.0, max_clients: int = 100_000) -> None:
        self.burst_seconds = burst_seconds
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, client: str, rate_per_s: float) -> float:
        """0 when the request may go, else the seconds to wait before the next one will."""
        capacity = max(1.0, rate_per_s * self.burst_seconds)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate_per_s)
            if tokens >= 1.0:
                self._store(client, tokens - 1.0, now)
                return 0.0
            self._store(client, tokens, now)
            return (1.0 - tokens) / rate_per_s

    def _store(self, client: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= self.max_clients and client not in self._buckets:
            self._buckets.clear()  # memory stays bounded under a flood of new clients
        self._buckets[client] = (tokens, now)
