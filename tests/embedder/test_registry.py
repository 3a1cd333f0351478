"""A backbone is one decorated function: registered, it is in the settings, the CLI help and
the API's reindex schema with no other change (in a child process: the registry is global)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from embedder import EmbedderSettings, UnknownModelError, backbone_entry, list_backbones

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, tempfile
from pathlib import Path
from torch import nn
from torchvision import transforms as T
from embedder import Backbone, EmbedderSettings, register_backbone

@register_backbone("tiny_test_net", weights=["toy"])
def tiny(weights: str, allow_download: bool) -> Backbone:
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.ReLU())
    transform = T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor()])
    return Backbone("tiny_test_net", trunk, transform, 8, weights, 32)

from typer.testing import CliRunner
from cli.main import app as cli
from api.app import create_app
from engine import Engine
from index import IndexSettings

settings = EmbedderSettings(model="tiny_test_net", weights="none")
help_text = CliRunner().invoke(cli, ["ingest", "--help"], terminal_width=200).output
data = Path(tempfile.mkdtemp())
schema = create_app(Engine(index_settings=IndexSettings(data_dir=data))).openapi()
request = schema["components"]["schemas"]["ReindexRequest"]
print(json.dumps({
    "settings": settings.model,
    "help": "tiny_test_net" in help_text,
    "enum": request["properties"]["model"]["enum"],
    "weights": [
        b for b in request["oneOf"] if b["properties"]["model"]["const"] == "tiny_test_net"
    ],
}))
"""


def test_a_registered_backbone_is_in_settings_cli_help_and_openapi() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["settings"] == "tiny_test_net"
    assert found["help"]
    assert "tiny_test_net" in found["enum"] and "resnet50" in found["enum"]
    (branch,) = found["weights"]
    assert branch["properties"]["weights"]["anyOf"][0]["enum"] == ["default", "none", "toy"]


def test_the_builtin_backbones_and_an_unknown_name() -> None:
    assert {"resnet18", "resnet50", "efficientnet_lite0"} <= set(list_backbones())
    assert "imagenet1k_v2" in backbone_entry("resnet50").weights
    with pytest.raises(UnknownModelError, match="Unknown backbone 'vgg99'"):
        backbone_entry("vgg99")
    with pytest.raises(ValueError, match="unknown backbone 'vgg99'"):
        EmbedderSettings(model="vgg99")
