"""Accuracy of the embedded estimator on synthetic photos with known 3D truth.

Each sample renders the body model with random but plausible parameters (poses sampled inside the
fit's joint limits around a relaxed standing pose, random phenotype, facial actions, yaw up to
+-70 degrees, camera 2.5-5 m away) in clothes-like per-vertex colours (skin, shirt, trousers,
shoes, hair, dark eyes and brows, lips), shaded, over a varied background (the bundled photos or
procedural textures). The full pipeline (detector + fit) runs on the image and its 3D joints are
compared with the truth:

- body PA-MPJPE: the 22 SMPL-X body joints (pelvis..wrists) after a similarity Procrustes
  alignment, millimetres;
- hand PA-MPJPE: each hand's 16 joints (wrist + 15 finger joints) aligned separately, millimetres;
- a failure is an image where the rendered person is not found (no detection whose box contains
  the projected pelvis); extra detections are counted separately (``people`` per row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ehps.fitting.priors import body_limits, hand_limits
from ehps.geometry.camera import Intrinsics

__all__ = [
    "SyntheticSample",
    "SyntheticEvalReport",
    "sample_params",
    "clothing_colors",
    "make_background",
    "make_sample",
    "evaluate",
]

_ASSETS = Path(__file__).resolve().parents[1] / "assets"
BODY_JOINTS = list(range(22))
LEFT_HAND_JOINTS = [20, *range(25, 40)]
RIGHT_HAND_JOINTS = [21, *range(40, 55)]

# relaxed standing pose (radians) around which poses are sampled: arms down, slight bends
_REST_BODY = {
    15: (0.0, -0.15, -1.15),  # left shoulder: arm lowered, a little forward
    16: (0.0, 0.15, 1.15),  # right shoulder
    17: (0.0, -0.35, 0.0),  # left elbow
    18: (0.0, 0.35, 0.0),  # right elbow
    3: (0.15, 0.0, 0.0),  # left knee
    4: (0.15, 0.0, 0.0),  # right knee
    0: (-0.1, 0.0, 0.05),  # left hip
    1: (-0.1, 0.0, -0.05),  # right hip
}


def _sample_within(rng: np.random.Generator, limits: np.ndarray, rest: np.ndarray,
                   spread: float) -> np.ndarray:
    """rest + spread * U(-1, 1) * half-range, clipped to the limits. (J, 3)."""
    half = 0.5 * (limits[..., 1] - limits[..., 0])
    x = rest + spread * rng.uniform(-1.0, 1.0, rest.shape) * half
    return np.clip(x, limits[..., 0], limits[..., 1])


def sample_params(rng: np.random.Generator, spread: float = 0.35, yaw_deg: float = 70.0
                  ) -> dict[str, np.ndarray]:
    """Random plausible Anny parameters (unbatched numpy; model frame, no global placement).

    Returns:
        ``body_pose`` (21, 3), ``left_hand_pose``/``right_hand_pose`` (15, 3) flat convention,
        ``phenotype`` (6,), ``facial_actions`` (52,), ``yaw`` (scalar, radians), ``tilt`` (2,).
    """
    lim = body_limits()
    rest = np.zeros((21, 3), np.float32)
    for j, v in _REST_BODY.items():
        rest[j] = v
    body = _sample_within(rng, lim, rest, spread)
    hands = {}
    for side, sign in (("left", -1.0), ("right", 1.0)):
        hl = hand_limits(side)
        curl = rng.uniform(0.0, 1.0)  # overall grip
        hrest = np.zeros((15, 3), np.float32)
        for f in range(4):
            for s, amount in enumerate((0.6, 0.9, 0.6)):
                hrest[3 * f + s, 2] = sign * curl * amount
        hands[side] = _sample_within(rng, hl, hrest, 0.15)
    pheno = np.clip(rng.normal(0.5, 0.15, 6), 0.1, 0.9)
    pheno[1] = rng.uniform(0.62, 0.9)  # adults (Anny's age: 1/3 child, 2/3 young, 1 old)
    face = np.zeros(52, np.float32)
    active = rng.choice(52, size=4, replace=False)
    face[active] = rng.uniform(0.0, 0.6, 4)
    return {
        "body_pose": body.astype(np.float32),
        "left_hand_pose": hands["left"].astype(np.float32),
        "right_hand_pose": hands["right"].astype(np.float32),
        "phenotype": pheno.astype(np.float32),
        "facial_actions": face,
        "yaw": np.float32(math.radians(rng.uniform(-yaw_deg, yaw_deg))),
        "tilt": rng.uniform(-0.12, 0.12, 2).astype(np.float32),
    }


def _segment_labels(joints: np.ndarray, parents: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Index of the child joint of the skeleton segment nearest to each vertex."""
    child = np.arange(1, len(parents))
    a = joints[parents[child]]
    b = joints[child]
    ab = b - a
    best = np.full(len(verts), np.inf)
    label = np.zeros(len(verts), np.int64)
    for k in range(len(child)):
        t = np.clip(((verts - a[k]) @ ab[k]) / max(float(ab[k] @ ab[k]), 1e-9), 0.0, 1.0)
        d = np.linalg.norm(verts - (a[k] + t[:, None] * ab[k]), axis=1)
        closer = d < best
        best[closer] = d[closer]
        label[closer] = child[k]
    return label


