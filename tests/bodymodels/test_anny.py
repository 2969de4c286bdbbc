"""AnnyBody: frame, T-pose calibration, SMPL-X pose semantics, inputs, gradients, dtype, cache.

References: a loop-version SMPL-X forward kinematics written here, the official SMPL-X kinematic
tree (written out below), analytic rigid-motion expectations, and Anny run directly.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from ehps.bodymodels.anny import AnnyBody, load_anny
from ehps.bodymodels.anny_mapping import bone_drivers
from ehps.errors import InputError, MissingDependencyError

pytestmark = pytest.mark.embedded

# The official SMPL-X kintree_table parents (55 skeleton joints).
SMPLX_PARENTS_REF = [
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
]  # fmt: skip
J = {
    name: i
    for i, name in enumerate(
        ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
         "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
         "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
         "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf"]
        + [f"{s}_{f}{k}" for s in ("left", "right")
           for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)]
    )
}  # fmt: skip


def loop_fk(rotmats: np.ndarray) -> np.ndarray:
    """(B, 55, 3, 3) local -> global rotations, one joint at a time."""
    out = np.zeros_like(rotmats)
    for b in range(rotmats.shape[0]):
        for j, p in enumerate(SMPLX_PARENTS_REF):
            out[b, j] = rotmats[b, j] if p < 0 else out[b, p] @ rotmats[b, j]
    return out


def random_pose(batch: int, seed: int, scale: float = 0.5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def aa(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, 3, generator=g) * 2 - 1) * scale

    return {
        "global_orient": aa(batch) * 4,
        "body_pose": aa(batch, 21),
        "left_hand_pose": aa(batch, 15),
        "right_hand_pose": aa(batch, 15),
    }


def full_local_rotmats(pose: dict[str, torch.Tensor]) -> np.ndarray:
    batch = pose["body_pose"].shape[0]
    aa = np.zeros((batch, 55, 3))
    aa[:, 0] = pose["global_orient"].numpy()
    aa[:, 1:22] = pose["body_pose"].numpy()
    aa[:, 25:40] = pose["left_hand_pose"].numpy()
    aa[:, 40:55] = pose["right_hand_pose"].numpy()
    return Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(batch, 55, 3, 3)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


@pytest.fixture(scope="module")
def zero(anny_body):
    with torch.no_grad():
        return anny_body()


def test_shapes_and_smplx_frame(anny_body, zero):
    assert anny_body.name == "anny"
    assert zero.vertices.shape == (1, 13718, 3) and anny_body.num_vertices == 13718
    assert zero.joints.shape == (1, 55, 3)
    assert zero.joint_transforms.shape == (1, 55, 4, 4) and zero.rotmats.shape == (1, 55, 3, 3)
    assert anny_body.faces.dtype == torch.int64 and anny_body.faces.shape == (27420, 3)
    assert int(anny_body.faces.max()) == 13717 and int(anny_body.faces.min()) == 0
    assert anny_body.parents.tolist() == SMPLX_PARENTS_REF
    v = zero.vertices[0].numpy()
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.55 < height < 1.8  # y is up; default phenotype is ~1.63 m
    assert np.ptp(v[:, 2]) < 0.45  # thin along z (front-back)
    joints = zero.joints[0].numpy()
    head, pelvis = joints[J["head"]], joints[J["pelvis"]]
    assert head[1] - pelvis[1] > 0.5  # head above pelvis
    nose = anny_body.mediapipe_keypoints(zero)["body"][0, 0].numpy()
    assert nose[2] > head[2] + 0.08  # the person faces +z
    assert joints[J["left_shoulder"], 0] > 0.1 > -0.1 > joints[J["right_shoulder"], 0]  # x = left
    assert joints[J["left_index1"], 0] > 0.6
    assert "bone_poses" in zero.extras and zero.extras["bone_poses"].shape == (1, 104, 4, 4)


@pytest.mark.parametrize(
    "pheno", [None, [0.0, 1.0, 1.0, 1.0, 0.0, 1.0], [1.0, 0.2, 0.0, 0.0, 1, 0]]
)
def test_zero_pose_is_smplx_t_pose(anny_body, pheno):
    kwargs = {} if pheno is None else {"phenotype": torch.tensor([pheno])}
    with torch.no_grad():
        out = anny_body(**kwargs)
    j = out.joints[0].numpy()
    x, y, z = np.eye(3)

    def seg(a: str, b: str) -> np.ndarray:
        return j[J[b]] - j[J[a]]

    for s, sign in (("left", 1.0), ("right", -1.0)):
        assert angle_deg(seg(f"{s}_shoulder", f"{s}_elbow"), sign * x) < 1.0
        assert angle_deg(seg(f"{s}_elbow", f"{s}_wrist"), sign * x) < 1.0
        assert angle_deg(seg(f"{s}_hip", f"{s}_knee"), -y) < 1.0
        assert angle_deg(seg(f"{s}_knee", f"{s}_ankle"), -y) < 1.0
        for f in ("index", "middle", "ring", "pinky"):
            assert angle_deg(seg(f"{s}_wrist", f"{s}_middle1"), sign * x) < 1.0
            assert angle_deg(seg(f"{s}_{f}1", f"{s}_{f}2"), sign * x) < 1.0
            assert angle_deg(seg(f"{s}_{f}2", f"{s}_{f}3"), sign * x) < 1.0
        # Palm down: the index side is forward of the pinky side, knuckles level.
        across = seg(f"{s}_pinky1", f"{s}_index1")
        assert angle_deg(across * [0, 1, 1], z) < 10.0
        # The thumb points forward (and outwards), not back or up.
        thumb = seg(f"{s}_thumb1", f"{s}_thumb3")
        assert thumb[2] > 0.02 and sign * thumb[0] > 0.0
        # Feet forward, head up.
        assert angle_deg(seg(f"{s}_ankle", f"{s}_foot") * [1, 0, 1], z) < 20.0
    assert angle_deg(seg("neck", "head"), y) < 25.0
    assert angle_deg(seg("pelvis", "spine3"), y) < 15.0  # Anny's modelled posture is kept
    # Fingertips (mediapipe hand tips) continue the straight fingers.
    with torch.no_grad():
        kp = anny_body.mediapipe_keypoints(out)
    for side, sign in (("left_hand", 1.0), ("right_hand", -1.0)):
        h = kp[side][0].numpy()
        assert angle_deg(h[8] - h[7], sign * x) < 5.0 and angle_deg(h[12] - h[11], sign * x) < 5.0


def test_bone_directions_follow_smplx_forward_kinematics(anny_body):
    """Every bone's direction (head -> child head) = G_driver @ its zero-pose direction."""
    batch = 3
    pose = random_pose(batch, seed=1)
    pheno = torch.rand(batch, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        posed = anny_body(**pose, phenotype=pheno)
        rest = anny_body(phenotype=pheno)
    glob = loop_fk(full_local_rotmats(pose))
    heads = posed.extras["bone_poses"][..., :3, 3].numpy()
    heads0 = rest.extras["bone_poses"][..., :3, 3].numpy()
    parents = anny_body.model.bone_parents
    drivers = [J[d] for d in bone_drivers(anny_body.bone_labels)]
    pairs = [(p, c) for c, p in enumerate(parents) if p >= 0]
    assert len(pairs) == 103
    errors = []
    for p, c in pairs:
        d_posed = heads[:, c] - heads[:, p]
        d_rest = heads0[:, c] - heads0[:, p]
        expected = np.einsum("bij,bj->bi", glob[:, drivers[p]], d_rest)
        np.testing.assert_allclose(np.linalg.norm(d_posed, axis=-1),
                                   np.linalg.norm(d_rest, axis=-1), atol=1e-5)  # fmt: skip
        errors.append(np.abs(d_posed - expected).max())
    assert max(errors) < 2e-5
    # joint_transforms: rotation = SMPL-X FK global rotation, translation = joints.
    np.testing.assert_allclose(posed.joint_transforms[..., :3, :3].numpy(), glob, atol=1e-5)
    np.testing.assert_allclose(posed.joint_transforms[..., :3, 3].numpy(), posed.joints.numpy())
    np.testing.assert_allclose(posed.rotmats.numpy(), full_local_rotmats(pose), atol=1e-5)


def test_global_orient_about_pelvis_then_transl(anny_body):
    pose = random_pose(2, seed=3)
    orient = pose.pop("global_orient")
    transl = torch.tensor([[0.3, -1.0, 2.5], [-0.1, 0.2, 4.0]])
    with torch.no_grad():
        base = anny_body(**pose)
        moved = anny_body(**pose, global_orient=orient, transl=transl)
    rot = Rotation.from_rotvec(orient.numpy().astype(np.float64)).as_matrix()
    pelvis = base.joints[:, :1].numpy()
    for key in ("vertices", "joints"):
        ref = np.einsum("bij,bvj->bvi", rot, getattr(base, key).numpy() - pelvis)
        ref += pelvis + transl.numpy()[:, None]
        np.testing.assert_allclose(getattr(moved, key).numpy(), ref, atol=2e-5)
    np.testing.assert_allclose(moved.joints[:, 0].numpy(), pelvis[:, 0] + transl.numpy(), atol=1e-6)


def test_axis_angle_and_rotation_matrix_inputs_agree(anny_body):
    pose = random_pose(2, seed=4)
    mats = {k: torch.from_numpy(Rotation.from_rotvec(v.reshape(-1, 3).numpy().astype(np.float64))
                                .as_matrix()).float().reshape(*v.shape, 3)
            for k, v in pose.items()}  # fmt: skip
    flat = {k: v.reshape(2, -1) for k, v in pose.items()}
    with torch.no_grad():
        a = anny_body(**pose).vertices
        b = anny_body(**mats).vertices
        c = anny_body(**flat).vertices
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(a, c, atol=0, rtol=0)


def test_hand_pose_moves_only_its_hand(anny_body, zero):
    lh = torch.zeros(1, 15, 3)
    lh[0, :, 2] = -0.7  # curl every left finger joint
    with torch.no_grad():
        out = anny_body(left_hand_pose=lh)
    v0, v1 = zero.vertices[0].numpy(), out.vertices[0].numpy()
    moved = np.linalg.norm(v1 - v0, axis=1) > 1e-5
    assert moved.any() and (v0[moved, 0] > 0.6).all()  # the left hand starts at x ~ 0.64
    # Curled fingers: the index tip comes down (-y) towards the palm side.
    kp0, kp1 = anny_body.mediapipe_keypoints(zero), anny_body.mediapipe_keypoints(out)
    assert float(kp1["left_hand"][0, 8, 1] - kp0["left_hand"][0, 8, 1]) < -0.03


def test_jaw_pose_drives_jaw_open(anny_body):
    k = anny_body.facial_action_labels.index("jawOpen")
    half = 0.5 * anny_body.jaw_open_rad
    face = torch.zeros(1, 52)
    face[0, k] = 0.5
    with torch.no_grad():
        by_jaw = anny_body(jaw_pose=torch.tensor([[half, 0.0, 0.0]]))
        by_action = anny_body(facial_actions=face)
        closed = anny_body(jaw_pose=torch.tensor([[-0.3, 0.0, 0.0]]))
        rest = anny_body()
    assert float(by_jaw.extras["facial_actions"][0, k]) == pytest.approx(0.5, abs=1e-5)
    torch.testing.assert_close(by_jaw.vertices, by_action.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(closed.vertices, rest.vertices, atol=1e-6, rtol=0)
    foot = rest.vertices[0, :, 1].argmin()  # the lowest vertex: far from the face
    moved = (by_jaw.vertices - rest.vertices).norm(dim=-1)[0]
    assert float(moved.max()) > 0.01 and float(moved[foot]) < 1e-6
    # jaw_open_rad matches the geometry: jawOpen = 1 moves the chin (FaceMesh 152) about like a
    # rotation by jaw_open_rad about the jaw joint does, better than half or twice that angle.
    face = torch.zeros(1, 52)
    face[0, k] = 1.0
    with torch.no_grad():
        full = anny_body(facial_actions=face)
    c0 = anny_body.mediapipe_keypoints(rest)["face"][0, 152].double().numpy()
    c1 = anny_body.mediapipe_keypoints(full)["face"][0, 152].double().numpy()
    pivot = rest.joints[0, J["jaw"]].double().numpy()

    def miss(angle: float) -> float:
        pred = Rotation.from_rotvec([angle, 0, 0]).as_matrix() @ (c0 - pivot) + pivot
        return float(np.linalg.norm(pred - c1))

    a = anny_body.jaw_open_rad
    assert miss(a) < 0.7 * min(miss(0.5 * a), miss(2.0 * a)) and miss(a) < 0.015
    # The jaw joint rotates with the jaw pose in joint_transforms.
    rot = Rotation.from_rotvec([half, 0, 0]).as_matrix()
    np.testing.assert_allclose(by_jaw.joint_transforms[0, J["jaw"], :3, :3].numpy(), rot, atol=1e-6)


def test_phenotype_and_facial_actions_change_the_shape(anny_body):
    pheno = torch.full((2, 6), 0.5)
    pheno[0, 4], pheno[1, 4] = 0.0, 1.0  # height
    with torch.no_grad():
        out = anny_body(phenotype=pheno)
    heights = out.vertices[..., 1].amax(1) - out.vertices[..., 1].amin(1)
    assert float(heights[1] - heights[0]) > 0.1
    face = torch.zeros(1, 52)
    face[0, anny_body.facial_action_labels.index("mouthSmileLeft")] = 1.0
    with torch.no_grad():
        smile = anny_body(facial_actions=face)
        rest = anny_body()
    delta = (smile.vertices - rest.vertices).norm(dim=-1)[0]
    moved = delta > 1e-3
    assert moved.any() and float(rest.vertices[0, moved, 1].min()) > 0.55  # only the face moves


def test_gradients_flow(anny_body):
    pose = {k: v.requires_grad_() for k, v in random_pose(2, seed=5, scale=0.3).items()}
    pheno = torch.full((2, 6), 0.4, requires_grad=True)
    face = torch.full((2, 52), 0.1, requires_grad=True)
    jaw = torch.tensor([[0.1, 0.0, 0.0], [0.2, 0.0, 0.0]], requires_grad=True)
    transl = torch.zeros(2, 3, requires_grad=True)
    out = anny_body(**pose, phenotype=pheno, facial_actions=face, jaw_pose=jaw, transl=transl)
    kp = anny_body.mediapipe_keypoints(out)
    loss = out.vertices.square().mean() + out.joints.square().mean() + kp["face"].square().mean()
    loss.backward()
    for name, t in [*pose.items(), ("phenotype", pheno), ("facial_actions", face),
                    ("jaw_pose", jaw), ("transl", transl)]:  # fmt: skip
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
        assert float(t.grad.abs().sum()) > 0, name


def test_float64_and_cached_factory(anny_body):
    model64 = load_anny(anny_body.cache_dir, dtype=torch.float64)
    assert load_anny(anny_body.cache_dir, dtype=torch.float64) is model64
    pose = random_pose(2, seed=6)
    with torch.no_grad():
        out64 = model64(**{k: v.double() for k, v in pose.items()})
        out32 = anny_body(**pose)
    assert out64.vertices.dtype == torch.float64
    torch.testing.assert_close(out64.vertices.float(), out32.vertices, atol=5e-5, rtol=0)
    torch.testing.assert_close(out64.joints.float(), out32.joints, atol=5e-5, rtol=0)


def test_cache_is_reused_without_rebuilding(anny_body):
    files = sorted(anny_body.cache_dir.rglob("*.safetensors"))
    assert any(p.name.startswith("build_compact_model_data") for p in files)
    before = {p: p.stat().st_mtime_ns for p in files}
    again = AnnyBody(anny_body.cache_dir)
    after = {p: p.stat().st_mtime_ns for p in sorted(anny_body.cache_dir.rglob("*.safetensors"))}
    assert after == before  # nothing rebuilt, nothing added
    with torch.no_grad():
        torch.testing.assert_close(again().vertices, anny_body().vertices)


def test_cache_dir_resolution(monkeypatch, tmp_path):
    from ehps.bodymodels.anny import resolve_anny_cache_dir

    monkeypatch.setenv("ANNY_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("EHPS_CACHE_DIR", str(tmp_path / "ehps"))
    assert resolve_anny_cache_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert resolve_anny_cache_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("ANNY_CACHE_DIR")
    assert resolve_anny_cache_dir() == (tmp_path / "ehps" / "anny").resolve()


def test_bad_inputs_raise_clear_errors(anny_body):
    with pytest.raises(InputError, match="body_pose"):
        anny_body(body_pose=torch.zeros(1, 20, 3))
    with pytest.raises(InputError, match="batch size"):
        anny_body(body_pose=torch.zeros(2, 21, 3), global_orient=torch.zeros(3, 3, 3))
    with pytest.raises(InputError, match="phenotype"):
        anny_body(phenotype=torch.zeros(1, 5))
    with pytest.raises(InputError, match="torch.Tensor"):
        anny_body(transl=[0.0, 0.0, 0.0])


def test_missing_anny_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "anny", None)
    with pytest.raises(MissingDependencyError, match=r"ehps\[embedded\]|setup.sh"):
        AnnyBody(tmp_path)


def test_pose_transfer_is_consistent_for_a_known_pose(anny_body):
    """A textbook pose: left elbow bent 90 degrees forward (SMPL-X: -pi/2 about y)."""
    bp = torch.zeros(1, 21, 3)
    bp[0, J["left_elbow"] - 1, 1] = -math.pi / 2
    with torch.no_grad():
        out = anny_body(body_pose=bp)
    j = out.joints[0].numpy()
    forearm = j[J["left_wrist"]] - j[J["left_elbow"]]
    assert angle_deg(forearm, np.array([0.0, 0.0, 1.0])) < 1.0


def test_inference_mode_first_then_gradients(anny_body):
    """roma caches a constant on first use: an inference-mode forward first must not break later
    forwards with gradients."""
    import roma.mappings

    roma.mappings._cached_horn_map.cache_clear()
    with torch.inference_mode():
        anny_body(body_pose=torch.zeros(1, 21, 3))
    pheno = torch.full((1, 6), 0.5, requires_grad=True)  # the rest pose then needs gradients
    anny_body(phenotype=pheno).vertices.sum().backward()
    assert pheno.grad is not None


def test_forearm_twist_bone_takes_half_the_wrist_twist(anny_body, zero):
    theta = 1.2
    bp = torch.zeros(1, 21, 3)
    bp[0, J["left_wrist"] - 1, 0] = theta  # pronation/supination: about the forearm (x) axis
    with torch.no_grad():
        out = anny_body(body_pose=bp)
    k = anny_body.bone_labels.index("lowerarm02.L")
    rel = out.extras["bone_poses"][0, k, :3, :3] @ zero.extras["bone_poses"][0, k, :3, :3].T
    rotvec = Rotation.from_matrix(rel.double().numpy()).as_rotvec()
    assert np.linalg.norm(rotvec) == pytest.approx(theta / 2, abs=1e-3)
    assert angle_deg(rotvec, np.array([1.0, 0.0, 0.0])) < 5.0
    hand = anny_body.bone_labels.index("wrist.L")
    rel = out.extras["bone_poses"][0, hand, :3, :3] @ zero.extras["bone_poses"][0, hand, :3, :3].T
    np.testing.assert_allclose(Rotation.from_matrix(rel.double().numpy()).as_rotvec(),
                               [theta, 0.0, 0.0], atol=1e-4)  # fmt: skip


def test_satisfies_the_body_model_protocol(anny_body):
    from ehps.bodymodels.output import BodyModel

    assert isinstance(anny_body, BodyModel)
    assert len(anny_body.facial_action_labels) == 52 and "jawOpen" in anny_body.facial_action_labels
    assert anny_body.phenotype_labels == (
        "gender", "age", "muscle", "weight", "height", "proportions",
    )  # fmt: skip
