"""Decoding accepts the allowed formats as upright RGB and rejects everything else by reason."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from embedder import (
    CorruptImageError,
    EmptyImageError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnsupportedFormatError,
    decode_image,
)
from tests.hostile import png_bomb
from tests.images import encode, jpeg, scene


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_allowed_formats_decode_to_rgb(fmt: str) -> None:
    decoded = decode_image(encode(scene(1), fmt))
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (160, 128)
    assert decoded.format == fmt


def test_gif_animation_gives_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    pixel = decode_image(buf.getvalue()).image.getpixel((5, 5))
    assert pixel[0] > 200 and pixel[2] < 50


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    img = Image.new("RGB", (60, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    swapped = orientation in (5, 6, 7, 8)
    assert (decoded.width, decoded.height) == ((20, 60) if swapped else (60, 20))
    assert decoded.image.size == (decoded.width, decoded.height)


def test_corrupt_exif_keeps_the_picture() -> None:
    data = bytearray(jpeg(3))
    exif_block = b"Exif\x00\x00" + b"MM\x00*\x00\x00\x00\x08" + b"\xff" * 40
    segment = b"\xff\xe1" + struct.pack(">H", len(exif_block) + 2) + exif_block
    data[2:2] = segment  # right after SOI
    assert decode_image(bytes(data)).image.size == (160, 128)


@pytest.mark.parametrize(
    "mode,maker",
    [
        ("P+transparency", lambda: _palette_with_transparency()),
        ("RGBA", lambda: Image.new("RGBA", (20, 20), (255, 0, 0, 0))),
        ("LA", lambda: Image.new("LA", (20, 20), (10, 128))),
        ("L", lambda: Image.new("L", (20, 20), 128)),
        ("CMYK", lambda: Image.new("CMYK", (20, 20), (0, 255, 255, 0))),
        ("I;16", lambda: Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16))),
        ("1", lambda: Image.new("1", (20, 20), 1)),
    ],
)
def test_modes_convert_to_rgb(mode: str, maker) -> None:  # type: ignore[no-untyped-def]
    img = maker()
    fmt = "JPEG" if img.mode == "CMYK" else ("TIFF" if img.mode == "I;16" else "PNG")
    decoded = decode_image(encode(img, fmt))
    assert decoded.image.mode == "RGB"
    if mode == "I;16":  # full scale 16-bit white stays white, not clipped garbage
        assert decoded.image.getpixel((0, 0)) == (255, 255, 255)
    if mode == "RGBA":  # fully transparent becomes white background
        assert decoded.image.getpixel((0, 0)) == (255, 255, 255)


def _palette_with_transparency() -> Image.Image:
    img = Image.new("P", (20, 20), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 0
    return img


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge image: the classic decompression bomb."""
    return png_bomb(width, height)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(TooManyPixelsError, match="over the limit"):
        decode_image(_png_with_size(100_000, 100_000))


def test_pixel_cap_is_configurable() -> None:
    with pytest.raises(TooManyPixelsError):
        decode_image(jpeg(1), max_pixels=1000)


def test_extreme_aspect_ratio_is_refused() -> None:
    with pytest.raises(CorruptImageError, match="elongated"):
        decode_image(encode(Image.new("RGB", (10_000, 1)), "PNG"))


def test_zero_bytes() -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        decode_image(b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(fmt: str) -> None:
    data = encode(scene(2, (400, 300)), fmt)
    with pytest.raises((TruncatedImageError, CorruptImageError)):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data,words",
    [
        (b"hello, this is not a picture", "text"),
        (b"%PDF-1.4\n%...", "PDF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"<!DOCTYPE html><html></html>", "HTML"),
        (b"PK\x03\x04" + b"\0" * 40, "ZIP"),
        (bytes(range(256)) * 4, "not a recognised image"),
    ],
)
def test_non_images_are_named(data: bytes, words: str) -> None:
    with pytest.raises(NotAnImageError, match=words):
        decode_image(data)


def test_unsupported_image_format_is_named() -> None:
    with pytest.raises(UnsupportedFormatError, match="ICO images are not supported"):
        decode_image(encode(Image.new("RGB", (32, 32)), "ICO"))


def test_draft_decodes_large_jpeg_at_reduced_scale() -> None:
    decoded = decode_image(jpeg(4, (2000, 1600)), draft_size=224)
    assert (decoded.width, decoded.height) == (2000, 1600)  # the file's own size is reported
    assert min(decoded.image.size) >= 224 and decoded.image.size[0] < 2000
