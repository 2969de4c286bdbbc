"""Exactness of the animated exports: each file is read back by an independent reader
(pygltflib + hand decoding for GLB, a parser written here for BVH), evaluated with forward
kinematics written for the test, and compared with the body model's own output at every frame.

The track: 100 frames at 25 fps of random rotations on every joint (angles up to 179.9 degrees,
several within 0.5 degrees of a half turn), random translation, expression / facial actions, a
random world transform; both body models (Anny, and the synthetic SMPL-X model).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from anim_readers import parse_bvh, read_accessor, read_glb

T, FPS = 100, 25.0
ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "validate_gltf.mjs"


def _random_rotvecs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    axis = rng.normal(size=(*shape, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0.0, np.radians(179.9), size=shape)
    near = rng.random(size=shape) < 0.1
    angle[near] = np.radians(rng.uniform(179.5, 179.9, size=int(near.sum())))
    return axis * angle[..., None]


def _rigid(rng: np.random.Generator) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    m = np.eye(4)
    m[:3, :3] = Rotation.from_rotvec(_random_rotvecs(rng, ())).as_matrix()
    m[:3, 3] = rng.normal(size=3)
    return m


def _track(name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = {
        "global_orient": _random_rotvecs(rng, (T, 1)),
        "body_pose": _random_rotvecs(rng, (T, 21)),
        "left_hand_pose": _random_rotvecs(rng, (T, 15)),
        "right_hand_pose": _random_rotvecs(rng, (T, 15)),
        "jaw_pose": _random_rotvecs(rng, (T, 1)) * 0.2,
        "transl": rng.normal(size=(T, 3)),
    }
    if name == "smplx":
        p["leye_pose"] = _random_rotvecs(rng, (T, 1))
        p["reye_pose"] = _random_rotvecs(rng, (T, 1))
        p["expression"] = rng.normal(size=(T, 10))
        p["betas"] = np.tile(rng.normal(size=(1, 10)), (T, 1))
    else:
        p["facial_actions"] = rng.uniform(size=(T, 52))
        p["phenotype"] = np.tile(rng.uniform(0.2, 0.8, size=(1, 6)), (T, 1))
    return p


def _reference(bm, params: dict[str, np.ndarray], w: np.ndarray) -> dict[str, np.ndarray]:
    """The body model's own output for the track, moved by ``w``."""
    inputs = {k: torch.as_tensor(v, dtype=torch.float32).reshape(T, -1) for k, v in params.items()}
    with torch.inference_mode():
        out = bm(**inputs)
    joints = out.joints[:, :55].double().numpy() @ w[:3, :3].T + w[:3, 3]
    res = {"joints": joints, "vertices": out.vertices.double().numpy() @ w[:3, :3].T + w[:3, 3]}
    if "joints_rest" in out.extras:
        res["joints_rest"] = out.extras["joints_rest"].double().numpy()
    if "bone_poses" in out.extras:
        res["bones"] = out.extras["bone_poses"][..., :3, 3].double().numpy() @ w[:3, :3].T + w[
            :3, 3]
        res["face"] = out.extras["facial_actions"].numpy()
    return res


_CACHE: dict[str, dict] = {}


@pytest.fixture(scope="module", params=["anny", "smplx"])
def exported(request, tmp_path_factory, synthetic_smplx_dir):
    return _export(request.param, tmp_path_factory, synthetic_smplx_dir)


@pytest.fixture(scope="module")
def anny_exported(tmp_path_factory, synthetic_smplx_dir):
    return _export("anny", tmp_path_factory, synthetic_smplx_dir)


