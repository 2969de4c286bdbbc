"""Temporal smoothing of per-track body parameters with the One-Euro filter.

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a first-order low-pass filter whose
cut-off frequency rises with the signal's speed: slow motion is smoothed strongly (less jitter),
fast motion passes with little lag. Parameters: ``min_cutoff`` (Hz; lower = smoother at rest),
``beta`` (speed coefficient; higher = less lag when moving), ``d_cutoff`` (Hz, for the speed
estimate).

Rotations are filtered on the rotation manifold, not on raw axis-angle (whose components jump
when the angle crosses pi and are not a vector space): each rotation is a unit quaternion, kept in
the hemisphere of the previous estimate; its speed is the angular velocity ``log(q_prev^-1 q)``
(a tangent vector, rad/s), and the low-pass step is a slerp from the previous estimate towards the
new sample by the One-Euro smoothing factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import roma
import torch

__all__ = [
    "OneEuroFilter",
    "RotationOneEuroFilter",
    "ParamSmoother",
    "TrackSmoothers",
    "ROTATION_KEYS",
    "mean_acceleration",
]

#: SMPL-X parameter keys holding axis-angle rotations (last dim 3).
ROTATION_KEYS: frozenset[str] = frozenset(
    {"global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
     "leye_pose", "reye_pose"}
)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise One-Euro filter for arrays of a fixed shape (e.g. betas, translation)."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t`` (seconds); returns the estimate."""
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + _alpha(self.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + _alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x.copy()


class RotationOneEuroFilter:
    """One-Euro filter for (..., 3) axis-angle rotations, done on unit quaternions.

    The speed used for the adaptive cut-off is the norm of the filtered angular velocity of each
    rotation (rad/s); the smoothing step is ``slerp(q_est, q_new, alpha)``.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.q: torch.Tensor | None = None  # (..., 4) current estimate (x, y, z, w)
        self.omega: torch.Tensor | None = None  # (..., 3) filtered angular velocity, rad/s
        self.t: float | None = None

    def __call__(self, aa: np.ndarray, t: float) -> np.ndarray:
        q = roma.rotvec_to_unitquat(torch.as_tensor(np.asarray(aa), dtype=torch.float64))
        if self.q is None or self.t is None or t <= self.t:
            self.q, self.omega, self.t = q, torch.zeros(q.shape[:-1] + (3,), dtype=q.dtype), t
            return roma.unitquat_to_rotvec(q).numpy()
        dt = t - self.t
        # same hemisphere as the current estimate (q and -q are the same rotation)
        sign = torch.where((q * self.q).sum(-1, keepdim=True) < 0, -1.0, 1.0)
        q = q * sign
        # tangent-space difference: q = q_est * exp(delta), delta in rad (body frame of q_est)
        delta = roma.unitquat_to_rotvec(roma.quat_product(roma.quat_conjugation(self.q), q))
        a_d = float(_alpha(self.d_cutoff, dt))
        self.omega = self.omega + a_d * (delta / dt - self.omega)
        cutoff = self.min_cutoff + self.beta * self.omega.norm(dim=-1)
        alpha = torch.as_tensor(_alpha(cutoff.numpy(), dt), dtype=q.dtype)
        # slerp(q_est, q, alpha) with one alpha per rotation
        step = roma.rotvec_to_unitquat(delta * alpha.unsqueeze(-1))
        self.q = roma.quat_normalize(roma.quat_product(self.q, step))
        self.t = t
        return roma.unitquat_to_rotvec(self.q).numpy()


class ParamSmoother:
    """Smooths one track's parameter dicts over time: every rotation key on SO(3) in one
    :class:`RotationOneEuroFilter`, every other floating-point key element-wise in one
    :class:`OneEuroFilter` (both filters work per rotation / per element, so packing the keys
    together changes no number and saves many small calls). Every call must pass the same keys.

    Args:
        min_cutoff, beta, d_cutoff: One-Euro parameters shared by all keys (rotation speeds are in
            rad/s, translations in m/s, shape and expression coefficients in units/s).
        keys: keys to smooth (default: every floating-point key); others pass through unchanged.
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 0.5,
        d_cutoff: float = 1.0,
        keys: Iterable[str] | None = None,
    ) -> None:
        self.keys = None if keys is None else set(keys)
        self.rot = RotationOneEuroFilter(min_cutoff, beta, d_cutoff)
        self.vec = OneEuroFilter(min_cutoff, beta, d_cutoff)

    def __call__(self, params: Mapping[str, np.ndarray], t: float) -> dict[str, np.ndarray]:
        """Filter one sample (``t`` in seconds); returns the smoothed dict (same keys, shapes
        and dtypes)."""
        arrays = {k: np.asarray(v) for k, v in params.items()}
        floats = {k: v for k, v in arrays.items() if np.issubdtype(v.dtype, np.floating)
                  and (self.keys is None or k in self.keys)}
        out = dict(arrays)
        for keys, filt, width in (([k for k in floats if k in ROTATION_KEYS], self.rot, 3),
                                  ([k for k in floats if k not in ROTATION_KEYS], self.vec, 1)):
            if not keys:
                continue
            packed = np.concatenate([floats[k].reshape(-1) for k in keys]).astype(np.float64)
            res = filt(packed.reshape(-1, 3) if width == 3 else packed, t)
            start = 0
            for k in keys:
                n = floats[k].size // width
                part = res[start : start + n]
                out[k] = part.astype(floats[k].dtype).reshape(floats[k].shape)
                start += n
        return out


class TrackSmoothers:
    """One :class:`ParamSmoother` per track; the filter of a track unseen for more than
    ``max_gap`` frames is dropped (a track that comes back starts afresh, as a new track does).

    Args:
        min_cutoff, beta, d_cutoff: One-Euro parameters.
        max_gap: frames after which an unseen track's filter is dropped (the tracker's
            ``max_misses + 1``).
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float, max_gap: int) -> None:
        self.args = (min_cutoff, beta, d_cutoff)
        self.max_gap = max_gap
        self.filters: dict[int, ParamSmoother] = {}
        self.last_frame: dict[int, int] = {}

    def __call__(self, track_id: int, params: Mapping[str, np.ndarray], frame_index: int,
                 t: float) -> dict[str, np.ndarray]:
        """One sample of one track (frames must come in order)."""
        stale = [k for k, last in self.last_frame.items() if frame_index - last > self.max_gap]
        for k in stale:
            del self.filters[k], self.last_frame[k]
        if track_id not in self.filters:
            self.filters[track_id] = ParamSmoother(*self.args)
        self.last_frame[track_id] = frame_index
        return self.filters[track_id](params, t)


def mean_acceleration(joints: np.ndarray, fps: float, valid: np.ndarray | None = None) -> float:
    """Jitter measure: mean norm of the second finite difference of (T, J, 3) joint positions,
    in units/s^2 (metres -> m/s^2). Only triples of consecutive valid frames count."""
    x = np.asarray(joints, np.float64)
    if x.shape[0] < 3:
        return float("nan")
    acc = x[2:] - 2 * x[1:-1] + x[:-2]
    norms = np.linalg.norm(acc, axis=-1).mean(axis=-1) * fps**2
    if valid is not None:
        v = np.asarray(valid, bool)
        ok = v[2:] & v[1:-1] & v[:-2]
        norms = norms[ok]
    return float(norms.mean()) if norms.size else float("nan")
