"""Closed-form initialisation against analytic ground truth."""

from __future__ import annotations

import roma
import torch

from ehps.fitting.camera_init import align_orientation, ray_rotation, solve_translation
from ehps.geometry.camera import project_points


def test_solve_translation_recovers_known_translation():
    torch.manual_seed(0)
    pts = torch.randn(3, 9, 3, dtype=torch.float64) * 0.4
    t_true = torch.tensor([[0.3, -0.2, 4.0], [-1.0, 0.5, 8.0], [0.0, 0.0, 2.5]],
                          dtype=torch.float64)
    focal, princpt = (900.0, 900.0), (320.0, 240.0)
    uv = project_points(pts + t_true[:, None], focal, princpt, eps=0.0)
    w = torch.ones(3, 9, dtype=torch.float64)
    t = solve_translation(pts, uv, w, torch.tensor(focal), torch.tensor(princpt))
    torch.testing.assert_close(t, t_true, atol=1e-6, rtol=0)


def test_solve_translation_ignores_zero_weight_outliers_and_flags_too_few_points():
    torch.manual_seed(1)
    pts = torch.randn(1, 6, 3, dtype=torch.float64) * 0.3
    t_true = torch.tensor([[0.1, 0.2, 5.0]], dtype=torch.float64)
    uv = project_points(pts + t_true[:, None], (1000.0, 1000.0), (300.0, 200.0), eps=0.0)
    uv[0, 0] += 300.0  # outlier
    w = torch.ones(1, 6, dtype=torch.float64)
    w[0, 0] = 0.0
    t = solve_translation(pts, uv, w, torch.tensor([1000.0, 1000.0]), torch.tensor([300.0, 200.0]))
    torch.testing.assert_close(t, t_true, atol=1e-6, rtol=0)
    w1 = torch.zeros(1, 6, dtype=torch.float64)
    w1[0, 2] = 1.0
    t1 = solve_translation(pts, uv, w1, torch.tensor([1000.0, 1000.0]),
                           torch.tensor([300.0, 200.0]))
    assert (t1 == 0).all()


def test_ray_rotation_maps_optical_axis_onto_pixel_ray():
    focal, princpt = torch.tensor([800.0, 800.0]), torch.tensor([320.0, 240.0])
    px = torch.tensor([[320.0, 240.0], [620.0, 40.0], [0.0, 479.0]])
    rot = ray_rotation(px, focal, princpt)
    z = torch.tensor([0.0, 0.0, 1.0])
    for i in range(3):
        ray = torch.cat(((px[i] - princpt) / focal, torch.ones(1)))
        torch.testing.assert_close(rot[i] @ z, ray / ray.norm(), atol=1e-6, rtol=0)
    torch.testing.assert_close(rot[0], torch.eye(3), atol=1e-6, rtol=0)
    # minimal rotation: the axis is perpendicular to z
    aa = roma.rotmat_to_rotvec(rot[1])
    assert abs(float(aa[2])) < 1e-6


def test_align_orientation_recovers_rotation():
    torch.manual_seed(2)
    model = torch.randn(2, 5, 3)
    rot_true = roma.random_rotmat(2)
    target = model @ rot_true.transpose(1, 2) + torch.tensor([0.5, -1.0, 3.0])
    rot = align_orientation(model, target, torch.ones(2, 5))
    torch.testing.assert_close(rot, rot_true, atol=1e-4, rtol=0)
