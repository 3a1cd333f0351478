"""Drift: recent uploads from 'another camera' are flagged, more of the same are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import ImageFilter, ImageOps
from typer.testing import CliRunner

from api.app import create_app
from cli.main import app
from embedder import Embedder
from engine import Engine, EngineError, Source, ingest
from engine.drift import measure_drift
from index import IndexSettings
from tests.images import encode, jpeg, scene


def _engine(path: Path, embedder: Embedder) -> Engine:
    return Engine(
        embedder.settings, IndexSettings(data_dir=path, use_gpu="never"), embedder=embedder
    )


def _other_camera(seed: int) -> bytes:
    """Dim, blurred, grey and upside down: what a misconfigured upstream might send."""
    img = ImageOps.flip(scene(seed).convert("L").filter(ImageFilter.GaussianBlur(4)))
    return encode(img.point(lambda v: v // 3).convert("RGB"), "JPEG")


def test_another_camera_is_flagged_and_more_of_the_same_is_not(
    tmp_path: Path, small_embedder: Embedder
) -> None:
    base = [Source(uri=f"s{i}", data=jpeg(i)) for i in range(80)]
    drifting = _engine(tmp_path / "drift", small_embedder)
    ingest(drifting, base)
    ingest(drifting, [Source(uri=f"o{i}", data=_other_camera(500 + i)) for i in range(30)])
    steady = _engine(tmp_path / "steady", small_embedder)
    ingest(steady, base)
    ingest(steady, [Source(uri=f"n{i}", data=jpeg(500 + i)) for i in range(30)])

    moved, same = measure_drift(drifting, recent=30), measure_drift(steady, recent=30)
    print(f"\ndrift: {moved.summary}\nsteady: {same.summary}")
    assert moved.drifted and not same.drifted
    assert moved.ks_distance > same.ks_distance and moved.mean_shift > same.mean_shift
    assert (moved.recent, moved.reference) == (30, 80)

    result = CliRunner().invoke(app, ["drift", "-d", str(tmp_path / "drift"), "--recent", "30"])
    assert result.exit_code == 1 and "differ from the catalog" in result.output
    with TestClient(create_app(steady)) as client:
        body = client.get("/v1/drift", params={"recent": 30}).json()
        assert body["drifted"] is False and body["recent"] == 30
        too_many = client.get("/v1/drift", params={"recent": 1000})
        assert too_many.status_code == 409 and "at least 1020" in too_many.json()["detail"]
    with pytest.raises(EngineError):
        measure_drift(steady, recent=100)
