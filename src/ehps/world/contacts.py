"""Foot contacts: per frame and foot, is the foot planted on the floor?

A foot is in contact when its sole is low and it is slow, with hysteresis: contact starts when the
sole height is under ``height_on`` and the foot speed under ``speed_on``, and ends when either
rises over ``height_off`` / ``speed_off``. Contacts shorter than ``min_frames`` are dropped and
gaps of at most ``max_gap`` frames between two contacts are filled. Heights come from
:func:`ehps.world.floor.foot_heights` (sole = lowest foot joint minus its rest clearance); the
speed is the horizontal speed of the foot's joints (the faster of ankle and ball of the foot).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["ContactConfig", "detect_contacts", "horizontal_speed", "runs"]


@dataclass(frozen=True)
class ContactConfig:
    """Contact thresholds (metres, m/s, frames). Noisy input loosens them (:meth:`for_residual`,
    :meth:`for_noise`), never beyond ``max_speed_on`` / ``max_height_on``: a foot faster or
    higher than that is not treated as planted, however noisy the track."""

    height_on: float = 0.05
    height_off: float = 0.08
    speed_on: float = 0.25
    speed_off: float = 0.45
    min_frames: int = 3
    max_gap: int = 2
    residual_k: float = 2.5
    max_speed_on: float = 0.6
    max_height_on: float = 0.10

    def for_noise(self, height: np.ndarray, speed: np.ndarray, valid: np.ndarray
                  ) -> ContactConfig:
        """These thresholds loosened for a noisy track: the lower foot of a walking or standing
        person is planted most of the time, so its 25th-percentile speed and the spread (MAD)
        of its height measure the estimator's noise; ``speed_on`` is raised to 1.5 times the
        former, ``height_on`` to 2 times the latter (clean input keeps the defaults)."""
        if valid.sum() < 5:
            return self
        low = height.argmin(1)
        rows = np.arange(len(low))
        sp = speed[rows, low][valid]
        h = height[rows, low][valid]
        speed_on = min(self.max_speed_on, max(self.speed_on, 1.5 * float(np.percentile(sp, 25))))
        mad = float(np.median(np.abs(h - np.median(h))))
        height_on = min(self.max_height_on, max(self.height_on, 2.0 * mad))
        return replace(self, height_on=height_on,
                       height_off=max(self.height_off, height_on + 0.03), speed_on=speed_on,
                       speed_off=max(self.speed_off, 1.8 * speed_on))

    def for_residual(self, residual_m: float) -> ContactConfig:
        """These thresholds loosened for a floor fit residual (metres)."""
        if not np.isfinite(residual_m):
            return self
        on = min(self.max_height_on, max(self.height_on, self.residual_k * residual_m))
        return replace(self, height_on=on, height_off=max(self.height_off, on + 0.03))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` index runs of True values of a 1-D mask."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def horizontal_speed(points: np.ndarray, normal: np.ndarray, fps: float,
                     valid: np.ndarray) -> np.ndarray:
    """(T, ..., 3) points -> (T, ...) speed (m/s) along the floor, central differences.

    Frames whose neighbours are not ``valid`` use one-sided differences; isolated frames get 0.
    """
    p = np.asarray(points, np.float64)
    p = p - (p @ normal)[..., None] * normal
    n = len(p)
    out = np.zeros(p.shape[:-1])
    for t in range(n):
        if not valid[t]:
            continue
        a = t - 1 if t > 0 and valid[t - 1] else t
        b = t + 1 if t + 1 < n and valid[t + 1] else t
        if b > a:
            out[t] = np.linalg.norm(p[b] - p[a], axis=-1) * fps / (b - a)
    return out


def detect_contacts(height: np.ndarray, speed: np.ndarray, valid: np.ndarray,
                    cfg: ContactConfig | None = None) -> np.ndarray:
    """Contact flags.

    Args:
        height: (T, F) sole height above the floor (metres) per foot.
        speed: (T, F) foot speed along the floor (m/s).
        valid: (T,) frames that were estimated (others are never in contact).

    Returns:
        (T, F) bool.
    """
    cfg = cfg or ContactConfig()
    n_t, n_f = height.shape
    out = np.zeros((n_t, n_f), bool)
    for f in range(n_f):
        on = False
        for t in range(n_t):
            if not valid[t]:
                on = False
                continue
            if on:
                on = height[t, f] <= cfg.height_off and speed[t, f] <= cfg.speed_off
            else:
                on = height[t, f] < cfg.height_on and speed[t, f] < cfg.speed_on
            out[t, f] = on
        spans = runs(out[:, f])
        for (_, a1), (b0, _) in zip(spans, spans[1:]):  # fill short gaps
            if b0 - a1 - 1 <= cfg.max_gap and valid[a1 + 1:b0].all():
                out[a1 + 1:b0, f] = True
        for a, b in runs(out[:, f]):
            if b - a + 1 < cfg.min_frames:
                out[a:b + 1, f] = False
    return out
