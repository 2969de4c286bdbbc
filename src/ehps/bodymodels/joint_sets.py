"""SMPL-X joint sets as data tables: names, the kinematic tree, the official SMPLer-X / SMPLest-X
supervision sets, flip pairs, vertex-joint ids and evaluation regressor layouts.

Every table is plain data (tuples / read-only numpy arrays). The facts (orders, indices, vertex
ids) are those of the official SMPL-X release and of ``common/utils/human_models.py`` in the
official SMPLer-X and SMPLest-X repositories (official-spec a.6).

Index spaces used below:

- **55**: the SMPL-X skeleton (LBS joints) in SMPL-X order.
- **144**: the full SMPL-X joint output in the official order: 55 skeleton joints, 21 vertex joints
  (5 face, 6 feet, 10 fingertips), 51 static face landmarks, 17 dynamic contour landmarks.
  Without the contour the output has the first 127.
- **137**: the official supervision / keypoint set (25 body + 20 left hand + 20 right hand + 72 face),
  picked from the 144 by :data:`JOINT_137_IDX`.
- **65**: the positional set of SMPLer-X's heatmap branches = the first 65 entries of the 137 set.
- **53**: the official rotation ("orig") set: pelvis + 21 body, 15 + 15 hand joints, jaw.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SMPLX_POSE_SHAPES",
    "NUM_SMPLX_JOINTS",
    "NUM_BODY_JOINTS",
    "NUM_HAND_JOINTS",
    "NUM_SMPLX_VERTICES",
    "NUM_JOINTS_WITH_CONTOUR",
    "NUM_JOINTS_NO_CONTOUR",
    "SMPLX_SKELETON_NAMES",
    "SMPLX_PARENTS",
    "VERTEX_JOINT_NAMES",
    "VERTEX_JOINT_IDS",
    "FACE_LANDMARK_NAMES",
    "CONTOUR_LANDMARK_NAMES",
    "SMPLX_JOINT_NAMES",
    "FLIP_PAIRS_55",
    "ROOT_IDX",
    "NECK_IDX",
    "HEAD_IDX",
    "JAW_IDX",
    "LWRIST_IDX",
    "RWRIST_IDX",
    "J_REGRESSOR_IDX",
    "NECK_KIN_CHAIN",
    "JOINT_137_NAMES",
    "JOINT_137_IDX",
    "JOINT_137_PARTS",
    "JOINT_137_FLIP_PAIRS",
    "JOINT_137_ROOT_IDX",
    "JOINT_137_LWRIST_IDX",
    "JOINT_137_RWRIST_IDX",
    "JOINT_137_NECK_IDX",
    "JOINT_65_NAMES",
    "JOINT_65_IDX",
    "JOINT_65_PARTS",
    "JOINT_65_MCP",
    "ORIG_53_NAMES",
    "ORIG_53_IDX",
    "ORIG_53_PARTS",
    "ORIG_53_FLIP_PAIRS",
    "LSP14_NAMES",
    "HAND_REGRESSOR_JOINTS",
    "HAND_REGRESSOR_TIP_VERTICES",
    "HAND_REGRESSOR_NAMES",
    "MANO_VERTEX_COUNT",
    "FLAME_VERTEX_COUNT",
]


def _frozen(values: object, dtype: type = np.int64) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    arr.setflags(write=False)
    return arr


NUM_SMPLX_JOINTS = 55
"""Skeleton (LBS) joints: pelvis, 21 body, jaw, 2 eyes, 2 x 15 finger joints."""
NUM_BODY_JOINTS = 21
"""Body joints after the pelvis (``body_pose`` has 21 rotations)."""
NUM_HAND_JOINTS = 15
"""Finger joints per hand (``*_hand_pose`` has 15 rotations)."""
NUM_SMPLX_VERTICES = 10475
"""Vertices of the SMPL-X mesh."""
NUM_JOINTS_WITH_CONTOUR = 144
NUM_JOINTS_NO_CONTOUR = 127
MANO_VERTEX_COUNT = 778
"""Vertices per hand in ``MANO_SMPLX_vertex_ids.pkl``."""
FLAME_VERTEX_COUNT = 5023
"""Face vertices in ``SMPL-X__FLAME_vertex_ids.npy``."""
SMPLX_POSE_SHAPES: dict[str, tuple[int, ...]] = {
    "global_orient": (3,),
    "body_pose": (NUM_BODY_JOINTS, 3),
    "left_hand_pose": (NUM_HAND_JOINTS, 3),
    "right_hand_pose": (NUM_HAND_JOINTS, 3),
    "jaw_pose": (3,),
}
"""Unbatched axis-angle shapes of the SMPL-X pose parameters as the networks predict them (eyes
left out), in the official order."""

_FINGERS_SMPLX_ORDER = ("index", "middle", "pinky", "ring", "thumb")

SMPLX_SKELETON_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *(f"{side}_{finger}{k}" for side in ("left", "right") for finger in _FINGERS_SMPLX_ORDER
      for k in (1, 2, 3)),
)  # fmt: skip
"""The 55 skeleton joint names in SMPL-X order (fingers: index, middle, pinky, ring, thumb)."""

SMPLX_PARENTS = _frozen(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
     20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
     21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]
)  # fmt: skip
"""(55,) parent of each skeleton joint (-1 for the pelvis): the SMPL-X ``kintree_table[0]``."""

VERTEX_JOINT_NAMES: tuple[str, ...] = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
    "right_heel",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_pinky",
    "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
)  # fmt: skip
"""Names of the 21 vertex joints (output rows 55..75), in output order."""

VERTEX_JOINT_IDS = _frozen(
    [9120, 9929, 9448, 616, 6,
     5770, 5780, 8846, 8463, 8474, 8635,
     5361, 4933, 5058, 5169, 5286,
     8079, 7669, 7794, 7905, 8022]
)  # fmt: skip
"""(21,) SMPL-X vertex index of each vertex joint, aligned with :data:`VERTEX_JOINT_NAMES`."""

FACE_LANDMARK_NAMES: tuple[str, ...] = (
    *(f"right_eye_brow{k}" for k in range(1, 6)),
    *(f"left_eye_brow{k}" for k in range(5, 0, -1)),
    "nose1", "nose2", "nose3", "nose4",
    "right_nose_2", "right_nose_1", "nose_middle", "left_nose_1", "left_nose_2",
    *(f"right_eye{k}" for k in range(1, 7)),
    "left_eye4", "left_eye3", "left_eye2", "left_eye1", "left_eye6", "left_eye5",
    "right_mouth_1", "right_mouth_2", "right_mouth_3", "mouth_top", "left_mouth_3",
    "left_mouth_2", "left_mouth_1", "left_mouth_5", "left_mouth_4", "mouth_bottom",
    "right_mouth_4", "right_mouth_5",
    "right_lip_1", "right_lip_2", "lip_top", "left_lip_2", "left_lip_1", "left_lip_3",
    "lip_bottom", "right_lip_3",
)  # fmt: skip
"""The 51 static face landmarks (output rows 76..126): iBUG-68 points 18..68."""

CONTOUR_LANDMARK_NAMES: tuple[str, ...] = (
    *(f"right_contour_{k}" for k in range(1, 9)),
    "contour_middle",
    *(f"left_contour_{k}" for k in range(8, 0, -1)),
)
"""The 17 dynamic contour landmarks (output rows 127..143): iBUG-68 points 1..17."""

SMPLX_JOINT_NAMES: tuple[str, ...] = (
    SMPLX_SKELETON_NAMES + VERTEX_JOINT_NAMES + FACE_LANDMARK_NAMES + CONTOUR_LANDMARK_NAMES
)
"""All 144 output joint names in output order."""

ROOT_IDX = 0
NECK_IDX = 12
HEAD_IDX = 15
JAW_IDX = 22
LWRIST_IDX = 20
RWRIST_IDX = 21
J_REGRESSOR_IDX: dict[str, int] = {"pelvis": 0, "lwrist": 20, "rwrist": 21, "neck": 12}
"""Rows of the 55-joint regressor the official code uses for root / wrist / neck alignment."""


def _chain(joint: int) -> tuple[int, ...]:
    out = []
    while joint != -1:
        out.append(joint)
        joint = int(SMPLX_PARENTS[joint])
    return tuple(out)


NECK_KIN_CHAIN: tuple[int, ...] = _chain(NECK_IDX)
"""Joints from the neck up to the root, (12, 9, 6, 3, 0); drives the contour landmark lookup."""

FLIP_PAIRS_55: tuple[tuple[int, int], ...] = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (23, 24),
    *((25 + k, 40 + k) for k in range(15)),
)  # fmt: skip
"""Left/right pairs of the 55 skeleton joints (for mirroring rotations)."""

# --- the official 137-keypoint supervision set ------------------------------------------------

_HAND_137 = ("Thumb", "Index", "Middle", "Ring", "Pinky")

JOINT_137_NAMES: tuple[str, ...] = (
    "Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Neck", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Big_toe", "L_Small_toe",
    "L_Heel", "R_Big_toe", "R_Small_toe", "R_Heel", "L_Ear", "R_Ear", "L_Eye", "R_Eye", "Nose",
    *(f"{s}_{f}_{k}" for s in ("L", "R") for f in _HAND_137 for k in (1, 2, 3, 4)),
    *(f"Face_{k}" for k in range(1, 73)),
)  # fmt: skip
"""The 137 supervision keypoint names of the official code (``smpl_x.joints_name``)."""

JOINT_137_IDX = _frozen(
    [0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56, 55,
     37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70,
     52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75,
     22, 15, 57, 56]
    + list(range(76, 144))
)  # fmt: skip
"""(137,) row of the 144-joint SMPL-X output for each of :data:`JOINT_137_NAMES`
(``smpl_x.joint_idx``). Face: jaw, head, the two eyeballs (vertex joints), 51 landmarks,
17 contour points."""

JOINT_137_PARTS: dict[str, range] = {
    "body": range(0, 25),
    "lhand": range(25, 45),
    "rhand": range(45, 65),
    "hand": range(25, 65),
    "face": range(65, 137),
}
"""Part ranges within the 137 set: body 25, left hand 20, right hand 20, face 72."""

JOINT_137_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (8, 9), (10, 11), (12, 13), (14, 17), (15, 18), (16, 19), (20, 21),
    (22, 23),
    *((25 + k, 45 + k) for k in range(20)),
    (67, 68),
    (69, 78), (70, 77), (71, 76), (72, 75), (73, 74),
    (83, 87), (84, 86),
    (88, 97), (89, 96), (90, 95), (91, 94), (92, 99), (93, 98),
    (100, 106), (101, 105), (102, 104), (107, 111), (108, 110),
    (112, 116), (113, 115), (117, 119),
    (120, 136), (121, 135), (122, 134), (123, 133), (124, 132), (125, 131), (126, 130),
    (127, 129),
)  # fmt: skip
"""Left/right pairs within the 137 set (``smpl_x.flip_pairs``)."""

JOINT_137_ROOT_IDX = 0
JOINT_137_LWRIST_IDX = 12
JOINT_137_RWRIST_IDX = 13
JOINT_137_NECK_IDX = 7

JOINT_65_NAMES: tuple[str, ...] = JOINT_137_NAMES[:65]
"""The 65 positional joints (25 body + 20 + 20 hand) of SMPLer-X's heatmap branches."""
JOINT_65_IDX = _frozen(np.arange(65))
"""(65,) index of the positional joints within the 137 set (they are its first 65)."""
JOINT_65_PARTS: dict[str, range] = {
    "body": range(0, 25),
    "lhand": range(25, 45),
    "rhand": range(45, 65),
    "hand": range(25, 65),
}
JOINT_65_MCP: dict[str, tuple[int, ...]] = {
    "L_MCP": (4, 8, 12, 16),
    "R_MCP": (4, 8, 12, 16),
}
"""Index / middle / ring / pinky first joints, relative to the start of each 20-joint hand block
(``pos_joint_part['L_MCP']`` / ``['R_MCP']``)."""

