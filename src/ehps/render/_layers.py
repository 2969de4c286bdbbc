"""Shared machinery of the overlay and view renderers: input checks, the shaded layer (rasterise,
interpolate, shade, supersample, crop to the covered region) and compositing.

Per-person cameras: ``_render_layer`` projects each mesh with its own camera and z-composites the
people by a normalised depth ``z * f_ref / f_i`` (``f`` the geometric-mean focal length, ``f_ref``
the first mesh's): see :mod:`ehps.render.overlay`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ehps.errors import InputError
from ehps.render.rasterizer import (
    CameraLike,
    as_camera_matrix,
    camera_list,
    interpolate,
    rasterize_sparse,
)
from ehps.render.shading import Lighting, color_for_index, parse_color, shade, vertex_normals

__all__ = ["MeshLike", "ColorLike", "neutral_background"]

ArrayLike = np.ndarray | torch.Tensor
MeshLike = tuple[ArrayLike, ArrayLike]
ColorLike = Sequence[float] | np.ndarray | torch.Tensor


@dataclass
class _Layer:
    """A shaded render before compositing: premultiplied colour (h, w, 3) and coverage (h, w),
    float32 in [0, 1], of the image region starting at ``offset`` (row, column) that the meshes
    touch; optionally the exact (H, W) depth and mesh-index maps of a 1x pass."""

    color_pm: torch.Tensor
    coverage: torch.Tensor
    offset: tuple[int, int] = (0, 0)
    depth: torch.Tensor | None = None
    mesh_idx: torch.Tensor | None = None


def _to_tensor(x: ArrayLike, dtype: torch.dtype) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t.detach().to(device="cpu", dtype=dtype)


def _check_meshes(meshes: Sequence[MeshLike]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    verts, faces = [], []
    for i, mesh in enumerate(meshes):
        if len(mesh) != 2:
            raise InputError(f"mesh {i} must be a (vertices (V, 3), faces (F, 3)) pair")
        v = _to_tensor(mesh[0], torch.float32)
        f = _to_tensor(mesh[1], torch.int64)
        if v.ndim != 2 or v.shape[1] != 3:
            raise InputError(f"mesh {i}: vertices must be (V, 3) metres, got {tuple(v.shape)}")
        verts.append(v)
        faces.append(f)
    return verts, faces


def _mesh_colors(
    colors: Sequence[ColorLike] | None, verts: list[torch.Tensor]
) -> list[torch.Tensor]:
    """One (V_m, 3) sRGB albedo per mesh; a (3,) colour is broadcast to the mesh's vertices."""
    if colors is None:
        colors = [color_for_index(i) for i in range(len(verts))]
    if len(colors) != len(verts):
        raise InputError(f"got {len(colors)} colours for {len(verts)} meshes; give one per mesh")
    out = []
    for i, (c, v) in enumerate(zip(colors, verts)):
        arr = torch.from_numpy(parse_color(c))
        if arr.ndim == 1:
            arr = arr.expand(v.shape[0], 3)
        elif arr.shape != (v.shape[0], 3):
            raise InputError(
                f"mesh {i}: colour must be (3,) or per-vertex (V, 3) with V = {v.shape[0]}, "
                f"got {tuple(arr.shape)}"
            )
        out.append(arr)
    return out


def _broadcast_color(
    color: ColorLike | Sequence[ColorLike] | None, n: int, single: bool
) -> list[ColorLike] | None:
    """``color`` given for one mesh, for all meshes, or per mesh -> a list of n colours."""
    if color is None:
        return None
    if single:
        return [color]  # type: ignore[list-item]
    first = color[0] if len(color) else None  # type: ignore[arg-type]
    if isinstance(first, (Sequence, np.ndarray, torch.Tensor)) and len(color) == n:  # type: ignore[arg-type]
        return list(color)  # type: ignore[arg-type]
    return [color] * n  # type: ignore[list-item]


def _camera_list(intrinsics: CameraLike | Sequence[CameraLike], n: int) -> list[torch.Tensor]:
    return [as_camera_matrix(k, torch.float64) for k in camera_list(intrinsics, n)]


def _focal(k: torch.Tensor) -> float:
    return math.sqrt(float(k[0, 0]) * float(k[1, 1]))


