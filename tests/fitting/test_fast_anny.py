"""The fitting's fast paths against the reference Anny forward: the landmark view (sliced mesh +
memoised rest model) and the mesh-free skeleton surrogate."""

from __future__ import annotations

import pytest
import torch

from ehps.fitting.adapters import make_adapter
from ehps.fitting.fast_anny import landmark_view
from ehps.fitting.landmarks import landmark_maps, model_keypoints
from ehps.fitting.skeleton import SkeletonSurrogate

pytestmark = pytest.mark.embedded


def _random_params(batch: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "global_orient": torch.randn(batch, 3, generator=g) * 0.5,
        "body_pose": torch.randn(batch, 21, 3, generator=g) * 0.25,
        "left_hand_pose": torch.randn(batch, 15, 3, generator=g) * 0.3,
        "right_hand_pose": torch.randn(batch, 15, 3, generator=g) * 0.3,
        "phenotype": torch.rand(batch, 6, generator=g),
        "facial_actions": torch.rand(batch, 52, generator=g) * 0.6,
        "transl": torch.randn(batch, 3, generator=g),
    }


def test_view_matches_full_model(anny_body):
    view = landmark_view(anny_body)
    assert landmark_view(anny_body) is view  # cached on the instance
    assert len(view.subset_vertex_ids) < anny_body.num_vertices
    for seed in (0, 1):  # the second call hits the rest-model memo
        p = _random_params(3, seed)
        p["phenotype"] = _random_params(3, 0)["phenotype"]
        with torch.no_grad():
            full = anny_body(**p)
            fast = view(**p)
        torch.testing.assert_close(fast.joints, full.joints, atol=2e-6, rtol=0)
        torch.testing.assert_close(
            fast.vertices, full.vertices[:, torch.as_tensor(view.subset_vertex_ids)],
            atol=2e-6, rtol=0,
        )
        kf = anny_body.mediapipe_keypoints(full)
        kv = view.mediapipe_keypoints(fast)
        for part in kf:
            torch.testing.assert_close(kv[part], kf[part], atol=2e-6, rtol=0)
    memo = view.model.__dict__["get_rest_model"].__self__
    assert memo.hits >= 1


def test_view_memo_follows_a_new_phenotype(anny_body):
    view = landmark_view(anny_body)
    for seed in (5, 6):  # two different phenotypes in a row: no stale rest model
        p = _random_params(2, seed)
        with torch.no_grad():
            torch.testing.assert_close(view(**p).joints, anny_body(**p).joints, atol=2e-6,
                                       rtol=0)


def test_view_gradients_match_full_model(anny_body):
    view = landmark_view(anny_body)
    p = _random_params(2, 3)
    grads = []
    for model in (anny_body, view):
        q = {k: t.clone().requires_grad_(k in ("body_pose", "facial_actions", "phenotype"))
             for k, t in p.items()}
        out = model(**q)
        kp = model.mediapipe_keypoints(out)
        loss = sum((v * torch.linspace(0.5, 1.5, v.shape[1])[None, :, None]).sum()
                   for v in kp.values())
        loss.backward()
        grads.append([q[k].grad for k in ("body_pose", "facial_actions", "phenotype")])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


def test_skeleton_surrogate_joints_are_exact_and_landmarks_close(anny_body):
    adapter = make_adapter(anny_body)
    maps = landmark_maps(anny_body)
    v = adapter.init_variables(2, torch.float32, torch.device("cpu"))
    p = _random_params(2, 4)
    v.update({k: p[k] for k in ("global_orient", "body_pose", "left_hand_pose",
                                "right_hand_pose", "transl")})
    v["shape"] = p["phenotype"]
    sur = SkeletonSurrogate(adapter, maps, v)
    with torch.no_grad():
        joints, kp = sur(v)
        out = adapter.forward(v)
        ref = model_keypoints(adapter.fit_model, out, maps)
    # the skeleton is SMPL-X forward kinematics on the zero-pose skeleton: exact
    torch.testing.assert_close(joints, out.joints[:, :55], atol=1e-5, rtol=0)
    # hand landmarks at joints are exact; tips and surface points are rigid approximations
    for side in ("left_hand", "right_hand"):
        at_joints = [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19]
        torch.testing.assert_close(kp[side][:, at_joints], ref[side][:, at_joints], atol=1e-5,
                                   rtol=0)
        assert (kp[side] - ref[side]).norm(dim=-1).max() < 0.01
    body_err = (kp["body"] - ref["body"]).norm(dim=-1)
    assert body_err.median() < 0.01 and body_err.max() < 0.05
    assert (kp["face"] - ref["face"]).norm(dim=-1).median() < 0.01
