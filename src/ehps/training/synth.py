"""Synthetic training data: render an SMPL-X body in random plausible poses and write the images
plus HumanData with full ground truth (``ehps synth``).

Each sample is a person-centred crop rendered directly at the network input size (512x384 by
default) with the official virtual crop camera (focal 10000 px and principal point (192, 256) on
the 384x512 crop, i.e. focal 5000 / principal point (96, 128) on the 192x256 body input,
official-spec a.5), so the stored ``transl`` *is* the ``cam_trans`` the networks regress when the
crop is not augmented. Ground truth per row (HumanData, flat layout, see
:func:`ehps.data.write_humandata`):

- ``smplx``: ``global_orient`` (camera frame), ``body_pose``, ``left/right_hand_pose``
  (``flat_hand_mean=False``, i.e. relative to the model's mean hand, as the official labels),
  ``jaw_pose``, ``leye/reye_pose`` (zero), ``betas``, ``expression``, ``transl`` (metres);
- ``keypoints3d_cam`` (the 144 SMPL-X joints, camera frame, metres) and ``keypoints2d`` (their
  projections, pixels), all valid;
- ``bbox_xywh`` (the tight person box padded by 1.2, the HumanData convention), hand and face
  boxes (tight boxes of their keypoints, confidence 0 when outside the image);
- ``meta``: ``height``, ``width``, ``focal_length``, ``principal_point``.

Sampling: body joints uniformly within a fraction (``pose_scale``) of the fitting engine's joint
limits (:mod:`ehps.fitting.priors`) around a relaxed A-pose, fingers within their limits (flat-hand
convention, converted to the official one), jaw within its limits, small random betas and
expression, a camera-facing root with random yaw / pitch / roll. Backgrounds: the bundled photos
(random crops, tinted), smooth noise, colour gradients and stripes. Appearance: per-vertex colours
by body part from the rest-pose skinning weights (skin, shirt, trousers, shoes) plus front / back
cues (hair, eyes, lips, a shirt placket; see :func:`part_vertex_colors`).

With ``mode="hand"`` the camera frames one hand instead (a SynHand-style close-up set): the crop
box is the hand's padded box, the body box stored in ``bbox_xywh`` is that crop, and everything
outside the crop is simply truncated.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ehps.data.humandata_conventions import HUMANDATA_BOX_PADDING
from ehps.data.humandata_writer import keypoints_to_human_data, write_humandata
from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.geometry.crop import process_bbox
from ehps.utils.progress import progress_bar

__all__ = [
    "SynthConfig",
    "sample_smplx_params",
    "random_background",
    "part_vertex_colors",
    "place_in_crop",
    "generate_synthetic_dataset",
    "SYNTH_FOCAL_SCALE",
]

log = logging.getLogger(__name__)

#: Focal of the official crop camera per pixel of crop height (10000 px on a 512-high crop).
SYNTH_FOCAL_SCALE: float = 10000.0 / 512.0

_HANDS_144 = {
    "left": [20, *range(25, 40), *range(66, 71)],
    "right": [21, *range(40, 55), *range(71, 76)],
}
_FACE_144 = [15, 22, 23, 24, *range(76, 144)]
# joints whose skinning weights mark "skin" (head, hands) / "trousers" (legs, feet)
_SKIN_JOINTS = {12, 15, 22, 23, 24, *range(25, 55)}
_LEG_JOINTS = {1, 2, 4, 5, 7, 8, 10, 11}


@dataclass
class SynthConfig:
    """Options of the synthetic generator.

    Attributes:
        num_samples: rows (one person each).
        seed: base seed; sample ``i`` is a pure function of ``(seed, i)``.
        image_hw: rendered image size (height, width); the official crop is (512, 384).
        mode: ``"body"`` (whole-body crops) or ``"hand"`` (close-up hands, SynHand-style).
        pose_scale: fraction of each body joint's limit interval that is sampled.
        hand_pose_scale: the same for the finger joints.
        yaw_deg, pitch_deg, roll_deg: half-ranges of the root rotation about the camera's
            vertical, horizontal and viewing axes (0 yaw = facing the camera).
        betas_std, expression_std: standard deviations of shape / expression (clipped at 2.5 std).
        box_fill: (lo, hi) fraction of the image height the padded person box fills.
        center_jitter: maximum shift of the box centre, as a fraction of the image size.
        jpeg_quality: quality of the written JPEG images.
        photo_prob: probability of a photo background (else procedural).
    """

    num_samples: int = 1000
    seed: int = 0
    image_hw: tuple[int, int] = (512, 384)
    mode: Literal["body", "hand"] = "body"
    pose_scale: float = 0.5
    hand_pose_scale: float = 0.6
    yaw_deg: float = 90.0
    pitch_deg: float = 15.0
    roll_deg: float = 15.0
    betas_std: float = 1.0
    expression_std: float = 0.8
    box_fill: tuple[float, float] = (0.85, 1.0)
    center_jitter: float = 0.05
    jpeg_quality: int = 92
    photo_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise InputError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.mode not in ("body", "hand"):
            raise InputError(f"mode must be 'body' or 'hand', got {self.mode!r}")
        if not 0.0 <= self.pose_scale <= 1.0 or not 0.0 <= self.hand_pose_scale <= 1.0:
            raise InputError("pose_scale and hand_pose_scale must lie in [0, 1]")


def _limits_sample(rng: np.random.Generator, limits: np.ndarray, scale: float,
                   offset: np.ndarray | None = None) -> np.ndarray:
    """Uniform samples in ``offset + scale * [lo, hi]``, clipped to ``[lo, hi]`` ((J, 3))."""
    lo, hi = limits[..., 0].astype(np.float64), limits[..., 1].astype(np.float64)
    base = np.zeros_like(lo) if offset is None else offset
    x = base + scale * (lo + (hi - lo) * rng.random(lo.shape))
    return np.clip(x, lo, hi)


def sample_smplx_params(
    rng: np.random.Generator, cfg: SynthConfig, hand_mean: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray]:
    """One random SMPL-X parameter set (official conventions; see the module docstring).

    Args:
        rng: the sample's generator.
        cfg: sampling ranges.
        hand_mean: the body model's (15, 3) left / right mean hand poses (axis-angle), used to
            convert the flat-hand samples into the official ``flat_hand_mean=False`` labels.

    Returns:
        float32 arrays: global_orient (3,), body_pose (21, 3), left/right_hand_pose (15, 3),
        jaw_pose (3,), leye_pose / reye_pose (3,), betas (10,), expression (10,).
    """
    from ehps.fitting.priors import JAW_LIMITS_DEG, body_limits, hand_limits

    blim = body_limits()
    offset = np.zeros((21, 3))
    offset[15, 2], offset[16, 2] = -0.9, 0.9  # shoulders: arms lowered (relaxed A-pose)
    body = _limits_sample(rng, blim, cfg.pose_scale, offset)
    hands = [
        _limits_sample(rng, hand_limits(side), cfg.hand_pose_scale) - mean
        for side, mean in (("left", hand_mean[0]), ("right", hand_mean[1]))
    ]
    jaw = _limits_sample(rng, np.radians(np.asarray(JAW_LIMITS_DEG))[None], 1.0)[0]
    yaw, pitch, roll = (math.radians(d) * rng.uniform(-1.0, 1.0)
                        for d in (cfg.yaw_deg, cfg.pitch_deg, cfg.roll_deg))
    # model frame (y up, facing +z) -> camera frame (y down, facing the camera): Rx(pi)
    root = Rotation.from_euler("yxz", [yaw, pitch, roll]) * Rotation.from_rotvec([math.pi, 0, 0])
    betas = np.clip(rng.normal(0.0, cfg.betas_std, 10), -2.5 * cfg.betas_std,
                    2.5 * cfg.betas_std)
    expr = np.clip(rng.normal(0.0, cfg.expression_std, 10), -2.5 * cfg.expression_std,
                   2.5 * cfg.expression_std)
    f32 = np.float32
    return {
        "global_orient": root.as_rotvec().astype(f32),
        "body_pose": body.astype(f32),
        "left_hand_pose": hands[0].astype(f32),
        "right_hand_pose": hands[1].astype(f32),
        "jaw_pose": jaw.astype(f32),
        "leye_pose": np.zeros(3, f32),
        "reye_pose": np.zeros(3, f32),
        "betas": betas.astype(f32),
        "expression": expr.astype(f32),
    }


def _bundled_photos() -> list[np.ndarray]:
    import ehps

    assets = Path(ehps.__file__).parent / "assets"
    out = []
    for name in ("basketball1.png", "basketball2.png"):
        img = cv2.imread(str(assets / name), cv2.IMREAD_COLOR)
        if img is not None:
            out.append(img[:, :, ::-1].copy())
    return out


def random_background(rng: np.random.Generator, image_hw: tuple[int, int],
                      photos: list[np.ndarray], photo_prob: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 RGB background: a tinted random crop of a photo, smooth colour noise, a
    two-colour gradient or soft stripes."""
    h, w = image_hw
    kind = rng.random()
    if photos and kind < photo_prob:
        photo = photos[int(rng.integers(len(photos)))]
        ph, pw = photo.shape[:2]
        scale = rng.uniform(0.4, 1.0)
        ch, cw = max(8, int(ph * scale)), max(8, int(ph * scale * w / h))
        cw = min(cw, pw)
        y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
        crop = cv2.resize(photo[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        tint = rng.uniform(0.6, 1.3, 3)
        return np.clip(crop.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    kind = rng.random()
    if kind < 0.4:  # smooth colour noise
        small = rng.uniform(0, 255, (int(rng.integers(2, 9)), int(rng.integers(2, 9)), 3))
        img = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    elif kind < 0.75:  # linear gradient between two colours
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        img = a * (1 - t[..., None]) + b * t[..., None]
    else:  # soft stripes
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        period = rng.uniform(12, 80)
        ang = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = 0.5 + 0.5 * np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * 2 * math.pi / period)
        img = a * (1 - t[..., None]) + b * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def part_vertex_colors(lbs_weights: np.ndarray, rng: np.random.Generator,
                       rest_vertices: np.ndarray | None = None) -> np.ndarray:
    """(V, 3) float32 albedo in [0, 1]: skin on head and hands, a shirt on the torso and arms,
    trousers on the legs (part = the joint with the largest skinning weight).

    With ``rest_vertices`` ((V, 3) rest pose, model frame: y up, facing +z) the front and the
    back of the person also look different, as real people do: hair on the back and top of the
    head, eyes (white, dark iris on the front) and lips, shoes, and a contrasting placket down
    the front of the shirt. Without such cues the facing direction (the sign of the yaw) of the
    smooth synthetic body can hardly be told from an image.
    """
    part = np.argmax(np.asarray(lbs_weights), axis=1)
    skin = np.array([0.95, 0.76, 0.62]) * rng.uniform(0.45, 1.05)
    shirt, trousers = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.8, 3)
    colors = np.empty((part.size, 3), np.float32)
    colors[:] = shirt
    colors[np.isin(part, list(_LEG_JOINTS))] = trousers
    colors[np.isin(part, list(_SKIN_JOINTS))] = np.clip(skin, 0, 1)
    if rest_vertices is None:
        return colors
    v = np.asarray(rest_vertices, np.float64)
    head = part == 15
    if head.any():
        c = v[head].mean(axis=0)
        hair = head & ((v[:, 2] < c[2] - 0.01) | (v[:, 1] > c[1] + 0.07))
        hair_colors = np.array([[0.06, 0.04, 0.03], [0.25, 0.15, 0.07], [0.75, 0.6, 0.3],
                                [0.5, 0.2, 0.08], [0.55, 0.55, 0.55]])
        colors[hair] = hair_colors[int(rng.integers(len(hair_colors)))] * rng.uniform(0.8, 1.1)
    iris = rng.uniform(0.02, 0.3, 3)
    for j in (23, 24):  # eyeballs: white, the front cap dark
        eye = part == j
        if eye.any():
            colors[eye] = (0.92, 0.92, 0.9)
            colors[eye & (v[:, 2] > v[eye, 2].max() - 0.01)] = iris
    jaw = part == 22
    if jaw.any():  # lips: the front of the jaw
        colors[jaw & (v[:, 2] > v[jaw, 2].max() - 0.02)] = (0.55, 0.18, 0.18)
    colors[np.isin(part, [7, 8, 10, 11])] = rng.uniform(0.0, 0.35, 3)  # shoes
    torso = np.isin(part, [3, 6, 9])
    if torso.any():
        zc = np.median(v[torso, 2])
        placket = torso & (v[:, 2] > zc) & (np.abs(v[:, 0]) < 0.03)
        colors[placket] = np.where(shirt > 0.5, shirt * 0.25, 0.75 + 0.25 * shirt)
    return np.clip(colors, 0.0, 1.0).astype(np.float32)


def _project(points_cam: np.ndarray, K: Intrinsics) -> np.ndarray:
    z = points_cam[..., 2:3]
    return points_cam[..., :2] / z * np.array([K.fx, K.fy]) + np.array([K.cx, K.cy])


def _tight_box(xy: np.ndarray) -> np.ndarray:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float64)


