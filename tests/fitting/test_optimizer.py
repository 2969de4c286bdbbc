"""The batched L-BFGS against analytic minima, and its per-person independence."""

from __future__ import annotations

import torch

from ehps.fitting.objective import geman_mcclure, project
from ehps.fitting.optimizer import Packer, batched_lbfgs
from ehps.geometry.camera import project_points

A = torch.tensor([1.0, 2.0, 0.5, -1.0], dtype=torch.float64)


def _rosenbrock(a: torch.Tensor):
    def fn(x: torch.Tensor) -> torch.Tensor:
        return (a - x[:, 0]) ** 2 + 100.0 * (x[:, 1] - x[:, 0] ** 2) ** 2

    return fn


def test_batched_lbfgs_finds_each_rosenbrock_minimum():
    x0 = torch.tensor([[-1.2, 1.0], [0.0, 0.0], [2.0, 2.0], [0.5, -0.5]], dtype=torch.float64)
    res = batched_lbfgs(_rosenbrock(A), x0, torch.ones(2, dtype=torch.float64), 120,
                        first_step=0.1)
    expected = torch.stack((A, A**2), dim=1)  # analytic minimum (a, a^2)
    torch.testing.assert_close(res.x, expected, atol=1e-4, rtol=0)
    assert (res.loss < 1e-8).all()


def test_people_are_independent():
    x0 = torch.tensor([[-1.2, 1.0], [0.0, 0.0], [2.0, 2.0], [0.5, -0.5]], dtype=torch.float64)
    mask = torch.ones(2, dtype=torch.float64)
    together = batched_lbfgs(_rosenbrock(A), x0, mask, 25, first_step=0.1)
    for i in range(4):
        alone = batched_lbfgs(_rosenbrock(A[i : i + 1]), x0[i : i + 1], mask, 25,
                              first_step=0.1)
        torch.testing.assert_close(alone.x[0], together.x[i], atol=1e-12, rtol=0)


def test_mask_freezes_entries():
    def fn(x: torch.Tensor) -> torch.Tensor:
        return ((x - torch.tensor([3.0, -2.0, 1.0])) ** 2).sum(1)

    x0 = torch.zeros(2, 3)
    res = batched_lbfgs(fn, x0, torch.tensor([1.0, 0.0, 1.0]), 20)
    assert (res.x[:, 1] == 0).all()
    torch.testing.assert_close(res.x[:, [0, 2]], torch.tensor([[3.0, 1.0], [3.0, 1.0]]),
                               atol=1e-4, rtol=0)


def test_packer_round_trip():
    vals = {"a": torch.randn(2, 3), "b": torch.randn(2, 4, 3), "c": torch.randn(2, 1)}
    p = Packer(vals)
    x = p.pack(vals)
    assert x.shape == (2, 3 + 12 + 1)
    back = p.unpack(x)
    for k in vals:
        torch.testing.assert_close(back[k], vals[k])
    m = p.mask(["b"], torch.float32, torch.device("cpu"))
    assert m.sum() == 12 and m[3:15].all()


def test_packer_scales_divide_packed_entries():
    vals = {"a": torch.tensor([[2.0, 4.0]]), "b": torch.tensor([[1.0]])}
    p = Packer(vals, {"a": 2.0})
    torch.testing.assert_close(p.pack(vals), torch.tensor([[1.0, 2.0, 1.0]]))
    torch.testing.assert_close(p.unpack(p.pack(vals))["a"], vals["a"])
    vals3 = {"pose": torch.zeros(1, 4, 3)}
    m = Packer(vals3).mask([("pose", (1, 3))], torch.float32, torch.device("cpu"))
    torch.testing.assert_close(m, torch.tensor([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1.0]))


def test_geman_mcclure_limits():
    r2 = torch.tensor([1e-6, 1e6])
    out = geman_mcclure(r2, 2.0)
    torch.testing.assert_close(out[0], r2[0], rtol=1e-5, atol=0)  # quadratic near 0
    torch.testing.assert_close(out[1], torch.tensor(4.0), rtol=1e-4, atol=0)  # saturates


def test_project_matches_geometry_projection():
    pts = torch.tensor([[[0.1, -0.2, 3.0], [0.5, 0.4, 6.0]]])
    f, c = torch.tensor([900.0, 910.0]), torch.tensor([320.0, 240.0])
    torch.testing.assert_close(project(pts, f, c), project_points(pts, f, c, eps=0.0))
