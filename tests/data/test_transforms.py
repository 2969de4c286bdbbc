"""Augmentation invariants: distributions, flip involution and pair swaps (loop references),
pixel-level agreement between the warped image and the transformed keypoints, and the 3D rotation
convention (projection of rotated 3D targets == rotated 2D)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ehps.bodymodels.joint_sets import JOINT_137_FLIP_PAIRS, ORIG_53_FLIP_PAIRS
from ehps.data.transforms import (
    AugParams,
    crop_to_heatmap,
    crop_training_image,
    depth_to_bins,
    flip_joints_cam,
    flip_joints_img,
    flip_pose,
    image_to_heatmap,
    inplane_rotation,
    part_box_target,
    part_relative,
    rotate_root_pose,
    sample_aug_params,
    truncation_mask,
    undo_part_relative,
)
from ehps.geometry.crop import apply_affine

RNG = np.random.default_rng(0)


def test_aug_distribution_and_determinism() -> None:
    draws = [sample_aug_params(np.random.default_rng(s)) for s in range(3000)]
    scale = np.array([d.scale for d in draws])
    rot = np.array([d.rot_deg for d in draws])
    gain = np.array([d.color_gain for d in draws])
    flip = np.array([d.flip for d in draws])
    assert scale.min() >= 0.75 and scale.max() <= 1.25
    assert np.isclose(np.mean(scale == 1.25) + np.mean(scale == 0.75), 0.317, atol=0.03)
    assert np.abs(rot).max() <= 60.0
    assert np.isclose(np.mean(rot != 0), 0.6, atol=0.03)
    assert gain.min() >= 0.8 and gain.max() <= 1.2 and np.isclose(gain.mean(), 1.0, atol=0.01)
    assert np.isclose(flip.mean(), 0.5, atol=0.03)
    same = [sample_aug_params(np.random.default_rng(9)) for _ in range(2)]
    assert same[0] == same[1]


def _loop_flip(points: np.ndarray, pairs) -> np.ndarray:
    out = points.copy()
    for a, b in pairs:  # the official swap loop
        out[a], out[b] = points[b].copy(), points[a].copy()
    return out


def test_flip_matches_loop_reference_and_is_an_involution() -> None:
    img = RNG.uniform(0, 640, size=(137, 3)).astype(np.float32)
    cam = RNG.normal(size=(137, 3)).astype(np.float32)
    pose = RNG.normal(size=(53, 3)).astype(np.float32)
    mirrored = img.copy()
    mirrored[:, 0] = 639 - mirrored[:, 0]
    ref = _loop_flip(mirrored, JOINT_137_FLIP_PAIRS)
    np.testing.assert_array_equal(flip_joints_img(img, 640), ref)
    cam_m = cam.copy()
    cam_m[:, 0] *= -1
    np.testing.assert_array_equal(flip_joints_cam(cam), _loop_flip(cam_m, JOINT_137_FLIP_PAIRS))
    pose_ref = _loop_flip(pose, ORIG_53_FLIP_PAIRS)
    pose_ref[:, 1:] *= -1
    np.testing.assert_array_equal(flip_pose(pose), pose_ref)
    np.testing.assert_allclose(flip_joints_img(flip_joints_img(img, 640), 640), img, atol=1e-4)
    np.testing.assert_array_equal(flip_joints_cam(flip_joints_cam(cam)), cam)
    np.testing.assert_array_equal(flip_pose(flip_pose(pose)), pose)


def test_mirrored_pose_gives_mirrored_rotation() -> None:
    """(x, y, z) -> (x, -y, -z) is the axis-angle of M R M with M = diag(-1, 1, 1)."""
    aa = RNG.normal(size=(20, 3))
    m = np.diag([-1.0, 1.0, 1.0])
    flipped = Rotation.from_rotvec(aa * [1, -1, -1]).as_matrix()
    np.testing.assert_allclose(flipped, m @ Rotation.from_rotvec(aa).as_matrix() @ m, atol=1e-12)


def _dot_image(points: np.ndarray, hw=(480, 640)) -> np.ndarray:
    img = np.zeros((*hw, 3), np.uint8)
    for k, (x, y) in enumerate(points):
        cv2.circle(img, (int(round(x)), int(round(y))), 3, (50 + 40 * k, 255, 0), -1)
    return img


@pytest.mark.parametrize(
    "aug",
    [AugParams(), AugParams(1.2, 25.0, (1, 1, 1), False), AugParams(0.8, -40.0, (1, 1, 1), True)],
)
def test_warped_image_and_keypoints_agree(aug: AugParams) -> None:
    pts = np.array([[250.0, 160.0], [300.0, 300.0], [380.0, 220.0]])
    img = _dot_image(pts)
    bbox = np.array([180.0, 80.0, 300.0, 400.0], np.float32)
    crop, img2crop = crop_training_image(img, bbox, aug)
    assert crop.shape == (3, 512, 384) and crop.dtype == np.float32
    src = pts.copy()
    if aug.flip:
        src[:, 0] = 639 - src[:, 0]
    in_crop = apply_affine(src, img2crop)
    for k, (x, y) in enumerate(in_crop):
        # the dot drawn in BGR (50 + 40 k, 255, 0) is RGB (0, 255, 50 + 40 k) in the crop
        xi, yi = int(round(x)), int(round(y))
        patch = crop[:, yi - 1 : yi + 2, xi - 1 : xi + 2]
        assert np.allclose(patch[1], 1.0, atol=0.02), k
        assert np.allclose(patch[2], (50 + 40 * k) / 255.0, atol=0.03), k


def test_colour_gain_is_a_per_channel_multiply() -> None:
    img = RNG.integers(0, 256, size=(200, 150, 3), dtype=np.uint8)
    bbox = np.array([10.0, 10.0, 120.0, 160.0], np.float32)
    plain, _ = crop_training_image(img, bbox, AugParams())
    gained, _ = crop_training_image(img, bbox, AugParams(color_gain=(1.2, 0.8, 1.0)))
    np.testing.assert_allclose(gained, np.clip(plain * np.array([1.2, 0.8, 1.0])[:, None, None],
                                               0, 1), atol=1e-6)


def test_rotated_3d_projects_to_the_rotated_2d() -> None:
    """Points at one depth: project, then crop with rotation; versus rotate in 3D with
    ``inplane_rotation``, then project: the 2D layouts agree up to scale and translation."""
    f, c = 800.0, np.array([320.0, 240.0])
    pts3 = np.concatenate([RNG.uniform(-0.4, 0.4, size=(6, 2)), np.full((6, 1), 4.0)], axis=1)
    proj = pts3[:, :2] / pts3[:, 2:] * f + c
    for rot in (30.0, -55.0):
        _, img2crop = crop_training_image(np.zeros((480, 640, 3), np.uint8),
                                          np.array([170.0, 40.0, 300.0, 400.0], np.float32),
                                          AugParams(rot_deg=rot))
        in_crop = apply_affine(proj, img2crop)
        rotated = pts3 @ inplane_rotation(rot).T
        proj_rot = rotated[:, :2] / rotated[:, 2:] * f
        a = in_crop - in_crop.mean(0)
        b = proj_rot - proj_rot.mean(0)
        scale = np.linalg.norm(a) / np.linalg.norm(b)
        np.testing.assert_allclose(a, b * scale, atol=1e-3)


def test_root_rotation_and_part_relative() -> None:
    aa = RNG.normal(size=3)
    rot = inplane_rotation(33.0)
    expect = Rotation.from_matrix(rot @ Rotation.from_rotvec(aa).as_matrix()).as_matrix()
    got = Rotation.from_rotvec(rotate_root_pose(aa, rot)).as_matrix()
    np.testing.assert_allclose(got, expect, atol=1e-5)
    joints = RNG.normal(size=(137, 3)).astype(np.float32)
    rel = part_relative(joints)
    np.testing.assert_allclose(rel[0], 0, atol=1e-7)
    np.testing.assert_allclose(rel[30], joints[30] - joints[12], atol=1e-6)  # left hand - wrist
    np.testing.assert_allclose(rel[50], joints[50] - joints[13], atol=1e-6)  # right hand - wrist
    np.testing.assert_allclose(rel[100], joints[100] - joints[7], atol=1e-6)  # face - neck
    np.testing.assert_allclose(rel[5], joints[5] - joints[0], atol=1e-6)
    np.testing.assert_allclose(undo_part_relative(rel), joints - joints[0], atol=1e-6)


def test_units_and_truncation_rules() -> None:
    np.testing.assert_allclose(crop_to_heatmap(np.array([[384.0, 512.0]])), [[12.0, 16.0]])
    np.testing.assert_allclose(depth_to_bins(np.array([-1.0, 0.0, 1.0]), 2.0), [0.0, 8.0, 16.0])
    np.testing.assert_allclose(depth_to_bins(np.array([0.15]), 0.3), [16.0])
    hm = np.array([[1.0, 1.0, 1.0], [12.0, 1.0, 1.0], [1.0, 1.0, 0.0], [-0.1, 3, 3], [5, 5, 5]])
    orig = np.array([[10.0, 10, 1], [10, 10, 1], [10, 10, 1], [10, 10, 1], [0.0, 10, 1]])
    ref = [1, 0, 1, 0, 0]  # loop reference of the SMPLer-X rule
    np.testing.assert_array_equal(truncation_mask(hm, orig, "smplerx"), ref)
    orig_dummy = orig.copy()
    orig_dummy[:, 2] = 0.0  # dummy depth: the SMPLer-X rule rejects everything
    assert truncation_mask(hm, orig_dummy, "smplerx").sum() == 0
    np.testing.assert_array_equal(truncation_mask(hm, None, "smplestx"), [1, 1, 1, 0, 1])


def test_part_box_target() -> None:
    img2crop = np.array([[2.0, 0.0, -100.0], [0.0, 2.0, -50.0]], np.float32)
    box = np.array([60.0, 40.0, 90.0, 70.0])
    center, size, valid = part_box_target(box, False, 640, img2crop)
    corners = apply_affine(np.array([[60.0, 40.0], [90.0, 70.0]]), img2crop)
    hm = crop_to_heatmap(corners)
    np.testing.assert_allclose(center, hm.mean(0), atol=1e-5)
    np.testing.assert_allclose(size, hm[1] - hm[0], atol=1e-5)
    assert valid == 1.0
    center_f, size_f, _ = part_box_target(box, True, 640, img2crop)
    mirrored = apply_affine(np.array([[639 - 90.0, 40.0], [639 - 60.0, 70.0]]), img2crop)
    np.testing.assert_allclose(center_f, crop_to_heatmap(mirrored).mean(0), atol=1e-5)
    np.testing.assert_allclose(size_f, size, atol=1e-5)
    assert part_box_target(None, False, 640, img2crop)[2] == 0.0
    got = image_to_heatmap(np.array([[100.0, 50.0]]), img2crop)
    np.testing.assert_allclose(got, [[3.125, 1.5625]])


@pytest.mark.parametrize("flip", [False, True])
def test_training_crop_equals_the_inference_crop(flip: bool) -> None:
    """Folding the flip into the warp gives the crop ``crop_person`` (shared with inference)
    makes from the mirrored image, with the same image -> crop affine."""
    from ehps.geometry.crop import crop_person

    img = cv2.GaussianBlur(RNG.integers(0, 256, size=(300, 420, 3), dtype=np.uint8), (5, 5), 2)
    bbox = np.array([60.0, 30.0, 180.0, 240.0], np.float32)
    ours, img2crop = crop_training_image(img, bbox, AugParams(1.15, 17.0, (1, 1, 1), flip))
    ref = crop_person(img, bbox, scale=1.15, rot_deg=17.0, flip=flip)
    np.testing.assert_allclose(img2crop, ref.img2crop, atol=1e-5)
    ref_rgb = ref.image[:, :, ::-1].transpose(2, 0, 1) / 255.0
    diff = np.abs(ours - ref_rgb)
    assert diff.max() <= 1.5 / 255 and diff.mean() < 0.2 / 255


def test_uint8_output_is_the_rounded_float_output() -> None:
    img = RNG.integers(0, 256, size=(200, 150, 3), dtype=np.uint8)
    bbox = np.array([10.0, 10.0, 120.0, 160.0], np.float32)
    aug = AugParams(1.0, 10.0, (1.19, 0.81, 1.0), True)
    f, a = crop_training_image(img, bbox, aug)
    u, b = crop_training_image(img, bbox, aug, as_uint8=True)
    assert u.dtype == np.uint8 and u.shape == f.shape
    np.testing.assert_array_equal(a, b)
    assert np.abs(u.astype(np.float32) - f * 255).max() <= 0.5 + 1e-3
