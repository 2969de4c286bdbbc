"""New tracks of followed videos get the cold fit without the stages whose data nobody has
(:func:`ehps.inference.fit_estimator.cold_stages`): the estimator's result equals
:func:`ehps.fitting.fit_people` run with that schedule, and photos keep the full schedule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ehps.detection.base import PersonLandmarks
from ehps.fitting.estimator import EmbeddedEstimator
from ehps.fitting.fitter import FitConfig, default_stages, fit_people
from ehps.fitting.landmarks import landmark_maps, model_keypoints
from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import Detection
from ehps.inference.estimators import PersonInput
from ehps.inference.fit_estimator import FittingEstimator, cold_stages

K = Intrinsics.from_image_size(320, 240)


def _person(model, face: bool) -> PersonLandmarks:
    maps = landmark_maps(model)
    with torch.no_grad():
        out = model(transl=torch.tensor([[0.0, 0.1, 4.0]]))
        kp = model_keypoints(model, out, maps)
    f, c = torch.tensor(K.focal), torch.tensor(K.princpt)
    proj = {p: (v[0, :, :2] / v[0, :, 2:] * f + c).numpy() for p, v in kp.items()}
    world = kp["body"][0].numpy()
    lo, hi = proj["body"].min(0), proj["body"].max(0)
    return PersonLandmarks(
        bbox_xywh=np.r_[lo, hi - lo], score=1.0, body_2d=proj["body"], body_conf=np.ones(33),
        body_world=world - 0.5 * (world[23] + world[24]),
        # the cold schedule only asks whether a face was found: any 478 points do
        face_2d=np.tile(proj["body"][:1], (478, 1)) if face else None,
        face_conf=np.ones(478) if face else None)


def test_cold_stages_drop_only_the_missing_parts(smplx_model_module):
    full = default_stages()
    names = [s.name for s in full]
    bare, faced = _person(smplx_model_module, False), _person(smplx_model_module, True)
    assert [s.name for s in cold_stages(full, [bare])] == [n for n in names
                                                            if n not in ("hands", "face")]
    assert [s.name for s in cold_stages(full, [bare, faced])] == [n for n in names
                                                                   if n != "hands"]
    hand = replace(bare, left_hand_2d=np.zeros((21, 2)), left_hand_conf=np.ones(21))
    assert [s.name for s in cold_stages(full, [hand])] == [n for n in names if n != "face"]


@pytest.fixture(scope="module")
def smplx_model_module(synthetic_smplx_dir):
    from ehps.bodymodels.smplx import load_smplx

    return load_smplx(synthetic_smplx_dir)


def _short_estimator(model):
    """A fitting estimator with a short schedule (4 iterations a stage), one person with
    neither hands nor face, and its detection."""
    cfg = replace(FitConfig(), stages=tuple(replace(s, iterations=min(s.iterations, 4))
                                            for s in default_stages()))
    est = FittingEstimator(embedded=EmbeddedEstimator(body_model=model, fit_config=cfg,
                                                      detector=object()))
    person = _person(model, False)
    return cfg, est, person, Detection(np.asarray(person.bbox_xywh, np.float32), 1.0, person)


def test_followed_new_tracks_get_the_pruned_cold_fit(smplx_model_module):
    model = smplx_model_module
    cfg, est, person, det = _short_estimator(model)

    def run(followed: bool) -> np.ndarray:
        inp = PersonInput(0, det, K, (240, 320), person, track_id=1, followed=followed)
        return est.estimate([inp])[0].params["body_pose"]

    pruned = replace(cfg, stages=cold_stages(cfg.stages, [person]))
    ref_pruned = fit_people((240, 320), [person], model, K, pruned, meshes=False)[0]
    ref_full = fit_people((240, 320), [person], model, K, cfg, meshes=False)[0]
    np.testing.assert_allclose(run(True).reshape(-1),
                               ref_pruned.params["body_pose"].reshape(-1), atol=1e-6)
    np.testing.assert_allclose(run(False).reshape(-1),
                               ref_full.params["body_pose"].reshape(-1), atol=1e-6)
    # the two schedules really differ here (no hands, no face: two stages fewer)
    assert len(pruned.stages) == len(cfg.stages) - 2


def test_occlusion_fallback_refits_cold(smplx_model_module):
    """A tracked person whose landmark visibility drops is fitted again cold: the result
    equals the pruned cold fit of this frame's landmarks; an unchanged person stays warm."""
    from ehps.inference.estimators import TrackContext
    from ehps.inference.fit_fallback import REFERENCE_KEY, FallbackConfig

    model = smplx_model_module
    cfg, est, person, det = _short_estimator(model)
    first = est.estimate([PersonInput(0, det, K, (240, 320), person, track_id=1,
                                      followed=True)])[0]
    assert first.extras[REFERENCE_KEY].visibility == pytest.approx(1.0)

    def second(lm: PersonLandmarks):
        ctx = TrackContext(1, 0, first, ((0.0, first.params),), 1)
        inp = PersonInput(1, Detection(np.asarray(lm.bbox_xywh), 1.0, lm), K, (240, 320), lm,
                          track_id=1, context=ctx, time_s=0.04, followed=True)
        return est.estimate([inp])[0]

    # the legs hidden (low confidence); the error condition that goes with a visibility drop
    # (tested in test_fit_fallback.py) is switched off: the visibility decides here
    hidden = replace(person, body_conf=np.r_[np.ones(17), np.full(16, 0.3)])
    est.fallback = FallbackConfig(enabled=True, visibility_reproj_ratio=0.0)
    redone = second(hidden)
    assert redone.extras.get("fit_fallback") == "cold_surrogate"  # the default refit
    pruned = replace(cfg, stages=tuple(s for s in cold_stages(cfg.stages, [hidden])
                                       if s.surrogate))
    ref = fit_people((240, 320), [hidden], model, K, pruned, meshes=False)[0]
    np.testing.assert_allclose(redone.params["body_pose"].reshape(-1),
                               ref.params["body_pose"].reshape(-1), atol=1e-6)
    # the reference moved towards the drop (0.7 * 1 + 0.3 * 0.66) and spent a credit
    ref_after = redone.extras[REFERENCE_KEY]
    assert ref_after.visibility == pytest.approx(0.7 + 0.3 * 0.6636, 1e-3)
    assert ref_after.credit == pytest.approx(FallbackConfig().burst - 1.0)
    assert "fit_fallback" not in second(person).extras
    est.fallback = FallbackConfig(enabled=False)
    assert "fit_fallback" not in second(hidden).extras
