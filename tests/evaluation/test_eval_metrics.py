"""Alignment and metric functions against independent computations: roma's and scipy's
Procrustes, hand-derived cases and a per-sample numpy loop of the official formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import roma
import torch
from eval_reference import rigid_align_np
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from ehps.evaluation.alignment import procrustes_align, root_align, similarity_procrustes
from ehps.evaluation.metrics import (
    mean_error_mm,
    mean_of_sides_mm,
    mpjpe_mm,
    mpvpe_mm,
    nanmean_over_samples,
    pa_mpjpe_mm,
    pa_mpvpe_mm,
)


def _points(b: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, 3, generator=g, dtype=torch.float64) * 0.3


def _official_rigid_align_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-sample loop of the documented Umeyama formula (:func:`rigid_align_np`, reference)."""
    return np.stack([rigid_align_np(src, dst) for src, dst in zip(a, b)])


def test_procrustes_matches_roma_registration():
    src = _points(6, 40, seed=1)
    rot = roma.random_rotmat(6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    dst = 1.7 * src @ rot.transpose(-1, -2) + torch.tensor([0.1, -0.4, 2.0], dtype=torch.float64)
    dst = dst + 0.01 * _points(6, 40, seed=3)  # not an exact copy
    sim = similarity_procrustes(src, dst)
    r_ref, t_ref, s_ref = roma.rigid_points_registration(src, dst, compute_scaling=True)
    torch.testing.assert_close(sim.rotation, r_ref, atol=1e-9, rtol=0)
    torch.testing.assert_close(sim.translation, t_ref, atol=1e-9, rtol=0)
    torch.testing.assert_close(sim.scale, s_ref, atol=1e-9, rtol=0)


def test_pa_error_matches_scipy_disparity():
    gt = _points(4, 30, seed=4)
    pred = gt @ torch.tensor(Rotation.from_euler("xyz", [0.3, -0.2, 0.9]).as_matrix()).T * 0.8
    pred = pred + 0.02 * _points(4, 30, seed=5)
    aligned = procrustes_align(pred, gt)
    for i in range(4):
        _, _, disparity = scipy_procrustes(gt[i].numpy(), pred[i].numpy())
        gc = gt[i] - gt[i].mean(0)
        ours = ((aligned[i] - gt[i]) ** 2).sum() / (gc**2).sum()
        assert float(ours) == pytest.approx(disparity, rel=1e-9)


def test_batched_procrustes_equals_per_sample_loop_including_reflection_case():
    src = _points(5, 21, seed=6)
    dst = _points(5, 21, seed=7)
    # sample 0: a mirrored copy forces the det < 0 branch of the official formula
    dst[0] = src[0] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    ref = _official_rigid_align_loop(src.numpy(), dst.numpy())
    np.testing.assert_allclose(procrustes_align(src, dst).numpy(), ref, atol=1e-10)


def test_translated_copy_is_zero_after_root_alignment():
    gt = _points(3, 50, seed=8)
    shift = torch.tensor([[0.3, -1.0, 4.0], [1.0, 2.0, 3.0], [0.0, 0.0, -2.0]], dtype=torch.float64)
    pred = gt + shift[:, None]
    err = mpvpe_mm(pred, gt, pred[:, 0], gt[:, 0])
    torch.testing.assert_close(err, torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    # without alignment the error is exactly the shift length (in mm)
    torch.testing.assert_close(mean_error_mm(pred, gt), shift.norm(dim=-1) * 1000)


def test_scaled_rotated_copy_is_zero_after_pa():
    gt = _points(2, 14, seed=9)
    rot = torch.tensor(Rotation.from_rotvec([0.2, 1.1, -0.7]).as_matrix())
    pred = 0.6 * gt @ rot.T + torch.tensor([5.0, -3.0, 1.0], dtype=torch.float64)
    assert float(pa_mpjpe_mm(pred, gt).abs().max()) < 1e-9
    assert float(pa_mpvpe_mm(pred.float(), gt.float()).abs().max()) < 1e-3  # float32 inputs


def test_known_offset_gives_its_exact_error():
    gt = _points(1, 10, seed=10)
    pred = gt.clone()
    pred[0, 3] += torch.tensor([0.003, 0.004, 0.0], dtype=torch.float64)  # 5 mm on one joint
    # the root (joint 0) is untouched, so root alignment keeps the offset: 5 mm / 10 joints
    err = mpjpe_mm(pred, gt, pred[:, 0], gt[:, 0])
    assert float(err) == pytest.approx(0.5, abs=1e-9)
    assert float(mpjpe_mm(pred, gt)) == pytest.approx(0.5, abs=1e-9)


def test_root_align_moves_root_onto_gt_root():
    pred = _points(2, 5, seed=11)
    gt_root = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], dtype=torch.float64)
    out = root_align(pred, pred[:, 2], gt_root)
    torch.testing.assert_close(out[:, 2], gt_root)


def test_mask_averages_only_selected_points_and_nan_when_empty():
    gt = torch.zeros(2, 4, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[:, :, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64) / 1000.0
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    err = mean_error_mm(pred, gt, mask)
    assert float(err[0]) == pytest.approx(2.0)
    assert math.isnan(float(err[1]))
    assert nanmean_over_samples(err) == pytest.approx(2.0)


def test_mean_of_sides_skips_missing_side():
    left = torch.tensor([1.0, float("nan"), float("nan")], dtype=torch.float64)
    right = torch.tensor([3.0, 5.0, float("nan")], dtype=torch.float64)
    out = mean_of_sides_mm(left, right)
    assert out[:2].tolist() == [2.0, 5.0]
    assert math.isnan(float(out[2]))


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="equal shape"):
        mean_error_mm(torch.zeros(1, 3, 3), torch.zeros(1, 4, 3))
    with pytest.raises(ValueError, match="both"):
        mpjpe_mm(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3), pred_root=torch.zeros(1, 3))
