"""A sample catalog from the pictures scikit-image ships, with altered copies of each.

Each picture is saved as-is plus a crop, a mirror and a smaller re-encode, so a search with
a new crop of one picture has known right answers: that picture's copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SAMPLES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
    "camera",
    "coins",
    "moon",
    "page",
    "brick",
    "grass",
    "gravel",
    "horse",
    "text",
    "logo",
)


def _load(name: str) -> Image.Image | None:
    from skimage import data

    try:
        arr = getattr(data, name)()
    except Exception:  # some samples need optional downloads; skip those
        return None
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        arr = (255 * (arr - arr.min()) / max(float(np.ptp(arr)), 1e-9)).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def build_catalog(folder: Path) -> list[Path]:
    """Write the sample catalog into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in SAMPLES:
        img = _load(name)
        if img is None:
            continue
        w, h = img.size
        variants = {
            "original": img,
            "crop": img.crop((w // 10, h // 10, w - w // 10, h - h // 10)),
            "mirror": ImageOps.mirror(img),
            "small": img.resize((max(1, w // 2), max(1, h // 2))),
        }
        for variant, picture in variants.items():
            path = folder / f"{name}_{variant}.jpg"
            picture.save(path, quality=90)
            written.append(path)
    return written


def demo_query(folder: Path) -> Path:
    """A new view of the cat that is not in the catalog: an off-centre, smaller crop."""
    img = _load("chelsea")
    assert img is not None
    w, h = img.size
    path = folder / "query-chelsea.jpg"
    img.crop((0, h // 8, int(w * 0.8), h)).resize((200, 160)).save(path, quality=85)
    return path
