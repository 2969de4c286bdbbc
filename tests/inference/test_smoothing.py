import math

import numpy as np
import roma
import torch

from ehps.inference.smoothing import (
    OneEuroFilter,
    ParamSmoother,
    RotationOneEuroFilter,
    mean_acceleration,
)


def _one_euro_scalar_reference(xs, ts, min_cutoff, beta, d_cutoff):
    """Straight transcription of the One-Euro algorithm (Casiez et al. 2012) for a scalar."""

    def alpha(cutoff, dt):
        r = 2 * math.pi * cutoff * dt
        return r / (r + 1)

    out = [xs[0]]
    x_prev, dx_prev = xs[0], 0.0
    for i in range(1, len(xs)):
        dt = ts[i] - ts[i - 1]
        dx = (xs[i] - x_prev) / dt
        dx_hat = dx_prev + alpha(d_cutoff, dt) * (dx - dx_prev)
        cutoff = min_cutoff + beta * abs(dx_hat)
        x_hat = x_prev + alpha(cutoff, dt) * (xs[i] - x_prev)
        out.append(x_hat)
        x_prev, dx_prev = x_hat, dx_hat
    return np.array(out)


def _signal(n=120, fps=30.0, seed=0):
    rng = np.random.default_rng(seed)
    ts = np.arange(n) / fps
    xs = 0.8 * np.sin(2 * math.pi * 0.5 * ts) + rng.normal(0, 0.05, n)
    return xs, ts


def test_vector_filter_matches_scalar_reference():
    xs, ts = _signal()
    ref = _one_euro_scalar_reference(xs, ts, 1.0, 0.7, 1.0)
    f = OneEuroFilter(1.0, 0.7, 1.0)
    ours = np.array([f(np.array([x]), t)[0] for x, t in zip(xs, ts)])
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_rotation_filter_about_fixed_axis_equals_scalar_filter_on_angle():
    xs, ts = _signal(seed=1)
    axis = np.array([0.3, -0.5, 0.81])
    axis /= np.linalg.norm(axis)
    ref = _one_euro_scalar_reference(xs, ts, 0.8, 0.4, 1.0)
    f = RotationOneEuroFilter(0.8, 0.4, 1.0)
    for x, t, r in zip(xs, ts, ref):
        out = f(axis * x, t)
        np.testing.assert_allclose(out, axis * r, atol=1e-9)


def test_rotation_filter_is_continuous_across_pi():
    # a steady rotation about z whose angle passes through pi: the raw axis-angle flips sign,
    # the filtered rotation must not jump
    ts = np.arange(60) / 30.0
    angles = np.linspace(2.6, 3.7, 60)
    aa = np.stack([np.zeros(60), np.zeros(60), angles], 1)
    f = RotationOneEuroFilter(1.0, 0.5)
    outs = np.stack([f(a, t) for a, t in zip(aa, ts)])
    mats = roma.rotvec_to_rotmat(torch.from_numpy(outs))
    steps = roma.rotmat_geodesic_distance(mats[1:], mats[:-1]).numpy()
    assert steps.max() < 0.1  # rad per frame; the input moves ~0.019 rad per frame
    last = roma.rotvec_to_rotmat(torch.from_numpy(aa[-1]))
    final_err = roma.rotmat_geodesic_distance(mats[-1], last)
    assert float(final_err) < 0.1


def test_param_smoother_reduces_jitter():
    rng = np.random.default_rng(3)
    n, fps = 90, 30.0
    ts = np.arange(n) / fps
    truth = np.stack([0.3 * np.sin(ts), 0.1 * ts, 5 + 0 * ts], 1)
    noisy = truth + rng.normal(0, 0.02, truth.shape)
    smoother = ParamSmoother(min_cutoff=0.5, beta=0.3)
    out = np.stack(
        [smoother({"transl": noisy[i][None], "body_pose": np.zeros((21, 3))}, ts[i])["transl"][0]
         for i in range(n)]
    )
    before = mean_acceleration(noisy[:, None], fps)
    after = mean_acceleration(out[:, None], fps)
    assert after < 0.3 * before
    # and the smoothed path stays close to the truth
    assert np.abs(out - truth)[10:].mean() < 0.02
