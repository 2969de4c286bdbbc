"""How the embedded detector finds people: proposals from windows at several scales, merged across
scales, verified by the landmark model, completed by face proposals, deduplicated.

All coordinates are original-image pixels. Steps (each tunable in :class:`SearchConfig`, whose
defaults are the ones ``benchmarks/detection_crowd.py`` measured best; :meth:`SearchConfig.
baseline` reproduces the search before issue 19):

1. **Pose proposals**: the BlazePose detector on the windows of the search mode
   (:func:`ehps.detection.search.search_windows`): the whole image, two zero-padded squares, and
   square tiles of :attr:`SearchConfig.tile_sides` of the image's long side (``"dense"`` adds
   :attr:`SearchConfig.dense_sides`). A tile's detection counts only if its full-body circle
   fits in the tile. In ``"auto"`` mode a tile is skipped when the people found so far already
   cover most of it (one large person does not stop the search for small ones), then windows
   of 1/8 of the long side centred on the tiles' weak detections (people too small for the
   tiles: :attr:`SearchConfig.zoom_score`).
2. **Cross-scale merge** (``merge="circles"``): the same person seen in several windows gives
   detections whose full-body circles (hip centre, radius) agree; two detections are merged only
   when their centres are within :attr:`SearchConfig.merge_distance` of the smaller radius *and*
   their radii agree within :attr:`SearchConfig.merge_scale`, so two people standing close, or a
   small person in front of a big one, stay apart. (``"weighted"``: mediapipe's weighted NMS on
   the head boxes, as before.)
3. **Verification**: the pose landmark model runs on each merged proposal's crop; a proposal is a
   person when the model's presence score exceeds ``min_presence``. With ``refine`` the landmarks
   are run again on the crop they imply (mediapipe's tracking crop) and the result with the
   higher presence is kept.
4. **Face proposals** (:attr:`SearchConfig.face_sides`): the full-range face detector on windows
   of those sizes; every face that no person found so far explains (its centre outside every
   person's head region) becomes a landmark crop (:func:`ehps.detection.face_detector.
   roi_from_face`) and is verified like the others.
4b. **Face-free proposals** (:attr:`SearchConfig.segment_proposals`, ``"auto"`` and
    ``"dense"``): the selfie segmenter's blobs that no person found so far explains (looked at
    again once the people they held are removed), windows on the image border and windows where
    the segmenter's leftover is, verified by the landmark model *and* the segmenter
    (:mod:`ehps.detection.segment_search`): people cut by the border, turned away or hidden.
5. **Duplicates**: landmark sets whose median point distance is below ``duplicate_distance`` of
   the body size, or whose silhouettes overlap more than ``duplicate_iou``, are one person.
6. **Parts**: a candidate lying inside the silhouette of a person at least twice its size (its
   box covered by that person's mask, or its own silhouette inside it) is a part of that person
   (legs or a torso a tile took for a small person), not a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ehps.detection.face_detector import roi_from_face
from ehps.detection.landmarks import PoseResult
from ehps.detection.people import (
    body_size,
    circle_in_window,
    mask_coverage,
    person_box,
    roi_from_pose,
    same_person,
    silhouette_inside,
    usable_roi,
)
from ehps.detection.pose_detector import PoseDetections, roi_from_detection
from ehps.detection.roi import ImagePyramid, Roi
from ehps.detection.search import (
    AUTO_LARGE_PERSON,
    is_tile,
    search_windows,
    tile_grid,
    tile_windows,
)
from ehps.detection.search_config import SearchConfig
from ehps.detection.segment_search import SegmentSearch
from ehps.detection.ssd import weighted_nms

__all__ = ["SearchConfig", "PersonSearch", "merge_circles", "uncovered_windows", "head_region",
           "explained_by"]


def merge_circles(keypoints: np.ndarray, scores: np.ndarray, distance: float, scale: float
                  ) -> np.ndarray:
    """Indices of the detections kept by a non-maximum suppression on full-body circles.

    Args:
        keypoints: (N, 4, 2) pose-detector keypoints (0: hip centre, 1: a point on the
            full-body circle), pixels.
        scores: (N,) detector scores.
        distance: same person when the centres are closer than ``distance`` x the smaller
            radius ...
        scale: ... and the radii differ by less than this factor.

    Returns:
        (M,) int64 indices, best score first; every suppressed detection is the same person as a
        kept one with a higher score.
    """
    centre = keypoints[:, 0].astype(np.float64)
    radius = np.linalg.norm(keypoints[:, 1] - keypoints[:, 0], axis=1).astype(np.float64)
    radius = np.maximum(radius, 1e-6)
    order = np.argsort(-np.asarray(scores), kind="stable")
    kept: list[int] = []
    for i in order:
        same = False
        for k in kept:
            small = min(radius[i], radius[k])
            ratio = max(radius[i], radius[k]) / small
            if ratio < scale and np.hypot(*(centre[i] - centre[k])) < distance * small:
                same = True
                break
        if not same:
            kept.append(int(i))
    return np.asarray(kept, np.int64)


def uncovered_windows(windows: Sequence[Roi], boxes_xywh: Sequence[np.ndarray],
                      height: int, width: int, cover: float, grid: int = 96) -> list[Roi]:
    """The windows that the union of ``boxes_xywh`` covers by less than ``cover`` (fraction of
    the window's area inside the image), measured on a ``grid``-cell raster of the image."""
    if not boxes_xywh:
        return list(windows)
    scale = grid / float(max(height, width))
    gh, gw = max(1, int(np.ceil(height * scale))), max(1, int(np.ceil(width * scale)))
    mask = np.zeros((gh, gw), bool)
    for x, y, bw, bh in boxes_xywh:
        x0, y0 = int(np.floor(x * scale)), int(np.floor(y * scale))
        x1, y1 = int(np.ceil((x + bw) * scale)), int(np.ceil((y + bh) * scale))
        mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
    out = []
    for win in windows:
        x0 = int(np.floor(max(win.cx - win.w / 2, 0) * scale))
        x1 = int(np.ceil(min(win.cx + win.w / 2, width) * scale))
        y0 = int(np.floor(max(win.cy - win.h / 2, 0) * scale))
        y1 = int(np.ceil(min(win.cy + win.h / 2, height) * scale))
        cell = mask[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
        if cell.size == 0 or cell.mean() < cover:
            out.append(win)
    return out


def head_region(points: np.ndarray, grow: float = 0.5) -> np.ndarray:
    """(4,) xyxy box of a person's 11 face landmarks (pose points 0-10) grown by ``grow`` x its
    size on every side (at least a fifth of the body's size)."""
    face = points[:11, :2]
    lo, hi = face.min(0), face.max(0)
    body = points[:, :2]
    size = max(float((hi - lo).max()), 0.2 * float((body.max(0) - body.min(0)).max()), 1.0)
    return np.concatenate([lo - grow * size, hi + grow * size])


def explained_by(face_box_xyxy: np.ndarray, heads_xyxy: Sequence[np.ndarray]) -> bool:
    """The face's centre lies in one of the head regions."""
    c = 0.5 * (face_box_xyxy[:2] + face_box_xyxy[2:])
    return any(h[0] <= c[0] <= h[2] and h[1] <= c[1] <= h[3] for h in heads_xyxy)


@dataclass
class Candidate:
    """A verified person: pose landmarks, detector and presence scores, the box it came from."""

    pose: PoseResult
    det_score: float
    score: float
    box_index: int | None = None


class PersonSearch(SegmentSearch):
    """The person search of :class:`~ehps.detection.MediapipeDetector` (module docstring).

    A mixin: the detector provides ``search``, ``search_config``, ``min_score``,
    ``min_presence``, ``duplicate_distance``, ``duplicate_iou``, ``max_people`` and the models
    ``pose_detector``, ``pose_landmarker``, ``face_detector`` and ``selfie_segmenter``.
    """

    search: str
    search_config: SearchConfig
    min_score: float
    min_presence: float
    duplicate_distance: float
    duplicate_iou: float
    max_people: int | None
    pose_detector: Any
    pose_landmarker: Any
    face_detector: Any
    selfie_segmenter: Any

    def _detect_in(self, pyramid: ImagePyramid, windows: list[Roi],
                   weak: list[PoseDetections] | None = None) -> PoseDetections:
        """Detections from several windows, merged across windows. Detections from a tile
        whose full-body circle does not fit in that tile are dropped first: a tile that shows
        part of a bigger person (or a texture) must not make up a person. With ``weak``, the
        tiles' detections scoring in ``[zoom_score, tile_min_score)`` are appended to it."""
        h, w = pyramid.shape[:2]
        cfg = self.search_config
        found = []
        for win in windows:
            if weak is not None and cfg.zoom_score > 0 and is_tile(win, h, w):
                dets, hints = self.pose_detector.detect_with_weak(pyramid, win, cfg.zoom_score)
                hints = hints.take(circle_in_window(hints.keypoints, win))
                weak.append(hints.take(hints.scores < cfg.tile_min_score))
            else:
                dets = self.pose_detector(pyramid, win)
            if len(dets):
                tile = is_tile(win, h, w)
                keep = dets.scores >= (cfg.tile_min_score if tile else self.min_score)
                if tile:
                    keep &= circle_in_window(dets.keypoints, win)
                dets = PoseDetections(dets.boxes_xyxy[keep], dets.keypoints[keep],
                                      dets.scores[keep])
            found.append(dets)
        dets = PoseDetections.concat(found)
        if len(dets) > 1:
            if cfg.merge == "weighted":
                dets = PoseDetections(*weighted_nms(dets.boxes_xyxy, dets.keypoints, dets.scores,
                                                    self.pose_detector.nms_iou))
            else:
                idx = merge_circles(dets.keypoints, dets.scores, cfg.merge_distance,
                                    cfg.merge_scale)
                dets = PoseDetections(dets.boxes_xyxy[idx], dets.keypoints[idx], dets.scores[idx])
        return dets

    def _verify(self, pyramid: ImagePyramid, roi: Roi, refine: bool) -> PoseResult | None:
        """Pose landmarks in ``roi``; with ``refine`` once more on the crop they imply (the
        better presence wins). ``None`` unless the presence exceeds ``min_presence``."""
        if not usable_roi(roi):
            return None
        pose = self.pose_landmarker(pyramid, roi)
        if refine and pose.score > 0.1:
            again = roi_from_pose(pose)
            if usable_roi(again):
                second = self.pose_landmarker(pyramid, again)
                if second.score > pose.score:
                    pose = second
        return pose if pose.score > self.min_presence else None

    def _landmark_candidates(self, pyramid: ImagePyramid, dets: PoseDetections,
                             known: list[Candidate] | None = None) -> list[Candidate]:
        """Verified people from detections; with ``known`` (cross-scale merging), detections of
        a person already found are skipped before any landmark work."""
        cfg = self.search_config
        circles = [_pose_circle(p.pose) for p in known or []]
        people = []
        for i in range(len(dets)):
            if circles and cfg.merge == "circles" and _matches_circle(
                    dets.keypoints[i], circles, cfg.merge_distance, cfg.merge_scale):
                continue
            pose = self._verify(pyramid, roi_from_detection(dets.keypoints[i]), cfg.refine)
            if pose is not None:
                people.append(Candidate(pose, float(dets.scores[i]), pose.score))
        return people

    def _find_people(self, pyramid: ImagePyramid, face_free: bool = True) -> list[Candidate]:
        h, w = pyramid.shape[:2]
        cfg = self.search_config
        first = self.search if self.search != "auto" else "wide"
        sides = cfg.tile_sides + (cfg.dense_sides if self.search == "dense" else ())
        people = self._landmark_candidates(pyramid, self._detect_in(
            pyramid, search_windows(h, w, first, sides, cfg.tile_overlap, cfg.tile_border)))
        if self.search == "auto":
            tiles = tile_windows(h, w, cfg.tile_sides, cfg.tile_overlap, cfg.tile_border)
            if cfg.auto_policy == "large_person":
                large = AUTO_LARGE_PERSON * max(h, w)
                if any(body_size(p.pose.points[:, :2]) >= large for p in people):
                    tiles = []
            else:
                tiles = uncovered_windows(tiles, [person_box(p.pose, [], h, w) for p in people],
                                          h, w, cfg.auto_cover)
            weak: list[PoseDetections] = []
            if tiles:
                people += self._landmark_candidates(pyramid, self._detect_in(pyramid, tiles,
                                                                             weak), known=people)
            zoom = self._zoom_windows(PoseDetections.concat(weak), people, max(h, w))
            if zoom:
                people += self._landmark_candidates(pyramid, self._detect_in(pyramid, zoom),
                                                    known=people)
        if cfg.face_sides:
            people += self._face_candidates(pyramid, people)
        if face_free and cfg.segment_proposals and self.search in ("auto", "dense"):
            people += self._segment_candidates(pyramid, people)
        people = self._deduplicate(self._big_enough(people, h, w))
        if cfg.contained > 0 or cfg.part_silhouette > 0:
            people = self._drop_parts(people, h, w)
        return people

    def _zoom_windows(self, hints: PoseDetections, people: list[Candidate], long_side: int
                      ) -> list[Roi]:
        """Windows of ``zoom_side`` centred on the best ``zoom_max`` weak tile detections that
        are not people found already (``zoom_score`` in :class:`SearchConfig`)."""
        cfg = self.search_config
        if len(hints) == 0:
            return []
        idx = merge_circles(hints.keypoints, hints.scores, cfg.merge_distance, cfg.merge_scale)
        circles = [_pose_circle(p.pose) for p in people]
        side = cfg.zoom_side * float(long_side)
        out: list[Roi] = []
        for i in idx:
            if len(out) >= cfg.zoom_max:
                break
            k = hints.keypoints[i]
            if circles and _matches_circle(k, circles, cfg.merge_distance, cfg.merge_scale):
                continue
            out.append(Roi(float(k[0, 0]), float(k[0, 1]), side, side))
        return out

    def _drop_parts(self, people: list[Candidate], h: int, w: int) -> list[Candidate]:
        """Candidates that lie inside a much bigger person's silhouette are parts of it: their
        box is covered by its mask (``contained``) or their own silhouette lies in it
        (``part_silhouette``)."""
        cfg = self.search_config
        boxes = [person_box(p.pose, [], h, w) for p in people]
        sizes = [body_size(p.pose.points[:, :2]) for p in people]

        def part_of(i: int, j: int) -> bool:
            if sizes[j] < cfg.contained_ratio * sizes[i]:
                return False
            if cfg.contained > 0 and mask_coverage(people[j].pose, boxes[i]) >= cfg.contained:
                return True
            return cfg.part_silhouette > 0 and silhouette_inside(
                people[i].pose, people[j].pose, h, w) >= cfg.part_silhouette

        kept = []
        for i, p in enumerate(people):
            part = any(part_of(i, j) for j in range(len(people)) if j != i)
            if not part:
                kept.append(p)
        return kept

    def _face_candidates(self, pyramid: ImagePyramid, people: list[Candidate]) -> list[Candidate]:
        """People found from faces that nobody found so far explains (module docstring)."""
        h, w = pyramid.shape[:2]
        cfg = self.search_config
        long_side = float(max(h, w))
        windows: list[Roi] = []
        for frac in cfg.face_sides:
            windows += ([Roi(w / 2.0, h / 2.0, float(w), float(h))] if frac >= 1.0
                        else tile_grid(h, w, frac * long_side, cfg.tile_overlap,
                                       cfg.tile_border))
        if self.search == "auto" and cfg.auto_policy == "uncovered":
            windows = uncovered_windows(windows, [person_box(p.pose, [], h, w) for p in people],
                                        h, w, cfg.auto_cover)
        boxes, kps, scores = [], [], []
        for win in windows:
            faces = self.face_detector(pyramid, win)
            boxes.append(faces.boxes_xyxy)
            kps.append(faces.keypoints)
            scores.append(faces.scores)
        if not windows or sum(len(sc) for sc in scores) == 0:
            return []
        fb, fk, fs = weighted_nms(np.concatenate(boxes), np.concatenate(kps),
                                  np.concatenate(scores), 0.3)
        heads = [head_region(p.pose.points) for p in people]
        found: list[Candidate] = []
        for box, kp, score in zip(fb, fk, fs):
            if explained_by(box, heads):
                continue
            pose = self._verify(pyramid, roi_from_face(box, kp), refine=True)
            if pose is None:
                continue
            found.append(Candidate(pose, float(score), pose.score))
            heads.append(head_region(pose.points))
        return found

    def _big_enough(self, people: list[Candidate], h: int, w: int) -> list[Candidate]:
        """Candidates whose person box is at least ``min_box_px`` on its long side."""
        least = self.search_config.min_box_px
        if least <= 0:
            return people
        return [p for p in people if float(person_box(p.pose, [], h, w)[2:].max()) >= least]

    def _deduplicate(self, people: list[Candidate]) -> list[Candidate]:
        people = sorted(people, key=lambda p: -(p.score * p.det_score))
        kept: list[Candidate] = []
        for p in people:
            if not any(same_person(p.pose, k.pose, self.duplicate_distance, self.duplicate_iou)
                       for k in kept):
                kept.append(p)
        if self.max_people is not None:
            kept = kept[: self.max_people]
        return kept


def _pose_circle(pose: PoseResult) -> np.ndarray:
    """(2, 2) full-body circle of a landmark result: hip centre and a point on the circle (the
    pose model's two alignment points, the same keypoints the detector gives)."""
    return np.asarray(pose.auxiliary[:2, :2], np.float64)


def _matches_circle(keypoints: np.ndarray, circles: list[np.ndarray], distance: float,
                    scale: float) -> bool:
    """The detection's full-body circle is one of ``circles`` (same centre, same size)."""
    c = keypoints[0].astype(np.float64)
    r = max(float(np.hypot(*(keypoints[1] - keypoints[0]))), 1e-6)
    for circle in circles:
        rc = max(float(np.hypot(*(circle[1] - circle[0]))), 1e-6)
        small = min(r, rc)
        if max(r, rc) / small < scale and float(np.hypot(*(c - circle[0]))) < distance * small:
            return True
    return False