def _supersampled(k: torch.Tensor, s: int) -> torch.Tensor:
    """Intrinsics for an s-times finer pixel grid (pixel centres stay at integer coordinates)."""
    ks = k.clone()
    ks[:2, :] *= s
    ks[:2, 2] += 0.5 * (s - 1)
    return ks


def _render_layer(
    verts: list[torch.Tensor],
    faces: list[torch.Tensor],
    cams: list[torch.Tensor],
    albedo: list[torch.Tensor],
    image_hw: tuple[int, int],
    ssaa: int,
    lighting: Lighting,
    backend: str,
    cull_backfaces: bool,
    keep_fragments: bool = False,
) -> _Layer:
    h, w = image_hw
    hs, ws = h * ssaa, w * ssaa
    f_ref = _focal(cams[0])
    # per-person cameras: scale each mesh about the camera centre so that its depth becomes
    # z * f_ref / f_i (projection, normals and view directions are unchanged by the scaling).
    scaled = [v * (f_ref / _focal(k)) for v, k in zip(verts, cams)]
    normals = [vertex_normals(v, f) for v, f in zip(verts, faces)]
    attrs = [torch.cat((n, v, a), dim=-1) for n, v, a in zip(normals, scaled, albedo)]
    frags = rasterize_sparse(
        scaled,
        faces,
        [_supersampled(k, ssaa) for k in cams],
        (hs, ws),
        cull_backfaces=cull_backfaces,
        backend=backend,
    )
    layer = _Layer(torch.zeros(0, 0, 3), torch.zeros(0, 0))
    if keep_fragments:
        layer.depth = torch.full((h * w,), math.inf).index_copy_(0, frags.pix, frags.depth.float())
        layer.depth = layer.depth.view(h, w)
        layer.mesh_idx = torch.full((h * w,), -1, dtype=torch.int64)
        layer.mesh_idx = layer.mesh_idx.index_copy_(0, frags.pix, frags.mesh_idx).view(h, w)
    if frags.pix.numel() == 0:
        return layer
    vals = interpolate(frags, attrs)
    rgb = shade(vals[:, 0:3], vals[:, 3:6], vals[:, 6:9], lighting).float()
    # only the region the meshes cover (aligned to whole output pixels) is composited.
    py = torch.div(frags.pix, ws, rounding_mode="floor")
    px = frags.pix - py * ws
    y0, x0 = int(py.min()) // ssaa, int(px.min()) // ssaa
    y1, x1 = int(py.max()) // ssaa + 1, int(px.max()) // ssaa + 1
    rh, rw = (y1 - y0) * ssaa, (x1 - x0) * ssaa
    local = (py - y0 * ssaa) * rw + (px - x0 * ssaa)
    big = torch.zeros(rh * rw, 4, dtype=torch.float32)
    big.index_copy_(0, local, torch.cat((rgb, torch.ones_like(rgb[:, :1])), dim=1))
    big = big.view(1, rh, rw, 4).permute(0, 3, 1, 2)
    if ssaa > 1:
        big = F.avg_pool2d(big, ssaa)
    big = big[0].permute(1, 2, 0)
    layer.color_pm = big[..., :3].contiguous()
    layer.coverage = big[..., 3].contiguous()
    layer.offset = (y0, x0)
    return layer


def _as_rgb_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise InputError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.floating):
            raise InputError(f"image must be uint8 (or float in [0, 1]), got {img.dtype}")
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def neutral_background(image_hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 soft vertical grey gradient used behind side and turntable views."""
    h, w = image_hw
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top = np.array([236, 238, 242], np.float32)
    bottom = np.array([196, 199, 206], np.float32)
    img = top * (1 - t) + bottom * t
    return np.broadcast_to(np.rint(img), (h, w, 3)).astype(np.uint8)


def _composite(photo: np.ndarray, layer: _Layer, alpha: float) -> np.ndarray:
    out = np.array(photo, dtype=np.uint8, copy=True)
    rh, rw = layer.coverage.shape
    if rh == 0 or rw == 0:
        return out
    y0, x0 = layer.offset
    region = out[y0 : y0 + rh, x0 : x0 + rw]
    base = torch.from_numpy(np.ascontiguousarray(region)).float() / 255.0
    a = (alpha * layer.coverage)[..., None]
    blended = base * (1.0 - a) + alpha * layer.color_pm
    region[...] = (blended.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()
    return out
