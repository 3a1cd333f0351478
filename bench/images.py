"""Synthetic images with known answers, made in memory (tests and the load benchmark)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

PALETTE = [
    (220, 30, 30),
    (30, 160, 40),
    (40, 60, 220),
    (240, 200, 20),
    (150, 40, 180),
    (20, 200, 200),
    (250, 120, 0),
    (120, 80, 40),
    (0, 0, 0),
    (255, 255, 255),
]


def scene(seed: int, size: tuple[int, int] = (160, 128)) -> Image.Image:
    """A picture of random shapes on a coloured background, different for every seed."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, PALETTE[seed % len(PALETTE)])
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(6):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(10, w // 2), y0 + rng.randrange(10, h // 2)
        colour = rng.choice(PALETTE)
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    return img


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (160, 128)) -> bytes:
    return encode(scene(seed, size), "JPEG", quality=92)


def small_jpeg(seed: int) -> bytes:
    return jpeg(seed)
