"""Recall and precision of person detections against the true boxes of a synthetic crowd, by person
height (:mod:`ehps.testing.synthetic_crowd`).

Matching, per image: detections are taken in descending score order; each is matched to the
not-yet-matched true person (``ignore`` people included) with the highest overlap, where the
overlap with a person is the larger of the IoUs with its visible box and with its amodal box
clipped to the image; a match needs an overlap of at least ``min_iou`` (0.5, the usual
criterion). A detection matched to a person who counts is a true positive; one matched to an
``ignore`` person, or lying mostly (``min_ioa`` of its area) inside a real person of the
background photo, is neither; any other detection is a false positive (duplicates included).

Bins: a true person falls in the bin of its height (amodal box long side); a true positive in
its person's bin; a false positive in the bin of its own box's longer side.

Besides the recall over every counted person (at least half visible), the recall over people at
least :data:`REASONABLE_VISIBLE` visible is reported too: the "reasonable" subset of the
pedestrian-detection benchmarks (Caltech, CityPersons), for comparison with figures quoted that
way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ehps.testing.synthetic_crowd import CrowdScene

__all__ = [
    "HEIGHT_BINS", "height_bin", "ImageMatch", "CrowdScore", "match_scene", "score_detections",
]

#: Visible fraction of the "reasonable" subset.
REASONABLE_VISIBLE: float = 0.65
#: Person-height bins (pixels): [lo, hi).
HEIGHT_BINS: tuple[tuple[float, float], ...] = ((40.0, 80.0), (80.0, 160.0), (160.0, math.inf))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def _ioa(det: np.ndarray, region: np.ndarray) -> float:
    """Fraction of the detection's area inside ``region``."""
    ix = max(0.0, min(det[0] + det[2], region[0] + region[2]) - max(det[0], region[0]))
    iy = max(0.0, min(det[1] + det[3], region[1] + region[3]) - max(det[1], region[1]))
    area = det[2] * det[3]
    return float(ix * iy / area) if area > 0 else 0.0


def _clip(box: np.ndarray, h: int, w: int) -> np.ndarray:
    x0, y0 = np.clip(box[0], 0, w), np.clip(box[1], 0, h)
    x1, y1 = np.clip(box[0] + box[2], 0, w), np.clip(box[1] + box[3], 0, h)
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float64)


def height_bin(height: float) -> int:
    """Index into :data:`HEIGHT_BINS` (-1 below the first bin)."""
    for i, (lo, hi) in enumerate(HEIGHT_BINS):
        if lo <= height < hi:
            return i
    return -1


@dataclass
class ImageMatch:
    """Outcome of one image: per detection ``"tp"``, ``"fp"`` or ``"ignored"`` and the true
    person it matched (-1 for none); per true person whether it was found."""

    detection_status: list[str]
    detection_person: list[int]
    found: list[bool]


def match_scene(boxes_xywh: np.ndarray, scores: np.ndarray, scene: CrowdScene,
                min_iou: float = 0.5, min_ioa: float = 0.5) -> ImageMatch:
    """Match one image's detections to its true people (see the module docstring).

    Args:
        boxes_xywh: (N, 4) detected boxes, image pixels.
        scores: (N,) their scores (matching order).
        scene: the truth.
    """
    h, w = scene.image.shape[:2]
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable")
    truth = [(p.box_xywh.astype(np.float64), _clip(p.amodal_xywh.astype(np.float64), h, w))
             for p in scene.people]
    taken = [False] * len(scene.people)
    status = ["fp"] * len(boxes)
    person = [-1] * len(boxes)
    for d in order:
        best, best_iou = -1, min_iou
        for j, (vis, amodal) in enumerate(truth):
            if taken[j]:
                continue
            iou = max(_iou(boxes[d], vis), _iou(boxes[d], amodal))
            if iou >= best_iou:
                best, best_iou = j, iou
        if best >= 0:
            taken[best] = True
            person[d] = best
            status[d] = "ignored" if scene.people[best].ignore else "tp"
        elif any(_ioa(boxes[d], r) >= min_ioa for r in scene.ignore_regions):
            status[d] = "ignored"
    found = [taken[j] and not p.ignore for j, p in enumerate(scene.people)]
    return ImageMatch(status, person, found)


