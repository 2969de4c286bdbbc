"""The bundled pose, hand and face landmark models run on rotated crops, as mediapipe's graphs do.

- Pose (``modules/pose_landmark/pose_landmark_by_roi_cpu.pbtxt``): 256x256 crop in [0, 1];
  39 points x (x, y, z, visibility, presence) refined by the 64x64 heatmap (kernel 7); the first
  33 are the landmarks, 33-34 the auxiliary alignment points; 39 world points (metres) rotated by
  the crop angle; a pose-presence score gated at 0.5.
- Hands (``modules/holistic_landmark/hand_landmarks_from_pose_cpu.pbtxt``): gated on the pose
  wrist visibility (> 0.1); a crop from the pose wrist/pinky/index (x2.7, shifted up 0.1),
  refined by ``hand_recrop.tflite`` (two alignment points), then ``hand_landmark_full.tflite``
  on a 224x224 crop, gated on its hand-presence score (> 0.5).
- Face (``modules/holistic_landmark/face_landmarks_from_pose_cpu.pbtxt``): a crop from the 11
  pose face points (x3, aligned on the eyes), the short-range face detector inside it, a crop
  from the detector's six keypoints (x2, shifted up 0.1), ``face_landmark.tflite`` (468 points,
  presence gated at 0.5). The irises come from ``iris_landmark.tflite`` on two eye crops (the
  iris-tracking graph), because the attention face model that predicts them in one pass needs
  custom ops that LiteRT's Python interpreter lacks. The 71 contour points per eye from the iris
  model replace the mesh's eye points (``UpdateFaceLandmarksCalculator``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ehps.detection.litert import TfliteModel
from ehps.detection.roi import (
    ImagePyramid,
    Roi,
    as_pyramid,
    letterbox_to_roi,
    roi_from_alignment,
    roi_from_points,
    roi_to_image,
    rotation_between,
    transform_roi,
)
from ehps.detection.ssd import FACE_SHORT_RANGE_SSD, decode_detections, ssd_anchors, weighted_nms

__all__ = [
    "PoseResult",
    "PoseLandmarker",
    "POSE_MIRROR",
    "PartResult",
    "HandResult",
    "HandLandmarker",
    "FaceResult",
    "FaceLandmarker",
    "hand_roi_from_pose",
    "face_roi_from_pose",
    "LEFT_EYE_CONTOUR",
    "RIGHT_EYE_CONTOUR",
]


def _crop(
    image: np.ndarray | ImagePyramid, roi: Roi, size: int, value_range: tuple[float, float],
    **kwargs: bool,
) -> tuple[np.ndarray, Roi, np.ndarray]:
    """A square ``size`` x ``size`` model input from ``roi`` (letterboxed unless told not to)."""
    kwargs.setdefault("keep_aspect_ratio", True)
    return as_pyramid(image).crop(roi, (size, size), value_range, **kwargs)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -500.0, 500.0)))


# ------------------------------------------------------------------------------------- pose


@dataclass
class PoseResult:
    """Pose landmarks of one crop.

    Attributes:
        points: (33, 3) float64 image pixels x, y and relative depth z (pixels, like x).
        visibility: (33,) sigmoid visibility.
        presence: (33,) sigmoid presence.
        auxiliary: (2, 2) image pixels of the two alignment points (hip centre, scale point).
        world: (33, 3) metres, hip-centred, camera-aligned axes (x right, y down, z away).
        score: pose presence score of the crop in [0, 1].
        roi: the crop.
        mask_logits: (256, 256) float32 person-segmentation logits over ``mask_roi``.
        mask_roi: the (letterbox-padded) rect that maps onto the whole mask.
    """

    points: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    auxiliary: np.ndarray
    world: np.ndarray
    score: float
    roi: Roi
    mask_logits: np.ndarray | None = None
    mask_roi: Roi | None = None


#: BlazePose landmark index of each point's mirror image (the person's left <-> right): nose
#: 0, eyes 1-3 <-> 4-6, ears 7 <-> 8, mouth 9 <-> 10, then pairs (11, 12) ... (31, 32).
POSE_MIRROR: np.ndarray = np.array(
    [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9]
    + [i + 1 if i % 2 else i - 1 for i in range(11, 33)], dtype=np.int64)


def _refine_from_heatmap(xy_norm: np.ndarray, heatmap: np.ndarray, kernel: int = 7,
                         min_conf: float = 0.5) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator: replace each point by the sigmoid-weighted mean of
    its kernel x kernel heatmap window, when the window's peak confidence >= ``min_conf``."""
    hm_h, hm_w, n = heatmap.shape
    out = xy_norm.copy()
    half = (kernel - 1) // 2
    conf_all = _sigmoid(heatmap)
    for i in range(n):
        col = int(xy_norm[i, 0] * hm_w)  # C++ float->int truncation
        row = int(xy_norm[i, 1] * hm_h)
        if col < 0 or col >= hm_w or row < 0 or row >= hm_h:
            continue
        r0, r1 = max(0, row - half), min(hm_h, row + half + 1)
        c0, c1 = max(0, col - half), min(hm_w, col + half + 1)
        conf = conf_all[r0:r1, c0:c1, i]
        total = conf.sum()
        if conf.max() >= min_conf and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / hm_w / total
            out[i, 1] = (rows * conf).sum() / hm_h / total
    return out


