"""Render a whole :class:`~ehps.structures.FrameResult` (every person of one image or video frame)
over its image: the one call the demo, ``ehps infer --render`` and video writers need."""

from __future__ import annotations

import numpy as np

from ehps.errors import InputError
from ehps.render.draw import draw_boxes
from ehps.render.overlay import render_overlay
from ehps.render.shading import DEFAULT_LIGHTING, Lighting, color_for_index
from ehps.structures import FrameResult

__all__ = ["render_frame", "person_colors"]


def person_colors(frame: FrameResult) -> list[tuple[float, float, float]]:
    """One colour per person: by track id when tracked (stable across a video), else by order."""
    return [
        color_for_index(p.track_id if p.track_id is not None and p.track_id >= 0 else i)
        for i, p in enumerate(frame.people)
    ]


def render_frame(
    image_rgb: np.ndarray,
    frame: FrameResult,
    *,
    alpha: float = 0.85,
    side_view: bool = False,
    shared_camera: bool | None = None,
    boxes: bool = False,
    backend: str = "auto",
    ssaa: int = 2,
    lighting: Lighting = DEFAULT_LIGHTING,
) -> np.ndarray:
    """Overlay every person's mesh of ``frame`` on ``image_rgb``.

    Args:
        image_rgb: (H, W, 3) uint8 RGB image the frame was computed on.
        frame: the estimates; ``frame.faces`` must be set when it has people.
        alpha, side_view, backend, ssaa, lighting: as in :func:`~ehps.render.render_overlay`.
        shared_camera: render everyone in the frame's shared camera (``vertices_full()`` with
            ``frame.intrinsics``; one consistent 3D scene) instead of each person's own camera.
            Default: shared when every person has ``transl_full``.
        boxes: also draw each person's detection box, labelled with the track id when tracked.

    Returns:
        (H, W, 3) uint8, or (H, 2W, 3) with ``side_view``.
    """
    if not frame.people:
        return render_overlay(image_rgb, [], frame.intrinsics, side_view=side_view)
    if frame.faces is None:
        raise InputError("frame.faces is None: set the body model's faces on the FrameResult")
    if shared_camera is None:
        shared_camera = all(p.transl_full is not None for p in frame.people)
    if shared_camera:
        meshes = [(p.vertices_full(), frame.faces) for p in frame.people]
        cams: object = frame.intrinsics
    else:
        meshes = [(p.vertices_cam, frame.faces) for p in frame.people]
        cams = [p.intrinsics for p in frame.people]
    colors = person_colors(frame)
    out = render_overlay(
        image_rgb, meshes, cams, colors=colors, alpha=alpha,  # type: ignore[arg-type]
        side_view=side_view, backend=backend, ssaa=ssaa, lighting=lighting,
    )
    if boxes:
        w = image_rgb.shape[1]
        labels = [
            f"id {p.track_id}" if p.track_id is not None else f"{p.score:.2f}" for p in frame.people
        ]
        main = draw_boxes(
            np.ascontiguousarray(out[:, :w]), [p.bbox_xywh for p in frame.people], colors, labels
        )
        out = np.concatenate([main, out[:, w:]], axis=1) if side_view else main
    return out
