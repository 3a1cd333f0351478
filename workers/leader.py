"""Which API replica does the catalog's upkeep: one leader at a time, elected by a Redis lock
with a time to live (redis-py's Lock: SET NX PX to take it, a compare-and-set script to
extend it, so a replica extends only a lock that is still its own).

The leader saves and publishes index snapshots, rebuilds an index that outgrew its kind,
compacts the tables and creates their scalar indexes; the other replicas only catch up from
the tables. A leader that dies stops extending its lock: another replica takes over within
the TTL. Without Redis (the in-process queue) a process is its own leader.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)
LEADER_KEY = "lookalike:leader"


def redis_client(url: str) -> Any:
    """A redis-py client for a broker URL as Celery writes it (redis:// or
    redis+socket:///path.sock)."""
    import redis

    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://").split("?")[0])
    return redis.Redis.from_url(url)


class Leadership:
    def __init__(self, client: Any, ttl_s: float) -> None:
        from redis.lock import Lock

        self.ttl_s = ttl_s
        self.name = f"{socket.gethostname()}~{os.getpid()}"
        # thread_local=False: the loop that renews it and the one that asks are threads of
        # one process, which holds the lock as a whole.
        self._lock = Lock(client, LEADER_KEY, timeout=ttl_s, blocking=False, thread_local=False)
        self._mutex = threading.Lock()
        self.leading = False

    def renew(self) -> bool:
        """Take the lock or extend it (call more often than the TTL); whether this process
        leads now. A Redis that cannot be reached makes nobody the leader here."""
        with self._mutex:
            was = self.leading
            try:
                if self.leading and self._lock.owned():
                    self._lock.reacquire()
                else:
                    self.leading = bool(self._lock.acquire(blocking=False, token=self.name))
            except Exception as exc:  # Redis down or the lock lost meanwhile: not the leader
                if was:
                    log.warning("leadership lost: %s", exc)
                self.leading = False
            if self.leading and not was:
                log.warning("this process (%s) now leads the catalog's upkeep", self.name)
            return self.leading

    def current(self) -> str | None:
        """The leader's name as Redis has it, for /metrics and the logs."""
        try:
            raw = self._lock.redis.get(LEADER_KEY)
        except Exception:
            return None
        return raw.decode() if isinstance(raw, bytes) else raw

    def resign(self) -> None:
        """Give the lock up at a clean shutdown, so that another replica leads at once."""
        with self._mutex:
            if self.leading:
                try:
                    self._lock.release()
                except Exception as exc:
                    log.warning("could not release the leader lock: %s", exc)
            self.leading = False
