"""The catalog commands: ingest, search, info, eval, demo."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from tqdm import tqdm

from cli.app import app
from cli.common import fail as _fail
from cli.common import guard as _guard
from cli.options import (
    BatchSize,
    DataDir,
    Device,
    InputSize,
    Json,
    Model,
    Pooling,
    Weights,
    make_engine,
    worker_settings,
)
from embedder import WeightsUnavailableError
from engine import find_images, ingest, search_path_or_id
from engine.grouping import MAX_GROUP_SIZE, Group
from engine.ingest import from_manifest
from engine.search import groups_path_or_id
from index import Hit, ItemStatus, MetadataFilter

if TYPE_CHECKING:
    from engine.evaluate import EvalReport


def _hits_table(hits: list[Hit]) -> None:
    if not hits:
        typer.echo("no results")
        return
    typer.echo(f"{'rank':>4}  {'score':>6}  {'item id':<16}  source")
    for rank, hit in enumerate(hits, start=1):
        label = hit.item.client_key or hit.item.source
        typer.echo(f"{rank:>4}  {hit.score:6.3f}  {hit.item.id[:16]}  {label}")


def _hit_json(hit: Hit) -> dict[str, Any]:
    item = hit.item
    return {
        "item_id": item.id,
        "score": round(hit.score, 6),
        "client_key": item.client_key,
        "product": item.product,
        "source": item.source,
        "metadata": item.metadata,
    }


class GroupBy(StrEnum):
    product = "product"


def _groups_out(groups: list[Group], as_json: bool) -> None:
    if as_json:
        out = [
            {"key": g.key, "product": g.product, "hits": [_hit_json(h) for h in g.hits]}
            for g in groups
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    if not groups:
        typer.echo("no results")
    for rank, group in enumerate(groups, start=1):
        typer.echo(f"{rank:>4}  {group.best.score:6.3f}  {group.product or '(no product)'}")
        for hit in group.hits:
            label = hit.item.client_key or hit.item.source
            typer.echo(f"      {hit.score:6.3f}  {hit.item.id[:16]}  {label}")


@app.command("ingest")
@_guard
def ingest_cmd(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Image files, folders (recursive) and http(s) URLs."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="CSV or JSONL with path or url, client_key, product and metadata "
            "per image, or a .txt list of paths and URLs.",
        ),
    ] = None,
    allow_outside: Annotated[
        bool,
        typer.Option(
            "--allow-outside",
            help="Let the manifest name files outside its own folder (../, absolute paths).",
        ),
    ] = False,
    data_dir: DataDir = None,
    model: Model = None,
    weights: Weights = None,
    pooling: Pooling = None,
    device: Device = None,
    batch_size: BatchSize = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="Hand the embedding to workers through this Redis "
            "(env LOOKALIKE_REDIS_URL); without it, embed here.",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="With workers: follow the job to its end.")
    ] = True,
    as_json: Json = False,
) -> None:
    """Embed, store and index images. Ingesting the same files again adds nothing."""
    engine = make_engine(data_dir, model, weights, pooling, device, batch_size)
    sources = find_images(paths or [])
    if manifest is not None:
        sources += from_manifest(manifest, allow_outside=allow_outside)
    if not sources:
        _fail("no image files found: give paths, URLs or --manifest.")
    engine.catalog  # load the model before the progress bar starts  # noqa: B018
    queue_settings = worker_settings(redis_url)
    if queue_settings.redis_url:
        _ingest_with_workers(engine, sources, queue_settings, wait=wait, as_json=as_json)
        return
    with tqdm(total=len(sources), unit="img", disable=as_json, file=sys.stderr) as bar:
        report = ingest(engine, sources, bar.update)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "added": report.added,
                    "skipped": report.skipped,
                    "failed": [asdict(o) for o in report.failed],
                    "seconds": round(report.seconds, 3),
                    "images_per_second": round(report.images_per_second, 2),
                    "model_id": engine.catalog.model_id,
                },
                indent=2,
            )
        )
        return
    typer.echo(
        f"{report.added} added, {report.skipped} already there, {len(report.failed)} failed "
        f"in {report.seconds:.1f}s ({report.images_per_second:.1f} images/s) "
        f"with {engine.catalog.model_id}"
    )
    for outcome in report.failed:
        typer.echo(f"  failed: {outcome.source}: {outcome.error}")


def _ingest_with_workers(
    engine: Any, sources: list[Any], settings: Any, *, wait: bool, as_json: bool
) -> None:
    from cli.jobs import watch_job
    from workers.queue import CeleryQueue

    queue = CeleryQueue(engine, settings)
    job, outcomes = queue.ingest(sources)
    if wait:
        job = watch_job(queue, job) if not as_json else queue.wait(job.id)
    if as_json:
        typer.echo(job.model_dump_json(indent=2))
        return
    typer.echo(
        f"job {job.id}: {job.status}, {job.done} embedded, {job.skipped} already there, "
        f"{job.failed} failed of {job.total}"
        + ("" if wait else "; follow it with lookalike jobs ID --watch")
    )
    failed = [
        i
        for i in engine.store.get_items([o.item_id for o in outcomes if o.item_id]).values()
        if i.status == "failed"
    ]
    for item in failed:
        typer.echo(f"  failed: {item.source}: {item.error}")


@app.command("search")
@_guard
def search_cmd(
    query: Annotated[
        str, typer.Argument(help="An image file, or the id of an item in the catalog.")
    ],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Number of results.")] = 10,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            "-f",
            help="Metadata filter: key=value, key=a|b, key>=n, key<n (repeatable).",
        ),
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Drop hits scoring below this cosine.")
    ] = None,
    include_self: Annotated[
        bool, typer.Option("--include-self", help="Keep the query item itself in the results.")
    ] = False,
    group_by: Annotated[
        GroupBy | None,
        typer.Option("--group-by", help="product: k distinct products, not k photos."),
    ] = None,
    group_size: Annotated[
        int,
        typer.Option("--group-size", min=1, max=MAX_GROUP_SIZE, help="Photos per product."),
    ] = 1,
    data_dir: DataDir = None,
    model: Model = None,
    weights: Weights = None,
    pooling: Pooling = None,
    device: Device = None,
    as_json: Json = False,
) -> None:
    """Find the catalog items (or, with --group-by product, the products) that look most like
    an image or an item."""
    engine = make_engine(data_dir, model, weights, pooling, device)
    if group_by is not None:
        groups = groups_path_or_id(
            engine,
            query,
            k,
            group_size,
            where=MetadataFilter.from_cli(where or []),
            min_score=min_score,
            exclude_self=not include_self,
        )
        _groups_out(groups, as_json)
        return
    hits = search_path_or_id(
        engine,
        query,
        k,
        where=MetadataFilter.from_cli(where or []),
        min_score=min_score,
        exclude_self=not include_self,
    )
    if as_json:
        typer.echo(json.dumps([_hit_json(h) for h in hits], indent=2))
    else:
        _hits_table(hits)


@app.command("info")
@_guard
def info_cmd(data_dir: DataDir = None, as_json: Json = False) -> None:
    """Show item counts, the model id, the index type and the LanceDB version."""
    info = make_engine(data_dir).info()
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    for key, value in info.items():
        typer.echo(f"{key:>20}: {value}")


@app.command("items")
@_guard
def items_cmd(
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only this state: embedded, failed, queued."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="Metadata filter, as for search (repeatable)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="Items per page.")
    ] = 50,
    after: Annotated[
        str | None,
        typer.Option("--after", help="Where the page starts: the `next` key printed last."),
    ] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List the catalog's items, oldest first, one page at a time (each page costs what it
    holds, not what the catalog holds)."""
    states = [s.value for s in ItemStatus]
    if status is not None and status not in states:
        _fail(f"'{status}' is not a status; choose {', '.join(states)}.")
    key = None
    if after is not None:
        when, _, item_id = after.rpartition("/")
        try:
            key = (datetime.fromisoformat(when), item_id)
        except ValueError:
            _fail(
                f"'{after[:80]}' is not a key printed by `lookalike items`; start without --after."
            )
    store = make_engine(data_dir).store
    page, more = store.list_page(limit, key, status, MetadataFilter.from_cli(where or []))
    token = f"{page[-1].created_at.isoformat()}/{page[-1].id}" if more else None
    if as_json:
        rows = [{**it.model_dump(mode="json"), "metadata": it.metadata} for it in page]
        typer.echo(json.dumps({"items": rows, "next": token}, indent=2))
        return
    for it in page:
        typer.echo(
            f"{it.id[:16]}  {it.status:<8}  {it.created_at:%Y-%m-%d %H:%M:%S}  "
            + (it.client_key or it.source)
        )
    if not page:
        typer.echo("no items")
    if token:
        typer.echo(f"next: lookalike items --after {token}")


