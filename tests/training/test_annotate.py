"""``ehps annotate`` on the bundled photo (two people) with the embedded estimator.

References: the stored 2D keypoints are re-projected from the stored 3D ones with the stored
camera; the stored 3D joints are re-computed by posing the Anny body model with the stored
parameters (pose, translation, phenotype, facial actions); the file feeds the training dataset.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.data import HumanData

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, assets_dir) -> Path:
    from ehps.cli.main import main

    d = tmp_path_factory.mktemp("annotate")
    shutil.copy(assets_dir / "basketball1.png", d / "basketball1.png")
    out = d / "pseudo.npz"
    assert main(["annotate", str(d / "basketball1.png"), "--out", str(out)]) == 0
    return out


def test_two_people_with_consistent_keypoints(annotated: Path, anny_body) -> None:
    hd = HumanData(annotated)
    assert len(hd) == 2
    assert list(hd.array("image_path")) == ["basketball1.png", "basketball1.png"]
    meta = hd.param_dict("meta")
    assert (meta["height"] == 480).all() and (meta["width"] == 640).all()
    misc = hd.param_dict("misc")
    assert str(misc["body_model"]) == "anny" and bool(misc["flat_hand_mean"])

    kp3 = hd.keypoints("keypoints3d_cam")
    kp2 = hd.keypoints("keypoints2d")
    j3 = kp3.take(np.arange(2), np.arange(55))
    j2 = kp2.take(np.arange(2), np.arange(55), dims=2)
    assert (kp3.mask[:55] == 1).all() and (kp3.mask[55:] == 0).all()  # Anny: 55 joints
    # 2D == projection of 3D with the stored camera
    f, c = meta["focal_length"], meta["principal_point"]
    proj = j3[..., :2] / j3[..., 2:3] * f[:, None] + c[:, None]
    np.testing.assert_allclose(j2, proj, atol=0.05)

    # 3D == Anny posed with the stored parameters (an independent forward pass)
    p = hd.param_dict("smplx")
    assert "jaw_pose" not in p and "expression" not in p  # Anny: face unsupervised
    assert not p["betas"].any()  # no SMPL-X shape label

    def t(key: str) -> torch.Tensor:
        return torch.tensor(np.asarray(p[key], np.float32))

    with torch.no_grad():
        out = anny_body(global_orient=t("global_orient").reshape(2, 3),
                        body_pose=t("body_pose").reshape(2, 21, 3),
                        left_hand_pose=t("left_hand_pose").reshape(2, 15, 3),
                        right_hand_pose=t("right_hand_pose").reshape(2, 15, 3),
                        transl=t("transl").reshape(2, 3),
                        phenotype=torch.tensor(meta["anny_phenotype"]),
                        facial_actions=torch.tensor(meta["anny_facial_actions"]))
    np.testing.assert_allclose(out.joints.numpy(), j3, atol=1e-4)

    # each person's joints lie in their (padded) box, and the two people are apart
    boxes = hd.array("bbox_xywh")
    for i in range(2):
        x, y, w, h = boxes[i, :4]
        centre = j2[i, :22].mean(0)
        assert x <= centre[0] <= x + w and y <= centre[1] <= y + h
        assert (j3[i, :, 2] > 0.5).all()
    assert np.linalg.norm(j2[0, 0] - j2[1, 0]) > 50
    assert np.nanmax(meta["fit_reproj_px"]) <= 10.0


def test_pseudo_labels_feed_the_training_dataset(annotated: Path) -> None:
    from ehps.data import TrainingDataset
    from ehps.training.datamodule import humandata_sources

    sources = humandata_sources([annotated.name], annotated.parent, "smplerx", None)
    ds = TrainingDataset(sources, system="smplerx", augment=False)
    assert len(ds) == 2
    s = ds[0]
    assert s.image.shape == (3, 512, 384)
    assert s.smplx_pose_valid[1:22].all()  # body rotations supervised
    assert not s.smplx_pose_valid[52]  # jaw unsupervised (no face labels from Anny)
    assert s.joint_valid[:25].sum() > 10