# --- the official 53-joint rotation ("orig") set --------------------------------------------

ORIG_53_NAMES: tuple[str, ...] = (
    "Pelvis", "L_Hip", "R_Hip", "Spine_1", "L_Knee", "R_Knee", "Spine_2", "L_Ankle", "R_Ankle",
    "Spine_3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
    *(f"{s}_{f}_{k}" for s in ("L", "R") for f in ("Index", "Middle", "Pinky", "Ring", "Thumb")
      for k in (1, 2, 3)),
    "Jaw",
)  # fmt: skip
"""The 53 rotation joints of the official code (``smpl_x.orig_joints_name``)."""
ORIG_53_IDX = _frozen(list(range(22)) + list(range(25, 55)) + [22])
"""(53,) skeleton joint (0..54) of each rotation joint."""
ORIG_53_PARTS: dict[str, range] = {
    "body": range(0, 22),
    "lhand": range(22, 37),
    "rhand": range(37, 52),
    "face": range(52, 53),
}
ORIG_53_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21),
    *((22 + k, 37 + k) for k in range(15)),
)  # fmt: skip

# --- evaluation regressors ---------------------------------------------------------------------

LSP14_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)  # fmt: skip
"""The 14 LSP joints regressed by ``SMPLX_to_J14.pkl`` (rows of that 14 x 10475 matrix)."""

HAND_REGRESSOR_JOINTS: dict[str, tuple[int, ...]] = {
    "left": (20, 37, 38, 39, 25, 26, 27, 28, 29, 30, 34, 35, 36, 31, 32, 33),
    "right": (21, 52, 53, 54, 40, 41, 42, 43, 44, 45, 49, 50, 51, 46, 47, 48),
}
"""J_regressor rows used by the official 21-joint hand regressor: wrist, then thumb, index,
middle, ring, pinky (3 each). Each finger's 3 rows are followed by its fingertip vertex."""

HAND_REGRESSOR_TIP_VERTICES: dict[str, tuple[int, ...]] = {
    "left": (5361, 4933, 5058, 5169, 5286),
    "right": (8079, 7669, 7794, 7905, 8022),
}
"""Fingertip vertices (thumb, index, middle, ring, pinky) of the 21-joint hand regressor."""

HAND_REGRESSOR_NAMES: tuple[str, ...] = (
    "wrist",
    *(f"{f}_{k}" for f in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3, 4)),
)
"""Row names of the 21-joint hand regressor (``*_4`` = fingertip vertex)."""
