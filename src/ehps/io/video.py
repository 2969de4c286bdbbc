"""The overlay video of ``ehps infer --render`` (``overlay.mp4``), written frame by frame with
PyAV and moved into place only when complete."""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import InputError, require
from ehps.utils.io import temp_sibling

__all__ = ["VideoEncoder"]


class VideoEncoder:
    """An MP4 written with PyAV frame by frame, moved into place only by :meth:`close`.

    Uses libx264 (CRF 20) when the PyAV build has it, else mpeg4. Odd frame sizes are padded by
    one pixel (yuv420p needs even sizes).
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self._av = require("av", "video", "writing the overlay video")
        self._container: Any = None
        self._stream: Any = None
        self._tmp: Path | None = None
        self.codec = ""
        self.frames = 0

    def _open(self, h: int, w: int) -> None:
        av = self._av
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = temp_sibling(self.path, suffix=".tmp.mp4")
        os.close(fd)
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = self._container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast"}
        else:
            stream.bit_rate = max(2_000_000, int(w * h * self.fps * 0.3))
        self._stream, self.codec = stream, codec

    def write(self, image_rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame (all frames must have the same size)."""
        h, w = image_rgb.shape[:2]
        if self._container is None:
            self._open(h, w)
        if (h + h % 2, w + w % 2) != (self._stream.height, self._stream.width):
            raise InputError(f"overlay frame size changed to {w}x{h} inside one video")
        if h % 2 or w % 2:
            image_rgb = np.pad(image_rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image_rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path | None:
        """Flush and move the file into place; ``None`` when no frame was written."""
        if self._container is None:
            return None
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
