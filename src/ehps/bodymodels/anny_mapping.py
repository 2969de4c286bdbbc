"""How SMPL-X pose parameters drive the bones of the Anny rig (tables and maths; no anny import).

Frames. Everything here is in the SMPL-X frame (y up, the person faces +z, x = the person's left,
metres). :data:`ANNY_TO_SMPLX` rotates Anny's own frame (z up, faces -y, x = left) into it.

The mapping, in three parts:

1. **Drivers** (:func:`bone_drivers`): every Anny bone takes its global rotation from one SMPL-X
   joint's forward-kinematics (FK) global rotation ``G_j``. Mapped bones take their SMPL-X joint;
   Anny bones with no SMPL-X counterpart follow the joint of the bone they continue:
   ``spine05``/``spine04`` and ``pelvis.L/R`` follow the pelvis, ``spine01`` follows spine3,
   ``neck02``/``neck03`` follow the neck, ``shoulder01`` follows the collar, the twist bones
   ``upperarm02``/``upperleg02``/``lowerleg02`` follow their limb joint, the metacarpals follow the
   wrist, the toes follow the SMPL-X foot joint and the eyes the SMPL-X eye joints (whose local
   rotation is always identity here, i.e. the head). ``lowerarm02`` (the forearm twist bone)
   follows the elbow and also takes half of the wrist's twist about the forearm axis, so that
   pronation spreads over the forearm as SMPL-X skinning spreads it.
2. **Calibration** (:class:`TPoseCalibration`): a per-bone rest rotation ``C_b`` (computed from the
   rest skeleton of the current phenotype, so it holds for every body shape) that turns Anny's
   A-pose into the SMPL-X T-pose: upper arm, forearm and the proximal/middle/distal phalanges of
   the four fingers are swung (minimal rotation, chained from the shoulder outwards) onto the
   person's ±x axis, the hand is swung onto ±x and rolled so that the palm faces down (-y), the
   thigh and shin are swung onto -y. Every other bone keeps the calibration of its parent, i.e.
   its rest relation to it: spine, neck and head stay as modelled, the feet keep their natural
   forward direction, the thumb keeps its rest opposition relative to the palm (so it points
   forward-outward and is *not* along ±x), the metacarpals keep their fan.
3. **Posed bones**: global rotation of bone ``b`` = ``G_driver(b) @ C_b``. Hence for every bone
   the posed direction (head -> child head) is ``G_driver(b)`` applied to its zero-pose (T-pose)
   direction, and zero SMPL-X pose gives the T-pose.

The 55 SMPL-X joints are read from bone heads (:data:`SMPLX_JOINT_BONES`). Approximations: the
spine joints spine1/2/3 sit on ``spine03``/``spine02``/``spine01`` (chosen by height above the
pelvis; SMPL-X places them at about 11, 24 and 29 cm for a 1.75 m body, Anny's bones are at 14, 21
and 34 cm for 1.63 m); the collar is the sternal end of the clavicle (SMPL-X puts it a little more
lateral); the SMPL-X foot joint (ball of the foot) is the mean of the five toe bases; the jaw has no
bone in the default rig: its joint is a fixed point between the temporomandibular joints (halfway
between the ears and the face-contour points in front of them; ``scripts/build_anny_landmarks.py``)
carried rigidly by the head, and its rotation acts only through the ``jawOpen`` facial action; the
eye joints are the eye bones (eyeball centres).
"""

from __future__ import annotations

from collections.abc import Sequence

import roma
import torch

from ehps.bodymodels.joint_sets import SMPLX_PARENTS, SMPLX_SKELETON_NAMES

__all__ = [
    "ANNY_TO_SMPLX",
    "SMPLX_JOINT_BONES",
    "SMPLX_JOINT_NAMES_55",
    "SMPLX_PARENTS_55",
    "FOREARM_TWIST_SHARE",
    "bone_drivers",
    "smplx_global_rotations",
    "swing_rotation",
    "twist_angle",
    "TPoseCalibration",
]

#: (3, 3) rotation taking Anny-frame coordinates (z up, faces -y) to the SMPL-X frame
#: (y up, faces +z): (x, y, z) -> (x, z, -y).
ANNY_TO_SMPLX = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))

