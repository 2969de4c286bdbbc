"""Un-cropping: per-person intrinsics against the official formula (written out here), the
shared-camera translation against its defining properties (same pixel for the root joint, same
apparent size), the exact inverse, and the anchor against a zero-pose SMPL-X forward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ehps.config.infer import parse_intrinsics
from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics, project_points
from ehps.inference.camera import from_shared_camera, person_intrinsics, to_shared_camera


def test_person_intrinsics_official_formula():
    box = np.array([37.5, -12.0, 150.0, 200.0])
    k = person_intrinsics(box)
    # official-spec a.5, written out independently
    assert k.fx == pytest.approx(5000 / 192 * 150.0)
    assert k.fy == pytest.approx(5000 / 256 * 200.0)
    assert k.cx == pytest.approx(96 / 192 * 150.0 + 37.5)
    assert k.cy == pytest.approx(128 / 256 * 200.0 - 12.0)
    # the crop camera maps the body-input principal point (96, 128) onto the box centre
    assert (k.cx, k.cy) == pytest.approx((37.5 + 75.0, -12.0 + 100.0))


def _pinhole(p: np.ndarray, k: Intrinsics) -> np.ndarray:
    return np.array([k.fx * p[0] / p[2] + k.cx, k.fy * p[1] / p[2] + k.cy])


@pytest.mark.parametrize("seed", range(5))
def test_root_projects_to_same_pixel_and_keeps_size(seed):
    rng = np.random.default_rng(seed)
    box = np.array([*rng.uniform(0, 400, 2), 0.0, 0.0])
    box[3] = rng.uniform(80, 400)
    box[2] = 0.75 * box[3]
    k_p = person_intrinsics(box)
    f = rng.uniform(500, 1500)
    k_s = Intrinsics(f, f, *rng.uniform(200, 400, 2))
    anchor = rng.normal(0, 0.2, 3)
    t_p = np.array([*rng.normal(0, 0.3, 2), rng.uniform(5, 50)])
    t_s = to_shared_camera(t_p, anchor, k_p, k_s)
    root_p, root_s = anchor + t_p, anchor + t_s.astype(np.float64)
    np.testing.assert_allclose(_pinhole(root_s, k_s), _pinhole(root_p, k_p), atol=1e-3)
    # apparent size at the root: f / z is the same in both cameras
    f_p, f_s = math.sqrt(k_p.fx * k_p.fy), math.sqrt(k_s.fx * k_s.fy)
    assert f_s / root_s[2] == pytest.approx(f_p / root_p[2], rel=1e-5)
    # (square pixels) a small offset at the root's depth gives the same pixel offset
    d = np.array([0.05, -0.08, 0.0])
    off_p = _pinhole(root_p + d, k_p) - _pinhole(root_p, k_p)
    off_s = _pinhole(root_s + d, k_s) - _pinhole(root_s, k_s)
    np.testing.assert_allclose(off_s, off_p, rtol=1e-4)
    # exact inverse
    np.testing.assert_allclose(from_shared_camera(t_s, anchor, k_p, k_s), t_p, rtol=1e-5,
                               atol=1e-5)


def test_project_matches_pinhole():
    k = Intrinsics(800.0, 780.0, 320.0, 240.0)
    p = np.array([[0.3, -0.2, 3.0], [-1.0, 0.5, 7.0]])
    uv = project_points(p, k.focal, k.princpt, eps=0.0)
    np.testing.assert_allclose(uv, np.stack([_pinhole(q, k) for q in p]))
    # tensors give the same pixels
    uv_t = project_points(torch.from_numpy(p), k.focal, k.princpt, eps=0.0).numpy()
    np.testing.assert_allclose(uv_t, uv, rtol=1e-12)


def test_behind_camera_is_an_error():
    k = Intrinsics(1000.0, 1000.0, 10.0, 10.0)
    with pytest.raises(InputError, match="in front"):
        to_shared_camera(np.array([0.0, 0.0, -1.0]), np.zeros(3), k, k)


def test_parse_intrinsics():
    assert parse_intrinsics("1000,1001, 320,240") == (1000.0, 1001.0, 320.0, 240.0)
    for bad in ("1,2,3", "a,b,c,d", "0,1,2,3", "1,1,nan,2"):
        with pytest.raises(InputError, match="fx,fy,cx,cy"):
            parse_intrinsics(bad)


def test_anchor_is_the_root_joint(tiny_predictor, synthetic_smplx_dir):
    """NetworkEstimator.anchor (linear in betas / expression) equals the pelvis of a zero-pose
    forward, and stays the pelvis under any global orientation (the root turns about it)."""
    from ehps.bodymodels.smplx import load_smplx

    pred = tiny_predictor()
    model = load_smplx(synthetic_smplx_dir)
    rng = np.random.default_rng(0)
    betas = rng.normal(0, 1, (1, 10)).astype(np.float32)
    expr = rng.normal(0, 1, (1, 10)).astype(np.float32)
    anchor = pred.estimator.anchor({"betas": betas, "expression": expr})
    with torch.no_grad():
        out = model(betas=torch.from_numpy(betas), expression=torch.from_numpy(expr),
                    global_orient=torch.tensor([[0.4, -1.1, 2.0]]))
    np.testing.assert_allclose(anchor, out.joints[0, 0].numpy(), atol=1e-5)
