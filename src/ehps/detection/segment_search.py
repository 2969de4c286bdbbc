"""Step 4b of the person search (:mod:`ehps.detection.person_search`): people without a face in
view, proposed by the selfie segmenter's leftover (:mod:`ehps.detection.segment_proposals`) and
verified by the landmark model and the segmenter.

Proposal sources, in order (each tunable in :class:`~ehps.detection.search_config.SearchConfig`):

1. **Blobs** of the leftover (segmenter person pixels no found person explains): landmark crops
   of 1.2x and 1.5x the blob's long side; the result whose person box fits the blob best counts
   (box IoU >= 0.3, or, with ``segment_inside``, a box lying that much inside a blob bigger than
   one person: one of several people the segmenter merged).
2. **Re-looking** (``segment_rounds``): the masks of the people just verified, and of blob
   crops that saw a person found already again, are removed from the leftover and its new blobs
   are tried (two overlapping people make one blob; once one of them is found, the other is a
   blob of their own; a found person's second mask explains segmenter pixels its first did not
   and that joined a new person's blob).
3. **Border windows** (``border_sides``): people cut by the image border.
4. **Leftover windows** (``leftover_sides``): square windows of those sizes (fractions of the
   long side) over the image where the leftover covers at least ``leftover_cover`` of the
   window, the biggest windows first (a whole person before their parts), most covered first;
   a blob too big for one crop (a group, or a person merged with a
   person-coloured background) is searched at the scale of a person. With
   ``leftover_confirm``, a window's person counts only when a wider crop around its box sees
   the same box (a window showing only part of a body verifies the part).

Every candidate must have presence above ``segment_presence`` (or above
``segment_presence_agreed`` with the segmenter seeing ``segment_agreement_high`` of it), a box
of at least
``segment_min_px``, the segmenter's agreement with its own mask (``segment_agreement``), and must
not swallow a person found already; window candidates must also lie mostly on the leftover (a new
person, not one found already).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ehps.detection.landmarks import PoseResult
from ehps.detection.people import (
    box_intersection_xywh,
    box_iou_xywh,
    person_box,
    roi_from_pose,
    silhouette_inside,
    usable_roi,
)
from ehps.detection.roi import ImagePyramid, Roi
from ehps.detection.search import tile_grid
from ehps.detection.search_config import SearchConfig
from ehps.detection.segment_proposals import (
    blob_boxes,
    border_windows,
    cells_in_window,
    leftover_mask,
    map_stride,
    mask_agreement,
    segment_windows,
    touches_border,
)

__all__ = ["SegmentSearch", "box_inside", "confirms", "face_free_refusal"]


def box_inside(box_xywh: np.ndarray, region_xywh: np.ndarray) -> float:
    """Fraction of the (4,) xywh box's area inside the (4,) xywh region (0 for an empty box)."""
    area = float(box_xywh[2] * box_xywh[3])
    return box_intersection_xywh(box_xywh, region_xywh) / area if area > 0 else 0.0


def _swallows(pose: PoseResult, known: list[PoseResult], h: int, w: int) -> bool:
    """Whether half of the silhouette of a person in ``known`` lies inside ``pose``'s (a second
    view of a person found already)."""
    return any(silhouette_inside(k, pose, h, w) >= 0.5 for k in known)


def face_free_refusal(pose: PoseResult, prob: np.ndarray, stride: int, known: list[PoseResult],
                      h: int, w: int, cfg: SearchConfig) -> str | None:
    """The first verification check of the module docstring that refuses a face-free candidate
    (``"presence"``, ``"min_px"``, ``"agreement"``, ``"swallow"``), or ``None`` when it counts.

    Args:
        pose: the candidate's landmarks.
        prob: (H/stride, W/stride) the selfie segmenter's person probability.
        stride: image pixels per map cell.
        known: the people found already.
        h, w: image size (pixels).
        cfg: the thresholds.
    """
    agree = None
    if pose.score <= cfg.segment_presence:  # then both models must be nearly sure
        if pose.score <= cfg.segment_presence_agreed:
            return "presence"
        agree = mask_agreement(pose, prob, stride)
        if agree < cfg.segment_agreement_high:
            return "presence"
    if float(person_box(pose, [], h, w)[2:].max()) < cfg.segment_min_px:
        return "min_px"
    if agree is None:
        agree = mask_agreement(pose, prob, stride)
    if agree < cfg.segment_agreement:
        return "agreement"
    return "swallow" if _swallows(pose, known, h, w) else None