_FINGERS = (("index", 2), ("middle", 3), ("pinky", 5), ("ring", 4), ("thumb", 1))
_SIDES = (("left", "L"), ("right", "R"))


def _joint_bone_table() -> tuple[tuple[str, tuple[str, ...]], ...]:
    body: list[tuple[str, tuple[str, ...]]] = [
        ("pelvis", ("root",)),
        ("left_hip", ("upperleg01.L",)),
        ("right_hip", ("upperleg01.R",)),
        ("spine1", ("spine03",)),
        ("left_knee", ("lowerleg01.L",)),
        ("right_knee", ("lowerleg01.R",)),
        ("spine2", ("spine02",)),
        ("left_ankle", ("foot.L",)),
        ("right_ankle", ("foot.R",)),
        ("spine3", ("spine01",)),
        ("left_foot", tuple(f"toe{k}-1.L" for k in range(1, 6))),
        ("right_foot", tuple(f"toe{k}-1.R" for k in range(1, 6))),
        ("neck", ("neck01",)),
        ("left_collar", ("clavicle.L",)),
        ("right_collar", ("clavicle.R",)),
        ("head", ("head",)),
        ("left_shoulder", ("upperarm01.L",)),
        ("right_shoulder", ("upperarm01.R",)),
        ("left_elbow", ("lowerarm01.L",)),
        ("right_elbow", ("lowerarm01.R",)),
        ("left_wrist", ("wrist.L",)),
        ("right_wrist", ("wrist.R",)),
        ("jaw", ()),  # no bone: the fitted jaw pivot, see the module docstring
        ("left_eye_smplhf", ("eye.L",)),
        ("right_eye_smplhf", ("eye.R",)),
    ]
    for side, s in _SIDES:
        for finger, k in _FINGERS:
            for seg in (1, 2, 3):
                body.append((f"{side}_{finger}{seg}", (f"finger{k}-{seg}.{s}",)))
    return tuple(body)


#: The 55 SMPL-X skeleton joints in SMPL-X order, each with the Anny bones whose (mean) head gives
#: its position. The jaw's tuple is empty (no bone; see the module docstring).
SMPLX_JOINT_BONES: tuple[tuple[str, tuple[str, ...]], ...] = _joint_bone_table()

#: The 55 SMPL-X skeleton joint names in SMPL-X order (:mod:`ehps.bodymodels.joint_sets`).
SMPLX_JOINT_NAMES_55: tuple[str, ...] = tuple(SMPLX_SKELETON_NAMES)

#: (55,) parent of each SMPL-X skeleton joint (-1 for the pelvis).
SMPLX_PARENTS_55: tuple[int, ...] = tuple(int(p) for p in SMPLX_PARENTS)

if tuple(name for name, _ in SMPLX_JOINT_BONES) != SMPLX_JOINT_NAMES_55:  # pragma: no cover
    raise ImportError("the Anny joint table is out of step with ehps.bodymodels.joint_sets")

#: Share of the wrist's twist (about the forearm axis) that the forearm twist bone takes.
FOREARM_TWIST_SHARE = 0.5


def bone_drivers(bone_labels: Sequence[str]) -> list[str]:
    """SMPL-X joint name whose FK global rotation drives each Anny bone (see the module docstring).

    Raises:
        ValueError: for a bone this mapping does not know (an Anny rig other than the default).
    """
    direct = {bone: name for name, bones in SMPLX_JOINT_BONES if len(bones) == 1 for bone in bones}
    extra = {"pelvis.L": "pelvis", "pelvis.R": "pelvis", "spine05": "pelvis", "spine04": "pelvis",
             "neck02": "neck", "neck03": "neck"}  # fmt: skip
    for side, s in _SIDES:
        extra[f"shoulder01.{s}"] = f"{side}_collar"
        extra[f"upperarm02.{s}"] = f"{side}_shoulder"
        extra[f"lowerarm02.{s}"] = f"{side}_elbow"  # plus a share of the wrist twist
        extra[f"upperleg02.{s}"] = f"{side}_hip"
        extra[f"lowerleg02.{s}"] = f"{side}_knee"
        for k in range(1, 5):
            extra[f"metacarpal{k}.{s}"] = f"{side}_wrist"
        for k in range(1, 6):
            for seg in (1, 2, 3):
                extra[f"toe{k}-{seg}.{s}"] = f"{side}_foot"
    out = []
    for bone in bone_labels:
        driver = direct.get(bone, extra.get(bone))
        if driver is None:
            raise ValueError(f"no SMPL-X driver known for the Anny bone {bone!r}")
        out.append(driver)
    return out


