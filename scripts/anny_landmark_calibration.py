"""Place Anny's mediapipe body landmarks where mediapipe itself puts them (used by
``build_anny_landmarks.py``).

Anny is rendered (flat-shaded skin, perspective camera, plain background) in several poses, body
shapes and viewing angles; mediapipe's Pose and Holistic models detect their landmarks on the
renders, and for each landmark a small 3D offset, fixed in the frame of the body part that carries
it, is fitted by least squares to the 2D residuals (detected minus projected model point). Views
from several yaw angles make the offset's depth observable. Offsets are fitted on one set of
scenes and the improvement is reported on a held-out set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

W, H = 768, 1024
SKIN = np.array([0.87, 0.68, 0.55])
BACKGROUND = (0.55, 0.6, 0.65)
RIDGE = 1e3  # px^2 per m^2 of offset: keeps unobservable directions at zero
MAX_RESIDUAL_M = 0.1  # detections further off (left/right swaps, misses) are ignored
MIN_VISIBILITY = 0.8


@dataclass
class View:
    """A perspective camera looking at ``center`` from the front, turned by ``yaw`` (radians)."""

    center: np.ndarray
    yaw: float
    focal: float
    distance: float

    def _cam(self, points: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        return (points - self.center) @ rot.T, rot

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) SMPL-X-frame points -> (N, 2) pixels."""
        q, _ = self._cam(points)
        z = self.distance - q[:, 2]
        return np.stack([self.focal * q[:, 0] / z + W / 2, -self.focal * q[:, 1] / z + H / 2], 1)

    def jacobian(self, points: np.ndarray) -> np.ndarray:
        """(N, 2, 3) derivative of :meth:`project` with respect to the points."""
        q, rot = self._cam(points)
        z = self.distance - q[:, 2]
        f = self.focal
        jac = np.zeros((len(points), 2, 3))
        jac[:, 0, 0] = f / z
        jac[:, 0, 2] = f * q[:, 0] / z**2
        jac[:, 1, 1] = -f / z
        jac[:, 1, 2] = -f * q[:, 1] / z**2
        return jac @ rot


def frame_view(verts: np.ndarray, yaw: float, center: np.ndarray | None = None,
               extent: float | None = None) -> View:  # fmt: skip
    """A view that fits ``verts`` (or a region of size ``extent`` around ``center``)."""
    if center is None:
        center = (verts.max(0) + verts.min(0)) / 2
        extent = float(np.ptp(verts[:, 1]))
    focal = 1400.0
    return View(np.asarray(center, float), yaw, focal, focal * extent / (0.8 * H) + 0.3)


