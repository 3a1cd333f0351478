"""The event loop never waits on LanceDB, the filesystem or a large parse: every route is
driven, with keys on and with the largest inputs the limits allow (and some beyond), on a
loop in asyncio's debug mode, which logs each step that holds the loop over 100 ms."""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import KeyRing
from api.settings import ApiSettings
from engine import Engine
from tests.images import jpeg

SLOW = 0.1
# Built before the server's loop runs: making them in the test's thread would hold the GIL,
# and so the loop, for as long as it takes, which is the test's doing and not the server's.
BIG_FILTER = json.dumps({"positive_ids": [], "filter": {f"k{n}": n for n in range(200_000)}})
IN_FILTER = json.dumps({"colour": {"in": [f"c{n}" for n in range(1000)]}})
BOMB = json.dumps(
    {"cursor": base64.urlsafe_b64encode(zlib.compress(b"[" * (256 * 1024 * 1024), 9)).decode()}
)
JSON = {"Content-Type": "application/json"}
BATCH = json.dumps(
    [
        {"files": [n % 8], "positive_ids": "IDS", "filter": json.loads(IN_FILTER), "k": 10}
        for n in range(32)
    ]
)


@pytest.fixture
def debug_client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    _, admin = KeyRing(engine.store).create(["admin"])
    app = create_app(engine, ApiSettings(auth_failures_per_s=0, backup_dir=tmp_path / "backups"))
    with TestClient(app, backend_options={"debug": True}) as client:
        client.portal.call(_set_slow)  # type: ignore[union-attr]
        client.headers["Authorization"] = f"Bearer {admin}"
        yield client


async def _set_slow() -> None:
    import asyncio

    asyncio.get_running_loop().slow_callback_duration = SLOW


def test_no_route_holds_the_loop(
    debug_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = debug_client
    files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(8)]
    ids = [r["item_id"] for r in client.post("/v1/items", files=files).json()["results"]]
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="asyncio")
    in_filter = IN_FILTER
    big_filter = BIG_FILTER.replace('"positive_ids": []', f'"positive_ids": {json.dumps(ids)}')
    first = client.post("/v1/search", json={"positive_ids": ids[:1], "k": 2}).json()
    for turn in range(3):  # the key ring re-reads the keys table every second: rounds
        client.get("/v1/items", params={"limit": 5})
        client.get(f"/v1/items/{ids[0]}")
        client.get(f"/v1/items/{ids[0]}/thumbnail")
        client.get(f"/v1/items/{ids[0]}/similar", params={"filter": in_filter})
        client.post("/v1/search", json={"positive_ids": ids, "filter": json.loads(in_filter)})
        client.post("/v1/search", json={"cursor": first["next_cursor"]})
        client.post("/v1/search", content=BOMB, headers=JSON)
        client.post("/v1/search", content=big_filter, headers=JSON)
        client.post(
            "/v1/search/image",
            files=[("files", ("q.jpg", jpeg(3), "image/jpeg"))],
            data={"filter": in_filter, "positive_ids": ids[:4]},
        )
        batch = client.post(  # the largest batch: 32 queries, 8 files, each with a filter
            "/v1/search/batch",
            files=files,
            data={"queries": BATCH.replace('"IDS"', json.dumps(ids[:4]))},
        )
        assert batch.status_code == 200, batch.text
        groups = client.get("/v1/duplicates", params={"limit": 100, "threshold": 0.0})
        assert groups.status_code == 200, groups.text
        tagged = client.post(
            "/v1/duplicates/resolve",
            json={"keep": ids[0], "others": ids[6:], "action": "tag"},
        )
        assert tagged.status_code == 200, tagged.text
        made = client.post("/v1/admin/snapshots", json={"name": f"b{turn}"})
        assert made.status_code == 201, made.text
        assert client.get("/v1/admin/snapshots").status_code == 200
        client.patch(f"/v1/items/{ids[1]}", json={"metadata": {"colour": "red"}})
        client.get("/v1/keys")
        client.get("/v1/jobs")
        client.get("/v1/reindex")
        client.get("/ready")
        client.get("/metrics")
        import time

        time.sleep(1.0)
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert slow == [], "the event loop was held:\n" + "\n".join(slow)
