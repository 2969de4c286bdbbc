"""A Gaussian-mixture prior on the 21 SMPL-X body joint rotations (axis-angle, 63 values).

The mixture is fitted once, offline, by ``scripts/fit_pose_prior.py`` on poses drawn from the
synthetic pose generators (:mod:`ehps.fitting.hard_poses` and
:func:`ehps.fitting.synthetic_eval.sample_params`) with seeds that the evaluation sets never use,
and shipped as ``assets/pose_prior_gmm.npz`` (weights, means, covariances; no pickles). Unlike the
quadratic prior around one relaxed standing pose, it knows lunges, kicks, crouches, raised arms
and sitting as likely, while twists and impossible combinations stay expensive.

The prior's value is the mixture's negative log density, shifted so that the densest component
mean costs about 0: ``-log sum_k pi_k N(theta | mu_k, Sigma_k) - c`` (nats). The EM fit is a plain
numpy implementation (scikit-learn is not a dependency; the whole fit is a few seconds).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["GMM_ASSET", "fit_gmm", "save_gmm", "load_gmm", "MixturePosePrior", "default_prior"]

GMM_ASSET = Path(__file__).resolve().parents[1] / "assets" / "pose_prior_gmm.npz"
_DIM = 63
_MAX_COMPONENTS = 64


def _log_gauss(x: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """(N, K) log N(x_n | mu_k, Sigma_k)."""
    n, d = x.shape
    out = np.empty((n, len(means)))
    for k, (mu, cov) in enumerate(zip(means, covs)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (x - mu).T)
        out[:, k] = -0.5 * (z * z).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * d * math.log(
            2 * math.pi)
    return out


def fit_gmm(x: np.ndarray, components: int, iterations: int = 100, reg: float = 1e-3,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a full-covariance Gaussian mixture by EM (k-means++ start).

    Args:
        x: (N, D) samples.
        components: K.
        iterations: EM iterations.
        reg: added to every covariance's diagonal (variance floor, in x's units squared).
        seed: start seed.

    Returns:
        ``(weights (K,), means (K, D), covariances (K, D, D))``, float64.
    """
    x = np.asarray(x, np.float64)
    n, d = x.shape
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    for _ in range(1, components):  # k-means++ seeding
        d2 = np.min([((x - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(x[rng.choice(n, p=d2 / d2.sum())])
    means = np.stack(centres)
    covs = np.repeat((np.cov(x.T) + reg * np.eye(d))[None], components, axis=0)
    weights = np.full(components, 1.0 / components)
    for _ in range(iterations):
        logp = _log_gauss(x, means, covs) + np.log(weights)
        resp = np.exp(logp - logp.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
        nk = resp.sum(0) + 1e-9
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        for k in range(components):
            diff = x - means[k]
            covs[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + reg * np.eye(d)
    return weights, means, covs


def save_gmm(path: str | Path, weights: np.ndarray, means: np.ndarray, covs: np.ndarray,
             **info: str) -> None:
    """Write a mixture (float32) and free-text provenance to an ``.npz``."""
    from ehps.utils.io import atomic_save_npz

    atomic_save_npz(path, weights=np.asarray(weights, np.float32),
                    means=np.asarray(means, np.float32), covariances=np.asarray(covs, np.float32),
                    **{k: np.asarray(str(v)) for k, v in info.items()})


def load_gmm(path: str | Path = GMM_ASSET) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read and validate a mixture written by :func:`save_gmm` -> float64 arrays."""
    with np.load(Path(path), allow_pickle=False) as z:
        w, mu, cov = (z[k].astype(np.float64) for k in ("weights", "means", "covariances"))
    k = w.shape[0] if w.ndim == 1 else -1
    if not (1 <= k <= _MAX_COMPONENTS and mu.shape == (k, _DIM) and cov.shape == (k, _DIM, _DIM)):
        raise ValueError(f"{path}: expected a mixture of 1-{_MAX_COMPONENTS} components over "
                         f"{_DIM} values, got {w.shape}, {mu.shape}, {cov.shape}")
    if not (np.isfinite(w).all() and np.isfinite(mu).all() and np.isfinite(cov).all()
            and (w > 0).all()):
        raise ValueError(f"{path}: non-finite or non-positive mixture values")
    np.linalg.cholesky(cov)  # raises for a covariance that is not positive definite
    return w / w.sum(), mu, cov


class MixturePosePrior:
    """Negative log density of a Gaussian mixture over the body pose, batched in torch.

    Args:
        weights: (K,) mixture weights. means: (K, 63). covariances: (K, 63, 63).
    """

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        chol = np.linalg.cholesky(covariances)
        prec_chol = np.linalg.inv(chol)  # (K, D, D): z = L^-1 (x - mu)
        log_norm = (np.log(weights) - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
                    - 0.5 * _DIM * math.log(2 * math.pi))
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.prec_chol = torch.as_tensor(prec_chol, dtype=torch.float64)
        self.log_norm = torch.as_tensor(log_norm, dtype=torch.float64)
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, ...]] = {}
        peak = self._nll(self.means.reshape(-1, 21, 3))
        self.offset = float(peak.min())

    def _tables(self, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = tuple(t.to(like) for t in (self.means, self.prec_chol,
                                                           self.log_norm))
        return self._cache[key]

    def _nll(self, pose_aa: torch.Tensor) -> torch.Tensor:
        means, prec, log_norm = self._tables(pose_aa)
        x = pose_aa.reshape(pose_aa.shape[0], 1, _DIM) - means  # (B, K, D)
        z = torch.einsum("kij,bkj->bki", prec, x)
        logp = log_norm - 0.5 * z.square().sum(-1)
        return -torch.logsumexp(logp, dim=1)

    def __call__(self, pose_aa: torch.Tensor) -> torch.Tensor:
        """(B,) prior of (B, 21, 3) body poses (axis-angle, radians), about 0 at its mode."""
        return self._nll(pose_aa) - self.offset


@functools.lru_cache(maxsize=1)
def default_prior() -> MixturePosePrior:
    """The shipped mixture (:data:`GMM_ASSET`)."""
    return MixturePosePrior(*load_gmm(GMM_ASSET))
