"""Accuracy of the whole embedded pipeline (detector + fit) on images the test renders itself from
known Anny parameters. The default run checks a few images; the full 20-image figure is a slow
test (and ``benchmarks/fit_synthetic_eval.py`` prints it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fitting_helpers import pa_mpjpe_mm

from ehps.fitting.estimator import EmbeddedEstimator
from ehps.fitting.priors import body_limits, limit_penalty
from ehps.fitting.synthetic_eval import (
    BODY_JOINTS,
    _pa_mpjpe_mm,
    evaluate,
    make_sample,
    sample_params,
)

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def estimator(anny_body):
    return EmbeddedEstimator(body_model=anny_body)


def test_sampled_poses_respect_the_joint_limits():
    lim = body_limits()
    for seed in range(20):
        p = sample_params(np.random.default_rng(seed))
        assert float(limit_penalty(torch.from_numpy(p["body_pose"])[None], lim)[0]) == 0.0
        assert ((p["phenotype"] >= 0) & (p["phenotype"] <= 1)).all()


def test_pa_mpjpe_against_roma_reference():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(22, 3))
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    assert _pa_mpjpe_mm(1.3 * gt @ rot.T + 0.5, gt) < 1e-6  # a similar copy aligns exactly
    noisy = gt + rng.normal(scale=0.02, size=gt.shape)
    assert _pa_mpjpe_mm(noisy, gt) == pytest.approx(pa_mpjpe_mm(noisy, gt), rel=1e-6)


def test_rendered_sample_matches_its_truth(anny_body):
    s = make_sample(anny_body, np.random.default_rng([7, 0]))
    h, w = s.image.shape[:2]
    assert (h, w) == (768, 512) and s.image.dtype == np.uint8
    with torch.no_grad():
        out = anny_body(**s.params)
    np.testing.assert_allclose(out.joints[0, :55].numpy(), s.joints_cam, atol=1e-6)
    assert 2.3 < s.joints_cam[0, 2] < 5.5  # camera 2.5-5 m away (body centre)


def test_pipeline_accuracy_on_a_few_synthetic_images(estimator):
    report = evaluate(estimator, num_samples=3, seed=1)
    s = report.summary()
    assert s["failures"] == 0
    assert s["body_pa_mpjpe_mm_mean"] <= 80.0
    assert s["hands_pa_mpjpe_mm_mean"] <= 20.0
    assert len(BODY_JOINTS) == 22


@pytest.mark.slow
def test_pipeline_accuracy_on_twenty_synthetic_images(estimator):
    report = evaluate(estimator, num_samples=20, seed=0)
    s = report.summary()
    assert s["failures"] <= 2
    assert s["body_pa_mpjpe_mm_mean"] <= 80.0
    assert s["hands_pa_mpjpe_mm_mean"] <= 20.0
