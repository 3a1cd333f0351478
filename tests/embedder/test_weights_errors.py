"""Weights that cannot be used say why in one sentence: a damaged cached file, a download
whose hash does not match; neither is reported as 'not reachable'."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import torch

from embedder import WeightsUnavailableError
from embedder.weights import load_torchvision


def test_a_damaged_cached_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "resnet18-f37072fd.pth").write_bytes(b"half a download")
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    with pytest.raises(WeightsUnavailableError, match=r"is damaged.*delete it") as err:
        load_torchvision(url, "resnet18", allow_download=False)
    assert str(err.value).count(". ") == 0  # one sentence


def test_a_download_with_the_wrong_hash_says_so(
    tmp_path: Path, web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    wrong = "0123abcd"
    assert not hashlib.sha256(buf.getvalue()).hexdigest().startswith(wrong)
    served = tmp_path / "site" / f"net-{wrong}.pth"  # the web fixture serves tmp_path/site
    served.write_bytes(buf.getvalue())
    with pytest.raises(WeightsUnavailableError, match="do not match their published hash"):
        load_torchvision(f"{web}/net-{wrong}.pth", "net", allow_download=True)
