"""When a warm (video) fit should give way to a cold one: the occlusion fallback.

A tracked person's warm fit (:func:`ehps.fitting.temporal.fit_people_warm`) starts from its
previous solution and runs a short schedule. That is right while the person stays in view, but
when someone walks in front of them the landmarks of the hidden half turn into guesses: the
short schedule then drags the previous pose towards them, and it does worse than a cold fit,
whose closed-form start comes from this frame's world landmarks (mediapipe's own 3D guess for
the hidden limbs). So, per person and frame, after the warm fit:

- **visibility drop**: the mean confidence of the 33 body landmarks (visibility x presence)
  fell more than :attr:`FallbackConfig.visibility_drop` below the track's reference *and* the
  warm fit reprojects at least :attr:`FallbackConfig.visibility_reproj_ratio` times worse than
  the track's reference (on vtest, mediapipe's visibility of small people wobbles by 0.05-0.1
  from frame to frame while the warm fit stays good: visibility alone fired on 20% of the
  person-frames), or
- **residual jump**: the warm fit's median body reprojection error (pixels) is more than
  :attr:`FallbackConfig.reproj_ratio` times the track's reference *and* more than
  :attr:`FallbackConfig.reproj_floor` x the person's box height above it,

and the person is fitted again from a cold start (the caller's cold schedule), whose result
replaces the warm one. The references are exponential moving averages over the track's frames
(rate :attr:`FallbackConfig.rate`, kept in ``extras["track_reference"]`` of each estimate and
so carried by the track's context): a sudden drop triggers, a lasting state becomes the new
normal (a person who stays half-visible at the image border is not refitted cold forever).
:attr:`FallbackConfig.max_per_frame` bounds the cost of one frame, and a per-track credit the
cost of a sequence: a refit spends one credit, each frame of the track earns
:attr:`FallbackConfig.refill`, up to :attr:`FallbackConfig.burst` (a track starts with
``burst``). On vtest (``benchmarks/video_speed.py``) the triggers fired on 8% of the
person-frames of the first 30 frames without the credit (crowds of small people whose landmarks
wobble), and a surrogate-only cold refit costs about five warm fits; with the credit, 4-5% of
the person-frames are refitted and the video mode takes 8-10% longer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FallbackConfig", "TrackReference", "reference_of", "needs_cold", "updated_reference"]

REFERENCE_KEY = "track_reference"


@dataclass(frozen=True)
class FallbackConfig:
    """Options of the occlusion fallback (module docstring).

    Attributes:
        enabled: refit people cold when a trigger fires. Off by default: on vtest's first 200
            frames (quiet machine, ``benchmarks/video_speed.py``) it refitted 4% of the
            person-frames and made the video mode 12% slower (6.8x -> 5.7x the per-frame path's
            speed, under the 6x target), for +1.05 -> +0.29 mm PA-MPJPE on the occluded
            synthetic walk (both within the +2 mm limit). Turn it on for heavy occlusion.
        visibility_drop: drop of the mean body-landmark confidence below the track's reference
            that triggers (absolute, confidences in [0, 1]).
        visibility_reproj_ratio: with a visibility drop, the warm reprojection error / the
            track's reference must exceed this too.
        reproj_ratio: warm reprojection error / the track's reference that triggers alone
            (with ``reproj_floor``).
        reproj_floor: the warm error must also exceed the reference by this fraction of the
            person's box height (pixels / pixels): small people's errors are sub-pixel noise.
        rate: weight of the current frame in the references' moving averages.
        max_per_frame: at most this many people refitted in one frame (the worst first).
        action: ``"cold"``: the refit is the cold fit (the caller's cold schedule);
            ``"cold_surrogate"``: the cold fit without its stages on the exact model (cheaper);
            ``"landmarks"``: a longer warm fit (``warm_iterations``) from this frame's
            closed-form start, with the track's shape (cheaper: skeleton surrogate only).
        warm_iterations: iterations of the ``"landmarks"`` refit.
        burst: most refits a track may spend in a row (its credit's ceiling and start).
        refill: credit a track earns per frame (1/32: at most one refit per 32 frames once
            the burst is spent).
    """

    enabled: bool = False
    visibility_drop: float = 0.04
    visibility_reproj_ratio: float = 1.2
    reproj_ratio: float = 2.0
    reproj_floor: float = 0.003
    rate: float = 0.3
    max_per_frame: int = 4
    action: str = "cold_surrogate"
    warm_iterations: int = 30
    burst: float = 2.0
    refill: float = 1 / 32

    def __post_init__(self) -> None:
        if self.action not in ("cold", "cold_surrogate", "landmarks"):
            raise ValueError(f"action must be cold, cold_surrogate or landmarks, got "
                             f"{self.action!r}")
        if not 0 < self.rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {self.rate}")
        if self.reproj_ratio < 1 or self.visibility_drop < 0 or self.reproj_floor < 0:
            raise ValueError("reproj_ratio must be >= 1, visibility_drop and reproj_floor >= 0")
        if self.max_per_frame < 0:
            raise ValueError(f"max_per_frame must be >= 0, got {self.max_per_frame}")


@dataclass(frozen=True)
class TrackReference:
    """A track's normal state: mean body-landmark confidence and body reprojection error (px),
    and the refits it may still spend (``credit``; ``None``: a full burst)."""

    visibility: float
    reproj_px: float
    credit: float | None = None


def _visibility(landmarks: Any) -> float:
    conf = getattr(landmarks, "body_conf", None)
    return float(np.mean(conf)) if conf is not None else float("nan")


def _reproj(estimate: Any) -> float:
    return float(estimate.extras.get("reproj_px", {}).get("body", np.nan))


def reference_of(previous: Any) -> TrackReference | None:
    """The reference the track's previous estimate carries, or its own state when it carries
    none (the first warm frame after a cold fit); ``None`` without usable values."""
    ref = previous.extras.get(REFERENCE_KEY)
    if isinstance(ref, TrackReference):
        return ref
    ref = TrackReference(_visibility(previous.extras.get("landmarks")), _reproj(previous))
    return ref if np.isfinite(ref.visibility) and np.isfinite(ref.reproj_px) else None


def needs_cold(landmarks: Any, warm: Any, reference: TrackReference | None,
               config: FallbackConfig) -> float:
    """How strongly ``warm`` (a warm fit's estimate of ``landmarks``' person) calls for a cold
    refit: 0 when no trigger fires, else a positive score (larger: worse) that orders people.

    Args:
        landmarks: this frame's :class:`~ehps.detection.base.PersonLandmarks`.
        warm: the warm fit's :class:`~ehps.structures.PersonEstimate`.
        reference: the track's reference (:func:`reference_of`), or ``None`` (never triggers).
        config: thresholds.
    """
    if reference is None or not config.enabled:
        return 0.0
    if (config.burst if reference.credit is None else reference.credit) < 1.0:
        return 0.0
    score = 0.0
    err = _reproj(warm)
    drop = reference.visibility - _visibility(landmarks)
    if (np.isfinite(drop) and drop > config.visibility_drop and np.isfinite(err)
            and err > config.visibility_reproj_ratio * reference.reproj_px):
        score += drop / max(config.visibility_drop, 1e-6)
    height = float(np.asarray(landmarks.bbox_xywh, np.float64)[3])
    if (np.isfinite(err) and err > config.reproj_ratio * reference.reproj_px
            and err - reference.reproj_px > config.reproj_floor * height):
        score += err / max(reference.reproj_px, 1e-6)
    return score


def updated_reference(reference: TrackReference | None, landmarks: Any, estimate: Any,
                      config: FallbackConfig, refitted: bool = False) -> TrackReference | None:
    """The reference after this frame (moving averages; the first frame sets it), with the
    credit earned this frame, less one when ``refitted``."""
    vis, err = _visibility(landmarks), _reproj(estimate)
    if not (np.isfinite(vis) and np.isfinite(err)):
        return reference
    if reference is None:
        return TrackReference(vis, err)
    a = config.rate
    credit = config.burst if reference.credit is None else reference.credit
    credit = min(config.burst, credit + config.refill) - (1.0 if refitted else 0.0)
    return TrackReference((1 - a) * reference.visibility + a * vis,
                          (1 - a) * reference.reproj_px + a * err, credit)


def choose_refits(scores: Sequence[float], config: FallbackConfig) -> list[int]:
    """Indices of the people to refit cold: positive scores, worst first, at most
    ``config.max_per_frame``, returned in input order."""
    order = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: -scores[i])
    return sorted(order[: config.max_per_frame])
