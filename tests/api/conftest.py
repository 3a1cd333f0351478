from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from engine import Engine


@pytest.fixture
def api_settings() -> ApiSettings:
    return ApiSettings(
        max_body_bytes=5 * 1024 * 1024,
        max_files_per_request=20,
        max_k=50,
        auth_failures_per_s=0,  # the access tests send hundreds of refused requests on purpose
    )


@pytest.fixture
def client(engine: Engine, api_settings: ApiSettings) -> Iterator[TestClient]:
    """httpx against the ASGI app, lifespan included (index load on start, save on stop)."""
    with TestClient(create_app(engine, api_settings)) as c:
        yield c
