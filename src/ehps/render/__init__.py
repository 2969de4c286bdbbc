"""Mesh rendering: a vectorised pure-torch rasteriser (optional moderngl back-end), studio-style
shading, overlays on photos with side / turntable views, and synthetic renders with exact masks
and depth. See :mod:`ehps.render.rasterizer` for the camera and pixel conventions."""

from __future__ import annotations

from ehps.render.backends import available_backends, resolve_backend
from ehps.render.draw import draw_boxes, draw_keypoints
from ehps.render.frame import person_colors, render_frame
from ehps.render.overlay import (
    neutral_background,
    render_mesh_image,
    render_overlay,
    render_turntable,
    render_view,
)
from ehps.render.rasterizer import (
    Fragments,
    SparseFragments,
    interpolate,
    project_to_screen,
    rasterize,
    rasterize_screen,
    rasterize_sparse,
)
from ehps.render.shading import PERSON_COLORS, Lighting, color_for_index, vertex_normals

__all__ = [
    "Fragments",
    "rasterize",
    "rasterize_screen",
    "project_to_screen",
    "interpolate",
    "SparseFragments",
    "rasterize_sparse",
    "render_overlay",
    "render_frame",
    "person_colors",
    "render_view",
    "render_turntable",
    "render_mesh_image",
    "neutral_background",
    "draw_boxes",
    "draw_keypoints",
    "Lighting",
    "PERSON_COLORS",
    "color_for_index",
    "vertex_normals",
    "available_backends",
    "resolve_backend",
]