def render(verts: np.ndarray, faces: np.ndarray, view: View) -> np.ndarray:
    """Flat-shaded painter's-algorithm render, (H, W, 3) uint8 RGB (matplotlib, offline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    q, _ = view._cam(verts)
    pix = view.project(verts)
    tri = q[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    to_cam = np.array([0.0, 0.0, view.distance]) - tri.mean(1)
    visible = (normal * to_cam).sum(1) > 0
    light = np.array([0.0, 0.5, 1.0]) / np.linalg.norm([0.0, 0.5, 1.0])  # symmetric lighting
    shade = 0.35 + 0.65 * np.clip(normal @ light, 0, 1)
    order = np.argsort(tri.mean(1)[:, 2])  # far (small z) first
    order = order[visible[order]]
    fig = plt.figure(figsize=(W / 100, H / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.axis("off")
    fig.patch.set_facecolor(BACKGROUND)
    colors = np.clip(SKIN[None] * shade[order, None], 0, 1)
    ax.add_collection(PolyCollection(pix[faces[order]], facecolors=colors, edgecolors="face",
                                     linewidths=0.2))  # fmt: skip
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def _aa(joint_values: dict[int, tuple[float, float, float]]) -> torch.Tensor:
    body = torch.zeros(1, 21, 3, dtype=torch.float64)
    for joint, value in joint_values.items():
        body[0, joint - 1] = torch.tensor(value, dtype=torch.float64)
    return body


# SMPL-X joint ids: 1/2 hips, 4/5 knees, 16/17 shoulders, 18/19 elbows, 20/21 wrists.
POSES = {
    "arms_down": _aa({16: (0, 0, -1.1), 17: (0, 0, 1.1), 18: (0, -0.3, 0), 19: (0, 0.3, 0),
                      1: (0, 0, 0.1), 2: (0, 0, -0.1)}),
    "elbows_bent": _aa({16: (0, 0, -0.5), 17: (0, 0, 0.5), 18: (0, -1.2, 0), 19: (0, 1.2, 0),
                        1: (-0.3, 0, 0.1), 4: (0.4, 0, 0), 2: (0.2, 0, -0.1)}),
    "arms_up": _aa({16: (0, 0, 0.6), 17: (0, 0, -0.6), 18: (0, -0.4, 0.3), 19: (0, 0.4, -0.3),
                    1: (0, 0, 0.25), 2: (0, 0, -0.25), 4: (0.2, 0, 0), 5: (0.2, 0, 0)}),
    "wave": _aa({18: (0, 0, np.pi / 2), 20: (-np.pi / 2, 0, 0), 19: (0, 0, -np.pi / 2),
                 21: (-np.pi / 2, 0, 0)}),
    "reach": _aa({16: (0, 0.3, -0.7), 17: (0, -0.2, 0.9), 18: (0, -0.8, 0), 19: (0, 0.5, 0),
                  1: (0.15, 0, 0.05), 2: (-0.2, 0, -0.05), 5: (0.3, 0, 0)}),
}  # fmt: skip
PHENOTYPES = [
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    [0.0, 0.6, 0.7, 0.6, 0.8, 0.5],
    [1.0, 0.4, 0.3, 0.8, 0.3, 0.5],
]
FIT_SCENES = [(p, k, y) for p in ("arms_down", "elbows_bent", "arms_up") for k in range(3)
              for y in (-0.7, 0.0, 0.7)]  # fmt: skip
HELD_OUT_SCENES = [("reach", 0, -0.35), ("reach", 1, 0.35), ("reach", 2, 0.0),
                   ("elbows_bent", 0, 0.35), ("arms_up", 2, -0.35)]  # fmt: skip
HAND_SCENES = [("wave", k, y) for k in range(3) for y in (-0.5, 0.0, 0.5)]


@dataclass
class Detection:
    """mediapipe's landmarks on the render of one scene."""

    scene: tuple[str, int, float]
    view: View
    pixels: np.ndarray  # (P, 2), NaN where not detected or not visible enough


@dataclass
class Observation:
    """A detection with the model landmarks of the same scene and their carrier frames."""

    points: np.ndarray  # (P, 3) model landmarks
    frames: np.ndarray  # (P, 3, 3) rotation of each landmark's carrier frame
    view: View
    detected: np.ndarray  # (P, 2) pixels
    usable: np.ndarray  # (P,) bool


def _forward(body, scene: tuple[str, int, float]):
    pose_name, pheno, _ = scene
    with torch.no_grad():
        return body(body_pose=POSES[pose_name].to(body.dtype),
                    phenotype=torch.tensor([PHENOTYPES[pheno]], dtype=body.dtype))  # fmt: skip


