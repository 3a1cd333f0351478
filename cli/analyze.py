"""Commands that look at the catalog as a whole: near-duplicate groups and embedding drift."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from tqdm import tqdm

from cli.app import app
from cli.common import guard
from cli.options import DataDir, Json, make_engine


@app.command("dedup")
@guard
def dedup_cmd(
    data_dir: DataDir = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Calibrated similarity from which two items are near duplicates (default 0.6).",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Report groups of near-duplicate items (resized, re-encoded, cropped or mirrored copies)."""
    from engine.dedup import NEAR_DUPLICATE, duplicate_groups

    engine = make_engine(data_dir)
    catalog = engine.active_catalog()
    with tqdm(total=len(catalog.index), unit="item", file=sys.stderr) as bar:
        chosen = NEAR_DUPLICATE if threshold is None else threshold
        groups = duplicate_groups(catalog, chosen, progress=bar.update)
    if as_json:
        typer.echo(json.dumps([[{"item_id": i, "similarity": s} for i, s in g] for g in groups]))
        return
    items = engine.store.get_items([i for g in groups for i, _ in g])
    typer.echo(f"{len(groups)} group(s) of near duplicates among {len(catalog.index)} items")
    for n, group in enumerate(groups, start=1):
        typer.echo(f"\ngroup {n} ({len(group)} items)")
        for item_id, similarity in group:
            item = items.get(item_id)
            label = (item.client_key or item.source) if item else ""
            typer.echo(f"  {item_id[:16]}  {similarity:.2f}  {label}")


@app.command("drift")
@guard
def drift_cmd(
    data_dir: DataDir = None,
    recent: Annotated[
        int, typer.Option("--recent", min=1, help="How many of the newest items to compare.")
    ] = 500,
    as_json: Json = False,
) -> None:
    """Compare the embeddings of recent uploads with the rest of the catalog; exit 1 on drift."""
    from engine.drift import measure_drift

    report = measure_drift(make_engine(data_dir), recent)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(f"{report.recent} recent vs {report.reference} older items, {report.model_id}")
        typer.echo(f"  mean shift (1 - cosine of means)   {report.mean_shift:.4f}")
        typer.echo(
            f"  concentration recent / older       {report.concentration_recent:.3f} / "
            f"{report.concentration_reference:.3f}"
        )
        typer.echo(
            f"  nearest-neighbour similarity       {report.nn_similarity_recent:.3f} / "
            f"{report.nn_similarity_reference:.3f} (median)"
        )
        typer.echo(f"  KS distance of those distributions {report.ks_distance:.3f}")
        typer.echo(report.summary)
    raise typer.Exit(1 if report.drifted else 0)


@app.command("whiten")
@guard
def whiten_cmd(
    data_dir: DataDir = None,
    dim: Annotated[int, typer.Option("--dim", min=8, help="Dimensions to keep.")] = 128,
    shrink: Annotated[
        float,
        typer.Option("--shrink", min=0.0, max=1.0, help="1 = full whitening, 0 = plain PCA."),
    ] = 0.5,
) -> None:
    """Learn PCA-whitening on the catalog and switch to it (no forward pass; a new model id).

    A running API follows the switch; `lookalike reindex --rollback` goes back.
    """
    from engine.whiten import whiten_catalog

    engine = make_engine(data_dir)
    source = engine.active_model_id
    target = whiten_catalog(engine, dim, shrink)
    typer.echo(f"now serving {target} (was {source}); `lookalike reindex --rollback` goes back")
