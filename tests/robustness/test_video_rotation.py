"""Phone videos store portrait footage sideways with a display rotation: frames must come out
as a player shows them, and the probed size must be the shown size.

Reference: where a player puts the top-left corner of the stored picture. FFmpeg's own
auto-rotation (``ffmpeg -i rotated.mp4 frame.png``, checked with FFmpeg 5.1 on files written as
below) shows a stored 64x32 picture whose 8x8 top-left corner is white as:
- rotation -90 (what phones write for portrait): 32 wide, 64 high, the corner at the top right;
- rotation +90: 32 wide, 64 high, the corner at the bottom left;
- rotation 180: 64 wide, 32 high, the corner at the bottom right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ehps.inference.sources import iter_video, probe_video

av = pytest.importorskip("av")

W, H, C = 64, 32, 8


def _write(path: Path, rotation_deg: float | None) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        if rotation_deg is not None:
            s.set_display_rotation(rotation_deg)
        img = np.zeros((H, W, 3), np.uint8)
        img[:C, :C] = 255
        for _ in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


# rotation -> (shown height, shown width, (row, col) of the white corner's centre as shown)
SHOWN = {
    None: (H, W, (C / 2, C / 2)),
    -90: (W, H, (C / 2, H - C / 2)),
    90: (W, H, (W - C / 2, C / 2)),
    180: (H, W, (H - C / 2, W - C / 2)),
}


@pytest.mark.parametrize("rotation", list(SHOWN), ids=str)
def test_frames_come_out_as_a_player_shows_them(tmp_path, rotation):
    path = _write(tmp_path / "clip.mp4", rotation)
    h, w, (row, col) = SHOWN[rotation]
    info = probe_video(path)
    assert (info.height, info.width) == (h, w)
    frames = list(iter_video(path))
    assert len(frames) == 3
    for f in frames:
        assert f.image is not None and f.image.shape == (h, w, 3)
        ys, xs = np.nonzero(f.image[..., 0] > 128)
        assert abs(ys.mean() - (row - 0.5)) < 1.5 and abs(xs.mean() - (col - 0.5)) < 1.5
