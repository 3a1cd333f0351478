"""What a worker tells the outside: heartbeats in Redis, its own /metrics port, and the
request id of the task it runs (so its log lines join the API's)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import setup_logging, task_prerun, worker_ready, worker_shutdown

from engine.logs import request_id
from engine.logs import setup_logging as configure_logging
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)
HEARTBEAT_PREFIX = "lookalike:heartbeat:"
HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_TTL_S = 30
REQUEST_ID_HEADER = "lookalike_request_id"


def task_headers() -> dict[str, str]:
    """Headers for a task sent now: the request id of the request that sent it."""
    return {REQUEST_ID_HEADER: request_id.get()}


def _redis(celery: Celery) -> Any:
    """The broker's own redis client: works for redis:// and redis+socket:// alike."""
    conn = celery.connection_for_write()
    return conn, conn.default_channel.client


def read_heartbeats(celery: Celery) -> dict[str, dict[str, Any]]:
    """Each live worker's last beat: {name: {"age_s": ..., "metrics_url": ...}}."""
    conn, client = _redis(celery)
    try:
        beats = {}
        for key in client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100):
            raw = client.get(key)
            if raw is None:
                continue
            beat = json.loads(raw)
            name = (key.decode() if isinstance(key, bytes) else key)[len(HEARTBEAT_PREFIX) :]
            beats[name] = {"age_s": max(0.0, time.time() - beat["at"]), **beat}
        return beats
    finally:
        conn.release()


class Heartbeat:
    def __init__(self, celery: Celery, name: str, metrics_url: str | None) -> None:
        self.celery = celery
        self.name = name
        self.metrics_url = metrics_url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            conn, client = _redis(self.celery)
            client.delete(HEARTBEAT_PREFIX + self.name)
            conn.release()
        except Exception:  # the broker may be gone first; the key expires anyway
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, client = _redis(self.celery)
                body: dict[str, Any] = {"at": time.time(), "pid": os.getpid()}  # for kill
                if self.metrics_url:
                    body["metrics_url"] = self.metrics_url
                client.set(HEARTBEAT_PREFIX + self.name, json.dumps(body), ex=HEARTBEAT_TTL_S)
                conn.release()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
            self._stop.wait(HEARTBEAT_EVERY_S)


def install(celery: Celery, settings: WorkerSettings) -> None:
    """Hook the worker's signals: metrics server and heartbeat at start, request ids per task."""
    state: dict[str, Heartbeat] = {}

    @setup_logging.connect(weak=False)
    def _logging(**_: Any) -> None:  # connected: Celery leaves the root logger to us
        configure_logging()

    @worker_ready.connect(weak=False)
    def _ready(sender: Any = None, **_: Any) -> None:
        metrics_url = None
        if settings.metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(settings.metrics_port, addr=settings.metrics_host)
            host = settings.metrics_host
            host = socket.gethostname() if host in ("0.0.0.0", "::") else host
            metrics_url = f"http://{host}:{settings.metrics_port}/metrics"
            log.info("worker metrics on %s", metrics_url)
        name = getattr(sender, "hostname", None) or socket.gethostname()
        state["beat"] = Heartbeat(celery, name, metrics_url)
        state["beat"].start()

    @worker_shutdown.connect(weak=False)
    def _shutdown(**_: Any) -> None:
        if "beat" in state:
            state["beat"].stop()

    @task_prerun.connect(weak=False)
    def _prerun(task: Any = None, **_: Any) -> None:
        rid = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
        request_id.set(rid or "-")
