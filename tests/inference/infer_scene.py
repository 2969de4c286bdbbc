"""A synthetic video with known identities for the inference tests.

Three synthetic SMPL-X bodies walk through a small (160x120) camera view for 100 frames:

- person 0 walks left -> right at 4.5 m for the whole video;
- person 1 walks right -> left at 6 m and crosses person 0 (behind it) around frame 50, and is
  not given for frames 60-62 (a detection gap the tracker must bridge);
- person 2 enters from the left edge at frame 30 at 3.5 m, walks in and back out through the
  left edge, and is gone from frame 80 on.

Each frame is rendered with the project's rasteriser and encoded with PyAV; the person boxes
(tight boxes of the projected vertices, clipped to the image) are written to a boxes JSON file in
a shuffled order per frame, while the test keeps the true identity of every box.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ehps.geometry.camera import Intrinsics

WIDTH, HEIGHT, FPS, FRAMES = 160, 120, 10, 100
GAP = range(60, 63)


@dataclass
class SyntheticVideo:
    path: Path
    boxes_json: Path
    boxes: dict[int, list[tuple[int, np.ndarray]]]  # frame -> [(identity, xywh box)]
    intrinsics: Intrinsics


def _trajectories(f: int) -> dict[int, tuple[float, float, float]]:
    """identity -> (x, z, yaw) in the camera frame at frame ``f`` (people present only)."""
    out = {0: (-1.6 + 3.2 * f / (FRAMES - 1), 4.5, 0.5)}
    out[1] = (2.0 - 4.0 * f / (FRAMES - 1), 6.0, -0.5)
    if 30 <= f < 80:
        t = (f - 30) / 49.0
        out[2] = (-1.7 + 1.4 * np.sin(np.pi * t), 3.5, 0.3)
    return out


def _posed_all(model: torch.nn.Module) -> dict[tuple[int, int], np.ndarray]:
    """(identity, frame) -> (V, 3) camera-frame vertices of every present person (one batch)."""
    from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_aa

    keys, orient, body, betas, transl = [], [], [], [], []
    for f in range(FRAMES):
        for identity, (x, z, yaw) in _trajectories(f).items():
            swing = 0.4 * np.sin(2 * np.pi * f / 12 + identity)
            pose = torch.zeros(21, 3)
            pose[0, 0], pose[1, 0] = swing, -swing  # hips
            pose[15, 2], pose[16, 2] = -1.2, 1.2  # shoulders down
            # upright in the camera frame (y down, facing the camera), turned by yaw
            rot = aa_to_rotmat(torch.tensor([0.0, yaw, 0.0])) @ aa_to_rotmat(
                torch.tensor([np.pi, 0.0, 0.0]))
            keys.append((identity, f))
            orient.append(rotmat_to_aa(rot))
            body.append(pose)
            b = torch.zeros(10)
            b[0] = 0.5 * (identity - 1)
            betas.append(b)
            transl.append(torch.tensor([x, 0.0, z]))
    with torch.no_grad():
        out = model(global_orient=torch.stack(orient).float(), body_pose=torch.stack(body),
                    betas=torch.stack(betas), transl=torch.stack(transl).float())
    verts = out.vertices.numpy()
    return {key: verts[i] for i, key in enumerate(keys)}


def make_synthetic_video(folder: Path, smplx_dir: Path) -> SyntheticVideo:
    """Render the video and its boxes file into ``folder`` (see the module docstring)."""
    import av

    from ehps.bodymodels.smplx import load_smplx
    from ehps.render import render_mesh_image

    model = load_smplx(smplx_dir)
    # a sixth of the triangles and only their vertices: cheap to render, still a body
    faces = model.faces.numpy()[::6]
    keep, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    k = Intrinsics.from_image_size(WIDTH, HEIGHT)
    kmat = k.matrix()
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "walkers.mp4"
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=FPS)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    boxes: dict[int, list[tuple[int, np.ndarray]]] = {}
    table: dict[str, list[list[float]]] = {}
    colors = [(0.9, 0.3, 0.3), (0.3, 0.5, 0.9), (0.3, 0.8, 0.4)]
    posed = _posed_all(model)
    for f in range(FRAMES):
        verts, cols, present = [], [], []
        for identity in _trajectories(f):
            v = posed[(identity, f)]
            uv = (v @ kmat.T)[:, :2] / v[:, 2:3]  # the box: every vertex
            x0, y0 = np.clip(uv.min(0), 0, [WIDTH - 1, HEIGHT - 1])
            x1, y1 = np.clip(uv.max(0), 0, [WIDTH - 1, HEIGHT - 1])
            verts.append(v[keep])
            cols.append(colors[identity])
            if x1 - x0 >= 4 and y1 - y0 >= 4 and not (identity == 1 and f in GAP):
                present.append((identity, np.array([x0, y0, x1 - x0, y1 - y0], np.float32)))
        rgb, *_ = render_mesh_image(verts, faces, k, (HEIGHT, WIDTH), background=(0.5, 0.5, 0.5),
                                    color=cols)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        order = rng.permutation(len(present))
        boxes[f] = [present[i] for i in order]
        table[f"walkers.mp4#{f}"] = [[float(c) for c in present[i][1]] for i in order]
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    boxes_json = folder / "walkers_boxes.json"
    boxes_json.write_text(json.dumps({"format": "xywh", "boxes": table}))
    return SyntheticVideo(path, boxes_json, boxes, k)


def write_video(path: Path, frames: list[np.ndarray], codec: str, fps: int = 10,
                corrupt: set[int] = frozenset()) -> None:
    """Encode ``frames``; packets whose pts is in ``corrupt`` get random bytes instead."""
    import av

    rng = np.random.default_rng(0)
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=fps)
    h, w = frames[0].shape[:2]
    stream.width, stream.height = w, h
    stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
    stream.codec_context.gop_size = 1  # every frame a key frame: one broken frame stays local

    def mux(packet):
        if packet.pts in corrupt:
            data = rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes()
            bad = av.Packet(data)
            bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
            bad.stream = stream
            packet = bad
        container.mux(packet)

    for img in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            mux(packet)
    for packet in stream.encode():
        mux(packet)
    container.close()
