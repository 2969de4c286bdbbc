"""Fuzz targets for media files: images (:func:`ehps.detection.load_image`) and videos
(:func:`ehps.inference.sources.iter_video`), plus the harness self-test target.

Each target is three functions: ``*_seeds(folder)`` writes valid seed files, ``*_mutate(rng,
data, seed)`` returns a mutated copy, ``*_load(path)`` loads a file the way ``ehps`` does.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ehps.testing.mutations import INTERESTING_INTS, mutate_bytes

__all__ = ["image_seeds", "image_mutate", "image_load", "video_seeds", "video_mutate",
           "video_load", "selftest_seeds", "selftest_load"]


# ----------------------------------------------------------------------------------- image


def image_seeds(folder: Path) -> list[Path]:
    import cv2
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    out = []
    for ext in (".png", ".jpg", ".bmp", ".tiff", ".webp", ".ppm"):
        p = folder / f"seed{ext}"
        cv2.imwrite(str(p), img)
        out.append(p)
    p16 = folder / "seed16.png"
    cv2.imwrite(str(p16), (img.astype(np.uint16) * 257)[:, :, 0])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    pe = folder / "seed_exif.jpg"
    Image.fromarray(img).save(pe, exif=exif)
    return [*out, p16, pe]


def _png_dims(rng: np.random.Generator, data: bytes) -> bytes:
    """PNG / JPEG / BMP size fields set to interesting values."""
    b = bytearray(data)
    value = int(rng.choice(INTERESTING_INTS)) % (1 << 32)
    k = 4 * int(rng.integers(2))  # width or height
    if data.startswith(b"\x89PNG") and len(b) > 24:
        b[16 + k : 20 + k] = struct.pack(">I", value)
    elif data.startswith(b"BM") and len(b) > 26:
        b[18 + k : 22 + k] = struct.pack("<I", value)
    elif data.startswith(b"\xff\xd8"):
        i = data.find(b"\xff\xc0")
        if i > 0 and len(b) > i + 9:
            b[i + 5 : i + 9] = struct.pack(">HH", value & 0xFFFF, (value >> 16) & 0xFFFF)
    return bytes(b)


def image_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    return _png_dims(rng, data) if rng.random() < 0.2 else mutate_bytes(rng, data)


def image_load(path: Path) -> None:
    from ehps.detection import load_image

    img = load_image(path)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8, img.shape


# ----------------------------------------------------------------------------------- video


def video_seeds(folder: Path) -> list[Path]:
    import av

    ramp = np.linspace(0, 200, 32)[None, :, None]
    frames = [np.broadcast_to(ramp + 3 * i, (24, 32, 3)).astype(np.uint8) for i in range(12)]
    out = []
    for name, codec, fmt in (("seed.mkv", "ffv1", "bgr0"), ("seed.mp4", "mpeg4", "yuv420p"),
                             ("seed.avi", "mpeg4", "yuv420p"), ("seed2.mkv", "mpeg4", "yuv420p")):
        p = folder / name
        with av.open(str(p), "w") as c:
            s = c.add_stream(codec, rate=10)
            s.width, s.height, s.pix_fmt = 32, 24, fmt
            s.codec_context.gop_size = 4
            for img in frames:
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        out.append(p)
    return out


def video_mutate(rng: np.random.Generator, data: bytes, seed: Path) -> bytes:
    if rng.random() < 0.15:
        return data[: int(rng.integers(1, len(data)))]  # truncated
    return mutate_bytes(rng, data, max_ops=int(rng.integers(1, 12)))


def video_load(path: Path) -> None:
    from ehps.inference.sources import VideoStats, iter_video, probe_video

    probe_video(path)
    stats = VideoStats(str(path))
    last = -1
    for frame in iter_video(path, stats=stats):
        assert frame.image is not None or frame.error
        if frame.image is not None:
            assert frame.index > last, "frame indices must increase"
            last = frame.index



def selftest_load(path: Path) -> None:
    """Does what the file says (``segv``, ``hang``, ``raise``, ``clear``): checks the harness."""
    import os
    import signal
    import time

    from ehps.errors import InputError

    word = path.read_bytes().strip()
    if word == b"segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif word == b"hang":
        time.sleep(3600)
    elif word == b"raise":
        raise ValueError("a foreign exception")
    elif word == b"clear":
        raise InputError(f"{path}: a clear error")


def selftest_seeds(folder: Path) -> list[Path]:
    p = folder / "ok.txt"
    p.write_bytes(b"ok")
    return [p]
