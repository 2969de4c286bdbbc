"""Fit the body-pose mixture prior (``src/ehps/assets/pose_prior_gmm.npz``) on synthetic poses.

Training poses come from the two pose generators the evaluations use, drawn with a seed that no
evaluation set uses (:data:`PRIOR_SEED`; the hard-pose and synthetic sets use small seeds):

- every kind of :mod:`ehps.fitting.hard_poses` (lunge, kick, crouch, arms overhead, lying, side
  view, self-occlusion, truncated, standing/walking);
- the relaxed random poses of :func:`ehps.fitting.synthetic_eval.sample_params`.

A held-out draw (another seed) reports the mean negative log density per set, so that a change of
the component count or of the variance floor can be judged. Run::

    python scripts/fit_pose_prior.py [--components 16] [--out src/ehps/assets/pose_prior_gmm.npz]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

#: Seed of the training draw (the evaluation sets use seeds 0-100).
PRIOR_SEED = 9_000_019
#: Poses per kind (standing and the relaxed random poses count more: they are most photos).
PER_KIND = {"standing": 1500, "relaxed": 1500}
DEFAULT_PER_KIND = 600


def draw(seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    """(N, 63) body poses per generator kind."""
    from ehps.fitting.hard_poses import POSE_KINDS, sample_pose
    from ehps.fitting.synthetic_eval import sample_params

    out = {}
    for ki, kind in enumerate(POSE_KINDS):
        n = int(PER_KIND.get(kind, DEFAULT_PER_KIND) * scale)
        out[kind] = np.stack([sample_pose(np.random.default_rng([seed, ki, i]), kind)[0]
                              for i in range(n)]).reshape(n, 63)
    n = int(PER_KIND["relaxed"] * scale)
    out["relaxed"] = np.stack([sample_params(np.random.default_rng([seed, 100, i]))["body_pose"]
                               for i in range(n)]).reshape(n, 63)
    return out


def main() -> None:
    from ehps.fitting.mixture_prior import GMM_ASSET, MixturePosePrior, fit_gmm, save_gmm

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--floor-deg", type=float, default=4.0,
                    help="standard deviation floor of every component (degrees)")
    ap.add_argument("--out", type=Path, default=GMM_ASSET)
    args = ap.parse_args()

    import torch

    t0 = time.perf_counter()
    train = draw(PRIOR_SEED)
    held = draw(PRIOR_SEED + 1, scale=0.2)
    x = np.concatenate(list(train.values())).astype(np.float64)
    print(f"{len(x)} training poses ({', '.join(f'{k} {len(v)}' for k, v in train.items())}), "
          f"drawn in {time.perf_counter() - t0:.0f} s")
    reg = math.radians(args.floor_deg) ** 2
    w, mu, cov = fit_gmm(x, args.components, args.iterations, reg=reg, seed=0)
    prior = MixturePosePrior(w, mu, cov)
    print(f"fitted {args.components} components in {time.perf_counter() - t0:.0f} s; "
          f"held-out mean prior value (nats above the mode) per kind:")
    for kind, poses in held.items():
        val = prior(torch.as_tensor(poses, dtype=torch.float64).reshape(-1, 21, 3))
        print(f"  {kind:15s} {float(val.mean()):8.1f}")
    zero = float(prior(torch.zeros(1, 21, 3, dtype=torch.float64))[0])
    print(f"  T-pose (zeros)  {zero:8.1f}")
    save_gmm(args.out, w, mu, cov, source="scripts/fit_pose_prior.py",
             seed=str(PRIOR_SEED), components=str(args.components),
             floor_deg=str(args.floor_deg))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
