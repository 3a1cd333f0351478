"""The whole flow with the catalog on a real S3 API (moto's server on loopback): `lookalike
serve` and its worker process keep nothing but caches on their local disks, and a second
host with an empty disk serves the same catalog from the index snapshot the first saved."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.client import LookalikeClient
from bench.server import SMALL_MODEL, ServeProcess
from cli.main import app
from tests.images import jpeg

pytestmark = pytest.mark.slow
OLD, NEW = "resnet18.none.gem-s64.512", "resnet18.none.avg-s64.512"  # 64-pixel inputs


def _wait_for_model(url: str, model_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while (ready := httpx.get(url + "/ready").json()).get("model_id") != model_id:
        assert time.monotonic() < deadline, ready
        time.sleep(0.2)
    return ready


def test_upload_ingest_search_edit_reindex_and_restart_elsewhere_on_s3(
    tmp_path: Path, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    env = {**s3_env, "LOOKALIKE_INPUT_SIZE": "64"}  # small inputs: the test is about storage
    first = ServeProcess(host_a, env=env)
    try:
        with LookalikeClient(first.url) as client:
            keys = [f"k{i}" for i in range(8)]
            up = client.upload([jpeg(i) for i in range(8)], client_keys=keys, products="shoe")
            assert up.added == 8  # embedded by the worker process, which read the blobs from S3
            ids = [r.item_id for r in up.results]
            assert client.search_image(jpeg(3), k=3).hits[0].item_id != ids[3]  # self left out
            # the client's own product and region arguments: one product of seven photos
            grouped = client.search_image(jpeg(3), box=(0, 0, 0.5, 1), group_by="product")
            assert grouped.groups is not None and [g.product for g in grouped.groups] == ["shoe"]
            batch = client.search_batch(
                [{"files": [0], "k": 2}, {"positive_ids": [ids[5]]}], [jpeg(3)]
            )
            assert [len(r.hits) for r in batch.results] == [2, 7]
            patched = httpx.patch(f"{first.url}/v1/items/{ids[1]}", json={"metadata": {"c": "b"}})
            assert patched.status_code == 200, patched.text
            client.delete(ids[0])
            near = [h.item_id for h in client.similar(ids[2], k=7).hits]
            assert ids[0] not in near and len(near) == 6
        code, out = first.stop()  # saves the index snapshot, and publishes it to the store
        assert code == 0, out
    finally:
        if first.proc.poll() is None:
            first.stop()
    local = {p.name for p in host_a.iterdir()}
    assert not local & {"lancedb", "blobs", "cursor.key"}, local  # only caches and logs here

    second = ServeProcess(host_b, env=env)  # another host: an empty local disk
    try:
        assert httpx.get(second.url + "/ready").json()["indexed"] == 7
        # the snapshot was downloaded into the local cache (a rebuild saves nothing at start)
        assert list((host_b / "indexes" / OLD).glob("v*/manifest.json"))
        with LookalikeClient(second.url) as client:
            assert client.item(ids[1]).metadata == {"c": "b"}
            near = [h.item_id for h in client.similar(ids[2], k=7).hits]
            assert ids[0] not in near and len(near) == 6

            for key, value in s3_env.items():
                monkeypatch.setenv(key, value)
            doctor = CliRunner().invoke(
                app, ["doctor", "-d", str(tmp_path / "host-c"), *SMALL_MODEL[:4], "--json"]
            )
            checks = {c["name"]: c for c in json.loads(doctor.output)}
            for name in ("object store", "lancedb", "index"):
                assert checks[name]["status"] == "ok", checks[name]
            assert "7 vectors" in checks["index"]["detail"]

            started = httpx.post(
                second.url + "/v1/reindex",
                json={"model": "resnet18", "weights": "none", "pooling": "avg"},
            )
            assert started.status_code == 202, started.text
            assert _wait_for_model(second.url, NEW)["indexed"] == 7
            hits = httpx.post(
                second.url + "/v1/search/image",
                files=[("files", ("q.jpg", jpeg(4), "image/jpeg"))],
                data={"k": "1", "exclude_self": "false"},
            ).json()
            assert hits["model_id"] == NEW and hits["hits"][0]["item_id"] == ids[4]
    finally:
        second.stop()
