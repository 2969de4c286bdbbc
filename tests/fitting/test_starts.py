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
from ehps.fitting.starts import best_rows, candidate_starts, mirror_leg_depth
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


def test_mirror_leg_depth_by_hand():
    world = torch.randn(2, 33, 3)
    out = mirror_leg_depth(world, "leg_r")
    ref = world.clone()
    for b in range(2):
        for j in (26, 28, 30, 32):  # right knee, ankle, heel, foot index about the right hip
            ref[b, j, 2] = world[b, 24, 2] - (world[b, j, 2] - world[b, 24, 2])
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(mirror_leg_depth(out, "leg_r"), world)  # an involution
    assert torch.equal(mirror_leg_depth(world, "leg_l")[:, 26:33:2], world[:, 26:33:2])


def test_leg_depth_starts(smplx_model):
    """A ``leg_l`` start solves the left leg from its depth-mirrored world landmarks: that leg
    reaches the other way in depth, and every other limb is the world start's."""
    people, _, _ = known_people(smplx_model, [41], K, face=False)
    adapter = make_adapter(smplx_model)
    maps = landmark_maps(smplx_model)
    objective = Objective(adapter, maps, build_targets(people, maps, HW, K, FitConfig()))
    v0 = adapter.init_variables(1, torch.float32, torch.device("cpu"))
    v, person, kind = candidate_starts(adapter, objective, v0, ("world", "leg_l", "leg_r"))
    assert person.tolist() == [0, 0, 0] and kind.tolist() == [0, 1, 2]
    pose = v["body_pose"]
    left_leg = [0, 3]  # body_pose rows of the left hip and knee (SMPL-X joints 1 and 4)
    others = [r for r in range(21) if r not in left_leg]
    torch.testing.assert_close(pose[1, others], pose[0, others])
    torch.testing.assert_close(v["global_orient"][1], v["global_orient"][0])
    assert (pose[1, left_leg] - pose[0, left_leg]).abs().max() > 0.1
    with torch.no_grad():
        j = adapter.forward({k: t[:2] for k, t in v.items()}).joints
    world = objective.targets.world[0]
    knee_depth = float(world[25, 2] - world[23, 2])  # left knee in front of / behind the hip
    assert abs(knee_depth) > 0.05  # the pose has a depth component to mirror
    fitted = j[:, 4, 2] - j[:, 1, 2]  # model left knee depth relative to its hip
    assert float(fitted[0]) * knee_depth > 0 and float(fitted[1]) * knee_depth < 0


def test_prior_start_picks_the_component_of_the_true_pose(smplx_model):
    """With exact landmarks, the ``"prior"`` start picks, of three component means (zero pose,
    the person's own pose, a mirrored copy of it), the person's own pose."""
    from ehps.fitting.mixture_prior import MixturePosePrior

    people, params, _ = known_people(smplx_model, [41, 42], K, face=False)
    adapter = make_adapter(smplx_model)
    maps = landmark_maps(smplx_model)
    v0 = adapter.init_variables(2, torch.float32, torch.device("cpu"))
    for i in range(2):
        own = params[i]["body_pose"].reshape(63).double().numpy()
        means = np.stack([np.zeros(63), own, -own])
        mixture = MixturePosePrior(np.full(3, 1 / 3), means, np.repeat(np.eye(63)[None], 3, 0))
        targets = build_targets(people[i:i + 1], maps, HW, K, FitConfig())
        objective = Objective(adapter, maps, targets, mixture)
        v, _, _ = candidate_starts(adapter, objective, {k: t[:1] for k, t in v0.items()},
                                   ("prior",))
        lim = objective.body_limits
        expected = torch.minimum(torch.maximum(params[i]["body_pose"].float(), lim[..., 0]),
                                 lim[..., 1])
        torch.testing.assert_close(v["body_pose"], expected.reshape(1, 21, 3))
    # without a mixture prior the start is the rest start
    objective = Objective(adapter, maps, build_targets(people, maps, HW, K, FitConfig()))
    a, _, _ = candidate_starts(adapter, objective, v0, ("prior",))
    b, _, _ = candidate_starts(adapter, objective, v0, ("rest",))
    torch.testing.assert_close(a["body_pose"], b["body_pose"])


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
