"""Views of the scene from other angles: the side view next to an overlay and turntables.

The scene is rotated about the vertical axis (camera y) through the people's centroid and seen
by a camera with the original focal length, on a neutral background with soft contact shadows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.render._layers import (
    ColorLike,
    MeshLike,
    _as_rgb_image,
    _camera_list,
    _check_meshes,
    _composite,
    _focal,
    _mesh_colors,
    _render_layer,
    neutral_background,
)
from ehps.render.backends import resolve_backend
from ehps.render.rasterizer import CameraLike, as_camera_matrix, rasterize_sparse
from ehps.render.shading import DEFAULT_LIGHTING, Lighting

__all__ = ["render_view", "render_turntable"]


def _shared_scene(
    verts: list[torch.Tensor], cams: list[torch.Tensor], image_hw: tuple[int, int]
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Place every mesh in one camera: the shared one, or for per-person cameras a default image
    camera into which each mesh is moved (not scaled) so that its centroid projects to the same
    pixel at the depth ``z * f_ref / f_i`` (same apparent size)."""
    if all(torch.equal(k, cams[0]) for k in cams):
        return verts, cams[0]
    h, w = image_hw
    ref = as_camera_matrix(Intrinsics.from_image_size(w, h), torch.float64)
    out = []
    for v, k in zip(verts, cams):
        c = v.double().mean(dim=0)
        uv = (k @ c)[:2] / c[2]
        z_new = c[2] * _focal(ref) / _focal(k)
        xy = (uv - ref[:2, 2]) / torch.stack((ref[0, 0], ref[1, 1])) * z_new
        c_new = torch.cat((xy, z_new.view(1)))
        out.append((v.double() - c + c_new).float())
    return out, ref


def _yaw_matrix(yaw_deg: float) -> torch.Tensor:
    """Rotation about the camera's vertical (y) axis. +90 degrees looks at the scene from the
    camera's right-hand (+x) side: the original camera is off the panel's left edge, and points
    further from it appear further right."""
    a = math.radians(yaw_deg)
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def render_view(
    meshes: Sequence[MeshLike],
    intrinsics: CameraLike | Sequence[CameraLike],
    image_hw: tuple[int, int],
    yaw_deg: float = 90.0,
    colors: Sequence[ColorLike] | None = None,
    background: np.ndarray | None = None,
    backend: str = "auto",
    *,
    ssaa: int = 2,
    lighting: Lighting = DEFAULT_LIGHTING,
    cull_backfaces: bool = False,
    margin: float = 0.85,
    ground_shadow: bool = True,
) -> np.ndarray:
    """The scene rotated by ``yaw_deg`` about the vertical axis through the people's centroid.

    The view camera keeps the scene camera's focal length, looks at the centroid from the
    original distance, and backs off when needed so that every mesh fits in ``margin`` of the
    panel. Per-person cameras are first merged into one scene (see :func:`_shared_scene`).

    Args:
        meshes, intrinsics, colors, backend, ssaa, lighting, cull_backfaces: as in
            :func:`render_overlay`.
        image_hw: panel (height, width).
        yaw_deg: rotation angle in degrees (0 = the camera's own view, re-centred).
        background: (H, W, 3) uint8 panel background; default :func:`neutral_background`.
        margin: fraction of the panel the scene may fill.
        ground_shadow: darken the floor under each person (each mesh flattened onto the
            horizontal plane through its lowest point, blurred), which grounds the figures.

    Returns:
        (H, W, 3) uint8 panel.
    """
    h, w = image_hw
    bg = neutral_background(image_hw) if background is None else _as_rgb_image(background)
    if bg.shape[:2] != (h, w):
        raise InputError(f"background is {bg.shape[:2]}, expected {(h, w)}")
    verts, faces = _check_meshes(meshes)
    if not verts:
        return bg.copy()
    cams = _camera_list(intrinsics, len(verts))
    albedo = _mesh_colors(colors, verts)
    scene, k = _shared_scene(verts, cams, image_hw)
    centroid = torch.stack([v.double().mean(dim=0) for v in scene]).mean(dim=0)
    rot = _yaw_matrix(yaw_deg)
    rel = [(v.double() - centroid) @ rot.T for v in scene]
    allv = torch.cat(rel)
    fx, fy = float(k[0, 0]), float(k[1, 1])
    half_w, half_h = margin * (w - 1) / 2.0, margin * (h - 1) / 2.0
    need = torch.maximum(fx * allv[:, 0].abs() / half_w, fy * allv[:, 1].abs() / half_h)
    dist = max(
        float(centroid[2]), float((need - allv[:, 2]).max()), float(-allv[:, 2].min()) + 0.1
    )
    view_k = torch.tensor([[fx, 0.0, (w - 1) / 2.0], [0.0, fy, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
    shifted = [(r + torch.tensor([0.0, 0.0, dist], dtype=torch.float64)).float() for r in rel]
    if ground_shadow:
        bg = _with_ground_shadow(bg, shifted, faces, view_k)
    layer = _render_layer(
        shifted, faces, [view_k.double()] * len(shifted), albedo, (h, w), ssaa, lighting,
        resolve_backend(backend), cull_backfaces,
    )
    return _composite(bg, layer, 1.0)


def _with_ground_shadow(
    bg: np.ndarray, verts: list[torch.Tensor], faces: list[torch.Tensor], k: torch.Tensor
) -> np.ndarray:
    """``bg`` darkened by a soft contact shadow below each mesh (light from straight above)."""
    h, w = bg.shape[:2]
    flat = []
    for v in verts:
        ground = v[:, 1].max()  # camera y points down: the lowest point has the largest y
        f = v.clone()
        f[:, 1] = ground
        flat.append(f)
    frags = rasterize_sparse(flat, faces, k, (h, w))
    mask = np.zeros(h * w, np.float32)
    mask[frags.pix.numpy()] = 1.0
    sigma = max(1.5, 0.006 * max(h, w))
    shadow = cv2.GaussianBlur(mask.reshape(h, w), (0, 0), sigma)
    out = bg.astype(np.float32) * (1.0 - 0.35 * np.clip(shadow * 1.5, 0.0, 1.0))[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_turntable(
    meshes: Sequence[MeshLike],
    intrinsics: CameraLike | Sequence[CameraLike],
    image_hw: tuple[int, int],
    num_frames: int = 36,
    **kwargs: object,
) -> list[np.ndarray]:
    """``num_frames`` panels of :func:`render_view` at evenly spaced yaw angles over 360 degrees
    (e.g. for a rotating GIF / MP4). ``kwargs`` go to :func:`render_view`."""
    if num_frames < 1:
        raise InputError(f"num_frames must be >= 1, got {num_frames}")
    return [
        render_view(meshes, intrinsics, image_hw, yaw_deg=360.0 * i / num_frames, **kwargs)
        for i in range(num_frames)
    ]
