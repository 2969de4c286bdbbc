"""Training augmentation and target geometry as pure functions (official-spec c.4).

Randomness: :func:`sample_aug_params` draws everything from a ``numpy.random.Generator`` passed in;
nothing here touches a global RNG. The image goes through :func:`ehps.geometry.crop.crop_person`,
the same affine crop inference uses, with scale, in-plane rotation and flip folded in.

Official distributions: scale ``1 + 0.25 * clip(N(0, 1), -1, 1)``; rotation
``30 deg * clip(N(0, 1), -2, 2)`` with probability 0.6, else 0; a colour gain per channel from
``U(0.8, 1.2)``; horizontal flip with probability 0.5. Under a flip the image is mirrored
(x -> W - 1 - x), left/right joints swap (137-set and 53-rotation flip pairs), 3D x is negated,
axis-angle (x, y, z) becomes (x, -y, -z), left/right part boxes swap. 3D targets rotate with the
in-plane angle ``R = Rz(-rot)`` and the root rotation becomes ``R @ root``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ehps.bodymodels.joint_sets import (
    JOINT_137_FLIP_PAIRS,
    JOINT_137_LWRIST_IDX,
    JOINT_137_NECK_IDX,
    JOINT_137_PARTS,
    JOINT_137_ROOT_IDX,
    JOINT_137_RWRIST_IDX,
    ORIG_53_FLIP_PAIRS,
)
from ehps.geometry.camera import CROP_INPUT_HW
from ehps.geometry.crop import apply_affine, crop_transform

__all__ = [
    "HEATMAP_SHAPE",
    "BODY_3D_SIZE",
    "HAND_3D_SIZE",
    "FACE_3D_SIZE",
    "AugParams",
    "NO_AUG",
    "sample_aug_params",
    "crop_training_image",
    "flip_permutation",
    "flip_joints_img",
    "flip_joints_cam",
    "flip_pose",
    "inplane_rotation",
    "rotate_root_pose",
    "crop_to_heatmap",
    "depth_to_bins",
    "part_relative",
    "undo_part_relative",
    "part_depth_bins",
    "image_to_heatmap",
    "truncation_mask",
    "part_box_target",
]

#: (depth bins, height, width) of the body heatmap, the unit of 2D targets.
HEATMAP_SHAPE: tuple[int, int, int] = (16, 16, 12)
#: Extents (metres) the depth bins cover: body, hands and face.
BODY_3D_SIZE: float = 2.0
HAND_3D_SIZE: float = 0.3
FACE_3D_SIZE: float = 0.3


@dataclass(frozen=True)
class AugParams:
    """One draw of the training augmentation.

    Attributes:
        scale: box scale factor (> 1 zooms out).
        rot_deg: in-plane rotation of the crop, degrees (counter-clockwise in the image).
        color_gain: (3,) per-channel RGB multipliers.
        flip: mirror horizontally.
    """

    scale: float = 1.0
    rot_deg: float = 0.0
    color_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    flip: bool = False

    def as_array(self) -> np.ndarray:
        """(6,) float32: scale, rotation, flip, r, g, b gains."""
        return np.array([self.scale, self.rot_deg, float(self.flip), *self.color_gain], np.float32)


NO_AUG = AugParams()


def sample_aug_params(rng: np.random.Generator) -> AugParams:
    """Draw :class:`AugParams` with the official distributions from ``rng``."""
    scale = 1.0 + 0.25 * float(np.clip(rng.standard_normal(), -1.0, 1.0))
    rot_normal = float(np.clip(rng.standard_normal(), -2.0, 2.0))
    rot = 30.0 * rot_normal if rng.random() <= 0.6 else 0.0
    gain = rng.uniform(0.8, 1.2, size=3)
    flip = bool(rng.random() <= 0.5)
    return AugParams(scale, rot, (float(gain[0]), float(gain[1]), float(gain[2])), flip)


def crop_training_image(
    image_bgr: np.ndarray,
    bbox_xywh: np.ndarray,
    aug: AugParams,
    out_hw: tuple[int, int] = CROP_INPUT_HW,
    image_to_source: np.ndarray | None = None,
    image_width: int | None = None,
    as_uint8: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop, augment and normalise one image.

    The geometry is :func:`ehps.geometry.crop.crop_transform` exactly as
    :func:`ehps.geometry.crop.crop_person` builds it (box centre mirrored for a flip); the flip is
    folded into the warp matrix instead of copying a mirrored full-size image, and the warp runs on
    the 8-bit image (the official code warps a float copy: values differ by rounding, < 1 / 255).

    Args:
        image_bgr: (H, W, 3) uint8 image as ``cv2.imread`` returns it (BGR).
        bbox_xywh: (4,) processed crop box in image pixels.
        aug: augmentation parameters.
        out_hw: output (height, width), default (512, 384).
        image_to_source: (2, 3) affine from original-image pixels to the pixels of
            ``image_bgr`` when that is a cached region of the original
            (:mod:`ehps.data.crop_cache`).
        image_width: width of the original image (needed with ``image_to_source``).
        as_uint8: return the image as uint8 in [0, 255] (colour gain applied, rounded) instead of
            float32 in [0, 1]: a quarter of the memory traffic between loader workers and the
            trainer, which then divides by 255 on its device.

    Returns:
        ``(image (3, H, W) float32 RGB in [0, 1] (or uint8 in [0, 255]), img2crop (2, 3)
        float32)``; ``img2crop`` maps
        pixels of the (flipped, when ``aug.flip``) original image to crop pixels, as
        ``crop_person``'s.
    """
    width = image_bgr.shape[1] if image_width is None else int(image_width)
    cx = float(bbox_xywh[0] + 0.5 * bbox_xywh[2])
    cy = float(bbox_xywh[1] + 0.5 * bbox_xywh[3])
    if aug.flip:
        cx = width - cx - 1
    size = (float(bbox_xywh[2]), float(bbox_xywh[3]))
    img2crop = crop_transform((cx, cy), size, out_hw, aug.scale, aug.rot_deg)
    warp = img2crop.astype(np.float64)
    if aug.flip:  # compose with the mirror x -> W - 1 - x of the original image
        warp[:, 2] += warp[:, 0] * (width - 1)
        warp[:, 0] *= -1.0
    if image_to_source is not None:  # source pixels -> original pixels -> crop
        to_src = np.vstack([np.asarray(image_to_source, np.float64), [0.0, 0.0, 1.0]])
        warp = (np.vstack([warp, [0.0, 0.0, 1.0]]) @ np.linalg.inv(to_src))[:2]
    patch = cv2.warpAffine(
        np.ascontiguousarray(image_bgr), warp, (int(out_hw[1]), int(out_hw[0])),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
    )
    planes = cv2.split(patch)[::-1]  # contiguous R, G, B planes
    h, w = int(out_hw[0]), int(out_hw[1])
    if as_uint8:
        out = np.empty((3, h, w), np.uint8)
        for c in range(3):  # round and saturate, as float -> uint8 conversion would
            cv2.convertScaleAbs(planes[c], dst=out[c], alpha=float(aug.color_gain[c]))
        return out, img2crop
    out = np.empty((3, h, w), np.float32)
    for c in range(3):
        gain = np.float32(aug.color_gain[c]) / np.float32(255.0)
        np.multiply(planes[c], gain, out=out[c])
        if aug.color_gain[c] > 1.0:
            np.minimum(out[c], 1.0, out=out[c])
    return out, img2crop


