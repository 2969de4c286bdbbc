"""Start variants of the fit, keeping the best start, and fits from a given initial solution
(on exact landmarks of the synthetic SMPL-X model)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import roma
import torch
from fitting_helpers import known_people

from ehps.fitting.adapters import make_adapter
from ehps.fitting.fitter import FitConfig, build_targets, fit_people
from ehps.fitting.landmarks import landmark_maps
from ehps.fitting.objective import Objective
from ehps.fitting.starts import best_rows, candidate_starts
from ehps.geometry.camera import Intrinsics
from ehps.geometry.rotations import aa_to_rotmat

K = Intrinsics.from_image_size(1024, 768)
HW = (768, 1024)


@pytest.fixture(scope="module")
def smplx_model(synthetic_smplx_dir):
    from ehps.bodymodels.smplx import load_smplx

    return load_smplx(synthetic_smplx_dir)


def _torso_axis(adapter, v) -> torch.Tensor:
    with torch.no_grad():
        j = adapter.forward(v).joints
    a = j[:, 12] - j[:, 0]
    return a / a.norm(dim=-1, keepdim=True)


def test_start_variants(smplx_model):
    people, _, _ = known_people(smplx_model, [21, 22], K, face=False)
    config = FitConfig()
    adapter = make_adapter(smplx_model)
    maps = landmark_maps(smplx_model)
    objective = Objective(adapter, maps, build_targets(people, maps, HW, K, config))
    v0 = adapter.init_variables(2, torch.float32, torch.device("cpu"))
    v, person, kind = candidate_starts(adapter, objective, v0, ("world", "upright", "flip"))
    assert person.tolist() == [0, 1, 0, 1, 0, 1] and kind.tolist() == [0, 0, 1, 1, 2, 2]
    axis = _torso_axis(adapter, v)
    assert axis[2:4, 2].abs().max() < 1e-4  # upright: the torso axis lies in the image plane
    rot = aa_to_rotmat(v["global_orient"])
    for i in range(2):
        # flip = world turned half a turn about the (world start's) torso axis
        angle = math.degrees(float(roma.rotmat_geodesic_distance(rot[4 + i], rot[i])))
        assert angle == pytest.approx(180.0, abs=0.5)
        rel = rot[4 + i] @ rot[i].T  # its axis is the torso axis
        np.testing.assert_allclose((rel @ axis[i]).numpy(), axis[i].numpy(), atol=1e-3)
    # a given start replaces the closed-form ones (and only one row is made for that person)
    given = [None, {k: t[1].numpy() for k, t in v.items()}]
    v2, person2, kind2 = candidate_starts(adapter, objective, v0, ("world", "upright"), True,
                                          given)
    assert person2.tolist() == [0, 1, 0] and kind2.tolist() == [0, 0, 1]
    np.testing.assert_allclose(v2["body_pose"][1].numpy(), v["body_pose"][1].numpy())


def test_best_rows_by_hand():
    loss = torch.tensor([3.0, 1.0, 2.0, float("nan"), 0.5])
    person = torch.tensor([0, 1, 0, 1, 2])
    assert best_rows(loss, person, 3).tolist() == [2, 1, 4]


def test_fit_from_a_given_solution_and_several_starts(smplx_model):
    people, _, _ = known_people(smplx_model, [31, 32], K, face=False)
    first = fit_people(HW, people, smplx_model, K)
    assert [e.extras["fit_start"] for e in first] == ["world", "world"]
    # no iterations from the earlier fit's variables: the same bodies come back
    still = replace(FitConfig(), stages=())
    again = fit_people(HW, people, smplx_model, K, still,
                       initial=[e.extras["fit_variables"] for e in first])
    for a, b in zip(first, again):
        np.testing.assert_allclose(a.joints_cam, b.joints_cam, atol=1e-5)
        assert b.extras["fit_start"] == "given"
    # several starts: every person keeps one of them, and the fit still lands on the truth
    multi = fit_people(HW, people, smplx_model, K,
                       replace(FitConfig(), starts=("world", "upright", "flip")),
                       initial=[None, first[1].extras["fit_variables"]])
    assert multi[0].extras["fit_start"] in ("world", "upright", "flip")
    assert multi[1].extras["fit_start"] == "given"
    for e in multi:
        assert e.extras["reproj_px"]["body"] < 3.0
    with pytest.raises(ValueError, match="initial solutions"):
        fit_people(HW, people, smplx_model, K, initial=[None])
    with pytest.raises(ValueError, match="body_pose"):
        fit_people(HW, people, smplx_model, K, initial=[None, {"body_pose": np.zeros(5)}])
    with pytest.raises(ValueError, match="starts"):
        FitConfig(starts=("world", "sideways"))
