"""Small parts of the inference loop: the packed smoother against one filter per key, the
manifest (ranges, resume checks), per-track series against a loop over frames, and the overlay
encoder (PyAV round trip, odd sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ehps.errors import InputError
from ehps.inference.smoothing import (
    ROTATION_KEYS,
    OneEuroFilter,
    ParamSmoother,
    RotationOneEuroFilter,
)
from ehps.io.manifest import Manifest, frame_ranges
from ehps.io.records import FrameRecord, TrackStore
from ehps.io.video import VideoEncoder

SHAPES = {"global_orient": (1, 3), "body_pose": (21, 3), "left_hand_pose": (15, 3),
          "jaw_pose": (1, 3), "betas": (1, 10), "transl": (1, 3), "phenotype": (1, 6)}


class _PerKeySmoother:
    """Reference: one filter per key (rotations on SO(3)), as the smoother was first written."""

    def __init__(self, *args: float) -> None:
        self.args, self.filters = args, {}

    def __call__(self, params: dict, t: float) -> dict:
        out = {}
        for key, value in params.items():
            arr = np.asarray(value)
            if not np.issubdtype(arr.dtype, np.floating):
                out[key] = arr
                continue
            cls = RotationOneEuroFilter if key in ROTATION_KEYS else OneEuroFilter
            f = self.filters.setdefault(key, cls(*self.args))
            out[key] = f(arr.astype(np.float64), t).astype(arr.dtype).reshape(arr.shape)
        return out


def test_packed_smoother_equals_a_filter_per_key():
    rng = np.random.default_rng(0)
    a, b = _PerKeySmoother(0.7, 0.3, 1.2), ParamSmoother(0.7, 0.3, 1.2)
    t = 0.0
    for _ in range(40):
        t += rng.uniform(0.03, 0.2)  # irregular frame times
        p = {k: rng.normal(0, 1.2, s).astype(np.float32) for k, s in SHAPES.items()}
        p["global_orient"] *= 2.9 / np.linalg.norm(p["global_orient"])  # near pi
        p["track_id"] = np.int64(3)  # non-float keys pass through
        ra, rb = a(p, t), b(p, t)
        assert rb["track_id"] == 3
        for k in SHAPES:
            assert rb[k].shape == p[k].shape and rb[k].dtype == np.float32
            np.testing.assert_allclose(rb[k], ra[k], atol=5e-6)


def test_frame_ranges():
    assert frame_ranges({5, 0, 1, 2, 7, 8, 3}) == [[0, 3], [5, 5], [7, 8]]
    assert frame_ranges([]) == []


def test_manifest_resume_checks(tmp_path):
    m = Manifest.open(tmp_path, {"estimator": "x", "smoothing": (True, 1.0)}, resume=False)
    m.done |= {0, 1, 2, 5}
    m.sources[5] = "a.png"
    (tmp_path / "manifest.json").write_text(json.dumps(m.to_json()))
    again = Manifest.open(tmp_path, {"estimator": "x", "smoothing": (True, 1.0)}, resume=True)
    assert again.done == {0, 1, 2, 5} and again.sources == {5: "a.png"}
    fresh = Manifest.open(tmp_path, {"estimator": "x", "smoothing": (True, 1.0)}, resume=False)
    assert not fresh.done
    with pytest.raises(InputError, match="smoothing"):
        Manifest.open(tmp_path, {"estimator": "x", "smoothing": (False, 1.0)}, resume=True)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(InputError, match="unreadable"):
        Manifest.open(tmp_path, {"estimator": "x"}, resume=True)


def _record(index: int, tids: list[int], rng) -> FrameRecord:
    n = len(tids)
    final = {"body_pose": rng.normal(size=(n, 21, 3)).astype(np.float32),
             "transl_full": rng.normal(size=(n, 3)).astype(np.float32)}
    return FrameRecord(index, index / 5.0, rng.uniform(0, 50, (n, 4)).astype(np.float32),
                       rng.uniform(size=n).astype(np.float32), np.asarray(tids),
                       np.asarray(tids), np.full((n, 4), np.nan, np.float32), dict(final), final,
                       rng.normal(size=(n, 55, 3)).astype(np.float32))


def test_track_store_against_a_frame_loop(tmp_path):
    rng = np.random.default_rng(1)
    present = {0: [0, 1], 1: [1], 2: [], 3: [1, 0], 4: [2], 5: [0]}
    records = [_record(f, tids, rng) for f, tids in present.items()]
    store = TrackStore()
    for r in records:
        store.add(r)
    # round trip of a record through its file
    p = tmp_path / "r.npz"
    np.savez(p, **records[3].arrays())
    back = FrameRecord.load(p)
    np.testing.assert_array_equal(back.final["body_pose"], records[3].final["body_pose"])
    assert back.index == 3 and back.track_ids.tolist() == [1, 0]
    z = store.arrays(fps=5.0)
    assert z["track_ids"].tolist() == [0, 1, 2]
    for tid in (0, 1, 2):
        frames = [f for f, tids in present.items() if tid in tids]
        expect_idx = list(range(frames[0], frames[-1] + 1))
        assert z[f"t{tid}/frame_index"].tolist() == expect_idx
        assert z[f"t{tid}/valid"].tolist() == [f in frames for f in expect_idx]
        for j, f in enumerate(expect_idx):
            row = z[f"t{tid}/joints"][j]
            if f in frames:
                i = present[f].index(tid)
                np.testing.assert_array_equal(row, records[f].joints_full[i])
                assert z[f"t{tid}/time_s"][j] == pytest.approx(f / 5.0)
            else:
                assert not row.any()


def test_video_encoder_round_trip(tmp_path):
    av = pytest.importorskip("av")
    enc = VideoEncoder(tmp_path / "o.mp4", fps=12.5)
    frames = [np.full((31, 45, 3), 20 * i, np.uint8) for i in range(6)]
    for f in frames:
        enc.write(f)
    assert not (tmp_path / "o.mp4").exists()  # only a temporary file until close
    assert enc.close() == tmp_path / "o.mp4"
    assert not list(tmp_path.glob(".*tmp*"))
    with av.open(str(tmp_path / "o.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        rate = float(c.streams.video[0].average_rate)
    assert len(decoded) == 6 and decoded[0].shape == (32, 46, 3) and rate == pytest.approx(12.5)
    for got, ref in zip(decoded, frames):
        assert abs(float(got[:31, :45].mean()) - float(ref.mean())) < 4
    aborted = VideoEncoder(tmp_path / "x.mp4", fps=10)
    aborted.write(frames[0])
    aborted.abort()
    assert not list(tmp_path.glob("*x*"))