def flip_permutation(num: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """(num,) index array that swaps every pair (apply as ``x[perm]``)."""
    perm = np.arange(num)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


_PERM_137 = flip_permutation(137, JOINT_137_FLIP_PAIRS)
_PERM_53 = flip_permutation(53, ORIG_53_FLIP_PAIRS)


def flip_joints_img(joints: np.ndarray, width: int) -> np.ndarray:
    """Mirror (137, D) image keypoints: x -> width - 1 - x, then swap left/right joints."""
    out = np.array(joints, dtype=np.float32, copy=True)
    out[:, 0] = width - 1 - out[:, 0]
    return out[_PERM_137]


def flip_joints_cam(joints: np.ndarray) -> np.ndarray:
    """Mirror (137, 3) camera-frame joints: x -> -x, then swap left/right joints."""
    out = np.array(joints, dtype=np.float32, copy=True)
    out[:, 0] = -out[:, 0]
    return out[_PERM_137]


def flip_pose(pose: np.ndarray) -> np.ndarray:
    """Mirror (53, 3) axis-angle rotations: swap left/right joints, negate y and z."""
    out = np.array(pose, dtype=np.float32, copy=True)[_PERM_53]
    out[:, 1:3] *= -1.0
    return out


def inplane_rotation(rot_deg: float) -> np.ndarray:
    """(3, 3) float32 rotation applied to 3D targets for an in-plane crop rotation: Rz(-rot)."""
    r = np.deg2rad(-rot_deg)
    c, s = np.cos(r), np.sin(r)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)