def _padded(box_xywh: np.ndarray, ratio: float = HUMANDATA_BOX_PADDING) -> np.ndarray:
    cx, cy = box_xywh[0] + box_xywh[2] / 2, box_xywh[1] + box_xywh[3] / 2
    w, h = box_xywh[2] * ratio, box_xywh[3] * ratio
    return np.array([cx - w / 2, cy - h / 2, w, h], np.float64)


def place_in_crop(
    points_model: np.ndarray, K: Intrinsics, image_hw: tuple[int, int], fill: float,
    shift_xy: tuple[float, float], z_guess: float = 40.0,
) -> np.ndarray:
    """Translation (3,) metres that puts ``points_model`` (N, 3; already rotated into the camera
    frame, no translation) so that their padded (x1.2), 3:4 box is ``fill`` x the image height,
    centred at the image centre + ``shift_xy`` pixels. Two fixed-point passes (near-orthographic
    camera: the second pass only corrects perspective)."""
    h, w = image_hw
    t = np.array([0.0, 0.0, z_guess])
    for _ in range(3):
        xy = _project(points_model + t, K)
        box = _padded(_tight_box(xy))
        proc = process_bbox(box, 10 * w, 10 * h, ratio=1.0, sanitize=False)
        assert proc is not None
        t[2] *= proc[3] / (fill * h)
        xy = _project(points_model + t, K)
        box = _padded(_tight_box(xy))
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        t[0] += (w / 2 + shift_xy[0] - cx) * t[2] / K.fx
        t[1] += (h / 2 + shift_xy[1] - cy) * t[2] / K.fy
    return t


