"""The mixture pose prior: its value against scipy's Gaussian densities, the EM fit on data drawn
from a known mixture, validation of the shipped file, and what the shipped prior prefers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from ehps.fitting.mixture_prior import (
    GMM_ASSET,
    MixturePosePrior,
    default_prior,
    fit_gmm,
    load_gmm,
    save_gmm,
)


def _random_mixture(rng: np.random.Generator, k: int, d: int = 63):
    w = rng.uniform(0.5, 1.5, k)
    w /= w.sum()
    mu = rng.normal(0.0, 0.5, (k, d))
    a = rng.normal(0.0, 0.1, (k, d, d))
    cov = a @ a.transpose(0, 2, 1) + 0.01 * np.eye(d)
    return w, mu, cov


def test_value_matches_scipy_log_densities():
    rng = np.random.default_rng(0)
    w, mu, cov = _random_mixture(rng, 3)
    prior = MixturePosePrior(w, mu, cov)
    x = mu[1] + rng.normal(0.0, 0.2, (5, 63))
    logp = np.stack([multivariate_normal(mu[k], cov[k]).logpdf(x) + np.log(w[k])
                     for k in range(3)], axis=1)
    expected = -logsumexp(logp, axis=1)
    got = prior(torch.as_tensor(x).reshape(5, 21, 3)).numpy() + prior.offset
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    # the offset makes the densest component mean cost about nothing
    assert float(prior(torch.as_tensor(mu).reshape(3, 21, 3)).min()) == pytest.approx(0.0,
                                                                                        abs=1e-9)
    # float32 evaluation (the fit's dtype) agrees, and gradients flow
    x32 = torch.as_tensor(x, dtype=torch.float32).reshape(5, 21, 3).requires_grad_(True)
    val = prior(x32)
    val.sum().backward()
    np.testing.assert_allclose(val.detach().numpy() + prior.offset, expected, rtol=1e-4)
    assert torch.isfinite(x32.grad).all()


def test_em_recovers_a_known_mixture():
    rng = np.random.default_rng(1)
    d = 4
    mu = np.array([[0.0] * d, [3.0] * d])
    x = np.concatenate([rng.normal(mu[0], 0.3, (600, d)), rng.normal(mu[1], 0.5, (400, d))])
    w, m, c = fit_gmm(x, 2, iterations=50, reg=1e-6, seed=0)
    order = np.argsort(m[:, 0])
    np.testing.assert_allclose(w[order], [0.6, 0.4], atol=0.02)
    np.testing.assert_allclose(m[order], mu, atol=0.1)
    np.testing.assert_allclose(np.sqrt(np.diagonal(c[order], axis1=1, axis2=2)),
                               [[0.3] * d, [0.5] * d], atol=0.05)


def test_saved_mixture_round_trips_and_bad_files_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    w, mu, cov = _random_mixture(rng, 2)
    path = tmp_path / "gmm.npz"
    save_gmm(path, w, mu, cov, source="test")
    w2, mu2, cov2 = load_gmm(path)
    np.testing.assert_allclose(mu2, mu, atol=1e-6)
    np.testing.assert_allclose(w2, w, atol=1e-6)
    bad = tmp_path / "bad.npz"
    np.savez(bad, weights=w, means=mu[:, :10], covariances=cov)
    with pytest.raises(ValueError, match="expected a mixture"):
        load_gmm(bad)
    np.savez(bad, weights=w, means=mu, covariances=-cov)
    with pytest.raises(np.linalg.LinAlgError):
        load_gmm(bad)


def test_shipped_prior_prefers_plausible_poses():
    """The shipped file loads; a relaxed standing pose and a crouch cost less than the same
    crouch with a knee bent backwards or a thigh twisted by 80 degrees."""
    assert GMM_ASSET.is_file()
    from ehps.fitting.hard_poses import JOINT_ROWS, sample_pose

    prior = default_prior()
    crouch, _ = sample_pose(np.random.default_rng(123), "crouch")
    broken = crouch.copy()
    broken[JOINT_ROWS["left_knee"], 0] = -1.2  # knee bent the wrong way
    twisted = crouch.copy()
    twisted[JOINT_ROWS["left_hip"], 1] += np.radians(80.0)
    values = prior(torch.as_tensor(np.stack([crouch, broken, twisted]))).numpy()
    assert values[0] < values[1] and values[0] < values[2]
