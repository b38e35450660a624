"""Small real media files for tests: images drawn with Pillow, MP4 files assembled box by box."""

from __future__ import annotations

import struct
from pathlib import Path


def image(path: Path, size: tuple[int, int] = (1080, 1080), kind: str = "JPEG") -> Path:
    from PIL import Image

    Image.new("RGB", size, (200, 40, 60)).save(path, kind)
    return path


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mp4(path: Path, *, width: int = 1080, height: int = 1080, duration_s: float = 12.0, padding: int = 0) -> Path:
    """An MP4 with the boxes players and networks read first (ftyp, mdat, moov: mvhd + one video trak/tkhd).
    Not playable, but its size, dimensions and duration are exactly what a real file of that shape declares."""
    timescale = 1000
    mvhd = bytes(4) + bytes(8) + struct.pack(">II", timescale, int(duration_s * timescale)) + bytes(80)
    # tkhd version 0: flags, times, track id, reserved, duration, reserved, layer, volume, matrix, then size.
    tkhd = bytes(4) + bytes(8) + struct.pack(">I", 1) + bytes(4) + struct.pack(">I", int(duration_s * timescale))
    tkhd += bytes(8) + bytes(8) + bytes(36) + struct.pack(">II", width << 16, height << 16)
    audio_tkhd = tkhd[:-8] + struct.pack(">II", 0, 0)  # an audio track: 0 × 0, must be ignored
    moov = _box(
        b"moov", _box(b"mvhd", mvhd) + _box(b"trak", _box(b"tkhd", audio_tkhd)) + _box(b"trak", _box(b"tkhd", tkhd))
    )
    data = _box(b"ftyp", b"isom" + bytes(4) + b"isomiso2mp41") + _box(b"mdat", bytes(padding)) + moov
    path.write_bytes(data)
    return path
