"""Appearance-free multi-person tracking: IoU + motion matching with the Hungarian method.

Each track keeps a constant-velocity model of its box (centre and size, pixels per frame). In a new
frame the tracks' predicted boxes are matched to the detections by minimising a cost that mixes
(1 - IoU) with the centre distance normalised by the box height (so that small, fast pedestrians
whose boxes no longer overlap can still be matched); pairs outside both gates are never matched.
Unmatched detections start new tracks, and a track survives ``max_misses`` frames without a
detection (its box keeps moving with its velocity meanwhile), so short occlusions keep their id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["box_iou", "Track", "IoUTracker"]


def box_iou(a_xywh: np.ndarray, b_xywh: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xywh boxes -> (N, M)."""
    a = np.asarray(a_xywh, np.float64).reshape(-1, 4)
    b = np.asarray(b_xywh, np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _to_cs(box_xywh: np.ndarray) -> np.ndarray:
    x, y, w, h = box_xywh
    return np.array([x + w / 2, y + h / 2, w, h], np.float64)


def _from_cs(cs: np.ndarray) -> np.ndarray:
    cx, cy, w, h = cs
    return np.array([cx - w / 2, cy - h / 2, w, h], np.float64)


@dataclass
class Track:
    """One identity. ``state`` is (cx, cy, w, h) in pixels, ``velocity`` its change per frame."""

    track_id: int
    state: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0
    last_frame: int = 0

    def predicted_box(self, frame: int) -> np.ndarray:
        """xywh box extrapolated to ``frame`` with the constant-velocity model."""
        steps = frame - self.last_frame
        cs = self.state + self.velocity * steps
        cs[2:] = np.maximum(cs[2:], 1.0)
        return _from_cs(cs)

    def update(self, box_xywh: np.ndarray, frame: int, momentum: float) -> None:
        cs = _to_cs(np.asarray(box_xywh, np.float64))
        steps = max(frame - self.last_frame, 1)
        new_vel = (cs - self.state) / steps
        self.velocity = momentum * self.velocity + (1.0 - momentum) * new_vel
        self.state = cs
        self.hits += 1
        self.misses = 0
        self.last_frame = frame


class IoUTracker:
    """Assigns stable ids to per-frame person boxes.

    Args:
        iou_gate: minimum IoU (with the predicted box) for a match ...
        dist_gate: ... or maximum centre distance in units of the mean box height.
        max_misses: frames a track may go undetected before it is dropped.
        velocity_momentum: smoothing of the velocity estimate (0 = last displacement only).
    """

    def __init__(
        self,
        iou_gate: float = 0.2,
        dist_gate: float = 0.6,
        max_misses: int = 15,
        velocity_momentum: float = 0.5,
    ) -> None:
        self.iou_gate = iou_gate
        self.dist_gate = dist_gate
        self.max_misses = max_misses
        self.velocity_momentum = velocity_momentum
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self.tracks = []
        self._next_id = 0

    def _cost(self, predicted: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        iou = box_iou(predicted, boxes)
        pc = predicted[:, :2] + predicted[:, 2:] / 2
        bc = boxes[:, :2] + boxes[:, 2:] / 2
        dist = np.linalg.norm(pc[:, None] - bc[None], axis=-1)
        height = 0.5 * (predicted[:, None, 3] + boxes[None, :, 3])
        ndist = dist / np.maximum(height, 1e-6)
        allowed = (iou >= self.iou_gate) | (ndist <= self.dist_gate)
        cost = (1.0 - iou) + 0.5 * np.minimum(ndist, 2.0)
        return cost, allowed

    def update(self, boxes_xywh: np.ndarray, frame: int) -> np.ndarray:
        """Match this frame's boxes (N, 4) xywh; returns (N,) int track ids."""
        boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
        ids = np.full(len(boxes), -1, dtype=np.int64)
        if self.tracks and len(boxes):
            predicted = np.stack([t.predicted_box(frame) for t in self.tracks])
            cost, allowed = self._cost(predicted, boxes)
            big = 1e6
            rows, cols = linear_sum_assignment(np.where(allowed, cost, big))
            for r, c in zip(rows, cols):
                if allowed[r, c]:
                    self.tracks[r].update(boxes[c], frame, self.velocity_momentum)
                    ids[c] = self.tracks[r].track_id
        for c in np.flatnonzero(ids < 0):
            track = Track(self._next_id, _to_cs(boxes[c]), last_frame=frame)
            self._next_id += 1
            self.tracks.append(track)
            ids[c] = track.track_id
        matched = set(ids.tolist())
        for t in self.tracks:
            if t.track_id not in matched:
                t.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        return ids
