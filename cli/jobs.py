"""The commands that follow and steer background work: jobs and reindex."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from cli.app import app
from cli.common import fail, guard
from cli.options import (
    DataDir,
    Device,
    Json,
    Pooling,
    RedisUrl,
    Weights,
    make_engine,
    worker_settings,
)
from index import Job

if TYPE_CHECKING:  # the queue's module loads Celery: only the command that runs imports it
    from workers.queue import JobQueue


def _job_line(job: Job) -> str:
    return (
        f"{job.id}  {job.kind:<8} {job.status:<9} {job.done}/{job.total} done, "
        f"{job.failed} failed, {job.skipped} skipped  {job.created_at:%Y-%m-%d %H:%M:%S}"
    )


def watch_job(queue: JobQueue, job: Job) -> Job:
    """A progress bar until the job ends (rate and ETA come with the bar)."""
    with tqdm(total=job.total, unit="img", file=sys.stderr, desc=job.kind) as bar:

        def update(j: Job) -> None:
            bar.n = j.done + j.failed + j.skipped
            bar.set_postfix(failed=j.failed, skipped=j.skipped, refresh=False)
            bar.refresh()

        return queue.wait(job.id, on_update=update)


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
    settings = worker_settings(redis_url)
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
    queue = make_queue(engine, worker_settings(redis_url))
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
