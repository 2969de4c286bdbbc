"""Frame records (``state/{frame:06d}.npz``) and per-track series (``tracks.npz``).

A frame record holds what is needed to continue a run exactly (``--resume``): the boxes the
tracker saw, in order, the track ids, the raw (unsmoothed) and final parameters, and the joints.
:class:`TrackStore` gathers the final rows of every tracked person into ``tracks.npz``.
Frames and units: ``*_full`` / ``joints`` are in the frame's shared camera, metres (OpenCV axes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ehps.structures import PersonEstimate

__all__ = ["FrameRecord", "make_record", "joints_full", "TrackStore"]


@dataclass
class FrameRecord:
    """What ``state/{frame:06d}.npz`` holds for one finished frame (``N`` people).

    Attributes:
        index, time_s: frame index and time (seconds).
        boxes, scores: (N, 4) xywh / (N,) the boxes given to the tracker, in that order.
        person_ids: (N,) file index of each person; ``track_ids`` (N,) track ids (-1: untracked).
        crop_boxes: (N, 4) processed crop boxes (network) or NaN (embedded).
        raw: raw (unsmoothed) parameters, each (N, ...); ``raw["transl_full"]`` (N, 3).
        final: written parameters, each (N, ...); ``final["transl_full"]`` (N, 3).
        joints_full: (N, 55, 3) skeleton joints in the shared camera, metres (N, 0, 3 without
            a body model).
    """

    index: int
    time_s: float
    boxes: np.ndarray
    scores: np.ndarray
    person_ids: np.ndarray
    track_ids: np.ndarray
    crop_boxes: np.ndarray
    raw: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    joints_full: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "index": np.int64(self.index), "time_s": np.float64(self.time_s),
            "boxes": self.boxes, "scores": self.scores, "person_ids": self.person_ids,
            "track_ids": self.track_ids, "crop_boxes": self.crop_boxes,
            "joints_full": self.joints_full,
        }
        out.update({f"raw.{k}": v for k, v in self.raw.items()})
        out.update({f"final.{k}": v for k, v in self.final.items()})
        return out

    @classmethod
    def load(cls, path: Path) -> FrameRecord:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        return cls(
            index=int(d["index"]), time_s=float(d["time_s"]), boxes=d["boxes"],
            scores=d["scores"], person_ids=d["person_ids"], track_ids=d["track_ids"],
            crop_boxes=d["crop_boxes"],
            raw={k[4:]: v for k, v in d.items() if k.startswith("raw.")},
            final={k[6:]: v for k, v in d.items() if k.startswith("final.")},
            joints_full=d["joints_full"],
        )


def joints_full(person: PersonEstimate) -> np.ndarray:
    """(55, 3) skeleton joints in the shared camera (empty (0, 3) without a mesh)."""
    j = np.asarray(person.joints_cam, np.float32)
    if j.shape[0] < 55 or person.transl_full is None:
        return np.zeros((0, 3), np.float32)
    own = np.asarray(person.params["transl"], np.float32).reshape(3)
    return j[:55] - own + np.asarray(person.transl_full, np.float32).reshape(3)


def _stack(dicts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not dicts:
        return {}
    return {k: np.stack([np.asarray(d[k], np.float32) for d in dicts]) for k in dicts[0]}


def make_record(index: int, time_s: float, people: list[PersonEstimate], person_ids: list[int],
                raw: list[dict[str, np.ndarray]], tracker_boxes: np.ndarray | None = None
                ) -> FrameRecord:
    """The :class:`FrameRecord` of a finished frame. ``tracker_boxes``: the boxes given to the
    tracker when they differ from the people's boxes (default: the people's boxes)."""
    n = len(people)
    boxes = (np.asarray([p.bbox_xywh for p in people], np.float32).reshape(n, 4)
             if tracker_boxes is None else np.asarray(tracker_boxes, np.float32).reshape(-1, 4))
    crop = np.asarray([p.crop_bbox_xywh if p.crop_bbox_xywh is not None else [np.nan] * 4
                       for p in people], np.float32).reshape(n, 4)
    final = [{**p.params, "transl_full": np.asarray(p.transl_full, np.float32).reshape(3)}
             for p in people]
    js = [joints_full(p) for p in people]
    jf = np.stack(js) if js and all(j.shape[0] == 55 for j in js) else np.zeros((n, 0, 3))
    return FrameRecord(
        index=index, time_s=time_s, boxes=boxes,
        scores=np.asarray([p.score for p in people], np.float32),
        person_ids=np.asarray(person_ids, np.int64),
        track_ids=np.asarray([-1 if p.track_id is None else p.track_id for p in people],
                             np.int64),
        crop_boxes=crop, raw=_stack(raw), final=_stack(final),
        joints_full=np.asarray(jf, np.float32),
    )


class TrackStore:
    """Per-track time series, saved as ``tracks.npz``.

    Keys: ``track_ids`` (K,), ``fps``; per track ``t{id}/frame_index`` (T,) from its first to its
    last frame, ``t{id}/valid`` (T,) bool (False where the track was not seen), ``t{id}/time_s``,
    ``t{id}/bbox_xywh`` (T, 4), ``t{id}/score``, every parameter ``t{id}/<key>`` (T, ...),
    ``t{id}/transl_full`` (T, 3) and ``t{id}/joints`` (T, 55, 3) skeleton joints in the shared
    camera (metres). Invalid rows are zeros.
    """

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, dict[str, np.ndarray]]] = {}

    def add(self, record: FrameRecord) -> None:
        for i, tid in enumerate(record.track_ids.tolist()):
            if tid < 0:
                continue
            row = {k: v[i] for k, v in record.final.items()}
            row["bbox_xywh"] = record.boxes[i] if i < len(record.boxes) else np.zeros(4)
            row["score"] = np.float32(record.scores[i])
            row["time_s"] = np.float64(record.time_s)
            if record.joints_full.shape[1] == 55:
                row["joints"] = record.joints_full[i]
            self.rows.setdefault(int(tid), {})[record.index] = row

    def arrays(self, fps: float) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "track_ids": np.asarray(sorted(self.rows), np.int64), "fps": np.float64(fps)}
        for tid, frames in sorted(self.rows.items()):
            first, last = min(frames), max(frames)
            idx = np.arange(first, last + 1)
            valid = np.isin(idx, list(frames))
            out[f"t{tid}/frame_index"] = idx
            out[f"t{tid}/valid"] = valid
            template = frames[first]
            for key, val in template.items():
                val = np.asarray(val)
                arr = np.zeros((len(idx), *val.shape), val.dtype)
                for j, f in enumerate(idx):
                    if f in frames and key in frames[f]:
                        arr[j] = frames[f][key]
                out[f"t{tid}/{key}"] = arr
        return out
