"""The visibility floor of the body confidences (FitConfig.visibility_floor), on hand-made
arrays: the formula, the cases it must leave alone, and its validation."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.detection.base import PersonLandmarks
from ehps.fitting.fitter import FitConfig, floored_confidence


def _person(extras: dict) -> PersonLandmarks:
    vis = np.linspace(0.0, 1.0, 33)
    pres = np.full(33, 0.8)
    return PersonLandmarks(bbox_xywh=np.array([0, 0, 10, 20], np.float32), score=1.0,
                           body_2d=np.zeros((33, 2)), body_conf=(vis * pres).astype(np.float32),
                           body_world=np.zeros((33, 3)), extras=extras)


def test_floor_formula_by_hand():
    vis, pres = np.linspace(0.0, 1.0, 33), np.full(33, 0.8)
    p = _person({"visibility": vis, "presence": pres})
    out = floored_confidence(p, 0.5)
    # hidden point (visibility 0): 0.8 * 0.5; fully visible: 0.8; halfway: 0.8 * 0.75
    assert out.body_conf[0] == pytest.approx(0.4) and out.body_conf[-1] == pytest.approx(0.8)
    assert out.body_conf[16] == pytest.approx(0.8 * (0.5 + 0.5 * 0.5))
    assert out.body_conf.dtype == p.body_conf.dtype
    assert (out.body_conf >= p.body_conf - 1e-7).all()  # a floor only ever raises
    np.testing.assert_array_equal(p.body_conf, (vis * pres).astype(np.float32))  # input intact


def test_floor_leaves_other_detectors_alone():
    plain = _person({})  # a detector without separate visibility and presence
    assert floored_confidence(plain, 0.5) is plain
    wrong = _person({"visibility": np.ones(17), "presence": np.ones(17)})  # COCO-17 sized
    assert floored_confidence(wrong, 0.5) is wrong
    both = _person({"visibility": np.zeros(33), "presence": np.ones(33)})
    assert floored_confidence(both, 0.0) is both


def test_floor_validation():
    with pytest.raises(ValueError, match="visibility_floor"):
        FitConfig(visibility_floor=1.5)
