"""Shared pieces: the image set, the model-only forward rate, and printing a table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from embedder import Embedder
from engine import Source

OXFORD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "oxford5k-gt" / "images"


def image_sources(folder: Path | None, limit: int) -> tuple[list[Source], str]:
    """JPEG files from `folder` (default: the Oxford set when present), else synthetic ones."""
    folder = folder or (OXFORD if OXFORD.is_dir() else None)
    if folder is not None:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:limit]
        return [Source(uri=str(p), path=p) for p in files], f"{len(files)} images from {folder}"
    import io

    from PIL import Image

    sources = []
    for i in range(limit):
        img = Image.effect_mandelbrot((512, 384), (-2 + i * 1e-3, -1.2, 1, 1.2), 60).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        sources.append(Source(uri=f"synthetic:{i}", data=buf.getvalue()))
    return sources, f"{limit} synthetic 512x384 JPEGs"


def forward_rate(
    embedder: Embedder, batch_sizes: Sequence[int], seconds: float = 3.0
) -> dict[int, float]:
    """Model-only images/s per batch size: preprocessed tensors in, vectors out."""
    size = embedder.transform(Image.new("RGB", (256, 256))).shape
    rates: dict[int, float] = {}
    for bs in batch_sizes:
        batch = [torch.rand(size) for _ in range(bs)]
        saved = embedder.settings.batch_size
        embedder.settings.batch_size = bs
        try:
            embedder.embed_tensors(batch)  # warm-up
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                embedder.embed_tensors(batch)
                n += bs
            rates[bs] = n / (time.perf_counter() - start)
        finally:
            embedder.settings.batch_size = saved
    return rates


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    print(f"\n{title}")
    width = max(len(r["figure"]) for r in rows)
    for r in rows:
        target = f"  (target {r['target']})" if r.get("target") else ""
        print(f"  {r['figure']:<{width}}  {r['value']:>10}{target}")
