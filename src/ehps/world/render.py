"""Rendering a :class:`~ehps.world.synthetic.SyntheticScene` into a video that the estimator can
read: the walkers' meshes (clothing colours painted from the rest pose: skin, shirt, trousers,
shoes) standing on a chequered floor, seen by the scene's camera, with the project's torch
rasteriser (:func:`ehps.render.render_mesh_image`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ehps.world.synthetic import SyntheticScene

__all__ = ["clothing_colors", "floor_mesh", "render_scene_frames", "write_scene_video"]

_SKIN = (0.80, 0.62, 0.50)
_SHOES = (0.12, 0.12, 0.14)


def clothing_colors(bm: Any, shape: dict[str, np.ndarray], shirt: tuple[float, float, float],
                    trousers: tuple[float, float, float]) -> np.ndarray:
    """(V, 3) per-vertex colours from the rest pose: skin above the neck and below the elbows,
    a shirt on the trunk and upper arms, trousers on the legs, shoes below the ankles."""
    inp = {"global_orient": torch.zeros(1, 3),
           **{k: torch.as_tensor(np.asarray(v, np.float32).reshape(1, -1)) for k, v in
              shape.items()}}
    with torch.inference_mode():
        out = bm(**inp)
    v = out.vertices[0].double().numpy()
    j = out.joints[0, :55].double().numpy()
    col = np.empty_like(v)
    col[:] = shirt
    col[v[:, 1] > j[12, 1]] = _SKIN  # above the neck
    elbow_x = abs(j[18, 0])
    col[np.abs(v[:, 0]) > elbow_x] = _SKIN  # forearms and hands (T-pose: arms along x)
    legs = v[:, 1] < j[0, 1] - 0.02
    col[legs] = trousers
    col[v[:, 1] < max(j[7, 1], j[8, 1]) + 0.01] = _SHOES
    return col.astype(np.float32)


def floor_mesh(scene: SyntheticScene, half: float = 8.0, cell: float = 0.5
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A chequered floor ``y = 0`` (world) around the origin, in camera coordinates: vertices
    (N, 3), faces (M, 3), per-vertex colours (N, 3) (each cell has its own four vertices)."""
    n = int(2 * half / cell)
    verts, faces, cols = [], [], []
    for i in range(n):
        for k in range(n):
            x0, z0 = -half + i * cell, -half + k * cell
            base = len(verts)
            verts += [[x0, 0, z0], [x0 + cell, 0, z0], [x0 + cell, 0, z0 + cell],
                      [x0, 0, z0 + cell]]
            faces += [[base, base + 2, base + 1], [base, base + 3, base + 2]]
            c = 0.62 if (i + k) % 2 else 0.48
            cols += [[c, c, c * 0.95]] * 4
    v = np.asarray(verts, np.float64)
    cam = scene.camera_from_world
    return (v @ cam[:3, :3].T + cam[:3, 3]), np.asarray(faces, np.int64), np.asarray(cols)


def render_scene_frames(scene: SyntheticScene, bm: Any, shape: dict[str, np.ndarray]
                        ) -> list[np.ndarray]:
    """(H, W, 3) uint8 frames of the scene."""
    from ehps.render import render_mesh_image

    palette = [((0.20, 0.35, 0.70), (0.25, 0.25, 0.30)), ((0.75, 0.25, 0.20), (0.30, 0.35, 0.45)),
               ((0.20, 0.55, 0.30), (0.35, 0.30, 0.25))]
    colors = [clothing_colors(bm, shape, *palette[k % 3]) for k in range(len(scene.walkers))]
    fv, ff, fc = floor_mesh(scene)
    faces = bm.faces.numpy()
    cam = scene.camera_from_world
    n_t = len(scene.walkers[0].joints)
    frames = []
    for t in range(n_t):
        meshes, fcs, cols = [fv], [ff], [fc]
        for k, w in enumerate(scene.walkers):
            inp = {key: torch.as_tensor(np.asarray(val[t:t + 1], np.float32)).reshape(1, -1)
                   for key, val in w.params.items()}
            with torch.inference_mode():
                verts = bm(**inp).vertices[0].double().numpy()
            meshes.append(verts @ cam[:3, :3].T + cam[:3, 3])
            fcs.append(faces)
            cols.append(colors[k])
        rgb, _, _ = render_mesh_image(meshes, fcs, scene.intrinsics, scene.image_hw,
                                      background=(0.55, 0.62, 0.70), color=cols, ssaa=1)
        frames.append(rgb)
    return frames


def write_scene_video(scene: SyntheticScene, bm: Any, shape: dict[str, np.ndarray],
                      path: str | Path) -> Path:
    """Render the scene and write it as an MP4 at the scene's frame rate."""
    from ehps.io.video import VideoEncoder

    enc = VideoEncoder(Path(path), scene.fps)
    try:
        for frame in render_scene_frames(scene, bm, shape):
            enc.write(frame)
    except BaseException:
        enc.abort()
        raise
    out = enc.close()
    assert out is not None
    return out
