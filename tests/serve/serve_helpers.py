"""Helpers of the ``ehps serve`` tests: small media files and job polling."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[2]
#: The shared real video (``../shared/data/vtest.avi`` beside the repository; a worktree in
#: ``<root>/wt/<name>`` finds ``<root>/shared`` too).
VTEST = next((p for p in (_REPO.parent / "shared" / "data" / "vtest.avi",
                          _REPO.parent.parent / "shared" / "data" / "vtest.avi") if p.is_file()),
             _REPO.parent / "shared" / "data" / "vtest.avi")


def png_bytes(width: int, height: int, value: int = 128) -> bytes:
    """A flat grey PNG (compresses to a few kB whatever its size)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Encode (H, W, 3) uint8 RGB frames as an H.264 (or MPEG-4) MP4 with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def cut_vtest(path: Path, start: int, count: int) -> Path:
    """``count`` frames of the shared real video ``vtest.avi`` from ``start``, as an MP4."""
    import av

    if not VTEST.is_file():
        pytest.skip(f"{VTEST} (shared test data) is not here")
    frames = []
    with av.open(str(VTEST)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                frames.append(frame.to_ndarray(format="rgb24"))
    return write_clip(path, frames, fps=10)


def wait_job(client: Any, job_id: str, timeout_s: float = 600.0,
             until: tuple[str, ...] = ("done", "error", "cancelled")) -> dict[str, Any]:
    """Poll ``GET /api/jobs/{id}`` until its status is in ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(f"/api/jobs/{job_id}").json()
        if body.get("status") in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout_s} s")
        time.sleep(0.2)
