"""Training samples against analytic references: heatmap-unit keypoints from the crop box,
depth bins, pelvis- / part-relative 3D targets, flips and rotations of every target, fit-derived
joints through the SMPL-X layer, determinism across DataLoader workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datatest_builders import FOCAL, PRINCPT, write_humandata_dataset
from torch.utils.data import DataLoader

from ehps.bodymodels.joint_sets import JOINT_137_IDX, JOINT_137_PARTS
from ehps.data.catalog import DatasetSpec
from ehps.data.collate import collate_samples
from ehps.data.datasets.common import ListSource
from ehps.data.datasets.humandata_source import HumanDataSource
from ehps.data.humandata_conventions import SMPLX_137_MAPPING
from ehps.data.sampling import MultiDatasetSampler
from ehps.data.training_dataset import TrainingDataset
from ehps.data.transforms import AugParams, flip_pose, inplane_rotation, rotate_root_pose
from ehps.data.types import Annotation, FitParams, Sample
from ehps.errors import InputError
from ehps.geometry.crop import process_bbox


def _spec(name: str, **kw: object) -> DatasetSpec:
    return DatasetSpec(name, "humandata", (f"preprocessed_datasets/{name}.npz",), name, **kw)


def _heatmap(xy: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Analytic heatmap units of image points for an un-augmented crop of a 3:4 box."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return np.stack([(xy[..., 0] - cx) / box[2] * 12 + 6, (xy[..., 1] - cy) / box[3] * 16 + 8], -1)


def _part_relative_ref(j: np.ndarray) -> np.ndarray:
    out = j - j[0]
    for part, anchor in (("lhand", 12), ("rhand", 13), ("face", 7)):
        for k in JOINT_137_PARTS[part]:
            out[k] = (j[k] - j[0]) - (j[anchor] - j[0])
    return out


def test_unaugmented_sample_matches_analytic_targets(data_root: Path) -> None:
    written = write_humandata_dataset(data_root, "A", n=4)
    src = HumanDataSource(_spec("A"), data_root, shuffle_seed=None)
    ds = TrainingDataset([src], augment=False)
    s = ds.make_sample(src.annotation(1))
    box = process_bbox(written["bbox_xywh"][1], 640, 480, ratio=1.2 * 0.833)
    np.testing.assert_allclose(s.crop_bbox_xywh, box)
    j137 = written["joints"][1][SMPLX_137_MAPPING]
    xy = j137[:, 2] * 0 + _heatmap(j137[:, :2] / j137[:, 2:] * FOCAL + PRINCPT, box).T
    np.testing.assert_allclose(s.joint_img[:, :2], xy.T, atol=2e-3)
    rel = j137 - j137[0]
    np.testing.assert_allclose(s.joint_img[:, 2], (rel[:, 2] / 1.0 + 1) / 2 * 16, atol=1e-4)
    np.testing.assert_allclose(s.joint_cam, rel, atol=1e-5)
    np.testing.assert_allclose(s.smplx_joint_cam, _part_relative_ref(j137), atol=1e-5)
    inside = ((s.joint_img[:, 0] >= 0) & (s.joint_img[:, 0] < 12) & (s.joint_img[:, 1] >= 0)
              & (s.joint_img[:, 1] < 16) & (s.joint_img[:, 2] >= 0) & (s.joint_img[:, 2] < 16))
    np.testing.assert_array_equal(s.joint_trunc, inside.astype(np.float32))
    assert s.is_3d == 1 and s.joint_valid.sum() == 137
    p = written["smplx"]
    np.testing.assert_allclose(s.smplx_pose[0], p["global_orient"][1], atol=1e-5)
    np.testing.assert_allclose(s.smplx_pose[1:22], p["body_pose"][1], atol=1e-6)
    np.testing.assert_allclose(s.smplx_pose[22:37], p["left_hand_pose"][1], atol=1e-6)
    np.testing.assert_allclose(s.smplx_shape, p["betas"][1], atol=1e-6)
    np.testing.assert_allclose(s.smplx_cam_trans, p["transl"][1])
    assert s.smplx_pose_valid.sum() == 53 and s.smplx_expr_valid == 1 and s.smplx_shape_valid == 1
    hand = process_bbox(written["lhand_bbox_xywh"][1], 640, 480, ratio=1.2)
    corners = _heatmap(np.array([hand[:2], hand[:2] + hand[2:]]), box)
    np.testing.assert_allclose(s.lhand_bbox_center, corners.mean(0), atol=1e-3)
    np.testing.assert_allclose(s.lhand_bbox_size, corners[1] - corners[0], atol=1e-3)
    assert (s.lhand_bbox_valid, s.rhand_bbox_valid, s.face_bbox_valid) == (1, 0, 1)
    assert s.image.shape == (3, 512, 384) and 0 <= s.image.min() and s.image.max() <= 1


def _plain_and_augmented(data_root: Path, aug: AugParams) -> tuple[Sample, Sample]:
    """The first row of a fresh two-row dataset, without and with the augmentation ``aug``."""
    write_humandata_dataset(data_root, "A", n=2)
    src = HumanDataSource(_spec("A"), data_root, shuffle_seed=None)
    ds = TrainingDataset([src], augment=False)
    ann = src.annotation(0)
    return ds.make_sample(ann), ds.make_sample(ann, aug)


def test_flip_mirrors_every_target(data_root: Path) -> None:
    a, b = _plain_and_augmented(data_root, AugParams(flip=True))
    perm = np.arange(137)
    from ehps.bodymodels.joint_sets import JOINT_137_FLIP_PAIRS

    for i, j in JOINT_137_FLIP_PAIRS:
        perm[i], perm[j] = j, i
    np.testing.assert_allclose(b.joint_img[:, 0], 12 - a.joint_img[perm, 0], atol=2e-3)
    np.testing.assert_allclose(b.joint_img[:, 1:], a.joint_img[perm, 1:], atol=2e-3)
    np.testing.assert_allclose(b.joint_cam, a.joint_cam[perm] * [-1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(b.smplx_joint_cam, a.smplx_joint_cam[perm] * [-1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(b.smplx_pose, flip_pose(a.smplx_pose), atol=1e-6)
    np.testing.assert_array_equal(b.joint_valid, a.joint_valid[perm])
    # left and right boxes swap (the right one was absent), mirrored about the crop centre
    assert (b.lhand_bbox_valid, b.rhand_bbox_valid) == (0, 1)
    np.testing.assert_allclose(b.rhand_bbox_center[0], 12 - a.lhand_bbox_center[0], atol=2e-3)
    np.testing.assert_allclose(b.rhand_bbox_size, a.lhand_bbox_size, atol=2e-3)
    # crop column u of the flipped sample shows column 384 - u of the plain one (x -> W - 1 - x);
    # OpenCV quantises sub-pixel weights to 1/32, so mirrored positions differ by rounding only
    diff = np.abs(b.image[:, :, 1:] - a.image[:, :, :0:-1])
    assert diff.mean() < 1e-3 and np.mean(diff > 1.5 / 255) < 0.03 and diff.max() < 0.05


def test_rotation_rotates_3d_targets_and_root(data_root: Path) -> None:
    a, b = _plain_and_augmented(data_root, AugParams(scale=1.1, rot_deg=25.0))
    rot = inplane_rotation(25.0)
    np.testing.assert_allclose(b.joint_cam, a.joint_cam @ rot.T, atol=1e-5)
    np.testing.assert_allclose(b.smplx_joint_cam, a.smplx_joint_cam @ rot.T, atol=1e-5)
    np.testing.assert_allclose(b.smplx_pose[0], rotate_root_pose(a.smplx_pose[0], rot), atol=1e-5)
    np.testing.assert_allclose(b.smplx_pose[1:], a.smplx_pose[1:])
    # 2D: rotation about the crop centre by the augmentation angle, scaled by 1 / scale
    c = np.array([6.0, 8.0])
    th = np.deg2rad(25.0)
    r2 = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
    np.testing.assert_allclose(b.joint_img[:, :2] - c, (a.joint_img[:, :2] - c) @ r2.T / 1.1,
                               atol=2e-3)


def test_samples_are_pure_functions_of_their_key(data_root: Path) -> None:
    write_humandata_dataset(data_root, "A", n=5)
    write_humandata_dataset(data_root, "B", n=3, seed=1)
    sources = [HumanDataSource(_spec(n), data_root) for n in ("A", "B")]
    ds = TrainingDataset(sources)
    s1, s2, s3 = ds[(3, 99)], ds[(3, 99)], ds[(3, 100)]
    np.testing.assert_array_equal(s1.image, s2.image)
    np.testing.assert_array_equal(s1.joint_img, s2.joint_img)
    assert not np.array_equal(s1.aug, s3.aug)
    sampler = MultiDatasetSampler(ds.lengths, "balance", 8, seed=4)
    sampler.set_epoch(1)
    direct = collate_samples([ds[k] for k in sampler])
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2,
                        collate_fn=collate_samples)
    batches = list(loader)
    for name, value in direct.as_dict().items():
        np.testing.assert_array_equal(torch.cat([getattr(b, name) for b in batches]), value)
    assert direct.dataset_index.tolist().count(1) >= 4


def test_fit_joints_through_smplx(data_root: Path, synthetic_smplx_dir: Path) -> None:
    """HumanData rows without 3D keypoints: SMPLer-X supervises ``smplx_joint_cam`` with the
    fit's joints; with a dataset camera the fit is projected for ``smplx_joint_trunc``."""
    from ehps.bodymodels.smplx import load_smplx

    model = load_smplx(synthetic_smplx_dir)
    written = write_humandata_dataset(data_root, "A", n=2, with_3d=False)
    src = HumanDataSource(_spec("A"), data_root, shuffle_seed=None)
    p = {k: torch.from_numpy(v[:1]) for k, v in written["smplx"].items()}
    with torch.no_grad():
        ref = model(**p).joints[0].numpy()[np.asarray(JOINT_137_IDX)]
    ds = TrainingDataset([src], body_model=model, augment=False)
    s = ds.make_sample(src.annotation(0))
    np.testing.assert_allclose(s.smplx_joint_cam, _part_relative_ref(ref), atol=1e-5)
    assert s.is_3d == 0 and s.smplx_joint_valid.sum() == 137
    assert s.joint_trunc.sum() == 0 and s.smplx_joint_trunc.sum() == 0  # official dummy depth
    flipped = ds.make_sample(src.annotation(0), AugParams(flip=True))
    from ehps.data.transforms import flip_joints_cam

    np.testing.assert_allclose(flipped.smplx_joint_cam, flip_joints_cam(s.smplx_joint_cam),
                               atol=1e-5)
    # with the dataset camera (GTA-Human / SynBody style) the fit is projected
    cam_src = HumanDataSource(_spec("A", focal=(FOCAL, FOCAL), princpt=PRINCPT), data_root,
                              shuffle_seed=None)
    s_cam = ds.make_sample(cam_src.annotation(0))
    proj = ref[:, :2] / ref[:, 2:] * FOCAL + PRINCPT
    box = s_cam.crop_bbox_xywh
    hm = _heatmap(proj, box)
    inside = (hm[:, 0] >= 0) & (hm[:, 0] < 12) & (hm[:, 1] >= 0) & (hm[:, 1] < 16)
    assert s_cam.smplx_joint_trunc.sum() > 0
    assert set(np.flatnonzero(s_cam.smplx_joint_trunc)) <= set(np.flatnonzero(inside))
    # no body model: the fit's joint targets are masked, parameters are still supervised
    s_none = TrainingDataset([src], augment=False).make_sample(src.annotation(0))
    assert s_none.smplx_joint_valid.sum() == 0 and s_none.smplx_pose_valid.sum() == 53


