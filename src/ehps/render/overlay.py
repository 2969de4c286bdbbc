"""Mesh overlays on photos, side / turntable views, and synthetic renders with exact masks.

Every function takes meshes in the OpenCV camera frame (x right, y down, z forward, metres) and
pinhole intrinsics in image pixels. Several people are rendered in one pass and z-tested against
each other.

Per-person cameras (network crops give each person their own intrinsics, official-spec a.5):
each mesh is projected with its own camera, so its silhouette is exactly what that camera sees,
and the people are z-composited by a *normalised* depth ``z * f_ref / f_i`` (``f`` the geometric
mean focal length, ``f_ref`` the first person's). This is an approximation: a crop camera's raw
depth says little about distance (every crop is scaled to the same size), while ``z / f`` orders
people by apparent size like a shared camera would. It is exact when all cameras are equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ehps.errors import InputError
from ehps.render._layers import (
    ArrayLike,
    ColorLike,
    MeshLike,
    _as_rgb_image,
    _broadcast_color,
    _camera_list,
    _check_meshes,
    _composite,
    _mesh_colors,
    _render_layer,
    neutral_background,
)
from ehps.render.backends import resolve_backend
from ehps.render.rasterizer import CameraLike, as_camera_matrix
from ehps.render.shading import DEFAULT_LIGHTING, Lighting, parse_color
from ehps.render.views import render_turntable, render_view

__all__ = [
    "MeshLike",
    "render_overlay",
    "render_view",
    "render_turntable",
    "render_mesh_image",
    "neutral_background",
]

def render_overlay(
    image_rgb: np.ndarray,
    meshes: Sequence[MeshLike],
    intrinsics: CameraLike | Sequence[CameraLike],
    colors: Sequence[ColorLike] | None = None,
    alpha: float = 0.85,
    side_view: bool = False,
    backend: str = "auto",
    *,
    ssaa: int = 2,
    lighting: Lighting = DEFAULT_LIGHTING,
    cull_backfaces: bool = False,
) -> np.ndarray:
    """Render meshes over a photo (and optionally a side view next to it).

    Args:
        image_rgb: (H, W, 3) uint8 RGB photo (grey (H, W) and RGBA are accepted).
        meshes: ``(vertices (V, 3), faces (F, 3))`` per person, camera frame, metres.
        intrinsics: one camera for all meshes, or one per mesh (see the module note on per-person
            cameras); :class:`Intrinsics` or a (3, 3) K in image pixels.
        colors: per mesh, an RGB colour ((3,) floats in [0, 1] or ints in [0, 255]) or per-vertex
            colours (V, 3); default: :data:`~ehps.render.shading.PERSON_COLORS` in order.
        alpha: mesh opacity over the photo, in [0, 1].
        side_view: append a panel showing the scene from the side (rotated 90 degrees about the
            vertical axis through the people's centroid) on a neutral background.
        backend: ``"auto"``, ``"torch"`` or ``"moderngl"`` (:mod:`ehps.render.backends`).
        ssaa: supersampling factor for anti-aliased edges (1 = off, 2 = 4 samples per pixel).
        lighting: light rig (:class:`~ehps.render.shading.Lighting`).
        cull_backfaces: skip back faces (faster; only for closed, outward-wound meshes).

    Returns:
        (H, W, 3) uint8, or (H, 2W, 3) with ``side_view``.
    """
    photo = _as_rgb_image(image_rgb)
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    if ssaa < 1:
        raise InputError(f"ssaa must be >= 1, got {ssaa}")
    h, w = photo.shape[:2]
    verts, faces = _check_meshes(meshes)
    out = photo.copy()
    if verts:
        cams = _camera_list(intrinsics, len(verts))
        albedo = _mesh_colors(colors, verts)
        be = resolve_backend(backend)
        layer = _render_layer(
            verts, faces, cams, albedo, (h, w), ssaa, lighting, be, cull_backfaces
        )
        out = _composite(photo, layer, alpha)
    if side_view:
        panel = render_view(
            meshes, intrinsics, (h, w), yaw_deg=90.0, colors=colors, backend=backend, ssaa=ssaa,
            lighting=lighting, cull_backfaces=cull_backfaces,
        )
        out = np.concatenate([out, panel], axis=1)
    return out


def render_mesh_image(
    verts_cam: ArrayLike | Sequence[ArrayLike],
    faces: ArrayLike | Sequence[ArrayLike],
    K: CameraLike,
    image_hw: tuple[int, int],
    background: np.ndarray | ColorLike | None = None,
    color: ColorLike | Sequence[ColorLike] | None = None,
    *,
    lighting: Lighting = DEFAULT_LIGHTING,
    ssaa: int = 1,
    backend: str = "torch",
    return_ids: bool = False,
) -> tuple[np.ndarray, ...]:
    """Render meshes as an opaque image with exact ground-truth mask and depth (synthetic data).

    Args:
        verts_cam: (V, 3) vertices in the OpenCV camera frame (metres), or a list of such meshes.
        faces: (F, 3) int triangles, or one per mesh.
        K: :class:`Intrinsics` or (3, 3) matrix in pixels.
        image_hw: (H, W).
        background: (H, W, 3) uint8 image, an RGB colour, or ``None`` (neutral gradient).
        color: RGB (3,) or per-vertex (V, 3) colour, or one per mesh; default person palette.
        lighting: light rig (randomise it for training data).
        ssaa: supersampling of the RGB image only (mask and depth are always exact per pixel
            centre, from a separate 1x pass when ``ssaa > 1``).
        backend: rasteriser back-end; ``"torch"`` by default for reproducible labels.
        return_ids: also return the per-pixel mesh index map.

    Returns:
        ``rgb`` (H, W, 3) uint8, ``mask`` (H, W) bool (pixel centre covered by any mesh),
        ``depth`` (H, W) float32 camera-frame z in metres (0 on background), and with
        ``return_ids`` ``ids`` (H, W) int16 mesh index (-1 on background).
    """
    h, w = int(image_hw[0]), int(image_hw[1])
    single = isinstance(verts_cam, (np.ndarray, torch.Tensor))
    vlist = [verts_cam] if single else list(verts_cam)
    if isinstance(faces, (np.ndarray, torch.Tensor)):
        flist = [faces] * len(vlist)
    else:
        flist = list(faces)
    verts, fcs = _check_meshes(list(zip(vlist, flist)))
    colors = _broadcast_color(color, len(verts), single)
    albedo = _mesh_colors(colors, verts)
    if background is None:
        bg = neutral_background((h, w))
    else:
        barr = np.asarray(background)
        if barr.ndim == 1:
            col = np.rint(parse_color(barr) * 255.0).astype(np.uint8)
            bg = np.broadcast_to(col, (h, w, 3)).copy()
        else:
            bg = _as_rgb_image(barr)
            if bg.shape[:2] != (h, w):
                raise InputError(f"background is {bg.shape[:2]}, expected {(h, w)}")
    cam = as_camera_matrix(K, torch.float64)
    be = resolve_backend(backend)
    cams = [cam] * len(verts)
    exact = _render_layer(verts, fcs, cams, albedo, (h, w), 1, lighting, be, False, True)
    color_layer = exact
    if ssaa > 1:
        color_layer = _render_layer(verts, fcs, cams, albedo, (h, w), ssaa, lighting, be, False)
    rgb = _composite(bg, color_layer, 1.0)
    assert exact.depth is not None and exact.mesh_idx is not None
    mask = exact.mesh_idx >= 0
    depth = torch.where(mask, exact.depth, torch.zeros_like(exact.depth)).float().numpy()
    out: tuple[np.ndarray, ...] = (rgb, mask.numpy(), depth)
    if return_ids:
        out = (*out, exact.mesh_idx.to(torch.int16).numpy())
    return out
