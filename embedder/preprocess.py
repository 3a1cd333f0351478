"""A backbone's transform with its tensor steps done in numpy: the same numbers, no OpenMP.

torchvision's transforms resize and crop with Pillow, then make the float tensor and
normalise it with torch operations. Each thread that runs a torch operation gets an OpenMP
team of its own, so a server decoding queries on a pool of threads keeps dozens of teams,
and on the CPU they fight the forward pass for the cores (profiled under 32 concurrent
queries: the transform took seven times as long as the decode). The Pillow steps stay as
they are; the division by 255 and the normalisation run in numpy, single-threaded, in the
same float32 order, so the tensor is bit for bit the one torchvision makes (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F
from torchvision.transforms._presets import ImageClassification

Transform = Callable[[Image.Image], torch.Tensor]
PilStep = Callable[[Image.Image], Image.Image]


class NumpyTail:
    """Pillow steps, then uint8 HWC -> float32 CHW / 255, then (x - mean) / std."""

    def __init__(self, pil_steps: Sequence[PilStep], mean: Sequence[float], std: Sequence[float]):
        self.pil_steps = list(pil_steps)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        for step in self.pil_steps:
            img = step(img)
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        chw = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1)
        chw = chw / np.float32(255)
        return torch.from_numpy(np.ascontiguousarray((chw - self.mean) / self.std))


def numpy_tail(transform: Transform) -> Transform:
    """The same transform with its tensor steps in numpy; unchanged when its shape is unknown."""
    if isinstance(transform, ImageClassification):
        preset = transform

        def resize(img: Image.Image) -> Image.Image:
            out: Image.Image = F.resize(
                img,
                preset.resize_size,
                interpolation=preset.interpolation,
                antialias=preset.antialias,
            )
            return out

        def crop(img: Image.Image) -> Image.Image:
            out: Image.Image = F.center_crop(img, preset.crop_size)
            return out

        return NumpyTail([resize, crop], preset.mean, preset.std)
    if isinstance(transform, T.Compose):
        steps = list(transform.transforms)
        kinds = [type(s) for s in steps[-2:]]
        if kinds == [T.ToTensor, T.Normalize] and not any(
            isinstance(s, (T.ToTensor, T.Normalize)) for s in steps[:-2]
        ):
            norm: T.Normalize = steps[-1]
            return NumpyTail(steps[:-2], norm.mean, norm.std)
    return transform