@app.command("eval")
@_guard
def eval_cmd(
    datasets: Annotated[
        list[Path],
        typer.Argument(
            help="One or more folders, each with images/, groundtruth.csv and optionally "
            "queries.csv; each is scored on a catalog of its own."
        ),
    ],
    all_queries: Annotated[
        bool,
        typer.Option("--all-queries", help="Use every image as a query instead of queries.csv."),
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            "-d",
            help="Keep the evaluation catalogs here, one folder per set (default: temporary).",
        ),
    ] = None,
    model: Model = None,
    weights: Weights = None,
    pooling: Pooling = None,
    device: Device = None,
    batch_size: BatchSize = None,
    input_size: InputSize = None,
    configs: Annotated[
        str,
        typer.Option(
            "--configs",
            help="Comma-separated: plain, qe (query expansion), ms (multi-scale queries, "
            "needs --input-size), whiten (PCA-whitening learned on the catalog) and "
            "combinations such as whiten+qe.",
        ),
    ] = "plain,qe,whiten,whiten+qe",
    as_json: Json = False,
) -> None:
    """Measure retrieval quality (mAP, recall@1, recall@10, the N-S score, chance) on
    labelled folders, for several query-side configurations side by side: a table per set,
    then each configuration's mean over the sets."""
    from engine.evaluate import evaluate, means

    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        _fail("Two data sets have the same folder name; give each set its own name.")
    wanted = [c.strip() for c in configs.split(",") if c.strip()]
    per_set = []
    with tempfile.TemporaryDirectory(prefix="lookalike-eval-") as tmp:
        for dataset in datasets:
            home = (data_dir or Path(tmp)) / dataset.name
            engine = make_engine(home, model, weights, pooling, device, batch_size, input_size)
            engine.catalog  # noqa: B018 - load the model before the progress bar
            images = dataset / "images"
            total = len(list(images.glob("*"))) if images.is_dir() else None
            with tqdm(
                total=total, unit="img", disable=as_json, file=sys.stderr, desc=dataset.name
            ) as bar:
                per_set.append(
                    evaluate(
                        engine,
                        dataset,
                        use_queries=not all_queries,
                        progress=bar.update,
                        configs=wanted,
                    )
                )
    mean = means(per_set)
    if as_json:
        out = {
            "sets": {
                name: [asdict(r) for r in rs] for name, rs in zip(names, per_set, strict=True)
            },
            "mean": [asdict(m) for m in mean],
        }
        typer.echo(json.dumps(out, indent=2))
        return
    for reports in per_set:
        _eval_table(reports)
    if len(per_set) > 1:
        typer.echo(f"\nmean over {len(per_set)} sets ({', '.join(names)})")
        typer.echo(f"{'':>18} {'mAP':>6} {'R@1':>6} {'R@10':>6} {'N-S':>5} {'worst':>6}")
        for m in mean:
            typer.echo(
                f"{m.config:>18} {m.map:6.3f} {m.recall_at_1:6.3f} {m.recall_at_10:6.3f} "
                f"{m.ns_score:5.2f} {m.worst_map:6.3f}"
            )


