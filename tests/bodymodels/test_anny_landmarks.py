"""mediapipe landmark correspondences on Anny: layout, a loop reference, anatomical sanity, and the
committed table against a fresh run of its build script (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.bodymodels.anny_landmarks import (
    HAND_LANDMARK_NAMES,
    LANDMARK_SETS,
    POSE_LANDMARK_NAMES,
)

pytestmark = pytest.mark.embedded

REPO = Path(__file__).resolve().parents[2]
P = {n: i for i, n in enumerate(POSE_LANDMARK_NAMES)}
H = {n: i for i, n in enumerate(HAND_LANDMARK_NAMES)}
# Left/right mirror pairs of mediapipe FaceMesh (eye corners, mouth corners, face contour at the
# ears, eyelids, irises: 469/471 = +x/-x of the right iris, 474/476 of the left one).
FACE_MIRROR = [(33, 263), (133, 362), (61, 291), (234, 454), (159, 386), (145, 374),
               (468, 473), (469, 476), (471, 474), (470, 475), (472, 477)]  # fmt: skip


@pytest.fixture(scope="module")
def posed(anny_body):
    g = torch.Generator().manual_seed(0)
    pose = {
        "global_orient": (torch.rand(2, 3, generator=g) - 0.5) * 2,
        "body_pose": (torch.rand(2, 21, 3, generator=g) - 0.5) * 0.8,
        "left_hand_pose": (torch.rand(2, 15, 3, generator=g) - 0.5) * 0.8,
        "right_hand_pose": (torch.rand(2, 15, 3, generator=g) - 0.5) * 0.8,
        "facial_actions": torch.rand(2, 52, generator=g) * 0.5,
        "transl": torch.tensor([[0.1, 0.2, 3.0], [0.0, -0.1, 2.0]]),
    }
    with torch.no_grad():
        out = anny_body(**pose)
        return out, anny_body.mediapipe_keypoints(out)


@pytest.fixture(scope="module")
def zero(anny_body):
    with torch.no_grad():
        out = anny_body()
        kp = anny_body.mediapipe_keypoints(out)
    return out.joints[0].numpy(), {k: v[0].numpy() for k, v in kp.items()}


def test_shapes_and_masks(anny_body, posed):
    _, kp = posed
    assert set(kp) == set(LANDMARK_SETS) == {"body", "left_hand", "right_hand", "face"}
    for name, size in LANDMARK_SETS.items():
        assert kp[name].shape == (2, size, 3)
        valid = anny_body.mediapipe_valid[name]
        assert valid.dtype == bool and valid.shape == (size,)
    assert (size := LANDMARK_SETS["face"]) == 478 and LANDMARK_SETS["body"] == 33
    assert anny_body.mediapipe_valid["face"].sum() > 0.95 * size


def test_matches_a_loop_over_the_table(anny_body, posed):
    out, kp = posed
    with np.load(REPO / "src/ehps/assets/anny_landmarks.npz", allow_pickle=False) as t:
        tables = {k: t[k] for k in t.files}
    verts, joints = out.vertices.double().numpy(), out.joints.double().numpy()
    for name, size in LANDMARK_SETS.items():
        ref = np.zeros((2, size, 3))
        for p in range(size):
            for v, w in zip(tables[f"{name}_vertex_ids"][p], tables[f"{name}_vertex_weights"][p]):
                ref[:, p] += w * verts[:, v]
            for j, w in zip(tables[f"{name}_joint_ids"][p], tables[f"{name}_joint_weights"][p]):
                ref[:, p] += w * joints[:, j]
        np.testing.assert_allclose(kp[name].numpy(), ref, atol=2e-5)


def test_body_landmarks_are_anatomical(zero):
    joints, kp = zero
    body = kp["body"]
    for name in POSE_LANDMARK_NAMES:
        if name.startswith("left_"):
            right = P["right_" + name[5:]]
            assert body[P[name], 0] > 0.01 and body[right, 0] < -0.01, name
            np.testing.assert_allclose(body[P[name]] * [-1, 1, 1], body[right], atol=3e-3)
    # Joint landmarks: the SMPL-X joints moved by the fitted mediapipe offsets (a few cm at most;
    # mediapipe's shoulders and ankles sit ~2.7 cm higher than the joint centres).
    for name, j in (("left_shoulder", 16), ("right_elbow", 19), ("left_wrist", 20),
                    ("right_knee", 5), ("left_ankle", 7), ("left_hip", 1)):  # fmt: skip
        assert np.linalg.norm(body[P[name]] - joints[j]) < 0.04, name
    assert body[P["left_shoulder"], 1] > joints[16, 1] and body[P["left_ankle"], 1] > joints[7, 1]
    head = body[:11]
    assert body[P["nose"], 2] == head[:, 2].max()  # the nose is the most forward face point
    assert body[P["left_ear"], 2] < body[P["left_eye"], 2] - 0.05  # ears well behind the eyes
    assert body[P["mouth_left"], 1] < body[P["nose"], 1] < body[P["left_eye"], 1]
    eye_x = [body[P[f"left_eye_{k}"], 0] for k in ("inner",)] + [body[P["left_eye"], 0]]
    assert eye_x[0] < eye_x[1] < body[P["left_eye_outer"], 0]
    hip = body[P["left_hip"]]
    assert abs(hip[1] - joints[1, 1]) < 0.04 and 0.05 < hip[0] < 0.2
    # Feet: heel behind the ankle, foot index in front, both near the floor.
    ankle = joints[7]
    assert body[P["left_heel"], 2] < ankle[2] - 0.02 and body[P["left_foot_index"], 2] > ankle[2]
    assert body[P["left_heel"], 1] < ankle[1] and body[P["left_foot_index"], 1] < ankle[1]
    # Knuckles sit between the wrist and the fingertips, along +x for the left hand.
    for name in ("left_pinky", "left_index"):
        assert joints[20, 0] < body[P[name], 0] < kp["left_hand"][H["middle_tip"], 0]


def test_hand_landmarks_follow_the_fingers(zero):
    joints, kp = zero
    for side, sign, wrist in (("left_hand", 1.0, 20), ("right_hand", -1.0, 21)):
        hand = kp[side]
        # mediapipe's hand wrist sits ~1.5 cm towards the palm from the wrist joint.
        to_wrist = sign * (hand[H["wrist"]] - joints[wrist])
        assert np.linalg.norm(to_wrist) < 0.025 and to_wrist[0] > 0.005
        for f in ("index", "middle", "ring", "pinky"):
            xs = sign * hand[[H[f"{f}_{k}"] for k in ("mcp", "pip", "dip", "tip")], 0]
            assert (np.diff(xs) > 0.005).all(), (side, f)  # straight out along +-x
        assert hand[H["thumb_tip"], 2] > hand[H["thumb_cmc"], 2] + 0.02  # thumb forward
        assert hand[H["index_mcp"], 2] > hand[H["pinky_mcp"], 2]  # palm down
    np.testing.assert_allclose(kp["left_hand"] * [-1, 1, 1], kp["right_hand"], atol=3e-3)


def test_face_registration_layout(zero):
    joints, kp = zero
    face = kp["face"]
    for a, b in FACE_MIRROR:
        np.testing.assert_allclose(face[a] * [-1, 1, 1], face[b], atol=3e-3, err_msg=f"{a}/{b}")
    assert face[10, 1] > face[1, 1] > face[152, 1]  # forehead, nose tip, chin
    assert face[:468, 2].max() - max(face[1, 2], face[4, 2]) < 0.003  # the nose tip leads
    assert (
        face[33, 0] < face[468, 0] < face[133, 0] < 0 < face[362, 0] < face[473, 0] < face[263, 0]
    )
    assert face[470, 1] > face[468, 1] > face[472, 1]  # iris contour: up above, down below
    # Eyes at the SMPL-X eye joints (eyeball centres), ~1 cm behind the iris centre.
    for iris, eye in ((468, 24), (473, 23)):
        d = face[iris] - joints[eye]
        assert 0.005 < d[2] < 0.02 and np.hypot(d[0], d[1]) < 0.004
    # The face spans a plausible size (~14 cm chin to forehead for a 1.63 m body).
    assert 0.1 < face[10, 1] - face[152, 1] < 0.2


@pytest.mark.slow
def test_committed_table_matches_its_build_script(tmp_path, anny_body, posed):
    """Regenerate the table (incl. the mediapipe calibration on renders, ~1-3 min) and compare the
    landmark positions it gives (the calibration's detections may differ by a hair between
    machines, so positions are compared, to 3 mm, rather than raw weights)."""
    from ehps.bodymodels.anny_landmarks import MediapipeRegressor

    face_obj = Path("/work/shared/data/mediapipe_canonical_face_model.obj")
    assert face_obj.exists(), "the canonical face mesh is needed to rebuild the table"
    out = tmp_path / "anny_landmarks.npz"
    cmd = [sys.executable, str(REPO / "scripts/build_anny_landmarks.py"), "--out", str(out),
           "--cache-dir", str(anny_body.cache_dir), "--face-obj", str(face_obj)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=900, cwd=tmp_path)
    with np.load(out, allow_pickle=False) as new:
        tables = {k: new[k] for k in new.files}
    for key in ("tip_vertex_ids", "jaw_vertex_ids", "num_vertices", "face_vertex_ids"):
        np.testing.assert_array_equal(tables[key], anny_body.tables[key], err_msg=key)
    fresh = MediapipeRegressor(tables)
    output, kp = posed
    with torch.no_grad():
        again = fresh(output.vertices, output.joints)
    for name in LANDMARK_SETS:
        np.testing.assert_allclose(again[name].numpy(), kp[name].numpy(), atol=3e-3, err_msg=name)
