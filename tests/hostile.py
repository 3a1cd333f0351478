"""A corpus of hostile and odd inputs, generated in memory: files for batch uploads, and
whole requests. Each entry says what a careful server must answer."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from tests.images import encode, jpeg, scene


@dataclass(frozen=True)
class BadFile:
    kind: str
    filename: bytes  # raw, so non-UTF-8 names can be sent
    data: bytes
    lands: bool  # an odd but valid image is added; everything else fails alone


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares a huge image."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bomb() -> bytes:
    """A real JPEG whose frame header is patched to declare 65000 x 65000 pixels."""
    data = bytearray(jpeg(7))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def _animated_gif() -> bytes:
    frames = [scene(i, (64, 48)).convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buf.getvalue()


def _with_exif(orientation: int, seed: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(scene(seed, (80, 60)), "JPEG", exif=exif.tobytes())


def _corrupt_exif() -> bytes:
    data = bytearray(_with_exif(6, 99))
    start = data.find(b"Exif\0\0")
    data[start + 6 : start + 30] = b"\xde\xad\xbe\xef" * 6  # a TIFF header that means nothing
    return bytes(data)


def _palette_transparent() -> bytes:
    img = scene(31, (64, 64)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(img, "PNG", transparency=0)


def _sixteen_bit() -> bytes:
    img = Image.new("I;16", (64, 48))
    img.putdata([(x * 997) % 65535 for x in range(64 * 48)])
    return encode(img, "PNG")


def bad_files() -> list[BadFile]:
    full = encode(scene(3, (300, 200)), "JPEG")
    png = encode(scene(4, (300, 200)), "PNG")
    files = [
        BadFile("zero bytes", b"empty.jpg", b"", False),
        BadFile("truncated JPEG", b"cut.jpg", full[: len(full) // 2], False),
        BadFile("truncated PNG", b"cut.png", png[: len(png) // 2], False),
        BadFile("JPEG header only", b"head.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", False),
        BadFile("text posing as JPEG", b"notes.jpg", b"just some words, not a picture", False),
        BadFile("HTML posing as image", b"page.png", b"<!DOCTYPE html><html></html>", False),
        BadFile("SVG", b"vector.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", False),
        BadFile("PDF posing as image", b"doc.jpg", b"%PDF-1.7\n1 0 obj<<>>endobj", False),
        BadFile("ZIP posing as image", b"archive.jpg", b"PK\x03\x04" + b"\0" * 60, False),
        BadFile("ELF executable", b"program.jpg", b"\x7fELF\x02\x01\x01" + b"\0" * 60, False),
        BadFile("random bytes", b"noise.jpg", bytes(range(256)) * 8, False),
        BadFile("PNG decompression bomb", b"bomb.png", png_bomb(), False),
        BadFile("JPEG declaring 65000x65000", b"bomb.jpg", jpeg_bomb(), False),
        BadFile("100000x1 image", b"line.png", encode(Image.new("L", (100_000, 1)), "PNG"), False),
        BadFile("unsupported format (ICO)", b"icon.ico", encode(scene(5, (32, 32)), "ICO"), False),
        BadFile("GIF magic, garbage body", b"fake.gif", b"GIF89a" + b"\x13" * 80, False),
        BadFile("BMP magic, garbage body", b"fake.bmp", b"BM" + b"\x00\xff" * 40, False),
        BadFile("1x1 image", b"dot.png", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), True),
        BadFile("wrong extension", b"actually-png.jpg", encode(scene(6), "PNG"), True),
        BadFile("animated GIF", b"anim.gif", _animated_gif(), True),
        BadFile("CMYK JPEG", b"cmyk.jpg", encode(scene(8).convert("CMYK"), "JPEG"), True),
        BadFile("16-bit PNG", b"deep.png", _sixteen_bit(), True),
        BadFile("palette + transparency", b"pal.png", _palette_transparent(), True),
        BadFile("corrupt EXIF", b"exif.jpg", _corrupt_exif(), True),
        BadFile("non-UTF-8 file name", b"caf\xe9-\xff.jpg", jpeg(11), True),
        BadFile("path traversal file name", b"../../../etc/passwd.jpg", jpeg(12), True),
    ]
    files += [
        BadFile(f"EXIF orientation {o}", f"orient{o}.jpg".encode(), _with_exif(o, 40 + o), True)
        for o in range(1, 9)
    ]
    return files


def multipart(
    parts: list[tuple[str, bytes | None, bytes]], boundary: bytes = b"hostile-boundary"
) -> tuple[bytes, dict[str, str]]:
    """A multipart body built by hand: (field, raw filename or None, content) per part."""
    out = io.BytesIO()
    for field, filename, content in parts:
        out.write(b"--" + boundary + b"\r\n")
        disp = b'Content-Disposition: form-data; name="' + field.encode() + b'"'
        if filename is not None:
            disp += b'; filename="' + filename.replace(b'"', b"%22") + b'"'
            disp += b"\r\nContent-Type: application/octet-stream"
        out.write(disp + b"\r\n\r\n" + content + b"\r\n")
    out.write(b"--" + boundary + b"--\r\n")
    headers = {"content-type": "multipart/form-data; boundary=" + boundary.decode()}
    return out.getvalue(), headers
