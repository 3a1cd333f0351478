"""docker-compose.yml and the Dockerfile, checked without a Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_their_commands(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "api", "worker"}
    assert services["redis"]["command"][0] == "redis-server"
    assert "--appendonly" in services["redis"]["command"]  # queued tasks survive a restart
    api, worker = services["api"], services["worker"]
    assert api["command"][:2] == ["lookalike", "serve"] and "0.0.0.0" in api["command"]
    assert api["command"][api["command"].index("--workers") + 1] == "0"  # workers run apart
    assert worker["command"][:2] == ["lookalike", "worker"]
    assert "container_name" not in worker  # or --scale worker=N could not work
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_commands_are_real_cli_invocations(compose: dict) -> None:
    runner = CliRunner()
    for name in ("api", "worker"):
        argv = compose["services"][name]["command"][1:]
        result = runner.invoke(app, [*argv, "--help"])
        assert result.exit_code == 0, f"{name}: {result.output}"


def test_worker_reserves_a_gpu(compose: dict) -> None:
    devices = compose["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert compose["services"]["worker"]["environment"]["LOOKALIKE_DEVICE"] == "cuda"


def test_api_and_workers_share_data_and_broker(compose: dict) -> None:
    services = compose["services"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["LOOKALIKE_REDIS_URL"] == "redis://redis:6379/0"
        assert env["LOOKALIKE_DATA_DIR"] == "/data"
        assert "lookalike-data:/data" in services[name]["volumes"]
    assert {"lookalike-data", "models", "redis-data"} <= set(compose["volumes"])
    assert services["api"]["ports"] == ["8000:8000"]


def test_dockerfile_builds_the_gpu_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "nvidia/cuda" in text and "cudnn" in text
    assert 'pip install ".[gpu]"' in text
    assert "python3.11" in text
    assert 'CMD ["lookalike", "serve"' in text
