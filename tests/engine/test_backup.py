"""Backups through the public interfaces: a served catalog backed up over HTTP, half of it
deleted, the backup restored by `lookalike snapshot restore` into a new data folder and
served again: every item, vector, image and search answer is back, the API key too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.keys import KeyRing
from api.settings import ApiSettings
from cli.main import app as cli
from embedder import Embedder
from engine import Engine
from index import IndexSettings
from tests.images import jpeg

runner = CliRunner()


def _engine(folder: Path, embedder: Embedder) -> Engine:
    settings = IndexSettings(data_dir=folder, use_gpu="never")
    return Engine(embedder.settings, settings, embedder=embedder)


def _answers(client: TestClient, ids: list[str]) -> dict[str, Any]:
    """What a client sees of each item: its row, vector, image and nearest neighbours."""
    seen: dict[str, Any] = {}
    for item_id in ids:
        item = client.get(f"/v1/items/{item_id}", params={"include": "vector"}).json()
        similar = client.get(f"/v1/items/{item_id}/similar", params={"k": 5}).json()["hits"]
        image = client.get(f"/v1/items/{item_id}/image").content
        seen[item_id] = (
            {k: item[k] for k in ("client_key", "product", "metadata", "status", "vector")},
            [(h["item_id"], round(h["score"], 5)) for h in similar],
            image,
        )
    return seen


def test_backup_delete_half_restore_and_everything_is_back(
    tmp_path: Path, small_embedder: Embedder
) -> None:
    served = _engine(tmp_path / "served", small_embedder)
    _, token = KeyRing(served.store).create(["admin"], "ops")
    auth = {"Authorization": f"Bearer {token}"}
    settings = ApiSettings(backup_dir=tmp_path / "backups")
    with TestClient(create_app(served, settings), headers=auth) as client:
        files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(12)]
        data = {"products": [f"P{i // 3}" for i in range(12)], "metadata": '{"shop": "x"}'}
        up = client.post("/v1/items", files=files, data=data).json()
        ids = [r["item_id"] for r in up["results"]]
        before = _answers(client, ids)
        served.catalog.save()  # the index snapshot the backup takes along
        made = client.post("/v1/admin/snapshots", json={"name": "nightly"})
        assert made.status_code == 201, made.text
        assert made.json()["tables"]["items"] == 12 and made.json()["images"] == 12
        assert made.json()["indexes"] == [served.catalog.model_id]
        assert [b["name"] for b in client.get("/v1/admin/snapshots").json()] == ["nightly"]
        again = client.post("/v1/admin/snapshots", json={"name": "nightly"})
        assert again.status_code == 409 and "already holds a backup" in again.json()["detail"]
        bad = client.post("/v1/admin/snapshots", json={"name": "../etc"})
        assert bad.status_code == 422
        for item_id in ids[::2]:  # half of the catalog goes
            assert client.delete(f"/v1/items/{item_id}").status_code == 204

    backup = tmp_path / "backups" / "nightly"
    restored = tmp_path / "restored"
    done = runner.invoke(cli, ["snapshot", "restore", str(backup), "-d", str(restored)])
    assert done.exit_code == 0, done.output
    assert "restored into" in done.output and "12 items" in done.output
    again_served = _engine(restored, small_embedder)
    with TestClient(create_app(again_served), headers=auth) as client:
        assert _answers(client, ids) == before  # the key works: the keys table came back
    # the index came in the backup: loaded, checked against the tables, not trained again
    assert again_served.catalog.loaded_from == "disk"
    assert again_served.catalog.catch_ups["rescan"] == 1

    # a second restore into a home that holds a catalog, and a backup of another schema
    twice = runner.invoke(cli, ["snapshot", "restore", str(backup), "-d", str(restored)])
    assert twice.exit_code != 0 and "already holds a catalog" in twice.output
    old = tmp_path / "old"
    shutil.copytree(backup, old)
    manifest = json.loads((old / "backup.json").read_text())
    (old / "backup.json").write_text(json.dumps({**manifest, "schema_version": 1}))
    refused = runner.invoke(cli, ["snapshot", "restore", str(old), "-d", str(tmp_path / "new")])
    assert refused.exit_code != 0
    assert "has schema version 1 and this Lookalike reads version 2" in refused.output
    assert refused.output.strip().count("\n") == 0  # one sentence, one line


def test_a_backup_from_the_command_line_to_object_storage(
    tmp_path: Path, small_embedder: Embedder, s3_env: dict[str, str], monkeypatch: Any
) -> None:
    """The same copy to an s3:// URI (moto's server) and back into a local folder."""
    served = _engine(tmp_path / "served", small_embedder)
    with TestClient(create_app(served)) as client:
        files = [("files", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(4)]
        ids = [r["item_id"] for r in client.post("/v1/items", files=files).json()["results"]]
    for key, value in s3_env.items():
        if key.startswith("LOOKALIKE_STORAGE"):
            monkeypatch.setenv(key, value)
    uri = s3_env["LOOKALIKE_DATA_URI"] + "/backup"
    made = runner.invoke(cli, ["snapshot", "create", uri, "-d", str(tmp_path / "served"), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["images"] == 4
    back = runner.invoke(cli, ["snapshot", "restore", uri, "-d", str(tmp_path / "back")])
    assert back.exit_code == 0, back.output
    with TestClient(create_app(_engine(tmp_path / "back", small_embedder))) as client:
        assert sorted(i["id"] for i in client.get("/v1/items").json()["items"]) == sorted(ids)
