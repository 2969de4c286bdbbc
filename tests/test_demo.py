"""``ehps demo`` end to end on the bundled photo, in a subprocess with no network at all.

The subprocess runs under ``unshare -n`` (a fresh network namespace with no interfaces: any
download attempt fails). Where ``unshare`` is unavailable (not root, no user namespaces), the
documented equivalent is used: the same command in a Python that replaces ``socket.socket``'s
``connect``/``connect_ex`` and ``socket.create_connection``/``getaddrinfo`` with functions that
raise, so that any network access by any library fails loudly instead of succeeding.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from ehps.structures import SMPLX_PARAM_KEYS
from golden_outputs import check_golden, collect_npz, obj_vertices, pooled, read_png
from offline_run import offline_python

pytestmark = pytest.mark.embedded

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "ehps_demo"
    cmd, env = offline_python(["-m", "ehps", "demo", "--out", str(out)], out.parent / "hook")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "summary.json").read_text()), proc


def test_demo_writes_valid_outputs(demo_run):
    out, summary, _ = demo_run
    summary = summary["demo"]
    assert summary["people_found"] == 2
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for i in range(2):
        assert {f"smplx/000000_{i:02d}.npz", f"mesh/000000_{i:02d}.obj",
                f"mesh/000000_{i:02d}.glb", f"meta/000000_{i:02d}.json"} <= names
    assert {"overlay/000000.png", "summary.json", "scene.glb", "manifest.json"} <= names
    assert not [n for n in names if n.endswith(".tmp") or n.endswith(".lock")]

    import cv2
    import pygltflib
    import trimesh

    overlay = cv2.imread(str(out / "overlay" / "000000.png"))
    assert overlay.shape == (480, 1280, 3)  # photo + side-view panel
    for i in range(2):
        with np.load(out / "smplx" / f"000000_{i:02d}.npz", allow_pickle=False) as npz:
            for key, shape in SMPLX_PARAM_KEYS.items():
                assert npz[key].shape == shape, key
            assert npz["phenotype"].shape == (1, 6)
            assert npz["facial_actions"].shape == (1, 52)
            assert str(npz["body_model"]) == "anny"
            transl = npz["transl"].reshape(3)
        mesh = trimesh.load(out / "mesh" / f"000000_{i:02d}.obj", process=False, force="mesh")
        assert mesh.vertices.shape == (13718, 3) and mesh.faces.shape == (27420, 3)
        assert 0.5 < np.linalg.norm(transl) < 20.0
        assert np.all(mesh.vertices[:, 2] > 0)  # OpenCV camera frame: in front of the camera
        gltf = pygltflib.GLTF2().load(str(out / "mesh" / f"000000_{i:02d}.glb"))
        pos = gltf.accessors[gltf.meshes[0].primitives[0].attributes.POSITION]
        assert pos.count == 13718
        assert pos.max[2] < 0  # glTF camera frame: the scene lies along -z
    scene = pygltflib.GLTF2().load(str(out / "scene.glb"))
    assert len(scene.meshes) == 2


def test_demo_meets_reprojection_targets_and_reports_timings(demo_run):
    _, summary, proc = demo_run
    summary = summary["demo"]
    for person in summary["people"]:
        r = person["reprojection_px"]
        assert r["body"] is not None and r["body"] <= 10.0
        for part in ("left_hand", "right_hand"):
            assert r[part] is None or r[part] <= 6.0
        assert r["face"] is None or r["face"] <= 4.0
    assert summary["timings_s"]["fit"] > 0 and summary["timings_s"]["detect"] > 0
    assert summary["seconds_per_person"] > 0


def test_demo_prints_a_one_screen_summary(demo_run):
    out, summary, proc = demo_run
    summary = summary["demo"]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) <= 24 and max(len(ln) for ln in lines) <= 120
    assert "people found: 2" in proc.stdout and str(out) in proc.stdout
    for person in summary["people"]:  # the per-person body error is printed
        assert f"{person['reprojection_px']['body']:.1f}" in proc.stdout


#: The per-person keys the demo wrote before it became ``ehps infer`` + presentation (the rest of
#: the infer format, e.g. ``transl_full``, is covered by the infer goldens).
DEMO_NPZ_KEYS = (*SMPLX_PARAM_KEYS, "phenotype", "facial_actions", "body_model", "focal",
                 "princpt", "bbox_xywh", "score", "joints_cam")


def demo_outputs(out):
    """What ``ehps demo`` gives, by person (see ``tests/golden_outputs.py``): the parameter
    arrays, every 97th mesh vertex, the pooled overlay and the summary's per-person facts."""
    summary = json.loads((out / "summary.json").read_text())["demo"]
    arrays: dict = {}
    for i in range(summary["people_found"]):
        person: dict = {}
        collect_npz(out / "smplx" / f"000000_{i:02d}.npz", f"person{i}", person)
        arrays.update({k: v for k, v in person.items() if k.split("::")[1] in DEMO_NPZ_KEYS})
        arrays[f"person{i}::vertices"] = obj_vertices(out / "mesh" / f"000000_{i:02d}.obj")
    arrays["overlay::image"] = pooled(read_png(out / "overlay" / "000000.png"))
    people = [{k: p[k] for k in ("index", "score", "bbox_xywh", "body_model", "distance_m",
                                  "reprojection_px")} for p in summary["people"]]
    info = {k: summary[k] for k in ("image_hw", "intrinsics", "estimator", "people_found",
                                    "warnings")}
    return arrays, {**info, "people": people}


def test_demo_matches_golden(demo_run, regen_golden):
    out, _, _ = demo_run
    check_golden("demo", demo_outputs(out), regen_golden, pytest.fail)
