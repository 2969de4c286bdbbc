"""``ehps synth``: files and HumanData are valid, and the ground truth is self-consistent.

References: the stored 3D keypoints are re-computed from the stored parameters with the
reference SMPL-X implementation ``smplx==0.1.28`` (independent of ehps's layer, which rendered
them); 2D keypoints are re-projected with the camera stored in ``meta``; poses are checked
against the fitting engine's joint limits they were sampled from.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ehps.data import HumanData
from ehps.errors import InputError
from ehps.training.synth import SYNTH_FOCAL_SCALE, SynthConfig, generate_synthetic_dataset

smplx = pytest.importorskip("smplx")

_HANDS = {"left": [20, *range(25, 40), *range(66, 71)],
          "right": [21, *range(40, 55), *range(71, 76)]}


@pytest.fixture(scope="module")
def reference_layer(synthetic_smplx_dir: Path):
    with contextlib.redirect_stdout(io.StringIO()):
        return smplx.create(str(synthetic_smplx_dir.parent), model_type="smplx",
                            gender="neutral", use_pca=False, flat_hand_mean=False,
                            use_face_contour=True, num_betas=10, num_expression_coeffs=10)


def _reference_joints(layer, params: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 144, 3) joints of the stored parameters through the reference ``smplx`` model."""
    n = params["betas"].shape[0]

    def t(key: str) -> torch.Tensor:
        return torch.tensor(np.asarray(params[key], np.float32).reshape(n, -1))

    with torch.no_grad():
        out = layer(global_orient=t("global_orient"), body_pose=t("body_pose"),
                    left_hand_pose=t("left_hand_pose"), right_hand_pose=t("right_hand_pose"),
                    jaw_pose=t("jaw_pose"), leye_pose=t("leye_pose"), reye_pose=t("reye_pose"),
                    betas=t("betas"), expression=t("expression"), transl=t("transl"))
    return out.joints.numpy()


def _project(points: np.ndarray, focal: np.ndarray, pp: np.ndarray) -> np.ndarray:
    return points[..., :2] / points[..., 2:3] * focal[:, None] + pp[:, None]


def _check_dataset(root: Path, split: str, n: int, reference_layer) -> HumanData:
    hd = HumanData(root / "annotations" / f"{split}.npz")
    assert len(hd) == n
    paths = hd.array("image_path")
    for rel in paths:
        img = cv2.imread(str(root / str(rel)))
        assert img is not None and img.shape == (512, 384, 3)
    params = hd.param_dict("smplx")
    meta = hd.param_dict("meta")
    assert np.allclose(meta["focal_length"], SYNTH_FOCAL_SCALE * 512)
    assert np.allclose(meta["principal_point"], [192.0, 256.0])
    kp3 = hd.keypoints("keypoints3d_cam")
    kp2 = hd.keypoints("keypoints2d")
    j3 = kp3.take(np.arange(n), np.arange(144))
    j2 = kp2.take(np.arange(n), np.arange(144), dims=2)
    # 3D keypoints == the reference SMPL-X model posed with the stored parameters
    ref = _reference_joints(reference_layer, params)
    np.testing.assert_allclose(j3, ref, atol=2e-4)
    # 2D keypoints == projection of the 3D ones with the stored camera
    np.testing.assert_allclose(
        j2, _project(j3.astype(np.float64), meta["focal_length"], meta["principal_point"]),
        atol=1e-2)
    assert (j3[..., 2] > 1.0).all()  # in front of the camera
    return hd


def test_body_set_is_valid_and_consistent(synth_root: Path, reference_layer) -> None:
    hd = _check_dataset(synth_root, "train", 12, reference_layer)
    n = len(hd)
    j2 = hd.keypoints("keypoints2d").take(np.arange(n), np.arange(144), dims=2)
    boxes = hd.array("bbox_xywh")
    assert boxes.shape == (n, 5) and (boxes[:, 4] == 1).all()
    # the padded person box holds every keypoint, and the person fills most of the crop
    x, y, w, h = (boxes[:, k, None] for k in range(4))
    assert ((j2[..., 0] >= x) & (j2[..., 0] <= x + w) & (j2[..., 1] >= y)
            & (j2[..., 1] <= y + h)).all()
    assert (np.maximum(h[:, 0], w[:, 0] * 4 / 3) > 0.6 * 512).all()
    # hand / face boxes are the tight boxes of their keypoints
    for key, idx in (("lhand_bbox_xywh", _HANDS["left"]), ("rhand_bbox_xywh", _HANDS["right"])):
        b = hd.array(key)
        lo, hi = j2[:, idx].min(1), j2[:, idx].max(1)
        np.testing.assert_allclose(b[:, :2], lo, atol=1e-2)
        np.testing.assert_allclose(b[:, :2] + b[:, 2:4], hi, atol=1e-2)
    _check_dataset(synth_root, "val", 4, reference_layer)


