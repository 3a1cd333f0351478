"""The Embedder: decode, transform and batched forward passes, as one object per model."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from embedder.allocator import keep_activation_memory
from embedder.backbones import keep_aspect_transform
from embedder.box import Box
from embedder.decode import decode_image
from embedder.model_thread import on_model_thread
from embedder.pooling import make_pool
from embedder.preprocess import numpy_tail
from embedder.projection import Projection
from embedder.registry import Backbone, build_backbone
from embedder.settings import EmbedderSettings
from embedder.spec import ModelSpec, pooling_tag

# Default images per forward pass (`batch_size` unset). On the CPU small batches keep the
# activations in cache: resnet18 / resnet50 / efficientnet_lite0 ran 38 / 16 / 68 img/s at 8
# and 35 / 14 / 46 at 32 (2 cores). A GPU needs large ones to fill it.
CPU_BATCH = 8
GPU_BATCH = 128


@dataclass(frozen=True)
class Prepared:
    """An image ready for the forward pass, with the facts about its file."""

    tensor: torch.Tensor
    width: int
    height: int
    format: str
    decode_s: float = 0.0  # stage timings, for whoever measures (the library exports nothing)
    preprocess_s: float = 0.0


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _Head(nn.Module):
    def __init__(self, trunk: nn.Module, pool: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.pool(self.trunk(x)).float(), dim=1)


class Embedder:
    """Turns image bytes into L2-normalised vectors tagged with a model id."""

    def __init__(self, backbone: Backbone, settings: EmbedderSettings) -> None:
        keep_activation_memory()  # a process that runs a network keeps its activations' pages
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.spec = ModelSpec(
            backbone=backbone.name,
            weights=backbone.weights_tag,
            pooling=pooling_tag(settings.pooling, settings.gem_p, settings.input_size),
            dim=backbone.dim,
        )
        self.projection = Projection.load(Path(settings.whiten)) if settings.whiten else None
        if self.projection is not None:
            self.spec = self.spec.model_copy(
                update={
                    "pooling": f"{self.spec.pooling}-{self.projection.tag}",
                    "dim": self.projection.dim,
                }
            )
        self._pooled_dim = backbone.dim
        self._standard = backbone.transform  # torchvision's; ours does its tensor steps in numpy
        self._transform = numpy_tail(backbone.transform)
        self._resize_size = backbone.resize_size
        if settings.input_size is not None:
            self._transform = numpy_tail(
                keep_aspect_transform(backbone.transform, settings.input_size)
            )
            self._resize_size = settings.input_size
        self._net = _Head(backbone.trunk, make_pool(settings.pooling, settings.gem_p)).eval()
        self._cuda = self.device.type == "cuda"
        if self._cuda:
            # channels_last feeds the tensor cores without layout shuffles.
            self._net = self._net.to(memory_format=torch.channels_last).to(self.device)
        else:
            self._net = self._net.to(self.device)
        if settings.torch_compile:
            # a wrapper that runs as the module does; typed as a generic callable by torch
            self._net = cast(_Head, torch.compile(self._net))

    @classmethod
    def load(cls, settings: EmbedderSettings | None = None) -> Embedder:
        settings = settings or EmbedderSettings()

        def build() -> Embedder:
            backbone = build_backbone(
                settings.model, settings.weights, allow_download=settings.allow_download
            )
            return cls(backbone, settings)

        # Built where it will run: loading weights copies tensors in parallel regions, and
        # a thread that ran one keeps an OpenMP team for good.
        return on_model_thread(build)

    @property
    def model_id(self) -> str:
        return self.spec.id

    @property
    def dim(self) -> int:
        return self.spec.dim

    def prepare(self, data: bytes, box: Box | None = None) -> Prepared:
        """The one decode-and-transform path shared by ingest and query; with `box`, only
        that region of the image (a query's)."""
        start = time.perf_counter()
        decoded = decode_image(
            data,
            max_pixels=self.settings.max_pixels,
            max_aspect_ratio=self.settings.max_aspect_ratio,
            # a region is cut from the full-scale picture: a draft, shrunk to fit the whole
            # image into the input, would leave a small region blurred
            draft_size=None if box else self._resize_size,
        )
        decoded_at = time.perf_counter()
        image = decoded.image
        if box is not None:
            image = image.crop(box.in_pixels(*image.size))  # as shown: EXIF turns applied
        tensor = self.transform(image)
        return Prepared(
            tensor,
            decoded.width,
            decoded.height,
            decoded.format,
            decode_s=decoded_at - start,
            preprocess_s=time.perf_counter() - decoded_at,
        )

    def transform(self, image: Image.Image) -> torch.Tensor:
        return self._transform(image.convert("RGB"))

    @property
    def batch_size(self) -> int:
        """Images per forward pass: the setting, else the device's default."""
        return self.settings.batch_size or (GPU_BATCH if self._cuda else CPU_BATCH)

    def _batches(self, tensors: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
        size = self.batch_size
        for start in range(0, len(tensors), size):
            batch = torch.stack(list(tensors[start : start + size]))
            if self._cuda:
                batch = batch.pin_memory().to(self.device, non_blocking=True)
                batch = batch.contiguous(memory_format=torch.channels_last)
            yield batch

    def embed_tensors(self, tensors: Sequence[torch.Tensor]) -> np.ndarray:
        """Forward prepared tensors in batches; returns (n, dim) float32, unit length. The
        passes run on the process's model thread (see embedder/model_thread.py)."""
        if not tensors:
            return np.zeros((0, self.dim), dtype=np.float32)
        return on_model_thread(lambda: self._forward(tensors))

    def _forward(self, tensors: Sequence[torch.Tensor]) -> np.ndarray:
        autocast = (
            torch.autocast("cuda", dtype=torch.float16) if self._cuda else contextlib.nullcontext()
        )
        # With input_size the images keep their aspect, so shapes differ: batch equal shapes
        # together (a catalog has few: landscape and portrait) and put rows back in order.
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, t in enumerate(tensors):
            by_shape.setdefault(tuple(t.shape), []).append(i)
        result = np.zeros((len(tensors), self._pooled_dim), dtype=np.float32)
        with torch.inference_mode(), autocast:
            for rows in by_shape.values():
                out = [
                    self._net(b).float().cpu().numpy()
                    for b in self._batches([tensors[i] for i in rows])
                ]
                result[rows] = np.concatenate(out)
        return result if self.projection is None else self.projection.apply(result)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.embed_tensors([self.transform(im) for im in images])

    def embed_images_multiscale(
        self, images: Sequence[Image.Image], scales: Sequence[float] = (1.0, 0.7071)
    ) -> np.ndarray:
        """The mean of each image's vectors at several input sizes, renormalised. Needs
        `input_size` (the classifier's centre crop resizes every scale to the same input)."""
        if self.settings.input_size is None:
            return self.embed_images(images)
        total = np.zeros((len(images), self.dim), dtype=np.float32)
        for scale in scales:
            size = max(64, round(self.settings.input_size * scale))
            transform = numpy_tail(keep_aspect_transform(self._standard, size))
            total += self.embed_tensors([transform(im.convert("RGB")) for im in images])
        total /= np.linalg.norm(total, axis=1, keepdims=True)
        return total

    def embed_bytes(self, data: bytes) -> np.ndarray:
        vector: np.ndarray = self.embed_tensors([self.prepare(data).tensor])[0]
        return vector
