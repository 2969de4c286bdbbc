"""Estimators: what turns the people found in a frame into body-model parameters.

Every estimator implements :class:`Estimator`, and the stage loop (:mod:`ehps.inference.loop`)
knows nothing else about it. Two ship with ehps:

- :class:`ehps.inference.network.NetworkEstimator`: a SMPLer-X / SMPLest-X network on official
  person crops, batched across people and frames;
- :class:`ehps.inference.fitting.FittingEstimator`: the embedded estimator, a body-model fit to
  each person's whole-body landmarks (no weights needed), one frame per call.

The contract, in the order the loop uses it:

1. :meth:`Estimator.make_finder` gives the detect stage (:mod:`ehps.inference.detect`): the people
   of a frame as :class:`~ehps.inference.detect.Detection` objects, with whatever the estimator
   needs from the image (boxes only, or whole-body landmarks);
2. :meth:`Estimator.prepare` turns one frame's detections into :class:`PersonInput` objects (or
   ``None`` for a person it cannot use); it runs right after detection, while the frame's image
   is at hand;
3. :meth:`Estimator.estimate` is the one batch method: a list of :class:`PersonInput` (of one
   frame when :attr:`Estimator.frame_batches`, else of consecutive frames) in, one
   :class:`~ehps.structures.PersonEstimate` per input out, in order, with parameters, cameras and
   ``transl_full`` (the shared-camera translation) filled; meshes may be left empty: the pose
   stage (:func:`pose_people`) makes them for everyone with :meth:`Estimator.body_model`;
4. :meth:`Estimator.relocate` moves a person to a new shared-camera translation (after temporal
   smoothing), keeping its own camera's ``transl`` consistent.

Video: :attr:`PersonInput.context` carries a tracked person's previous raw estimates (the
embedded fit starts from them and adds a temporal term, :mod:`ehps.fitting.temporal`; networks
ignore them), and the detect stage receives the previous frame's tracked detections as ``hints``
(landmark tracking instead of detection on every frame, :mod:`ehps.inference.track_finder`).
Both are off with ``tracking.per_frame`` (``--per-frame``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ehps.geometry.camera import Intrinsics, project_points
from ehps.inference.detect import Detection, PeopleFinder
from ehps.structures import SMPLX_PARAM_KEYS, PersonEstimate

__all__ = [
    "TrackContext",
    "PersonInput",
    "Estimator",
    "normalize_params",
    "pose_people",
    "POSE_CHUNK",
    "CONTEXT_HISTORY",
]

#: People per body-model forward in :func:`pose_people`.
POSE_CHUNK = 64

#: Past raw estimates a :class:`TrackContext` keeps (temporal terms need the last two).
CONTEXT_HISTORY = 3


@dataclass
class TrackContext:
    """What is known about a tracked person from earlier frames.

    Attributes:
        track_id: the track.
        frame_index: the frame of ``previous``.
        previous: the track's last raw (unsmoothed) estimate, parameters in the shapes of
            :class:`~ehps.structures.PersonEstimate` (a copy: changing it changes nothing else).
        past: ``(time_s, params)`` of the track's last few raw estimates (at most
            :data:`CONTEXT_HISTORY`), oldest first, ending with ``previous``'s.
        frames: how many frames of the track were estimated in a row so far.
    """

    track_id: int
    frame_index: int
    previous: PersonEstimate
    past: tuple[tuple[float, dict[str, np.ndarray]], ...] = ()
    frames: int = 1


@dataclass
class PersonInput:
    """One person to estimate.

    Attributes:
        frame_index: the frame it is in.
        detection: how it was found (box in pixels, score, landmarks when the finder gives them).
        k_shared: the frame's shared camera.
        image_hw: (height, width) of the frame in pixels.
        payload: what :meth:`Estimator.prepare` made for :meth:`Estimator.estimate` (the network's
            crop, the fit's landmarks); opaque to the loop.
        track_id: the person's track, when tracked.
        context: the track's previous estimate (see :class:`TrackContext`), when there is one.
        time_s: the frame's time, seconds (video timestamp; images: ``index / fps``).
        followed: the person belongs to a followed video (tracked, warm fits on: new tracks
            there may get a video-specific cold fit).
    """

    frame_index: int
    detection: Detection
    k_shared: Intrinsics
    image_hw: tuple[int, int]
    payload: Any = None
    track_id: int | None = None
    context: TrackContext | None = None
    time_s: float = 0.0
    followed: bool = False


@runtime_checkable
class Estimator(Protocol):
    """The one seam between the stage loop and an estimation method (module docstring).

    Attributes:
        name: short name recorded in every output (``"smplerx_b32"``, ``"fit-anny"``).
        weights: the weight file, or ``""``.
        body_model_name: the body model its parameters drive (``"smplx"``, ``"anny"``).
        batch_size: people per :meth:`estimate` call (an upper bound).
        frame_batches: ``True``: every :meth:`estimate` call holds the people of one frame, and a
            frame's call comes after the previous frame's results are known (needed by estimators
            that use :attr:`PersonInput.context`); ``False``: calls may mix consecutive frames.
        timings: seconds spent per step, added up over calls (e.g. ``"crop"``, ``"network"``).
        device: where its body model runs (the pose stage runs there too).
    """

    name: str
    weights: str
    body_model_name: str
    batch_size: int
    frame_batches: bool
    timings: dict[str, float]
    device: torch.device

    def make_finder(self, min_score: float, max_people: int | None, *, search: str = "auto",
                    search_preset: str = "default") -> PeopleFinder:
        """The detect stage this estimator needs (``search``, ``search_preset``: the person
        search of :class:`ehps.config.DetectionConfig`)."""
        ...

    def prepare(self, image: np.ndarray, detections: Sequence[Detection], k_shared: Intrinsics,
                frame_index: int) -> list[PersonInput | None]:
        """One input per detection (``None``: the person is dropped, e.g. a box outside the
        image). ``image``: (H, W, 3) uint8 RGB."""
        ...

    def estimate(self, inputs: Sequence[PersonInput]) -> list[PersonEstimate]:
        """The batch method: one estimate per input, in order (see the module docstring)."""
        ...

    def relocate(self, person: PersonEstimate, transl_full: np.ndarray,
                 k_shared: Intrinsics) -> None:
        """Move ``person`` to the shared-camera translation ``transl_full`` (3,) metres."""
        ...

    def body_model(self, required: bool = False) -> Any:
        """The body model meshes are made with, or ``None`` when its files are missing (raises
        :class:`~ehps.errors.BodyModelError` instead when ``required``)."""
        ...


def normalize_params(params: dict[str, Any]) -> dict[str, np.ndarray]:
    """float32 copies of a parameter dict with the SMPL-X keys in the shapes of
    :data:`~ehps.structures.SMPLX_PARAM_KEYS` (other keys: leading singleton axes dropped to
    ``(1, n)``)."""
    out: dict[str, np.ndarray] = {}
    for key, value in params.items():
        arr = np.asarray(value, np.float32)
        shape = SMPLX_PARAM_KEYS.get(key)
        if shape is not None and arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        elif shape is None and arr.ndim > 2 and all(s == 1 for s in arr.shape[:-1]):
            arr = arr.reshape(1, -1)
        out[key] = arr.copy()
    return out


@functools.lru_cache(maxsize=16)
def _forward_keys(cls: type) -> frozenset[str]:
    """The keyword arguments a body-model class's ``forward`` takes."""
    return frozenset(inspect.signature(cls.forward).parameters)


def pose_people(body_model: Any, people: Sequence[PersonEstimate],
                device: torch.device | None = None) -> None:
    """Fill ``vertices_cam``, ``joints_cam`` and ``joints_img`` of ``people`` (from any frames)
    from their parameters: one batched body-model forward per :data:`POSE_CHUNK` people.

    Args:
        body_model: the body model (``forward(**params) -> BodyModelOutput``), or ``None`` (then
            nothing happens).
        people: estimates whose ``params`` drive ``body_model``; their ``transl`` is in their own
            camera (``intrinsics``), so the outputs are too (metres; pixels for ``joints_img``).
        device: where the forward runs (default: the CPU).
    """
    if body_model is None or not people:
        return
    allowed = _forward_keys(type(body_model))
    dev = device or torch.device("cpu")
    dtype = getattr(body_model, "dtype", None)
    dtype = dtype if isinstance(dtype, torch.dtype) else torch.float32
    for s in range(0, len(people), POSE_CHUNK):
        chunk = list(people[s : s + POSE_CHUNK])
        keys = [k for k in chunk[0].params if k in allowed]
        inputs = {}
        for k in keys:
            arr = np.stack([np.asarray(p.params[k], np.float32).reshape(-1) for p in chunk])
            inputs[k] = torch.from_numpy(arr).to(device=dev, dtype=dtype)
        with torch.inference_mode():
            out = body_model(**inputs)
        verts = out.vertices.float().cpu().numpy()
        joints = out.joints.float().cpu().numpy()
        for i, p in enumerate(chunk):
            k = p.intrinsics
            p.vertices_cam = verts[i]
            p.joints_cam = joints[i]
            p.joints_img = project_points(joints[i], k.focal, k.princpt, eps=0.0).astype(
                np.float32)
