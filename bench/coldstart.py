"""Cold start of the API over a large catalog: from process start to `/ready`.

A catalog of synthetic clustered vectors (and an item row each) is written straight to
LanceDB, in bulk, as a finished ingest would leave it; the product then builds and saves its
index once (timed: the first start, or a reindex, pays it). Then `lookalike serve --inline`
is started twice on it and on an empty catalog, and the seconds to `/ready` compared: the
difference is what a million vectors add to a start when the saved index matches. Beside
them, a bare interpreter importing the server's third-party libraries and nothing else: the
floor no start of this server can go below on this machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.catalog import populate
from bench.server import ServeProcess
from embedder import EmbedderSettings
from index import Catalog, IndexSettings, Store

MODELS = {2048: "resnet50", 512: "resnet18"}  # random-init backbones with these widths
# what `lookalike serve` imports from others before it can answer (uvicorn, FastAPI, the model
# zoo, LanceDB, FAISS): measured alone, so the table can say how much of a start is ours
THIRD_PARTY = "import torch, torchvision, lancedb, faiss, fastapi, uvicorn"


def _import_floor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", THIRD_PARTY], check=True)
    return time.perf_counter() - started


def _time_to_ready(data_dir: Path, model: str) -> float:
    started = time.perf_counter()
    server = ServeProcess(
        data_dir, model=["--inline", "--model", model, "--weights", "none", "--device", "cpu"]
    )
    seconds = time.perf_counter() - started
    server.stop()
    return seconds


def run(count: int, dim: int) -> dict[str, Any]:
    result: dict[str, Any] = {"count": count, "dim": dim, "model": MODELS[dim]}
    with tempfile.TemporaryDirectory(prefix="lookalike-cold-") as tmp:
        full, empty = Path(tmp) / "full", Path(tmp) / "empty"
        settings = EmbedderSettings(model=MODELS[dim], weights="none", device="cpu")
        model_id = f"{settings.model}.none.gem.{dim}"
        started = time.perf_counter()
        populate(full, count, settings, model_id, dim)
        result["populate_s"] = time.perf_counter() - started
        started = time.perf_counter()
        catalog = Catalog(Store(full / "lancedb"), model_id, dim, IndexSettings(data_dir=full))
        catalog.save()
        result["build_s"] = time.perf_counter() - started
        result["index"] = catalog.index.plan.describe()
        del catalog
        populate(empty, 0, settings, model_id, dim)
        # interleaved, so drift on a shared machine moves all three alike
        floor, empty_s, full_s = [], [], []
        for _ in range(3):
            floor.append(_import_floor())
            empty_s.append(_time_to_ready(empty, MODELS[dim]))
            full_s.append(_time_to_ready(full, MODELS[dim]))
        result["imports_s"] = min(floor)
        result["empty_ready_s"] = min(empty_s)
        result["ready_s"] = min(full_s)
    return result


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"figure": "index kind", "value": result["index"]},
        {"figure": "first build and save (s)", "value": f"{result['build_s']:.0f}"},
        {"figure": "third-party imports alone (s)", "value": f"{result['imports_s']:.1f}"},
        {"figure": "serve to /ready, empty catalog (s)", "value": f"{result['empty_ready_s']:.1f}"},
        {
            "figure": f"serve to /ready, {result['count']:,} vectors (s)",
            "value": f"{result['ready_s']:.1f}",
            "target": "< 5",
        },
        {
            "figure": "of which not imports (s)",
            "value": f"{result['ready_s'] - result['imports_s']:.1f}",
        },
    ]
