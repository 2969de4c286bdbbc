"""AGORA's own evaluation (the protocol of the official ``agora_evaluation`` package and server),
and the writer of AGORA-test submissions: what the AGORA *server* computes from a set of
predictions, independent of how they were made. The *benchmark* (reading AGORA's images and
annotations, cropping, running a network, and calling this module for the server metrics) is
:mod:`ehps.evaluation.benchmarks.agora`.

What the official server does (pixelite1201/agora_evaluation, read for this module):

1. **Matching** (``matching.py``), per image: every (prediction, ground truth) pair gets a cost,
   ``numpy.linalg.norm(pred_2d[:24] - gt_2d[:24], 2)`` on the first 24 projected joints in
   3840x2160 pixels. Note that ``norm(A, 2)`` of a 24x2 matrix is its *spectral* norm (largest
   singular value), not the Frobenius norm; we keep that. Pairs are visited in increasing cost; a
   pair is accepted when neither side is matched yet and the IoU of the two keypoint bounding boxes
   (inclusive pixel convention, +1) is >= 0.1. A visited pair with IoU < 0.1 increments a
   "false-positive" counter that also ends the outer loop early (a quirk we keep). Ground truths
   flagged invalid are removed from the matching instead of being matched. After the loop, every
   unmatched prediction is a false positive and every unmatched valid ground truth a miss.
2. **Errors** (``calculate_v2v_error.py``), per matched person, in metres then x1000:
   body = 22 SMPL-X joints / the AGORA body-vertex subset aligned at the **mid-hip** (mean of joints
   1 and 2, not joint 0); each hand = wrist + 15 finger joints (SMPL-X 20 + 25:40, 21 + 40:55) and
   the MANO vertices, aligned at the wrist; face = neck + 51 landmarks (12 + 76:127) and the FLAME
   vertices, aligned at the neck.
3. **Summary** (``compute_average_error.py``): F1 = TP / (TP + (FP + FN) / 2) with precision and
   recall, each rounded to 2 decimals; body errors are averaged over matched people only, but
   hand and face errors are averaged over all valid people *with 0 for misses* (a quirk we keep
   and name);
   FB = B + (LH + RH + F) / 3; NMJE / NMVE = MPJPE / MVE divided by F1; everything rounded to
   0.1 mm in that order.

The SMPLer-X test script writes, for each person crop, ``<image>_personId_<k>.pkl`` holding
``{"params": {...}, "joints": (1, 144, 2)}``: the predicted SMPL-X parameters (axis-angle,
``pose2rot`` default) with ``transl`` = the crop-camera translation, and all 144 projected joints in
3840x2160 pixels; the server rebuilds meshes from the parameters with the neutral SMPL-X.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import torch

from ehps.errors import InputError
from ehps.evaluation.metrics import mean_error_mm
from ehps.utils.io import atomic_open

__all__ = [
    "AGORA_NUM_MATCH_JOINTS",
    "AGORA_IOU_THRESHOLD",
    "AgoraMatching",
    "keypoint_box_iou",
    "match_greedy_2d",
    "precision_recall_f1",
    "agora_part_errors_mm",
    "AgoraPersonResult",
    "summarize_agora",
    "agora_prediction_record",
    "write_agora_prediction",
    "zip_agora_predictions",
]

AGORA_NUM_MATCH_JOINTS = 24
AGORA_IOU_THRESHOLD = 0.1
_LHAND_JOINTS = [20, *range(25, 40)]
_RHAND_JOINTS = [21, *range(40, 55)]
_FACE_JOINTS = [12, *range(76, 127)]


@dataclass
class AgoraMatching:
    """Result of :func:`match_greedy_2d` for one image.

    Attributes:
        pairs: accepted (prediction index, ground-truth index) matches.
        false_positives: prediction indices left unmatched.
        misses: valid ground-truth indices left unmatched.
        invalid: ground-truth indices excluded because they are flagged invalid.
    """

    pairs: list[tuple[int, int]] = field(default_factory=list)
    false_positives: list[int] = field(default_factory=list)
    misses: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)

    def gt_to_pred(self) -> dict[int, int]:
        return {g: p for p, g in self.pairs}


def keypoint_box_iou(kps_a: np.ndarray, kps_b: np.ndarray) -> float:
    """IoU of the axis-aligned boxes around two keypoint sets (N, >=2) / (M, >=2), pixels,
    with AGORA's inclusive-pixel convention (width = x2 - x1 + 1)."""
    a = np.asarray(kps_a, np.float64)[:, :2]
    b = np.asarray(kps_b, np.float64)[:, :2]
    ax1, ay1 = a.min(axis=0)
    ax2, ay2 = a.max(axis=0)
    bx1, by1 = b.min(axis=0)
    bx2, by2 = b.max(axis=0)
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1) + 1.0)
    ih = max(0.0, min(ay2, by2) - max(ay1, by1) + 1.0)
    inter = iw * ih
    area_a = (ax2 - ax1 + 1.0) * (ay2 - ay1 + 1.0)
    area_b = (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0)
    return float(inter / (area_a + area_b - inter))


