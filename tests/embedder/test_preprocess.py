"""Our transforms give torchvision's tensors bit for bit, with the tensor steps in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from embedder.backbones import keep_aspect_transform
from embedder.preprocess import NumpyTail, numpy_tail
from embedder.registry import build_backbone


def _pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(640, 480), (333, 517), (224, 224), (97, 1200)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_numpy_tail_equals_torchvision(name: str) -> None:
    standard = build_backbone(name, "none").transform
    for transform in (standard, keep_aspect_transform(standard, 320)):
        ours = numpy_tail(transform)
        assert isinstance(ours, NumpyTail)
        for picture in _pictures():
            expected, got = transform(picture), ours(picture)
            assert got.dtype == torch.float32 and got.shape == expected.shape
            assert torch.equal(got, expected)


def test_an_unknown_transform_is_kept_as_it_is() -> None:
    def odd(img: Image.Image) -> torch.Tensor:
        return torch.zeros(3)

    assert numpy_tail(odd) is odd
