"""Per-client token buckets: a steady rate with a burst of two seconds' worth.

`RateLimiter` keeps the buckets in this process; `SharedRateLimiter` keeps them in Redis,
so that a key's limit holds across every API replica (each request takes its token in one
Lua script, on Redis's clock), and falls back to this process's buckets while Redis cannot
be reached.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)
BURST_SECONDS = 2.0


class RateLimiter:
    shared = False

    def __init__(self, burst_seconds: float = BURST_SECONDS, max_clients: int = 100_000) -> None:
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


# The same bucket as RateLimiter.take, in one atomic step on Redis's clock (every replica
# sees one time); the bucket expires once it would be full again, so idle clients cost no
# memory. Returns the wait as a string: Lua numbers come back as integers otherwise.
_TAKE = """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""
PREFIX = "lookalike:rate:"


class SharedRateLimiter(RateLimiter):
    shared = True  # a network call: the middleware takes tokens on a thread

    def __init__(self, client: Any, burst_seconds: float = BURST_SECONDS) -> None:
        super().__init__(burst_seconds)
        self._script = client.register_script(_TAKE)
        self._failing = False

    def take(self, client: str, rate_per_s: float) -> float:
        capacity = max(1.0, rate_per_s * self.burst_seconds)
        try:
            wait = float(self._script(keys=[PREFIX + client], args=[rate_per_s, capacity]))
        except Exception as exc:  # Redis away: this replica's own buckets meanwhile
            if not self._failing:
                log.warning("rate limits fall back to this process (Redis: %s)", exc)
            self._failing = True
            return super().take(client, rate_per_s)
        self._failing = False
        return wait