def detect(body, scenes, which: str) -> list[Detection]:
    """Render each scene and detect ``which``: "body" (Pose) or "hands" (Holistic; then the pixels
    are the 21 left-hand points followed by the 21 right-hand points, the person's own sides)."""
    import mediapipe as mp

    faces = body.faces.numpy()
    found = []
    for scene in scenes:
        out = _forward(body, scene)
        verts = out.vertices[0].double().numpy()
        if which == "hands":
            with torch.no_grad():
                kp = body.mediapipe_keypoints(out)
            left, right = kp["left_hand"][0].double().numpy(), kp["right_hand"][0].double().numpy()
            extent = float(np.linalg.norm(left[0] - right[0])) + 0.35
            view = frame_view(verts, scene[2], 0.5 * (left.mean(0) + right.mean(0)), extent)
        else:
            view = frame_view(verts, scene[2])
        image = render(verts, faces, view)
        if which == "body":
            pixels = np.full((33, 2), np.nan)
            with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as model:
                res = model.process(image)
            if res.pose_landmarks is not None:
                lms = res.pose_landmarks.landmark
                pixels = np.array([[p.x * W, p.y * H] for p in lms])
                vis = np.array([p.visibility for p in lms])
                pixels[vis < MIN_VISIBILITY] = np.nan
        else:
            pixels = np.full((42, 2), np.nan)
            with mp.solutions.holistic.Holistic(
                static_image_mode=True, model_complexity=1
            ) as model:
                res = model.process(image)
            for k, hand in enumerate((res.left_hand_landmarks, res.right_hand_landmarks)):
                if hand is not None:
                    pixels[21 * k : 21 * k + 21] = [[p.x * W, p.y * H] for p in hand.landmark]
        found.append(Detection(scene, view, pixels))
    return found


def observations(body, keypoints: Callable, detections: list[Detection], which: str,
                 frame_joints: list[int]) -> list[Observation]:  # fmt: skip
    """Pair detections with the model points that ``keypoints(output)`` gives for ``which``."""
    obs = []
    for det in detections:
        out = _forward(body, det.scene)
        with torch.no_grad():
            kp = keypoints(out)
        if which == "hands":
            points = torch.cat((kp["left_hand"][0], kp["right_hand"][0])).double().numpy()
        else:
            points = kp[which][0].double().numpy()
        glob = out.joint_transforms[0, :, :3, :3].double().numpy()
        scale = det.view.focal / det.view.distance  # px per metre at the body
        residual = np.linalg.norm(det.pixels - det.view.project(points), axis=1) / scale
        usable = np.isfinite(residual) & (residual < MAX_RESIDUAL_M)
        obs.append(Observation(points, glob[frame_joints], det.view, det.pixels, usable))
    return obs


def fit_offsets(observations: list[Observation]) -> tuple[np.ndarray, np.ndarray]:
    """Per-landmark offset (P, 3) in its carrier frame (metres) and the number of detections used.

    Minimises sum_n |detected_n - project_n(point_n + frame_n @ o)|^2 + RIDGE |o|^2 by two
    Gauss-Newton steps.
    """
    count = len(observations[0].points)
    offsets = np.zeros((count, 3))
    used = np.zeros(count, int)
    for _ in range(2):
        for i in range(count):
            lhs, rhs = RIDGE * np.eye(3), -RIDGE * offsets[i]
            used[i] = 0
            for ob in observations:
                if not ob.usable[i]:
                    continue
                p = ob.points[i] + ob.frames[i] @ offsets[i]
                jac = ob.view.jacobian(p[None])[0] @ ob.frames[i]
                res = ob.detected[i] - ob.view.project(p[None])[0]
                lhs += jac.T @ jac
                rhs += jac.T @ res
                used[i] += 1
            offsets[i] += np.linalg.solve(lhs, rhs)
    return offsets, used


def symmetrize(offsets: np.ndarray, names: list[str]) -> np.ndarray:
    """Make left/right offsets mirror images (x -> -x in the carrier frames, which mirror each
    other in the T-pose) and midline offsets (no side in the name) free of any x component."""
    mirror = np.array([[-1.0, 1.0, 1.0]])
    out = offsets.copy()
    index = {n: i for i, n in enumerate(names)}
    for i, name in enumerate(names):
        other = name.replace("left", "@").replace("right", "left").replace("@", "right")
        if other == name:
            out[i, 0] = 0.0
        elif index.get(other, -1) > i:
            j = index[other]
            both = 0.5 * (offsets[i] + mirror[0] * offsets[j])
            out[i], out[j] = both, mirror[0] * both
    return out


