"""The official virtual crop camera and the maps between crop and original-image cameras.

Frames and units:
- *crop camera*: the network predicts a translation ``cam_trans`` (metres) for a virtual pinhole
  camera with focal 5000 px and principal point (96, 128) on the 192x256 (W x H) body-input image.
- *image camera*: the same camera expressed in original-image pixels for the person's crop box
  (official-spec a.5), i.e. per-person intrinsics.
- camera frame: x right, y down, z forward (OpenCV), metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "CROP_FOCAL",
    "CROP_PRINCPT",
    "BODY_INPUT_HW",
    "CROP_INPUT_HW",
    "DEPTH_SCALE",
    "Intrinsics",
    "cam_params_to_trans",
    "project_points",
    "crop_intrinsics_to_image",
]

CROP_FOCAL: tuple[float, float] = (5000.0, 5000.0)
CROP_PRINCPT: tuple[float, float] = (96.0, 128.0)
BODY_INPUT_HW: tuple[int, int] = (256, 192)
CROP_INPUT_HW: tuple[int, int] = (512, 384)
#: k in t_z = k * sigmoid(gamma): sqrt(fx * fy * 2.5^2 / (256 * 192)) ~= 56.38 m.
DEPTH_SCALE: float = math.sqrt(
    CROP_FOCAL[0] * CROP_FOCAL[1] * 2.5**2 / (BODY_INPUT_HW[0] * BODY_INPUT_HW[1])
)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (no distortion)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def focal(self) -> tuple[float, float]:
        return (self.fx, self.fy)

    @property
    def princpt(self) -> tuple[float, float]:
        return (self.cx, self.cy)

    def matrix(self) -> np.ndarray:
        """(3, 3) float64 K matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_image_size(cls, width: int, height: int, fov_deg: float | None = None) -> Intrinsics:
        """A plausible camera for an image of unknown intrinsics, principal point at the centre.

        Default focal = image diagonal in pixels (the CLIFF convention, ~53 deg diagonal field of
        view); ``fov_deg`` instead sets the field of view across the longer side.
        """
        if fov_deg is None:
            f = math.hypot(width, height)
        else:
            f = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
        return cls(f, f, width / 2.0, height / 2.0)


def cam_params_to_trans(cam_param: torch.Tensor) -> torch.Tensor:
    """Head output (tx, ty, gamma) (..., 3) -> crop-camera translation (tx, ty, k*sigmoid(gamma)).

    ``tx, ty`` are metres used as-is; the depth lies in (0, 56.4) m.
    """
    tz = DEPTH_SCALE * torch.sigmoid(cam_param[..., 2:3])
    return torch.cat((cam_param[..., :2], tz), dim=-1)


def project_points(
    points_cam: torch.Tensor | np.ndarray,
    focal: tuple[float, float] | torch.Tensor | np.ndarray = CROP_FOCAL,
    princpt: tuple[float, float] | torch.Tensor | np.ndarray = CROP_PRINCPT,
    eps: float = 1e-4,
) -> torch.Tensor | np.ndarray:
    """Perspective projection (..., N, 3) camera-frame metres -> (..., N, 2) pixels.

    ``focal`` and ``princpt`` may be tuples or arrays broadcastable to (..., 2) (one per batch
    item: shape (B, 2) becomes (B, 1, 2)). ``eps`` is the official 1e-4 added to the depth (pass
    0 for the exact pinhole). A numpy input is computed in float64 and returns numpy; a tensor
    keeps its dtype and device.
    """
    if isinstance(points_cam, np.ndarray):
        p = np.asarray(points_cam, np.float64)
        f = np.asarray(focal, np.float64)
        c = np.asarray(princpt, np.float64)
        f = f[..., None, :] if f.ndim >= 2 else f
        c = c[..., None, :] if c.ndim >= 2 else c
        return p[..., :2] / (p[..., 2:3] + eps) * f + c
    focal_t = torch.as_tensor(focal, dtype=points_cam.dtype, device=points_cam.device)
    princpt_t = torch.as_tensor(princpt, dtype=points_cam.dtype, device=points_cam.device)
    if focal_t.ndim >= 2:
        focal_t = focal_t.unsqueeze(-2)
    if princpt_t.ndim >= 2:
        princpt_t = princpt_t.unsqueeze(-2)
    xy = points_cam[..., :2] / (points_cam[..., 2:3] + eps)
    return xy * focal_t + princpt_t


def crop_intrinsics_to_image(bbox_xywh: np.ndarray | torch.Tensor) -> Intrinsics:
    """Intrinsics in original-image pixels of the virtual crop camera for one processed box.

    ``bbox_xywh`` is the *processed* crop box (aspect 3:4, after the ratio), in image pixels.
    fx = 5000/192 * w, fy = 5000/256 * h, cx = 96/192 * w + x, cy = 128/256 * h + y.
    """
    x, y, w, h = (float(v) for v in bbox_xywh[:4])
    return Intrinsics(
        fx=CROP_FOCAL[0] / BODY_INPUT_HW[1] * w,
        fy=CROP_FOCAL[1] / BODY_INPUT_HW[0] * h,
        cx=CROP_PRINCPT[0] / BODY_INPUT_HW[1] * w + x,
        cy=CROP_PRINCPT[1] / BODY_INPUT_HW[0] * h + y,
    )
