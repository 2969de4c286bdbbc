"""Benchmarks stored as HumanData ``.npz`` (EgoBody, ARCTIC, RenBody, SynHand, or any file):
the shared evaluator and the ``humandata`` benchmark for a user-named file.

What the official code does (SMPLer-X ``data/humandata.py`` + the dataset classes; SMPLest-X
``datasets/humandata.py``), for the test split:

- rows ``i`` with ``i % test_sample_interval == 0`` (0-based) are kept, then rows whose box is empty
  after ``process_bbox(bbox_xywh[:4], W, H, ratio=1.2 * 0.833)`` (HumanData boxes are already padded
  by 1.2) or whose 3D keypoints contain NaN are dropped; SMPLest-X also drops ``meta.annot_valid``
  False rows and AGORA-style kids (``smplx.betas_extra != 0``); the image size is ``meta.height /
  width`` or the dataset's fixed size;
- ground truth = the neutral SMPL-X of the row's ``smplx`` parameters plus ``transl``:
  ``betas_neutral`` replaces ``betas`` when present (the "fix_betas" files), missing hands / face
  are zero, an ``smpl`` dict gives zero betas and the first 21 body joints. SMPLer-X builds this
  "pseudo GT" from the shape its ``process_human_model_output`` returns, which is zeroed when any
  ``|beta| > 3``; SMPLest-X uses the mesh computed before that clamp. SMPLest-X additionally
  subtracts the SMPL-X mean hand from the hand labels of the datasets that store them with
  ``flat_hand_mean=True`` (SynHand, ARCTIC, ...), zeroes ARCTIC's betas and uses ARCTIC's provided
  ``vertices3d`` meshes when the file lists them;
- the metric block is SMPLer-X's (:func:`~ehps.evaluation.blocks.smplerx_block`) or SMPLest-X's
  (:func:`~ehps.evaluation.blocks.smplestx_block`, with its hand PA-MPJPE > 100 mm drop, which
  ``keep_hand_outliers=True`` turns off).

Layouts: SMPLer-X keeps the files in ``<data root>/preprocessed_datasets/`` and the images in
``<data root>/<DatasetFolder>/``; SMPLest-X in ``<data root>/annot/`` and
``<data root>/img/<name>/``. Both are searched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ehps.data.humandata import HumanData
from ehps.errors import InputError
from ehps.evaluation.benchmarks._io import crop_box, image_size
from ehps.evaluation.benchmarks.base import (
    EvalSample,
    Evaluator,
    MetricAccumulator,
    PredictionBatch,
    register_benchmark,
    stack_params,
)
from ehps.evaluation.blocks import SMPLERX_KEYS, SMPLESTX_KEYS, smplerx_block, smplestx_block
from ehps.evaluation.params import smplx_record, zero_extreme_betas
from ehps.evaluation.report import EvalReport
from ehps.utils.safe_npz import load_npy

__all__ = [
    "HUMANDATA_BBOX_RATIO",
    "HumanDataSpec",
    "HumanDataEvaluator",
    "GenericHumanDataEvaluator",
]

#: ``cfg.bbox_ratio * 0.833``: the stored boxes are already padded by 1.2.
HUMANDATA_BBOX_RATIO = 1.2 * 0.833


@dataclass(frozen=True)
class HumanDataSpec:
    """Where a HumanData benchmark lives and which official rules apply.

    Attributes:
        annotation: file name of the test split (searched in ``preprocessed_datasets/``,
            ``annot/`` and the data root).
        image_dirs: image folders relative to the data root, in search order.
        sample_interval: the official test interval.
        image_hw: fixed (height, width) when ``meta`` has no sizes.
        flat_hand_mean_labels: SMPLest-X subtracts the mean hand from the labels.
        smplestx_zero_betas: SMPLest-X zeroes the GT betas (ARCTIC).
        smplestx_vertices3d: SMPLest-X uses ``vertices3d_path`` meshes when present (ARCTIC).
    """

    annotation: str
    image_dirs: tuple[str, ...]
    sample_interval: int = 1
    image_hw: tuple[int, int] | None = None
    flat_hand_mean_labels: bool = False
    smplestx_zero_betas: bool = False
    smplestx_vertices3d: bool = False


class HumanDataEvaluator(Evaluator):
    """Evaluator of one HumanData test file (subclasses set ``spec``)."""

    protocols = ("smplerx", "smplestx")
    spec: ClassVar[HumanDataSpec]

    def __init__(
        self,
        data_root,
        context,
        protocol: str | None = None,
        *,
        annotation: str | None = None,
        image_dir: str | None = None,
        sample_interval: int | None = None,
        keep_hand_outliers: bool = False,
    ) -> None:
        super().__init__(data_root, context, protocol)
        self.annotation = annotation or self.spec.annotation
        self.image_dir = image_dir
        self.sample_interval = int(sample_interval or self.spec.sample_interval)
        self.hand_outlier_mm = None if keep_hand_outliers else 100.0
        self._dropped = {"dropped_pa_mpjpe_l_hand": 0, "dropped_pa_mpjpe_r_hand": 0}

    @classmethod
    def expected_layout(cls) -> list[str]:
        spec = cls.spec
        return [
            f"preprocessed_datasets/{spec.annotation} or annot/{spec.annotation} (HumanData)",
            "images under one of: " + ", ".join(f"{d}/" for d in spec.image_dirs),
        ]

    def _paths(self) -> tuple[Path, Path]:
        ann = Path(self.annotation)
        cands = [ann] if ann.is_absolute() else [
            self.data_root / d / ann for d in ("preprocessed_datasets", "annot", "")
        ]
        ann_path = next((c for c in cands if c.is_file()), None)
        dirs = [self.image_dir] if self.image_dir else list(self.spec.image_dirs)
        img_dir = next((self.data_root / d for d in dirs if (self.data_root / d).is_dir()), None)
        if ann_path is None or img_dir is None:
            lines = "\n".join(f"  {x}" for x in self.expected_layout())
            what = "annotation file" if ann_path is None else "image folder"
            raise InputError(
                f"{self.name}: the {what} is missing under the data root {self.data_root}. "
                f"Expected:\n{lines}\n(searched: {', '.join(str(c) for c in cands)})"
            )
        return ann_path, img_dir

    # ------------------------------------------------------------------ samples
    def samples(self) -> list[EvalSample]:
        ann_path, img_dir = self._paths()
        hd = HumanData(ann_path)
        found = hd.body_params()
        if found is None:
            raise InputError(f"{ann_path}: no smplx / smpl / smplh parameters to evaluate against")
        kind, fields = found
        smplestx = self.protocol == "smplestx"
        n = len(hd)
        boxes = np.asarray(hd.array("bbox_xywh"), np.float64)
        paths = hd.array("image_path")
        hw = hd.image_hw()
        meta = hd.param_dict("meta") if "meta" in hd else {}
        annot_valid = np.asarray(meta["annot_valid"]).reshape(-1) if "annot_valid" in meta else None
        verts3d = hd.array("vertices3d_path") if "vertices3d_path" in hd else None
        rows = np.arange(0, n, self.sample_interval)
        kp3d = hd.first_keypoints("3d")
        nan_rows = set()
        if kp3d is not None and rows.size:
            pts = kp3d.take(rows)
            nan_rows = set(rows[np.isnan(pts).any(axis=(1, 2))].tolist())
        out: list[EvalSample] = []
        for i in rows.tolist():
            if smplestx and annot_valid is not None and not annot_valid[i]:
                continue
            if smplestx and "betas_extra" in fields and np.any(fields["betas_extra"][i]):
                continue
            img_path = img_dir / str(paths[i])
            if hw is not None:
                h, w = int(hw[i, 0]), int(hw[i, 1])
            elif self.spec.image_hw is not None:
                h, w = self.spec.image_hw
            else:
                h, w = image_size(img_path)
            box = crop_box(boxes[i], w, h, HUMANDATA_BBOX_RATIO)
            if box is None or i in nan_rows:
                continue
            gt = {"record": self._record(kind, fields, i, smplestx)}
            if smplestx and self.spec.smplestx_vertices3d and verts3d is not None:
                gt["vertices3d_path"] = img_dir / str(verts3d[i])
            out.append(EvalSample(key=str(i), image_path=img_path, crop_bbox_xywh=box, gt=gt,
                                  image_hw=(h, w)))
        return out

    def _record(self, kind: str, f: dict, i: int, smplestx: bool) -> dict[str, np.ndarray]:
        def get(key: str) -> np.ndarray | None:
            return np.asarray(f[key][i]) if key in f else None

        betas = get("betas_neutral") if "betas_neutral" in f else get("betas")
        body = get("body_pose")
        lh, rh = get("left_hand_pose"), get("right_hand_pose")
        if kind != "smplx":
            betas = None
            body = None if body is None else body.reshape(-1)[:63]
        if smplestx and self.spec.flat_hand_mean_labels:
            mean_l = self.context.smplx.left_hand_mean.detach().cpu().numpy().reshape(-1)
            mean_r = self.context.smplx.right_hand_mean.detach().cpu().numpy().reshape(-1)
            lh = None if lh is None else lh.reshape(-1) - mean_l
            rh = None if rh is None else rh.reshape(-1) - mean_r
        if smplestx and self.spec.smplestx_zero_betas:
            betas = None
        if not smplestx:  # SMPLer-X builds its pseudo-GT from the clamped shape
            betas = zero_extreme_betas(betas)
        return smplx_record(
            global_orient=get("global_orient"), body_pose=body, left_hand_pose=lh,
            right_hand_pose=rh, jaw_pose=get("jaw_pose"), betas=betas,
            expression=get("expression"), transl=get("transl"),
        )  # fmt: skip

    # ------------------------------------------------------------------ scoring
    def reset(self) -> None:
        keys = SMPLESTX_KEYS if self.protocol == "smplestx" else SMPLERX_KEYS
        self._acc = MetricAccumulator(keys)
        self._dropped = dict.fromkeys(self._dropped, 0)

    def _gt_meshes(self, samples: Sequence[EvalSample]) -> torch.Tensor:
        gt, _ = self.context.smplx_meshes(stack_params([s.gt["record"] for s in samples]))
        gt = gt.to(torch.float64)
        for k, s in enumerate(samples):
            p = s.gt.get("vertices3d_path")
            if p is not None:
                v = load_npy(p, InputError)
                if v.shape != tuple(gt.shape[1:]):
                    raise InputError(f"{p}: expected ({gt.shape[1]}, 3) vertices, got {v.shape}")
                gt[k] = torch.from_numpy(v.astype(np.float64))
        return gt

    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        gt = self._gt_meshes(samples)
        pv = pred.vertices.to(torch.float64)
        topo = self.context.topology
        if self.protocol == "smplestx":
            values, dropped = smplestx_block(pv, gt, topo, hand_outlier_mm=self.hand_outlier_mm)
            for k, v in dropped.items():
                self._dropped[k] += v
        else:
            values = smplerx_block(pv, gt, topo)
        self._acc.add(values)

    def summarize(self) -> EvalReport:
        notes = [
            f"HumanData test file {self.annotation}, every {self.sample_interval}th row, crop "
            "ratio 1.2 x 0.833; GT = neutral SMPL-X of the GT parameters (betas_neutral when "
            "present).",
        ]
        counts = {"samples": self._acc.num_samples()}
        if self.protocol == "smplestx":
            notes.append(
                "SMPLest-X block: hands wrist-relative; hand MPJPE is wrist-relative on both "
                "sides (the official code leaves the GT absolute, a bug we do not copy)."
            )
            if self.hand_outlier_mm is None:
                notes.append("Hand PA-MPJPE outliers kept (--keep-hand-outliers); the official "
                             "SMPLest-X code drops samples above 100 mm.")
            else:
                notes.append("Official SMPLest-X quirk kept: hand PA-MPJPE samples above 100 mm "
                             "are dropped (with the rest of that sample's hand PA-MPJPE).")
                counts.update(self._dropped)
        return self._report(self._acc, notes, counts=counts)


@register_benchmark
class GenericHumanDataEvaluator(HumanDataEvaluator):
    """Any HumanData test file: pass ``annotation`` (file) and ``image_dir`` (folder)."""

    name = "humandata"
    description = "any HumanData .npz (give --annotation and --image-dir)"
    spec = HumanDataSpec(annotation="", image_dirs=("",))

    def __init__(self, data_root, context, protocol=None, **options) -> None:
        if not options.get("annotation"):
            raise InputError("the 'humandata' benchmark needs annotation=<file .npz> "
                             "(ehps eval --annotation FILE)")
        super().__init__(data_root, context, protocol, **options)

    @classmethod
    def expected_layout(cls) -> list[str]:
        return ["<annotation>.npz (HumanData; --annotation)",
                "<image dir>/ holding the image_path entries (--image-dir, default: data root)"]
