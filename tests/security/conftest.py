"""An app with keys of every scope, over the ASGI interface (real LanceDB, real FAISS)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import KeyRing
from api.settings import ApiSettings
from engine import Engine


@dataclass
class Keyed:
    client: TestClient
    tokens: dict[str, str]
    ids: dict[str, str]
    ring: KeyRing

    def as_(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(max_k=50, auth_failures_per_s=0)


@pytest.fixture
def keyed(engine: Engine, settings: ApiSettings) -> Iterator[Keyed]:
    ring = KeyRing(engine.store)
    made = {s: ring.create([s], name=f"test-{s}") for s in ("read", "write", "admin")}
    tokens = {s: token for s, (_, token) in made.items()}
    ids = {s: key.key_id for s, (key, _) in made.items()}
    with TestClient(create_app(engine, settings)) as client:
        yield Keyed(client, tokens, ids, ring)


@pytest.fixture
def client(engine: Engine, settings: ApiSettings) -> Iterator[TestClient]:
    """The app without any key (a fresh catalog)."""
    with TestClient(create_app(engine, settings)) as c:
        yield c
