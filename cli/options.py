"""Options shared by the commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic_settings import BaseSettings

from embedder import EmbedderSettings, list_backbones
from engine import Engine
from index import IndexSettings
from workers.settings import WorkerSettings

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


RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        help="Broker (env LOOKALIKE_REDIS_URL); redis://host:6379/0 or redis+socket:///path.sock.",
    ),
]

S = TypeVar("S", bound=BaseSettings)


def settings_with(cls: type[S], **given: Any) -> S:
    """Settings read from LOOKALIKE_* variables, with the options given on the command line
    (those not None) winning: the one rule every command follows."""
    return cls(**{k: v for k, v in given.items() if v is not None})


def worker_settings(redis_url: str | None) -> WorkerSettings:
    return settings_with(WorkerSettings, redis_url=redis_url)


def make_engine(
    data_dir: Path | None = None,
    model: str | None = None,
    weights: str | None = None,
    pooling: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    input_size: int | None = None,
) -> Engine:
    embedder = settings_with(
        EmbedderSettings,
        model=model,
        weights=weights,
        pooling=pooling,
        device=device,
        batch_size=batch_size,
        input_size=input_size,
    )
    return Engine(embedder, settings_with(IndexSettings, data_dir=data_dir))
