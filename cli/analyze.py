"""Commands that look at the catalog as a whole: near-duplicate groups and embedding drift."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import guard
from cli.main import app
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
            help="Calibrated similarity from which two items are near duplicates [default 0.6].",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Report groups of near-duplicate items (resized, re-encoded, cropped or mirrored copies)."""
    from engine.dedup import NEAR_DUPLICATE, duplicate_groups

    engine = make_engine(data_dir)
    catalog = engine.active_catalog()
    groups = duplicate_groups(catalog, NEAR_DUPLICATE if threshold is None else threshold)
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
