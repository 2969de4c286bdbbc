"""AGORA validation (local metrics) and AGORA test (submission files for the official server):
the benchmark, i.e. the data side (images, annotations, crops, the SMPLer-X evaluation block).
What the AGORA server computes from predictions lives in :mod:`ehps.evaluation.agora_server`.

Official SMPLer-X behaviour (``data/AGORA/AGORA.py``, ``agora_benchmark`` / released configs):

- resolution 3840x2160 (default): every person is read from a **pre-cropped** image
  ``3840x2160/<folder>_crop/<image>_ann_id_<id>.png`` (val) or
  ``3840x2160/test_crop/<image>_pid_<k>.png`` (test) with a JSON beside it holding
  ``img2bb_trans`` (2x3, original 4K image -> crop image) and the crop size; the whole crop image
  is the box (no ``process_bbox``); predictions are mapped back through the inverse of
  (crop -> network input) o ``img2bb_trans``. Resolution 1280x720: the full 720p image and the
  annotation box scaled from 4K, processed with ratio 1.2 x 0.833;
- **val** (``AGORA_validation_fix_betas.json``, the ``agora_fix_betas`` configs): valid persons
  only; GT = the SMPL-X vertices of ``smplx_verts_path`` (JSON); the SMPLer-X block without
  MPJPE (MPVPE / PA-MPVPE all, hands, face);
- **test** (``AGORA_test_bbox.json``): no ground truth; one pickle per person,
  ``<image>_personId_<k>.pkl`` with the predicted parameters (``transl`` = crop-camera
  translation) and all 144 joints projected to 3840x2160 pixels, for the AGORA server, which
  reports NMVE / NMJE (see :mod:`ehps.evaluation.agora_server`).

Addition (not in SMPLer-X): on val, when the annotation's ``smplx_joints_2d_path`` /
``smplx_joints_3d_path`` files exist, the AGORA server protocol is also run locally (matching of
each image's predictions to all its annotated people by projected joints, detection F1,
B / LH / RH / F / FB MPJPE and MVE, NMJE / NMVE). Body MVE needs AGORA's body-vertex subset
(``utils/body_verts_smplx.npy`` of ``agora_evaluation``; option ``body_vertex_ids``). These local
numbers are not the server's test numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ehps.errors import InputError
from ehps.evaluation.agora_server import (
    AgoraPersonResult,
    agora_part_errors_mm,
    match_greedy_2d,
    summarize_agora,
    write_agora_prediction,
    zip_agora_predictions,
)
from ehps.evaluation.benchmarks._io import coco_records, crop_box, read_json
from ehps.evaluation.benchmarks.base import (
    EvalSample,
    Evaluator,
    MetricAccumulator,
    PredictionBatch,
    register_benchmark,
    require_files,
    resolve_root,
)
from ehps.evaluation.blocks import AGORA_VAL_KEYS, smplerx_block
from ehps.evaluation.report import EvalReport
from ehps.geometry.camera import BODY_INPUT_HW, CROP_FOCAL, CROP_INPUT_HW, CROP_PRINCPT
from ehps.utils.safe_npz import load_npy

__all__ = [
    "AGORA_RESOLUTIONS",
    "AGORAValEvaluator",
    "AGORATestEvaluator",
    "project_to_original",
]

#: name -> (height, width)
AGORA_RESOLUTIONS: dict[str, tuple[int, int]] = {"3840x2160": (2160, 3840), "1280x720": (720, 1280)}
_FULL_RATIO = 1.2 * 0.833
_VAL_FILES = ("AGORA_validation_fix_betas.json", "AGORA_validation.json",
              "AGORA_validation_fix_global_orient_transl.json")  # fmt: skip
_PREFIXES = ("", "AGORA/data", "data")


def _affine_inverse(a: np.ndarray) -> np.ndarray:
    m = np.vstack([np.asarray(a, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
    return np.linalg.inv(m)[:2]


def project_to_original(
    joints_cam: torch.Tensor, crop2img: np.ndarray, image_to_original: np.ndarray | None
) -> np.ndarray:
    """(B, J, 3) crop-camera points -> (B, J, 2) pixels of the original frame: the crop camera
    (focal 5000, principal point (96, 128), 1e-4 depth epsilon) on the 192x256 body input, x2 to
    the 384x512 network input, ``crop2img`` (B, 2, 3) to the loaded image, then
    ``image_to_original`` (B, 2, 3) if given."""
    p = joints_cam.detach().to(torch.float64).cpu().numpy()
    z = p[..., 2] + 1e-4
    x = p[..., 0] / z * CROP_FOCAL[0] + CROP_PRINCPT[0]
    y = p[..., 1] / z * CROP_FOCAL[1] + CROP_PRINCPT[1]
    x = x * CROP_INPUT_HW[1] / BODY_INPUT_HW[1]
    y = y * CROP_INPUT_HW[0] / BODY_INPUT_HW[0]
    pts = np.stack([x, y, np.ones_like(x)], axis=-1)
    img = np.einsum("bjk,bik->bji", pts, np.asarray(crop2img, np.float64))
    if image_to_original is None:
        return img
    pts = np.concatenate([img, np.ones_like(img[..., :1])], axis=-1)
    return np.einsum("bjk,bik->bji", pts, np.asarray(image_to_original, np.float64))


class _AgoraBase(Evaluator):
    protocols = ("smplerx",)

    def __init__(self, data_root, context, protocol=None, resolution: str = "3840x2160"):
        super().__init__(data_root, context, protocol)
        if resolution not in AGORA_RESOLUTIONS:
            raise InputError(f"AGORA resolution must be one of {sorted(AGORA_RESOLUTIONS)}, "
                             f"got {resolution!r}")
        self.resolution = resolution

    def _scale_to_4k(self) -> np.ndarray:
        h, w = AGORA_RESOLUTIONS[self.resolution]
        return np.array([[3840.0 / w, 0.0, 0.0], [0.0, 2160.0 / h, 0.0]])

    def _crop_sample(self, root: Path, crop_png: Path, key: str, gt: dict) -> EvalSample | None:
        info_path = crop_png.with_suffix(".json")
        if not info_path.is_file():
            return None  # the official loader silently skips people without a crop
        info = read_json(info_path)
        h, w = int(info["resized_height"]), int(info["resized_width"])
        return EvalSample(
            key=key, image_path=crop_png, crop_bbox_xywh=np.array([0, 0, w, h], np.float32),
            gt=gt, image_to_original=_affine_inverse(np.asarray(info["img2bb_trans"])),
            image_hw=(h, w),
        )  # fmt: skip

    def _full_sample(self, image: Path, bbox_4k: Sequence[float], key: str, gt: dict):
        h, w = AGORA_RESOLUTIONS[self.resolution]
        b = np.asarray(bbox_4k, np.float64).reshape(4).copy()
        b[[0, 2]] *= w / 3840.0
        b[[1, 3]] *= h / 2160.0
        box = crop_box(b, w, h, _FULL_RATIO)
        if box is None:
            return None
        return EvalSample(key=key, image_path=image, crop_bbox_xywh=box, gt=gt,
                          image_to_original=self._scale_to_4k(), image_hw=(h, w))


@register_benchmark
class AGORAValEvaluator(_AgoraBase):
    """AGORA validation: SMPLer-X vertex metrics, plus the AGORA server protocol run locally."""

    name = "agora_val"
    description = "AGORA validation, GT vertices (SMPLer-X AGORA.py) + local NMVE/NMJE"

    def __init__(self, data_root, context, protocol=None, resolution: str = "3840x2160",
                 body_vertex_ids: np.ndarray | str | None = None) -> None:
        super().__init__(data_root, context, protocol, resolution)
        if isinstance(body_vertex_ids, (str, Path)):
            body_vertex_ids = load_npy(body_vertex_ids, InputError)
        self.body_vertex_ids = None if body_vertex_ids is None else torch.as_tensor(
            np.asarray(body_vertex_ids, np.int64))

    @classmethod
    def expected_layout(cls) -> list[str]:
        return [
            "AGORA/data/AGORA_validation_fix_betas.json (COCO style, SMPLer-X preprocessing)",
            "AGORA/data/3840x2160/<folder>_crop/<image>_ann_id_<id>.png + .json (4K crops), or "
            "the 1280x720 images named by file_name_1280x720",
            "AGORA/data/<smplx_verts_path> (GT vertices JSON per person)",
        ]

    def samples(self) -> list[EvalSample]:
        found = None
        for name in _VAL_FILES:
            found = resolve_root(self.data_root, name, _PREFIXES)
            if found is not None:
                ann_file = found / name
                break
        root = require_files(self.name, self.data_root, self.expected_layout(), found)
        db = read_json(ann_file)
        out: list[EvalSample] = []
        self._image_anns: dict[int, list[dict]] = {}
        for ann, img in coco_records(db, ann_file):
            gt = {
                "image_id": img["id"],
                "ann_id": ann["id"],
                "valid": bool(ann.get("is_valid", True)),
                "verts": root / ann["smplx_verts_path"] if "smplx_verts_path" in ann else None,
                "joints_2d": root / ann["smplx_joints_2d_path"]
                if "smplx_joints_2d_path" in ann else None,
                "joints_3d": root / ann["smplx_joints_3d_path"]
                if "smplx_joints_3d_path" in ann else None,
            }
            self._image_anns.setdefault(img["id"], []).append(gt)
            if not gt["valid"]:
                continue
            if self.resolution == "3840x2160":
                name = str(img["file_name_3840x2160"])
                folder, stem = name.split("/")[-2], Path(name).name[:-4]
                png = root / "3840x2160" / f"{folder}_crop" / f"{stem}_ann_id_{ann['id']}.png"
                s = self._crop_sample(root, png, str(ann["id"]), gt)
            else:
                s = self._full_sample(root / str(img["file_name_1280x720"]), ann["bbox"],
                                      str(ann["id"]), gt)
            if s is not None:
                out.append(s)
        self._expected_per_image = {}
        for s in out:
            k = s.gt["image_id"]
            self._expected_per_image[k] = self._expected_per_image.get(k, 0) + 1
        return out

    def reset(self) -> None:
        self._acc = MetricAccumulator(AGORA_VAL_KEYS)
        self._pending: dict[int, list[dict]] = {}
        self._people: list[AgoraPersonResult] = []
        self._fp = 0
        self._agora_ok = True

    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        gts = []
        for s in samples:
            if s.gt["verts"] is None:
                raise InputError(f"AGORA annotation {s.key} has no smplx_verts_path")
            gts.append(np.asarray(read_json(s.gt["verts"]), np.float64).reshape(-1, 3))
        gt = torch.from_numpy(np.stack(gts))
        pv = pred.vertices.to(torch.float64)
        self._acc.add(smplerx_block(pv, gt, self.context.topology))
        j2d = project_to_original(
            pred.joints, pred.crop2img,
            np.stack([s.image_to_original for s in samples]),  # type: ignore[arg-type]
        )
        for k, s in enumerate(samples):
            img = s.gt["image_id"]
            self._pending.setdefault(img, []).append(
                {"ann_id": s.gt["ann_id"], "j2d": j2d[k], "joints": pred.joints[k].double(),
                 "verts": pv[k], "gt_verts": gt[k]}
            )  # fmt: skip
            if len(self._pending[img]) == self._expected_per_image.get(img, -1):
                self._finish_image(img, self._pending.pop(img))

    def _finish_image(self, image_id: int, preds: list[dict]) -> None:
        """Run the AGORA server protocol on one fully processed image."""
        anns = self._image_anns[image_id]
        if not self._agora_ok or any(
            a["joints_2d"] is None or not Path(a["joints_2d"]).is_file()
            or (a["valid"] and (a["joints_3d"] is None or not Path(a["joints_3d"]).is_file()))
            for a in anns
        ):
            self._agora_ok = False
            return
        gt2d = [np.asarray(read_json(a["joints_2d"]), np.float64).reshape(-1, 2) for a in anns]
        m = match_greedy_2d([p["j2d"] for p in preds], gt2d, [a["valid"] for a in anns])
        self._fp += len(m.false_positives)
        by_ann = {p["ann_id"]: p for p in preds}
        g2p = m.gt_to_pred()
        topo = self.context.topology
        for g, a in enumerate(anns):
            if not a["valid"]:
                continue
            if g not in g2p:
                self._people.append(AgoraPersonResult(missed=True))
                continue
            p = preds[g2p[g]]
            gt_j = torch.as_tensor(np.asarray(read_json(a["joints_3d"]), np.float64).reshape(-1, 3))
            own = by_ann.get(a["ann_id"])
            gt_v = own["gt_verts"] if own is not None else None
            errs = agora_part_errors_mm(
                p["joints"][None], gt_j[None],
                None if gt_v is None else p["verts"][None], None if gt_v is None else gt_v[None],
                topo.left_hand_vertex_ids, topo.right_hand_vertex_ids, topo.face_vertex_ids,
                self.body_vertex_ids,
            )  # fmt: skip
            self._people.append(AgoraPersonResult(False, {k: float(v) for k, v in errs.items()}))

    def summarize(self) -> EvalReport:
        notes = ["SMPLer-X AGORA-val protocol (GT vertices of the valid people, "
                 f"{self.resolution} setting); AGORA-val numbers are not AGORA-test numbers."]
        extra = {}
        if self._agora_ok and self._people:
            extra["agora_server_protocol_on_val"] = summarize_agora(self._people, self._fp)
            notes.append("agora_server_protocol_on_val: the AGORA server's matching / F1 / "
                         "NMJE / NMVE rules run locally on the validation set.")
            if self.body_vertex_ids is None:
                notes.append("AGORA body MVE / NMVE need body_verts_smplx.npy "
                             "(--agora-body-verts); not computed.")
        elif not self._agora_ok:
            notes.append("AGORA server protocol skipped: smplx_joints_2d/3d files are missing.")
        if self._pending:
            notes.append(f"{len(self._pending)} image(s) were only partly evaluated; they are left "
                         "out of the AGORA server protocol.")
        return self._report(self._acc, notes, extra=extra)


@register_benchmark
class AGORATestEvaluator(_AgoraBase):
    """AGORA test: writes the server submission (no local metrics)."""

    name = "agora_test"
    description = "AGORA test: writes <image>_personId_<k>.pkl + predictions.zip for the server"

    def __init__(self, data_root, context, protocol=None, resolution: str = "3840x2160",
                 output_dir: str | Path | None = None) -> None:
        super().__init__(data_root, context, protocol, resolution)
        if output_dir is None:
            raise InputError("agora_test writes submission files: give output_dir (ehps eval "
                             "--out DIR)")
        self.output_dir = Path(output_dir)

    @classmethod
    def expected_layout(cls) -> list[str]:
        return [
            "AGORA/data/AGORA_test_bbox.json ({image file: [{'bbox': ...}, ...]})",
            "AGORA/data/3840x2160/test_crop/<image>_pid_<k>.png + .json (4K crops), or "
            "AGORA/data/test/<image> (1280x720)",
        ]

    def samples(self) -> list[EvalSample]:
        root = self._find_root("AGORA_test_bbox.json", _PREFIXES)
        boxes = read_json(root / "AGORA_test_bbox.json")
        out = []
        for filename, people in boxes.items():
            for pid, person in enumerate(people):
                gt = {"image": filename, "person": pid}
                key = f"{filename}#{pid}"
                if self.resolution == "3840x2160":
                    png = root / "3840x2160" / "test_crop" / f"{filename[:-4]}_pid_{pid}.png"
                    s = self._crop_sample(root, png, key, gt)
                else:
                    s = self._full_sample(root / "test" / filename, person["bbox"], key, gt)
                if s is not None:
                    out.append(s)
        return out

    def reset(self) -> None:
        self._written: list[Path] = []

    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        j2d = project_to_original(
            pred.joints, pred.crop2img,
            np.stack([s.image_to_original for s in samples]),  # type: ignore[arg-type]
        )
        pred_dir = self.output_dir / "predictions"
        for k, s in enumerate(samples):
            p = {name: v[k].numpy() for name, v in pred.params.items()}
            p["transl"] = p.pop("cam_trans")
            self._written.append(
                write_agora_prediction(pred_dir, s.gt["image"], s.gt["person"], p, j2d[k])
            )

    def summarize(self) -> EvalReport:
        extra: dict[str, object] = {"prediction_files": len(self._written)}
        if self._written:
            z = zip_agora_predictions(self.output_dir / "predictions",
                                      self.output_dir / "predictions.zip")
            extra["submission_zip"] = str(z)
        return EvalReport(
            self.name, self.protocol,
            metrics={"fullbody_nmve": None},  # the server computes it; the row shows the paper's
            counts={"people": len(self._written)},
            notes=["AGORA test has no public ground truth: upload predictions.zip to the AGORA "
                   "evaluation server, which reports NMVE / NMJE (n/a here).", *self.notes],
            extra=extra,
        )
