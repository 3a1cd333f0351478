"""Image decoding, transforms, backbones, weights loading, pooling and batched forward passes.

A library: it never imports `index`, `api` or `workers`.
"""

from embedder import backbones as _builtin  # noqa: F401  (registers the built-in backbones)
from embedder.box import BadBoxError, Box
from embedder.decode import ALLOWED_FORMATS, DecodedImage, decode_image
from embedder.embedder import Embedder, Prepared, resolve_device
from embedder.errors import (
    CorruptImageError,
    EmbedderError,
    EmptyImageError,
    ImageDecodeError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnknownModelError,
    UnsupportedFormatError,
    WeightsUnavailableError,
)
from embedder.registry import (
    Backbone,
    backbone_entry,
    build_backbone,
    list_backbones,
    register_backbone,
)
from embedder.settings import EmbedderSettings
from embedder.spec import ModelSpec

__all__ = [
    "ALLOWED_FORMATS",
    "Backbone",
    "BadBoxError",
    "Box",
    "CorruptImageError",
    "DecodedImage",
    "Embedder",
    "EmbedderError",
    "EmbedderSettings",
    "EmptyImageError",
    "ImageDecodeError",
    "ModelSpec",
    "NotAnImageError",
    "Prepared",
    "TooManyPixelsError",
    "TruncatedImageError",
    "UnknownModelError",
    "UnsupportedFormatError",
    "WeightsUnavailableError",
    "backbone_entry",
    "build_backbone",
    "decode_image",
    "list_backbones",
    "register_backbone",
    "resolve_device",
]
