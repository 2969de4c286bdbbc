"""A synthetic video with 3D truth for the video benchmarks: people of the body model (Anny by
default) walking in place while drifting across the view, dressed-looking and shaded
(:func:`ehps.fitting.synthetic_eval.clothing_colors`), over a still background, written with PyAV.

Each person ``i`` has its own phenotype and clothing, walks with a gait of period
:attr:`WalkSpec.period_s` (hips, knees, shoulders and elbows swing), turns slowly (yaw), and
drifts sideways at :attr:`WalkSpec.speed_mps`. The truth is each person's 55 skeleton joints in
the camera frame (metres) per frame; the benchmark matches the pipeline's people to it by the
projected pelvis (:func:`match_people`) or, better when one walker hides the other, by all
projected body joints (:func:`match_people_joints`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ehps.geometry.camera import Intrinsics

__all__ = ["WalkSpec", "SyntheticWalk", "render_walk", "match_people", "match_people_joints",
           "project"]


@dataclass(frozen=True)
class WalkSpec:
    """What :func:`render_walk` renders.

    Attributes:
        frames: number of frames; fps: frames per second.
        size: (width, height) pixels.
        people: number of walkers (spread over the width, at depths 3-4.5 m).
        period_s: gait period, seconds; speed_mps: sideways drift, metres per second.
        seed: random phenotypes, clothing and background.
    """

    frames: int = 40
    fps: float = 25.0
    size: tuple[int, int] = (640, 480)
    people: int = 2
    period_s: float = 1.1
    speed_mps: float = 0.5
    seed: int = 0


@dataclass
class SyntheticWalk:
    """A rendered walk: the video file, its camera, and per frame the truth.

    Attributes:
        path: the video (lossless FFV1 in Matroska when available).
        intrinsics: the render camera.
        joints_cam: (T, P, 55, 3) camera-frame joints of every person, metres.
        spec: what was rendered.
    """

    path: Path
    intrinsics: Intrinsics
    joints_cam: np.ndarray
    spec: WalkSpec = field(default_factory=WalkSpec)


def _walk_params(spec: WalkSpec, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Body-model keywords of every (frame, person), batch = T * P (frame-major)."""
    from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_aa

    t_n, p_n = spec.frames, spec.people
    phen = torch.from_numpy(rng.uniform(0.3, 0.7, (p_n, 6)).astype(np.float32))
    phase0 = rng.uniform(0, 2 * math.pi, p_n)
    orient, body, transl, pheno = [], [], [], []
    flip = torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # y down, facing the camera
    for f in range(t_n):
        t = f / spec.fps
        for i in range(p_n):
            ph = 2 * math.pi * t / spec.period_s + phase0[i]
            s = math.sin(ph)
            pose = torch.zeros(21, 3)
            pose[0, 0], pose[1, 0] = 0.45 * s, -0.45 * s  # hips (flexion)
            pose[3, 0] = 0.5 * max(0.0, -s) + 0.1  # knees bend on the back swing
            pose[4, 0] = 0.5 * max(0.0, s) + 0.1
            pose[15, 2], pose[16, 2] = -1.2, 1.2  # arms down
            pose[15, 1], pose[16, 1] = 0.35 * s, 0.35 * s  # arm swing
            pose[17, 1], pose[18, 1] = -0.3, 0.3  # elbows
            yaw = 0.5 * math.sin(2 * math.pi * t / 4.0 + i) + (0.4 if i % 2 else -0.4)
            rot = flip @ aa_to_rotmat(torch.tensor([0.0, yaw, 0.0]))
            x0 = (i + 0.5) / p_n * 2.4 - 1.2
            direction = 1.0 if i % 2 == 0 else -1.0
            orient.append(rotmat_to_aa(rot))
            body.append(pose)
            transl.append(torch.tensor([x0 + direction * spec.speed_mps * t, -0.15,
                                        3.0 + 1.5 * i / max(1, p_n - 1)]))
            pheno.append(phen[i])
    return {"global_orient": torch.stack(orient).float(), "body_pose": torch.stack(body),
            "transl": torch.stack(transl).float(), "phenotype": torch.stack(pheno)}


