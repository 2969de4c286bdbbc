"""The synthetic walk's truth-to-estimate matchers (benchmarks/video_speed.py's figures)."""

from __future__ import annotations

import itertools

import numpy as np

from ehps.fitting.synthetic_video import match_people, match_people_joints, project
from ehps.geometry.camera import Intrinsics

K = Intrinsics.from_image_size(640, 480)


def _person(x: float, z: float, rng: np.random.Generator) -> np.ndarray:
    """(55, 3) joints of a standing 1.7 m person at lateral ``x``, depth ``z`` (camera, m)."""
    j = np.zeros((55, 3))
    j[:, 1] = np.linspace(-0.9, 0.8, 55)  # y down: head at -0.9, feet at 0.8
    j[:, 0] = x + rng.normal(0, 0.12, 55)
    j[:, 2] = z + rng.normal(0, 0.05, 55)
    return j


def _brute_force(cost: np.ndarray, gate: float) -> list[int]:
    """Cheapest assignment of rows to distinct columns, by trying every permutation."""
    p_n, n_n = cost.shape
    best, best_c = None, np.inf
    for cols in itertools.permutations(range(n_n), min(p_n, n_n)):
        c = sum(cost[r, cols[r]] for r in range(len(cols)))
        if c < best_c:
            best, best_c = cols, c
    out = [-1] * p_n
    for r, c in enumerate(best or ()):
        if cost[r, c] <= gate:
            out[r] = c
    return out


def test_joint_matcher_equals_brute_force_assignment():
    rng = np.random.default_rng(0)
    truth = np.stack([_person(x, 3.0 + 0.3 * i, rng) for i, x in enumerate((-0.8, 0.0, 0.7))])
    est = truth[[2, 0, 1]] + rng.normal(0, 0.02, (3, 55, 3))
    est = np.concatenate([est, _person(1.5, 4.0, rng)[None]])  # an extra estimate
    got = match_people_joints(est, K, truth, K)
    assert got == [1, 2, 0]
    uv_t, uv_e = project(truth[:, :22], K), project(est[:, :22], K)
    height = np.ptp(uv_t[..., 1], axis=1)
    cost = np.median(np.linalg.norm(uv_t[:, None] - uv_e[None], axis=-1), -1) / height[:, None]
    assert got == _brute_force(cost, 0.25)


def test_joint_matcher_keeps_a_half_hidden_person_apart():
    """Two people whose pelvises fall in one box: the box test gives both to it, the joint
    matcher gives each their own estimate (or none)."""
    rng = np.random.default_rng(1)
    front, back = _person(0.0, 3.0, rng), _person(0.15, 4.5, rng)
    truth = np.stack([front, back])
    uv = project(truth, K)
    box_front = np.r_[uv[0].min(0) - 10, np.ptp(uv[0], 0) + 20]  # xywh around the front one
    uv_back = uv[1]
    box_back = np.r_[uv_back.min(0), np.ptp(uv_back, 0)]
    boxes = np.stack([box_front, box_back])
    # the back pelvis is inside the front box too, and nearer its centre
    assert match_people(boxes, truth, K) == [0, 0]
    est = truth + rng.normal(0, 0.01, truth.shape)
    assert match_people_joints(est, K, truth, K) == [0, 1]
    # only the front person estimated: the back one is a miss, not a second match
    assert match_people_joints(est[:1], K, truth, K) == [0, -1]


def test_joint_matcher_gate_and_empty():
    rng = np.random.default_rng(2)
    truth = _person(0.0, 3.0, rng)[None]
    far = _person(1.2, 3.0, rng)[None]  # ~ a body width away: more than 0.25 of the height
    assert match_people_joints(far, K, truth, K) == [-1]
    assert match_people_joints(np.zeros((0, 55, 3)), K, truth, K) == [-1]