def _export(name: str, tmp_path_factory, synthetic_smplx_dir) -> dict:
    from ehps.export.anim.bvh import write_bvh
    from ehps.export.anim.gltf import Character, write_glb
    from ehps.export.anim.rig import build_rig, mean_shape, pose_clip

    if name in _CACHE:
        return _CACHE[name]
    if name == "anny":
        from ehps.bodymodels.anny import load_anny

        bm = load_anny()
    else:
        from ehps.bodymodels.smplx import load_smplx

        bm = load_smplx(synthetic_smplx_dir)
    rng = np.random.default_rng(16)
    params = _track(name, rng)
    w = _rigid(rng)
    frames = np.arange(T) + 7
    rig = build_rig(bm, mean_shape(name, params, np.ones(T, bool)))
    clip = pose_clip(bm, rig, params, frames, FPS, world_from_model=w)
    out = tmp_path_factory.mktemp(f"anim_{name}")
    glb = write_glb(out / "track.glb", [Character(rig, clip, "track_00")])
    bvh = write_bvh(out / "track.bvh", rig, clip)
    z_up = np.eye(4)
    z_up[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    clip_z = pose_clip(bm, rig, params, frames, FPS, world_from_model=z_up @ w)
    bvh_z = write_bvh(out / "track_z.bvh", rig, clip_z, rest_rotation=z_up[:3, :3], unit="cm")
    ref = _reference(bm, params, w)
    _CACHE[name] = {"name": name, "rig": rig, "glb": glb, "bvh": bvh, "bvh_z": bvh_z, "ref": ref,
                    "z_up": z_up[:3, :3]}
    return _CACHE[name]


def test_glb_joints_match_every_frame(exported):
    scene = read_glb(exported["glb"])
    rig, ref = exported["rig"], exported["ref"]
    nodes = [scene.node(n) for n in rig.joint_names]
    world = scene.world_all(np.arange(T) / FPS)[:, nodes]
    pos = world[..., :3, 3]
    marker_errs = []
    if exported["name"] == "anny":
        errs = np.linalg.norm(pos - ref["bones"], axis=-1).max(1)
        marker_errs = np.linalg.norm(rig.markers(world) - ref["joints"], axis=-1).max(1)
    else:
        errs = np.linalg.norm(pos - ref["joints"], axis=-1).max(1)
    assert max(errs) < 1e-3, f"GLB joint error {max(errs) * 1000:.3f} mm"
    assert max(errs) < 1e-4  # in fact float32 rounding of the model and the file
    if len(marker_errs):
        assert max(marker_errs) < 1e-3


def test_glb_times_and_morph_weights(exported):
    scene = read_glb(exported["glb"])
    gl = scene.gltf
    mesh_node = next(i for i, n in enumerate(gl.nodes) if n.mesh is not None and n.skin is not None)
    times, values, interp = scene.channels[(mesh_node, "weights")]
    np.testing.assert_allclose(times, np.arange(T) / FPS, atol=1e-6)
    assert interp == "LINEAR"
    weights = values.reshape(T, -1)
    if exported["name"] == "anny":
        np.testing.assert_allclose(weights, exported["ref"]["face"], atol=1e-6)
        assert gl.meshes[0].extras["targetNames"][24] == "jawOpen"
    else:
        assert weights.shape == (T, 10)


def test_glb_skinned_mesh_matches_anny(anny_exported):
    """Anny has no pose correctives: glTF skinning (IBMs, weights, morphs) must give its mesh.
    (SMPL-X meshes differ by the pose correctives, which glTF cannot carry.)"""
    exported = anny_exported
    scene = read_glb(exported["glb"])
    gl, blob = scene.gltf, scene.blob
    node = next(i for i, n in enumerate(gl.nodes) if n.skin is not None)
    prim = gl.meshes[gl.nodes[node].mesh].primitives[0]
    skin = gl.skins[gl.nodes[node].skin]
    ibm = read_accessor(gl, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    base = read_accessor(gl, blob, prim.attributes.POSITION).astype(np.float64)
    deltas = np.stack([read_accessor(gl, blob, t["POSITION"]) for t in prim.targets])
    sets = [(read_accessor(gl, blob, getattr(prim.attributes, f"JOINTS_{s}")),
             read_accessor(gl, blob, getattr(prim.attributes, f"WEIGHTS_{s}")))
            for s in range(8) if getattr(prim.attributes, f"JOINTS_{s}", None) is not None]
    jidx = np.concatenate([j for j, _ in sets], 1).astype(np.int64)
    wts = np.concatenate([w for _, w in sets], 1).astype(np.float64)
    np.testing.assert_allclose(wts.sum(1), 1.0, atol=1e-6)
    for k in (0, 57, T - 1):
        world = scene.world(k / FPS)
        mats = world[skin.joints] @ ibm
        morph = scene.sample(node, "weights", k / FPS, None)
        rest = base + np.einsum("m,mvc->vc", morph, deltas)
        blend = np.einsum("vk,vkij->vij", wts, mats[jidx])
        verts = (blend[:, :3, :3] @ rest[..., None])[..., 0] + blend[:, :3, 3]
        err = np.abs(verts - exported["ref"]["vertices"][k]).max()
        assert err < 1e-4, f"frame {k}: mesh error {err * 1000:.3f} mm"


def _bvh_errors(path: Path, names: tuple[str, ...], ref: np.ndarray, scale: float) -> np.ndarray:
    """(J,) largest error of each joint over the frames (metres), in ``names`` order."""
    bvh = parse_bvh(path)
    assert sorted(bvh.names()) == sorted(names)
    order = [bvh.names().index(n) for n in names]
    assert abs(bvh.frame_time - 1.0 / FPS) < 1e-7
    assert bvh.motion.shape[0] == T
    assert any("no face" in c for c in bvh.header_comments)
    pos, _ = bvh.world_all()
    return np.linalg.norm(pos[:, order] / scale - ref, axis=-1).max(0)


def test_bvh_joints_match_every_frame(exported):
    """Every joint within 1 mm, except SMPL-X's jaw: its rest position follows the expression
    in SMPL-X, and BVH keeps one offset; its error is bounded by that movement (measured here
    from the model's own rest joints)."""
    rig, ref = exported["rig"], exported["ref"]
    target = ref["bones"] if exported["name"] == "anny" else ref["joints"]
    loose = np.zeros(rig.num_joints, bool)
    bound = 0.0
    if exported["name"] == "smplx":
        rest = exported["ref"]["joints_rest"]
        jaw_off = rest[:, 22] - rest[:, 15]
        bound = float(np.linalg.norm(jaw_off - jaw_off.mean(0), axis=-1).max())
        loose[22] = True
        assert 0 < bound < 0.01  # the expression moves SMPL-X's jaw joint by millimetres
    for path, rot, scale in ((exported["bvh"], np.eye(3), 1.0),
                             (exported["bvh_z"], exported["z_up"], 100.0)):
        err = _bvh_errors(path, rig.joint_names, target @ rot.T, scale)
        assert err[~loose].max() < 1e-3, f"{path.name}: joint error {err.max() * 1000:.3f} mm"
        assert err[loose].max(initial=0.0) <= bound + 1e-3


def test_bvh_root_rest_pose(exported):
    bvh = parse_bvh(exported["bvh"])
    rest = np.zeros((len(bvh.joints), 3))
    for i, j in enumerate(bvh.joints):
        rest[i] = j.offset + (rest[j.parent] if j.parent >= 0 else 0)
    names = exported["rig"].joint_names
    order = [bvh.names().index(n) for n in names]
    kept = [c for c in bvh.header_comments if "mean offset kept" in c]
    moved = {n.strip() for c in kept for n in c[1:].split(":")[0].split(",")}
    assert moved == ({"jaw"} if exported["name"] == "smplx" else set())
    same = [i for i, n in enumerate(names) if n not in moved]
    np.testing.assert_allclose(rest[order][same], exported["rig"].bind[same, :3, 3],
                               atol=1e-5)  # 6 decimals


def _validator_ready() -> bool:
    return shutil.which("node") is not None and (
        ROOT / "web" / "node_modules" / "gltf-validator").is_dir()


@pytest.mark.skipif(not _validator_ready(), reason="glTF-Validator not installed: run "
                    "./setup.sh --dev (needs npm)")
def test_glb_passes_khronos_validator(exported):
    out = subprocess.run(["node", str(VALIDATOR), str(exported["glb"])], capture_output=True,
                         text=True, check=True, timeout=120)
    report = json.loads(out.stdout)[0]
    issues = report["issues"]
    assert issues["numErrors"] == 0, issues["messages"][:5]
    assert issues["numWarnings"] == 0, issues["messages"][:5]
    info = report["info"]
    assert info["animationCount"] == 1 and info["hasSkins"] and info["hasMorphTargets"]
