"""The synthetic walks' ground truth is a physically plausible walk on the floor ``y = 0``,
checked on the posed vertices and joints of both body models (Anny and a synthetic SMPL-X),
independently of the generator's own plan: planted feet do not move, no vertex goes under the
floor, the pelvis moves smoothly, the contact labels match the geometry, and the walk goes along
its heading."""

from __future__ import annotations

import numpy as np
import pytest

N_FRAMES, FPS = 50, 25.0
HEADING = -110.0
# How far the soles' vertices may move or sink while the skeleton's foot is planted: Anny's skin
# follows its bones (linear blend skinning only), SMPL-X adds pose correctives that reshape the
# foot as the knee and ankle bend (about 1.5 mm on the synthetic model's made-up correctives).
SKIN_TOL_M = {"anny": 1e-5, "smplx": 2e-3}


def _walker(bm, shape: dict[str, np.ndarray], phase: float):
    from ehps.world.synthetic import place_walker, walk_pose

    sh = {k: np.repeat(v[None], N_FRAMES, 0) for k, v in shape.items()}
    return place_walker(bm, walk_pose(N_FRAMES, FPS, phase=phase), (0.4, -0.7), HEADING, sh,
                        keep_vertices=True)


@pytest.fixture(scope="module", params=["anny", "smplx"])
def case(request, tmp_path_factory):
    """(body model, walker, sole vertex sets (left, right), skin tolerance in metres)."""
    import torch

    if request.param == "anny":
        from ehps.bodymodels.anny import load_anny

        bm, shape = load_anny(), {"phenotype": np.full(6, 0.5)}
    else:
        from ehps.bodymodels.smplx import load_smplx
        from ehps.bodymodels.synthetic import write_synthetic_smplx

        bm = load_smplx(write_synthetic_smplx(tmp_path_factory.mktemp("smplx"), seed=0,
                                              write_pkl=False))
        shape = {"betas": np.zeros(10)}
    with torch.inference_mode():
        rest = bm(**{k: torch.as_tensor(v, dtype=torch.float32)[None] for k, v in shape.items()})
    verts = rest.vertices[0].double().numpy()
    # The soles: rest vertices within 2 cm of the lowest one, split by side (+x = the left).
    sole = verts[:, 1] < verts[:, 1].min() + 0.02
    sets = (np.flatnonzero(sole & (verts[:, 0] > 0)), np.flatnonzero(sole & (verts[:, 0] < 0)))
    assert min(len(s) for s in sets) > 20
    return bm, _walker(bm, shape, phase=0.3), sets, SKIN_TOL_M[request.param]


def _moved(points: np.ndarray) -> np.ndarray:
    """(T,) the largest displacement of (T, N, 3) points to the next frame (the last frame
    repeats the one before), metres."""
    d = np.linalg.norm(np.diff(points, axis=0), axis=-1).max(1)
    return np.concatenate([d, d[-1:]])


def _foot_geometry(walker, sets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 2) each: the lowest sole height (m), the largest sole vertex displacement to the
    next frame (m) and that of the ankle and toe joints (m)."""
    v, j = walker.vertices, walker.joints
    height = np.stack([v[:, s, 1].min(1) for s in sets], 1)
    skin = np.stack([_moved(v[:, s]) for s in sets], 1)
    bones = np.stack([_moved(j[:, jj]) for jj in ([7, 10], [8, 11])], 1)
    return height, skin, bones


def test_planted_feet_do_not_move_and_stand_on_the_floor(case):
    _, walker, sets, tol = case
    height, skin, bones = _foot_geometry(walker, sets)
    contact = walker.contact
    both = contact[:-1] & contact[1:]  # consecutive contact frames of the same foot
    assert both.sum() > 40
    assert bones[:-1][both].max() < 1e-5  # < 0.01 mm per frame
    assert skin[:-1][both].max() < tol
    assert np.abs(height[contact]).max() < max(tol, 5e-4)  # flat on the floor
    assert contact.any(1).all()  # walking: always a foot on the floor
    ds = contact.all(1)[:-1] & contact.all(1)[1:]  # double supports: both feet planted
    assert ds.sum() >= 2 and bones[:-1][ds].max() < 1e-5


def test_nothing_goes_under_the_floor_and_the_swing_foot_lifts(case):
    _, walker, sets, tol = case
    assert walker.vertices[..., 1].min() > -max(tol, 5e-4)
    assert np.abs(walker.sole).max() < max(tol, 5e-4)  # the lowest vertex: a planted sole
    height, _, _ = _foot_geometry(walker, sets)
    for f in (0, 1):  # each swing lifts its sole at least 3 cm
        swing = ~walker.contact[:, f]
        assert swing.any() and height[swing, f].max() > 0.03


def test_contact_labels_match_the_geometry(case):
    """A foot is labelled in contact exactly when its sole is on the floor and its ankle and toe
    joints do not move (< 0.01 mm to a neighbour frame), except at the frames next to a label
    switch (the swing starts and ends with zero speed)."""
    _, walker, sets, tol = case
    height, _, bones = _foot_geometry(walker, sets)
    still = (bones < 1e-5) | (np.concatenate([bones[:1], bones[:-1]]) < 1e-5)
    geo = (height < max(tol, 1e-3)) & still
    c = walker.contact
    switch = np.zeros_like(c)
    switch[1:] |= c[1:] != c[:-1]
    switch[:-1] |= c[1:] != c[:-1]
    assert (geo[c]).all()
    assert (geo == c)[~switch].all()
    assert set(np.unique(walker.stance)) == {0, 1}
    assert c[np.arange(N_FRAMES), walker.stance].all()  # the carrying foot is planted


def test_pelvis_moves_smoothly_along_the_heading(case):
    _, walker, _, _ = case
    pelvis = walker.joints[:, 0]
    step = np.linalg.norm(np.diff(pelvis, axis=0), axis=1)
    acc = np.linalg.norm(np.diff(pelvis, 2, axis=0), axis=1)
    assert step.max() < 1.2 * np.median(step)  # no jumps
    assert acc.max() < 0.01  # m / frame^2
    assert 0.3 < pelvis[:, 1].min() and np.ptp(pelvis[:, 1]) < 0.07
    d = pelvis[-1] - pelvis[0]
    heading = np.degrees(np.arctan2(d[0], d[2]))
    assert abs((heading - HEADING + 180) % 360 - 180) < 2.0
    # The knees bend forward: each knee is in front of its hip-ankle line.
    fwd = np.array([np.sin(np.radians(HEADING)), 0.0, np.cos(np.radians(HEADING))])
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        j = walker.joints
        mid = j[:, hip] + (j[:, ankle] - j[:, hip]) * (
            ((j[:, knee] - j[:, hip]) * (j[:, ankle] - j[:, hip])).sum(1)
            / (np.linalg.norm(j[:, ankle] - j[:, hip], axis=1) ** 2))[:, None]
        assert ((j[:, knee] - mid) @ fwd > 0).all()


def test_the_walk_is_deterministic(case):
    bm, walker, _, _ = case
    shape = {k: v[0] for k, v in walker.params.items() if k in ("phenotype", "betas")}
    again = _walker(bm, shape, phase=0.3)
    np.testing.assert_array_equal(again.joints, walker.joints)
