"""Sample media made in code: valid images and videos, and the bad inputs."""

from __future__ import annotations

import io
import struct
import zlib

from flask.testing import FlaskClient
from PIL import Image, ImageCms
from werkzeug.test import TestResponse

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color: object = RED,
                mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)  # type: ignore[arg-type]
    return out.getvalue()


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    return image_bytes("JPEG", size, quality=95)


def png_with_alpha(size: tuple[int, int] = (32, 32)) -> bytes:
    """Left half opaque blue, right half fully transparent."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (size[0] // 2, size[1]), (*BLUE, 255)), (0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def webp() -> bytes:
    return image_bytes("WEBP", (40, 30), GREEN)


def gif() -> bytes:
    return image_bytes("GIF", (20, 10), 3, mode="P")


def exif_rotated_jpeg() -> bytes:
    """Stored 40x20: left half red, right half blue; EXIF orientation 6 (rotate 90° clockwise to view)."""
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(Image.new("RGB", (20, 20), RED), (0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # type: ignore[no-any-return]


def png_with_icc(icc: bytes) -> bytes:
    return image_bytes("PNG", (16, 16), GREEN, icc_profile=icc)


def cmyk_jpeg() -> bytes:
    """Pure cyan in CMYK, no profile."""
    return image_bytes("JPEG", (16, 16), (255, 0, 0, 0), mode="CMYK", quality=95)


def truncated_jpeg() -> bytes:
    noisy = Image.effect_noise((256, 256), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=95)
    data = out.getvalue()
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 8))
            + _png_chunk(b"IEND", b""))


HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TEXT = b"just some text, certainly not a JPEG\n"
GIF_SCRIPT_POLYGLOT = b"GIF89a/*\x00\x00\x00\x00*/=1;alert(1);//" + b"<script>alert(1)</script>"


# --- ISO BMFF (MP4 / QuickTime) built by hand ------------------------------------------------------

_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_SPS = bytes.fromhex("6742c00dda0507e84000000300400000 0ca3c50aa8".replace(" ", ""))
_PPS = bytes.fromhex("68ce3c80")


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def ftyp(brand: bytes = b"isom") -> bytes:
    return _box(b"ftyp", brand, struct.pack(">I", 512), b"isom", b"iso2", b"avc1", b"mp41")


def _avc1(width: int, height: int) -> bytes:
    avcc = _box(b"avcC", bytes([1, 0x42, 0xC0, 0x0D, 0xFF, 0xE1]), struct.pack(">H", len(_SPS)), _SPS,
                b"\x01", struct.pack(">H", len(_PPS)), _PPS)
    return _box(b"avc1", b"\0" * 6, struct.pack(">H", 1), b"\0" * 16, struct.pack(">HH", width, height),
                struct.pack(">II", 0x480000, 0x480000), b"\0" * 4, struct.pack(">H", 1), b"\0" * 32,
                struct.pack(">Hh", 0x18, -1), avcc)


def _moov(width: int, height: int, duration_ms: int, frames: int, sample: bytes, mdat_offset: int) -> bytes:
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, duration_ms),
                     struct.pack(">IH", 0x10000, 0x100), b"\0" * 10, _MATRIX, b"\0" * 24, struct.pack(">I", 2))
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration_ms), b"\0" * 8,
                     struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", width << 16, height << 16))
    stbl = _box(b"stbl", _full_box(b"stsd", 0, 0, struct.pack(">I", 1), _avc1(width, height)),
                _full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, duration_ms // frames)),
                _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
                _full_box(b"stsz", 0, 0, struct.pack(">II", len(sample), frames)),
                _full_box(b"stco", 0, 0, struct.pack(">II", 1, mdat_offset)))
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, b"\0" * 8),
                _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))), stbl)
    mdia = _box(b"mdia", _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 1000, duration_ms, 0x55C4, 0)),
                _full_box(b"hdlr", 0, 0, struct.pack(">I", 0), b"vide", b"\0" * 12, b"VideoHandler\0"), minf)
    return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))


def mp4(width: int = 320, height: int = 240, duration_ms: int = 2000, brand: bytes = b"isom") -> bytes:
    """A minimal H.264 MP4 (QuickTime with ``brand=b"qt  "``) that MediaInfo measures."""
    frames, sample = 2, b"\x00\x00\x00\x02\x09\xf0"
    head = ftyp(brand)
    size = len(_moov(width, height, duration_ms, frames, sample, 0))
    moov = _moov(width, height, duration_ms, frames, sample, len(head) + size + 8)
    return head + moov + _box(b"mdat", sample * frames)


def mp4_without_moov() -> bytes:
    return ftyp() + _box(b"mdat", b"\0" * 256)


# --- uploading through the test client ----------------------------------------------------------------

UPLOAD_URL = "/api/public/v1/media"


def post_file(client: FlaskClient, headers: dict[str, str], data: bytes, filename: str = "upload.jpg",
              content_type: str = "image/jpeg") -> TestResponse:
    """``POST /media`` with one ``file`` part (name and part type as a client claims them)."""
    return client.post(UPLOAD_URL, headers=headers,
                       data={"file": (io.BytesIO(data), filename, content_type)},
                       content_type="multipart/form-data")


def multipart_body(data: bytes, filename: str = "upload.jpg", boundary: str = "sampleboundary") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
