"""Small tensor operations shared by the SMPLer-X heads: soft-argmax, joint-feature sampling and
the hand/face box restoration (official-spec a.2 steps 2-7).

All of them compute in float32 even under bf16 autocast (softmax and soft-argmax accuracy matters
for the joint coordinates that condition the pose regressors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "BODY_HM_DHW",
    "HAND_HM_DHW",
    "BODY_INPUT_HW",
    "soft_argmax_3d",
    "soft_argmax_2d",
    "sample_joint_features",
    "restore_bbox",
    "rot6d_to_rotmat_fp32",
]

#: SMPLer-X body heatmap (depth, height, width) = 16 depth bins on the 16x12 patch grid.
BODY_HM_DHW: tuple[int, int, int] = (16, 16, 12)
#: SMPLer-X hand heatmap (depth, height, width) inside one hand box.
HAND_HM_DHW: tuple[int, int, int] = (16, 16, 16)
#: Body input (height, width) in pixels: the 512x384 crop at half resolution.
BODY_INPUT_HW: tuple[int, int] = (256, 192)


def _fp32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float32 else x.float()


def _axis_expectation(prob: torch.Tensor, dims: tuple[int, ...], size: int) -> torch.Tensor:
    """Expected index along one axis: sum the other axes, dot with 0..size-1."""
    marginal = prob.sum(dim=dims)  # (B, J, size)
    idx = torch.arange(size, device=prob.device, dtype=prob.dtype)
    return (marginal * idx).sum(dim=-1, keepdim=True)


def soft_argmax_3d(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over each joint's whole 3D heatmap, then the expected (x, y, z) bin indices.

    Args:
        logits: (B, J, D, H, W) heatmap logits, any float dtype.

    Returns:
        coords: (B, J, 3) float32 expected (x in [0, W-1], y in [0, H-1], z in [0, D-1]).
        prob: (B, J, D, H, W) float32 softmax probabilities.
    """
    with torch.autocast(device_type=logits.device.type, enabled=False):
        b, j, d, h, w = logits.shape
        prob = F.softmax(_fp32(logits).reshape(b, j, d * h * w), dim=2).reshape(b, j, d, h, w)
        x = _axis_expectation(prob, (2, 3), w)
        y = _axis_expectation(prob, (2, 4), h)
        z = _axis_expectation(prob, (3, 4), d)
        return torch.cat((x, y, z), dim=2), prob


def soft_argmax_2d(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over each channel's 2D map, then the expected (x, y) pixel indices.

    Args:
        logits: (B, J, H, W) logits.

    Returns:
        (B, J, 2) float32 expected (x, y) in [0, W-1] x [0, H-1].
    """
    with torch.autocast(device_type=logits.device.type, enabled=False):
        b, j, h, w = logits.shape
        prob = F.softmax(_fp32(logits).reshape(b, j, h * w), dim=2).reshape(b, j, h, w)
        x = _axis_expectation(prob, (2,), w)
        y = _axis_expectation(prob, (3,), h)
        return torch.cat((x, y), dim=2)


def sample_joint_features(feat: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample a feature map at (x, y) pixel-index positions (corner-aligned grid).

    Args:
        feat: (B, C, H, W) feature map.
        xy: (B, J, 2) positions in pixel indices of ``feat`` (0 = first column/row centre,
            W-1 = last); outside positions read zeros.

    Returns:
        (B, J, C) sampled features, in ``feat``'s dtype.
    """
    h, w = feat.shape[-2:]
    grid = torch.stack((xy[..., 0] / (w - 1) * 2 - 1, xy[..., 1] / (h - 1) * 2 - 1), dim=-1)
    out = F.grid_sample(feat, grid[:, :, None, :].to(feat.dtype), align_corners=True)
    return out[..., 0].transpose(1, 2)


def restore_bbox(
    center_hm: torch.Tensor, size_hm: torch.Tensor, aspect_ratio: float, extension: float
) -> torch.Tensor:
    """Box-net output (centre, size in body heatmap units) -> enlarged xyxy box in body-input px.

    Official rule: scale to body-input pixels, grow the shorter side to reach ``aspect_ratio``
    (w / h), then multiply width and height by ``extension`` about the centre.

    Args:
        center_hm: (B, 2) centre (x, y) in body heatmap units (12x16 grid).
        size_hm: (B, 2) size (w, h) in body heatmap units (may be negative for a bad prediction;
            kept as the official code does).
        aspect_ratio: target w / h (1.0 for hands and face).
        extension: enlargement factor (2.0 hands, 1.5 face).

    Returns:
        (B, 4) xyxy in body-input pixels (192x256).
    """
    sx = BODY_INPUT_HW[1] / BODY_HM_DHW[2]
    sy = BODY_INPUT_HW[0] / BODY_HM_DHW[1]
    cx, cy = center_hm[:, 0] * sx, center_hm[:, 1] * sy
    w, h = size_hm[:, 0] * sx, size_hm[:, 1] * sy
    wide = w > aspect_ratio * h
    narrow = w < aspect_ratio * h
    h = torch.where(wide, w / aspect_ratio, h)
    w = torch.where(narrow, h * aspect_ratio, w)
    w, h = w * extension, h * extension
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=1)


def rot6d_to_rotmat_fp32(x6d: torch.Tensor) -> torch.Tensor:
    """:func:`ehps.geometry.rotations.rot6d_to_rotmat` computed in float32 outside autocast."""
    from ehps.geometry.rotations import rot6d_to_rotmat

    with torch.autocast(device_type=x6d.device.type, enabled=False):
        return rot6d_to_rotmat(_fp32(x6d))