@dataclass
class CrowdScore:
    """Accumulated counts over images, per height bin."""

    people: np.ndarray = field(default_factory=lambda: np.zeros(len(HEIGHT_BINS), np.int64))
    found: np.ndarray = field(default_factory=lambda: np.zeros(len(HEIGHT_BINS), np.int64))
    tp: np.ndarray = field(default_factory=lambda: np.zeros(len(HEIGHT_BINS), np.int64))
    fp: np.ndarray = field(default_factory=lambda: np.zeros(len(HEIGHT_BINS), np.int64))
    seconds: list[float] = field(default_factory=list)
    people_reasonable: np.ndarray = field(
        default_factory=lambda: np.zeros(len(HEIGHT_BINS), np.int64))
    found_reasonable: np.ndarray = field(
        default_factory=lambda: np.zeros(len(HEIGHT_BINS), np.int64))

    def add(self, boxes_xywh: np.ndarray, scores: np.ndarray, scene: CrowdScene,
            seconds: float | None = None) -> ImageMatch:
        """Score one image and add it to the totals."""
        m = match_scene(boxes_xywh, scores, scene)
        for p, found in zip(scene.people, m.found):
            b = height_bin(p.height_px)
            if p.ignore or b < 0:
                continue
            self.people[b] += 1
            self.found[b] += int(found)
            if p.visible_fraction >= REASONABLE_VISIBLE:
                self.people_reasonable[b] += 1
                self.found_reasonable[b] += int(found)
        boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
        for d, (st, j) in enumerate(zip(m.detection_status, m.detection_person)):
            if st == "tp":
                b = height_bin(scene.people[j].height_px)
                if b >= 0:
                    self.tp[b] += 1
            elif st == "fp":
                self.fp[max(height_bin(float(max(boxes[d, 2], boxes[d, 3]))), 0)] += 1
        if seconds is not None:
            self.seconds.append(seconds)
        return m

    def recall(self) -> np.ndarray:
        """(bins,) recall per height bin (NaN for an empty bin)."""
        return np.where(self.people > 0, self.found / np.maximum(self.people, 1), np.nan)

    def precision(self) -> np.ndarray:
        """(bins,) precision per height bin (NaN where there is no detection)."""
        n = self.tp + self.fp
        return np.where(n > 0, self.tp / np.maximum(n, 1), np.nan)

    def overall(self) -> dict[str, float]:
        """Recall for people >= 80 px and 40-80 px (all counted people, and the "reasonable"
        subset), overall precision, false positives, mean seconds."""
        big = self.people[1:].sum()
        n = (self.tp + self.fp).sum()
        big_r, small_r = self.people_reasonable[1:].sum(), self.people_reasonable[0]
        return {
            "recall_80plus": float(self.found[1:].sum() / big) if big else math.nan,
            "recall_40_80": float(self.found[0] / self.people[0]) if self.people[0] else math.nan,
            "recall_80plus_reasonable": (float(self.found_reasonable[1:].sum() / big_r)
                                         if big_r else math.nan),
            "recall_40_80_reasonable": (float(self.found_reasonable[0] / small_r)
                                        if small_r else math.nan),
            "precision": float(self.tp.sum() / n) if n else math.nan,
            "false_positives": float(self.fp.sum()),
            "seconds_per_image": float(np.mean(self.seconds)) if self.seconds else math.nan,
        }


def score_detections(detections: Sequence[tuple[np.ndarray, np.ndarray]],
                     scenes: Sequence[CrowdScene]) -> CrowdScore:
    """A :class:`CrowdScore` of ``(boxes (N, 4), scores (N,))`` per scene."""
    score = CrowdScore()
    for (boxes, scores), scene in zip(detections, scenes):
        score.add(boxes, scores, scene)
    return score
