"""Truncated and damaged videos: frames keep their true index and time, and every loss is warned
about and counted.

References: the frames written (lossless FFV1, so decoded frames equal them exactly); the indices
of the packets removed or the byte where the file was cut; clean files give no warning at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ehps.inference.sources import VideoStats, iter_video

av = pytest.importorskip("av")

N = 30


def _frames(n: int = N) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(n)]


def _write(path: Path, frames: list[np.ndarray], codec: str = "ffv1",
           drop: frozenset[int] = frozenset()) -> Path:
    """Encode ``frames`` at 10 fps, one key frame each; packets whose frame is in ``drop`` are
    not written (the demuxer then never sees them, as after skipped corrupt data)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=10)
        s.width, s.height = 32, 24
        s.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        s.codec_context.gop_size = 1
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                if round(float(p.pts * p.time_base) * 10) not in drop:
                    c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.mark.parametrize("name", ["clean.mkv", "clean.mp4", "clean.avi"])
def test_clean_videos_give_no_warning(tmp_path, name, caplog):
    codec = "ffv1" if name.endswith(".mkv") else "mpeg4"
    path = _write(tmp_path / name, _frames(), codec)
    stats = VideoStats(str(path))
    with caplog.at_level(logging.WARNING):
        got = list(iter_video(path, stats=stats))
    assert [f.index for f in got] == list(range(N))
    assert stats.warnings == [] and stats.missing == [] and not stats.ended_early
    assert stats.declared_frames == N and stats.decoded == N
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_lost_packets_keep_true_indices_and_are_reported(tmp_path, caplog):
    frames = _frames()
    path = _write(tmp_path / "gap.mkv", frames, drop=frozenset({11, 12, 13}))
    stats = VideoStats(str(path))
    with caplog.at_level(logging.WARNING):
        got = list(iter_video(path, stats=stats))
    assert [f.index for f in got] == [i for i in range(N) if i not in (11, 12, 13)]
    for f in got:  # each frame is the frame written at its index, at its true time
        np.testing.assert_array_equal(f.image, frames[f.index])
        assert f.time_s == pytest.approx(f.index / 10)
    assert stats.missing == [(11, 3)]
    assert any("3 frame(s) missing from frame 11" in r.getMessage() for r in caplog.records)


def test_truncated_video_is_warned_about(tmp_path, caplog):
    frames = _frames(60)
    path = _write(tmp_path / "full.mkv", frames)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    stats = VideoStats(str(cut))
    with caplog.at_level(logging.WARNING):
        got = [f for f in iter_video(cut, stats=stats) if f.image is not None]
    assert 10 < len(got) < 60
    for f in got:
        np.testing.assert_array_equal(f.image, frames[f.index])
    assert stats.ended_early and stats.declared_frames == 60
    first, count = stats.missing[-1]
    assert first == got[-1].index + 1 and first + count == 60
    assert any("ends early" in r.getMessage() and "cut.mkv" in r.getMessage()
               for r in caplog.records)


def test_requested_range_is_not_an_early_end(tmp_path):
    path = _write(tmp_path / "v.mkv", _frames())
    stats = VideoStats(str(path))
    got = list(iter_video(path, start=5, max_frames=7, stats=stats))
    assert [f.index for f in got] == list(range(5, 12))
    assert not stats.ended_early and stats.warnings == []


def test_garbage_in_the_middle_is_named(tmp_path):
    frames = _frames(40)
    path = _write(tmp_path / "v.avi", frames, codec="mpeg4")
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 600] = np.random.default_rng(1).integers(0, 256, 600, np.uint8).tobytes()
    bad = tmp_path / "mid.avi"
    bad.write_bytes(bytes(data))
    stats = VideoStats(str(bad))
    got = list(iter_video(bad, stats=stats))
    good = [f for f in got if f.image is not None]
    lost = 40 - len(good)
    assert lost > 0
    # every lost frame is accounted for: broken (yielded with an error), missing, or early end
    assert len(stats.broken) + stats.missing_frames >= lost
    assert stats.warnings or stats.broken
