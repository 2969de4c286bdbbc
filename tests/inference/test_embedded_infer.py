"""The embedded estimator behind ``ehps infer`` (mediapipe landmarks + Anny fit, with a shortened
fit schedule to stay fast) on the two consecutive basketball frames as a sequence: both players
found in both frames, identities kept (checked against nearest-box-centre matching), smoothed
parameters re-posed (the saved joints and mesh equal a direct Anny forward of the saved
parameters), and the first frame of a track passed through the filter unchanged."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ehps.config.infer import InferConfig, InputConfig, OutputConfig
from ehps.inference.predictor import Predictor
from ehps.inference.runner import run_inference

pytest.importorskip("ai_edge_litert")
pytest.importorskip("anny")


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory, assets_dir):
    from ehps.fitting.fitter import FitConfig, default_stages

    short = tuple(dataclasses.replace(s, iterations=max(2, s.iterations // 8))
                  for s in default_stages())
    pred = Predictor.from_pretrained(None, fit_config=FitConfig(stages=short))
    out = tmp_path_factory.mktemp("embedded")
    inputs = [assets_dir / "basketball1.png", assets_dir / "basketball2.png"]
    cfg = InferConfig(input=InputConfig(sequence=True, fps=10.0),
                      output=OutputConfig(out_dir=str(out), save_mesh=("obj",)), progress=False)
    return run_inference(inputs, cfg, pred), out, pred


def test_both_players_tracked(embedded_run):
    report, out, _ = embedded_run
    assert report.exit_code == 0 and report.estimator == "fit-anny"
    metas = [json.loads(p.read_text()) for p in sorted((out / "meta").glob("*.json"))]
    by_frame = {f: [m for m in metas if m["frame"] == f] for f in (0, 1)}
    assert len(by_frame[0]) == len(by_frame[1]) == 2
    # reference: match frame-1 boxes to frame-0 boxes by nearest centre
    def centre(m):
        x, y, w, h = m["bbox_raw"]
        return np.array([x + w / 2, y + h / 2])

    for m1 in by_frame[1]:
        nearest = min(by_frame[0], key=lambda m0: np.linalg.norm(centre(m0) - centre(m1)))
        assert nearest["track_id"] == m1["track_id"]
    assert {m["estimator"] for m in metas} == {"fit-anny"}
    tracks = np.load(out / "tracks.npz")
    assert sorted(tracks["track_ids"].tolist()) == sorted(m["track_id"] for m in by_frame[0])


def test_smoothed_parameters_are_reposed(embedded_run, anny_body):
    trimesh = pytest.importorskip("trimesh")
    _, out, pred = embedded_run
    allowed = {"global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
               "phenotype", "facial_actions", "transl"}
    for path in sorted((out / "smplx").glob("000001_*.npz")):
        with np.load(path) as z:
            assert str(z["body_model"]) == "anny"
            kw = {k: torch.from_numpy(z[k].reshape(1, -1)) for k in allowed}
            joints = z["joints_cam"]
        with torch.no_grad():
            ref = anny_body(**kw)
        np.testing.assert_allclose(joints, ref.joints[0, :55].numpy(), atol=2e-4)
        mesh = trimesh.load(out / "mesh" / f"{path.stem}.obj", process=False)
        np.testing.assert_allclose(mesh.vertices, ref.vertices[0].numpy(), atol=2e-4)
    # frame 0 starts each filter (output = input); frame 1 is filtered
    with np.load(out / "state" / "000000.npz") as z0, np.load(out / "state" / "000001.npz") as z1:
        np.testing.assert_allclose(z0["final.body_pose"], z0["raw.body_pose"], atol=1e-6)
        assert np.abs(z1["final.body_pose"] - z1["raw.body_pose"]).max() > 1e-4