def rotate_root_pose(root_aa: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(3,) axis-angle of ``rot @ Rodrigues(root_aa)`` (cv2 Rodrigues, as the official code)."""
    mat, _ = cv2.Rodrigues(np.asarray(root_aa, np.float64).reshape(3, 1))
    aa, _ = cv2.Rodrigues(np.asarray(rot, np.float64) @ mat)
    return aa.reshape(3).astype(np.float32)


def crop_to_heatmap(xy_crop: np.ndarray, crop_hw: tuple[int, int] = CROP_INPUT_HW) -> np.ndarray:
    """Crop pixels (..., 2) -> heatmap units (x * 12 / 384, y * 16 / 512)."""
    xy = np.asarray(xy_crop, np.float32).copy()
    xy[..., 0] *= HEATMAP_SHAPE[2] / crop_hw[1]
    xy[..., 1] *= HEATMAP_SHAPE[1] / crop_hw[0]
    return xy


def depth_to_bins(z_rel: np.ndarray, extent: float) -> np.ndarray:
    """Root-relative depth (metres) -> depth bins: ``(z / (extent / 2) + 1) / 2 * 16``."""
    return (np.asarray(z_rel, np.float32) / (extent / 2.0) + 1.0) / 2.0 * HEATMAP_SHAPE[0]


_LHAND = np.asarray(JOINT_137_PARTS["lhand"])
_RHAND = np.asarray(JOINT_137_PARTS["rhand"])
_FACE = np.asarray(JOINT_137_PARTS["face"])
_BODY = np.asarray(JOINT_137_PARTS["body"])


def part_relative(joints_cam: np.ndarray) -> np.ndarray:
    """(137, 3) -> pelvis-relative body, wrist-relative hands, neck-relative face."""
    out = np.asarray(joints_cam, np.float32) - joints_cam[JOINT_137_ROOT_IDX]
    out[_LHAND] -= out[JOINT_137_LWRIST_IDX]
    out[_RHAND] -= out[JOINT_137_RWRIST_IDX]
    out[_FACE] -= out[JOINT_137_NECK_IDX]
    return out


def undo_part_relative(joints_rel: np.ndarray) -> np.ndarray:
    """Inverse of the hand / face steps of :func:`part_relative` (result is pelvis-relative)."""
    out = np.array(joints_rel, dtype=np.float32, copy=True)
    out[_LHAND] += out[JOINT_137_LWRIST_IDX]
    out[_RHAND] += out[JOINT_137_RWRIST_IDX]
    out[_FACE] += out[JOINT_137_NECK_IDX]
    return out


def part_depth_bins(joints_rel: np.ndarray) -> np.ndarray:
    """(137,) depth bins of part-relative joints with per-part extents (body 2 m, hands and face
    0.3 m)."""
    z = np.empty(joints_rel.shape[0], np.float32)
    z[_BODY] = depth_to_bins(joints_rel[_BODY, 2], BODY_3D_SIZE)
    z[_LHAND] = depth_to_bins(joints_rel[_LHAND, 2], HAND_3D_SIZE)
    z[_RHAND] = depth_to_bins(joints_rel[_RHAND, 2], HAND_3D_SIZE)
    z[_FACE] = depth_to_bins(joints_rel[_FACE, 2], FACE_3D_SIZE)
    return z


def truncation_mask(
    joint_hm: np.ndarray, joint_orig: np.ndarray | None, rule: str = "smplerx"
) -> np.ndarray:
    """(J,) float32 "inside the crop" mask with the official rules.

    Args:
        joint_hm: (J, 3) keypoints in heatmap units (after crop) with depth bins.
        joint_orig: (J, 3) the same keypoints before augmentation (image pixels + depth bins);
            used by the ``"smplerx"`` rule only.
        rule: ``"smplerx"``: original x, y, z > 0 and new x in [0, 12), y in [0, 16), z in [0, 16)
            (SMPLer-X, and SMPLest-X for fit joints). ``"smplestx"``: new x in [0, 192),
            y in [0, 256), z >= 0 (SMPLest-X keypoints: the bounds are the body-input size although
            the coordinates are in heatmap units, so effectively only non-negativity is checked).
    """
    x, y, z = joint_hm[:, 0], joint_hm[:, 1], joint_hm[:, 2]
    if rule == "smplestx":
        ok = (x >= 0) & (x < 192) & (y >= 0) & (y < 256) & (z >= 0)
        return ok.astype(np.float32)
    d, h, w = HEATMAP_SHAPE
    assert joint_orig is not None
    ok = (
        (joint_orig[:, 0] > 0) & (x >= 0) & (x < w)
        & (joint_orig[:, 1] > 0) & (y >= 0) & (y < h)
        & (joint_orig[:, 2] > 0) & (z >= 0) & (z < d)
    )
    return ok.astype(np.float32)


def part_box_target(
    box_xyxy: np.ndarray | None,
    flip: bool,
    image_width: int,
    img2crop: np.ndarray,
    crop_hw: tuple[int, int] = CROP_INPUT_HW,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Hand / face box target: centre and size in heatmap units of the axis-aligned box around the
    augmented corners (official ``process_hand_face_bbox``).

    Returns:
        ``(center (2,), size (2,), valid)``; an absent box gives the official dummy
        (the unit box at the origin, centre (0.5, 0.5), size (1, 1)) with ``valid = 0``.
    """
    if box_xyxy is None:
        return np.array([0.5, 0.5], np.float32), np.array([1.0, 1.0], np.float32), 0.0
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy).reshape(4))
    if flip:
        x0, x1 = image_width - x1 - 1, image_width - x0 - 1
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    hm = crop_to_heatmap(apply_affine(corners, img2crop), crop_hw)
    lo, hi = hm.min(axis=0), hm.max(axis=0)
    return ((lo + hi) / 2.0).astype(np.float32), (hi - lo).astype(np.float32), 1.0


def image_to_heatmap(xy_img: np.ndarray, img2crop: np.ndarray) -> np.ndarray:
    """(J, 2) image pixels -> heatmap units through the crop affine."""
    return crop_to_heatmap(apply_affine(xy_img, img2crop)).astype(np.float32)

