"""Item 4: a manifest's paths stay in its folder unless --allow-outside is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.ingest import from_manifest
from tests.images import jpeg


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    inside, outside = tmp_path / "shop", tmp_path / "private"
    inside.mkdir()
    outside.mkdir()
    (inside / "a.jpg").write_bytes(jpeg(1))
    (outside / "secret.txt").write_text("not for you")
    (inside / "link.jpg").symlink_to(outside / "secret.txt")
    return inside, outside


@pytest.mark.parametrize("ref", ["../private/secret.txt", "{outside}/secret.txt", "link.jpg"])
def test_paths_outside_the_manifest_folder_are_refused(
    folders: tuple[Path, Path], ref: str
) -> None:
    from engine.errors import OutsideFolderError

    inside, outside = folders
    (inside / "m.txt").write_text(f"a.jpg\n{ref.format(outside=outside)}\n")
    with pytest.raises(OutsideFolderError, match="outside the manifest's folder"):
        from_manifest(inside / "m.txt")
    assert len(from_manifest(inside / "m.txt", allow_outside=True)) == 2


def test_the_cli_refuses_in_a_sentence_and_allows_when_asked(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    inside, _ = folders
    (inside / "m.csv").write_text("path\na.jpg\n../private/secret.txt\n")
    args = ["ingest", "--manifest", str(inside / "m.csv"), "--data-dir", str(tmp_path / "d"),
            "--model", "resnet18", "--weights", "none", "--device", "cpu"]  # fmt: skip
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0
    assert "--allow-outside" in refused.output and "Traceback" not in refused.output
    allowed = CliRunner().invoke(app, [*args, "--allow-outside", "--json"])
    assert allowed.exit_code == 0, allowed.output