def test_targets_from_fit_with_extrinsics(synthetic_smplx_dir: Path, tmp_path: Path) -> None:
    from datatest_builders import write_image

    from ehps.bodymodels.smplx import load_smplx

    model = load_smplx(synthetic_smplx_dir)
    write_image(tmp_path / "im.png")
    rng = np.random.default_rng(3)
    root, body = rng.normal(scale=0.3, size=3), rng.normal(scale=0.2, size=(21, 3))
    cam_r = inplane_rotation(20.0) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float32)
    fit = FitParams(root.astype(np.float32), body.astype(np.float32), None, None, None, None,
                    np.zeros(10, np.float32), np.array([0.1, -0.3, 0.2], np.float32))
    box = np.array([170, 60, 300, 400], np.float32)
    ann = Annotation(str(tmp_path / "im.png"), (480, 640), box, fit=fit,
                     focal=np.array([FOCAL, FOCAL]), princpt=np.array(PRINCPT), cam_R=cam_r,
                     cam_t=np.array([0.0, 0.0, 3.0]), targets_from_fit=True,
                     fit_pose_invalid=(7, 8), shape_valid=True, is_3d=True)
    s = TrainingDataset([ListSource("x", [ann])], body_model=model, augment=False).make_sample(ann)
    merged = rotate_root_pose(root, cam_r)
    with torch.no_grad():
        out = model(global_orient=torch.from_numpy(merged[None]),
                    body_pose=torch.from_numpy(body[None].astype(np.float32)),
                    transl=torch.from_numpy(fit.transl[None]))
    j = out.joints[0].numpy()[np.asarray(JOINT_137_IDX)]
    j_cam = j - j[0] + cam_r @ j[0] + [0.0, 0.0, 3.0]
    np.testing.assert_allclose(s.joint_cam, j_cam - j_cam[0], atol=1e-4)
    hm = _heatmap(j_cam[:, :2] / j_cam[:, 2:] * FOCAL + PRINCPT, s.crop_bbox_xywh)
    np.testing.assert_allclose(s.joint_img[:, :2], hm, atol=5e-3)
    assert s.smplx_pose_valid[[7, 8]].sum() == 0 and s.is_3d == 1
    # hands and face are absent from this fit: their rotations and joints are invalid
    assert s.smplx_pose_valid[22:].sum() == 0 and s.joint_valid[25:].sum() == 0


