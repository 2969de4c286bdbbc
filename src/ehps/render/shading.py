"""Shading for mesh renders: smooth vertex normals, a three-light studio setup, person colours.

All vectors are in the OpenCV camera frame (x right, y down, z forward). Colours are RGB floats
in [0, 1], sRGB-encoded at the interfaces; lighting is computed in linear light (gamma 2.2), which
gives the soft, even fall-off of a studio render rather than the flat look of lit sRGB values.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "PERSON_COLORS",
    "Lighting",
    "DEFAULT_LIGHTING",
    "color_for_index",
    "parse_color",
    "vertex_normals",
    "shade",
]

#: Distinct, soft colours for people (sRGB in [0, 1]); person i gets ``PERSON_COLORS[i]``.
PERSON_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.56, 0.72, 0.97),  # cornflower blue
    (0.98, 0.60, 0.47),  # coral
    (0.50, 0.86, 0.66),  # mint
    (0.98, 0.81, 0.42),  # warm gold
    (0.76, 0.63, 0.96),  # lavender
    (0.40, 0.82, 0.86),  # teal
    (0.96, 0.58, 0.77),  # rose
    (0.74, 0.88, 0.44),  # lime
)


def color_for_index(i: int) -> tuple[float, float, float]:
    """Colour of person ``i`` (e.g. a track id): the palette, then golden-ratio hue steps."""
    if i < 0:
        raise ValueError(f"colour index must be >= 0, got {i}")
    if i < len(PERSON_COLORS):
        return PERSON_COLORS[i]
    hue = (0.61 + 0.618034 * i) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.45, 0.96)


def parse_color(color: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    """An RGB colour as floats in [0, 1] or ints in [0, 255] (any of (3,) or (V, 3)) -> float32
    array in [0, 1] of the same shape."""
    arr = color.detach().cpu().numpy() if isinstance(color, torch.Tensor) else np.asarray(color)
    if arr.shape[-1] != 3:
        raise ValueError(f"a colour needs 3 channels (RGB), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer) or (arr.size and float(np.max(arr)) > 1.0):
        arr = arr.astype(np.float32) / 255.0
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    n = math.sqrt(sum(c * c for c in v))
    return (v[0] / n, v[1] / n, v[2] / n)


@dataclass(frozen=True)
class Lighting:
    """A key + fill + rim light rig with a sky/ground ambient term, in the camera frame.

    Directions point from the surface towards the light (camera frame: -y is up, -z is towards
    the camera). Intensities multiply the linear albedo.

    Attributes:
        key_dir, key: main light, above-left and in front.
        fill_dir, fill: softer light from the other side.
        rim_dir, rim: light from behind and above that outlines shoulders and heads.
        sky, ground: hemispheric ambient for normals facing up / down.
        specular, shininess: Blinn-Phong highlight of the key light.
        fresnel: brightening at grazing angles (silhouette sheen).
    """

    key_dir: tuple[float, float, float] = _unit((-0.45, -0.65, -0.65))
    key: float = 0.78
    fill_dir: tuple[float, float, float] = _unit((0.75, -0.1, -0.65))
    fill: float = 0.32
    rim_dir: tuple[float, float, float] = _unit((0.2, -0.55, 0.8))
    rim: float = 0.35
    sky: float = 0.30
    ground: float = 0.14
    specular: float = 0.18
    shininess: float = 32.0
    fresnel: float = 0.22


DEFAULT_LIGHTING = Lighting()


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted smooth vertex normals.

    Args:
        verts: (B, V, 3) or (V, 3) vertices (any frame).
        faces: (F, 3) int64.

    Returns:
        Unit normals, same shape and dtype as ``verts`` (outward for counter-clockwise faces;
        isolated vertices get zero).
    """
    squeeze = verts.ndim == 2
    v = verts.unsqueeze(0) if squeeze else verts
    bsz, n_verts, _ = v.shape
    faces = faces.to(device=v.device, dtype=torch.int64)
    flat = v.reshape(-1, 3)
    offs = (torch.arange(bsz, device=v.device) * n_verts).view(bsz, 1, 1)
    idx = (faces.unsqueeze(0) + offs).reshape(-1)  # (B * F * 3,)
    tri = flat.index_select(0, idx).view(-1, 3, 3)
    face_n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)  # |n| = 2 area
    acc = torch.zeros_like(flat).index_add_(0, idx, face_n.repeat_interleave(3, dim=0))
    out = _normalize(acc).view(bsz, n_verts, 3)
    return out[0] if squeeze else out


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """Unit vectors along the last axis (zero stays zero)."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True).clamp_min(1e-24))


def _to_linear(c: torch.Tensor) -> torch.Tensor:
    """sRGB-ish -> linear light with gamma 2 (close to 2.2, and a square instead of a power)."""
    c = c.clamp(0.0, 1.0)
    return c * c


def _to_srgb(c: torch.Tensor) -> torch.Tensor:
    return c.clamp(0.0, 1.0).sqrt()


def shade(
    normals: torch.Tensor,
    points_cam: torch.Tensor,
    albedo: torch.Tensor,
    lighting: Lighting = DEFAULT_LIGHTING,
) -> torch.Tensor:
    """Shade surface samples.

    Args:
        normals: (N, 3) surface normals (need not be unit), camera frame. Normals facing away from
            the viewer are flipped (two-sided lighting, so open meshes and inner faces look right).
        points_cam: (N, 3) surface points in the camera frame (metres), for the view direction.
        albedo: (N, 3) or (3,) sRGB base colour in [0, 1].
        lighting: the light rig.

    Returns:
        (N, 3) sRGB colour in [0, 1].
    """
    dtype, device = normals.dtype, normals.device
    n = _normalize(normals)
    view = _normalize(-points_cam)  # towards the camera
    ndv = (n * view).sum(-1)
    n = n * torch.where(ndv < 0, -1.0, 1.0).to(dtype)[:, None]
    grazing = 1.0 - ndv.abs()
    base = _to_linear(albedo.to(dtype))
    dirs = torch.tensor(
        [lighting.key_dir, lighting.fill_dir, lighting.rim_dir], dtype=dtype, device=device
    )
    cosines = (n @ dirs.T).clamp(min=0.0)  # (N, 3): key, fill, rim
    diffuse = lighting.key * cosines[:, 0] + lighting.fill * cosines[:, 1]
    up = -n[:, 1]  # camera y points down
    ambient = lighting.ground + (lighting.sky - lighting.ground) * 0.5 * (1.0 + up)
    rim = lighting.rim * cosines[:, 2] * grazing * grazing.sqrt()
    half = _normalize(dirs[0] + view)
    spec = lighting.specular * (n * half).sum(-1).clamp(min=0.0).pow(lighting.shininess)
    sheen = lighting.fresnel * grazing * grazing * grazing
    color = torch.addcmul((0.9 * (spec + rim + sheen))[:, None], base, (ambient + diffuse)[:, None])
    # a gentle tone curve keeps highlights from clipping.
    color = color / (1.0 + 0.25 * color)
    return _to_srgb(color * 1.25)