def confirms(box_xywh: np.ndarray, wider: PoseResult | None, h: int, w: int,
             cfg: SearchConfig, min_iou: float | None = None) -> bool:
    """Whether the landmark result ``wider`` of the wider crop confirms the (4,) xywh person box
    ``box_xywh`` (``leftover_confirm`` in :class:`SearchConfig`): presence above the face-free
    threshold and box IoU at least ``min_iou`` (default ``leftover_confirm``)."""
    if wider is None:
        return False
    least = min(cfg.segment_presence, cfg.segment_presence_agreed)
    if wider.score <= least:
        return False
    need = cfg.leftover_confirm if min_iou is None else min_iou
    return box_iou_xywh(person_box(wider, [], h, w), box_xywh) >= need


class SegmentSearch:
    """Face-free proposals (module docstring); a mixin of
    :class:`~ehps.detection.person_search.PersonSearch`, which provides ``search_config``,
    ``pose_landmarker`` and ``selfie_segmenter``."""

    search_config: SearchConfig
    pose_landmarker: Any
    selfie_segmenter: Any

    def _segment_candidates(self, pyramid: ImagePyramid, people: list[Any]) -> list[Any]:
        """People without a face in view that the people found so far do not explain
        (module docstring); ``people`` and the result are ``Candidate`` objects."""
        from ehps.detection.person_search import Candidate, uncovered_windows

        h, w = pyramid.shape[:2]
        cfg = self.search_config
        stride = map_stride(h, w)
        prob = self.selfie_segmenter(pyramid, segment_windows(h, w), stride)
        known = [p.pose for p in people]
        left = leftover_mask(prob, known, stride)
        if not left.any() or left.mean() > 0.5:
            return []  # nothing left, or the segmenter fails on this image (a close-up object)

        confirmed: dict[int, bool] = {}

        def accepted(c: Any) -> bool:
            if face_free_refusal(c.pose, prob, stride, known, h, w, cfg) is not None:
                return False
            if cfg.agreed_confirm <= 0 or c.pose.score > cfg.segment_presence:
                return True
            if id(c.pose) not in confirmed:  # admitted by agreement: a wider crop must agree
                box = person_box(c.pose, [], h, w)
                confirmed[id(c.pose)] = confirms(box, self._wider_pose(pyramid, box), h, w, cfg,
                                                 cfg.agreed_confirm)
            return confirmed[id(c.pose)]

        def reseen(c: Any) -> bool:  # a second view of a person found already
            return _swallows(c.pose, known, h, w)

        def leftover(found: list[Any]) -> np.ndarray:
            return leftover_mask(prob, known + [c.pose for c in found
                                                if accepted(c) or reseen(c)], stride)

        min_side = max(cfg.min_box_px, 1.0)
        found: list[Any] = []
        tried: list[np.ndarray] = []
        blobs = blob_boxes(left, stride, min_side_px=min_side)
        for rnd in range(1 + cfg.segment_rounds):
            new: list[Any] = []
            for blob in blobs:
                tried.append(blob)
                poses = [self._blob_pose(pyramid, blob)]
                if poses[0] is None and cfg.segment_split and blob[2] > 0.5 * blob[3]:
                    half = blob[2] / 2.0  # two people side by side make one blob: each half
                    poses = [self._blob_pose(pyramid, np.array(
                        [blob[0] + k * half, blob[1], half, blob[3]])) for k in (0, 1)]
                new += [Candidate(p, 0.5, p.score) for p in poses if p is not None]
            found += new
            if rnd == cfg.segment_rounds or not any(accepted(c) or reseen(c) for c in new):
                break
            left = leftover(found)  # look again without the people just found (or seen again)
            blobs = [b for b in blob_boxes(left, stride, min_side_px=min_side)
                     if all(box_iou_xywh(b, t) < 0.8 for t in tried)]
        windows = [win for win in border_windows(h, w, cfg.border_sides)
                   if cells_in_window(left, stride, win) >= 25]
        if windows:
            windows = uncovered_windows(windows, [person_box(p.pose, [], h, w)
                                                  for p in people + found], h, w, 0.5)
        for win in windows:
            pose = self._segment_pose(pyramid, win)
            if pose is not None and touches_border(person_box(pose, [], h, w), h, w):
                found.append(Candidate(pose, 0.4, pose.score))
        found = [c for c in found if accepted(c)]
        if cfg.leftover_sides:
            found += self._leftover_window_candidates(pyramid, people + found, accepted,
                                                      leftover(found), stride)
        return found

    def _leftover_window_candidates(self, pyramid: ImagePyramid, known: list[Any],
                                    accepted: Any, left: np.ndarray, stride: int) -> list[Any]:
        """Verified people in the ``leftover_sides`` windows where the (H/stride, W/stride)
        leftover ``left`` covers at least ``leftover_cover`` of the window, most covered
        first; the leftover is updated after each person (module docstring, source 4)."""
        from ehps.detection.person_search import Candidate, uncovered_windows

        h, w = pyramid.shape[:2]
        cfg = self.search_config
        long_side = float(max(h, w))

        def need(win: Roi) -> float:
            inside_w = min(win.cx + win.w / 2, w) - max(win.cx - win.w / 2, 0)
            inside_h = min(win.cy + win.h / 2, h) - max(win.cy - win.h / 2, 0)
            return cfg.leftover_cover * max(inside_w, 0) * max(inside_h, 0) / stride ** 2

        windows = [win for frac in cfg.leftover_sides
                   for win in tile_grid(h, w, frac * long_side, 0.5)]
        windows = [win for win in windows if cells_in_window(left, stride, win) >= need(win)]
        windows = uncovered_windows(windows, [person_box(p.pose, [], h, w) for p in known],
                                    h, w, 0.5)
        # big windows first (a whole person before their parts), most covered first
        windows.sort(key=lambda win: (-win.w, -cells_in_window(left, stride, win)
                                      / max(need(win), 1.0)))
        out: list[Any] = []
        for win in windows:
            if cells_in_window(left, stride, win) < need(win):
                continue  # a person found in an earlier window explains it now
            pose = self._segment_pose(pyramid, win)
            if pose is None:
                continue
            cand = Candidate(pose, 0.3, pose.score)
            if not accepted(cand) or mask_agreement(pose, left.astype(np.float32), stride) < 0.5:
                continue
            if cfg.leftover_confirm > 0 and not self._confirmed(pyramid, pose):
                continue
            out.append(cand)
            left = left & leftover_mask(np.ones_like(left, np.float32), [pose], stride)
        return out

    def _confirmed(self, pyramid: ImagePyramid, pose: PoseResult) -> bool:
        """Whether a crop of ``leftover_confirm_scale`` times ``pose``'s person box (its long
        side, centred on it) sees the same person: presence above ``segment_presence`` (or
        ``segment_presence_agreed``) and a person box with IoU >= ``leftover_confirm`` with
        ``pose``'s (a body part seen alone grows into the whole body on the wider crop)."""
        h, w = pyramid.shape[:2]
        cfg = self.search_config
        box = person_box(pose, [], h, w)
        return confirms(box, self._wider_pose(pyramid, box), h, w, cfg)

    def _wider_pose(self, pyramid: ImagePyramid, box: np.ndarray) -> PoseResult | None:
        """Landmarks on the square crop of ``leftover_confirm_scale`` times the (4,) xywh
        box's long side, centred on it; ``None`` for an unusable crop."""
        side = self.search_config.leftover_confirm_scale * float(box[2:].max())
        roi = Roi(float(box[0] + box[2] / 2), float(box[1] + box[3] / 2), side, side)
        return self.pose_landmarker(pyramid, roi) if usable_roi(roi) else None

    def _blob_pose(self, pyramid: ImagePyramid, blob: np.ndarray) -> PoseResult | None:
        """The verified landmark result on crops of 1.2 and 1.5 times the blob's long side
        whose person box overlaps the (4,) xywh blob best (IoU at least 0.3); with
        ``segment_inside`` > 0, failing that, the one lying most inside the blob (at least
        ``segment_inside`` of its box)."""
        h, w = pyramid.shape[:2]
        inside = self.search_config.segment_inside
        best: tuple[float, PoseResult] | None = None
        for factor in (1.2, 1.5):
            side = factor * float(blob[2:].max())
            pose = self._segment_pose(pyramid, Roi(float(blob[0] + blob[2] / 2),
                                                   float(blob[1] + blob[3] / 2), side, side))
            if pose is None:
                continue
            box = person_box(pose, [], h, w)
            fit = box_iou_xywh(box, blob)
            if fit < 0.3:  # ranked below every IoU fit
                fit = box_inside(box, blob) - 1.0 if inside > 0 else -2.0
                if fit < inside - 1.0:
                    continue
            if best is None or fit > best[0]:
                best = (fit, pose)
        return None if best is None else best[1]

    def _segment_pose(self, pyramid: ImagePyramid, roi: Roi) -> PoseResult | None:
        """Landmarks in ``roi`` and once more on the crop they imply (the better presence);
        ``None`` below ``segment_presence``."""
        if not usable_roi(roi):
            return None
        pose = self.pose_landmarker(pyramid, roi)
        if pose.score < 0.5:
            return None
        again = roi_from_pose(pose)
        if usable_roi(again):
            second = self.pose_landmarker(pyramid, again)
            if second.score > pose.score:
                pose = second
        cfg = self.search_config
        least = min(cfg.segment_presence, cfg.segment_presence_agreed)
        return pose if pose.score > least else None
