"""Item 2: over HTTP a reindex loads only named weights or a file of the weights folder;
reindex and rollback need admin; bytes that are no image are not kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import KeyRing
from api.settings import ApiSettings
from engine import Engine
from tests.security.conftest import Keyed


def _reindex(client: TestClient, headers: dict[str, str], weights: str) -> dict[str, str]:
    resp = client.post(
        "/v1/reindex", json={"model": "resnet18", "weights": weights}, headers=headers
    )
    return {"status": str(resp.status_code), **resp.json()}


def test_reindex_and_rollback_need_admin(keyed: Keyed) -> None:
    write = keyed.as_("write")
    assert (
        keyed.client.post("/v1/reindex", json={"model": "resnet18"}, headers=write).status_code
        == 403
    )
    assert keyed.client.post("/v1/reindex/rollback", headers=write).status_code == 403


def test_a_path_is_refused_alike_whether_it_exists_or_not(keyed: Keyed, tmp_path: Path) -> None:
    admin = keyed.as_("admin")
    real = tmp_path / "state.pth"
    torch.save({"w": torch.zeros(1)}, real)
    unreadable = tmp_path / "secret.pth"
    unreadable.write_bytes(b"x")
    unreadable.chmod(0)
    answers = [
        _reindex(keyed.client, admin, str(path))
        for path in (real, unreadable, tmp_path / "missing.pth", Path("/etc/passwd"))
    ]
    assert {a["status"] for a in answers} == {"422"}
    assert {a["error"] for a in answers} == {"weights_not_allowed"}
    # the same sentence but for the echoed name: nothing tells whether the file is there
    assert len({a["detail"].split("'")[2] for a in answers}) == 1


def test_a_blob_can_never_become_the_model(keyed: Keyed, engine: Engine) -> None:
    """The attack of the issue: upload a state dict as an image, reindex to its blob."""
    import io

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, buf)
    files = [("files", ("weights.png", buf.getvalue(), "image/png"))]
    up = keyed.client.post("/v1/items", files=files, headers=keyed.as_("write")).json()
    item_id = up["results"][0]["item_id"]
    assert up["results"][0]["status"] == "failed"
    blobs = engine.index_settings.data_dir / "blobs"
    assert not [p for p in blobs.rglob("*") if p.is_file() and item_id in p.name]
    image = keyed.client.get(f"/v1/items/{item_id}/image", headers=keyed.as_("read"))
    assert image.status_code == 404
    row = keyed.client.get(f"/v1/items/{item_id}", headers=keyed.as_("read")).json()
    assert row["status"] == "failed" and row["error"]
    for ref in (f"blobs/{item_id[:2]}/{item_id}", f"../data/blobs/{item_id[:2]}/{item_id}"):
        assert _reindex(keyed.client, keyed.as_("admin"), ref)["error"] == "weights_not_allowed"


@pytest.mark.parametrize("name", ["ok.pth"])
def test_a_file_in_the_weights_folder_is_accepted_by_name(
    engine: Engine, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({"w": torch.zeros(1)}, folder / name)
    ring = KeyRing(engine.store)
    _, admin = ring.create(["admin"])
    settings = ApiSettings(weights_dir=folder, auth_failures_per_s=0)
    with TestClient(create_app(engine, settings)) as client:
        headers = {"Authorization": f"Bearer {admin}"}
        answer = _reindex(client, headers, name)
        # accepted as weights (the empty catalog is what stops it), a link out is not
        assert answer["error"] != "weights_not_allowed", answer
        (folder / "out.pth").symlink_to(tmp_path / "elsewhere.pth")
        torch.save({"w": torch.zeros(1)}, tmp_path / "elsewhere.pth")
        assert _reindex(client, headers, "out.pth")["error"] == "weights_not_allowed"
