"""UBody, intra-scene test split, the SMPLer-X protocol (``data/UBody/UBody.py``).

What the official code does:

- scenes = the folders of ``UBody/images`` (``os.listdir`` order; we sort them, which changes
  only the order of samples, not the result); per scene it reads
  ``annotations/<scene>/keypoint_annotation.json`` (COCO style) and ``smplx_annotation.json``
  (``{ann_id: {"smplx_param": ..., "cam_param": ...}}``);
- counts annotations from 1 within each scene and keeps every ``test_sample_interval``-th
  (``i % 100 == 0``, the released configs), then keeps the annotation only if its video
  (``file_name``'s folder, a ``_Trim...`` suffix removed) is in
  ``splits/intra_scene_test_list.npy``, the image exists, it is not ``iscrowd``, has
  keypoints, ``valid_label != 0`` and an SMPL-X fit;
- crops ``process_bbox(bbox, W, H)`` with the default ratio **1.25** (not the configs' 1.2);
- ground truth = the neutral SMPL-X of the pseudo-GT parameters (hands / face zeroed when
  ``lefthand_valid`` / ``righthand_valid`` / ``face_valid`` are false; a camera ``R`` merged into
  the root pose; the shape zeroed when any ``|beta| > 3``) plus its translation;
- **in-image masking**: the GT mesh (and its J14 / hand joints) is projected with the *crop*
  camera (focal 5000, principal point (96, 128) on 192x256) after subtracting and re-adding the
  *predicted* translation, mapped to the image with the crop's inverse affine (``bb2img``), and
  only points with 0 < x < W and 0 < y < H are averaged. A hand counts only if some of its
  vertices (for vertex metrics) / joints (for PA-MPJPE) are inside; ``*_hand`` averages the
  counted sides; PA alignment still uses all points.

Deliberate differences: a sample with no in-image body joint (or vertex) adds NaN to the official
lists, which turns the official mean into NaN; here such samples are left out of that metric. The
image size for the in-image test comes from the annotation (the official code decodes the image
again to read it; the two agree for the released data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ehps.errors import InputError
from ehps.evaluation.benchmarks._io import (
    coco_records,
    crop_box,
    merge_rotation_into_root,
    read_json,
    strip_trim,
)
from ehps.evaluation.benchmarks.base import (
    EvalSample,
    Evaluator,
    MetricAccumulator,
    PredictionBatch,
    register_benchmark,
    require_files,
    stack_params,
)
from ehps.evaluation.blocks import UBODY_KEYS, smplerx_block
from ehps.evaluation.params import smplx_record, zero_extreme_betas
from ehps.evaluation.regressors import regress
from ehps.evaluation.report import EvalReport
from ehps.geometry.camera import BODY_INPUT_HW, CROP_FOCAL, CROP_INPUT_HW, CROP_PRINCPT
from ehps.utils.safe_npz import load_npy

__all__ = ["UBODY_TEST_INTERVAL", "UBODY_BBOX_RATIO", "UBodyEvaluator", "project_like_ubody"]

UBODY_TEST_INTERVAL = 100
UBODY_BBOX_RATIO = 1.25


def project_like_ubody(
    points_rel: torch.Tensor, cam_trans: torch.Tensor, crop2img: torch.Tensor
) -> torch.Tensor:
    """The official ``perspective_transform``: (B, N, 3) points *minus* the predicted
    translation, (B, 3) predicted translation, (B, 2, 3) crop -> image affine -> (B, N, 2) image
    pixels."""
    t = cam_trans[:, None, :]
    z = points_rel[..., 2] + t[..., 2] + 1e-4
    x = (points_rel[..., 0] + t[..., 0]) / z * CROP_FOCAL[0] + CROP_PRINCPT[0]
    y = (points_rel[..., 1] + t[..., 1]) / z * CROP_FOCAL[1] + CROP_PRINCPT[1]
    x = x / BODY_INPUT_HW[1] * CROP_INPUT_HW[1]
    y = y / BODY_INPUT_HW[0] * CROP_INPUT_HW[0]
    pts = torch.stack((x, y, torch.ones_like(x)), dim=-1)
    return pts @ crop2img.transpose(1, 2)


@register_benchmark
class UBodyEvaluator(Evaluator):
    """UBody intra-scene test evaluator."""

    name = "ubody"
    protocols = ("smplerx",)
    description = "UBody intra-scene test split, in-image masking (SMPLer-X UBody.py)"

    def __init__(
        self, data_root, context, protocol=None, sample_interval: int = UBODY_TEST_INTERVAL
    ) -> None:
        super().__init__(data_root, context, protocol)
        self.sample_interval = int(sample_interval)

    @classmethod
    def expected_layout(cls) -> list[str]:
        return [
            "UBody/splits/intra_scene_test_list.npy (test video names)",
            "UBody/images/<scene>/<video>/<frame>.jpg",
            "UBody/annotations/<scene>/keypoint_annotation.json (COCO style)",
            "UBody/annotations/<scene>/smplx_annotation.json (SMPL-X pseudo-GT by annotation id)",
        ]

    def samples(self) -> list[EvalSample]:
        root = self._find_root("splits/intra_scene_test_list.npy", ("", "UBody"))
        test_videos = set(load_npy(root / "splits" / "intra_scene_test_list.npy",
                                   InputError).tolist())
        images_dir = root / "images"
        if not images_dir.is_dir():
            require_files(self.name, self.data_root, self.expected_layout(), None)
        out: list[EvalSample] = []
        for scene in sorted(p.name for p in images_dir.iterdir() if p.is_dir()):
            ann_dir = root / "annotations" / scene
            db = read_json(ann_dir / "keypoint_annotation.json")
            fits = read_json(ann_dir / "smplx_annotation.json")
            i = 0
            for ann, img in coco_records(db, ann_dir / "keypoint_annotation.json"):
                i += 1
                if i % self.sample_interval != 0:
                    continue
                file_name = str(img["file_name"]).lstrip("/")
                video = strip_trim(file_name.split("/")[-2])
                if video not in test_videos:
                    continue
                img_path = images_dir / scene / file_name
                if not img_path.is_file():
                    continue
                if ann.get("iscrowd") or ann.get("num_keypoints", 0) == 0:
                    continue
                aid = str(ann["id"])
                if ann.get("valid_label", 1) == 0 or aid not in fits:
                    continue
                box = crop_box(ann["bbox"], img["width"], img["height"], UBODY_BBOX_RATIO)
                if box is None:
                    continue
                fit = fits[aid]
                param = dict(fit["smplx_param"])
                for key, ann_key in (("lhand_valid", "lefthand_valid"),
                                     ("rhand_valid", "righthand_valid"),
                                     ("face_valid", "face_valid")):
                    param.setdefault(key, bool(ann.get(ann_key, True)))
                out.append(
                    EvalSample(
                        key=f"{scene}/{aid}",
                        image_path=img_path,
                        crop_bbox_xywh=box,
                        gt={"record": _ubody_record(param, fit.get("cam_param", {}))},
                        image_hw=(int(img["height"]), int(img["width"])),
                    )
                )
        return out

    def reset(self) -> None:
        self._acc = MetricAccumulator(UBODY_KEYS)

    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        ctx = self.context
        topo = ctx.topology
        gt_verts, _ = ctx.smplx_meshes(stack_params([s.gt["record"] for s in samples]))
        gt = gt_verts.to(torch.float64)
        t = pred.cam_trans.to(torch.float64)
        crop2img = torch.from_numpy(pred.crop2img).to(torch.float64)
        hw = torch.tensor([s.image_hw for s in samples], dtype=torch.float64)

        def inside(points: torch.Tensor) -> torch.Tensor:
            uv = project_like_ubody(points - t[:, None], t, crop2img)
            h, w = hw[:, 0:1], hw[:, 1:2]
            return (uv[..., 0] > 0) & (uv[..., 0] < w) & (uv[..., 1] > 0) & (uv[..., 1] < h)

        vert_mask = inside(gt)
        body_mask = inside(regress(topo.j14_regressor, gt))
        hand_masks = (inside(topo.hand21(gt, "left")), inside(topo.hand21(gt, "right")))
        values = smplerx_block(pred.vertices.to(torch.float64), gt, topo, vert_mask, body_mask,
                               hand_masks)
        self._acc.add(values)

    def summarize(self) -> EvalReport:
        return self._report(self._acc, [
            f"SMPLer-X UBody protocol: intra-scene test split, every {self.sample_interval}th "
            "annotation per scene, crop ratio 1.25, GT SMPL-X pseudo-GT; only GT vertices / "
            "joints projecting inside the image are counted (crop camera, predicted translation, "
            "crop inverse affine).",
            "Samples without any in-image point for a metric are skipped for that metric (the "
            "official code would make the mean NaN).",
        ], counts=self._acc.counts())


def _ubody_record(param: dict, cam_param: dict) -> dict[str, np.ndarray]:
    """GT record of a UBody SMPL-X fit (OSX key names) in :data:`PARAM_SHAPES` form."""
    root = np.asarray(param["root_pose"], np.float64).reshape(3)
    if "R" in cam_param:
        root = merge_rotation_into_root(root, np.asarray(cam_param["R"], np.float64).reshape(3, 3))
    face_ok = bool(param.get("face_valid", True))
    return smplx_record(
        global_orient=root,
        body_pose=param["body_pose"],
        left_hand_pose=param.get("lhand_pose") if param.get("lhand_valid", True) else None,
        right_hand_pose=param.get("rhand_pose") if param.get("rhand_valid", True) else None,
        jaw_pose=param.get("jaw_pose") if face_ok else None,
        expression=param.get("expr") if face_ok else None,
        betas=zero_extreme_betas(param["shape"]),
        transl=param.get("trans"),
    )