class PoseLandmarker:
    """``pose_landmark_full.tflite`` on a rotated crop (the only bundled pose landmark model)."""

    def __init__(self, num_threads: int = 2) -> None:
        self.model = TfliteModel("pose_landmark_full", num_threads)

    def __call__(self, image: np.ndarray | ImagePyramid, roi: Roi, flip: bool = False
                 ) -> PoseResult:
        """Pose landmarks in ``roi``.

        Args:
            image: (H, W, 3) uint8 RGB image (or its pyramid).
            roi: the crop in image pixels.
            flip: run the model on the horizontally mirrored crop and map its answer back
                (x mirrored in the crop, world x negated, the person's left/right points
                swapped): a second opinion of the same crop for test-time augmentation.
        """
        size = self.model.input_hw[0]
        tensor, padded, pad = _crop(image, roi, size, (0.0, 1.0), flip_horizontally=flip)
        raw, flag, seg, heatmap, raw_world = self.model(tensor[None])
        lm = raw.reshape(39, 5).astype(np.float64)
        xyz = lm[:, :3] / size  # z is normalised by the width as well
        xyz[:, :2] = _refine_from_heatmap(xyz[:, :2], heatmap[0])
        world = raw_world.reshape(39, 3)[:33].astype(np.float64)
        mask = seg[0, :, :, 0]
        if flip:  # back from the mirrored crop (the letterbox padding is symmetric)
            xyz[:, 0] = 1.0 - xyz[:, 0]
            world[:, 0] = -world[:, 0]
            xyz[:33], lm[:33] = xyz[POSE_MIRROR], lm[POSE_MIRROR]
            world = world[POSE_MIRROR]
            mask = mask[:, ::-1].copy()
        img = roi_to_image(letterbox_to_roi(xyz, pad), roi)
        c, s = math.cos(roi.rotation), math.sin(roi.rotation)
        world_xy = world[:, :2] @ np.array([[c, s], [-s, c]])
        world = np.concatenate([world_xy, world[:, 2:]], axis=1)
        return PoseResult(
            points=img[:33], visibility=_sigmoid(lm[:33, 3]), presence=_sigmoid(lm[:33, 4]),
            auxiliary=img[33:35, :2], world=world, score=float(np.ravel(flag)[0]), roi=roi,
            mask_logits=mask, mask_roi=padded,
        )


# ------------------------------------------------------------------------------------- hands


@dataclass
class PartResult:
    """Landmarks of one hand or face: ``points`` (N, 3) image pixels (z relative, pixels),
    ``score`` the part's presence, ``roi`` the landmark crop, ``roi_from_pose`` the first crop
    derived from the pose."""

    points: np.ndarray
    score: float
    roi: Roi
    roi_from_pose: Roi


class HandResult(PartResult):
    """One hand: ``points`` (21, 3), ``roi`` the final crop, ``roi_from_pose`` the crop before
    the re-crop model (fields of :class:`PartResult`)."""