def _levels(parents: Sequence[int]) -> list[list[int]]:
    depth = [0] * len(parents)
    for i, p in enumerate(parents):
        if p >= 0:
            if p >= i:
                raise ValueError("parents must precede their children")
            depth[i] = depth[p] + 1
    levels: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for i, d in enumerate(depth):
        levels[d].append(i)
    return levels


def smplx_global_rotations(rotmats: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """Forward kinematics of rotations: ``G_j = G_parent(j) @ R_j``.

    Args:
        rotmats: (B, J, 3, 3) local (parent-relative) rotations, rest frames world-aligned.
        parents: (J,) parent indices, -1 for the root; parents precede children.

    Returns:
        (B, J, 3, 3) global rotations (relative to the rest pose), same dtype and device.
    """
    levels = _levels(parents)
    glob = rotmats.new_empty(rotmats.shape)
    glob[:, levels[0]] = rotmats[:, levels[0]]
    for level in levels[1:]:
        par = [parents[i] for i in level]
        glob[:, level] = glob[:, par] @ rotmats[:, level]
    return glob


def swing_rotation(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Smallest rotation taking direction ``a`` onto direction ``b``.

    Args:
        a: (..., 3) source directions (any length > 0).
        b: (..., 3) target directions, broadcastable with ``a``.

    Returns:
        (..., 3, 3) rotation matrices ``R`` with ``R @ a_hat = b_hat`` (differentiable, singular
        only for exactly opposite directions, which the calibration never meets).
    """
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    a, b = torch.broadcast_tensors(a, b)
    v = torch.linalg.cross(a, b, dim=-1)
    c = (a * b).sum(-1)
    zero = torch.zeros_like(c)
    vx = torch.stack(
        (zero, -v[..., 2], v[..., 1], v[..., 2], zero, -v[..., 0], -v[..., 1], v[..., 0], zero),
        dim=-1,
    ).reshape(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(vx)
    return eye + vx + (vx @ vx) / (1.0 + c).clamp_min(eps)[..., None, None]


def twist_angle(rotmat: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Angle (radians, in (-pi, pi]) of the twist part of ``rotmat`` about the unit ``axis``.

    The swing-twist split ``R = swing @ twist`` with twist about ``axis``: from the unit quaternion
    (x, y, z, w) with w >= 0, angle = 2 * atan2(<(x, y, z), axis>, w).

    Args:
        rotmat: (..., 3, 3).
        axis: (..., 3) unit axes, broadcastable.
    """
    q = roma.rotmat_to_unitquat(rotmat)
    q = torch.where(q[..., 3:] < 0, -q, q)
    return 2.0 * torch.atan2((q[..., :3] * axis).sum(-1), q[..., 3])


class TPoseCalibration:
    """Per-bone rest calibration ``C_b`` turning Anny's A-pose into the SMPL-X T-pose.

    Built once per bone list; :meth:`__call__` evaluates it for a batch of rest skeletons, so it
    follows the phenotype. See the module docstring for the rules.

    Args:
        bone_labels: Anny bone names (the default rig's 104).
        bone_parents: parent index of each bone (-1 for the root at index 0).
    """

    def __init__(self, bone_labels: Sequence[str], bone_parents: Sequence[int]) -> None:
        labels = list(bone_labels)
        idx = {name: i for i, name in enumerate(labels)}
        # Alignment steps, chained outwards level by level: (bone, end point, target direction).
        # End points name a bone head, or "tip:<k>.<side>" for the fingertip of finger k.
        levels: list[list[tuple[str, str, tuple[float, float, float]]]] = [[], [], [], [], [], []]
        for s, sign in (("L", 1.0), ("R", -1.0)):
            out = (sign, 0.0, 0.0)
            down = (0.0, -1.0, 0.0)
            levels[0] += [(f"upperarm01.{s}", f"lowerarm01.{s}", out),
                          (f"upperleg01.{s}", f"lowerleg01.{s}", down)]  # fmt: skip
            levels[1] += [(f"lowerarm01.{s}", f"wrist.{s}", out),
                          (f"lowerleg01.{s}", f"foot.{s}", down)]  # fmt: skip
            levels[2] += [(f"wrist.{s}", f"finger3-1.{s}", out)]
            for k in (2, 3, 4, 5):
                levels[3] += [(f"finger{k}-1.{s}", f"finger{k}-2.{s}", out)]
                levels[4] += [(f"finger{k}-2.{s}", f"finger{k}-3.{s}", out)]
                levels[5] += [(f"finger{k}-3.{s}", f"tip:{k}.{s}", out)]
        self.tip_names = [f"tip:{k}.{s}" for s in ("L", "R") for k in (1, 2, 3, 4, 5)]
        missing = [b for lv in levels for b, e, _ in lv if b not in idx] + [
            e for lv in levels for _, e, _ in lv if not e.startswith("tip:") and e not in idx
        ]
        if missing:
            raise ValueError(f"the Anny rig lacks the bones {sorted(set(missing))}")
        aligned = {b for lv in levels for b, _, _ in lv}
        # anchor[b]: nearest ancestor-or-self that is aligned (its C is b's C), -1 = identity.
        anchor = []
        for i in range(len(labels)):
            j = i
            while j >= 0 and labels[j] not in aligned:
                j = bone_parents[j]
            anchor.append(j)
        self.num_bones = len(labels)
        self.anchor = torch.tensor(anchor)
        n_heads = len(labels)
        self.steps = []
        for lv in levels:
            bones = [idx[b] for b, _, _ in lv]
            ends = [
                n_heads + self.tip_names.index(e) if e.startswith("tip:") else idx[e]
                for _, e, _ in lv
            ]
            parent_anchor = [anchor[bone_parents[b]] for b in bones]
            targets = torch.tensor([t for _, _, t in lv])
            self.steps.append((bones, ends, parent_anchor, targets))
        self.wrists = [idx["wrist.L"], idx["wrist.R"]]
        self.palm = [
            (idx["wrist.L"], idx["finger2-1.L"], idx["finger5-1.L"]),
            (idx["wrist.R"], idx["finger5-1.R"], idx["finger2-1.R"]),
        ]

    def __call__(self, heads: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
        """Calibration rotations.

        Args:
            heads: (B, N, 3) rest bone heads, SMPL-X frame, metres.
            tips: (B, 10, 3) rest fingertips (thumb..pinky, left then right), SMPL-X frame.

        Returns:
            (B, N, 3, 3) ``C_b`` (identity for bones with no aligned ancestor).
        """
        batch = heads.shape[0]
        points = torch.cat((heads, tips), dim=1)
        eye = torch.eye(3, dtype=heads.dtype, device=heads.device)
        calib = {-1: eye.expand(batch, 3, 3)}
        for bones, ends, parent_anchor, targets in self.steps:
            c_par = torch.stack([calib[a] for a in parent_anchor], dim=1)  # (B, n, 3, 3)
            seg = points[:, ends] - points[:, bones]
            seg = (c_par @ seg[..., None])[..., 0]
            tgt = targets.to(heads)
            c_new = swing_rotation(seg, tgt) @ c_par
            if bones == self.wrists:
                c_new = self._roll_palm_down(c_new, heads)
            for k, b in enumerate(bones):
                calib[b] = c_new[:, k]
        stacked = torch.stack([calib[int(a)] for a in self.anchor], dim=1)
        return stacked

    def _roll_palm_down(self, c_wrist: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        # Dorsal normal of each hand (index and pinky knuckles about the wrist), rolled about the
        # x axis (the hand axis after the swing) until it points up (+y).
        normals = []
        for w, a, b in self.palm:
            normals.append(torch.linalg.cross(heads[:, a] - heads[:, w], heads[:, b] - heads[:, w]))
        n = (c_wrist @ torch.stack(normals, dim=1)[..., None])[..., 0]
        theta = torch.atan2(-n[..., 2], n[..., 1])
        axis = torch.zeros_like(n)
        axis[..., 0] = 1.0
        roll = roma.rotvec_to_rotmat(axis * theta[..., None])
        return roll @ c_wrist
