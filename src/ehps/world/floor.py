"""The floor plane of a static camera, estimated from the feet of the people it tracked.

Method (all in the shared camera frame, OpenCV axes, metres):

1. **Sole points.** For every track and frame where the person's box is not cut by the image
   bottom (feet in view), each foot gives one point: of its ankle and ball-of-foot joints, the
   lower one once its own rest height above the sole is subtracted along the current up estimate
   (``clearance``: measured on the track's body model in its rest pose). So a flat foot and a
   foot on its toes both give a point on the floor.
2. **Candidates.** A foot is a candidate when it is *slow* (speed under ``slow_speed``, or among
   the slowest ``slow_quantile`` of that track's feet) and *low* (the lower foot of the frame, or
   within ``pair_tol`` of it), both judged on trajectories smoothed over ``smooth_s`` seconds so
   that per-frame noise does not pick the points (which would bias the floor low); the points
   themselves are the unsmoothed ones. Candidates of every track are pooled.
3. **RANSAC** on 3-point planes whose normal is within ``max_tilt_deg`` of the prior up (the mean
   standing axis of all tracks, :attr:`FootTrack.body_up`); inliers within ``inlier_tol``.
4. **Refinement:** the inlier band is widened to the noise of the feet: ``inlier_k`` robust
   standard deviations (1.4826 x the median absolute residual about the RANSAC plane), between
   ``inlier_tol`` and ``max_inlier_tol``. Estimator errors are correlated over time, so a noisy
   track has runs of frames several centimetres off on the same side; a fixed 4 cm band cuts
   such a run off on one side only and tilts the plane (up to 1 degree more on the synthetic
   walks). Then iteratively re-weighted least squares (Huber) on the inliers with a prior
   pulling the normal towards the people's standing axis (``prior_m``), solved exactly as a
   unit-norm constrained quadratic. Steps 1-4 repeat with the new normal (``iterations``).

   **Why the people's axis weighs so much** (``prior_m`` = 2 m: it counts like feet spread 2 m
   on every side, so it decides the tilt unless the feet cover a much wider floor). The feet
   give the floor's height well but its tilt poorly: a monocular depth error that changes by
   1-3 % across a walk (measured on walks rendered through the embedded estimator) tilts the
   plane through the feet by 2-12 degrees, even through the truly planted feet only. The
   people's vertical (:func:`ehps.world.upright.people_up`: their standing axes, ankles to
   shoulders, and their lines in the image) does not depend on their distance: on the same
   renders it is 0.3-3.8 degrees off. Measured side by side
   (``benchmarks/world_synthetic.py``), the floor normal error went from 1.8-12.3 degrees
   (mean 6.6) to 0.3-3.8 (mean 1.8) on five rendered cameras and from at most 2.64 to at most
   1.38 degrees on the 18 noisy walks.
5. **Checks** (no floor is invented): enough inliers in enough frames, a small residual, people
   upright on it (body up within ``max_tilt_deg`` of the normal) and standing on it (median pelvis
   height at least ``min_pelvis_m``). A failed check returns ``FloorFit(ok=False, reason=...)``.

   **Support** (:mod:`ehps.world.support`): the tracks standing on the plane (median pelvis
   height within ``pelvis_range``), weighted by usable frames. When some do not, the
   shared-normal fit (each track's feet about its own plane: per-track depth errors cannot
   tilt the normal; the offset most tracks stand on) is tried too, and the floor more of the
   tracks stand on is kept; one that under ``min_support`` of them stand on is refused.

   **Lean** (``lean_check_deg``): people stand along gravity, so a floor whose normal is more
   than 10 degrees from their mean up axis is suspect. Depth errors that grow with distance (a
   near person put too near, a far one too far) lay the feet of every track on one tilted
   plane, which all of them seem to stand on. The shared-normal fit is then tried too and kept
   when most tracks stand on it; otherwise the floor is refused (a level floor with the people
   at such different depths does not exist). A floor sloping by more than ``lean_check_deg``
   under upright people is refused too: the world frame assumes a level floor.

6. **Refit** after a first contact detection: :func:`ehps.world.floor_refit.refit_floor`.

A point ``p`` has height ``n . p + d`` above the floor (``n`` points up, away from the floor);
the camera centre's height is ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ehps.world.support import fit_shared_normal, track_support
from ehps.world.upright import _unit, people_up, unit_quadratic_min

__all__ = ["FloorConfig", "FloorFit", "FootTrack", "fit_floor", "fit_plane_with_prior",
           "foot_heights", "inlier_band", "people_prior", "smooth_time"]


@dataclass(frozen=True)
class FloorConfig:
    """Thresholds of :func:`fit_floor` (metres, m/s, degrees)."""

    slow_speed: float = 0.35
    slow_quantile: float = 0.3
    pair_tol: float = 0.03
    inlier_tol: float = 0.04
    inlier_k: float = 3.0
    max_inlier_tol: float = 0.08
    refit_normal: bool = False
    refit_agree: float = 0.5
    huber: float = 0.02
    prior_m: float = 2.0  # the people's vertical's weight (module docstring, step 4); was 0.1
    axis_sigma_deg: float = 4.0  # :func:`ehps.world.upright.people_up`
    line_sigma_deg: float = 3.0
    line_indep_s: float = 0.2
    max_tilt_deg: float = 30.0
    lean_check_deg: float = 10.0
    ransac_iters: int = 300
    iterations: int = 3
    min_inliers: int = 12
    min_frames: int = 3
    max_residual_m: float = 0.06
    min_pelvis_m: float = 0.45
    pelvis_range: tuple[float, float] = (0.4, 1.4)
    min_support: float = 0.5
    shared_band_factors: tuple[float, ...] = (1.0, 2.0, 4.0)
    smooth_s: float = 0.06
    seed: int = 0


@dataclass
class FootTrack:
    """What the floor fit needs from one track (camera frame, metres).

    Attributes:
        track_id: the track.
        feet: (T, 2, 2, 3) per frame, foot (left, right), joint (ankle, ball of the foot).
        clearance: (2, 2) rest height of those joints above the sole.
        pelvis: (T, 3) pelvis joint.
        body_up: (T, 3) unit standing axis of the body, the normal's prior: from the mid-ankle
            to the mid-shoulder point where the body is straight, else the pelvis frame's up
            (see :func:`ehps.world.upright.standing_axis`).
        usable: (T,) bool frames that are estimated and have the feet in view.
        fps: frame rate.
        image_line: (T, 3) or None: unit normals of the planes through the camera centre and
            the person's ankle-to-shoulder line in the image (NaN where the body is not
            straight; see :func:`ehps.world.upright.image_line_normals`).
    """

    track_id: int
    feet: np.ndarray
    clearance: np.ndarray
    pelvis: np.ndarray
    body_up: np.ndarray
    usable: np.ndarray
    fps: float
    image_line: np.ndarray | None = None


@dataclass
class FloorFit:
    """Result of :func:`fit_floor`.

    Attributes:
        ok: a floor was found; else ``reason`` says why not (and nothing else is meaningful).
        normal: (3,) unit normal in the camera frame, pointing up; ``offset``: ``d`` metres.
        inliers, candidates: foot points that agree with the plane / that were tried.
        inlier_tol_m: the inlier band used (see ``FloorConfig.inlier_k``).
        residual_m: RMS distance of the inliers to the plane.
        frames, tracks: distinct frames and tracks among the inliers.
        body_tilt_deg: angle between the normal and the people's mean standing axis.
        pelvis_height_m: median pelvis height above the floor.
        method: ``"pooled"`` (one plane through everybody's feet) or ``"shared-normal"`` (the
            normal from each track's feet about its own plane, the offset most tracks stand on;
            see :mod:`ehps.world.support`).
        support: the weighted share of tracks standing on the floor (pelvis height within
            ``FloorConfig.pelvis_range``; weights: usable frames).
        supporting, disagreeing: track ids standing on it / not (depths that disagree).
    """

    ok: bool
    reason: str = ""
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0, 0.0]))
    offset: float = 0.0
    inliers: int = 0
    candidates: int = 0
    residual_m: float = float("nan")
    inlier_tol_m: float = float("nan")
    frames: int = 0
    tracks: int = 0
    body_tilt_deg: float = float("nan")
    pelvis_height_m: float = float("nan")
    method: str = "pooled"
    support: float = float("nan")
    supporting: tuple[int, ...] = ()
    disagreeing: tuple[int, ...] = ()

    def height(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> (...) heights above the floor (metres)."""
        return np.asarray(points) @ self.normal + self.offset


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) between the unit vectors ``a`` and ``b``."""
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def fit_plane_with_prior(points: np.ndarray, weights: np.ndarray, prior: np.ndarray,
                         prior_m: float) -> tuple[np.ndarray, float]:
    """Weighted plane ``n . p + d = 0`` minimising ``sum w (n.(p - c))^2 + lam W |n - u|^2``.

    Args:
        points: (N, 3); ``weights`` (N,) >= 0; ``prior``: (3,) unit up prior ``u``.
        prior_m: ``sqrt(lam)`` in metres: the prior weighs like a point spread of this size.

    Returns:
        ``(n, d)`` with ``|n| = 1`` and ``n . u >= 0``.
    """
    w = np.asarray(weights, np.float64)
    tot = float(w.sum())
    c = (w[:, None] * points).sum(0) / tot
    x = points - c
    s = (w[:, None, None] * x[:, :, None] * x[:, None, :]).sum(0)
    lam = prior_m**2 * tot
    n = np.linalg.eigh(s)[1][:, 0] if lam <= 0 else unit_quadratic_min(s, lam, prior)
    n = _unit(n)
    if n @ prior < 0:
        n = -n
    return n, float(-n @ c)


def people_prior(tracks: list[FootTrack], cfg: FloorConfig) -> np.ndarray:
    """(3,) the people's vertical over the usable frames of ``tracks``
    (:func:`ehps.world.upright.people_up`), the normal's prior."""
    use = [tr for tr in tracks if tr.usable.any()]
    return people_up([tr.body_up[tr.usable] for tr in use],
                     [None if tr.image_line is None else tr.image_line[tr.usable] for tr in use],
                     use[0].fps, cfg.axis_sigma_deg, cfg.line_sigma_deg, cfg.line_indep_s)