def hand_roi_from_pose(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> Roi:
    """HandDetectionsFromPoseToRectsCalculator + RectTransformation(x2.7, shift_y -0.1):
    centred on (2 index + pinky) / 3, side twice its distance to the wrist, fingers up."""
    wrist = np.asarray(wrist, np.float64)
    middle = (2.0 * np.asarray(index, np.float64) + np.asarray(pinky, np.float64)) / 3.0
    size = 2.0 * float(np.hypot(*(middle - wrist)))
    rot = rotation_between(wrist, middle, math.pi / 2)
    roi = Roi(float(middle[0]), float(middle[1]), size, size, rot)
    return transform_roi(roi, 2.7, 2.7, shift_y=-0.1, square_long=True)


class HandLandmarker:
    """The holistic hand path: pose-based crop -> ``hand_recrop`` -> ``hand_landmark_full``.

    Args:
        num_threads: LiteRT CPU threads.
        min_presence: hand presence threshold (mediapipe: 0.5).
    """

    def __init__(self, num_threads: int = 2, min_presence: float = 0.5) -> None:
        self.recrop = TfliteModel("hand_recrop", num_threads)
        self.model = TfliteModel("hand_landmark_full", num_threads)
        self.min_presence = float(min_presence)

    def recrop_roi(self, image: np.ndarray | ImagePyramid, roi: Roi) -> Roi:
        """HandRecropByRoiCpu: two alignment points -> a tighter, re-aligned crop."""
        size = self.recrop.input_hw[0]
        tensor, _, pad = _crop(image, roi, size, (0.0, 1.0))
        (raw,) = self.recrop(tensor[None])
        pts = roi_to_image(letterbox_to_roi(raw.reshape(2, 2) / size, pad), roi)
        new = roi_from_alignment(pts[0], pts[1], -math.pi / 2)
        return transform_roi(new, 1.0, 1.0, shift_y=-0.1, square_long=True)

    def __call__(self, image: np.ndarray | ImagePyramid, wrist: np.ndarray, pinky: np.ndarray,
                 index: np.ndarray) -> HandResult | None:
        """Landmarks of one hand from its three pose points (pixels); ``None`` when absent."""
        roi0 = hand_roi_from_pose(wrist, pinky, index)
        if not (roi0.w > 1.0):
            return None
        roi = self.recrop_roi(image, roi0)
        if not (roi.w > 1.0):
            return None
        size = self.model.input_hw[0]
        tensor, _, pad = _crop(image, roi, size, (0.0, 1.0))
        raw, flag, _handedness, _world = self.model(tensor[None])
        score = float(np.ravel(flag)[0])
        if not score > self.min_presence:
            return None
        xyz = raw.reshape(21, 3).astype(np.float64) / size
        xyz[:, 2] /= 0.4  # normalize_z of the hand graph
        pts = roi_to_image(letterbox_to_roi(xyz, pad), roi)
        return HandResult(points=pts, score=score, roi=roi, roi_from_pose=roi0)


# -------------------------------------------------------------------------------------- face

#: Face-mesh indices of the 71 eye-contour points the iris model predicts, per eye (the
#: "left" eye is the one whose corners are mesh points 33 and 133).
LEFT_EYE_CONTOUR: tuple[int, ...] = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
    226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
    35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245,
    156, 70, 63, 105, 66, 107, 55, 193,
)  # fmt: skip
RIGHT_EYE_CONTOUR: tuple[int, ...] = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465,
    383, 300, 293, 334, 296, 336, 285, 417,
)  # fmt: skip


class FaceResult(PartResult):
    """One face: ``points`` (478, 3) (468 mesh + 5 left-iris + 5 right-iris) (fields of
    :class:`PartResult`)."""


def face_roi_from_pose(face_points: np.ndarray) -> Roi:
    """FaceLandmarksFromPoseToRecropRoi: box of the 11 pose face points, aligned on the eyes
    (point 5 -> point 2), x3, square."""
    roi = roi_from_points(face_points[:, :2], rot_start=5, rot_end=2, target_angle=0.0)
    return transform_roi(roi, 3.0, 3.0, square_long=True)


