"""The estimator protocol is the only seam: a third, trivial estimator written here (it puts a
fixed SMPL-X pose 4 m in front of the camera, on the ray through each box's centre) runs through
``ehps infer`` (the command line and :func:`run_inference`) with tracking, smoothing, meshes and
overlays, and its outputs are what it estimated: the parameters in the files, the meshes equal an
independent SMPL-X forward, the people where their boxes are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fixed_estimator import FixedPoseEstimator

from ehps.config.infer import InferConfig, InputConfig, OutputConfig
from ehps.geometry.camera import Intrinsics, project_points
from ehps.geometry.rotations import aa_to_rotmat
from ehps.inference.estimators import Estimator
from ehps.inference.predictor import Predictor
from ehps.inference.runner import run_inference
from ehps.inference.smoothing import ROTATION_KEYS
from ehps.structures import SMPLX_PARAM_KEYS


def _inputs(tmp_path: Path, assets_dir: Path) -> tuple[list[Path], Path]:
    import shutil

    photos = []
    for name in ("basketball1.png", "basketball2.png", "basketball1.png"):
        target = tmp_path / f"{len(photos)}_{name}"
        shutil.copy(assets_dir / name, target)
        photos.append(target)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[16, 72, 178, 408], [427, 49, 212, 350]]))
    return photos, boxes


def test_a_third_estimator_runs_through_run_inference(tmp_path, assets_dir, synthetic_smplx_dir):
    smplx = pytest.importorskip("smplx")
    est = FixedPoseEstimator(synthetic_smplx_dir)
    assert isinstance(est, Estimator)  # the protocol, structurally
    photos, boxes = _inputs(tmp_path, assets_dir)
    out = tmp_path / "out"
    config = InferConfig(input=InputConfig(sequence=True, fps=5.0),
                         output=OutputConfig(out_dir=str(out), save_mesh=("obj",), render=True),
                         progress=False)
    config.detection.boxes = str(boxes)
    report = run_inference(photos, config, Predictor(est))
    assert report.exit_code == 0 and report.frames_done == 3 and report.people == 6
    assert report.estimator == "fixed-pose"
    assert est.calls == [3, 3]  # batches of 3 people across frames
    # tracked: each person's context is its track's last estimate finished before the batch
    # (batch 1: frame 0 + frame 1 person 0; batch 2: frame 1 person 1 + frame 2)
    assert est.contexts == [None, None, None, 0, 1, 0]
    ref = smplx.SMPLX(str(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz"), use_pca=False,
                      flat_hand_mean=False, num_betas=10, num_expression_coeffs=10)
    for path in sorted((out / "smplx").glob("*.npz")):
        with np.load(path) as z:
            for key, value in est.params().items():
                if key in ROTATION_KEYS:  # constant rotations survive smoothing (up to 2 pi)
                    got, want = (aa_to_rotmat(torch.from_numpy(a).double()).numpy()
                                 for a in (z[key], value))
                    np.testing.assert_allclose(got, want, atol=1e-5, err_msg=key)
                elif key != "transl":
                    np.testing.assert_allclose(z[key], value, atol=1e-6, err_msg=key)
            kw = {k: torch.from_numpy(z[k].reshape(1, -1)) for k in SMPLX_PARAM_KEYS}
            box, t_full = z["bbox_xywh"], z["transl_full"][0]
        with torch.no_grad():
            verts = ref(**kw).vertices[0].numpy()
        import trimesh

        mesh = trimesh.load(out / "mesh" / f"{path.stem}.obj", process=False)
        np.testing.assert_allclose(mesh.vertices, verts, atol=1e-4)
        k = Intrinsics.from_image_size(640, 480)
        centre = project_points(t_full[None], k.focal, k.princpt, eps=0.0)[0]
        np.testing.assert_allclose(centre, box[:2] + box[2:] / 2, atol=0.5)
    assert sorted(p.name for p in (out / "overlay").glob("*.png")) == [
        "000000.png", "000001.png", "000002.png"]
    assert np.load(out / "tracks.npz")["track_ids"].tolist() == [0, 1]


def test_a_third_estimator_runs_through_the_command_line(tmp_path, assets_dir,
                                                         synthetic_smplx_dir, monkeypatch):
    from ehps.cli.main import main

    built = []

    def from_config(estimator, detection, **kwargs):
        est = FixedPoseEstimator(synthetic_smplx_dir)
        built.append(est)
        return Predictor(est, detection)

    monkeypatch.setattr(Predictor, "from_config", staticmethod(from_config))
    photos, boxes = _inputs(tmp_path, assets_dir)
    out = tmp_path / "cli"
    rc = main(["infer", *map(str, photos), "--boxes", str(boxes), "--out", str(out),
               "--save-mesh", "ply", "--quiet"])
    assert rc == 0 and len(built) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["estimator"] == "fixed-pose" and summary["people"] == 6
    assert len(list((out / "mesh").glob("*.ply"))) == 6
    meta = json.loads((out / "meta" / "000001_01.json").read_text())
    assert meta["estimator"] == "fixed-pose" and meta["track_id"] is None