_SKIN = ((0.96, 0.80, 0.69), (0.87, 0.67, 0.52), (0.71, 0.51, 0.37), (0.50, 0.33, 0.24))
_CLOTH = ((0.15, 0.25, 0.55), (0.70, 0.15, 0.15), (0.20, 0.45, 0.25), (0.85, 0.85, 0.85),
          (0.25, 0.25, 0.28), (0.90, 0.60, 0.10), (0.45, 0.30, 0.55))
_HAIR = ((0.10, 0.07, 0.05), (0.30, 0.18, 0.08), (0.55, 0.40, 0.20), (0.05, 0.05, 0.05))


def clothing_colors(body_model: Any, rng: np.random.Generator,
                    output: Any | None = None) -> np.ndarray:
    """(V, 3) float32 per-vertex sRGB colours that make a rendered body look dressed: skin on the
    head, forearms and hands, a shirt on the torso and upper arms, trousers, shoes, hair, dark
    eyes and brows, lips. Regions come from the nearest skeleton segment of the rest mesh and,
    for the face, from the model's mediapipe face points."""
    if output is None:
        with torch.no_grad():
            output = body_model()
    verts = output.vertices[0].detach().cpu().numpy()
    joints = output.joints[0, :55].detach().cpu().numpy()
    parents = np.asarray(body_model.parents.cpu().numpy() if hasattr(body_model.parents, "cpu")
                         else body_model.parents)
    lab = _segment_labels(joints, parents, verts)
    skin = np.array(_SKIN[rng.integers(len(_SKIN))])
    shirt = np.array(_CLOTH[rng.integers(len(_CLOTH))])
    trousers = np.array(_CLOTH[rng.integers(len(_CLOTH))]) * 0.7
    hair = np.array(_HAIR[rng.integers(len(_HAIR))])
    col = np.tile(shirt, (len(verts), 1))
    skin_ids = {15, 22, 23, 24, 20, 21, *range(25, 55)}
    col[np.isin(lab, list(skin_ids))] = skin
    col[np.isin(lab, [4, 5, 7, 8])] = trousers
    col[np.isin(lab, [10, 11])] = (0.12, 0.12, 0.14)  # shoes
    col[(lab == 7) | (lab == 8)] = trousers
    # neck skin: vertices near the neck-head segment but above the collars
    col[lab == 12] = np.where(verts[lab == 12, 1:2] > joints[12, 1] - 0.02, skin, shirt)
    head = np.isin(lab, [15, 22, 23, 24])
    if hasattr(body_model, "mediapipe_keypoints"):
        face = body_model.mediapipe_keypoints(output)["face"][0].detach().cpu().numpy()
        from ehps.fitting.landmarks import MEDIAPIPE_TO_IBUG68

        ib = face[MEDIAPIPE_TO_IBUG68].mean(1)
        brow_y = ib[17:27, 1].max()
        # hair: the top and back of the head
        back = verts[:, 2] < joints[15, 2] - 0.02
        top = verts[:, 1] > brow_y + 0.025
        col[head & (top | (back & (verts[:, 1] > ib[0, 1] - 0.02)))] = hair
        for pts, radius, colour in (
            (ib[36:48], 0.006, (0.08, 0.06, 0.05)),
            (face[468:], 0.005, (0.15, 0.10, 0.08)),
            (ib[17:27], 0.007, hair * 0.8),
            (ib[48:60], 0.005, (0.70, 0.30, 0.30)),
        ):
            d = np.linalg.norm(verts[:, None, :] - pts[None], axis=-1).min(1)
            col[head & (d < radius)] = colour
    return np.clip(col, 0.0, 1.0).astype(np.float32)