class FaceLandmarker:
    """Face detection inside the pose-based crop, then face mesh and irises.

    Args:
        num_threads: LiteRT CPU threads.
        min_presence: face presence threshold (mediapipe: 0.5).
    """

    def __init__(self, num_threads: int = 2, min_presence: float = 0.5) -> None:
        self.detector = TfliteModel("face_detection_short_range", num_threads)
        self.mesh = TfliteModel("face_landmark", num_threads)
        self.iris = TfliteModel("iris_landmark", num_threads)
        self.anchors = ssd_anchors(FACE_SHORT_RANGE_SSD)
        self.min_presence = float(min_presence)

    def detect_face(self, image: np.ndarray | ImagePyramid, roi: Roi) -> np.ndarray | None:
        """Short-range face detector in ``roi``: (6, 2) pixel keypoints of the best face (right
        eye, left eye, nose tip, mouth, right ear, left ear) or ``None``."""
        size = FACE_SHORT_RANGE_SSD.input_size
        tensor, _, pad = _crop(image, roi, size, (-1.0, 1.0), border_zero=True)
        raw_boxes, raw_scores = self.detector(tensor[None])
        boxes, kps, scores = decode_detections(raw_boxes[0], raw_scores[0], self.anchors,
                                               FACE_SHORT_RANGE_SSD, 0.5)
        if scores.size == 0:
            return None
        _, kps, _ = weighted_nms(boxes, kps, scores, 0.3)
        return roi_to_image(letterbox_to_roi(kps[0], pad), roi)

    def _eye(self, image: np.ndarray | ImagePyramid, corner_a: np.ndarray, corner_b: np.ndarray,
             flip: bool) -> tuple[np.ndarray, np.ndarray]:
        roi = roi_from_points(np.stack([corner_a, corner_b]), 0, 1, 0.0)
        roi = transform_roi(roi, 2.3, 2.3, square_long=True)
        size = self.iris.input_hw[0]
        tensor, _, pad = _crop(image, roi, size, (0.0, 1.0), flip_horizontally=flip)
        contour_raw, iris_raw = self.iris(tensor[None])
        contour = contour_raw.reshape(71, 3).astype(np.float64) / size
        iris = iris_raw.reshape(5, 3).astype(np.float64) / size
        if flip:
            contour[:, 0] = 1.0 - contour[:, 0]
            iris[:, 0] = 1.0 - iris[:, 0]
            # The mirrored crop swaps the iris' two side points; put them back in the order of
            # the 478-point mesh (checked against mediapipe's attention model on the astronaut).
            iris[[1, 3]] = iris[[3, 1]]
        return (roi_to_image(letterbox_to_roi(contour, pad), roi),
                roi_to_image(letterbox_to_roi(iris, pad), roi))

    def __call__(
        self, image: np.ndarray | ImagePyramid, pose_face_points: np.ndarray
    ) -> FaceResult | None:
        """Face landmarks from the 11 pose face points (pixels, (11, >=2)); ``None`` if absent."""
        roi0 = face_roi_from_pose(np.asarray(pose_face_points, np.float64))
        if not (roi0.w > 1.0):
            return None
        kps = self.detect_face(image, roi0)
        if kps is None:
            return None
        roi = roi_from_points(kps, 0, 1, 0.0)
        roi = transform_roi(roi, 2.0, 2.0, shift_y=-0.1, square_long=True)
        if not (roi.w > 1.0):
            return None
        size = self.mesh.input_hw[0]
        tensor, _, pad = _crop(image, roi, size, (0.0, 1.0), keep_aspect_ratio=False)
        raw, flag = self.mesh(tensor[None])
        score = float(_sigmoid(np.ravel(flag)[0]))
        if not score > self.min_presence:
            return None
        mesh = roi_to_image(letterbox_to_roi(raw.reshape(468, 3) / size, pad), roi)
        left_contour, left_iris = self._eye(image, mesh[33, :2], mesh[133, :2], flip=False)
        right_contour, right_iris = self._eye(image, mesh[362, :2], mesh[263, :2], flip=True)
        mesh[list(LEFT_EYE_CONTOUR), :2] = left_contour[:, :2]
        mesh[list(RIGHT_EYE_CONTOUR), :2] = right_contour[:, :2]
        iris_z_left = mesh[list(LEFT_EYE_CONTOUR[:16]), 2].mean()
        iris_z_right = mesh[list(RIGHT_EYE_CONTOUR[:16]), 2].mean()
        left_iris[:, 2] = iris_z_left
        right_iris[:, 2] = iris_z_right
        points = np.concatenate([mesh, left_iris, right_iris], axis=0)
        return FaceResult(points=points, score=score, roi=roi, roi_from_pose=roi0)
