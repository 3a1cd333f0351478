"""The backbones Lookalike can build, by name: one decorated function each.

As torchvision's and timm's `register_model`: a backbone is added by writing its build
function with `@register_backbone(...)` (embedder/backbones.py holds the built-in ones), and
the settings, the CLI help and the API's reindex schema read `list_backbones()`; nothing
else names a backbone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from embedder.errors import UnknownModelError

Transform = Callable[[Image.Image], torch.Tensor]


@dataclass
class Backbone:
    name: str
    trunk: nn.Module
    transform: Transform
    dim: int
    weights_tag: str
    resize_size: int  # shorter side the transform resizes to; lets JPEG decode at reduced scale


# (weights, allow_download) -> Backbone; weights is 'default', 'none', a name or a file path
BuildFn = Callable[[str, bool], Backbone]


@dataclass(frozen=True)
class BackboneEntry:
    name: str
    build: BuildFn
    weights: tuple[str, ...]  # named weights besides 'default' and 'none', lower case


_REGISTRY: dict[str, BackboneEntry] = {}


def register_backbone(name: str, *, weights: Iterable[str] = ()) -> Callable[[BuildFn], BuildFn]:
    """Register `build` under `name`, with the weights names it accepts."""

    def decorate(build: BuildFn) -> BuildFn:
        if name in _REGISTRY and _REGISTRY[name].build is not build:
            raise ValueError(f"A backbone named '{name}' is registered already.")
        named = dict.fromkeys(w.lower() for w in weights if w.lower() not in ("default", "none"))
        _REGISTRY[name] = BackboneEntry(name, build, tuple(named))
        return build

    return decorate


def list_backbones() -> list[str]:
    return list(_REGISTRY)


def backbone_entry(name: str) -> BackboneEntry:
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UnknownModelError(
            f"Unknown backbone '{name}'; choose one of {', '.join(list_backbones())}."
        )
    return entry


def build_backbone(name: str, weights: str = "default", *, allow_download: bool = True) -> Backbone:
    """Build a backbone by name with the asked-for weights; raises when they are unreachable."""
    backbone = backbone_entry(name).build(weights, allow_download)
    backbone.trunk.eval()  # inference only: batch norm uses its running statistics
    return backbone
