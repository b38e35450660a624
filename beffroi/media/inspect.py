"""What a media file really is: type from its first bytes (never from its name), size, dimensions, duration.

Images are read with Pillow (with its decompression-bomb guard); MP4 and QuickTime videos by walking their
boxes (`mvhd` for the duration, the video track's `tkhd` for the size) so no ffmpeg is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext_noop

from beffroi.networks.capabilities import MediaKind

IMAGE_TYPES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
VIDEO_BRANDS_QUICKTIME = {b"qt  "}
HEIF_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"}


class MediaError(ValueError):
    """The file is not a media file Beffroi can read (message in English, translated where shown)."""


@dataclass(frozen=True)
class MediaInfo:
    mime_type: str
    kind: MediaKind
    size: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None

    @property
    def aspect(self) -> float | None:
        if self.width and self.height:
            return self.width / self.height
        return None


def sniff(head: bytes) -> str | None:
    """The media type from the first bytes of a file."""
    for magic, mime in IMAGE_TYPES.items():
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in HEIF_BRANDS:
            return "image/heic"
        if brand in VIDEO_BRANDS_QUICKTIME:
            return "video/quicktime"
        return "video/mp4"
    return None


def inspect_file(path: str | Path) -> MediaInfo:
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(32)
    mime = sniff(head)
    if mime is None:
        raise MediaError(
            gettext_noop("This file is not an image or a video Beffroi can read (JPEG, PNG, GIF, WebP, MP4, MOV).")
        )
    if mime.startswith("video/"):
        width, height, duration = _mp4_facts(path)
        return MediaInfo(mime, MediaKind.VIDEO, size, width, height, duration)
    if mime == "image/heic":
        # Pillow cannot read HEIC without a plug-in; most networks refuse it anyway.
        return MediaInfo(mime, MediaKind.IMAGE, size)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise MediaError(gettext_noop("This image is damaged or cannot be read.")) from error
    return MediaInfo(mime, MediaKind.IMAGE, size, width, height)


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, payload end) of the ISO-BMFF boxes between start and end."""
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if size == 1:
            if position + 16 > end:
                return
            size = struct.unpack(">Q", data[position + 8 : position + 16])[0]
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            return
        yield kind, position + header, position + size
        position += size


def _mp4_facts(path: Path) -> tuple[int | None, int | None, float | None]:
    """Width, height and duration of an MP4/MOV, from the `moov` box (read whole: it is small)."""
    moov = _read_moov(path)
    if moov is None:
        raise MediaError(gettext_noop("This video cannot be read: its index (moov box) is missing."))
    duration = width = height = None
    for kind, start, end in _boxes(moov, 0, len(moov)):
        if kind == b"mvhd":
            version = moov[start]
            if version == 1:
                timescale, length = struct.unpack(">IQ", moov[start + 20 : start + 32])
            else:
                timescale, length = struct.unpack(">II", moov[start + 12 : start + 20])
            if timescale:
                duration = length / timescale
        elif kind == b"trak":
            for inner, _inner_start, inner_end in _boxes(moov, start, end):
                if inner != b"tkhd":
                    continue
                # Width and height are the last 8 bytes, 16.16 fixed point; audio tracks have 0 × 0.
                w, h = struct.unpack(">II", moov[inner_end - 8 : inner_end])
                if w and h and width is None:
                    width, height = w >> 16, h >> 16
    return width, height, duration


def _read_moov(path: Path) -> bytes | None:
    with path.open("rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            size, kind = struct.unpack(">I4s", header)
            header_size = 8
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
                header_size = 16
            if kind == b"moov":
                if size == 0:
                    return handle.read()
                if size - header_size > 64 * 1024 * 1024:
                    return None
                return handle.read(size - header_size)
            if size == 0:
                return None
            if size < header_size:
                return None
            handle.seek(size - header_size, 1)
