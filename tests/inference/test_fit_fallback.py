"""The occlusion fallback's triggers and references (ehps.inference.fit_fallback)."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.detection.base import PersonLandmarks
from ehps.inference.fit_fallback import (
    FallbackConfig,
    TrackReference,
    choose_refits,
    needs_cold,
    reference_of,
    updated_reference,
)
from ehps.structures import PersonEstimate


def _lm(conf: float, height: float = 200.0) -> PersonLandmarks:
    return PersonLandmarks(np.array([10, 10, 80, height], np.float32), 0.9,
                           np.zeros((33, 2), np.float32), np.full(33, conf, np.float32),
                           np.zeros((33, 3), np.float32))


def _est(reproj: float | None, **extras: object) -> PersonEstimate:
    est = PersonEstimate.__new__(PersonEstimate)
    est.extras = dict(extras)
    if reproj is not None:
        est.extras["reproj_px"] = {"body": reproj}
    return est


CFG = FallbackConfig(enabled=True, visibility_drop=0.06, reproj_ratio=1.5, reproj_floor=0.005,
                     rate=0.3)
REF = TrackReference(visibility=0.92, reproj_px=1.6)


def test_no_trigger_in_the_normal_state():
    assert needs_cold(_lm(0.90), _est(1.9), REF, CFG) == 0.0
    assert needs_cold(_lm(0.90), _est(9.0), None, CFG) == 0.0  # no reference: never
    assert needs_cold(_lm(0.5), _est(9.0), REF, FallbackConfig(enabled=False)) == 0.0


def test_visibility_drop_triggers_with_a_worse_fit():
    # 0.92 - 0.83 = 0.09 > 0.06: score = drop / threshold, when the error rose by > 1.2x
    assert needs_cold(_lm(0.83), _est(2.0), REF, CFG) == pytest.approx(0.09 / 0.06, rel=1e-5)
    # the same drop with the fit as good as usual: mediapipe's visibility wobbles, no trigger
    assert needs_cold(_lm(0.83), _est(1.7), REF, CFG) == 0.0


def test_residual_jump_needs_ratio_and_floor():
    # 3.4 > 1.5 x 1.6 and 3.4 - 1.6 = 1.8 px > 0.005 x 200 = 1 px
    assert needs_cold(_lm(0.92), _est(3.4), REF, CFG) == pytest.approx(3.4 / 1.6)
    # same ratio, but a 60 px person: 1.8 px is under the floor of 0.005 x 400 = 2 px
    assert needs_cold(_lm(0.92, height=400.0), _est(3.4), REF, CFG) == 0.0
    # under the ratio
    assert needs_cold(_lm(0.92), _est(2.3), REF, CFG) == 0.0


def test_reference_moving_average_and_first_frame():
    first = updated_reference(None, _lm(0.9), _est(2.0), CFG)
    assert first == TrackReference(pytest.approx(0.9), 2.0)
    nxt = updated_reference(first, _lm(0.6), _est(4.0), CFG)
    assert nxt.visibility == pytest.approx(0.7 * 0.9 + 0.3 * 0.6)
    assert nxt.reproj_px == pytest.approx(0.7 * 2.0 + 0.3 * 4.0)
    # a lasting state becomes the normal: the drop stops triggering after a few frames
    ref, fired = first, []
    for _ in range(12):
        fired.append(needs_cold(_lm(0.8), _est(2.9), ref, CFG) > 0)
        ref = updated_reference(ref, _lm(0.8), _est(2.9), CFG)
    assert fired[0] and not fired[-1]
    # after k frames: visibility 0.8 + 0.1 * 0.7^k (drop > 0.06 while k < 2), error
    # 2.9 - 0.9 * 0.7^k (2.9 over it > 1.2x while k < 2)
    assert fired.index(False) == 2


def test_reference_of_previous_estimate():
    prev = _est(1.5, landmarks=_lm(0.88))
    assert reference_of(prev) == TrackReference(pytest.approx(0.88), 1.5)
    carried = _est(1.5, landmarks=_lm(0.88), track_reference=REF)
    assert reference_of(carried) is REF
    assert reference_of(_est(None)) is None


def test_choose_refits_worst_first_bounded():
    cfg = FallbackConfig(enabled=True, max_per_frame=2)
    assert choose_refits([0.0, 3.0, 1.0, 5.0], cfg) == [1, 3]
    assert choose_refits([0.0, 0.0], cfg) == []
    with pytest.raises(ValueError):
        FallbackConfig(rate=0.0)
