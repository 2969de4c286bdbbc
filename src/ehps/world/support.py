"""Which tracks stand on a floor, and a floor fit that tolerates per-track depth errors.

A monocular estimate puts each person at a distance along the viewing rays that can be off by
tens of percent, independently per person (small, far people most). A track whose distance is
off by a factor ``s`` has its feet on a plane *parallel* to the true floor, shifted by about
``(s - 1)(camera height - pelvis height)``: the normal is shared, the offset is not. Pooling the
feet of all tracks into one plane fit (:func:`ehps.world.floor.fit_floor`'s RANSAC) is right
when the depths agree, but with many disagreeing tracks a plane through the feet of a few of
them, or a tilted plane through feet at different depths, can win the point count (vtest: a
camera 0.27 m above the floor, 2 of 11 tracks standing on it).

Here:

- :func:`track_weights`: how much a track counts in a vote: its number of usable frames (a
  3-frame track of a far person weighs little against an 80-frame one).
- :func:`track_support`: the tracks standing on a plane: median pelvis height within
  ``FloorConfig.pelvis_range`` (a standing or walking person); the share is weighted.
- :func:`fit_shared_normal`: the normal from each track's feet about *its own* plane (each track
  centred on its own robust offset, so depth errors between tracks do not tilt it), Huber IRLS
  in the robust band with the body-up prior; then the offset that the largest weighted share of
  tracks stands on (a 1-D vote over the tracks' own offsets), refined to the weighted median of
  the offsets of the tracks that stand on it (kept while a majority still stands there).
"""

from __future__ import annotations

import numpy as np

__all__ = ["track_weights", "track_pelvis_heights", "track_support", "fit_shared_normal"]


def track_weights(tracks: list) -> np.ndarray:
    """(K,) vote weight of each :class:`~ehps.world.floor.FootTrack`: its usable frames."""
    return np.array([float(np.asarray(tr.usable).sum()) for tr in tracks])


def track_pelvis_heights(tracks: list, normal: np.ndarray, offset: float) -> np.ndarray:
    """(K,) median pelvis height (metres) above the plane ``n . p + d = 0`` over each track's
    usable frames (NaN for a track without any)."""
    out = np.full(len(tracks), np.nan)
    for k, tr in enumerate(tracks):
        if tr.usable.any():
            out[k] = float(np.median(tr.pelvis[tr.usable] @ normal + offset))
    return out


def track_support(tracks: list, normal: np.ndarray, offset: float, cfg
                  ) -> tuple[float, np.ndarray]:
    """The weighted share of tracks standing on a plane, and (K,) bool which ones do.

    A track stands on it when its median pelvis height is within ``cfg.pelvis_range``; the share
    is the sum of the weights (:func:`track_weights`) of those tracks over the total (0 when no
    track has a usable frame).
    """
    w = track_weights(tracks)
    h = track_pelvis_heights(tracks, normal, offset)
    lo, hi = cfg.pelvis_range
    ok = np.isfinite(h) & (h >= lo) & (h <= hi)
    tot = float(w.sum())
    return (float(w[ok].sum()) / tot if tot > 0 else 0.0), ok


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _own_offsets(points: np.ndarray, keys: np.ndarray, normal: np.ndarray, mask: np.ndarray,
                 n_tracks: int) -> np.ndarray:
    """(K,) each track's own plane offset: median of ``-n . p`` over its masked points."""
    d = np.full(n_tracks, np.nan)
    for k in np.unique(keys[mask]):
        d[k] = float(np.median(-(points[mask & (keys == k)] @ normal)))
    return d


def fit_shared_normal(tracks: list, points: np.ndarray, where: np.ndarray, prior: np.ndarray,
                      init: np.ndarray, cfg) -> dict | None:
    """A floor whose normal is shared by all tracks and whose offset most of them stand on.

    Args:
        tracks: the :class:`~ehps.world.floor.FootTrack` list (for the weights and pelvis).
        points: (N, 3) candidate sole points (camera frame, metres); ``where``: (N, 2) their
            (track index, frame).
        prior: (3,) unit body-up prior; ``init``: (3,) the normal to start from.
        cfg: a :class:`~ehps.world.floor.FloorConfig`.

    Returns:
        ``None`` when fewer than 2 tracks have 3 candidate points; else a dict: ``normal`` (3,),
        ``offset`` (floor ``n . p + d = 0``), ``inliers`` (N,) bool (points within the band of
        their own track's plane, on tracks that stand on the floor), ``residual_m`` (RMS of
        those about their own planes), ``band_m``, ``track_offsets`` (K,) (NaN without points).
    """
    keys = where[:, 0].astype(np.int64)
    n_tracks = len(tracks)
    counts = np.bincount(keys, minlength=n_tracks)
    usable = counts[keys] >= 3
    if (counts >= 3).sum() < 2:
        return None
    from ehps.world.floor import fit_plane_with_prior, inlier_band

    n = np.asarray(init, np.float64)
    inl = usable.copy()
    tol = cfg.inlier_tol
    for _ in range(10):
        d_k = _own_offsets(points, keys, n, inl if inl.any() else usable, n_tracks)
        r = points @ n + np.nan_to_num(d_k[keys])
        tol = inlier_band(r[usable], cfg)
        new = usable & (np.abs(r) < tol) & np.isfinite(d_k[keys])
        ok_keys = np.bincount(keys[new], minlength=n_tracks) >= 3
        new &= ok_keys[keys]
        if new.sum() < 3:
            return None
        w = np.minimum(1.0, cfg.huber / np.maximum(np.abs(r[new]), 1e-9))
        centred = points[new].copy()
        for k in np.unique(keys[new]):
            sel = keys[new] == k
            c = (w[sel, None] * centred[sel]).sum(0) / w[sel].sum()
            centred[sel] -= c
        n_new, _ = fit_plane_with_prior(centred, w, prior, cfg.prior_m)
        done = np.array_equal(new, inl) and float(n_new @ n) > 1 - 1e-12
        n, inl = n_new, new
        if done:
            break
    d_k = _own_offsets(points, keys, n, inl, n_tracks)
    weights = track_weights(tracks)
    # The offset most tracks stand on: each track's own offset is a candidate.
    best = None
    for cand in d_k[np.isfinite(d_k)]:
        share, _ = track_support(tracks, n, float(cand), cfg)
        if best is None or share > best[0] + 1e-9:
            best = (share, float(cand))
    assert best is not None
    _, on = track_support(tracks, n, best[1], cfg)
    have = on & np.isfinite(d_k)
    offset = _weighted_median(d_k[have], weights[have]) if have.any() else best[1]
    # The median is where most of the supporting tracks' feet are: keep it even when a few
    # (light) tracks standing at the edge of ``pelvis_range`` fall off, unless the floor loses
    # its majority there. (Keeping the candidate instead moved the floor tens of centimetres
    # from the feet of most of the people to take in two short tracks of bad depth.)
    if track_support(tracks, n, offset, cfg)[0] < min(best[0], cfg.min_support):
        offset = best[1]
    _, on = track_support(tracks, n, offset, cfg)
    inl = inl & on[keys]
    r = points @ n + np.nan_to_num(d_k[keys])
    return {"normal": n, "offset": float(offset), "inliers": inl, "band_m": tol,
            "residual_m": float(np.sqrt(np.mean(r[inl] ** 2))) if inl.any() else float("nan"),
            "track_offsets": d_k}