def mean_error_m(observations: list[Observation], offsets: np.ndarray | None = None) -> np.ndarray:
    """(P,) mean reprojection distance (metres at the body) over the usable detections."""
    total = np.zeros(len(observations[0].points))
    count = np.zeros_like(total)
    for ob in observations:
        pts = ob.points
        if offsets is not None:
            pts = pts + np.einsum("pij,pj->pi", ob.frames, offsets)
        err = np.linalg.norm(ob.detected - ob.view.project(pts), axis=1)
        err = err / (ob.view.focal / ob.view.distance)
        total[ob.usable] += err[ob.usable]
        count[ob.usable] += 1
    return total / np.maximum(count, 1)


# ----------------------------------------------------------------------------- table rows
def _tetra_basis(verts: np.ndarray, cands: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Four well-spread vertex ids among ``cands`` around ``center`` (a local frame basis)."""
    _, first = np.unique(np.round(verts[cands], 5), axis=0, return_index=True)
    cands = cands[np.sort(first)]  # no coincident (seam) vertices
    near = cands[np.argsort(np.linalg.norm(verts[cands] - center, axis=1))[:60]]
    pts = verts[near]
    i0 = 0
    i1 = int(np.argmax(np.linalg.norm(pts - pts[i0], axis=1)))
    u = (pts[i1] - pts[i0]) / np.linalg.norm(pts[i1] - pts[i0])
    rel = pts - pts[i0]
    i2 = int(np.argmax(np.linalg.norm(rel - np.outer(rel @ u, u), axis=1)))
    n = np.cross(u, pts[i2] - pts[i0])
    i3 = int(np.argmax(np.abs(rel @ (n / np.linalg.norm(n)))))
    return near[[i0, i1, i2, i3]]


def calibrate_rows(tables, rows_of, rest, cache_dir):
    """Fit mediapipe offsets and return new rows for the body set (all 33) and the hand wrists.

    Joint-anchored landmarks become ``joint + sum_k c_k (v_k - v_0)`` with four vertices of the
    bone that carries the joint (so the offset moves and scales with that body part); surface
    landmarks are moved and projected back onto the skin (barycentric coordinates).
    """
    import ehps.bodymodels.anny as anny_module
    from build_anny_landmarks import closest_points_on_triangles
    from ehps.bodymodels.anny_landmarks import (
        HAND_LANDMARK_NAMES,
        POSE_LANDMARK_NAMES,
        MediapipeRegressor,
    )
    from ehps.bodymodels.anny_mapping import SMPLX_JOINT_BONES, SMPLX_JOINT_NAMES_55, bone_drivers

    anny_module._load_tables = lambda: tables  # the AnnyBody below reads the tables being built
    body = anny_module.AnnyBody(cache_dir, dtype=torch.float64)
    labels = list(body.bone_labels)
    parents = list(body.model.bone_parents)
    drivers = bone_drivers(labels)
    dominant, weights = rest["dominant"], rest["weights"]
    with torch.no_grad():
        zero = body()
    verts_t, joints_t = zero.vertices[0].numpy(), zero.joints[0].numpy()
    faces, seg = rest["faces"], rest["segments"]
    inside = np.zeros(len(faces), bool)
    for name in ("eye_back.L", "eye_back.R", "eye_cavity.L", "eye_cavity.R", "mouth_cavity",
                 "tongue"):  # fmt: skip
        inside |= seg[name]
    skin = faces[~inside]

    def carrier(row) -> tuple[int, int | None]:
        """(carrier bone, anchoring joint or None for a surface landmark)."""
        vids, vw, jids, _ = row
        if jids:
            bone = labels.index(SMPLX_JOINT_BONES[jids[0]][1][0])
            return parents[bone], jids[0]
        return int(dominant[vids[int(np.argmax(vw))]]), None

    def frames_for(rows) -> list[int]:
        return [SMPLX_JOINT_NAMES_55.index(drivers[carrier(r)[0]]) for r in rows]

    def current(row) -> np.ndarray:
        vids, vw, jids, jw = row
        pt = np.zeros(3)
        for v, w in zip(vids, vw):
            pt += w * verts_t[v]
        for j, w in zip(jids, jw):
            pt += w * joints_t[j]
        return pt

    def moved_row(row, offset: np.ndarray):
        bone, joint = carrier(row)
        if joint is not None:
            cands = np.nonzero(weights[:, bone] >= 0.3)[0]
            if len(cands) < 12:
                cands = np.nonzero(weights[:, bone] >= 0.15)[0]
            basis = _tetra_basis(verts_t, cands, joints_t[joint])
            mat = (verts_t[basis[1:]] - verts_t[basis[0]]).T
            coef = np.linalg.solve(mat, offset)
            return (list(basis), [-coef.sum(), *coef], [joint], [1.0])
        target = current(row) + offset
        near = skin[np.linalg.norm(verts_t[skin].mean(1) - target, axis=1) < 0.08]
        tri, bary, _ = closest_points_on_triangles(target[None], verts_t[near])
        return (list(near[tri[0]]), list(bary[0]), [], [])

    report = {}
    body_rows = rows_of["body"]
    fit = detect(body, FIT_SCENES, "body")
    held = detect(body, HELD_OUT_SCENES, "body")
    frames = frames_for(body_rows)
    obs = observations(body, body.mediapipe_keypoints, fit, "body", frames)
    offsets, used = fit_offsets(obs)
    offsets = symmetrize(offsets, list(POSE_LANDMARK_NAMES))
    new_body = [moved_row(r, o) for r, o in zip(body_rows, offsets)]

    hands = detect(body, HAND_SCENES, "hands")
    hand_rows = rows_of["left_hand"] + rows_of["right_hand"]
    hand_frames = frames_for(hand_rows)
    hand_obs = observations(body, body.mediapipe_keypoints, hands, "hands", hand_frames)
    hand_offsets, hand_used = fit_offsets(hand_obs)
    hand_offsets = symmetrize(hand_offsets, [f"left_{n}" for n in HAND_LANDMARK_NAMES]
                              + [f"right_{n}" for n in HAND_LANDMARK_NAMES])  # fmt: skip
    new_hands = list(hand_rows)
    for k in (0, 21):  # the wrists only: the finger joints already agree within ~5 mm
        new_hands[k] = moved_row(hand_rows[k], hand_offsets[k])

    new_rows = {"body": new_body, "left_hand": new_hands[:21], "right_hand": new_hands[21:]}
    new_tables = dict(tables)
    from build_anny_landmarks import put_rows

    put_rows(new_tables, new_rows)
    regressor = MediapipeRegressor(new_tables, dtype=torch.float64)

    def new_keypoints(out):
        return regressor(out.vertices, out.joints)

    report["offsets_cm"] = offsets * 100
    report["used"] = used
    report["fit_before_cm"] = mean_error_m(obs) * 100
    report["fit_after_cm"] = (
        mean_error_m(observations(body, new_keypoints, fit, "body", frames)) * 100
    )
    held_before = observations(body, body.mediapipe_keypoints, held, "body", frames)
    held_after = observations(body, new_keypoints, held, "body", frames)
    report["held_before_cm"] = mean_error_m(held_before) * 100
    report["held_after_cm"] = mean_error_m(held_after) * 100
    report["hand_offsets_cm"] = hand_offsets[[0, 21]] * 100
    report["hand_used"] = hand_used
    report["hand_before_cm"] = mean_error_m(hand_obs) * 100
    after = observations(body, new_keypoints, hands, "hands", hand_frames)
    report["hand_after_cm"] = mean_error_m(after) * 100
    report["detections"] = {"fit": len(fit), "held_out": len(held), "hands": len(hands)}
    return new_rows, report
