"""Typed records of the training data pipeline.

Flow: a dataset source reads its files into :class:`Annotation` records (one person instance, in the
original image, before augmentation); :class:`~ehps.data.training_dataset.TrainingDataset` turns a
record into a :class:`Sample` (crop + targets exactly as the official loaders prepare them);
:func:`~ehps.data.collate.collate_samples` stacks samples into a :class:`Batch` of tensors.

Frames and units:

- *image pixels*: the original image, x right, y down.
- *heatmap units*: the 12x16 (W x H) grid of the network's body heatmap over the 384x512 crop
  (1 unit = 32 crop pixels); depth in 16 bins (``(z / (size / 2) + 1) / 2 * 16`` for a root-relative
  depth ``z`` in metres and a part extent ``size``: body 2 m, hands 0.3 m, face 0.3 m).
- *camera frame*: OpenCV (x right, y down, z forward), metres; ``*_cam`` 3D joints.
- poses: axis-angle radians in the 53-rotation order (pelvis, 21 body, 15 left-hand, 15
  right-hand, jaw), hands in the official ``flat_hand_mean=False`` convention.
- joints: the official 137-keypoint set (:data:`ehps.bodymodels.joint_sets.JOINT_137_NAMES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import torch

__all__ = ["FitParams", "Annotation", "Sample", "Batch"]


@dataclass
class FitParams:
    """SMPL-X parameters of one person (a ground-truth or pseudo-ground-truth fit).

    Attributes:
        global_orient: (3,) root rotation, axis-angle, in the annotation's camera frame (or world,
            then :attr:`Annotation.cam_R` rotates it into the camera).
        body_pose: (21, 3) or ``None`` (invalid body).
        left_hand_pose, right_hand_pose: (15, 3), ``flat_hand_mean=False``; ``None`` = invalid.
        jaw_pose: (3,) or ``None`` (face invalid).
        expression: (10,) or ``None`` (face invalid).
        betas: (10,) neutral-model shape (all zeros = no shape supervision).
        transl: (3,) model translation in metres.
        lhand_root, rhand_root: (3,) MANO global hand orientation (SMPLest-X hand datasets).
        source: which body model the labels came from (``"smplx"``, ``"smpl"``, ``"smplh"``).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray | None
    left_hand_pose: np.ndarray | None
    right_hand_pose: np.ndarray | None
    jaw_pose: np.ndarray | None
    expression: np.ndarray | None
    betas: np.ndarray
    transl: np.ndarray
    lhand_root: np.ndarray | None = None
    rhand_root: np.ndarray | None = None
    source: Literal["smplx", "smpl", "smplh"] = "smplx"


