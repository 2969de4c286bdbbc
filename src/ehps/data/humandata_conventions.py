"""Facts of the HumanData (mmhuman3d) format as SMPLer-X / SMPLest-X consume it (official-spec c.6).

Tables here are data copied as facts: the 190-keypoint ``HUMAN_DATA`` convention of mmhuman3d, the
190 -> 137 index table the official loaders use (``SMPLX_137_MAPPING``), the key priority orders and
the SMPL-X mean hand pose used to convert ``flat_hand_mean=True`` labels.

Note on ``SMPLX_137_MAPPING``: it equals the 144 -> 137 table of the SMPL-X joint set except for
the two "eyeball" face points (137-set slots 67 and 68), which it takes in the order right eye,
left eye (HUMAN_DATA 56, 57) where the SMPL-X table takes left, right (57, 56). The official
loaders use it as is; so do we.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HUMANDATA_BOX_PADDING",
    "HUMAN_DATA_KEYPOINTS",
    "NUM_HUMAN_DATA_KEYPOINTS",
    "SMPLX_137_MAPPING",
    "KPS3D_KEYS",
    "KPS2D_KEYS",
    "PARAM_DICT_KEYS",
    "SMPLX_HAND_MEAN_RIGHT",
    "SMPLX_HAND_MEAN_LEFT",
]

#: HumanData stores person boxes already enlarged by this factor (readers undo it with
#: ``bbox_ratio * 0.833`` before the crop; writers of new files apply it).
HUMANDATA_BOX_PADDING: float = 1.2

#: The 190 keypoint names of mmhuman3d's ``HUMAN_DATA`` convention, in storage order. The first 144
#: coincide with the 144 SMPL-X output joints (55 skeleton, 21 vertex joints, 51 face, 17 contour).
HUMAN_DATA_KEYPOINTS: tuple[str, ...] = (
    'pelvis', 'left_hip', 'right_hip', 'spine_1', 'left_knee', 'right_knee', 'spine_2',
    'left_ankle', 'right_ankle', 'spine_3', 'left_foot', 'right_foot', 'neck', 'left_collar',
    'right_collar', 'head', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'jaw', 'left_eyeball', 'right_eyeball', 'left_index_1',
    'left_index_2', 'left_index_3', 'left_middle_1', 'left_middle_2', 'left_middle_3',
    'left_pinky_1', 'left_pinky_2', 'left_pinky_3', 'left_ring_1', 'left_ring_2', 'left_ring_3',
    'left_thumb_1', 'left_thumb_2', 'left_thumb_3', 'right_index_1', 'right_index_2',
    'right_index_3', 'right_middle_1', 'right_middle_2', 'right_middle_3', 'right_pinky_1',
    'right_pinky_2', 'right_pinky_3', 'right_ring_1', 'right_ring_2', 'right_ring_3',
    'right_thumb_1', 'right_thumb_2', 'right_thumb_3', 'nose', 'right_eye', 'left_eye',
    'right_ear', 'left_ear', 'left_bigtoe', 'left_smalltoe', 'left_heel', 'right_bigtoe',
    'right_smalltoe', 'right_heel', 'left_thumb', 'left_index', 'left_middle', 'left_ring',
    'left_pinky', 'right_thumb', 'right_index', 'right_middle', 'right_ring', 'right_pinky',
    'right_eyebrow_1', 'right_eyebrow_2', 'right_eyebrow_3', 'right_eyebrow_4',
    'right_eyebrow_5', 'left_eyebrow_5', 'left_eyebrow_4', 'left_eyebrow_3', 'left_eyebrow_2',
    'left_eyebrow_1', 'nosebridge_1', 'nosebridge_2', 'nosebridge_3', 'nosebridge_4',
    'right_nose_2', 'right_nose_1', 'nose_middle', 'left_nose_1', 'left_nose_2', 'right_eye_1',
    'right_eye_2', 'right_eye_3', 'right_eye_4', 'right_eye_5', 'right_eye_6', 'left_eye_4',
    'left_eye_3', 'left_eye_2', 'left_eye_1', 'left_eye_6', 'left_eye_5', 'right_mouth_1',
    'right_mouth_2', 'right_mouth_3', 'mouth_top', 'left_mouth_3', 'left_mouth_2',
    'left_mouth_1', 'left_mouth_5', 'left_mouth_4', 'mouth_bottom', 'right_mouth_4',
    'right_mouth_5', 'right_lip_1', 'right_lip_2', 'lip_top', 'left_lip_2', 'left_lip_1',
    'left_lip_3', 'lip_bottom', 'right_lip_3', 'right_contour_1', 'right_contour_2',
    'right_contour_3', 'right_contour_4', 'right_contour_5', 'right_contour_6',
    'right_contour_7', 'right_contour_8', 'contour_middle', 'left_contour_8', 'left_contour_7',
    'left_contour_6', 'left_contour_5', 'left_contour_4', 'left_contour_3', 'left_contour_2',
    'left_contour_1', 'right_hip_extra', 'left_hip_extra', 'neck_extra', 'headtop',
    'pelvis_extra', 'thorax_extra', 'spine_extra', 'jaw_extra', 'head_extra', 'nose_openpose',
    'neck_openpose', 'right_shoulder_openpose', 'right_elbow_openpose', 'right_wrist_openpose',
    'left_shoulder_openpose', 'left_elbow_openpose', 'left_wrist_openpose', 'pelvis_openpose',
    'right_hip_openpose', 'right_knee_openpose', 'right_ankle_openpose', 'left_hip_openpose',
    'left_knee_openpose', 'left_ankle_openpose', 'right_eye_openpose', 'left_eye_openpose',
    'right_ear_openpose', 'left_ear_openpose', 'left_bigtoe_openpose', 'left_smalltoe_openpose',
    'left_heel_openpose', 'right_bigtoe_openpose', 'right_smalltoe_openpose',
    'right_heel_openpose', 'spine_4_3dhp', 'left_clavicle_3dhp', 'right_clavicle_3dhp',
    'left_hand_3dhp', 'right_hand_3dhp', 'left_toe_3dhp', 'right_toe_3dhp', 'head_h36m',
    'headtop_h36m', 'head_bottom_pt', 'left_hand', 'right_hand'
)
NUM_HUMAN_DATA_KEYPOINTS: int = 190

#: Index into the 190 HUMAN_DATA keypoints for each of the 137 supervision joints (official table).
SMPLX_137_MAPPING: np.ndarray = np.array(
    [
        0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56,
        55, 37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70, 52,
        53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75, 22, 15, 56,
        57, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96,
        97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114,
        115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131,
        132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143
    ],
    dtype=np.int64,
)

#: 3D keypoint keys in priority order: the first present one is used (``keypoints3d_cam`` is root
#: aligned, ``keypoints3d`` the older name, ``keypoints3d_smplx`` beats ``keypoints3d_original``).
KPS3D_KEYS: tuple[str, ...] = (
    "keypoints3d_cam",
    "keypoints3d",
    "keypoints3d_smplx",
    "keypoints3d_smpl",
    "keypoints3d_original",
)
#: 2D keypoint keys in priority order.
KPS2D_KEYS: tuple[str, ...] = (
    "keypoints2d",
    "keypoints2d_smplx",
    "keypoints2d_smpl",
    "keypoints2d_original",
)
#: Keys whose value is a dict of arrays (a pickled 0-d object array in official files, flattened
#: ``<key>.<field>`` members in files written by ehps).
PARAM_DICT_KEYS: tuple[str, ...] = ("smplx", "smpl", "smplh", "meta", "misc", "mano")

#: SMPL-X mean right-hand pose (15, 3) axis-angle (the model file's ``hands_meanr``); labels stored
#: with ``flat_hand_mean=True`` are converted to the official convention by subtracting it.
SMPLX_HAND_MEAN_RIGHT: np.ndarray = np.array(
    [
        0.11167871, -0.04289218, 0.41644183, 0.10881133, 0.06598568, 0.75622, -0.09639297,
        0.09091566, 0.18845929, -0.11809504, -0.05094385, 0.5295845, -0.14369841, -0.0552417,
        0.7048571, -0.01918292, 0.09233685, 0.3379135, -0.45703298, 0.19628395, 0.6254575,
        -0.21465237, 0.06599829, 0.50689423, -0.36972436, 0.06034463, 0.07949023, -0.1418697,
        0.08585263, 0.63552827, -0.3033416, 0.05788098, 0.6313892, -0.17612089, 0.13209307,
        0.37335458, 0.8509643, -0.27692273, 0.09154807, -0.49983943, -0.02655647, -0.05288088,
        0.5355592, -0.04596104, 0.27735803
    ],
    dtype=np.float32,
).reshape(15, 3)
#: SMPL-X mean left-hand pose: the right one mirrored (y and z negated).
SMPLX_HAND_MEAN_LEFT: np.ndarray = SMPLX_HAND_MEAN_RIGHT * np.array([1.0, -1.0, -1.0], np.float32)
