"""Image decoding, transforms, backbones, weights loading, pooling and batched forward passes.

A library: it never imports `index`, `api` or `workers`.
"""

from embedder.backbones import BACKBONES, build_backbone
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
from embedder.settings import EmbedderSettings
from embedder.spec import ModelSpec

__all__ = [
    "ALLOWED_FORMATS",
    "BACKBONES",
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
    "build_backbone",
    "decode_image",
    "resolve_device",
]