def match_greedy_2d(
    pred_kps: Sequence[np.ndarray],
    gt_kps: Sequence[np.ndarray],
    gt_valid: Sequence[bool] | None = None,
    iou_threshold: float = AGORA_IOU_THRESHOLD,
    num_joints: int = AGORA_NUM_MATCH_JOINTS,
) -> AgoraMatching:
    """Greedy 2D matching of predicted people to ground-truth people in one image (AGORA rule).

    Args:
        pred_kps: per prediction, (J, 2) projected joints in 3840x2160 pixels (J >= ``num_joints``).
        gt_kps: per ground-truth person, (K, 2) projected joints in the same pixels.
        gt_valid: per ground-truth person, whether it counts (AGORA: 0 <= occlusion <= 90 and
            ``isValid``); ``None`` = all valid.
        iou_threshold: minimum keypoint-box IoU of an accepted match (0.1).
        num_joints: how many leading joints the matching cost uses (24).
    """
    n_pred, n_gt = len(pred_kps), len(gt_kps)
    valid = [True] * n_gt if gt_valid is None else [bool(v) for v in gt_valid]
    if len(valid) != n_gt:
        raise InputError(f"gt_valid has {len(valid)} entries for {n_gt} ground-truth people")
    combos = list(product(range(n_pred), range(n_gt)))
    costs = np.array(
        [
            np.linalg.norm(
                np.asarray(pred_kps[p], np.float64)[:num_joints, :2]
                - np.asarray(gt_kps[g], np.float64)[:num_joints, :2],
                2,
            )
            for p, g in combos
        ],
        dtype=np.float64,
    )
    gt_done = np.zeros(n_gt, bool)
    pred_done = np.zeros(n_pred, bool)
    fp_counter = 0
    result = AgoraMatching()
    excluded: list[int] = []
    while gt_done.sum() < n_gt and pred_done.sum() + fp_counter < n_pred:
        if not np.isfinite(costs).any():
            break  # every pair visited (the official loop would spin forever here)
        k = int(np.argmin(costs))
        p, g = combos[k]
        costs[k] = np.inf
        iou = keypoint_box_iou(pred_kps[p], gt_kps[g])
        if not pred_done[p] and not gt_done[g] and iou >= iou_threshold:
            false_positive = False
        elif iou < iou_threshold:
            false_positive = True
            fp_counter += 1
        else:
            continue  # an already matched side: look at the next pair
        if valid[g]:
            if not false_positive:
                result.pairs.append((p, g))
                pred_done[p] = True
                gt_done[g] = True
        else:
            gt_done[g] = True
            excluded.append(g)
    matched_pred = {p for p, _ in result.pairs}
    matched_gt = {g for _, g in result.pairs}
    result.false_positives = [p for p in range(n_pred) if p not in matched_pred]
    for g in range(n_gt):
        if g in matched_gt:
            continue
        if valid[g]:
            result.misses.append(g)
        else:
            excluded.append(g)
    result.invalid = sorted(set(excluded))
    return result


def precision_recall_f1(
    num_valid_gt: int, num_misses: int, num_false_positives: int, decimals: int | None = 2
) -> tuple[float, float, float]:
    """AGORA's detection scores: TP = valid GT - misses; F1 = TP / (TP + (FP + FN) / 2).

    ``decimals`` rounds like the server (2); ``None`` keeps full precision. All zeros when there
    is no valid ground truth.
    """
    if num_valid_gt == 0:
        return 0.0, 0.0, 0.0
    tp = num_valid_gt - num_misses
    fp, fn = num_false_positives, num_misses

    def _r(x: float) -> float:
        return round(x, decimals) if decimals is not None else x

    f1 = tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    return _r(precision), _r(recall), _r(f1)


