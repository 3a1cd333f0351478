"""`lookalike bench`: every benchmark behind one command, each printed as one table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.app import app
from cli.common import fail, guard
from cli.options import BatchSize, Json


@app.command("bench")
@guard
def bench_cmd(
    what: Annotated[
        str,
        typer.Argument(
            help="ingest, query, scale, coldstart, list, catchup, filter, storage, replicas, "
            "shapes, load, contract, or all (ingest + query)."
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
            "contract run (default 600), of each phase of the replicas bench (default 20).",
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
        int,
        typer.Option(
            "--vectors", help="scale, coldstart, list, catchup, filter: synthetic catalog size."
        ),
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

        contract = contract_bench.run(duration or 600.0)
        typer.echo(contract.output if not as_json else json.dumps(contract.__dict__, default=str))
        typer.echo(contract.summary())
        raise typer.Exit(0 if contract.ok else 1)
    if what == "scale":
        from bench import scale as scale_bench

        _show(
            scale_bench.run(vectors, dim, only=only),
            scale_bench.rows,
            f"scale: {vectors:,} clustered vectors of {dim}",
            as_json,
        )
        return
    if what == "filter":
        from bench import filters as filter_bench

        _show(
            filter_bench.run(vectors),
            filter_bench.rows,
            f"filter: {vectors:,} vectors of 512",
            as_json,
        )
        return
    if what == "catchup":
        from bench import catchup as catchup_bench

        _show(
            catchup_bench.run(vectors),
            catchup_bench.rows,
            f"catch-up: a reader of {vectors:,} vectors",
            as_json,
        )
        return
    if what == "storage":
        from bench import storage as storage_bench

        _show(
            storage_bench.run(limit),
            storage_bench.rows,
            f"storage: {limit} images, the local folder beside S3 on loopback",
            as_json,
        )
        return
    if what == "replicas":
        from bench import replicas as replicas_bench

        seconds = duration or 20.0
        _show(
            replicas_bench.run(seconds),
            replicas_bench.rows,
            f"replicas: {seconds:g} s of image searches, one API process beside two",
            as_json,
        )
        return
    if what == "shapes":
        from bench import shapes as shapes_bench

        _show(
            shapes_bench.run(model, weights, limit),
            shapes_bench.rows,
            f"shapes: batch, grouped and region searches over {limit} images ({model})",
            as_json,
        )
        return
    if what == "list":
        from bench import listing as listing_bench

        _show(
            listing_bench.run(vectors),
            listing_bench.rows,
            f"list: pages of the items of {vectors:,}",
            as_json,
        )
        return
    if what == "coldstart":
        from bench import coldstart as coldstart_bench

        if dim not in coldstart_bench.MODELS:
            fail(
                "The cold-start bench serves a real backbone: --dim must be one of "
                f"{sorted(coldstart_bench.MODELS)}."
            )
        _show(
            coldstart_bench.run(vectors, dim),
            coldstart_bench.rows,
            f"cold start: {vectors:,} vectors of {dim}",
            as_json,
        )
        return
    if what not in ("ingest", "query", "all"):
        fail(
            f"'{what}' is not a benchmark; choose ingest, query, scale, coldstart, list, "
            "catchup, filter, storage, replicas, shapes, load, contract or all."
        )
    results: dict[str, dict[str, Any]] = {}
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
        )
    if "query" in results:
        r = results["query"]
        print_table(
            query_bench.rows(r), f"query: {r['model_id']} on {r['device']}, {r['catalog']:,} items"
        )


def _show(
    result: dict[str, Any],
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]],
    title: str,
    as_json: bool,
) -> None:
    """One benchmark's result: its JSON, or its table."""
    from bench.common import print_table

    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        print_table(rows(result), title)
