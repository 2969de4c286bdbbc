"""3DPW test (SMPL ground truth) in three protocols; the protocol is named in every report.

Data (SMPLer-X ``data/PW3D/PW3D.py`` layout): ``PW3D/data/3DPW_test.json`` (COCO style; images
with ``sequence``, ``file_name``, ``width``, ``height``, ``cam_param``; annotations with ``bbox``
and ``smpl_param`` = ``pose`` (72), ``shape`` (10), ``trans`` (3), ``gender``), images
``PW3D/data/imageFiles/<sequence>/<file_name>``. Every annotation is evaluated; crop
``process_bbox(bbox, W, H, ratio=1.2)``. The GT mesh is the *gendered* SMPL of ``smpl_param``
(camera ``R`` merged into the root pose and the root translated by ``R``/``t`` when the camera
has them, as the official ``process_human_model_output``).

Protocols (peers.md 5.2; the numbers are not comparable across them):

- ``smplerx`` (SMPLer-X): MPJPE / PA-MPJPE on 14 body joints read from the SMPL-X ``J_regressor``
  (prediction) and the SMPL ``J_regressor`` (GT) at rows 1, 2, 4, 5, 7, 8, 12, 15-21; MPJPE after
  moving the predicted SMPL-X pelvis onto the GT SMPL root joint.
- ``smplestx`` (SMPLest-X): the pelvis-aligned prediction is mapped to SMPL topology with
  ``smplx2smpl.pkl``; PVE / PA-PVE on the 6890 vertices and MPJPE / PA-MPJPE on the same 14 rows of
  the SMPL ``J_regressor``. SMPLest-X's 3DPW loader is not released; its metric code runs here on
  the SMPLer-X file layout.
- ``h36m`` (community: SPIN, HMR 2.0, Multi-HMR, WHAM...): prediction mapped to SMPL topology,
  14 LSP joints from ``J_regressor_h36m.npy`` (``H36M_TO_J14``), both centred on their mid-hip;
  MPJPE, PA-MPJPE and PVE.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ehps.evaluation.benchmarks._io import merge_rotation_into_root, read_json
from ehps.evaluation.benchmarks.base import (
    EvalSample,
    Evaluator,
    MetricAccumulator,
    PredictionBatch,
    coco_crop_samples,
    register_benchmark,
)
from ehps.evaluation.blocks import pw3d_h36m_block, pw3d_smplerx_block, pw3d_smplestx_block
from ehps.evaluation.report import EvalReport

__all__ = ["PW3D_BBOX_RATIO", "PW3DEvaluator", "smpl_gt_meshes"]

PW3D_BBOX_RATIO = 1.2
_KEYS = {
    "smplerx": ("mpjpe_body", "pa_mpjpe_body"),
    "smplestx": ("mpvpe_all", "pa_mpvpe_all", "mpjpe_body", "pa_mpjpe_body"),
    "h36m": ("mpjpe_body", "pa_mpjpe_body", "mpvpe_all"),
}
_NOTES = {
    "smplerx": "3DPW, SMPLer-X protocol: 14 joints from the SMPL-X J_regressor (prediction) vs "
    "the SMPL J_regressor (GT); MPJPE after pelvis-to-root alignment.",
    "smplestx": "3DPW, SMPLest-X protocol: prediction pelvis-aligned, mapped to SMPL with "
    "smplx2smpl; PVE / PA-PVE on SMPL vertices, MPJPE / PA-MPJPE on the SMPL J_regressor (14 "
    "joints).",
    "h36m": "3DPW, community protocol: smplx2smpl, J_regressor_h36m -> 14 LSP joints, mid-hip "
    "centring (SPIN / HMR 2.0 convention).",
}


@torch.no_grad()
def smpl_gt_meshes(context, records: Sequence[dict]) -> torch.Tensor:
    """(B, 6890, 3) float64 GT SMPL meshes of 3DPW ``smpl_param`` records (with their
    ``gender`` and optional camera ``R`` / ``t``)."""
    out = []
    for rec in records:
        layer = context.smpl(rec.get("gender", "neutral"))
        pose = np.asarray(rec["pose"], np.float64).reshape(24, 3).copy()
        cam = rec.get("cam_param", {})
        if "R" in cam:
            pose[0] = merge_rotation_into_root(pose[0], np.asarray(cam["R"]).reshape(3, 3))
        o = layer(
            global_orient=torch.from_numpy(pose[:1]).float(),
            body_pose=torch.from_numpy(pose[1:]).float()[None],
            betas=torch.as_tensor(np.asarray(rec["shape"], np.float32).reshape(1, -1)[:, :10]),
            transl=torch.as_tensor(np.asarray(rec["trans"], np.float32).reshape(1, 3)),
        )
        verts = o.vertices[0].to(torch.float64)
        if "R" in cam and "t" in cam:
            r = torch.as_tensor(np.asarray(cam["R"], np.float64).reshape(3, 3))
            t = torch.as_tensor(np.asarray(cam["t"], np.float64).reshape(3))
            root = context.smpl("neutral").J_regressor.to(torch.float64)[0] @ verts
            verts = verts - root + r @ root + t
        out.append(verts)
    return torch.stack(out)


@register_benchmark
class PW3DEvaluator(Evaluator):
    """3DPW test evaluator."""

    name = "pw3d"
    protocols = ("smplerx", "smplestx", "h36m")
    description = "3DPW test, SMPL GT; protocols smplerx / smplestx / h36m"

    @classmethod
    def expected_layout(cls) -> list[str]:
        return [
            "PW3D/data/3DPW_test.json (COCO style with smpl_param per annotation)",
            "PW3D/data/imageFiles/<sequence>/<file_name>",
            "and the SMPL model files (SMPL_NEUTRAL/MALE/FEMALE.pkl: --smpl-dir); "
            "smplx2smpl.pkl for smplestx / h36m; J_regressor_h36m.npy for h36m",
        ]

    def samples(self) -> list[EvalSample]:
        root = self._find_root("3DPW_test.json", ("", "PW3D/data", "data"))

        def describe(ann: dict, img: dict) -> tuple[Path, dict]:
            rec = dict(ann["smpl_param"])
            rec["cam_param"] = img.get("cam_param", {})
            image = root / "imageFiles" / str(img["sequence"]) / str(img["file_name"])
            return image, {"smpl_param": rec}

        path = root / "3DPW_test.json"
        return coco_crop_samples(read_json(path), path, "bbox", PW3D_BBOX_RATIO, describe)

    def reset(self) -> None:
        self._acc = MetricAccumulator(_KEYS[self.protocol])
        ctx = self.context
        # resolve the protocol's files before the first batch, so a missing file fails early
        if self.protocol in ("smplestx", "h36m"):
            _ = ctx.smplx_to_smpl_matrix
        if self.protocol == "h36m":
            _ = ctx.h36m_regressor
        ctx.smpl("neutral")

    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        ctx = self.context
        gt = smpl_gt_meshes(ctx, [s.gt["smpl_param"] for s in samples])
        pv = pred.vertices.to(torch.float64)
        if self.protocol == "smplerx":
            values = pw3d_smplerx_block(pv, gt, ctx.topology, ctx.smpl("neutral").J_regressor)
        elif self.protocol == "smplestx":
            values = pw3d_smplestx_block(pv, gt, ctx.topology, ctx.smpl("neutral").J_regressor,
                                         ctx.smplx_to_smpl_matrix)
        else:
            values = pw3d_h36m_block(pv, gt, ctx.smplx_to_smpl_matrix, ctx.h36m_regressor)
        self._acc.add(values)

    def summarize(self) -> EvalReport:
        return self._report(self._acc, [_NOTES[self.protocol]])