@dataclass
class Annotation:
    """One person instance as read from disk, before augmentation.

    Attributes:
        image_path: absolute image path.
        image_hw: (height, width) of the image in pixels.
        bbox_xywh: (4,) float32 processed crop box in image pixels (aspect 3:4, ratio applied).
        lhand_bbox_xyxy, rhand_bbox_xyxy, face_bbox_xyxy: (4,) float32 part boxes in image
            pixels, or ``None`` when absent.
        joints_img: (137, 2) float32 keypoints in image pixels, or ``None`` (no 2D labels).
        joints_valid: (137,) float32 validity of ``joints_img`` / ``joints_cam``.
        joints_cam: (137, 3) float32 3D keypoints in metres (camera frame; only differences
            are used, so any common offset is fine), or ``None``.
        joints_cam_relative: ``joints_cam`` is already part-relative (AGORA-style: body joints
            pelvis-relative, hands wrist-relative, face neck-relative).
        depth_per_part: discretise keypoint depth per part (hands and face with their own 0.3 m
            extent, part-relative) instead of pelvis-relative with the 2 m body extent.
        fit: SMPL-X parameters, or ``None`` (no parametric label).
        focal, princpt: (2,) camera of the fit in image pixels, if the loader projects the fit.
        cam_R, cam_t: (3, 3) / (3,) world-to-camera extrinsics of the fit, if any (metres).
        targets_from_fit: 2D / 3D keypoint targets come from the fit's SMPL-X joints
            (Human3.6M, 3DPW, UBody) instead of ``joints_img``.
        fit_joint_img: the ``smplx_joint_*`` targets come from the fit's projected joints
            (MSCOCO, MPII: keypoints supervise ``joint_img``, the fit ``smplx_joint_img``).
        joints_cam_from_fit: 3D keypoint targets are replaced by the fit's joints (the official
            RenBody fix-up).
        fit_pose_invalid: rotation joints (0..52) whose fit rotation is not supervised.
        fit_joint_invalid: 137-set joints whose fit position is not supervised.
        root_pose_valid: supervise the fit's root rotation.
        shape_valid: override of the shape validity (``None``: valid unless all-zero betas).
        is_3d: override of the ``is_3D`` flag (``None``: True when ``joints_cam`` is given).
        dataset: dataset name (for logging and per-dataset statistics).
        extras: anything loader specific (e.g. EHF ``mesh_gt_path``).
    """

    image_path: str
    image_hw: tuple[int, int]
    bbox_xywh: np.ndarray
    lhand_bbox_xyxy: np.ndarray | None = None
    rhand_bbox_xyxy: np.ndarray | None = None
    face_bbox_xyxy: np.ndarray | None = None
    joints_img: np.ndarray | None = None
    joints_valid: np.ndarray | None = None
    joints_cam: np.ndarray | None = None
    joints_cam_relative: bool = False
    depth_per_part: bool = False
    fit: FitParams | None = None
    focal: np.ndarray | None = None
    princpt: np.ndarray | None = None
    cam_R: np.ndarray | None = None
    cam_t: np.ndarray | None = None
    targets_from_fit: bool = False
    fit_joint_img: bool = False
    joints_cam_from_fit: bool = False
    fit_pose_invalid: tuple[int, ...] = ()
    fit_joint_invalid: tuple[int, ...] = ()
    root_pose_valid: bool = True
    shape_valid: bool | None = None
    is_3d: bool | None = None
    dataset: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One training sample: network input and official-style targets (numpy, float32).

    Input:
        image: (3, 512, 384) RGB crop, float32 in [0, 1] (uint8 in [0, 255] when the dataset was
            built with ``image_uint8=True``).
    Targets:
        joint_img: (137, 3) 2D keypoints in heatmap units (x in [0, 12), y in [0, 16)) and
            discretised depth (16 bins).
        smplx_joint_img: (137, 3) same frame; the fit's joints where the loader uses them.
        joint_cam: (137, 3) pelvis-relative 3D keypoints, metres, camera frame after
            augmentation (rotated by the in-plane angle, mirrored by the flip).
        smplx_joint_cam: (137, 3) part-relative 3D keypoints (body / pelvis, hands / wrist,
            face / neck), metres.
        smplx_pose: (53, 3) axis-angle targets after flip and root rotation.
        smplx_shape: (10,) betas (zeroed when any |beta| > 3, as the official code does).
        smplx_expr: (10,) expression.
        smplx_cam_trans: (3,) the fit translation (metres; not augmented; zeros if none).
        lhand_bbox_center, rhand_bbox_center, face_bbox_center: (2,) box centres, heatmap units.
        lhand_bbox_size, rhand_bbox_size, face_bbox_size: (2,) box sizes, heatmap units.
        lhand_root, rhand_root: (3,) MANO hand-root axis-angle (SMPLest-X; zeros if none).
    Masks (1 = supervised):
        joint_valid: (137,) keypoint validity (after flip).
        joint_trunc: (137,) validity and inside-the-crop (the official truncation rule).
        smplx_joint_valid, smplx_joint_trunc: (137,) the same for ``smplx_joint_*`` targets.
        smplx_pose_valid: (53,) per rotation joint.
        smplx_shape_valid, smplx_expr_valid, is_3d: () scalars.
        lhand_bbox_valid, rhand_bbox_valid, face_bbox_valid: () scalars.
    Bookkeeping:
        img2crop: (2, 3) affine from (possibly flipped) image pixels to crop pixels.
        crop_bbox_xywh: (4,) the processed box in image pixels.
        aug: (6,) scale, rotation (deg), flip (0/1), colour gains r, g, b.
        dataset_index: () int64 position of the source dataset in the mixture.
        sample_seed: () uint64 augmentation seed (reproduces the sample exactly).
    """

    image: np.ndarray
    joint_img: np.ndarray
    smplx_joint_img: np.ndarray
    joint_cam: np.ndarray
    smplx_joint_cam: np.ndarray
    smplx_pose: np.ndarray
    smplx_shape: np.ndarray
    smplx_expr: np.ndarray
    smplx_cam_trans: np.ndarray
    lhand_bbox_center: np.ndarray
    rhand_bbox_center: np.ndarray
    face_bbox_center: np.ndarray
    lhand_bbox_size: np.ndarray
    rhand_bbox_size: np.ndarray
    face_bbox_size: np.ndarray
    lhand_root: np.ndarray
    rhand_root: np.ndarray
    joint_valid: np.ndarray
    joint_trunc: np.ndarray
    smplx_joint_valid: np.ndarray
    smplx_joint_trunc: np.ndarray
    smplx_pose_valid: np.ndarray
    smplx_shape_valid: np.ndarray
    smplx_expr_valid: np.ndarray
    is_3d: np.ndarray
    lhand_bbox_valid: np.ndarray
    rhand_bbox_valid: np.ndarray
    face_bbox_valid: np.ndarray
    img2crop: np.ndarray
    crop_bbox_xywh: np.ndarray
    aug: np.ndarray
    dataset_index: np.ndarray
    sample_seed: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Batch:
    """A collated batch: every :class:`Sample` field stacked into a tensor with a leading batch
    axis ``B`` (``image`` (B, 3, 512, 384) float32, masks (B, ...) float32, ``dataset_index``
    (B,) int64, ``sample_seed`` (B,) int64 holding the uint64 bits)."""

    image: torch.Tensor
    joint_img: torch.Tensor
    smplx_joint_img: torch.Tensor
    joint_cam: torch.Tensor
    smplx_joint_cam: torch.Tensor
    smplx_pose: torch.Tensor
    smplx_shape: torch.Tensor
    smplx_expr: torch.Tensor
    smplx_cam_trans: torch.Tensor
    lhand_bbox_center: torch.Tensor
    rhand_bbox_center: torch.Tensor
    face_bbox_center: torch.Tensor
    lhand_bbox_size: torch.Tensor
    rhand_bbox_size: torch.Tensor
    face_bbox_size: torch.Tensor
    lhand_root: torch.Tensor
    rhand_root: torch.Tensor
    joint_valid: torch.Tensor
    joint_trunc: torch.Tensor
    smplx_joint_valid: torch.Tensor
    smplx_joint_trunc: torch.Tensor
    smplx_pose_valid: torch.Tensor
    smplx_shape_valid: torch.Tensor
    smplx_expr_valid: torch.Tensor
    is_3d: torch.Tensor
    lhand_bbox_valid: torch.Tensor
    rhand_bbox_valid: torch.Tensor
    face_bbox_valid: torch.Tensor
    img2crop: torch.Tensor
    crop_bbox_xywh: torch.Tensor
    aug: torch.Tensor
    dataset_index: torch.Tensor
    sample_seed: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.image.shape[0])

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""
        return Batch(**{k: v.to(device, non_blocking=non_blocking)
                        for k, v in self.as_dict().items()})

    def pin_memory(self) -> Batch:
        """Pinned copy (called by ``DataLoader(pin_memory=True)``)."""
        return Batch(**{k: v.pin_memory() for k, v in self.as_dict().items()})
