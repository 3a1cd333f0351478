"""Safe image decoding: bytes in, an RGB picture out, or an error that says why.

Everything that reads image bytes, ingest and query alike, comes through `decode_image`, so a
file is accepted or rejected the same way wherever it arrives.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from embedder.errors import (
    CorruptImageError,
    EmptyImageError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnsupportedFormatError,
)

# Camera JPEGs with several pictures open as MPO through the JPEG opener; they count as JPEG.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# Magic numbers of things people upload by mistake, to name them in the error.
_KNOWN_NON_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"<svg", "an SVG drawing (vector images are not supported)"),
    (b"<?xml", "an XML or SVG document"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"\x00\x00\x00 ftypavif", "an AVIF image (not supported)"),
    (b"\x00\x00\x00\x18ftypheic", "a HEIC image (not supported)"),
)

# Pillow's own bomb check is a warning at MAX_IMAGE_PIXELS; we enforce our own cap instead.
Image.MAX_IMAGE_PIXELS = None
Image.init()  # register every plugin, so that the allowlist names resolve (MPO, WEBP, TIFF)
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image and the facts about the original file worth storing."""

    image: Image.Image
    width: int
    height: int
    format: str


def _describe_non_image(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    for magic, name in _KNOWN_NON_IMAGES:
        if head.startswith(magic.lower()):
            return name
    try:
        data[:512].decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "not a recognised image"


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except UnidentifiedImageError:
        pass
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"The image header is corrupt ({exc}).") from exc
    # Not one of ours: say whether it is another image format or not an image at all.
    try:
        with Image.open(io.BytesIO(data)) as other:
            fmt = other.format
    except Exception:
        fmt = None
    if fmt:
        allowed = ", ".join(ALLOWED_FORMATS)
        raise UnsupportedFormatError(f"{fmt} images are not supported; use one of {allowed}.")
    raise NotAnImageError(f"The file is not an image: it looks like {_describe_non_image(data)}.")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert("L") clips high bit depths at 255; scale to the type's range instead.
        arr = np.asarray(img, dtype=np.float32)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        lum = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(lum, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels become white, as a shop page would show them.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def decode_image(
    data: bytes,
    *,
    max_pixels: int = 50_000_000,
    max_aspect_ratio: float = 50.0,
    draft_size: int | None = None,
) -> DecodedImage:
    """Decode `data` into an upright RGB image.

    `draft_size` lets JPEG decode at a reduced scale (DCT scaling) while keeping the shorter
    side at least that many pixels, which is most of the decode cost saved for free.
    """
    if not data:
        raise EmptyImageError("The file is empty (0 bytes).")
    img = _open(data)
    width, height = img.size
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    if width < 1 or height < 1:
        raise CorruptImageError(f"The image declares an impossible size of {width}x{height}.")
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"The image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}."
        )
    if max(width, height) / min(width, height) > max_aspect_ratio:
        raise CorruptImageError(
            f"The image is {width}x{height}, more elongated than the {max_aspect_ratio:g}:1 "
            "aspect ratio we accept."
        )
    try:
        if img.format == "GIF":
            img.seek(0)  # first frame of an animation
        if draft_size and img.format in ("JPEG", "MPO"):
            scale = min(width, height) / draft_size
            if scale >= 2:
                img.draft("RGB", (max(1, int(width / scale)), max(1, int(height / scale))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
    except OSError as exc:
        if "truncated" in str(exc).lower() or "premature" in str(exc).lower():
            raise TruncatedImageError("The image file is truncated: its data ends early.") from exc
        raise CorruptImageError(f"The image data is corrupt ({exc}).") from exc
    except (SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise CorruptImageError(f"The image data is corrupt ({exc}).") from exc

    try:
        upright = ImageOps.exif_transpose(img)
        if upright is not None:
            img = upright
    except Exception:
        pass  # a broken EXIF block must not cost the picture; keep it as stored
    oriented_w, oriented_h = (height, width) if _rotated(img, width, height) else (width, height)
    try:
        rgb = _to_rgb(img)
    except (OSError, ValueError) as exc:
        raise CorruptImageError(f"The image could not be converted to RGB ({exc}).") from exc
    return DecodedImage(image=rgb, width=oriented_w, height=oriented_h, format=fmt)


def _rotated(img: Image.Image, width: int, height: int) -> bool:
    """True when EXIF orientation swapped the axes (the draft may have scaled both)."""
    w, h = img.size
    return width != height and (w > h) != (width > height)
