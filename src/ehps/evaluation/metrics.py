"""Error metrics as pure, batched tensor functions (millimetres out, metres in).

Every function takes batch-first point sets ``(B, N, 3)`` in metres (any common frame) and returns
one number per sample, ``(B,)`` float64 millimetres: the mean Euclidean distance over the N points
after an alignment, times 1000 (official-spec d.1).

- ``*_mpvpe_mm`` / ``*_mpjpe_mm`` differ only by what the points are (mesh vertices or joints);
  both names exist so that call sites read like the papers' tables.
- Root-aligned errors (MPVPE, MPJPE) translate the prediction so that its root point lands on the
  ground-truth root (pelvis for the body, wrist for a hand, neck for the face). The roots are
  passed explicitly because every protocol derives them differently (SMPL-X ``J_regressor`` rows,
  the SMPL regressor, the H36M mid-hip...).
- PA errors use the similarity Procrustes of :mod:`ehps.evaluation.alignment`, fitted on exactly the
  points that are scored (the official ``rigid_align(pred_subset, gt_subset)``).
- ``mask`` (B, N) bool restricts the *average* to some points (UBody's in-image rule); alignment
  still uses all points, as in the official code. A sample whose mask is all False gives NaN
  ("not counted"), which :func:`nanmean_over_samples` skips.
"""

from __future__ import annotations

import torch

from ehps.evaluation.alignment import procrustes_align, root_align

__all__ = [
    "point_errors_m",
    "mean_error_mm",
    "mpvpe_mm",
    "pa_mpvpe_mm",
    "mpjpe_mm",
    "pa_mpjpe_mm",
    "nanmean_over_samples",
    "mean_of_sides_mm",
]


def _check_pair(pred: torch.Tensor, gt: torch.Tensor) -> None:
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(
            f"expected prediction and ground truth of equal shape (B, N, 3), got "
            f"{tuple(pred.shape)} and {tuple(gt.shape)}"
        )


def point_errors_m(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-point Euclidean distances (B, N) float64, in the inputs' unit."""
    _check_pair(pred, gt)
    return torch.linalg.vector_norm(pred.to(torch.float64) - gt.to(torch.float64), dim=-1)


def mean_error_mm(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean point distance (B,) in mm for metre inputs, without any alignment.

    Args:
        pred: (B, N, 3) metres.
        gt: (B, N, 3) metres.
        mask: optional (B, N) bool; only True points are averaged (all False -> NaN).
    """
    err = point_errors_m(pred, gt) * 1000.0
    if mask is None:
        return err.mean(dim=-1)
    m = mask.to(device=err.device, dtype=torch.bool)
    if m.shape != err.shape:
        raise ValueError(f"mask must be (B, N) = {tuple(err.shape)}, got {tuple(m.shape)}")
    count = m.sum(dim=-1)
    total = torch.where(m, err, torch.zeros_like(err)).sum(dim=-1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, torch.nan))


def mpvpe_mm(
    pred_verts: torch.Tensor,
    gt_verts: torch.Tensor,
    pred_root: torch.Tensor,
    gt_root: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Root-aligned mean per-vertex position error (B,) mm.

    Args:
        pred_verts: (B, N, 3) predicted vertices (or a vertex subset), metres.
        gt_verts: (B, N, 3) ground-truth vertices, metres.
        pred_root: (B, 3) the prediction's root point (e.g. its regressed pelvis), metres.
        gt_root: (B, 3) the ground truth's root point, metres.
        mask: optional (B, N) bool of points to average.
    """
    return mean_error_mm(root_align(pred_verts, pred_root, gt_root), gt_verts, mask)


def pa_mpvpe_mm(
    pred_verts: torch.Tensor, gt_verts: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean per-vertex error after similarity Procrustes on these vertices (B,) mm."""
    _check_pair(pred_verts, gt_verts)
    return mean_error_mm(procrustes_align(pred_verts, gt_verts), gt_verts, mask)


def mpjpe_mm(
    pred_joints: torch.Tensor,
    gt_joints: torch.Tensor,
    pred_root: torch.Tensor | None = None,
    gt_root: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean per-joint position error (B,) mm, root-aligned when roots are given.

    Args:
        pred_joints: (B, J, 3) metres.
        gt_joints: (B, J, 3) metres.
        pred_root, gt_root: (B, 3) root points; both or neither. Without roots the joints are
            compared as they are (for inputs that are already root-relative).
        mask: optional (B, J) bool.
    """
    if (pred_root is None) != (gt_root is None):
        raise ValueError("give both pred_root and gt_root, or neither")
    if pred_root is None:
        return mean_error_mm(pred_joints, gt_joints, mask)
    return mpvpe_mm(pred_joints, gt_joints, pred_root, gt_root, mask)


def pa_mpjpe_mm(
    pred_joints: torch.Tensor, gt_joints: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean per-joint error after similarity Procrustes on these joints (B,) mm."""
    return pa_mpvpe_mm(pred_joints, gt_joints, mask)


def mean_of_sides_mm(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Per-sample mean of the left and right values (B,), ignoring a NaN side; NaN if both are
    NaN. Without NaNs this is (left + right) / 2, the official "hand" figure."""
    both = torch.stack((left, right), dim=-1)
    return torch.nanmean(both, dim=-1)


def nanmean_over_samples(values: torch.Tensor) -> float:
    """Mean over samples of a (B,) tensor, skipping NaN ("not counted") entries; NaN if none."""
    v = values.to(torch.float64).flatten()
    if v.numel() == 0:
        return float("nan")
    return float(torch.nanmean(v))