def test_poses_respect_the_sampling_limits(synth_root: Path, smplx_layer) -> None:
    from ehps.fitting.priors import body_limits, hand_limits

    params = HumanData(synth_root / "annotations" / "train.npz").param_dict("smplx")
    lim = body_limits()
    body = params["body_pose"].reshape(-1, 21, 3)
    assert ((body >= lim[..., 0] - 1e-5) & (body <= lim[..., 1] + 1e-5)).all()
    for side, mean in (("left", smplx_layer.left_hand_mean),
                       ("right", smplx_layer.right_hand_mean)):
        flat = params[f"{side}_hand_pose"].reshape(-1, 15, 3) + mean.numpy().reshape(15, 3)
        hl = hand_limits(side)
        assert ((flat >= hl[..., 0] - 1e-5) & (flat <= hl[..., 1] + 1e-5)).all()
    assert np.abs(params["betas"]).max() <= 2.5 + 1e-6
    assert params["betas"].std() > 0.3  # shapes really vary


def test_samples_are_a_function_of_seed_and_index(tmp_path: Path, synth_root: Path,
                                                  smplx_layer) -> None:
    generate_synthetic_dataset(tmp_path, smplx_layer, SynthConfig(num_samples=2, seed=0))
    a = HumanData(tmp_path / "annotations" / "train.npz").param_dict("smplx")
    b = HumanData(synth_root / "annotations" / "train.npz").param_dict("smplx")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k][:2])
    img_a = cv2.imread(str(tmp_path / "images/train/000001.jpg"))
    img_b = cv2.imread(str(synth_root / "images/train/000001.jpg"))
    assert np.array_equal(img_a, img_b)


def test_hand_centric_mode(tmp_path: Path, smplx_layer, reference_layer) -> None:
    generate_synthetic_dataset(tmp_path, smplx_layer,
                               SynthConfig(num_samples=3, seed=5, mode="hand"), "hand")
    hd = _check_dataset(tmp_path, "hand", 3, reference_layer)
    j2 = hd.keypoints("keypoints2d").take(np.arange(3), np.arange(144), dims=2)
    boxes = hd.array("bbox_xywh")
    for i in range(3):
        # one hand is framed: all its keypoints inside the image, its box large in the crop
        framed = []
        for idx in _HANDS.values():
            pts = j2[i, idx]
            inside = ((pts >= 0) & (pts < [384, 512])).all()
            lo, hi = pts.min(0), pts.max(0)
            framed.append(inside and max(hi[1] - lo[1], (hi[0] - lo[0]) * 4 / 3) > 0.5 * 512)
        assert any(framed), i
        # the stored crop box is that hand's padded box (the body is truncated)
        assert boxes[i, 3] < 2 * 512


def test_bad_options_are_errors() -> None:
    with pytest.raises(InputError, match="num_samples"):
        SynthConfig(num_samples=0)
    with pytest.raises(InputError, match="mode"):
        SynthConfig(mode="face")  # type: ignore[arg-type]


def test_cli_synth(tmp_path: Path, synthetic_smplx_dir: Path, capsys) -> None:
    from ehps.cli.main import main

    out = tmp_path / "syn"
    rc = main(["synth", "--out", str(out), "--num", "2", "--val", "1", "--seed", "3",
               "--smplx-dir", str(synthetic_smplx_dir), "--mode", "body"])
    assert rc == 0
    info = json.loads((out / "synth.json").read_text())
    assert Path(info["smplx_dir"]) == synthetic_smplx_dir.resolve()
    assert len(HumanData(out / "annotations" / "train.npz")) == 2
    assert len(HumanData(out / "annotations" / "val.npz")) == 1
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == [
        "000000.jpg", "000001.jpg"]
    # the held-out split uses another seed: different people
    tr = HumanData(out / "annotations" / "train.npz").param_dict("smplx")["betas"]
    va = HumanData(out / "annotations" / "val.npz").param_dict("smplx")["betas"]
    assert not np.allclose(tr[0], va[0])
    assert "train: 2 samples" in capsys.readouterr().out
