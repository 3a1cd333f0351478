"""`lookalike export`: the catalog with its vectors, to a file."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from cli.app import app
from cli.common import guard
from cli.options import DataDir, make_engine


class ExportFormat(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"


@app.command("export")
@guard
def export_cmd(
    path: Annotated[Path, typer.Argument(help="The file to write (replaced when it exists).")],
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="parquet (columns) or jsonl (a JSON object a line)."),
    ] = ExportFormat.parquet,
    data_dir: DataDir = None,
) -> None:
    """Write every item (id, client key, status, metadata) with its vector under the active
    model, streamed a page at a time, with a progress bar."""
    from engine.export import export_catalog

    engine = make_engine(data_dir)
    total = sum(engine.store.status_counts().values())
    with tqdm(total=total, unit="item", file=sys.stderr) as bar:
        written = export_catalog(engine, path, fmt.value, bar.update)
    typer.echo(f"{written} items written to {path}")