def agora_part_errors_mm(
    pred_joints: torch.Tensor,
    gt_joints: torch.Tensor,
    pred_verts: torch.Tensor | None = None,
    gt_verts: torch.Tensor | None = None,
    left_hand_vertex_ids: torch.Tensor | None = None,
    right_hand_vertex_ids: torch.Tensor | None = None,
    face_vertex_ids: torch.Tensor | None = None,
    body_vertex_ids: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Per-person AGORA errors (B,) mm for matched people.

    Args:
        pred_joints: (B, >=127, 3) SMPL-X joints (official 127/144 order), metres.
        gt_joints: (B, >=127, 3) ground-truth joints in the same order, metres.
        pred_verts, gt_verts: (B, 10475, 3) meshes, metres; without them only joint errors.
        left_hand_vertex_ids, right_hand_vertex_ids: (778,) MANO subsets of SMPL-X.
        face_vertex_ids: (5023,) FLAME subset.
        body_vertex_ids: AGORA's body subset (``utils/body_verts_smplx.npy`` of agora_evaluation,
            4010 ids); without it ``body_mve`` is not computed.

    Returns:
        ``body_mpjpe``, ``lhand_mpjpe``, ``rhand_mpjpe``, ``face_mpjpe`` and, with vertices,
        ``lhand_mve``, ``rhand_mve``, ``face_mve`` (+ ``body_mve`` with ``body_vertex_ids``).
    """
    if pred_joints.shape[-2] < 127 or gt_joints.shape[-2] < 127:
        raise InputError("AGORA errors need the first 127 SMPL-X joints of both people")
    pj, gj = pred_joints.to(torch.float64), gt_joints.to(torch.float64)
    p_hip = (pj[:, 1] + pj[:, 2]) / 2
    g_hip = (gj[:, 1] + gj[:, 2]) / 2
    out: dict[str, torch.Tensor] = {
        "body_mpjpe": mean_error_mm(pj[:, :22] - p_hip[:, None], gj[:, :22] - g_hip[:, None])
    }
    parts = {"lhand": _LHAND_JOINTS, "rhand": _RHAND_JOINTS, "face": _FACE_JOINTS}
    for name, idx in parts.items():
        pp, gg = pj[:, idx], gj[:, idx]
        out[f"{name}_mpjpe"] = mean_error_mm(pp - pp[:, :1], gg - gg[:, :1])
    if pred_verts is None or gt_verts is None:
        return out
    pv, gv = pred_verts.to(torch.float64), gt_verts.to(torch.float64)
    vert_parts = {
        "lhand": (left_hand_vertex_ids, 20),
        "rhand": (right_hand_vertex_ids, 21),
        "face": (face_vertex_ids, 12),
    }
    for name, (ids, root) in vert_parts.items():
        if ids is None:
            continue
        ids = ids.to(pv.device).long()
        out[f"{name}_mve"] = mean_error_mm(
            pv[:, ids] - pj[:, root, None], gv[:, ids] - gj[:, root, None]
        )
    if body_vertex_ids is not None:
        ids = body_vertex_ids.to(pv.device).long()
        out["body_mve"] = mean_error_mm(pv[:, ids] - p_hip[:, None], gv[:, ids] - g_hip[:, None])
    return out


@dataclass
class AgoraPersonResult:
    """One valid ground-truth person after matching: ``errors`` (mm, keys of
    :func:`agora_part_errors_mm`) is empty for a miss."""

    missed: bool
    errors: dict[str, float] = field(default_factory=dict)


def summarize_agora(
    people: Sequence[AgoraPersonResult],
    num_false_positives: int,
    round_like_server: bool = True,
    zeros_for_missed_parts: bool = True,
) -> dict[str, float | int | None]:
    """AGORA summary over all valid ground-truth people of a split.

    Args:
        people: one entry per *valid* ground-truth person (matched or missed).
        num_false_positives: unmatched predictions over all images.
        round_like_server: round F1 to 0.01 and errors to 0.1 mm at the same points as the server.
        zeros_for_missed_parts: average hand / face errors over all valid people with 0 for the
            misses, as the server does; ``False`` averages over matched people only (like body).

    Returns:
        ``precision``, ``recall``, ``f1``, counts, and for each available part
        ``<part>_mpjpe`` / ``<part>_mve`` plus ``fullbody_*``, ``body_nm*e`` and ``fullbody_nm*e``
        (``None`` where an input is missing).
    """
    total, misses = len(people), sum(p.missed for p in people)
    precision, recall, f1 = precision_recall_f1(
        total, misses, num_false_positives, 2 if round_like_server else None
    )

    def _r(x: float | None) -> float | None:
        if x is None or not round_like_server:
            return x
        return round(x, 1)

    def _mean(key: str, zero_misses: bool) -> float | None:
        vals: list[float] = []
        for p in people:
            if p.missed:
                if zero_misses:
                    vals.append(0.0)
            elif key in p.errors:
                vals.append(float(p.errors[key]))
            else:
                return None
        return float(np.mean(vals)) if vals else None

    out: dict[str, float | int | None] = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "num_valid_gt": total,
        "num_misses": misses,
        "num_false_positives": num_false_positives,
    }
    for kind in ("mpjpe", "mve"):
        body = _r(_mean(f"body_{kind}", False))
        parts = {
            k: _r(_mean(f"{k}_{kind}", zeros_for_missed_parts)) for k in ("lhand", "rhand", "face")
        }
        out[f"body_{kind}"] = body
        out.update({f"{k}_{kind}": v for k, v in parts.items()})
        if body is None or any(v is None for v in parts.values()):
            fullbody = None
        else:
            fullbody = _r(body + sum(parts.values()) / 3.0)  # type: ignore[arg-type]
        out[f"fullbody_{kind}"] = fullbody
        norm = "nmje" if kind == "mpjpe" else "nmve"
        for name, val in (("body", body), ("fullbody", fullbody)):
            ok = val is not None and f1 > 0
            out[f"{name}_{norm}"] = _r(val / f1) if ok else None  # type: ignore[operator]
    return out


def agora_prediction_record(
    params: Mapping[str, np.ndarray], joints_2d_4k: np.ndarray
) -> dict[str, object]:
    """The per-person dictionary the AGORA server reads (SMPL-X, ``pose2rot`` default).

    Args:
        params: unbatched SMPL-X parameters: ``global_orient`` (3,), ``body_pose`` (21, 3),
            ``left_hand_pose`` / ``right_hand_pose`` (15, 3) (flat_hand_mean=False convention, as
            the server's default neutral SMPL-X), ``jaw_pose`` (3,), ``betas`` (10,),
            ``expression`` (10,), ``transl`` (3,); eye poses are written as zeros.
        joints_2d_4k: (J, 2) projected joints in 3840x2160 pixels (SMPLer-X writes all 144).
    """
    shapes = {
        "transl": 3,
        "global_orient": 3,
        "body_pose": 63,
        "left_hand_pose": 45,
        "right_hand_pose": 45,
        "jaw_pose": 3,
        "expression": 10,
        "betas": 10,
    }
    out_params: dict[str, np.ndarray] = {}
    for key, size in shapes.items():
        if key not in params:
            raise InputError(f"AGORA prediction needs SMPL-X parameter {key!r}")
        arr = np.asarray(params[key], np.float32).reshape(-1)
        if arr.size != size:
            raise InputError(f"AGORA parameter {key!r} must have {size} values, got {arr.size}")
        out_params[key] = arr.reshape(1, size)
    out_params["leye_pose"] = np.zeros((1, 3), np.float32)
    out_params["reye_pose"] = np.zeros((1, 3), np.float32)
    joints = np.asarray(joints_2d_4k, np.float32)
    if joints.ndim != 2 or joints.shape[1] != 2 or joints.shape[0] < AGORA_NUM_MATCH_JOINTS:
        raise InputError(f"AGORA joints must be (J>=24, 2) pixels, got {joints.shape}")
    return {"params": out_params, "joints": joints.reshape(1, -1, 2)}


def write_agora_prediction(
    out_dir: str | Path,
    image_name: str,
    person_index: int,
    params: Mapping[str, np.ndarray],
    joints_2d_4k: np.ndarray,
) -> Path:
    """Write ``<out_dir>/<image stem>_personId_<k>.pkl`` atomically and return its path.

    ``image_name`` is the AGORA test image file name (``.png`` / ``.jpg`` suffix optional).
    """
    stem = Path(image_name).stem if Path(image_name).suffix else image_name
    path = Path(out_dir) / f"{stem}_personId_{int(person_index)}.pkl"
    record = agora_prediction_record(params, joints_2d_4k)
    with atomic_open(path, "wb") as fh:
        pickle.dump(record, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def zip_agora_predictions(pred_dir: str | Path, zip_path: str | Path) -> Path:
    """Zip all ``*_personId_*.pkl`` files of ``pred_dir`` under a ``predictions/`` folder (the
    upload format of the AGORA server), atomically."""
    files = sorted(Path(pred_dir).glob("*_personId_*.pkl"))
    if not files:
        raise InputError(f"no AGORA prediction files (*_personId_*.pkl) in {pred_dir}")
    with atomic_open(zip_path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, arcname=f"predictions/{f.name}")
    return Path(zip_path)
