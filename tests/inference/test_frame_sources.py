"""Inputs: file / folder / glob expansion (natural order, missing inputs named), image reading
with corrupt files, in-process video decoding checked pixel-exactly against the frames written
with a lossless codec, broken frames skipped and named, and the boxes JSON layouts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ehps.errors import InputError
from ehps.inference.sources import (
    expand_inputs,
    iter_images,
    iter_video,
    load_boxes_json,
    probe_video,
)

av = pytest.importorskip("av")
from infer_scene import write_video  # noqa: E402


def _png(path: Path, value: int = 100, size: tuple[int, int] = (24, 32)) -> Path:
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def test_expand_inputs_order_and_missing(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    for name in ("f10.png", "f2.png", "f1.jpg", ".hidden.png", "notes.txt", "clip.mp4"):
        (d / name).write_bytes(b"x")
    (d / "sub").mkdir()
    single = _png(tmp_path / "single.png")
    items = expand_inputs([str(single), str(d), str(tmp_path / "frames" / "f1*"),
                           str(tmp_path / "nope.png"), str(tmp_path / "*.gif")])
    names = [(it.kind, it.path.name) for it in items]
    assert names == [
        ("image", "single.png"),
        ("video", "clip.mp4"), ("image", "f1.jpg"), ("image", "f2.png"), ("image", "f10.png"),
        ("image", "f1.jpg"), ("image", "f10.png"),
        ("missing", "nope.png"), ("missing", "*.gif"),
    ]
    assert "does not exist" in items[7].error and "no file matches" in items[8].error
    empty = tmp_path / "empty"
    empty.mkdir()
    assert expand_inputs([empty])[0].kind == "missing"
    with pytest.raises(InputError):
        expand_inputs([])


def test_iter_images_names_corrupt_files(tmp_path):
    good = _png(tmp_path / "a.png", 50)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    frames = list(iter_images([good, bad, _png(tmp_path / "c.png", 200)], fps=5.0))
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[0].image is not None and frames[0].image[0, 0, 0] == 50
    assert frames[1].image is None and "b.png" in frames[1].error
    assert frames[2].time_s == pytest.approx(0.4)


def _frames(n: int, hw: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for _ in range(n)]


def test_video_decoding_is_exact_and_ranged(tmp_path):
    frames = _frames(12)
    path = tmp_path / "lossless.mkv"
    write_video(path, frames, "ffv1", fps=8)
    info = probe_video(path)
    assert (info.width, info.height, info.fps) == (64, 48, 8.0)
    got = list(iter_video(path))
    assert [f.index for f in got] == list(range(12))
    for f, ref in zip(got, frames):
        assert not f.error and f.source == f"{path}#{f.index}"
        np.testing.assert_array_equal(f.image, ref)
        assert f.time_s == pytest.approx(f.index / 8.0)
    part = list(iter_video(path, start=3, max_frames=4))
    assert [f.index for f in part] == [3, 4, 5, 6]
    np.testing.assert_array_equal(part[0].image, frames[3])


def test_broken_frame_is_named_and_skipped(tmp_path):
    ramp = np.linspace(0, 80, 64)[None, :, None]
    frames = [np.broadcast_to(ramp + 10 * i, (48, 64, 3)).astype(np.uint8) for i in range(15)]
    path = tmp_path / "broken.avi"
    write_video(path, frames, "mpeg4", corrupt={6})
    got = list(iter_video(path))
    assert [f.index for f in got] == list(range(15))
    broken = [f for f in got if f.error]
    assert [f.index for f in broken] == [6]
    assert "broken frame 6" in broken[0].error and "broken.avi" in broken[0].error
    # the frames after it are decoded, and they are the right frames
    for f in got[7:]:
        dist = [np.abs(f.image.astype(int) - ref.astype(int)).mean() for ref in frames]
        assert int(np.argmin(dist)) == f.index and min(dist) < 5


def test_unreadable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match="bad.mp4"):
        probe_video(bad)
    with pytest.raises(InputError, match="bad.mp4"):
        next(iter_video(bad))


def test_boxes_json_layouts(tmp_path):
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"format": "xyxy", "boxes": {
        "a.png": [[10, 20, 50, 120]], "v.mp4#3": [{"bbox": [0, 0, 10, 10], "score": 0.25}],
        "7": []}}))
    table = load_boxes_json(p)
    boxes, scores = table.lookup("/x/a.png", 0, Path("/x/a.png"))
    np.testing.assert_allclose(boxes, [[10, 20, 40, 100]])
    np.testing.assert_allclose(scores, [1.0])
    boxes, scores = table.lookup("/d/v.mp4#3", 3, Path("/d/v.mp4"))
    np.testing.assert_allclose(boxes, [[0, 0, 10, 10]])
    np.testing.assert_allclose(scores, [0.25])
    assert table.lookup("/d/v.mp4#7", 7, Path("/d/v.mp4"))[0].shape == (0, 4)
    assert table.lookup("/d/v.mp4#8", 8, Path("/d/v.mp4")) is None
    # records with frame / image keys
    p.write_text(json.dumps([{"frame": 2, "bbox": [1, 2, 3, 4]},
                             {"frame": 2, "bbox": [5, 6, 7, 8], "score": 0.5},
                             {"image": "b.png", "bbox": [0, 0, 9, 9]}]))
    table = load_boxes_json(p)
    assert table.lookup("x#2", 2)[0].shape == (2, 4)
    np.testing.assert_allclose(table.lookup("x#2", 2)[1], [1.0, 0.5])
    # a single-image layout applies to every frame
    p.write_text(json.dumps([[1, 2, 3, 4]]))
    np.testing.assert_allclose(load_boxes_json(p).lookup("anything", 5)[0], [[1, 2, 3, 4]])
    for bad in ('{"boxes": {"a.png": [[1, 2, 3]]}}', '{"a.png": [[1, 2, -3, 4]]}', "[1, 2",
                '{"format": "polar", "boxes": {"a": []}}'):
        p.write_text(bad)
        with pytest.raises(InputError, match="b.json"):
            load_boxes_json(p)
    with pytest.raises(InputError, match="does not exist"):
        load_boxes_json(tmp_path / "missing.json")
