"""The world step on synthetic sequences with ground truth: two Anny walkers on a known floor,
seen by a camera 2.5 m high pitched 20 degrees down, written as ``ehps infer`` would (through its
own TrackStore) with estimator-like noise; then solved, written and exported."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.world.sequence import WorldOptions, solve_world

N_FRAMES = 50
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def anny():
    from ehps.bodymodels.anny import load_anny

    return load_anny()


@pytest.fixture(scope="module")
def scene(anny):
    from ehps.world.synthetic import make_scene

    return make_scene(anny, n_frames=N_FRAMES, camera_height=2.5, pitch_deg=20.0)


def _write(scene, anny, folder: Path, **kw) -> Path:
    from ehps.world.synthetic import write_fake_sequence

    noise = {"noise_m": 0.01, "noise_deg": 1.0, "drift_m": 0.03, "drift_deg": 2.0}
    write_fake_sequence(scene, folder, bm=anny, seed=7, **{**noise, **kw})
    return folder


@pytest.fixture(scope="module")
def solved(scene, anny, tmp_path_factory):
    folder = _write(scene, anny, tmp_path_factory.mktemp("walk") / "seq", records=True)
    return folder, solve_world(folder, WorldOptions())


def test_floor_matches_the_truth(solved, scene):
    _, sol = solved
    assert sol.world.has_floor, sol.warnings
    n_true, d_true = scene.floor_in_camera()
    f = sol.world.floor
    angle = np.degrees(np.arccos(np.clip(f.normal @ n_true, -1, 1)))
    assert angle <= 2.0
    # Floor height error where the people walk: the fitted plane's height at true floor points.
    pts = np.concatenate([scene.joints_in_camera(k)[:, 7] for k in range(2)])
    pts = pts - (pts @ n_true + d_true)[:, None] * n_true
    assert np.sqrt(np.mean(f.height(pts) ** 2)) <= 0.03
    assert f.residual_m < 0.03 and f.tracks == 2
    assert not any("camera seems to move" in w for w in sol.warnings)


def test_cleanup_figures(solved, scene):
    _, sol = solved
    f = sol.world.floor
    for k, m in enumerate(sol.motions):
        assert m.contacts.sum() >= 20
        assert m.sliding_after_mm * 3 <= m.sliding_before_mm
        assert m.change_cm <= 3.0
        truth = scene.joints_in_camera(k)
        before = np.linalg.norm(m.joints_raw - truth, axis=-1).mean()
        after = np.linalg.norm(m.joints - truth, axis=-1).mean()
        assert after <= before + 0.002, (before, after)
        # Soles on the fitted floor at contact frames (cleaned joints).
        feet = np.stack([m.joints[:, [7, 10]], m.joints[:, [8, 11]]], 1)
        sole = (f.height(feet) - m.clearance[None]).min(2)
        assert np.abs(sole[m.contacts]).mean() <= 0.02


def test_world_arrays_reproduce_the_joints(solved, anny):
    folder, sol = solved
    from ehps.world.io import write_world

    write_world(sol)
    z = np.load(folder / "tracks.npz")
    assert str(z["world/up"]) == "y" and bool(z["world/has_floor"])
    for m in sol.motions:
        pre = f"t{m.track_id}/"
        inp = {k: v for k, v in m.params.items() if k.endswith("hand_pose") or k == "jaw_pose"}
        inp.update({"global_orient": z[pre + "world/global_orient"],
                    "body_pose": z[pre + "world/body_pose"].reshape(N_FRAMES, -1),
                    "transl": z[pre + "world/transl"],
                    "phenotype": np.repeat(z[pre + "world/phenotype"][None], N_FRAMES, 0)})
        with torch.inference_mode():
            out = anny(**{k: torch.as_tensor(v, dtype=torch.float32) for k, v in inp.items()})
        np.testing.assert_allclose(out.joints[:, :55].numpy(), z[pre + "world/joints"],
                                   atol=1e-3)
        assert z[pre + "contact"].shape == (N_FRAMES, 2)
        assert np.abs(z[pre + "world/joints"][:, :, 1].min()) < 0.15  # feet near Y = 0
    info = json.loads((folder / "world.json").read_text())
    assert info["frame"] == "floor" and info["up_axis"] == "y"
    assert abs(info["camera"]["height_m"] - 2.5) < 0.3  # 7 m away: 1 degree of normal = 12 cm
    assert abs(info["camera"]["pitch_down_deg"] - 20.0) < 2.0
    assert info["floor"]["inliers"] > 20 and info["cleanup"]["enabled"]
    # The original keys are kept; a second run replaces the world keys.
    assert "t0/global_orient" in z.files and "t0/joints" in z.files
    write_world(sol)
    assert sorted(np.load(folder / "tracks.npz").files) == sorted(z.files)


def test_z_up_world(solved):
    folder, _ = solved
    sol_z = solve_world(folder, WorldOptions(up="z", cleanup=False))
    sol_y = solve_world(folder, WorldOptions(up="y", cleanup=False))
    py = sol_y.world.points(sol_y.motions[0].joints[:, 0])
    pz = sol_z.world.points(sol_z.motions[0].joints[:, 0])
    np.testing.assert_allclose(pz, py @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]]).T,
                               atol=1e-9)


def test_panning_camera_is_flagged(scene, anny, tmp_path):
    folder = _write(scene, anny, tmp_path / "pan", pan_m_per_s=0.8)
    sol = solve_world(folder, WorldOptions(cleanup=False))
    assert any("static camera" in w for w in sol.warnings), sol.warnings
    assert sol.slide_m_per_s > 0.4


def _validate(paths: list[Path]) -> list[dict]:
    out = subprocess.run(["node", str(ROOT / "tools" / "validate_gltf.mjs"),
                          *map(str, paths)], capture_output=True, text=True, check=True,
                         timeout=300)
    return json.loads(out.stdout)


def test_cli_exports_and_bad_tracks(solved, tmp_path, capsys):
    """``ehps export anim`` on a copy of the sequence where one track was cut to one frame:
    that track is reported with a one-line reason, the other is exported."""
    from ehps.cli.main import main

    src, _ = solved
    folder = tmp_path / "seq"
    shutil.copytree(src, folder)
    z = dict(np.load(folder / "tracks.npz"))
    for key in [k for k in z if k.startswith("t1/")]:
        z[key] = z[key][:1]
    np.savez(folder / "tracks.npz", **z)
    code = main(["export", "anim", str(folder), "--formats", "glb", "bvh", "--humanoid"])
    text = capsys.readouterr().out
    assert code == 3
    assert "track 1 skipped: it has 1 frame: an animation needs at least 2" in text
    anim = folder / "anim"
    assert sorted(p.name for p in anim.iterdir()) == ["scene.glb", "track_00.bvh",
                                                       "track_00.glb"]
    bvh = (anim / "track_00.bvh").read_text()
    assert bvh.startswith("HIERARCHY") and "ROOT Hips" in bvh and "LeftUpLeg" in bvh
    if shutil.which("node") and (ROOT / "web/node_modules/gltf-validator").is_dir():
        for rep in _validate([anim / "scene.glb", anim / "track_00.glb"]):
            assert rep["issues"]["numErrors"] == 0, rep["issues"]["messages"][:3]


def test_truncated_tracks_are_rebuilt_from_records(solved, tmp_path):
    src, _ = solved
    folder = tmp_path / "seq"
    shutil.copytree(src, folder)
    data = (folder / "tracks.npz").read_bytes()
    (folder / "tracks.npz").write_bytes(data[: len(data) // 2])
    sol = solve_world(folder, WorldOptions(cleanup=False))
    assert sol.tracks_in.source == "state records" and len(sol.motions) == 2


@pytest.mark.parametrize("case", ["truncated", "other_version", "missing"])
def test_bad_tracks_file_gives_cause_and_fix(solved, tmp_path, case, capsys):
    from ehps.cli.main import main

    src, _ = solved
    folder = tmp_path / "seq"
    folder.mkdir()
    shutil.copy(src / "manifest.json", folder)
    if case == "truncated":
        data = (src / "tracks.npz").read_bytes()
        (folder / "tracks.npz").write_bytes(data[: len(data) // 3])
    elif case == "other_version":
        z = {k: v for k, v in np.load(src / "tracks.npz").items() if k != "fps"}
        np.savez(folder / "tracks.npz", **z)
    code = main(["export", "anim", str(folder)])
    line = capsys.readouterr().out.strip()
    assert code == 3 and len(line.splitlines()) == 1
    assert "re-run `ehps infer`" in line
    assert {"truncated": "truncated", "other_version": "not an ehps tracks file of this version",
            "missing": "tracks.npz: missing"}[case] in line


def test_fbx_without_blender_stops_with_the_install_command(solved, monkeypatch, capsys):
    import ehps.export.anim.fbx as fbx
    from ehps.cli.main import main

    monkeypatch.setattr(fbx, "fbx_backend", lambda: None)
    folder, _ = solved
    code = main(["export", "anim", str(folder), "--formats", "glb", "fbx"])
    err = capsys.readouterr()
    text = (err.out + err.err).strip()
    assert code == 2
    assert "pip install --no-deps bpy==5.0.1 zstandard" in text
    assert len(text.splitlines()) == 1


@pytest.mark.parametrize("damage, reason", [
    ("wide", "body_pose has 66 values per frame, expected 63"),
    ("missing", "missing transl_full (a tracks.npz of another version?)"),
    ("nan", "global_orient holds non-finite values"),
])
def test_a_damaged_track_is_left_out_and_the_other_kept(solved, tmp_path, damage, reason):
    """One track of a tracks.npz from another version (other widths or keys) or with broken
    values: that track gets a one-line reason, the other track is still solved."""
    src, _ = solved
    folder = tmp_path / "seq"
    shutil.copytree(src, folder)
    z = dict(np.load(folder / "tracks.npz"))
    if damage == "wide":
        z["t1/body_pose"] = np.concatenate([z["t1/body_pose"].reshape(len(z["t1/valid"]), -1),
                                            np.zeros((len(z["t1/valid"]), 3))], 1)
    elif damage == "missing":
        del z["t1/transl_full"]
    else:
        z["t1/global_orient"] = z["t1/global_orient"].copy()
        z["t1/global_orient"][0] = np.nan
    np.savez(folder / "tracks.npz", **z)
    sol = solve_world(folder, WorldOptions(cleanup=False))
    assert [m.track_id for m in sol.motions] == [0]
    assert sol.skipped == [(1, reason)]


def test_short_tracks_of_bad_depth_do_not_take_the_floor(anny, tmp_path):
    """Two walkers plus two people seen briefly (8 and 6 frames) whose monocular depth is far
    off (x1.6 and x1.35 along the viewing rays), as the small, far people of vtest: the floor
    still comes from the walkers (normal <= 2 deg, height <= 3 cm where they walk), the short
    tracks are named as disagreeing in world.json and get no contacts."""
    from ehps.world.io import world_json
    from ehps.world.synthetic import make_scene

    walkers = (((-1.2, -0.6), 90.0, 0.0), ((1.0, 0.6), -110.0, 0.4),
               ((0.3, -1.6), 10.0, 0.2), ((-0.4, 1.9), 200.0, 0.7))
    crowd = make_scene(anny, n_frames=N_FRAMES, camera_height=2.5, pitch_deg=20.0,
                       walkers=walkers)
    folder = _write(crowd, anny, tmp_path / "crowd", depth_scale={2: 1.6, 3: 1.35},
                    visible={2: (10, 17), 3: (20, 25)})
    sol = solve_world(folder, WorldOptions())
    assert sol.world.has_floor, sol.warnings
    f = sol.world.floor
    n_true, d_true = crowd.floor_in_camera()
    assert np.degrees(np.arccos(np.clip(f.normal @ n_true, -1, 1))) <= 2.0
    pts = np.concatenate([crowd.joints_in_camera(k)[:, 7] for k in range(2)])
    pts = pts - (pts @ n_true + d_true)[:, None] * n_true
    assert np.sqrt(np.mean(f.height(pts) ** 2)) <= 0.03
    ids = {len(m.track.frame_index): m.track_id for m in sol.motions}
    short = {ids[8], ids[6]}
    assert short <= set(f.disagreeing) and not short & set(f.supporting)
    assert all(not m.contacts.any() for m in sol.motions if m.track_id in short)
    assert all(m.contacts.any() for m in sol.motions if m.track_id not in short)
    doc = world_json(sol)
    assert set(doc["floor"]["tracks_disagreeing"]) >= short
    assert doc["floor"]["track_support"] > 0.5