def make_background(rng: np.random.Generator, image_hw: tuple[int, int]) -> tuple[np.ndarray, str]:
    """A background image (H, W, 3) uint8 and its kind: a bundled photo crop, a noise texture,
    a checkerboard or a gradient."""
    import cv2

    h, w = image_hw
    kind = ("photo", "noise", "checker", "gradient")[int(rng.integers(4))]
    if kind == "photo":
        photo = cv2.imread(str(_ASSETS / "basketball2.png"), cv2.IMREAD_COLOR)
        if photo is None:
            kind = "noise"
        else:
            photo = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
            s = max(h / photo.shape[0], w / photo.shape[1]) * rng.uniform(1.0, 1.6)
            size = (math.ceil(photo.shape[1] * s), math.ceil(photo.shape[0] * s))
            photo = cv2.resize(photo, size)
            y = int(rng.integers(0, photo.shape[0] - h + 1))
            x = int(rng.integers(0, photo.shape[1] - w + 1))
            tint = rng.uniform(0.7, 1.1, 3)
            return np.clip(photo[y : y + h, x : x + w] * tint, 0, 255).astype(np.uint8), kind
    if kind == "noise":
        small = rng.uniform(0, 255, (max(2, h // 32), max(2, w // 32), 3)).astype(np.float32)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        img = img + rng.normal(0, 12, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8), kind
    if kind == "checker":
        n = int(rng.integers(6, 16))
        yy, xx = np.mgrid[0:h, 0:w]
        c = ((yy * n // h + xx * n // w) % 2).astype(np.float32)[..., None]
        a, b = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
        return (c * a + (1 - c) * b).astype(np.uint8), kind
    top, bottom = rng.uniform(60, 230, 3), rng.uniform(30, 200, 3)
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3))
    return np.clip(img + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8), kind


@dataclass
class SyntheticSample:
    """A rendered image with its truth: ``params`` are the body-model keywords (batch 1 tensors)
    that produced ``joints_cam`` (55, 3) camera metres; ``intrinsics`` the render camera."""

    image: np.ndarray
    intrinsics: Intrinsics
    params: dict[str, torch.Tensor]
    joints_cam: np.ndarray
    background: str
    visible_fraction: float = 1.0


def make_sample(body_model: Any, rng: np.random.Generator,
                image_hw: tuple[int, int] = (768, 512)) -> SyntheticSample:
    """Render one random person (see the module docstring)."""
    from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_aa
    from ehps.render import render_mesh_image

    h, w = image_hw
    k = Intrinsics.from_image_size(w, h)
    p = sample_params(rng)
    rot = (
        torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
        @ aa_to_rotmat(torch.tensor([0.0, float(p["yaw"]), 0.0]))
        @ aa_to_rotmat(torch.tensor([float(p["tilt"][0]), 0.0, float(p["tilt"][1])]))
    )
    params = {
        "global_orient": rotmat_to_aa(rot)[None].float(),
        "body_pose": torch.from_numpy(p["body_pose"])[None],
        "left_hand_pose": torch.from_numpy(p["left_hand_pose"])[None],
        "right_hand_pose": torch.from_numpy(p["right_hand_pose"])[None],
        "phenotype": torch.from_numpy(p["phenotype"])[None],
        "facial_actions": torch.from_numpy(p["facial_actions"])[None],
    }
    with torch.no_grad():
        out = body_model(**params)
        # place the body: its centre on a random point near the image centre, 2.5-5 m away
        depth = float(rng.uniform(2.5, 5.0))
        centre = 0.5 * (out.vertices[0].amax(0) + out.vertices[0].amin(0))
        px = np.array([w / 2 + rng.uniform(-0.15, 0.15) * w, h / 2 + rng.uniform(-0.08, 0.08) * h])
        ray = (px - np.array(k.princpt)) / np.array(k.focal) * depth
        transl = torch.tensor([ray[0], ray[1], depth], dtype=torch.float32) - centre
        params["transl"] = transl[None]
        out = body_model(**params)
        rest = body_model(phenotype=params["phenotype"])
    colors = clothing_colors(body_model, rng, rest)
    bg, kind = make_background(rng, (h, w))
    verts = out.vertices[0].numpy()
    rgb, mask, _ = render_mesh_image(verts, body_model.faces.numpy(), k, (h, w), background=bg,
                                     color=colors, ssaa=1)
    joints = out.joints[0, :55].numpy()
    uv = joints[:, :2] / joints[:, 2:3] * np.array(k.focal) + np.array(k.princpt)
    inside = ((uv >= 0) & (uv < [w, h])).all(1).mean()
    return SyntheticSample(rgb, k, params, joints, kind, float(inside))


def _pa_mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    from ehps.evaluation.alignment import procrustes_align

    aligned = procrustes_align(torch.as_tensor(pred, dtype=torch.float64),
                               torch.as_tensor(gt, dtype=torch.float64)).numpy()
    return float(np.linalg.norm(aligned - gt, axis=-1).mean() * 1000.0)


def _match(people: list[Any], sample: SyntheticSample) -> Any:
    """The detected person whose box contains the rendered pelvis (nearest box centre wins)."""
    k = sample.intrinsics
    pelvis = sample.joints_cam[0]
    uv = pelvis[:2] / pelvis[2] * np.array(k.focal) + np.array(k.princpt)
    best, best_d = None, np.inf
    for p in people:
        x, y, w, h = p.bbox_xywh
        if not (x <= uv[0] <= x + w and y <= uv[1] <= y + h):
            continue
        d = float(np.hypot(x + w / 2 - uv[0], y + h / 2 - uv[1]))
        if d < best_d:
            best, best_d = p, d
    return best


@dataclass
class SyntheticEvalReport:
    """Per-sample rows and aggregate figures (millimetres)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(1 for r in self.rows if r["failed"])

    def _vals(self, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.rows if not r["failed"]], np.float64)

    def summary(self) -> dict[str, float]:
        body = self._vals("body_pa_mpjpe_mm")
        hands = self._vals("hands_pa_mpjpe_mm")
        secs = self._vals("seconds")
        return {
            "samples": len(self.rows),
            "failures": self.failures,
            "body_pa_mpjpe_mm_mean": float(body.mean()) if body.size else float("nan"),
            "body_pa_mpjpe_mm_median": float(np.median(body)) if body.size else float("nan"),
            "hands_pa_mpjpe_mm_mean": float(hands.mean()) if hands.size else float("nan"),
            "hands_pa_mpjpe_mm_median": float(np.median(hands)) if hands.size else float("nan"),
            "seconds_per_image_mean": float(secs.mean()) if secs.size else float("nan"),
        }


def evaluate(estimator: Any, num_samples: int, seed: int = 0,
             image_hw: tuple[int, int] = (768, 512), keep_images: bool = False
             ) -> SyntheticEvalReport:
    """Render ``num_samples`` people and run ``estimator`` (an :class:`EmbeddedEstimator` or
    anything with the same call) on each. Deterministic for a seed."""
    import time

    report = SyntheticEvalReport()
    body_model = estimator.body_model
    for i in range(num_samples):
        rng = np.random.default_rng([seed, i])
        sample = make_sample(body_model, rng, image_hw)
        t0 = time.perf_counter()
        result = estimator(sample.image, intrinsics=sample.intrinsics)
        secs = time.perf_counter() - t0
        row: dict[str, Any] = {"index": i, "background": sample.background,
                               "people": len(result.people), "seconds": secs,
                               "visible_fraction": sample.visible_fraction}
        person = _match(result.people, sample)
        if person is None:
            row.update(failed=True, body_pa_mpjpe_mm=float("nan"),
                       hands_pa_mpjpe_mm=float("nan"))
        else:
            pred = person.joints_cam[:55]
            gt = sample.joints_cam
            hands = [
                _pa_mpjpe_mm(pred[idx], gt[idx]) for idx in (LEFT_HAND_JOINTS, RIGHT_HAND_JOINTS)
            ]
            row.update(
                failed=False,
                body_pa_mpjpe_mm=_pa_mpjpe_mm(pred[BODY_JOINTS], gt[BODY_JOINTS]),
                hands_pa_mpjpe_mm=float(np.mean(hands)),
                reproj_px=person.extras.get("reproj_px", {}),
            )
        if keep_images:
            row["image"] = sample.image
            row["result"] = result
        report.rows.append(row)
    return report