def test_smplestx_rules(data_root: Path) -> None:
    zero_hands = {"left_hand_pose": np.zeros((3, 15, 3), np.float32)}
    written = write_humandata_dataset(data_root, "A", n=3, with_3d=False)
    written["smplx"].update(zero_hands)
    from ehps.data.humandata_writer import write_humandata

    kw = {k: v for k, v in written.items() if k != "joints"}
    write_humandata(data_root / "preprocessed_datasets" / "A.npz", **kw)
    est = HumanDataSource(_spec("A"), data_root, system="smplestx", shuffle_seed=None)
    er = HumanDataSource(_spec("A"), data_root, system="smplerx", shuffle_seed=None)
    s_est = TrainingDataset([est], system="smplestx", augment=False).make_sample(est.annotation(0))
    s_er = TrainingDataset([er], augment=False).make_sample(er.annotation(0))
    lh = list(JOINT_137_PARTS["lhand"]) + [12]
    assert s_est.joint_valid[lh].sum() == 0 and s_est.smplx_pose_valid[22:37].sum() == 0
    assert s_er.joint_valid[lh].sum() == len(lh) and s_er.smplx_pose_valid[22:37].sum() == 15
    # SMPLest-X keeps 2D keypoints without depth (non-negativity rule), SMPLer-X drops them
    assert s_est.joint_trunc.sum() > 0 and s_er.joint_trunc.sum() == 0


def test_dataset_errors() -> None:
    with pytest.raises(InputError, match="at least one"):
        TrainingDataset([])
    with pytest.raises(InputError, match="system"):
        TrainingDataset([ListSource("x", [])], system="x")  # type: ignore[arg-type]
