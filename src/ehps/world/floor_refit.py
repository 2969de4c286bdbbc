"""Second pass of the floor fit: the floor's offset refitted to the soles of every foot in
contact (after a first contact detection on :func:`ehps.world.floor.fit_floor`'s plane).

Why: step 2 of :mod:`ehps.world.floor` keeps the lowest moments of the lower foot, which the
estimator's noise biases low (0.8 cm on 16 synthetic walks); the cleanup would then pull every
planted foot, and the body, down to that plane. The soles of all contact frames are unbiased.
``FloorConfig.refit_normal`` refits the normal too (off by default: more points, but the contact
soles carry the estimator's slow errors and tilted the plane more).

Same frame and units as :mod:`ehps.world.floor` (camera frame, metres, ``n . p + d``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ehps.world.floor import (
    FloorConfig,
    FloorFit,
    FootTrack,
    _angle_deg,
    _refine,
    _soles,
    inlier_band,
    people_prior,
)

__all__ = ["refit_floor"]


def _refine_offset(points: np.ndarray, normal: np.ndarray, offset: float, cfg: FloorConfig
                   ) -> tuple[np.ndarray, float, np.ndarray, float]:
    """The offset alone refined (Huber IRLS in the robust band), the normal kept."""
    tol = inlier_band(points @ normal + offset, cfg)
    inl = np.abs(points @ normal + offset) < tol
    for _ in range(50):  # IRLS: until the offset (not only the inlier set) stops moving
        if inl.sum() < 3:
            break
        r = points[inl] @ normal + offset
        w = np.minimum(1.0, cfg.huber / np.maximum(np.abs(r), 1e-9))
        step = float((w * r).sum() / w.sum())
        offset = offset - step
        new = np.abs(points @ normal + offset) < tol
        if np.array_equal(new, inl) and abs(step) < 1e-7:
            break
        inl = new
    return normal, offset, inl, tol


def refit_floor(fit: FloorFit, tracks: list[FootTrack], contacts: list[np.ndarray],
                cfg: FloorConfig | None = None) -> FloorFit:
    """Second pass: the floor refitted to the soles of every foot in contact.

    The first pass (:func:`fit_floor`) takes the lower foot of a frame at its slowest moments:
    robust, but under estimator noise its points are the ones the noise pushed down, so the
    plane sits low (about 1 cm on the synthetic walks) and the cleanup would then pull every
    planted foot, and with it the body, down to it. Refitted to the soles of all contact frames
    (both feet in double support), the plane goes through the feet the cleanup puts on it:
    the refinement of :func:`fit_floor` (robust band, Huber IRLS, the same up prior) started
    from ``fit``.

    Args:
        fit: a successful first fit (a failed one is returned unchanged).
        tracks: the feet, as given to :func:`fit_floor`.
        contacts: per track (T, 2) bool contact flags (left, right).

    Returns:
        The refitted floor, or ``fit`` when fewer than ``min_inliers`` contact soles in
        ``min_frames`` frames, or fewer than a share ``refit_agree`` of them, agree with it (the
        contacts of very noisy tracks do not lie on one plane: the first fit stays), or the new
        normal is more than ``max_tilt_deg`` from the body up.
    """
    cfg = cfg or FloorConfig()
    if not fit.ok:
        return fit
    pts, where = [], []
    for k, (tr, c) in enumerate(zip(tracks, contacts)):
        p, w = _soles(tr, np.asarray(c, bool) & tr.usable[:, None], fit.normal, k)
        pts.append(p)
        where.append(w)
    points = np.concatenate(pts) if pts else np.zeros((0, 3))
    if len(points) < cfg.min_inliers:
        return fit
    where_a = np.concatenate(where)
    prior = people_prior(tracks, cfg)
    if cfg.refit_normal:
        normal, offset, inl, tol = _refine(points, (fit.normal, fit.offset), prior, cfg)
    else:
        normal, offset, inl, tol = _refine_offset(points, fit.normal, fit.offset, cfg)
    frames = len({(int(a), int(b)) for a, b in where_a[inl]})
    tilt = _angle_deg(normal, prior)
    if (inl.sum() < max(cfg.min_inliers, cfg.refit_agree * len(points))
            or frames < cfg.min_frames or tilt > cfg.max_tilt_deg):
        return fit
    res = points[inl] @ normal + offset
    out = replace(fit, normal=normal, offset=float(offset), inliers=int(inl.sum()),
                  candidates=len(points), residual_m=float(np.sqrt(np.mean(res**2))),
                  inlier_tol_m=tol, frames=frames,
                  tracks=len({int(a) for a in where_a[inl, 0]}), body_tilt_deg=tilt)
    pel = np.concatenate([tr.pelvis[tr.usable] for tr in tracks])
    out.pelvis_height_m = float(np.median(out.height(pel)))
    return out
