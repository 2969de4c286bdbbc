"""Overlays of ``ehps infer --render`` and ``ehps demo``: every person's mesh drawn over the frame
in its own camera, coloured by track id (or detection order), with labelled boxes, optionally
beside a side view."""

from __future__ import annotations

import numpy as np

from ehps.geometry.camera import Intrinsics
from ehps.structures import FrameResult

__all__ = ["render_frame", "OVERLAY_MAX_SIDE"]

#: Longest side of overlay images (larger frames are drawn downscaled).
OVERLAY_MAX_SIDE = 1600


def render_frame(
    image: np.ndarray,
    result: FrameResult,
    faces: np.ndarray | None,
    side_view: bool = False,
    backend: str = "auto",
    boxes: bool = True,
    alpha: float = 0.85,
) -> np.ndarray:
    """Overlay of every person's mesh (own camera, colour by track id) with labelled boxes.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        result: its people (meshes in each person's camera, ``vertices_cam``).
        faces: (F, 3) triangles of the body model, or ``None`` (boxes only).
        side_view: add a side-view panel (the output is twice as wide).
        backend: rasteriser (``auto``, ``torch``, ``moderngl``).
        boxes: draw boxes labelled with track ids (or detection order).
        alpha: mesh opacity in [0, 1].

    Returns:
        (h, w, 3) or (h, 2w, 3) uint8, downscaled to at most :data:`OVERLAY_MAX_SIDE` pixels.
    """
    import cv2

    from ehps.render import color_for_index, draw_boxes, render_overlay

    h, w = image.shape[:2]
    scale = min(1.0, OVERLAY_MAX_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
    people = [p for p in result.people if p.vertices_cam.shape[0]]
    ids = [p.track_id if p.track_id is not None else i for i, p in enumerate(people)]
    colors = [color_for_index(int(i)) for i in ids]
    cams = [Intrinsics(p.intrinsics.fx * scale, p.intrinsics.fy * scale,
                       p.intrinsics.cx * scale, p.intrinsics.cy * scale) for p in people]
    meshes = [(p.vertices_cam, faces) for p in people] if faces is not None else []
    out = render_overlay(image, meshes, cams if meshes else result.intrinsics,
                         colors=colors if meshes else None, side_view=side_view, backend=backend,
                         alpha=alpha)
    if boxes and result.people:
        labels = [f"id {p.track_id}" if p.track_id is not None else f"#{i}"
                  for i, p in enumerate(result.people)]
        box_ids = [p.track_id if p.track_id is not None else i
                   for i, p in enumerate(result.people)]
        panel = draw_boxes(np.ascontiguousarray(out[:, : image.shape[1]]),
                           np.asarray([p.bbox_xywh for p in result.people]) * scale,
                           colors=[color_for_index(int(i)) for i in box_ids], labels=labels)
        out = np.concatenate([panel, out[:, image.shape[1]:]], axis=1) if side_view else panel
    return out
