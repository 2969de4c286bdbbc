"""The embedded default detector: every person's whole-body landmarks from mediapipe 0.10.21's
bundled models, run directly with LiteRT (no mediapipe graph, no download).

Pipeline per image (all coordinates in original-image pixels):

1. Person search (:mod:`ehps.detection.person_search`, tuned by a
   :class:`~ehps.detection.person_search.SearchConfig`): BlazePose detector proposals on the
   windows of the search mode (whole image, padded shifted squares, scale-space tiles),
   merged across scales without fusing close people, verified by the pose landmark model's
   presence score (above ``min_presence``), completed by full-range face-detector proposals for
   faces no person explains, and deduplicated (landmark sets whose median point distance is
   below ``duplicate_distance`` times the body size, or whose silhouettes overlap with an IoU
   above ``duplicate_iou``, are one person; the higher detector x presence score is kept).
2. Optional test-time augmentation of each person's body landmarks (``pose_tta``, off by
   default): the landmark model also runs on the mirrored crop and the two answers are merged
   (:mod:`ehps.detection.pose_tta`).
3. Hands and face per person, exactly as mediapipe's Holistic graph derives them from the pose
   (see :mod:`ehps.detection.landmarks`); if both hand crops converged on one hand, the side
   whose hand wrist is nearer its pose wrist keeps it.

With ``search="full"`` and one person this reproduces
``mp.solutions.holistic.Holistic(static_image_mode=True, model_complexity=1)`` (body landmarks to a
fraction of a pixel on the bundled photos; see ``tests/detection``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ehps.detection.base import PersonLandmarks
from ehps.detection.face_detector import FaceDetector
from ehps.detection.landmarks import (
    FaceLandmarker,
    HandLandmarker,
    HandResult,
    PoseLandmarker,
    PoseResult,
)
from ehps.detection.people import (
    box_iou_xywh,
    person_box,
    roi_from_pose,
    same_hand,
    usable_roi,
)
from ehps.detection.person_search import (
    Candidate,
    PersonSearch,
    SearchConfig,
)
from ehps.detection.pose_detector import PoseDetector, roi_from_detection
from ehps.detection.pose_tta import POSE_TTA_MODES, merge_flipped
from ehps.detection.roi import ImagePyramid, Roi, as_pyramid
from ehps.detection.search import (
    SEARCH_MODES,
)
from ehps.detection.segment_proposals import SelfieSegmenter
from ehps.errors import InputError
from ehps.io.image import as_rgb_uint8

__all__ = ["MediapipeDetector"]

_log = logging.getLogger("ehps.detection")

#: Pose landmark indices of (wrist, pinky, index) per hand (the person's own left/right).
_HAND_POINTS = {"left": (15, 17, 19), "right": (16, 18, 20)}
#: Minimum pose wrist visibility for a hand to be looked for (holistic graph: 0.1).
_WRIST_VISIBILITY = 0.1


class MediapipeDetector(PersonSearch):
    """Multi-person whole-body landmarks from mediapipe 0.10.21's bundled tflite models.

    Args:
        min_score: person-detector score threshold (mediapipe's ``min_detection_confidence``).
        max_people: keep at most this many people (highest scores first); ``None``: all.
        hands: also find each person's hands (21 points each).
        face: also find each person's face (478 points).
        min_presence: pose-presence threshold for a candidate to count as a person
            (mediapipe's ``min_tracking_confidence``, 0.5).
        search: where to look for people: ``"auto"``, ``"full"`` (mediapipe's single view),
            ``"wide"`` or ``"dense"`` (see :mod:`ehps.detection.search`).
        duplicate_distance: two landmark sets whose median point distance is below this
            fraction of the person's size are the same person.
        duplicate_iou: two candidates whose person masks (the pose model's segmentation)
            overlap with an IoU above this are the same person.
        num_threads: CPU threads per model (LiteRT/XNNPACK).
        search_config: tiles, merging, face proposals, refinement of the person search
            (default :class:`~ehps.detection.person_search.SearchConfig`).
        pose_tta: test-time augmentation of each found person's body landmarks (step 2):
            ``"none"`` (default) is mediapipe's single pass; ``"flip-mean"`` also runs the
            landmark model on the mirrored crop and keeps the mean of the two answers;
            ``"flip"`` also lowers the confidence where they disagree; ``"flip-2d"`` averages
            the image points only (see
            :mod:`ehps.detection.pose_tta`; on the hard-pose set neither beat the single pass
            beyond noise).

    Raises:
        MissingDependencyError: mediapipe or ai-edge-litert is not installed.
    """

    def __init__(
        self,
        min_score: float = 0.5,
        max_people: int | None = None,
        hands: bool = True,
        face: bool = True,
        *,
        min_presence: float = 0.5,
        search: str = "auto",
        duplicate_distance: float = 0.1,
        duplicate_iou: float = 0.35,
        num_threads: int = 2,
        search_config: SearchConfig | None = None,
        pose_tta: str = "none",
    ) -> None:
        if search not in SEARCH_MODES:
            raise ValueError(f"search must be one of {SEARCH_MODES}, got {search!r}")
        if pose_tta not in POSE_TTA_MODES:
            raise ValueError(f"pose_tta must be one of {POSE_TTA_MODES}, got {pose_tta!r}")
        if max_people is not None and max_people < 1:
            raise ValueError(f"max_people must be >= 1 or None, got {max_people}")
        self.min_score = float(min_score)
        self.max_people = max_people
        self.hands = bool(hands)
        self.face = bool(face)
        self.min_presence = float(min_presence)
        self.search = search
        self.duplicate_distance = float(duplicate_distance)
        self.duplicate_iou = float(duplicate_iou)
        self.search_config = search_config or SearchConfig()
        self.pose_tta = pose_tta
        cfg = self.search_config
        self.pose_detector = PoseDetector(num_threads,
                                          min_score=min(self.min_score, cfg.tile_min_score))
        self.pose_landmarker = PoseLandmarker(num_threads)
        self._num_threads = num_threads
        self._hand: HandLandmarker | None = None
        self._face: FaceLandmarker | None = None
        self._face_detector: FaceDetector | None = None
        self._segmenter: SelfieSegmenter | None = None

    @classmethod
    def baseline(cls, search: str = "auto", **kwargs: object) -> MediapipeDetector:
        """The detector as it was before issue 19 (for side-by-side benchmarks)."""
        kwargs.setdefault("duplicate_iou", 0.35)
        kwargs.setdefault("pose_tta", "none")
        return cls(search=search, search_config=SearchConfig.baseline(),
                   **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ lazily built models

    @property
    def hand_landmarker(self) -> HandLandmarker:
        if self._hand is None:
            self._hand = HandLandmarker(self._num_threads)
        return self._hand

    @property
    def face_detector(self) -> FaceDetector:
        if self._face_detector is None:
            self._face_detector = FaceDetector(self._num_threads,
                                               min_score=self.search_config.face_min_score)
        return self._face_detector

    @property
    def selfie_segmenter(self) -> SelfieSegmenter:
        if self._segmenter is None:
            self._segmenter = SelfieSegmenter(self._num_threads)
        return self._segmenter

    @property
    def face_landmarker(self) -> FaceLandmarker:
        if self._face is None:
            self._face = FaceLandmarker(self._num_threads)
        return self._face

    # ---------------------------------------------------------------------------- public

    def __call__(self, image_rgb: np.ndarray) -> list[PersonLandmarks]:
        """Every person in an (H, W, 3) uint8 RGB image (see :meth:`detect`)."""
        return self.detect(image_rgb)

    def detect(
        self, image_rgb: np.ndarray, boxes_xywh: np.ndarray | None = None
    ) -> list[PersonLandmarks]:
        """Whole-body landmarks of every person, highest score first.

        Args:
            image_rgb: (H, W, 3) uint8 RGB ((H, W) gray and (H, W, 4) RGBA are converted).
            boxes_xywh: optional (N, 4) person boxes in pixels: skip the person search and
                look for one person inside each box. People found carry ``extras["box_index"]``
                (boxes with nobody in them give no entry).

        Returns:
            one :class:`PersonLandmarks` per person; empty when nobody is found (logged).
        """
        image = self._check_image(image_rgb)
        pyramid = ImagePyramid(image)
        if boxes_xywh is None:
            people = self._find_people(pyramid)
        else:
            people = self._people_in_boxes(pyramid, self._check_boxes(boxes_xywh))
        result = [self._complete(pyramid, p) for p in people]
        if not result:
            _log.info("no person found in the %dx%d image", image.shape[1], image.shape[0])
        return result

    def detect_people(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes only (detection + body landmarks, no hands or face).

        Returns:
            ``(boxes_xywh (N, 4) float32, scores (N,) float32)``, highest score first; the boxes
            are the landmark boxes of :attr:`PersonLandmarks.bbox_xywh`.
        """
        image = self._check_image(image_rgb)
        people = self._find_people(ImagePyramid(image))
        h, w = image.shape[:2]
        boxes = [person_box(p.pose, [], h, w) for p in people]
        return (np.asarray(boxes, np.float32).reshape(-1, 4),
                np.asarray([p.score for p in people], np.float32))

    # ------------------------------------------------- pieces for landmark tracking (video)

    def search_people(self, image: np.ndarray | ImagePyramid, face_free: bool = True
                      ) -> list[tuple[PoseResult, float, float]]:
        """The person search alone (steps 1-3 of the module docstring, ``max_people`` applied):
        ``(pose landmarks, score, detector score)`` per person, highest score first.
        ``face_free=False`` skips the face-free proposals (step 4b of
        :mod:`ehps.detection.person_search`) whatever the search config says."""
        return [(p.pose, p.score, p.det_score)
                for p in self._find_people(as_pyramid(image), face_free)]

    def people_in_windows(self, image: np.ndarray | ImagePyramid, windows: Sequence[Roi],
                          known: Sequence[PoseResult] = ()
                          ) -> list[tuple[PoseResult, float, float]]:
        """A person search restricted to ``windows`` (the tile rules of step 1, verification of
        step 3, the ``min_box_px`` size floor; proposals matching a ``known`` person's full-body
        circle are skipped before any landmark work): ``(pose landmarks, score, detector
        score)`` per person found."""
        pyramid = as_pyramid(image)
        if not windows:
            return []
        dets = self._detect_in(pyramid, list(windows))
        people = self._landmark_candidates(pyramid, dets,
                                           known=[Candidate(p, 1.0, p.score) for p in known])
        h, w = pyramid.shape[:2]
        people = self._deduplicate(self._big_enough(people, h, w))
        return [(p.pose, p.score, p.det_score) for p in people]

    def pose_in_roi(self, image: np.ndarray | ImagePyramid, roi: Roi) -> PoseResult | None:
        """Pose landmarks in a region (mediapipe's tracking path: the region comes from the
        previous frame's landmarks); ``None`` when the pose presence is not above
        ``min_presence``."""
        if not usable_roi(roi):
            return None
        pose = self.pose_landmarker(as_pyramid(image), roi)
        return pose if pose.score > self.min_presence else None

    def complete(self, image: np.ndarray | ImagePyramid, pose: PoseResult, score: float,
                 det_score: float = 1.0, *, hands: bool | None = None,
                 face: bool | None = None) -> PersonLandmarks:
        """A person whose pose landmarks are known: hands and face (step 4; ``hands`` /
        ``face`` override the detector's settings for this person) and the person box."""
        return self._complete(as_pyramid(image), Candidate(pose, det_score, score), hands, face)

    # ------------------------------------------------------------------------- internals

    @staticmethod
    def _check_image(image_rgb: np.ndarray) -> np.ndarray:
        if not isinstance(image_rgb, np.ndarray):
            raise InputError(
                f"the detector takes an (H, W, 3) uint8 RGB numpy array, got "
                f"{type(image_rgb).__name__}; read files with ehps.io.load_image(path)"
            )
        if image_rgb.dtype != np.uint8:
            raise InputError(
                f"the detector takes uint8 RGB pixels (0..255), got dtype {image_rgb.dtype}; "
                "convert with ehps.io.image.as_rgb_uint8(image) or load files with "
                "ehps.io.load_image(path)"
            )
        return as_rgb_uint8(image_rgb, name="image")

    @staticmethod
    def _check_boxes(boxes_xywh: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes_xywh, dtype=np.float64)
        if boxes.ndim == 1 and boxes.size == 4:
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all():
            raise InputError(f"boxes_xywh must be a finite (N, 4) array, got shape {boxes.shape}")
        if (boxes[:, 2:] <= 0).any():
            raise InputError("boxes_xywh must have positive widths and heights")
        return boxes

    def _people_in_boxes(self, pyramid: ImagePyramid, boxes: np.ndarray) -> list[Candidate]:
        """One person per box: detections in square windows of 1.5 and 2 times the box's long
        side (their hip keypoint inside the box), plus upright crops on the box as a fallback;
        each crop is refined once (the tracking crop from its own landmarks; the better of the
        two by pose presence is used), and the result whose landmark box overlaps the given box
        best is kept (an IoU of at least 0.3 is required)."""
        h, w = pyramid.shape[:2]
        out: list[Candidate] = []
        for i, (x, y, bw, bh) in enumerate(boxes):
            cx, cy, side = x + bw / 2.0, y + bh / 2.0, float(max(bw, bh))
            rois: list[Roi] = []
            for factor in (1.5, 2.0):
                dets = self.pose_detector(pyramid, Roi(cx, cy, factor * side, factor * side))
                for k in dets.keypoints[:2]:
                    if x <= k[0, 0] <= x + bw and y <= k[0, 1] <= y + bh:
                        rois.append(roi_from_detection(k))
            rois = [r for r in rois if usable_roi(r)]
            rois += [Roi(cx, cy, f * side, f * side) for f in (1.0, 1.25)]
            best: tuple[float, PoseResult] | None = None
            for roi in rois:
                pose = self.pose_landmarker(pyramid, roi)
                again = roi_from_pose(pose)
                refined = self.pose_landmarker(pyramid, again) if usable_roi(again) else pose
                if refined.score > pose.score or not pose.score > self.min_presence:
                    pose = refined
                if not pose.score > self.min_presence:
                    continue
                fit = box_iou_xywh(person_box(pose, [], h, w), np.array([x, y, bw, bh]))
                if best is None or fit > best[0]:
                    best = (fit, pose)
            if best is not None and best[0] > 0.3:
                out.append(Candidate(best[1], 1.0, best[1].score, box_index=i))
        return out

    def _merged_pose(self, pyramid: ImagePyramid, pose: PoseResult) -> PoseResult:
        """The pose after the test-time augmentation of ``pose_tta`` (same crop, mirrored)."""
        if self.pose_tta == "none":
            return pose
        mirrored = self.pose_landmarker(pyramid, pose.roi, flip=True)
        return merge_flipped(pose, mirrored, down_weight=self.pose_tta == "flip",
                             world=self.pose_tta != "flip-2d")

    def _complete(self, pyramid: ImagePyramid, person: Candidate, hands: bool | None = None,
                  face: bool | None = None) -> PersonLandmarks:
        pose = self._merged_pose(pyramid, person.pose)
        use_hands = self.hands if hands is None else hands
        use_face = self.face if face is None else face
        h, w = pyramid.shape[:2]
        parts: dict[str, np.ndarray | None] = {}
        extras: dict[str, object] = {
            "detector_score": person.det_score,
            "body_z": pose.points[:, 2].astype(np.float32),
            "visibility": pose.visibility.astype(np.float32),
            "presence": pose.presence.astype(np.float32),
            "roi": pose.roi.as_array(),
            "mask_logits": pose.mask_logits,
            "mask_corners": None if pose.mask_roi is None else pose.mask_roi.corners(),
        }
        if person.box_index is not None:
            extras["box_index"] = person.box_index
        found: dict[str, HandResult] = {}
        for side, (wrist, pinky, index) in _HAND_POINTS.items():
            if not use_hands or not pose.visibility[wrist] > _WRIST_VISIBILITY:
                continue
            hand = self.hand_landmarker(pyramid, pose.points[wrist, :2], pose.points[pinky, :2],
                                        pose.points[index, :2])
            if hand is not None:
                found[side] = hand
        if len(found) == 2 and same_hand(found["left"].points, found["right"].points):
            # both crops converged on one hand (hands close together): keep the side whose
            # hand wrist is nearer its own pose wrist
            gap = {side: np.hypot(*(found[side].points[0, :2] - pose.points[_HAND_POINTS[side][0],
                                                                               :2]))
                   for side in found}
            del found[max(gap, key=gap.__getitem__)]
        for side in _HAND_POINTS:
            hand = found.get(side)
            parts[f"{side}_hand_2d"] = None if hand is None else hand.points[:, :2]
            parts[f"{side}_hand_conf"] = (None if hand is None
                                          else np.full(21, hand.score, np.float32))
            if hand is not None:
                extras[f"{side}_hand_roi"] = hand.roi.as_array()
        parts["face_2d"] = parts["face_conf"] = None
        if use_face:
            face = self.face_landmarker(pyramid, pose.points[:11, :2])
            if face is not None:
                parts["face_2d"] = face.points[:, :2]
                parts["face_conf"] = np.full(face.points.shape[0], face.score, np.float32)
                extras["face_roi"] = face.roi.as_array()
        extra = [v for k, v in parts.items() if k.endswith("_2d") and v is not None]
        bbox = person_box(pose, extra, h, w)
        return PersonLandmarks(
            bbox_xywh=bbox,
            score=person.score,
            body_2d=pose.points[:, :2],
            body_conf=pose.visibility * pose.presence,
            body_world=pose.world,
            extras=extras,
            **parts,
        )