def foot_heights(track: FootTrack, normal: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """(T, 2) sole height of each foot: min over its joints of height minus clearance."""
    h = track.feet @ normal + offset - track.clearance[None]
    return h.min(axis=2)


def smooth_time(x: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """Gaussian smoothing over the first axis (sigma in seconds; edges held)."""
    sigma = sigma_s * fps
    if sigma <= 0.3 or len(x) < 2:
        return np.asarray(x, np.float64)
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(x, np.float64), sigma, axis=0, mode="nearest")


def _foot_speed(track: FootTrack, sigma_s: float = 0.0) -> np.ndarray:
    """(T, 2) speed of each foot (m/s): the faster of its two joints, central differences on
    the trajectory smoothed over ``sigma_s`` seconds (selection robust to per-frame noise)."""
    p = smooth_time(track.feet, track.fps, sigma_s)
    v = np.full(p.shape[:2], np.inf)
    ok = track.usable
    if len(p) < 2:
        return v
    d = np.zeros(p.shape[:3])
    d[1:-1] = np.linalg.norm(p[2:] - p[:-2], axis=-1) / 2.0
    d[0] = np.linalg.norm(p[1] - p[0], axis=-1)
    d[-1] = np.linalg.norm(p[-1] - p[-2], axis=-1)
    speed = d.max(axis=2) * track.fps
    both = np.zeros(len(p), bool)
    both[1:-1] = ok[2:] & ok[:-2]
    both[0], both[-1] = ok[1], ok[-2]
    return np.where((ok & both)[:, None], speed, np.inf)


def _candidates(tracks: list[FootTrack], normal: np.ndarray, cfg: FloorConfig
                ) -> tuple[np.ndarray, np.ndarray]:
    """Sole points (N, 3) of slow, low feet, and (N, 2) their (track, frame)."""
    pts, where = [], []
    for k, tr in enumerate(tracks):
        speed = _foot_speed(tr, cfg.smooth_s)
        finite = speed[np.isfinite(speed)]
        if finite.size == 0:
            continue
        slow = (speed < cfg.slow_speed) | (speed <= np.quantile(finite, cfg.slow_quantile))
        h_foot = smooth_time(tr.feet @ normal - tr.clearance[None], tr.fps, cfg.smooth_s
                             ).min(axis=2)  # (T, 2), up to the offset
        low = h_foot <= h_foot.min(axis=1, keepdims=True) + cfg.pair_tol
        pick = slow & low & np.isfinite(speed)
        p, w = _soles(tr, pick, normal, k)
        pts.append(p)
        where.append(w)
    if not pts:
        return np.zeros((0, 3)), np.zeros((0, 2), np.int64)
    return np.concatenate(pts), np.concatenate(where)


def _soles(track: FootTrack, mask: np.ndarray, normal: np.ndarray, k: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Sole points (N, 3) of the feet flagged in ``mask`` (T, 2): of each foot's joints the
    lower one once its clearance is subtracted, moved down by it along ``normal``; and (N, 2)
    their (``k``, frame)."""
    h_joint = track.feet @ normal - track.clearance[None]
    lowest = h_joint.argmin(axis=2)
    t, f = np.nonzero(mask)
    j = lowest[t, f]
    pts = track.feet[t, f, j] - track.clearance[f, j][:, None] * normal
    return pts.reshape(-1, 3), np.stack([np.full(len(t), k), t], 1).astype(np.int64)


def _ransac(points: np.ndarray, prior: np.ndarray, cfg: FloorConfig
            ) -> tuple[np.ndarray, float] | None:
    rng = np.random.default_rng(cfg.seed)
    n_pts = len(points)
    best: tuple[int, float, np.ndarray, float] | None = None
    cos_max = np.cos(np.radians(cfg.max_tilt_deg))
    for _ in range(cfg.ransac_iters):
        i = rng.choice(n_pts, 3, replace=False)
        a, b, c = points[i]
        nrm = np.cross(b - a, c - a)
        if np.linalg.norm(nrm) < 1e-6:
            continue
        nrm = _unit(nrm)
        if nrm @ prior < 0:
            nrm = -nrm
        if nrm @ prior < cos_max:
            continue
        d = -nrm @ a
        r = np.abs(points @ nrm + d)
        inl = r < cfg.inlier_tol
        score = (int(inl.sum()), -float(np.square(r[inl]).sum()))
        if best is None or score > best[:2]:
            best = (*score, nrm, d)
    if best is None:
        return None
    return best[2], best[3]


def inlier_band(residuals: np.ndarray, cfg: FloorConfig) -> float:
    """The inlier band (metres): ``inlier_k`` robust standard deviations of ``residuals``
    (1.4826 x their median absolute value; robust to under half outliers), clipped to
    ``[inlier_tol, max_inlier_tol]``."""
    if len(residuals) == 0:
        return cfg.inlier_tol
    sigma = 1.4826 * float(np.median(np.abs(residuals)))
    return float(np.clip(cfg.inlier_k * sigma, cfg.inlier_tol,
                         max(cfg.inlier_tol, cfg.max_inlier_tol)))


def _refine(points: np.ndarray, init: tuple[np.ndarray, float], prior: np.ndarray,
            cfg: FloorConfig) -> tuple[np.ndarray, float, np.ndarray, float]:
    n, d = init
    tol = inlier_band(points @ n + d, cfg)
    inl = np.abs(points @ n + d) < tol
    for _ in range(50):  # IRLS: until the plane (not only the inlier set) stops moving
        if inl.sum() < 3:
            break
        r = np.abs(points[inl] @ n + d)
        w = np.minimum(1.0, cfg.huber / np.maximum(r, 1e-9))
        n_new, d_new = fit_plane_with_prior(points[inl], w, prior, cfg.prior_m)
        new = np.abs(points @ n_new + d_new) < tol
        still = float(n_new @ n) > 1 - 1e-12 and abs(d_new - d) < 1e-7
        n, d = n_new, d_new
        if np.array_equal(new, inl) and still:
            break
        inl = new
    return n, d, inl, tol


def fit_floor(tracks: list[FootTrack], cfg: FloorConfig | None = None) -> FloorFit:
    """Fit the floor to the feet of ``tracks`` (see the module docstring)."""
    cfg = cfg or FloorConfig()
    if not any(tr.usable.any() for tr in tracks):
        return FloorFit(False, "no usable frame with the feet in view")
    prior = people_prior(tracks, cfg)
    frames_total = sum(int(tr.usable.sum()) for tr in tracks)
    if frames_total < cfg.min_frames:
        return FloorFit(False, f"only {frames_total} usable person-frame(s): a floor needs "
                               f"people seen standing in at least {cfg.min_frames} frames")
    normal, offset = prior, 0.0
    points = np.zeros((0, 3))
    where = np.zeros((0, 2), np.int64)
    inl = np.zeros(0, bool)
    tol = cfg.inlier_tol
    for _ in range(cfg.iterations):
        points, where = _candidates(tracks, normal, cfg)
        if len(points) < max(3, cfg.min_inliers):
            return FloorFit(False, f"only {len(points)} slow, low foot positions (need "
                                   f"{cfg.min_inliers}): nobody seen standing or walking",
                            candidates=len(points))
        init = _ransac(points, prior, cfg)
        if init is None:
            return FloorFit(False, "no plane of the feet is within "
                                   f"{cfg.max_tilt_deg:g} degrees of the people's up axis",
                            candidates=len(points))
        normal, offset, inl, tol = _refine(points, init, prior, cfg)
    share, on = track_support(tracks, normal, offset, cfg)
    method, res = "pooled", points[inl] @ normal + offset
    lean = _angle_deg(normal, prior)
    leans = lean > cfg.lean_check_deg
    few = int(inl.sum()) < cfg.min_inliers
    if share < 1.0 or leans or few:
        # Some tracks do not stand on the pooled plane (their depths disagree, or the plane is
        # not the floor), or the plane leans under upright people, or few feet lie on it (the
        # level plane the people's vertical allows misses feet whose tracks are at different
        # depths: at +-10-15 % no foot of three tracks was within its band). Try the fit that
        # tolerates per-track depth errors; keep whichever floor more of the tracks (by weight)
        # stand on, or the level one when the pooled plane leans or holds too few feet and
        # most tracks stand on the other.
        alt = _shared_normal_fit(tracks, prior, normal, cfg)
        if alt is not None and (alt[0] > share + 1e-9 or (
                (leans or few) and alt[0] >= cfg.min_support
                and int(alt[5].sum()) >= cfg.min_inliers
                and _angle_deg(alt[3], prior) < max(lean, cfg.lean_check_deg))):
            share, on, method, normal, offset, inl, tol, points, where, res = alt
    fit = FloorFit(
        True, normal=normal, offset=float(offset), inliers=int(inl.sum()),
        candidates=len(points), residual_m=float(np.sqrt(np.mean(res**2))) if inl.any() else
        float("nan"), inlier_tol_m=tol, frames=len({(int(a), int(b)) for a, b in where[inl]}),
        tracks=len({int(a) for a in where[inl, 0]}),
        body_tilt_deg=_angle_deg(normal, prior), method=method, support=share,
        supporting=tuple(tr.track_id for tr, o in zip(tracks, on) if o and tr.usable.any()),
        disagreeing=tuple(tr.track_id for tr, o in zip(tracks, on) if not o and tr.usable.any()),
    )
    pel = np.concatenate([tr.pelvis[tr.usable] for tr in tracks])
    fit.pelvis_height_m = float(np.median(fit.height(pel)))
    if fit.inliers < cfg.min_inliers:
        fit.ok, fit.reason = False, (f"only {fit.inliers} foot positions agree on a plane "
                                     f"(need {cfg.min_inliers})")
        if fit.candidates >= 3 * cfg.min_inliers:
            fit.reason += (f" of {fit.candidates} slow, low ones: the feet are at heights no "
                           "level floor explains (the people's depths disagree, or the floor "
                           "slopes)")
    elif fit.frames < cfg.min_frames:
        fit.ok, fit.reason = False, (f"the floor points come from {fit.frames} frame(s) "
                                     f"(need {cfg.min_frames})")
    elif fit.residual_m > cfg.max_residual_m * max(1.0, fit.inlier_tol_m / cfg.max_inlier_tol):
        # (a shared-normal fit's wider band, for the depth jitter of far people, allows more)
        fit.ok, fit.reason = False, (f"the feet scatter {fit.residual_m * 100:.1f} cm about the "
                                     "best plane: no consistent floor")
    elif fit.body_tilt_deg > cfg.max_tilt_deg:
        fit.ok, fit.reason = False, (f"the people lean {fit.body_tilt_deg:.0f} degrees from the "
                                     "plane's normal: nobody is standing on it")
    elif fit.body_tilt_deg > cfg.lean_check_deg:
        fit.ok, fit.reason = False, (
            f"the plane through the feet leans {fit.body_tilt_deg:.0f} degrees from the "
            f"people's up axis (at most {cfg.lean_check_deg:g}), and no level floor has most "
            "of them standing on it: their depths disagree (errors that grow with distance), "
            "or the floor slopes")
    elif fit.pelvis_height_m < cfg.min_pelvis_m:
        fit.ok, fit.reason = False, (f"the pelvis is {fit.pelvis_height_m:.2f} m above the plane"
                                     ": nobody is standing on it")
    elif fit.support < cfg.min_support:
        lo, hi = cfg.pelvis_range
        fit.ok, fit.reason = False, (
            f"the best floor has only {len(fit.supporting)} of "
            f"{len(fit.supporting) + len(fit.disagreeing)} tracks ({fit.support:.0%} of the "
            f"frames) standing on it (pelvis {lo:g}-{hi:g} m above it): the people's depths "
            "disagree too much for a floor")
    return fit


def _shared_normal_fit(tracks: list[FootTrack], prior: np.ndarray, normal: np.ndarray,
                       cfg: FloorConfig) -> tuple | None:
    """:func:`ehps.world.support.fit_shared_normal`, iterated with the candidates like the
    pooled fit; returns ``(share, on, "shared-normal", normal, offset, inliers, band, points,
    where, residuals)`` or ``None``.

    The feet of one track scatter about its own plane by the estimator's per-frame depth
    jitter, which can be far wider than the pooled fit's band on small, far people; the band's
    upper clip is tried at ``max_inlier_tol`` times ``shared_band_factors`` and the fit that the
    most tracks (by weight) stand on is kept (the narrower band on a tie).
    """
    best = None
    for factor in cfg.shared_band_factors:
        c = replace(cfg, max_inlier_tol=cfg.max_inlier_tol * factor)
        n = prior
        out, points, where = None, np.zeros((0, 3)), np.zeros((0, 2), np.int64)
        for _ in range(cfg.iterations):
            points, where = _candidates(tracks, n, c)
            if len(points) < max(3, c.min_inliers):
                break
            out = fit_shared_normal(tracks, points, where, prior, n, c)
            if out is None:
                break
            n = out["normal"]
        if out is None:
            continue
        share, on = track_support(tracks, out["normal"], out["offset"], cfg)
        if best is not None and share <= best[0] + 1e-9:
            continue
        inl = out["inliers"]
        d_k = np.nan_to_num(out["track_offsets"][where[:, 0]])
        res = points[inl] @ out["normal"] + d_k[inl]
        best = (share, on, "shared-normal", out["normal"], out["offset"], inl, out["band_m"],
                points, where, res)
    return best
