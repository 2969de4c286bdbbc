"""EHF (100 frames, one person, SMPL-X ground-truth meshes), the SMPLer-X protocol.

What the official code does (SMPLer-X ``data/EHF/EHF.py``; SMPLest-X ships no EHF evaluation):

- reads ``EHF.json`` (COCO style, from Hand4Whole): per annotation the ``body_bbox`` (xywh) of the
  image ``file_name`` (``NN_img.jpg``); annotations are visited in file order;
- crops ``process_bbox(body_bbox, W, H, ratio=1.2)`` (``bbox_ratio`` of every released config);
- the ground truth is ``<NN>_align.ply`` (SMPL-X topology, world frame), rotated into the camera
  with the fixed Rodrigues vector (-2.98747896, 0.01172457, -0.05704687) (no translation: only
  aligned metrics are reported);
- scores the predicted neutral SMPL-X mesh plus ``cam_trans`` with the SMPLer-X block
  (:func:`ehps.evaluation.blocks.smplerx_block`): PA-MPVPE / MPVPE all, hands, face and PA-MPJPE
  body (J14) / hands (21-joint regressor).

No deliberate difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ehps.data.datasets.ehf import EHF_CAMERA_ROTVEC  # official ``cam_param['R']``
from ehps.evaluation.benchmarks._io import read_json, read_ply_vertices
from ehps.evaluation.benchmarks._io import rodrigues_np as _rodrigues
from ehps.evaluation.benchmarks.base import (
    EvalSample,
    Evaluator,
    MetricAccumulator,
    PredictionBatch,
    coco_crop_samples,
    register_benchmark,
)
from ehps.evaluation.blocks import SMPLERX_KEYS, smplerx_block
from ehps.evaluation.report import EvalReport

__all__ = ["EHF_CAMERA_ROTVEC", "EHF_BBOX_RATIO", "EHFEvaluator"]

EHF_BBOX_RATIO = 1.2


@register_benchmark
class EHFEvaluator(Evaluator):
    """EHF evaluator (reset / process / summarize)."""

    name = "ehf"
    protocols = ("smplerx",)
    description = "EHF, 100 frames, SMPL-X GT meshes (SMPLer-X EHF.py)"

    @classmethod
    def expected_layout(cls) -> list[str]:
        return [
            "EHF/data/EHF.json (COCO style: images + annotations with body_bbox)",
            "EHF/data/NN_img.jpg (the images named in EHF.json)",
            "EHF/data/NN_align.ply (ground-truth SMPL-X meshes)",
        ]

    def samples(self) -> list[EvalSample]:
        root = self._find_root("EHF.json", ("", "EHF/data", "data", "EHF"))

        def describe(ann: dict, img: dict) -> tuple[Path, dict]:
            name = str(img["file_name"])
            return root / name, {"mesh_path": root / f"{name.split('_')[0]}_align.ply"}

        path = root / "EHF.json"
        return coco_crop_samples(read_json(path), path, "body_bbox", EHF_BBOX_RATIO, describe)

    def reset(self) -> None:
        self._acc = MetricAccumulator(SMPLERX_KEYS)
        self._rot = torch.from_numpy(_rodrigues(EHF_CAMERA_ROTVEC))

    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        gt = torch.stack(
            [torch.from_numpy(read_ply_vertices(s.gt["mesh_path"])) for s in samples]
        )
        n_v = self.context.topology.num_vertices
        if gt.shape[1] != n_v:
            raise ValueError(f"EHF meshes have {gt.shape[1]} vertices, SMPL-X has {n_v}")
        gt_cam = gt @ self._rot.T
        self._acc.add(smplerx_block(pred.vertices.to(torch.float64), gt_cam,
                                    self.context.topology))

    def summarize(self) -> EvalReport:
        return self._report(self._acc, [
            "SMPLer-X EHF protocol: crop ratio 1.2, GT *_align.ply rotated by the EHF camera "
            "rotation; MPVPE pelvis/wrist/neck aligned via the SMPL-X J_regressor; PA on each "
            "scored subset."
        ])
