"""Robust image loading: (H, W, 3) uint8 RGB out, or an :class:`~ehps.errors.InputError` that
names the file and the reason.

Policy:
- Formats: whatever OpenCV decodes (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM, ...). The bytes are read
  with numpy and decoded in memory, so any path (including non-ASCII) works.
- EXIF orientation is applied (the pixels come back upright, as a viewer shows them).
- Grayscale becomes RGB; an alpha channel is dropped; 16-bit images map to 8 bits by
  ``round(v / 257)`` (full range to full range); float images are clipped to [0, 1] and scaled.
- Huge images: :func:`load_image` first reads the header; above ``max_pixels`` (default: Pillow's
  decompression-bomb limit, about 179 megapixels, i.e. >500 MB of RGB) it refuses with a message
  instead of running out of memory. Below that, the full image is decoded and the detectors keep
  coordinates in its pixels (they downsample internally through an image pyramid).
  :func:`load_image_reduced` decodes a giant file at a reduced size (JPEG's DCT scaling where
  possible, then area resampling) and returns the factor that maps its pixels back to the
  original.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from ehps.errors import InputError

__all__ = ["DEFAULT_MAX_PIXELS", "read_image_size", "load_image", "load_image_reduced",
           "as_rgb_uint8", "decode_image_file"]

#: Pillow's ``2 * Image.MAX_IMAGE_PIXELS`` (the size at which it refuses a file as a bomb).
DEFAULT_MAX_PIXELS: int = 2 * (1024 * 1024 * 1024 // 4 // 3)

_PIL_LOCK = threading.Lock()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"cannot read image '{path}': the file does not exist")
    if path.is_dir():
        raise InputError(f"cannot read image '{path}': it is a directory, not an image file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read image '{path}': {exc.strerror or exc}") from exc
    if size == 0:
        raise InputError(f"cannot read image '{path}': the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read image '{path}': permission denied")


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(height, width)`` from the file header without decoding the pixels, or ``None`` when
    Pillow cannot parse the header (the decoder then decides). EXIF rotation is not applied."""
    from PIL import Image

    path = Path(path)
    _check_file(path)
    with _PIL_LOCK:  # the bomb check is a module global: switch it off only while we look
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(path) as im:
                width, height = im.size
        except Exception:  # unknown to Pillow: let OpenCV try
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    return int(height), int(width)


def as_rgb_uint8(image: np.ndarray, name: str = "image", bgr: bool = False) -> np.ndarray:
    """Any decoded array -> (H, W, 3) uint8 RGB (see the module policy).

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float.
        name: shown in error messages.
        bgr: the channels are in OpenCV's BGR(A) order.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(
            f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}"
        )
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.uint16:
        arr = np.round(arr.astype(np.float32) / 257.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = np.round(np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0) * 255.0)
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    else:
        raise InputError(f"{name}: unsupported pixel type {arr.dtype}; use uint8, uint16 or float")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if bgr:
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png_chunks(data: np.ndarray, path: Path) -> None:
    """Every PNG chunk must fit in the file: libpng (inside OpenCV) allocates and fills a chunk
    of the *declared* length (up to 4 GiB) before noticing that the file is shorter."""
    buf = data.tobytes()
    pos, end = 8, len(buf)
    while pos + 8 <= end:
        length = int.from_bytes(buf[pos : pos + 4], "big")
        kind = buf[pos + 4 : pos + 8]
        if length > end - pos - 12:
            raise InputError(
                f"cannot decode image '{path}': PNG chunk {kind!r} at byte {pos} declares "
                f"{length} bytes but the file ends before; the file is corrupt or truncated")
        if kind == b"IEND":
            return
        pos += 12 + length


def decode_image_file(path: str | os.PathLike[str], flags: int) -> np.ndarray:
    """``cv2.imdecode`` of a file's bytes, after the checks decoders skip (PNG chunk lengths).

    Returns:
        the decoded array (BGR order, as OpenCV gives it).

    Raises:
        InputError: unreadable, corrupt or undecodable file (the message names it).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read image '{path}': {exc.strerror or exc}") from exc
    if data[:8].tobytes() == _PNG_MAGIC:
        _check_png_chunks(data, path)
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:
        raise InputError(f"cannot decode image '{path}': {str(exc).strip()}") from exc
    if image is None:
        raise InputError(
            f"cannot decode image '{path}': the file is corrupt, truncated or not an image "
            "format OpenCV reads (PNG, JPEG, BMP, TIFF, WebP, PPM)"
        )
    return image


def load_image(
    path: str | os.PathLike[str], max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    Args:
        path: image file.
        max_pixels: refuse (with an :class:`InputError`) images with more pixels than this;
            ``None`` disables the check.

    Raises:
        InputError: missing, empty, unreadable, corrupt or too large file (the message names
            the file and the reason).
    """
    path = Path(path)
    _check_file(path)
    hw = read_image_size(path)
    if max_pixels is not None and hw is not None and hw[0] * hw[1] > max_pixels:
        raise InputError(
            f"image '{path}' is {hw[1]}x{hw[0]} ({hw[0] * hw[1] / 1e6:.0f} megapixels), more than "
            f"the limit of {max_pixels / 1e6:.0f}; decode it at a reduced size with "
            "ehps.io.image.load_image_reduced(path), or pass max_pixels=None"
        )
    image = decode_image_file(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    return as_rgb_uint8(image, name=f"image '{path}'", bgr=True)


def load_image_reduced(
    path: str | os.PathLike[str], max_pixels: int = 40_000_000
) -> tuple[np.ndarray, float]:
    """Decode a possibly giant image at a size of at most ``max_pixels``.

    Returns:
        ``(image (h, w, 3) uint8 RGB, scale)`` where original pixel coordinates are
        ``scale * (coordinates in image)``; ``scale == 1.0`` when no reduction was needed.
    """
    path = Path(path)
    _check_file(path)
    hw = read_image_size(path)
    factor = 1.0 if hw is None else math.sqrt(hw[0] * hw[1] / max_pixels)
    if factor <= 1.0:
        return load_image(path, max_pixels=None), 1.0
    flags = cv2.IMREAD_COLOR
    for k, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                    (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if factor >= k:
            flags = flag
            break
    image = as_rgb_uint8(decode_image_file(path, flags), name=f"image '{path}'", bgr=True)
    assert hw is not None
    full_long = max(hw)  # EXIF rotation may swap the sides: compare the long ones
    scale = full_long / max(image.shape[:2])
    if image.shape[0] * image.shape[1] > max_pixels:
        shrink = math.sqrt(max_pixels / (image.shape[0] * image.shape[1]))
        size = (max(1, int(image.shape[1] * shrink)), max(1, int(image.shape[0] * shrink)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        scale = full_long / max(image.shape[:2])
    return image, float(scale)
