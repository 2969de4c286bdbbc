"""Warm-started temporal fits (:mod:`ehps.fitting.temporal`) on a synthetic sequence with exact
landmarks: the warm chain (default options) must recover the truth about as well as cold fits of
every frame, the temporal term must be the analytic acceleration, and it must lower the
acceleration of fits to noisy landmarks (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fitting_helpers import FLIP, pa_mpjpe_mm

from ehps.detection.base import PersonLandmarks
from ehps.fitting.fitter import fit_people
from ehps.fitting.landmarks import landmark_maps, model_keypoints
from ehps.fitting.temporal import TemporalFitConfig, TemporalTerm, WarmStart, fit_people_warm
from ehps.geometry.camera import Intrinsics
from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_aa
from ehps.inference.estimators import normalize_params

K = Intrinsics.from_image_size(640, 480)
HW = (480, 640)
FPS = 25.0


@pytest.fixture(scope="module")
def smplx_model(synthetic_smplx_dir):
    from ehps.bodymodels.smplx import load_smplx

    return load_smplx(synthetic_smplx_dir)


def _sequence(model, frames: int, noise_px: float = 0.0, seed: int = 0):
    """A person walking sideways with swinging legs and arms: (landmarks, joints (T, 55, 3))."""
    rng = np.random.default_rng(seed)
    maps = landmark_maps(model)
    f, c = torch.tensor(K.focal), torch.tensor(K.princpt)
    people, joints = [], []
    for t in range(frames):
        s = np.sin(2 * np.pi * t / 20)
        pose = torch.zeros(1, 21, 3)
        pose[0, 0, 0], pose[0, 1, 0] = 0.4 * s, -0.4 * s
        pose[0, 3, 0] = pose[0, 4, 0] = 0.2
        pose[0, 15, 2], pose[0, 16, 2] = -1.1 + 0.2 * s, 1.1 + 0.2 * s
        rot = FLIP @ aa_to_rotmat(torch.tensor([0.0, 0.3, 0.0]))
        params = {"global_orient": rotmat_to_aa(rot)[None].float(), "body_pose": pose,
                  "transl": torch.tensor([[-0.3 + 0.02 * t, 0.2, 3.5]])}
        with torch.no_grad():
            out = model(**params)
            kp = model_keypoints(model, out, maps)
        proj = {p: (v[0, :, :2] / v[0, :, 2:] * f + c).numpy() for p, v in kp.items()}
        body = proj["body"] + rng.normal(0, noise_px, proj["body"].shape)
        world = kp["body"][0].numpy()
        world = world - 0.5 * (world[23] + world[24])
        lo, hi = body.min(0), body.max(0)
        people.append(PersonLandmarks(bbox_xywh=np.r_[lo, hi - lo], score=1.0, body_2d=body,
                                      body_conf=np.ones(33), body_world=world))
        joints.append(out.joints[0, :55].numpy())
    return people, np.stack(joints)


def _warm_chain(model, people, temporal: TemporalFitConfig):
    """Cold fit of frame 0, then warm fits frame by frame: (T, 55, 3) joints."""
    first = fit_people(HW, people[:1], model, K)[0]
    params = normalize_params(first.params)
    past = [(0.0, params)]
    joints = [first.joints_cam[:55]]
    memory = first.extras.get("lbfgs_memory")
    for t in range(1, len(people)):
        start = WarmStart(params, past[-2:], t / FPS, shape_free=t < temporal.settle_frames,
                          memory=memory)
        est = fit_people_warm(HW, people[t : t + 1], model, [start], K, temporal=temporal)[0]
        params = normalize_params(est.params)
        memory = est.extras.get("lbfgs_memory")
        past.append((t / FPS, params))
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v).reshape(1, -1) for k, v in params.items()
                           if k in ("global_orient", "body_pose", "transl", "betas",
                                    "left_hand_pose", "right_hand_pose", "jaw_pose",
                                    "expression")})
        joints.append(out.joints[0, :55].numpy())
    return np.stack(joints)


def _accel(joints: np.ndarray) -> float:
    return float(np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).mean()
                 * FPS**2)


def test_temporal_term_is_the_finite_difference_acceleration():
    rng = np.random.default_rng(1)
    j2, j1, j0 = (torch.from_numpy(rng.normal(size=(1, 55, 3))) for _ in range(3))
    dt = torch.tensor([[0.04, 0.08]], dtype=torch.float64)
    term = TemporalTerm(torch.stack([j2, j1], 1), dt, torch.tensor([True]),
                        TemporalFitConfig(weight=1.0, accel_sigma=2.0,
                                          root_accel_sigma=4.0))
    acc = term.acceleration(j0)
    # loop reference: non-uniform second difference
    ref = ((j0 - j1) / 0.08 - (j1 - j2) / 0.04) / 0.06
    torch.testing.assert_close(acc, ref)
    rel = ref - ref[:, :1]
    cost = (rel / 2.0).square().sum(-1).mean(1) + (ref[:, 0] / 4.0).square().sum(-1)
    torch.testing.assert_close(term({}, j0)["temporal"], cost)
    off = TemporalTerm(torch.stack([j2, j1], 1), dt, torch.tensor([False]), TemporalFitConfig())
    assert float(off({}, j0)["temporal"]) == 0.0


def test_warm_chain_recovers_the_truth_like_cold_fits(smplx_model):
    people, truth = _sequence(smplx_model, 4)
    cold = np.stack([fit_people(HW, [p], smplx_model, K)[0].joints_cam[:55] for p in people])
    warm = _warm_chain(smplx_model, people, TemporalFitConfig())
    err_cold = np.mean([pa_mpjpe_mm(cold[t, :22], truth[t, :22]) for t in range(len(people))])
    err_warm = np.mean([pa_mpjpe_mm(warm[t, :22], truth[t, :22]) for t in range(len(people))])
    # exact landmarks: both land near the truth; the short warm schedule may not lose > 5 mm
    assert err_cold < 40.0
    assert err_warm < err_cold + 5.0, (err_warm, err_cold)
    # and the warm result is close to the cold one frame by frame (same optimum)
    gap = np.linalg.norm(warm - cold, axis=-1).mean(-1)
    assert gap.max() < 0.05, gap


@pytest.mark.slow
def test_temporal_term_lowers_acceleration_on_noisy_landmarks(smplx_model):
    people, _ = _sequence(smplx_model, 7, noise_px=3.0, seed=2)
    plain = _warm_chain(smplx_model, people, TemporalFitConfig(weight=0.0))
    smooth = _warm_chain(smplx_model, people, TemporalFitConfig(weight=1.0))
    a_plain, a_smooth = _accel(plain[1:]), _accel(smooth[1:])
    assert a_smooth < 0.8 * a_plain, (a_smooth, a_plain)
