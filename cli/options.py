"""Options shared by the commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedder import EmbedderSettings, list_backbones
from engine import Engine
from index import IndexSettings

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        help="Catalog folder (env LOOKALIKE_DATA_DIR; default ./lookalike-data).",
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=f"Backbone: {', '.join(list_backbones())} (default resnet50).",
    ),
]
Weights = Annotated[
    str | None,
    typer.Option(
        "--weights",
        "-w",
        help="default (pretrained, from TORCH_HOME's cache or a download), a weights name such "
        "as imagenet1k_v1, a PATH to a state-dict file, or none (random init).",
    ),
]
Pooling = Annotated[str | None, typer.Option("--pooling", help="gem (default) or avg.")]
Device = Annotated[str | None, typer.Option("--device", help="auto (default), cpu, cuda, cuda:N.")]
BatchSize = Annotated[
    int | None, typer.Option("--batch-size", "-b", help="Images per forward pass.")
]
InputSize = Annotated[
    int | None,
    typer.Option(
        "--input-size",
        help="Embed whole images, longer side resized to this (e.g. 448) instead of the "
        "classifier's centre crop (env LOOKALIKE_INPUT_SIZE).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def make_engine(
    data_dir: Path | None = None,
    model: str | None = None,
    weights: str | None = None,
    pooling: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    input_size: int | None = None,
) -> Engine:
    """Settings come from LOOKALIKE_* variables; options given on the command line win."""
    emb_over = {
        k: v
        for k, v in dict(
            model=model,
            weights=weights,
            pooling=pooling,
            device=device,
            batch_size=batch_size,
            input_size=input_size,
        ).items()
        if v is not None
    }
    idx_over = {"data_dir": data_dir} if data_dir is not None else {}
    return Engine(EmbedderSettings(**emb_over), IndexSettings(**idx_over))
