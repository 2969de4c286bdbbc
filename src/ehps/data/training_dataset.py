"""The training Dataset: annotation records -> network input and official-style targets.

:class:`TrainingDataset` concatenates :class:`~ehps.data.datasets.common.AnnotationSource` objects
(one per dataset of a mixture) and turns item ``i`` into a :class:`~ehps.data.types.Sample`:
decode (OpenCV), one affine warp to the 512x384 crop (scale / rotation / flip folded in, the crop
shared with inference), colour gain, and the targets of the official ``process_db_coord`` /
``process_human_model_output`` steps (heatmap-unit 2D keypoints with discretised depth, pelvis- and
part-relative 3D keypoints, augmented SMPL-X parameters, part boxes, masks and truncation).

Randomness: an item is addressed by a :class:`~ehps.data.sampling.SampleKey` ``(index, seed)``
from :class:`~ehps.data.sampling.MultiDatasetSampler`; the augmentation is drawn from
``numpy.random.default_rng(seed)``, so a sample is a pure function of its key (no global RNG, same
result in any worker, exact on resume). A plain ``int`` index uses seed ``hash(base_seed, index)``.

SMPL-X fits: SMPLer-X builds some targets from the fit's joints (HumanData rows without 3D
keypoints, MSCOCO / MPII / UBody / Human3.6M / 3DPW pseudo-labels, the RenBody fix-up). These need
``body_model`` (an SMPL-X layer, e.g. ``ehps.bodymodels.smplx.load_smplx()``) evaluated per sample
(batch 1, no grad, neutral). Without one, those joint targets are masked out (valid = 0) and the
pose / shape / expression targets are still produced.

3DPW: the official loader's 2D target comes from the SMPL layer's joints written into the first
22 slots of the 137 set (an index mismatch); ehps has no SMPL layer, so 3DPW uses the SMPL-X fit's
projected joints for all targets instead (documented deviation).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ehps.bodymodels.joint_sets import (
    JOINT_137_FLIP_PAIRS,
    JOINT_137_IDX,
    JOINT_137_PARTS,
    JOINT_137_ROOT_IDX,
    ORIG_53_FLIP_PAIRS,
    ORIG_53_PARTS,
)
from ehps.data.datasets.common import AnnotationSource
from ehps.data.sampling import SampleKey, sample_seeds
from ehps.data.transforms import (
    BODY_3D_SIZE,
    NO_AUG,
    AugParams,
    crop_training_image,
    depth_to_bins,
    flip_joints_cam,
    flip_joints_img,
    flip_permutation,
    flip_pose,
    image_to_heatmap,
    inplane_rotation,
    part_box_target,
    part_depth_bins,
    part_relative,
    rotate_root_pose,
    sample_aug_params,
    truncation_mask,
    undo_part_relative,
)
from ehps.data.types import Annotation, FitParams, Sample
from ehps.errors import InputError
from ehps.geometry.camera import CROP_INPUT_HW

__all__ = ["TrainingDataset", "read_image", "FitJoints"]

#: 2D / 3D joint targets of a sample (NaN -> 0 for estimated labels), float32 in the Sample.
_TARGET_KEYS = ("joint_img", "smplx_joint_img", "joint_cam", "smplx_joint_cam")
#: Joint masks of a sample, float32 in the Sample.
_MASK_KEYS = ("joint_valid", "joint_trunc", "smplx_joint_valid", "smplx_joint_trunc", "is_3d")

_PERM_137 = flip_permutation(137, JOINT_137_FLIP_PAIRS)
_PERM_53 = flip_permutation(53, ORIG_53_FLIP_PAIRS)
_IDX_144_137 = np.asarray(JOINT_137_IDX)


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) uint8 BGR image (EXIF orientation ignored, as the official loader)."""
    from ehps.io.image import decode_image_file

    if not os.path.isfile(path):
        raise InputError(f"cannot read image {path}: the file does not exist")
    return decode_image_file(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


class FitJoints:
    """Targets derived from an SMPL-X fit (official ``process_human_model_output``).

    Attributes:
        pose: (53, 3) augmented axis-angle. rot_valid: (53,). shape, expr: (10,). expr_valid.
        joint_img: (137, 3) heatmap units + part depth bins, or zeros without a body model.
        joint_cam: (137, 3) part-relative, metres. trunc: (137,). coord_valid: (137,).
        has_joints: whether joint targets were computed.
    """

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class TrainingDataset(Dataset):
    """Concatenated annotation sources producing :class:`Sample` objects.

    Args:
        sources: one :class:`AnnotationSource` per dataset, in mixture order.
        system: ``"smplerx"`` or ``"smplestx"`` (truncation rule and loader differences).
        body_model: optional SMPL-X layer for fit-derived joint targets (see module docstring).
        augment: draw the official augmentation (``False``: identity, e.g. for checks).
        base_seed: seed for plain-``int`` indexing.
        crop_hw: network input (height, width).
        image_uint8: produce ``Sample.image`` as uint8 in [0, 255] (convert with
            ``image.float() / 255`` on the training device) instead of float32 in [0, 1]: 4x less
            data moved from the loader workers.
    """

    def __init__(
        self,
        sources: Sequence[AnnotationSource],
        system: Literal["smplerx", "smplestx"] = "smplerx",
        body_model: torch.nn.Module | None = None,
        augment: bool = True,
        base_seed: int = 0,
        crop_hw: tuple[int, int] = CROP_INPUT_HW,
        image_uint8: bool = False,
    ) -> None:
        if not sources:
            raise InputError("TrainingDataset needs at least one annotation source")
        if system not in ("smplerx", "smplestx"):
            raise InputError(f"system must be 'smplerx' or 'smplestx', got {system!r}")
        self.sources = list(sources)
        self.system = system
        self.body_model = body_model
        self.augment = augment
        self.base_seed = int(base_seed)
        self.crop_hw = crop_hw
        self.image_uint8 = bool(image_uint8)
        self._bounds = np.cumsum([len(s) for s in self.sources])

    @property
    def lengths(self) -> list[int]:
        """Items per source (what :class:`~ehps.data.sampling.MultiDatasetSampler` needs)."""
        return [len(s) for s in self.sources]

    def __len__(self) -> int:
        return int(self._bounds[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(source number, item within the source) of a flat index."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        d = int(np.searchsorted(self._bounds, index, side="right"))
        return d, index - (0 if d == 0 else int(self._bounds[d - 1]))

    def __getitem__(self, key: SampleKey | tuple[int, int] | int) -> Sample:
        if isinstance(key, tuple):
            index, seed = int(key[0]), int(key[1])
        else:
            index = int(key)
            seed = int(sample_seeds(self.base_seed, 0, np.array([index]))[0])
        d, j = self.locate(index)
        ann = self.sources[d].annotation(j)
        rng = np.random.default_rng(seed)
        aug = sample_aug_params(rng) if self.augment else NO_AUG
        return self.make_sample(ann, aug, dataset_index=d, sample_seed=seed)

    # ------------------------------------------------------------------ targets
    def make_sample(
        self,
        ann: Annotation,
        aug: AugParams = NO_AUG,
        image: np.ndarray | None = None,
        dataset_index: int = 0,
        sample_seed: int = 0,
    ) -> Sample:
        """Build the sample of ``ann`` under augmentation ``aug`` (deterministic).

        Args:
            ann: the annotation record.
            aug: augmentation parameters.
            image: the decoded (H, W, 3) uint8 BGR image (read from ``ann.image_path`` if None).
            dataset_index, sample_seed: bookkeeping copied into the sample.
        """
        cached = ann.extras.get("crop_cache")
        if cached is not None:  # a pre-cropped region (ehps.data.crop_cache)
            img = read_image(cached.path) if image is None else image
            width = int(ann.image_hw[1])
            crop, img2crop = crop_training_image(img, ann.bbox_xywh, aug, self.crop_hw,
                                                 cached.image_to_cache, width, self.image_uint8)
        else:
            img = read_image(ann.image_path) if image is None else image
            width = int(img.shape[1])
            crop, img2crop = crop_training_image(img, ann.bbox_xywh, aug, self.crop_hw,
                                                 as_uint8=self.image_uint8)
        rot = inplane_rotation(aug.rot_deg)
        est = self.system == "smplestx"

        # --- dataset keypoints (official process_db_coord) ---------------------------------
        valid = (
            np.zeros(137, np.float32) if ann.joints_valid is None
            else np.asarray(ann.joints_valid, np.float32).reshape(137)
        )
        dummy = ann.joints_cam is None
        if dummy:
            jc_in = np.zeros((137, 3), np.float32)
        elif ann.joints_cam_relative:
            jc_in = np.asarray(ann.joints_cam, np.float32)
        else:
            jc = np.asarray(ann.joints_cam, np.float32)
            jc_in = jc - jc[JOINT_137_ROOT_IDX]
        if ann.joints_img is None:
            xy = np.zeros((137, 2), np.float32)
            valid = np.zeros(137, np.float32) if ann.joints_cam is None else valid
        else:
            xy = np.asarray(ann.joints_img, np.float32)[:, :2]
        if dummy:
            z = np.zeros(137, np.float32)
        elif ann.depth_per_part:
            z = part_depth_bins(jc_in)
        else:
            z = depth_to_bins(jc_in[:, 2], BODY_3D_SIZE)
        orig = np.concatenate([xy, z[:, None]], axis=1)
        ji, jc, v = orig.copy(), jc_in.copy(), valid.copy()
        if aug.flip:
            ji, jc, v = flip_joints_img(ji, width), flip_joints_cam(jc), v[_PERM_137]
        jc = jc @ rot.T
        ji[:, :2] = image_to_heatmap(ji[:, :2], img2crop)
        trunc = v * truncation_mask(ji, orig, "smplestx" if est else "smplerx")
        if ann.joints_cam_relative:
            jc_ra, jc_wo = jc, undo_part_relative(jc)
        else:
            jc_wo, jc_ra = jc, part_relative(jc)

        # --- SMPL-X fit (official process_human_model_output) ------------------------------
        need_joints = ann.fit is not None and (
            ann.targets_from_fit or ann.fit_joint_img or ann.joints_cam_from_fit
            or (dummy and not est)
        )
        fit = self._fit_targets(ann, aug, rot, width, img2crop, orig, need_joints)

        t: dict[str, np.ndarray] = {
            "joint_img": ji, "smplx_joint_img": ji, "joint_cam": jc_wo, "smplx_joint_cam": jc_ra,
        }
        m: dict[str, Any] = {
            "joint_valid": v, "joint_trunc": trunc, "smplx_joint_valid": v,
            "smplx_joint_trunc": trunc, "is_3d": float(not dummy),
        }
        if fit is None:
            pose = np.zeros((53, 3), np.float32)
            rot_valid = np.zeros(53, np.float32)
            shape = expr = np.zeros(10, np.float32)
            shape_valid = expr_valid = 0.0
            if ann.targets_from_fit or ann.fit_joint_img or dummy:
                zeros137 = np.zeros(137, np.float32)
                t["smplx_joint_img"] = np.zeros((137, 3), np.float32)
                t["smplx_joint_cam"] = np.zeros((137, 3), np.float32)
                m["smplx_joint_valid"] = m["smplx_joint_trunc"] = zeros137
                if ann.targets_from_fit:
                    t["joint_img"], t["joint_cam"] = t["smplx_joint_img"], t["smplx_joint_cam"]
                    m["joint_valid"] = m["joint_trunc"] = zeros137
        else:
            pose, rot_valid, shape, expr = fit.pose, fit.rot_valid, fit.shape, fit.expr
            expr_valid = float(fit.expr_valid)
            shape_valid = float(shape.any()) if ann.shape_valid is None else float(ann.shape_valid)
            cv = fit.coord_valid
            ftrunc = cv * fit.trunc
            if ann.targets_from_fit:
                t.update(joint_img=fit.joint_img, smplx_joint_img=fit.joint_img,
                         joint_cam=undo_part_relative(fit.joint_cam),
                         smplx_joint_cam=fit.joint_cam)
                m.update(joint_valid=cv, joint_trunc=ftrunc, smplx_joint_valid=cv,
                         smplx_joint_trunc=ftrunc, is_3d=1.0)
            elif ann.fit_joint_img:
                t.update(smplx_joint_img=fit.joint_img, smplx_joint_cam=fit.joint_cam)
                m.update(smplx_joint_valid=cv, smplx_joint_trunc=ftrunc)
            elif dummy:
                if not est:
                    t["smplx_joint_cam"] = fit.joint_cam
                m.update(smplx_joint_valid=cv, smplx_joint_trunc=ftrunc)
            if ann.joints_cam_from_fit and fit.has_joints:
                t["joint_cam"] = undo_part_relative(fit.joint_cam)
                t["smplx_joint_cam"] = fit.joint_cam
        if ann.is_3d is not None:
            m["is_3d"] = float(ann.is_3d)

        # --- part boxes ----------------------------------------------------------------------
        boxes = [part_box_target(b, aug.flip, width, img2crop, self.crop_hw)
                 for b in (ann.lhand_bbox_xyxy, ann.rhand_bbox_xyxy, ann.face_bbox_xyxy)]
        if aug.flip:
            boxes[0], boxes[1] = boxes[1], boxes[0]

        fitp = ann.fit
        if est:
            for k in _TARGET_KEYS:
                t[k] = np.nan_to_num(t[k], nan=0.0)
            pose = np.nan_to_num(pose, nan=0.0)
        f32 = np.float32
        return Sample(
            image=crop,
            **{k: np.asarray(t[k], f32) for k in _TARGET_KEYS},
            **{k: np.asarray(m[k], f32) for k in _MASK_KEYS},
            smplx_pose=np.asarray(pose, f32),
            smplx_shape=np.asarray(shape, f32),
            smplx_expr=np.asarray(expr, f32),
            smplx_cam_trans=_vec3(None if fitp is None else fitp.transl),
            lhand_bbox_center=boxes[0][0], rhand_bbox_center=boxes[1][0],
            face_bbox_center=boxes[2][0],
            lhand_bbox_size=boxes[0][1], rhand_bbox_size=boxes[1][1], face_bbox_size=boxes[2][1],
            lhand_root=_vec3(None if fitp is None else fitp.lhand_root),
            rhand_root=_vec3(None if fitp is None else fitp.rhand_root),
            smplx_pose_valid=np.asarray(rot_valid, f32),
            smplx_shape_valid=np.asarray(shape_valid, f32),
            smplx_expr_valid=np.asarray(expr_valid, f32),
            lhand_bbox_valid=np.asarray(boxes[0][2], f32),
            rhand_bbox_valid=np.asarray(boxes[1][2], f32),
            face_bbox_valid=np.asarray(boxes[2][2], f32),
            img2crop=np.asarray(img2crop, f32),
            crop_bbox_xywh=np.asarray(ann.bbox_xywh, f32),
            aug=aug.as_array(),
            dataset_index=np.asarray(dataset_index, np.int64),
            sample_seed=np.asarray(sample_seed, np.uint64),
        )

    def _fit_targets(
        self,
        ann: Annotation,
        aug: AugParams,
        rot: np.ndarray,
        width: int,
        img2crop: np.ndarray,
        db_joint_img: np.ndarray,
        need_joints: bool,
    ) -> FitJoints | None:
        fit = ann.fit
        if fit is None:
            return None
        est = self.system == "smplestx"
        rot_valid = np.ones(53, np.float32)
        coord_valid = np.ones(137, np.float32)
        body = fit.body_pose
        if body is None or (est and not np.any(body)):
            rot_valid[np.asarray(ORIG_53_PARTS["body"])] = 0.0
            coord_valid[np.asarray(JOINT_137_PARTS["body"])] = 0.0
            body = np.zeros((21, 3), np.float32) if body is None else body
        hands = []
        for hand, rpart, cpart in ((fit.left_hand_pose, "lhand", "lhand"),
                                   (fit.right_hand_pose, "rhand", "rhand")):
            if hand is None:
                rot_valid[np.asarray(ORIG_53_PARTS[rpart])] = 0.0
                coord_valid[np.asarray(JOINT_137_PARTS[cpart])] = 0.0
                hand = np.zeros((15, 3), np.float32)
            hands.append(np.asarray(hand, np.float32).reshape(15, 3))
        face_ok = fit.jaw_pose is not None and fit.expression is not None
        if face_ok:
            jaw = np.asarray(fit.jaw_pose, np.float32).reshape(3)
            expr = np.asarray(fit.expression, np.float32).reshape(10)
        else:
            jaw, expr = np.zeros(3, np.float32), np.zeros(10, np.float32)
            rot_valid[np.asarray(ORIG_53_PARTS["face"])] = 0.0
            coord_valid[np.asarray(JOINT_137_PARTS["face"])] = 0.0
        root = np.asarray(fit.global_orient, np.float32).reshape(3)
        if ann.cam_R is not None:
            root = rotate_root_pose(root, ann.cam_R)
        pose = np.concatenate(
            [root[None], np.asarray(body, np.float32).reshape(21, 3), hands[0], hands[1],
             jaw[None]], axis=0
        )
        shape = np.asarray(fit.betas, np.float32).reshape(10).copy()

        has_joints = need_joints and self.body_model is not None
        if has_joints:
            jc = self._fit_joints_cam(fit, root, pose, shape, expr)
            if ann.cam_R is not None and ann.cam_t is not None:
                root_cam = jc[JOINT_137_ROOT_IDX].copy()
                jc = jc - root_cam + np.asarray(ann.cam_R, np.float32) @ root_cam + np.asarray(
                    ann.cam_t, np.float32).reshape(3)
            if ann.focal is not None and ann.princpt is not None:
                f, c = np.asarray(ann.focal, np.float32), np.asarray(ann.princpt, np.float32)
                ji = np.stack([jc[:, 0] / jc[:, 2] * f[0] + c[0],
                               jc[:, 1] / jc[:, 2] * f[1] + c[1], jc[:, 2]], axis=1)
            else:
                ji = db_joint_img.copy()
            orig = ji.copy()
            jc = part_relative(jc)
            ji[:, 2] = part_depth_bins(jc)
            if aug.flip:
                jc, ji = flip_joints_cam(jc), flip_joints_img(ji, width)
            ji[:, :2] = image_to_heatmap(ji[:, :2], img2crop)
            trunc = truncation_mask(ji, orig, "smplerx")
            jc = jc @ rot.T
        else:
            ji = np.zeros((137, 3), np.float32)
            jc = np.zeros((137, 3), np.float32)
            trunc = np.zeros(137, np.float32)
            if need_joints:
                coord_valid[:] = 0.0  # joint targets wanted but no body model to compute them
        if aug.flip:
            coord_valid = coord_valid[_PERM_137]
            pose = flip_pose(pose)
            rot_valid = rot_valid[_PERM_53]
        pose[0] = rotate_root_pose(pose[0], rot)
        if (np.abs(shape) > 3).any():
            shape[:] = 0.0
        for j in ann.fit_pose_invalid:
            rot_valid[j] = 0.0
        for j in ann.fit_joint_invalid:
            coord_valid[j] = 0.0
        if not ann.root_pose_valid:
            rot_valid[0] = 0.0
        return FitJoints(pose=pose.astype(np.float32), rot_valid=rot_valid, shape=shape,
                         expr=expr, expr_valid=face_ok, joint_img=ji.astype(np.float32),
                         joint_cam=jc.astype(np.float32), trunc=trunc, coord_valid=coord_valid,
                         has_joints=has_joints)

    def _fit_joints_cam(
        self, fit: FitParams, root: np.ndarray, pose: np.ndarray, shape: np.ndarray,
        expr: np.ndarray,
    ) -> np.ndarray:
        """(137, 3) camera-frame joints of the fit through the neutral SMPL-X layer."""
        assert self.body_model is not None
        def t(x: np.ndarray, *shape: int) -> torch.Tensor:
            return torch.tensor(np.asarray(x, np.float32).reshape(*shape))

        with torch.no_grad():
            out = self.body_model(
                global_orient=t(root, 1, 3),
                body_pose=t(pose[1:22], 1, 21, 3),
                left_hand_pose=t(pose[22:37], 1, 15, 3),
                right_hand_pose=t(pose[37:52], 1, 15, 3),
                jaw_pose=t(pose[52:53], 1, 3),
                betas=t(shape, 1, 10),
                expression=t(expr, 1, 10),
                transl=t(fit.transl, 1, 3),
            )
        joints = out.joints[0].detach().cpu().numpy()
        if joints.shape[0] != 144:
            raise InputError(
                "the body model must output the 144 SMPL-X joints (face contour on), got "
                f"{joints.shape[0]}"
            )
        return joints[_IDX_144_137].astype(np.float32)


def _vec3(x: np.ndarray | None) -> np.ndarray:
    return np.zeros(3, np.float32) if x is None else np.asarray(x, np.float32).reshape(3)
