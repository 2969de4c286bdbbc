"""Pieces shared by the SMPLer-X and SMPLest-X losses.

Reduction rule of both official trainers: every term is an element-wise, masked L1 tensor; the
logged value of a term is the *mean over all its elements* (masked-out elements count as zeros),
and the optimised total is the sum of those means (official-spec c.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ParamSpec

import torch

from ehps.bodymodels.joint_sets import (
    JOINT_137_IDX,
    JOINT_137_LWRIST_IDX,
    JOINT_137_NECK_IDX,
    JOINT_137_PARTS,
    JOINT_137_ROOT_IDX,
    JOINT_137_RWRIST_IDX,
)
from ehps.data.types import Batch
from ehps.errors import InputError
from ehps.geometry.camera import BODY_INPUT_HW, CROP_FOCAL, CROP_PRINCPT
from ehps.modeling.prediction import Prediction

__all__ = [
    "HEATMAP_HW",
    "masked_l1",
    "coord_l1",
    "total_loss",
    "reduced",
    "joints_137",
    "project_to_heatmap",
    "pelvis_relative",
    "part_relative",
    "shape_expr_terms",
    "supervision_joints",
]

_IDX_137: list[int] = [int(i) for i in JOINT_137_IDX]

#: (height, width) of the body heatmap grid the 2D terms are expressed in.
HEATMAP_HW: tuple[int, int] = (16, 12)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Element-wise ``|pred - target| * valid`` (official ``ParamLoss``); ``valid`` broadcasts."""
    return torch.abs(pred - target) * valid


def coord_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    is_3d: torch.Tensor | None = None,
) -> torch.Tensor:
    """Official ``CoordLoss``: (B, J, D) masked L1; with ``is_3d`` (B,) the third coordinate is
    additionally masked per sample."""
    loss = torch.abs(pred - target) * valid
    if is_3d is not None:
        z = loss[:, :, 2:] * is_3d.to(loss.dtype)[:, None, None]
        loss = torch.cat((loss[:, :, :2], z), dim=2)
    return loss


def total_loss(terms: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reduce element-wise terms to their means and add ``"total"`` (their sum)."""
    out = {name: t.mean() for name, t in terms.items()}
    if not out:
        raise InputError("no loss terms to reduce")
    out["total"] = torch.stack(list(out.values())).sum()
    return out


_P = ParamSpec("_P")


def reduced(terms_fn: Callable[_P, Mapping[str, torch.Tensor]], name: str,
            doc: str) -> Callable[_P, dict[str, torch.Tensor]]:
    """The loss function of a family: ``terms_fn`` (element-wise terms) then :func:`total_loss`
    (named scalar means plus ``"total"``), with the same arguments.

    Args:
        terms_fn: e.g. :func:`ehps.losses.smplerx.smplerx_loss_terms`.
        name: ``__name__`` of the returned function.
        doc: its docstring.
    """

    def losses(*args: _P.args, **kwargs: _P.kwargs) -> dict[str, torch.Tensor]:
        return total_loss(terms_fn(*args, **kwargs))

    losses.__name__ = losses.__qualname__ = name
    losses.__doc__ = doc
    losses.__module__ = terms_fn.__module__
    return losses


def joints_137(joints_cam: torch.Tensor) -> torch.Tensor:
    """(B, 144, 3) SMPL-X output joints -> (B, 137, 3) supervision joints."""
    if joints_cam.ndim != 3 or joints_cam.shape[1:] != (144, 3):
        raise InputError(
            "expected the (B, 144, 3) SMPL-X joints of the prediction (face contour on), got "
            f"{tuple(joints_cam.shape)}"
        )
    idx = torch.tensor(_IDX_137, device=joints_cam.device)
    return joints_cam.index_select(1, idx)


def project_to_heatmap(joints_cam: torch.Tensor) -> torch.Tensor:
    """(B, J, 3) crop-camera joints (translation included) -> (B, J, 2) heatmap units:
    focal 5000, principal point (96, 128) on the 192x256 body input, depth + 1e-4, then scaled to
    the 12x16 grid (official ``get_coord``)."""
    z = joints_cam[..., 2] + 1e-4
    x = joints_cam[..., 0] / z * CROP_FOCAL[0] + CROP_PRINCPT[0]
    y = joints_cam[..., 1] / z * CROP_FOCAL[1] + CROP_PRINCPT[1]
    x = x / BODY_INPUT_HW[1] * HEATMAP_HW[1]
    y = y / BODY_INPUT_HW[0] * HEATMAP_HW[0]
    return torch.stack((x, y), dim=-1)


def pelvis_relative(joints: torch.Tensor) -> torch.Tensor:
    """(B, 137, 3) -> pelvis-relative."""
    return joints - joints[:, JOINT_137_ROOT_IDX : JOINT_137_ROOT_IDX + 1]


def part_relative(joints: torch.Tensor) -> torch.Tensor:
    """(B, 137, 3) pelvis-relative -> hands wrist-relative and face neck-relative (body stays)."""
    out = joints.clone()
    for part, anchor in (("lhand", JOINT_137_LWRIST_IDX), ("rhand", JOINT_137_RWRIST_IDX),
                         ("face", JOINT_137_NECK_IDX)):
        r = JOINT_137_PARTS[part]
        out[:, r.start : r.stop] = joints[:, r.start : r.stop] - joints[:, anchor : anchor + 1]
    return out


def supervision_joints(
    joints_cam: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three joint sets both losses supervise, from the (B, 144, 3) SMPL-X joints.

    Args:
        joints_cam: (B, 144, 3) crop-camera joints in metres, translation included.

    Returns:
        ``(joint_proj, joint_cam_wo_trans, joint_cam_part_rel)``: (B, 137, 2) projected joints in
        heatmap units, (B, 137, 3) pelvis-relative joints and (B, 137, 3) part-relative joints
        (hands wrist-relative, face neck-relative), both in metres.
    """
    j137 = joints_137(joints_cam)
    jc_wo = pelvis_relative(j137)
    return project_to_heatmap(j137), jc_wo, part_relative(jc_wo)


def shape_expr_terms(
    pred: Prediction, batch: Batch, shape_weight: float, expr_weight: float
) -> dict[str, torch.Tensor]:
    """The ``smplx_shape`` (B, 10) and ``smplx_expr`` (B, 10) masked L1 terms, weighted."""
    return {
        "smplx_shape": masked_l1(pred.betas, batch.smplx_shape,
                                 batch.smplx_shape_valid[:, None]) * shape_weight,
        "smplx_expr": masked_l1(pred.expression, batch.smplx_expr,
                                batch.smplx_expr_valid[:, None]) * expr_weight,
    }