GROUPS_SHOWN = 12


def _eval_table(reports: list[EvalReport]) -> None:
    """One set's table: a row per configuration, chance, and the best one's groups."""
    first = reports[0]
    typer.echo(
        f"\n{first.dataset}: model {first.model_id}, {first.images} images, "
        f"{first.queries} queries, ingest {first.ingest_images_per_s:.1f} images/s"
    )
    typer.echo(f"{'':>18} {'mAP':>6} {'R@1':>6} {'R@10':>6} {'N-S':>5}")
    for r in reports:
        typer.echo(
            f"{r.config:>18} {r.map:6.3f} {r.recall_at_1:6.3f} {r.recall_at_10:6.3f} "
            f"{r.ns_score:5.2f}"
        )
    typer.echo(
        f"{'chance':>18} {first.chance_map:6.3f} {first.chance_recall_at_1:6.3f} "
        f"{first.chance_recall_at_10:6.3f}"
    )
    best = max(reports, key=lambda r: r.map)
    groups = best.groups
    if len(groups) > GROUPS_SHOWN:  # hundreds on UKBench: the hardest ones say the most
        groups = sorted(groups, key=lambda g: g.map)[:GROUPS_SHOWN]
        typer.echo(f"the {GROUPS_SHOWN} hardest of {len(best.groups)} groups:")
    typer.echo(f"{'group (' + best.config + ')':>18} {'queries':>7} {'mAP':>6} {'R@1':>6}")
    for g in groups:
        typer.echo(f"{g.group:>18} {g.queries:>7} {g.map:6.3f} {g.recall_at_1:6.3f}")


@app.command("demo")
@_guard
def demo_cmd(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", "-d", help="Where the demo catalog lives.")
    ] = Path("lookalike-demo"),
    model: Annotated[
        str, typer.Option("--model", "-m", help="Backbone to try first.")
    ] = "resnet50",
) -> None:
    """Build a sample catalog from scikit-image's pictures, ingest it and run a search."""
    from engine.demo import build_catalog, demo_query

    files = build_catalog(data_dir / "catalog")
    typer.echo(f"sample catalog: {len(files)} images in {data_dir / 'catalog'}")
    engine = make_engine(data_dir / "data", model)
    try:
        engine.catalog  # noqa: B018 - resolves the weights
    except WeightsUnavailableError:
        typer.echo(
            f"{model} pretrained weights are not reachable here; using efficientnet_lite0 "
            "with its packaged ImageNet weights instead."
        )
        engine = make_engine(data_dir / "data", "efficientnet_lite0")
    with tqdm(total=len(files), unit="img", file=sys.stderr) as bar:
        report = ingest(engine, find_images([data_dir / "catalog"]), bar.update)
    typer.echo(
        f"ingested: {report.added} added, {report.skipped} already there, "
        f"{len(report.failed)} failed, model {engine.catalog.model_id}"
    )
    query = demo_query(data_dir)
    typer.echo(f"\nwhat looks like {query}? (a new crop of the cat)")
    _hits_table(search_path_or_id(engine, str(query), 5))
    typer.echo(f"\ntry: .venv/bin/lookalike search {query} --data-dir {data_dir / 'data'}")
