"""`lookalike export`: every item with its vector, streamed to Parquet or JSON lines, the
vectors the same as the store's and the file whole or absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from engine import Engine, Source, ingest
from tests.images import jpeg

runner = CliRunner()


def test_export_streams_every_item_with_its_vector(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [Source(uri=f"s{i}", data=jpeg(i), client_key=f"k{i}") for i in range(7)]
    ingest(engine, [*sources, Source(uri="bad", data=b"not an image")])
    data = str(engine.index_settings.data_dir)
    monkeypatch.setattr("engine.export.PAGE", 3)  # several pages, as a large catalog has
    out = runner.invoke(app, ["export", str(tmp_path / "c.parquet"), "-d", data])
    assert out.exit_code == 0, out.output
    assert "8 items written" in out.output
    lines = runner.invoke(app, ["export", str(tmp_path / "c.jsonl"), "--format", "jsonl",
                                "-d", data])  # fmt: skip
    assert lines.exit_code == 0, lines.output
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.num_rows == 8 and len(set(table.column("id").to_pylist())) == 8
    rows = [json.loads(ln) for ln in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == table.column("id").to_pylist()
    model = engine.active_model_id
    stored = engine.catalog.vectors_of([r["id"] for r in rows if r["vector"]])
    assert len(stored) == 7
    for row in rows:
        if row["status"] == "failed":
            assert row["vector"] is None and row["model_id"] is None
        else:
            assert row["model_id"] == model and row["client_key"].startswith("k")
            assert np.allclose(row["vector"], stored[row["id"]], atol=1e-6)
    assert not list(tmp_path.glob(".*.part"))  # the partial file was renamed or removed
    bad = runner.invoke(app, ["export", str(tmp_path / "x"), "--format", "csv", "-d", data])
    assert bad.exit_code == 2 and "csv" in bad.output
