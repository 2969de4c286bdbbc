"""A 100-frame synthetic video with known identities through the whole ``ehps infer`` loop (tiny
random-weight network in the official format, synthetic SMPL-X, boxes given in shuffled order):
zero id switches, tracks.npz consistent with the per-frame files, smoothing equal to the One-Euro
filter applied directly to the recorded raw parameters (and lowering jitter), and an interrupted
run resumed without redoing finished frames giving the same files as an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ehps.config.infer import (
    DetectionConfig,
    EstimatorConfig,
    InferConfig,
    InputConfig,
    OutputConfig,
    SmoothingConfig,
    TrackingConfig,
)
from ehps.inference.predictor import Predictor
from ehps.inference.runner import run_inference
from ehps.inference.smoothing import ParamSmoother, mean_acceleration
from ehps.structures import SMPLX_PARAM_KEYS

pytest.importorskip("av")


def _config(out: Path, walkers, *, max_frames=None, start=0, pose_batch=64, resume=False,
            smoothing=None, render=False, side_view=False, track=True) -> InferConfig:
    return InferConfig(
        input=InputConfig(start=start, max_frames=max_frames),
        detection=DetectionConfig(boxes=str(walkers.boxes_json)),
        estimator=EstimatorConfig(pose_batch=pose_batch),
        tracking=TrackingConfig(enabled=track),
        smoothing=smoothing or SmoothingConfig(),
        output=OutputConfig(out_dir=str(out), resume=resume, render=render,
                            side_view=side_view),
        progress=False)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, walkers, tiny_model_files, synthetic_smplx_dir):
    out = tmp_path_factory.mktemp("full")
    pred = Predictor.from_pretrained(tiny_model_files.safetensors, device="cpu",
                                     smplx_path=synthetic_smplx_dir, batch_size=8)
    report = run_inference([walkers.path], _config(out, walkers), pred)
    return report, out / "walkers"


def _metas(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "meta").glob("*.json"))]


def _identity(walkers, frame: int, bbox: list[float]) -> int:
    matches = [i for i, b in walkers.boxes[frame] if np.allclose(b, bbox, atol=1e-3)]
    assert len(matches) == 1
    return matches[0]


def test_all_frames_and_no_id_switches(full_run, walkers):
    report, folder = full_run
    assert report.exit_code == 0 and not report.failures
    assert report.frames_done == 100
    assert report.people == sum(len(v) for v in walkers.boxes.values())
    track_of: dict[int, int] = {}
    switches = 0
    for meta in _metas(folder):
        ident = _identity(walkers, meta["frame"], meta["bbox_raw"])
        if ident in track_of and track_of[ident] != meta["track_id"]:
            switches += 1
        track_of.setdefault(ident, meta["track_id"])
        assert meta["person"] == meta["track_id"]  # files are named by track id
    assert switches == 0
    assert sorted(track_of) == [0, 1, 2] and len(set(track_of.values())) == 3


def test_per_person_files(full_run):
    _, folder = full_run
    files = sorted((folder / "smplx").glob("*.npz"))
    assert len(files) == len(list((folder / "meta").glob("*.json")))
    with np.load(files[0], allow_pickle=False) as z:
        for key, shape in SMPLX_PARAM_KEYS.items():
            assert z[key].shape == shape and z[key].dtype == np.float32
        assert z["joints_cam"].shape == (55, 3) and z["transl_full"].shape == (1, 3)
    meta = json.loads((folder / "meta" / (files[0].stem + ".json")).read_text())
    for key in ("focal", "princpt", "bbox", "bbox_raw", "score", "track_id", "estimator",
                "weights", "transl_full", "focal_full", "img_path"):
        assert key in meta
    assert meta["estimator"] == "smplestx_s" and meta["weights"].endswith(".safetensors")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] and manifest["frames_done"] == [[0, 99]]
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")
                or p.name.endswith(".tmp.mp4")]


def test_tracks_npz_matches_frames(full_run, walkers):
    _, folder = full_run
    z = dict(np.load(folder / "tracks.npz", allow_pickle=False))
    assert z["fps"] == 10.0 and z["track_ids"].tolist() == [0, 1, 2]
    metas = _metas(folder)
    gap_track = next(m["track_id"] for m in metas
                     if _identity(walkers, m["frame"], m["bbox_raw"]) == 1)
    valid = z[f"t{gap_track}/valid"]
    frames = z[f"t{gap_track}/frame_index"]
    assert frames.tolist() == list(range(100))
    assert not valid[60:63].any() and valid[:60].all() and valid[63:].all()
    for meta in metas[::37]:
        t, f = meta["track_id"], meta["frame"]
        row = int(np.flatnonzero(z[f"t{t}/frame_index"] == f)[0])
        with np.load(folder / "smplx" / f"{f:06d}_{t:02d}.npz") as per:
            np.testing.assert_allclose(z[f"t{t}/body_pose"][row], per["body_pose"])
            np.testing.assert_allclose(z[f"t{t}/transl_full"][row], per["transl_full"][0])
            joints_full = per["joints_cam"] - per["transl"] + per["transl_full"]
            np.testing.assert_allclose(z[f"t{t}/joints"][row], joints_full, atol=1e-5)


def _records(folder: Path) -> dict[int, dict]:
    out = {}
    for p in sorted((folder / "state").glob("*.npz")):
        with np.load(p, allow_pickle=False) as z:
            out[int(z["index"])] = {k: z[k] for k in z.files}
    return out


def test_smoothing_is_one_euro_on_the_raw_track(full_run, tiny_model_files,
                                                synthetic_smplx_dir):
    _, folder = full_run
    records = _records(folder)
    raw_keys = [k[4:] for k in records[0] if k.startswith("raw.")]
    # reference: the lead's ParamSmoother fed directly with each track's raw parameters
    smoothers: dict[int, ParamSmoother] = {}
    cfg = SmoothingConfig()
    for f in range(100):
        rec = records[f]
        for i, tid in enumerate(rec["track_ids"].tolist()):
            raw = {k: rec[f"raw.{k}"][i] for k in raw_keys if k != "transl_full"}
            raw["transl"] = rec["raw.transl_full"][i].reshape(1, 3)
            sm = smoothers.setdefault(tid, ParamSmoother(cfg.min_cutoff, cfg.beta, cfg.d_cutoff))
            ref = sm(raw, f / 10.0)
            np.testing.assert_allclose(rec["final.transl_full"][i], ref["transl"][0], atol=1e-5)
            for key in ("global_orient", "body_pose", "betas", "left_hand_pose"):
                np.testing.assert_allclose(rec[f"final.{key}"][i], ref[key], atol=1e-5)
    # jitter (mean joint acceleration in the shared camera) drops for every track
    pred = Predictor.from_pretrained(tiny_model_files.safetensors, device="cpu",
                                     smplx_path=synthetic_smplx_dir)
    z = dict(np.load(folder / "tracks.npz"))
    raw_people = {}
    for tid in z["track_ids"].tolist()[:2]:
        frames = z[f"t{tid}/frame_index"][z[f"t{tid}/valid"]]
        raw_people[tid] = [_raw_person(records[int(f)], tid, raw_keys) for f in frames]
    pred.pose([p for people in raw_people.values() for p in people])
    for tid, people in raw_people.items():
        raw_joints = np.stack([p.joints_cam[:55] - p.params["transl"][0] + p.transl_full
                               for p in people])
        valid = z[f"t{tid}/valid"]
        smooth_acc = mean_acceleration(z[f"t{tid}/joints"][valid], 10.0)
        raw_acc = mean_acceleration(raw_joints, 10.0)
        assert smooth_acc < 0.8 * raw_acc, (tid, smooth_acc, raw_acc)


def _raw_person(rec: dict, tid: int, keys: list[str]):
    """The recorded raw (unsmoothed) estimate of track ``tid`` in a frame record."""
    from ehps.inference.camera import person_intrinsics
    from ehps.structures import PersonEstimate

    i = int(np.flatnonzero(rec["track_ids"] == tid)[0])
    params = {k: rec[f"raw.{k}"][i] for k in keys if k != "transl_full"}
    return PersonEstimate(np.zeros(4), 1.0, "smplx", params, np.zeros((0, 3)), np.zeros((0, 3)),
                          np.zeros((0, 2)), person_intrinsics(rec["crop_boxes"][i]),
                          transl_full=rec["raw.transl_full"][i])


class _Interrupt:
    """Wraps NetworkEstimator.run_network: counts crops, raises KeyboardInterrupt on call
    ``stop``."""

    def __init__(self, pred: Predictor, stop: int | None) -> None:
        est = pred.estimator
        self.inner, self.stop, self.calls, self.crops = est.run_network, stop, 0, 0
        est.run_network = self  # type: ignore[method-assign]

    def __call__(self, crops):
        self.calls += 1
        if self.stop is not None and self.calls == self.stop:
            raise KeyboardInterrupt
        self.crops += len(crops)
        return self.inner(crops)


def test_interrupted_run_resumes_to_the_same_files(full_run, walkers, tiny_model_files,
                                                   synthetic_smplx_dir, tmp_path):
    """Frames 0-29 (processing is causal, so they must equal frames 0-29 of the full run)."""
    _, ref_folder = full_run
    n_frames = 30

    def predictor():
        return Predictor.from_pretrained(tiny_model_files.safetensors, device="cpu",
                                         smplx_path=synthetic_smplx_dir, batch_size=8)

    first = predictor()
    _Interrupt(first, stop=4)
    with pytest.raises(KeyboardInterrupt):
        run_inference([walkers.path],
                      _config(tmp_path, walkers, max_frames=n_frames, pose_batch=8), first)
    folder = tmp_path / "walkers"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not manifest["complete"] and not (folder / "tracks.npz").exists()
    done = {i for a, b in manifest["frames_done"] for i in range(a, b + 1)}
    assert done == set(range(len(done))) and 5 < len(done) < 20
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "smplx").glob("*.npz")}

    second = predictor()
    counter = _Interrupt(second, stop=None)
    report = run_inference([walkers.path],
                           _config(tmp_path, walkers, resume=True, max_frames=n_frames), second)
    assert report.exit_code == 0 and report.frames_resumed == len(done)
    assert report.frames_done == n_frames - len(done)
    # finished frames were not estimated or written again
    todo = sum(len(walkers.boxes[f]) for f in range(n_frames) if f not in done)
    assert counter.crops == todo
    assert all(p.stat().st_mtime_ns == stamps[p.name] for p in (folder / "smplx").glob("*.npz")
               if p.name in stamps)
    # the same outputs as the uninterrupted run
    names = sorted(p.name for p in (folder / "smplx").glob("*.npz"))
    assert names == sorted(p.name for p in (ref_folder / "smplx").glob("*.npz")
                           if int(p.name[:6]) < n_frames)
    for name in names[::3]:
        with np.load(ref_folder / "smplx" / name) as a, np.load(folder / "smplx" / name) as b:
            for key in (*SMPLX_PARAM_KEYS, "transl_full", "joints_cam"):
                np.testing.assert_allclose(b[key], a[key], atol=2e-4, err_msg=name)
    za, zb = np.load(ref_folder / "tracks.npz"), np.load(folder / "tracks.npz")
    for tid in zb["track_ids"].tolist():
        rows = zb[f"t{tid}/frame_index"]
        sel = np.isin(za[f"t{tid}/frame_index"], rows)
        for key in ("valid", "body_pose", "transl_full", "joints"):
            np.testing.assert_allclose(zb[f"t{tid}/{key}"], za[f"t{tid}/{key}"][sel], atol=2e-4)
    # resuming with other settings is refused
    from ehps.errors import InputError

    with pytest.raises(InputError, match="settings changed"):
        run_inference([walkers.path],
                      _config(tmp_path, walkers, resume=True, max_frames=n_frames,
                              smoothing=SmoothingConfig(min_cutoff=0.3)), predictor())


def test_render_no_track_and_range(walkers, tiny_predictor, tmp_path):
    import av

    pred = tiny_predictor()
    report = run_inference([walkers.path],
                           _config(tmp_path, walkers, render=True, side_view=True,
                                   track=False, start=40, max_frames=3), pred)
    folder = tmp_path / "walkers"
    assert report.frames_done == 3 and not (folder / "tracks.npz").exists()
    metas = _metas(folder)
    assert {m["frame"] for m in metas} == set(range(40, 43))
    assert all(m["track_id"] is None and not m["smoothed"] for m in metas)
    with av.open(str(folder / "overlay.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (120, 320, 3)