def _part_box(xy: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(5,) tight xywh + confidence (1 if the box overlaps the image)."""
    box = _tight_box(xy)
    h, w = image_hw
    inside = box[0] < w and box[1] < h and box[0] + box[2] > 0 and box[1] + box[3] > 0
    return np.array([*box, 1.0 if inside else 0.0], np.float32)


def generate_synthetic_dataset(
    out_dir: str | os.PathLike[str],
    body_model: torch.nn.Module,
    cfg: SynthConfig,
    split: str = "train",
    progress: bool = False,
) -> Path:
    """Render ``cfg.num_samples`` people and write ``<out_dir>/annotations/<split>.npz`` (HumanData)
    plus ``<out_dir>/images/<split>/NNNNNN.jpg`` (image paths in the file are relative to
    ``out_dir``, which is therefore the data root / image root).

    Args:
        out_dir: dataset folder (created).
        body_model: an :class:`ehps.bodymodels.smplx.SMPLX` (neutral, ``flat_hand_mean=False``,
            face contour on): the same model must be used by training and evaluation.
        cfg: generator options.
        split: name of the split (file names).
        progress: a progress bar (images/s, ETA) when stderr is a terminal.

    Returns:
        The path of the HumanData file.
    """
    from ehps.render import render_mesh_image
    from ehps.render.shading import Lighting

    root = Path(out_dir)
    img_dir = root / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    h, w = cfg.image_hw
    f = SYNTH_FOCAL_SCALE * h
    K = Intrinsics(f, f, w / 2.0, h / 2.0)
    photos = _bundled_photos()
    hand_mean = (body_model.left_hand_mean.detach().cpu().numpy().reshape(15, 3),
                 body_model.right_hand_mean.detach().cpu().numpy().reshape(15, 3))
    faces = body_model.faces.detach().cpu().numpy()
    weights = body_model.lbs_weights.detach().cpu().numpy()
    rest = body_model.v_template.detach().cpu().numpy()
    n = cfg.num_samples
    rows: dict[str, list[np.ndarray]] = {k: [] for k in (
        "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
        "leye_pose", "reye_pose", "betas", "expression", "transl")}
    joints_all = np.zeros((n, 144, 3), np.float32)
    boxes = np.zeros((n, 5), np.float32)
    parts = {k: np.zeros((n, 5), np.float32) for k in ("lhand", "rhand", "face")}
    paths = []
    bar = progress_bar(n, f"synth {split}", "image", progress)
    for i in range(n):
        bar.update(1)
        rng = np.random.default_rng([cfg.seed & 0xFFFFFFFF, i, 0x5EED])
        params = sample_smplx_params(rng, cfg, hand_mean)
        with torch.no_grad():
            out = body_model(**{k: torch.from_numpy(v)[None] for k, v in params.items()})
        verts = out.vertices[0].double().numpy()
        joints = out.joints[0].double().numpy()
        fill = rng.uniform(*cfg.box_fill)
        shift = rng.uniform(-cfg.center_jitter, cfg.center_jitter, 2) * np.array([w, h])
        if cfg.mode == "hand":
            side = "left" if rng.random() < 0.5 else "right"
            target = joints[_HANDS_144[side]]
        else:
            target = verts
        t = place_in_crop(target, K, (h, w), fill, (float(shift[0]), float(shift[1])))
        verts_cam, joints_cam = verts + t, joints + t
        xy_j = _project(joints_cam, K)
        if cfg.mode == "hand":
            boxes[i] = [*_padded(_tight_box(xy_j[_HANDS_144[side]])), 1.0]
        else:
            boxes[i] = [*_padded(_tight_box(_project(verts_cam, K))), 1.0]
        parts["lhand"][i] = _part_box(xy_j[_HANDS_144["left"]], (h, w))
        parts["rhand"][i] = _part_box(xy_j[_HANDS_144["right"]], (h, w))
        parts["face"][i] = _part_box(xy_j[_FACE_144], (h, w))
        key = rng.normal(0, 1, 3) * np.array([0.6, 0.3, 0.2]) + np.array([0.0, -0.7, -0.7])
        lighting = Lighting(key_dir=tuple(key / np.linalg.norm(key)), key=rng.uniform(0.55, 0.9),
                            fill=rng.uniform(0.15, 0.4))
        bg = random_background(rng, (h, w), photos, cfg.photo_prob)
        rgb, _mask, _depth = render_mesh_image(
            verts_cam.astype(np.float32), faces, K, (h, w), background=bg,
            color=part_vertex_colors(weights, rng, rest), lighting=lighting)
        rel = f"images/{split}/{i:06d}.jpg"
        cv2.imwrite(str(root / rel), np.ascontiguousarray(rgb[:, :, ::-1]),
                    [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)])
        paths.append(rel)
        joints_all[i] = joints_cam
        for k in rows:
            rows[k].append(t.astype(np.float32) if k == "transl" else params[k])
    bar.close()
    kp3d, mask3d = keypoints_to_human_data(
        np.concatenate([joints_all, np.ones((n, 144, 1), np.float32)], axis=-1))
    kp2d_xy = _project(joints_all.astype(np.float64), K).astype(np.float32)
    kp2d, mask2d = keypoints_to_human_data(
        np.concatenate([kp2d_xy, np.ones((n, 144, 1), np.float32)], axis=-1))
    ann = root / "annotations" / f"{split}.npz"
    write_humandata(
        ann, image_path=paths, bbox_xywh=boxes,
        keypoints2d=kp2d, keypoints2d_mask=mask2d,
        keypoints3d=kp3d, keypoints3d_mask=mask3d, keypoints3d_key="keypoints3d_cam",
        lhand_bbox_xywh=parts["lhand"], rhand_bbox_xywh=parts["rhand"],
        face_bbox_xywh=parts["face"],
        smplx={k: np.stack(v) for k, v in rows.items()},
        meta={"height": np.full(n, h), "width": np.full(n, w),
              "focal_length": np.tile([K.fx, K.fy], (n, 1)).astype(np.float32),
              "principal_point": np.tile([K.cx, K.cy], (n, 1)).astype(np.float32)},
        misc={"generator": np.asarray("ehps synth"), "flat_hand_mean": np.asarray(False),
              "config": np.asarray(json.dumps(_jsonable(asdict(cfg))))},
    )
    return ann


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
