"""API keys, scopes and rate limits, checked on every route the OpenAPI schema lists."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.keys import KeyRing
from api.settings import ApiSettings
from cli.main import app as cli_app
from engine import Engine

PUBLIC = ["/health", "/ready", "/openapi.json", "/docs", "/"]
LOWER = {"write": "read", "admin": "write"}


@pytest.fixture
def keyed(engine: Engine, api_settings: ApiSettings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    ring = KeyRing(engine.store)
    tokens = {s: ring.create([s], name=f"test-{s}")[1] for s in ("read", "write", "admin")}
    with TestClient(create_app(engine, api_settings)) as c:
        yield c, tokens


def _operations(client: TestClient) -> list[tuple[str, str, str | None]]:
    schema = client.get("/openapi.json").json()
    ops = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            ops.append((method, re.sub(r"\{[^}]+\}", "x", path), op.get("x-scope")))
    return ops


def test_every_protected_route_needs_a_key_with_its_scope(keyed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = keyed
    ops = _operations(client)
    schema_responses = {
        (method, re.sub(r"\{[^}]+\}", "x", path)): set(op["responses"])
        for path, methods in client.get("/openapi.json").json()["paths"].items()
        for method, op in methods.items()
    }
    v1 = [op for op in ops if op[1].startswith("/v1/")]
    assert all(scope in ("read", "write", "admin") for _, _, scope in v1), v1
    assert Counter(scope for *_, scope in v1).keys() == {"read", "write", "admin"}
    for method, path, scope in v1:
        assert scope is not None
        none = client.request(method, path)
        assert none.status_code == 401, (method, path, none.text)
        assert none.json()["error"] == "unauthorized"
        assert "API key" in none.json()["detail"]
        bad = client.request(method, path, headers={"X-API-Key": "lk_000000000000_nope"})
        assert bad.status_code == 401, (method, path)
        if scope in LOWER:
            weak = {"Authorization": f"Bearer {tokens[LOWER[scope]]}"}
            denied = client.request(method, path, headers=weak)
            assert denied.status_code == 403, (method, path, denied.text)
            assert f"'{scope}' scope" in denied.json()["detail"], (method, path)
        # two credentials that disagree are refused whichever of them is the good one
        for bad_header in ({"X-API-Key": "lk_000000000000_nope"}, {"Authorization": "Bearer x"}):
            good = (
                {"Authorization": f"Bearer {tokens[scope]}"}
                if "X-API-Key" in bad_header
                else {"X-API-Key": tokens[scope]}
            )
            both = client.request(method, path, headers={**good, **bad_header})
            assert both.status_code == 401, (method, path, both.text)
            assert "different keys" in both.json()["detail"]
        allowed = client.request(method, path, headers={"X-API-Key": tokens[scope]})
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)
        documented = schema_responses[(method, path)]
        assert {"401", "403", "429"} <= documented, (method, path, documented)
    assert len(v1) >= 20


def test_public_routes_stay_open(keyed) -> None:  # type: ignore[no-untyped-def]
    client, _ = keyed
    for path in PUBLIC:
        assert client.get(path).status_code in (200, 503), path  # /ready may be 503 in tests
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert set(schemes) == {"ApiKeyHeader", "Bearer"}


def test_keys_over_http_and_revocation(keyed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = keyed
    admin = {"X-API-Key": tokens["admin"]}
    made = client.post("/v1/keys", json={"scopes": ["read"], "name": "shop"}, headers=admin)
    assert made.status_code == 201, made.text
    token, key_id = made.json()["token"], made.json()["key_id"]
    listed = client.get("/v1/keys", headers=admin).json()
    assert key_id in {k["key_id"] for k in listed}
    assert all("token" not in k and "secret_sha256" not in k for k in listed)
    assert client.get("/v1/items", headers={"X-API-Key": token}).status_code == 200
    # the web page sends its key as a cookie
    client.cookies.set("lookalike_key", token)
    assert client.get("/v1/items").status_code == 200
    client.cookies.clear()
    assert client.delete(f"/v1/keys/{key_id}", headers=admin).json()["revoked"] is True
    assert client.get("/v1/items", headers={"X-API-Key": token}).status_code == 401
    assert client.delete("/v1/keys/nosuchkey", headers=admin).status_code == 404
    bad = client.post("/v1/keys", json={"scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422 and "scopes" in bad.json()["detail"]


def test_only_hashes_are_stored(engine: Engine) -> None:
    ring = KeyRing(engine.store)
    _, token = ring.create(["read"])
    stored = (engine.index_settings.data_dir / "lancedb").rglob("*")
    blob = b"".join(p.read_bytes() for p in stored if p.is_file())
    assert token.split("_", 2)[2].encode() not in blob
    assert ring.verify(token) is not None and ring.verify(token + "x") is None


def test_rate_limit_per_key_answers_429_with_retry_after(engine: Engine) -> None:
    ring = KeyRing(engine.store)
    _, slow = ring.create(["read"], rate_per_s=1.0)  # burst of 2
    _, fast = ring.create(["read"])
    with TestClient(create_app(engine, ApiSettings(rate_limit_per_s=1000))) as client:
        codes = [client.get("/v1/items", headers={"X-API-Key": slow}).status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[-1] == 429
        limited = client.get("/v1/items", headers={"X-API-Key": slow})
        assert (
            limited.json()["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
        )
        # another key has its own bucket
        assert client.get("/v1/items", headers={"X-API-Key": fast}).status_code == 200


def test_serve_without_keys_refuses_to_bind_beyond_localhost(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path), "--inline"]
    )
    assert result.exit_code == 2
    assert "No API keys exist" in result.output and "lookalike keys create" in result.output


def test_cors_is_off_unless_configured(client: TestClient) -> None:
    pre = client.options(
        "/v1/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in pre.headers