def render_walk(folder: Path, body_model: Any, spec: WalkSpec | None = None) -> SyntheticWalk:
    """Render the walk into ``folder/walk.mkv`` (module docstring); about 3 s per frame on
    this CPU, so callers cache the result.

    Args:
        folder: where the video goes (created).
        body_model: the body model (its ``forward`` takes ``global_orient``, ``body_pose``,
            ``transl``, ``phenotype``; Anny).
        spec: what to render.
    """
    import av

    from ehps.fitting.synthetic_eval import clothing_colors, make_background
    from ehps.render import render_mesh_image

    spec = spec or WalkSpec()
    rng = np.random.default_rng(spec.seed)
    w, h = spec.size
    k = Intrinsics.from_image_size(w, h)
    params = _walk_params(spec, rng)
    with torch.no_grad():
        out = body_model(**params)
        rest = body_model(phenotype=params["phenotype"][: spec.people])
    verts = out.vertices.numpy().reshape(spec.frames, spec.people, -1, 3)
    joints = out.joints[:, :55].numpy().reshape(spec.frames, spec.people, 55, 3)
    colors = [clothing_colors(body_model, rng, _row(rest, i)) for i in range(spec.people)]
    bg, kind = make_background(rng, (h, w))
    while kind == "photo":  # the bundled photos show real people: extra detections
        bg, kind = make_background(rng, (h, w))
    faces = body_model.faces.numpy()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "walk.mkv"
    container = av.open(str(path), "w")
    codec = "ffv1" if "ffv1" in av.codecs_available else "mpeg4"
    stream = container.add_stream(codec, rate=int(round(spec.fps)))
    stream.width, stream.height = w, h
    stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
    for f in range(spec.frames):
        order = np.argsort(-verts[f, :, :, 2].mean(1))  # far first
        rgb, *_ = render_mesh_image([verts[f, i] for i in order], faces, k, (h, w),
                                    background=bg, color=[colors[i] for i in order], ssaa=1)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return SyntheticWalk(path, k, joints.astype(np.float32), spec)


def _row(output: Any, i: int) -> Any:
    """Person ``i`` of a batched body-model output (what :func:`clothing_colors` takes)."""
    from dataclasses import replace

    return replace(output, vertices=output.vertices[i : i + 1], joints=output.joints[i : i + 1])


def match_people(boxes_xywh: np.ndarray, joints_true: np.ndarray, k: Intrinsics) -> list[int]:
    """For each true person (``joints_true`` (P, 55, 3) camera metres), the index of the box
    (N, 4) pixels that contains its projected pelvis, nearest box centre first; -1 when none."""
    out = []
    for j in joints_true:
        uv = j[0, :2] / j[0, 2] * np.array(k.focal) + np.array(k.princpt)
        best, best_d = -1, np.inf
        for n, (x, y, bw, bh) in enumerate(np.asarray(boxes_xywh).reshape(-1, 4)):
            if x <= uv[0] <= x + bw and y <= uv[1] <= y + bh:
                d = float(np.hypot(x + bw / 2 - uv[0], y + bh / 2 - uv[1]))
                if d < best_d:
                    best, best_d = n, d
        out.append(best)
    return out


def project(joints_cam: np.ndarray, k: Intrinsics) -> np.ndarray:
    """(..., J, 3) camera-frame points (metres) -> (..., J, 2) pixels (depth clamped at 1 cm)."""
    z = np.maximum(joints_cam[..., 2:3], 1e-2)
    return joints_cam[..., :2] / z * np.array(k.focal) + np.array(k.princpt)


def match_people_joints(joints_est_cam: np.ndarray, k_est: Intrinsics, joints_true: np.ndarray,
                        k: Intrinsics, joints: int = 22, gate: float = 0.25) -> list[int]:
    """For each true person, the index of the estimate whose projected body joints lie
    nearest to its own, one estimate per true person (Hungarian); -1 when none is near.

    The cost of a pair is the median over the first ``joints`` skeleton joints of the pixel
    distance between the true joint and the estimated one, both projected into the image,
    divided by the true person's projected height. The median ignores the joints a nearer
    person hides (the estimate of a half-hidden person is wrong there; its visible half still
    matches), unlike a pelvis-in-box test, which gives both people to the front person's box
    once their pelvises overlap. Pairs costing more than ``gate`` are not matched.

    Args:
        joints_est_cam: (N, >=joints, 3) estimated joints, camera frame of ``k_est``, metres.
        k_est: the estimates' camera.
        joints_true: (P, >=joints, 3) true joints, camera frame of ``k``, metres.
        k: the true camera.
        joints: how many leading joints to compare (22: the body).
        gate: largest accepted cost (fraction of the true person's height).

    Returns:
        P indices into the estimates (or -1).
    """
    from scipy.optimize import linear_sum_assignment

    p_n = len(joints_true)
    est = np.asarray(joints_est_cam, np.float64).reshape(-1, *np.shape(joints_est_cam)[1:])
    if est.shape[0] == 0 or p_n == 0:
        return [-1] * p_n
    uv_true = project(np.asarray(joints_true, np.float64)[:, :joints], k)  # (P, J, 2)
    uv_est = project(est[:, :joints], k_est)  # (N, J, 2)
    height = np.ptp(uv_true[..., 1], axis=1).clip(min=1.0)  # (P,)
    dist = np.linalg.norm(uv_true[:, None] - uv_est[None], axis=-1)  # (P, N, J)
    cost = np.median(dist, axis=-1) / height[:, None]
    rows, cols = linear_sum_assignment(cost)
    out = [-1] * p_n
    for r, c in zip(rows, cols):
        if cost[r, c] <= gate:
            out[int(r)] = int(c)
    return out
