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
    assert set(services) == {"redis", "minio", "minio-init", "api", "lb", "worker"}
    assert services["redis"]["command"][0] == "redis-server"
    assert "--appendonly" in services["redis"]["command"]  # queued tasks survive a restart
    assert services["minio"]["command"][:2] == ["server", "/data"]
    assert "mc mb --ignore-existing store/lookalike" in services["minio-init"]["command"][0]
    api, worker = services["api"], services["worker"]
    assert api["command"][:2] == ["lookalike", "serve"] and "0.0.0.0" in api["command"]
    assert api["command"][api["command"].index("--workers") + 1] == "0"  # workers run apart
    assert worker["command"][:2] == ["lookalike", "worker"]
    for name in ("api", "worker"):  # or --scale api=2 --scale worker=4 could not work
        assert "container_name" not in services[name] and "ports" not in services[name]
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"


def test_the_load_balancer_finds_every_api_replica(compose: dict) -> None:
    lb = compose["services"]["lb"]
    assert lb["image"].startswith("caddy:") and lb["ports"] == ["8000:8000"]
    assert lb["volumes"] == ["./deploy/Caddyfile:/etc/caddy/Caddyfile:ro"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "dynamic a api 8000" in caddyfile  # re-resolved: replicas added by --scale join
    assert "health_uri /ready" in caddyfile


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


def test_api_and_workers_share_the_catalog_on_object_storage_not_a_volume(compose: dict) -> None:
    from index import IndexSettings

    services = compose["services"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["LOOKALIKE_REDIS_URL"] == "redis://redis:6379/0"
        assert env["LOOKALIKE_DATA_URI"] == "s3://lookalike/catalog"
        assert env["LOOKALIKE_STORAGE_ENDPOINT"] == "http://minio:9000"
        assert services[name]["volumes"] == ["models:/models"]  # weights only, read by each
        fields = {k.removeprefix("LOOKALIKE_").lower(): v for k, v in env.items()}
        settings = IndexSettings(**fields)  # every variable is one the settings know
        assert settings.data_uri == "s3://lookalike/catalog" and settings.storage_secret_access_key
    assert set(compose["volumes"]) == {"models", "redis-data", "minio-data"}
    assert "minio-data:/data" in services["minio"]["volumes"]


def test_dockerfile_builds_the_gpu_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "nvidia/cuda" in text and "cudnn" in text
    assert 'pip install ".[gpu]"' in text
    assert "python3.11" in text
    assert 'CMD ["lookalike", "serve"' in text
