"""Joint limits and priors against analytic expectations (forward kinematics of one segment with
roma as the independent reference)."""

from __future__ import annotations

import math

import numpy as np
import roma
import torch

from ehps.fitting.priors import (
    body_limits,
    hand_limits,
    hand_prior_tables,
    limit_penalty,
    mirror_limits,
    pose_prior,
    self_penetration_penalty,
)

BODY = (
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist",
)  # fmt: skip


def _seg(aa: list[float], rest: list[float]) -> np.ndarray:
    """Direction of a segment with rest direction ``rest`` after the rotation ``aa``."""
    rot = roma.rotvec_to_rotmat(torch.tensor(aa, dtype=torch.float64))
    return (rot @ torch.tensor(rest, dtype=torch.float64)).numpy()


def _inside(limits: np.ndarray, joint: int, aa: list[float]) -> bool:
    pose = torch.zeros(1, limits.shape[0], 3)
    pose[0, joint] = torch.tensor(aa)
    return float(limit_penalty(pose, limits)[0]) == 0.0


def test_right_side_limits_mirror_left_side():
    lim = body_limits()
    for i, name in enumerate(BODY):
        if name.startswith("left_"):
            j = BODY.index(name.replace("left_", "right_"))
            np.testing.assert_allclose(lim[j], mirror_limits(lim[i]), atol=1e-7)
            # mirrored bounds are still ordered
            assert (lim[j][:, 0] <= lim[j][:, 1]).all()
    np.testing.assert_allclose(hand_limits("right"), mirror_limits(hand_limits("left")))


def test_knees_bend_backwards_only():
    lim = body_limits()
    for side in ("left", "right"):
        j = BODY.index(f"{side}_knee")
        bent = [math.radians(60), 0, 0]
        assert _inside(lim, j, bent)
        assert _seg(bent, [0, -1, 0])[2] < -0.5  # shin swings back (-z): a real knee bend
        hyper = [math.radians(-30), 0, 0]
        assert not _inside(lim, j, hyper)
        assert _seg(hyper, [0, -1, 0])[2] > 0.4  # the impossible, forward-bending knee


def test_elbows_bend_forwards_only():
    lim = body_limits()
    for side, sign in (("left", 1.0), ("right", -1.0)):
        j = BODY.index(f"{side}_elbow")
        flex = [0, -sign * math.radians(90), 0]
        assert _inside(lim, j, flex)
        fore = _seg(flex, [sign, 0, 0])  # forearm along +-x in the T-pose
        assert fore[2] > 0.9  # points forward (+z)
        backwards = [0, sign * math.radians(60), 0]
        assert not _inside(lim, j, backwards)
        assert _seg(backwards, [sign, 0, 0])[2] < -0.8


def test_fingers_curl_towards_the_palm_only():
    for side, sign in (("left", 1.0), ("right", -1.0)):
        lim = hand_limits(side)
        for joint in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11):  # index, middle, pinky, ring
            curl = [0, 0, -sign * math.radians(60)]
            assert _inside(lim, joint, curl)
            assert _seg(curl, [sign, 0, 0])[1] < -0.8  # palm faces down (-y) in the T-pose
            back = [0, 0, sign * math.radians(60)]
            assert not _inside(lim, joint, back)


def test_hip_flexion_lifts_the_thigh_forward_within_limits():
    lim = body_limits()
    j = BODY.index("left_hip")
    flex = [-math.radians(90), 0, 0]
    assert _inside(lim, j, flex)
    assert _seg(flex, [0, -1, 0])[2] > 0.9


def test_limit_penalty_value_is_squared_excess():
    lim = np.zeros((2, 3, 2), np.float32)
    lim[..., 0], lim[..., 1] = -0.5, 0.5
    pose = torch.tensor([[[0.7, 0.0, -0.1], [0.0, -0.9, 0.5]]])
    expected = 0.2**2 + 0.4**2
    assert abs(float(limit_penalty(pose, lim)[0]) - expected) < 1e-6


def test_pose_prior_matches_loop():
    torch.manual_seed(0)
    pose = torch.randn(3, 15, 3)
    _, mean, w = hand_prior_tables("left")
    got = pose_prior(pose, mean, w)
    for b in range(3):
        ref = sum(
            float(w[j, k]) * (float(pose[b, j, k]) - float(mean[j, k])) ** 2
            for j in range(15) for k in range(3)
        )
        assert abs(float(got[b]) - ref) < 1e-4 * max(1.0, ref)


def _tpose_joints() -> torch.Tensor:
    j = torch.zeros(55, 3)
    j[0] = torch.tensor([0.0, 0.0, 0.0])  # pelvis
    j[1], j[2] = torch.tensor([0.1, -0.1, 0]), torch.tensor([-0.1, -0.1, 0])  # hips
    j[4], j[5] = torch.tensor([0.1, -0.5, 0]), torch.tensor([-0.1, -0.5, 0])  # knees
    j[7], j[8] = torch.tensor([0.1, -0.9, 0]), torch.tensor([-0.1, -0.9, 0])  # ankles
    j[9], j[12], j[15] = torch.tensor([0, 0.3, 0]), torch.tensor([0, 0.5, 0]), torch.tensor(
        [0, 0.65, 0]
    )
    j[18], j[19] = torch.tensor([0.45, 0.45, 0]), torch.tensor([-0.45, 0.45, 0])  # elbows
    j[20], j[21] = torch.tensor([0.7, 0.45, 0]), torch.tensor([-0.7, 0.45, 0])  # wrists
    j[29], j[44] = torch.tensor([0.8, 0.45, 0]), torch.tensor([-0.8, 0.45, 0])  # fingers
    return j


def test_self_penetration_zero_for_tpose_and_positive_for_hand_in_torso():
    j = _tpose_joints()[None]
    assert float(self_penetration_penalty(j)[0]) == 0.0
    bad = j.clone()
    bad[0, 20] = torch.tensor([0.0, 0.1, 0.0])  # left wrist on the spine axis
    torso = 0.5
    expected = (0.20 * torso / torso) ** 2  # depth = radius, normalised by torso length
    got = float(self_penetration_penalty(bad)[0])
    assert abs(got - expected) < 1e-6
    # a hand resting on the belly surface (12 cm in front of the spine) costs nothing
    ok = j.clone()
    ok[0, 20] = torch.tensor([0.0, 0.1, 0.12])
    assert float(self_penetration_penalty(ok)[0]) == 0.0
