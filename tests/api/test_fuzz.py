"""Property-based fuzzing of the running API with schemathesis, over real HTTP: every
generated request, valid or not, gets an answer that is not a 5xx and matches the schema."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from api.keys import KeyRing
from engine import Engine
from index import IndexSettings
from tests.api.server import Server
from tests.images import jpeg

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 50


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data = tmp_path_factory.mktemp("fuzz")
    # An admin key from the start: a fuzzed POST /v1/keys cannot lock the fuzzer out.
    store = Engine(index_settings=IndexSettings(data_dir=data)).store
    _, token = KeyRing(store).create(["admin"], name="fuzzer")
    server = Server(data)
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(4)]
    httpx.post(server.url + "/v1/items", files=files, headers={"X-API-Key": token}, timeout=60)
    yield server, token
    server.stop()


def test_api_never_fails_and_matches_its_schema(fuzz_server: tuple[Server, str]) -> None:
    """Every operation of the schema, EXAMPLES_PER_OPERATION generated cases each."""
    server, token = fuzz_server
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    cases: Counter[str] = Counter()
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same cases on every run: a failure can be replayed
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=server.url, headers={"X-API-Key": token}, checks=checks, timeout=60
            )
            cases[f"{case.method} {case.path}"] += 1

        run()
    total = sum(cases.values())
    print(f"\nschemathesis: {total} cases over {len(cases)} operations, no 5xx, schema kept")
    assert len(cases) >= 20 and total >= 1000, cases


def test_fuzzing_left_the_server_healthy(fuzz_server: tuple[Server, str], tmp_path: Path) -> None:
    server, _ = fuzz_server
    assert httpx.get(server.url + "/health").status_code == 200
