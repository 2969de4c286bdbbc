"""Which body-model points correspond to which mediapipe landmarks.

The fitting engine compares detected landmarks (mediapipe topologies: 33 body points, 21 points per
hand, 478 face-mesh points) with points of the body model. A :class:`LandmarkMap` holds, for one
body model and one part, two linear maps:

- ``target``: detected points -> compared points, (Nt, Ndet). The identity when the model has a
  point for every detected landmark (Anny); for SMPL-X's face it averages face-mesh vertices into
  the 68 iBUG points that SMPL-X's landmark set follows.
- the model side, which :func:`model_keypoints` evaluates on a :class:`BodyModelOutput`.

SMPL-X side (defined here): body points come from skeleton joints, vertex joints (nose, eyes,
ears, toes, heels) and face landmarks (eye corners, mouth corners); hand points from the finger
joints plus the fingertip vertex joints; the face from the 51 static landmarks and the 17
contour landmarks (iBUG-68 points 17-67 and 0-16). Approximations: mediapipe's hip landmarks
sit higher and more lateral than SMPL-X's hip joints (lower weight); the pose model's "thumb"
point is taken as the thumb's second joint; "foot index" is the mean of the big and small toe;
SMPL-X's contour landmarks slide with head rotation while mediapipe's oval points are fixed on
the surface (lower weight).

Anny side: ``AnnyBody.mediapipe_keypoints`` / ``AnnyBody.mediapipe_valid`` (one model point per
mediapipe landmark; :mod:`ehps.bodymodels.anny_landmarks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ehps.bodymodels.joint_sets import SMPLX_SKELETON_NAMES, VERTEX_JOINT_NAMES
from ehps.bodymodels.output import BodyModelOutput

__all__ = [
    "PARTS",
    "HAND_LANDMARK_NAMES",
    "MEDIAPIPE_TO_IBUG68",
    "IBUG68_FLIP",
    "LandmarkMap",
    "landmark_maps",
    "smplx_landmark_maps",
    "anny_landmark_maps",
    "model_keypoints",
    "detected_targets",
    "smplx_joint_index",
]

#: Parts compared by the fit, in this order everywhere.
PARTS: tuple[str, ...] = ("body", "left_hand", "right_hand", "face")

#: mediapipe Hands' 21 landmark names, in model order.
HAND_LANDMARK_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip

#: iBUG-68 point k = mean of face-mesh vertices ``MEDIAPIPE_TO_IBUG68[k]`` (a known
#: correspondence table, made exactly left-right symmetric: point 13 averages 361 and 288, the
#: mirror images of point 3's 132 and 58; one vertex is listed twice where a single vertex
#: matches). Order: contour
#: 0-16 (person's right to left), brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner lips
#: 60-67.
MEDIAPIPE_TO_IBUG68: np.ndarray = np.array(
    [
        [127, 127], [234, 234], [93, 93], [132, 58], [58, 172], [136, 136], [150, 150],
        [176, 176], [152, 152], [400, 400], [379, 379], [365, 365], [397, 288], [361, 288],
        [323, 323], [454, 454], [356, 356],
        [70, 70], [63, 63], [105, 105], [66, 66], [107, 107],
        [336, 336], [296, 296], [334, 334], [293, 293], [300, 300],
        [168, 6], [197, 195], [5, 5], [4, 4], [75, 75], [97, 97], [2, 2], [326, 326], [305, 305],
        [33, 33], [160, 160], [158, 158], [133, 133], [153, 153], [144, 144],
        [362, 362], [385, 385], [387, 387], [263, 263], [373, 373], [380, 380],
        [61, 61], [39, 39], [37, 37], [0, 0], [267, 267], [269, 269], [291, 291],
        [321, 321], [314, 314], [17, 17], [84, 84], [91, 91],
        [78, 78], [82, 82], [13, 13], [312, 312], [308, 308], [317, 317], [14, 14], [87, 87],
    ],
    dtype=np.int64,
)

#: Left-right mirror of the iBUG-68 points (point k mirrors to ``IBUG68_FLIP[k]``).
IBUG68_FLIP: np.ndarray = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65],
    dtype=np.int64,
)

# SMPL-X joint names of the 144-joint output that this module refers to (official order).
_SMPLX_NAMES: tuple[str, ...] = SMPLX_SKELETON_NAMES + VERTEX_JOINT_NAMES
_FACE51_START = 76  # iBUG 17..67 follow the 76 joints above
_CONTOUR_START = 127  # iBUG 0..16


def smplx_joint_index(name: str) -> int:
    """Index of a named point among SMPL-X's 144 output joints.

    ``name`` is an official joint name (``"left_wrist"``, ``"nose"``, ``"left_index"`` for the
    fingertip ...) or ``"ibug<k>"`` for iBUG-68 face point ``k`` (0-16 contour, 17-67 landmarks).
    """
    if name.startswith("ibug"):
        k = int(name[4:])
        if not 0 <= k < 68:
            raise ValueError(f"iBUG point index must be in [0, 68), got {k}")
        return _CONTOUR_START + k if k < 17 else _FACE51_START + k - 17
    try:
        return _SMPLX_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown SMPL-X joint name {name!r}") from None


# mediapipe body landmark -> weighted SMPL-X points, and the landmark's relative weight.
_SMPLX_BODY: tuple[tuple[dict[str, float], float], ...] = (
    ({"nose": 1.0}, 1.0),
    ({"ibug42": 1.0}, 0.5),  # left eye inner
    ({"left_eye": 1.0}, 1.0),
    ({"ibug45": 1.0}, 0.5),  # left eye outer
    ({"ibug39": 1.0}, 0.5),  # right eye inner
    ({"right_eye": 1.0}, 1.0),
    ({"ibug36": 1.0}, 0.5),  # right eye outer
    ({"left_ear": 1.0}, 1.0),
    ({"right_ear": 1.0}, 1.0),
    ({"ibug54": 1.0}, 0.5),  # mouth left
    ({"ibug48": 1.0}, 0.5),  # mouth right
    ({"left_shoulder": 1.0}, 1.0),
    ({"right_shoulder": 1.0}, 1.0),
    ({"left_elbow": 1.0}, 1.0),
    ({"right_elbow": 1.0}, 1.0),
    ({"left_wrist": 1.0}, 1.0),
    ({"right_wrist": 1.0}, 1.0),
    ({"left_pinky1": 1.0}, 0.5),
    ({"right_pinky1": 1.0}, 0.5),
    ({"left_index1": 1.0}, 0.5),
    ({"right_index1": 1.0}, 0.5),
    ({"left_thumb2": 1.0}, 0.3),
    ({"right_thumb2": 1.0}, 0.3),
    ({"left_hip": 1.0}, 0.5),
    ({"right_hip": 1.0}, 0.5),
    ({"left_knee": 1.0}, 1.0),
    ({"right_knee": 1.0}, 1.0),
    ({"left_ankle": 1.0}, 1.0),
    ({"right_ankle": 1.0}, 1.0),
    ({"left_heel": 1.0}, 0.7),
    ({"right_heel": 1.0}, 0.7),
    ({"left_big_toe": 0.5, "left_small_toe": 0.5}, 0.7),
    ({"right_big_toe": 0.5, "right_small_toe": 0.5}, 0.7),
)


def _smplx_hand(side: str) -> tuple[tuple[dict[str, float], float], ...]:
    rows: list[tuple[dict[str, float], float]] = [({f"{side}_wrist": 1.0}, 1.0)]
    for finger in ("thumb", "index", "middle", "ring", "pinky"):
        rows += [({f"{side}_{finger}{i}": 1.0}, 1.0) for i in (1, 2, 3)]
        rows.append(({f"{side}_{finger}": 1.0}, 1.0))  # fingertip vertex joint
    return tuple(rows)


@dataclass(frozen=True)
class LandmarkMap:
    """How one part of a body model is compared with detected landmarks.

    Attributes:
        part: one of :data:`PARTS`.
        target: (Nt, Ndet) float32 map from detected points (and, row-normalised, their
            confidences) to compared points.
        valid: (Nt,) bool, False where the model has no meaningful point.
        weight: (Nt,) float32 relative weight of each compared point.
        model_regressor: (Nt, J) float32 weights over the model's output joints (SMPL-X), or
            ``None`` when the model provides the points itself (Anny).
    """

    part: str
    target: np.ndarray
    valid: np.ndarray
    weight: np.ndarray
    model_regressor: np.ndarray | None = None

    @property
    def num_points(self) -> int:
        return int(self.target.shape[0])


def _regressor(rows: tuple[tuple[dict[str, float], float], ...]) -> tuple[np.ndarray, np.ndarray]:
    reg = np.zeros((len(rows), len(_SMPLX_NAMES) + 68), np.float32)
    for i, (mix, _) in enumerate(rows):
        for name, w in mix.items():
            reg[i, smplx_joint_index(name)] += w
    weights = np.array([w for _, w in rows], np.float32)
    return reg, weights


def smplx_landmark_maps(body_model: Any = None) -> dict[str, LandmarkMap]:
    """SMPL-X: points regressed from its 144 joints (body, fingertips, iBUG-68 face)."""
    maps: dict[str, LandmarkMap] = {}
    reg, w = _regressor(_SMPLX_BODY)
    maps["body"] = LandmarkMap("body", np.eye(33, dtype=np.float32), np.ones(33, bool), w, reg)
    for side in ("left", "right"):
        reg, w = _regressor(_smplx_hand(side))
        maps[f"{side}_hand"] = LandmarkMap(
            f"{side}_hand", np.eye(21, dtype=np.float32), np.ones(21, bool), w, reg
        )
    target = np.zeros((68, 478), np.float32)
    for k, (a, b) in enumerate(MEDIAPIPE_TO_IBUG68):
        target[k, a] += 0.5
        target[k, b] += 0.5
    reg = np.zeros((68, 144), np.float32)
    for k in range(68):
        reg[k, smplx_joint_index(f"ibug{k}")] = 1.0
    w = np.ones(68, np.float32)
    w[:17] = 0.3  # contour: sliding landmarks in SMPL-X, fixed surface points in mediapipe
    maps["face"] = LandmarkMap("face", target, np.ones(68, bool), w, reg)
    return maps


def anny_landmark_maps(body_model: Any) -> dict[str, LandmarkMap]:
    """Anny: the model gives every mediapipe point itself (``mediapipe_keypoints``)."""
    valid = getattr(body_model, "mediapipe_valid", None) or {}
    sizes = {"body": 33, "left_hand": 21, "right_hand": 21, "face": 478}
    maps: dict[str, LandmarkMap] = {}
    for part, n in sizes.items():
        v = np.asarray(valid.get(part, np.ones(n, bool)), bool).reshape(n)
        w = np.ones(n, np.float32)
        if part == "body":
            w[[1, 3, 4, 6, 9, 10, 17, 18, 19, 20, 23, 24]] = 0.5  # same rationale as SMPL-X
            w[[21, 22]] = 0.3
        if part == "face":
            w[468:] = 0.5  # iris points: gaze is not fitted (eyes follow the head)
        maps[part] = LandmarkMap(part, np.eye(n, dtype=np.float32), v, w, None)
    return maps


def landmark_maps(body_model: Any) -> dict[str, LandmarkMap]:
    """The :class:`LandmarkMap` of every part for a body model (its entry in
    :mod:`ehps.bodymodels.registry`)."""
    from ehps.bodymodels.registry import entry_for

    return entry_for(body_model).landmark_maps(body_model)


def model_keypoints(
    body_model: Any, output: BodyModelOutput, maps: dict[str, LandmarkMap]
) -> dict[str, torch.Tensor]:
    """Model points compared with each part's targets.

    Args:
        body_model: the body model that produced ``output``.
        output: its forward output (``joints`` (B, J, 3), ``vertices`` (B, V, 3), metres, in the
            frame the caller wants: the camera frame during fitting).
        maps: from :func:`landmark_maps`.

    Returns:
        part -> (B, Nt, 3) points in the same frame and dtype as ``output``.
    """
    out: dict[str, torch.Tensor] = {}
    if all(m.model_regressor is None for m in maps.values()):  # the model gives the points
        pts = body_model.mediapipe_keypoints(output)
        for part, m in maps.items():
            if m.target.shape[0] == m.target.shape[1] and np.array_equal(
                m.target, np.eye(m.target.shape[0], dtype=m.target.dtype)
            ):
                out[part] = pts[part]
            else:
                out[part] = torch.einsum("td,bdk->btk", _t(m.target, output.joints), pts[part])
        return out
    joints = output.joints
    for part, m in maps.items():
        reg = m.model_regressor
        assert reg is not None
        if joints.shape[1] < reg.shape[1]:
            if np.abs(reg[:, joints.shape[1] :]).sum() > 0:
                raise ValueError(
                    f"the SMPL-X model gives {joints.shape[1]} joints but part {part!r} needs "
                    f"{reg.shape[1]}: load it with use_face_contour=True"
                )
            reg = reg[:, : joints.shape[1]]
        cols = np.flatnonzero(np.abs(reg).sum(0))
        sub = _t(reg[:, cols], joints)
        out[part] = torch.einsum("tj,bjk->btk", sub, joints[:, torch.as_tensor(cols)])
    return out


def detected_targets(
    maps: dict[str, LandmarkMap], points: dict[str, np.ndarray | None],
    conf: dict[str, np.ndarray | None]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Map detected points of one person into the compared points of every part.

    Args:
        maps: from :func:`landmark_maps`.
        points: part -> (Ndet, D) detected points (pixels, or metres for world points), or
            ``None`` when the part was not found.
        conf: part -> (Ndet,) confidences in [0, 1], or ``None``.

    Returns:
        part -> ((Nt, D) float32 targets, (Nt,) float32 confidences times ``valid``); a missing
        part gets zero confidences (and zero points).
    """
    res: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for part, m in maps.items():
        p, c = points.get(part), conf.get(part)
        nt, nd = m.target.shape
        if p is None or c is None:
            res[part] = (np.zeros((nt, 2), np.float32), np.zeros(nt, np.float32))
            continue
        p = np.asarray(p, np.float32).reshape(nd, -1)
        c = np.asarray(c, np.float32).reshape(nd)
        tgt = m.target @ p
        # a compared point is only as confident as the least confident point it averages
        cmin = np.where(m.target > 0, c[None, :], np.inf).min(axis=1)
        cmin = np.where(np.isfinite(cmin), cmin, 0.0)
        res[part] = (tgt.astype(np.float32), (cmin * m.valid).astype(np.float32))
    return res


def _t(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(arr, dtype=like.dtype, device=like.device)
