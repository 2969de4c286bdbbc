"""Point-set alignment used by every benchmark: root (translation) alignment and similarity
Procrustes ("PA"), batched.

The Procrustes solution is the one of the official ``rigid_transform_3D`` / ``rigid_align``
(SMPLer-X ``common/utils/transforms.py``, identical in SMPLest-X): Umeyama's least-squares
similarity transform dst ~= s * R @ src + t with

- cross-covariance H = (src - mean_src)^T (dst - mean_dst) / N and its SVD H = U diag(S) V^T,
- R = V D U^T with D = diag(1, 1, sign(det(V U^T))) (no reflections),
- s = trace(diag(S) D) / var(src), var(src) = mean squared distance of src to its centroid,
- t = mean_dst - s R mean_src.

All functions work on any batch shape ``(..., N, 3)`` and compute in float64 (the SVD of nearly
degenerate hand / face point sets is sensitive in float32); results are float64 on the input's
device. Units are whatever the inputs use (metres throughout ehps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "Similarity",
    "similarity_procrustes",
    "procrustes_align",
    "root_align",
]


@dataclass
class Similarity:
    """A batch of similarity transforms x -> scale * R @ x + t.

    Attributes:
        scale: (...,) float64.
        rotation: (..., 3, 3) float64, proper rotations (det = +1).
        translation: (..., 3) float64.
    """

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Transform (..., N, 3) points; returns float64."""
        p = points.to(torch.float64)
        return self.scale[..., None, None] * (p @ self.rotation.transpose(-1, -2)) + (
            self.translation[..., None, :]
        )


def similarity_procrustes(src: torch.Tensor, dst: torch.Tensor) -> Similarity:
    """Least-squares similarity transform mapping ``src`` onto ``dst`` (Umeyama, no reflection).

    Args:
        src: (..., N, 3) points to move (e.g. predicted joints), N >= 3.
        dst: (..., N, 3) target points (e.g. ground-truth joints), same shape.

    Returns:
        :class:`Similarity` with float64 tensors of batch shape ``src.shape[:-2]``.
    """
    if src.shape != dst.shape or src.shape[-1] != 3 or src.ndim < 2:
        raise ValueError(
            f"similarity_procrustes needs two (..., N, 3) tensors of equal shape, got "
            f"{tuple(src.shape)} and {tuple(dst.shape)}"
        )
    a = src.to(torch.float64)
    b = dst.to(torch.float64)
    n = a.shape[-2]
    mu_a = a.mean(dim=-2, keepdim=True)
    mu_b = b.mean(dim=-2, keepdim=True)
    ac, bc = a - mu_a, b - mu_b
    cov = ac.transpose(-1, -2) @ bc / n  # (..., 3, 3)
    u, s, vh = torch.linalg.svd(cov)
    v = vh.transpose(-1, -2)
    sign = torch.sign(torch.linalg.det(v @ u.transpose(-1, -2)))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    d = torch.ones_like(s)
    d[..., -1] = sign
    rot = v @ torch.diag_embed(d) @ u.transpose(-1, -2)
    var_a = (ac**2).sum(dim=(-1, -2)) / n
    scale = (s * d).sum(dim=-1) / var_a
    trans = mu_b.squeeze(-2) - scale[..., None] * (rot @ mu_a.squeeze(-2)[..., None]).squeeze(-1)
    return Similarity(scale=scale, rotation=rot, translation=trans)


def procrustes_align(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """``src`` (..., N, 3) after the similarity transform that best maps it onto ``dst``
    (the official ``rigid_align(src, dst)``); float64."""
    return similarity_procrustes(src, dst).apply(src)


def root_align(
    pred: torch.Tensor, pred_root: torch.Tensor, gt_root: torch.Tensor
) -> torch.Tensor:
    """Translate ``pred`` (..., N, 3) so that its root point ``pred_root`` (..., 3) lands on
    ``gt_root`` (..., 3): pred - pred_root + gt_root (the official MPVPE alignment). float64."""
    return (
        pred.to(torch.float64)
        - pred_root.to(torch.float64)[..., None, :]
        + gt_root.to(torch.float64)[..., None, :]
    )
