"""`lookalike doctor` says in one line per check what is wrong and how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
SMALL = ["--model", "resnet18", "--weights", "none"]


def test_a_fresh_setup_is_healthy(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "-d", str(tmp_path), *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert set(checks) >= {"weights", "cuda", "faiss-gpu", "redis", "workers", "lancedb", "index"}
    assert (
        checks["weights"]["status"] == "ok"
        and "resnet18.none.gem.512" in checks["weights"]["detail"]
    )


def test_unreachable_redis_and_mismatched_model_fail_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["ingest", str(tmp_path / "nothing"), "-d", str(tmp_path), *SMALL])
    from engine import Engine
    from index import ACTIVE_MODEL, IndexSettings

    Engine(index_settings=IndexSettings(data_dir=tmp_path)).store.set_state(
        ACTIVE_MODEL, "resnet34.none.gem.512"
    )
    monkeypatch.setenv("LOOKALIKE_REDIS_URL", f"redis+socket://{tmp_path}/no.sock")
    result = runner.invoke(app, ["doctor", "-d", str(tmp_path), *SMALL])
    assert result.exit_code == 1
    lines = {ln.split()[1]: ln for ln in result.output.splitlines() if ln.strip()}
    assert lines["redis"].startswith("FAIL") and "LOOKALIKE_REDIS_URL" in lines["redis"]
    assert lines["model"].startswith("FAIL") and "reindex" in lines["model"]


def test_a_data_folder_that_cannot_be_written_fails(tmp_path: Path) -> None:
    """Tried, not guessed: root passes every mode check. The probe's name is taken by a
    folder here, so the write fails as it would on a read-only mount."""
    import os

    runner.invoke(app, ["doctor", "-d", str(tmp_path), *SMALL, "--json"])
    (tmp_path / f".doctor-{os.getpid()}.tmp").mkdir()
    result = runner.invoke(app, ["doctor", "-d", str(tmp_path), *SMALL, "--json"])
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert checks["data folder"]["status"] == "fail", checks["data folder"]
    assert "not writable" in checks["data folder"]["detail"]
