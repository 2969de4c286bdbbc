"""The embedded detector on real photos: people counts, agreement with mediapipe's Holistic,
conventions (sides, world axes), user boxes, bad input, huge images, surveillance recall."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ehps.detection import MediapipeDetector, PersonLandmarks
from ehps.detection.recall import match_torso_centres
from ehps.errors import InputError

pytestmark = pytest.mark.embedded


def _check_contract(p: PersonLandmarks) -> None:
    assert p.bbox_xywh.dtype == np.float32 and p.bbox_xywh.shape == (4,)
    assert p.body_2d.shape == (33, 2) and p.body_world.shape == (33, 3)
    assert ((p.body_conf >= 0) & (p.body_conf <= 1)).all()
    for part, n in (("left_hand", 21), ("right_hand", 21), ("face", 478)):
        pts = getattr(p, f"{part}_2d")
        if pts is not None:
            assert pts.shape == (n, 2) and getattr(p, f"{part}_conf").shape == (n,)
    assert 0.0 <= p.score <= 1.0


def test_basketball1_has_exactly_two_people(detector, basketball1):
    people = detector(basketball1)
    assert len(people) == 2
    for p in people:
        _check_contract(p)
    h, w = basketball1.shape[:2]
    left, right = sorted(people, key=lambda p: p.bbox_xywh[0])
    assert left.bbox_xywh[0] + left.bbox_xywh[2] < w / 2 < right.bbox_xywh[0]
    # the right man is cut by the right border: his box reaches it
    assert right.bbox_xywh[0] + right.bbox_xywh[2] > w - 3
    assert left.face_2d is not None  # the left man faces the camera
    assert left.right_hand_2d is not None  # his right hand on the ball (Holistic finds it too)
    if left.left_hand_2d is not None:  # his hands touch: two crops must not report one hand
        gap = np.median(np.linalg.norm(left.left_hand_2d - left.right_hand_2d, axis=1))
        assert gap > 5.0


def test_astronaut_has_exactly_one_person(detector, astronaut):
    people = detector(astronaut)
    assert len(people) == 1
    _check_contract(people[0])
    assert people[0].face_2d is not None and people[0].face_2d.shape == (478, 2)


@pytest.mark.parametrize("kind", ["noise", "wall"])
def test_no_person_gives_an_empty_list_and_a_message(detector, caplog, kind):
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) if kind == "noise"
             else np.full((480, 640, 3), (200, 196, 190), np.uint8))
    with caplog.at_level(logging.INFO, logger="ehps.detection"):
        assert detector(image) == []
    assert "no person found" in caplog.text


@pytest.fixture(scope="module")
def full_detector():
    pytest.importorskip("ai_edge_litert")
    return MediapipeDetector(search="full", pose_tta="none")  # mediapipe has one pass


def test_body_matches_mediapipe_holistic(full_detector, astronaut, holistic_reference):
    (p,) = full_detector(astronaut)
    ref = holistic_reference[("astronaut", True)]
    err = np.linalg.norm(p.body_2d - ref["pose"][:, :2], axis=1)
    assert np.median(err) < 1.0 and err.max() < 8.0, err
    np.testing.assert_allclose(p.body_world, ref["world"], atol=0.01)
    np.testing.assert_allclose(p.extras["visibility"], ref["pose"][:, 2], atol=0.02)
    # (mediapipe's Python results leave presence at 0, so only our own product can be checked)
    product = p.extras["visibility"] * p.extras["presence"]
    np.testing.assert_allclose(p.body_conf, product, rtol=1e-5)


def test_face_matches_mediapipe_holistic(full_detector, astronaut, holistic_reference):
    (p,) = full_detector(astronaut)
    mesh = holistic_reference[("astronaut", False)]["face"]  # face_landmark.tflite, 468 points
    err = np.linalg.norm(p.face_2d[:468] - mesh[:, :2], axis=1)
    assert np.median(err) < 1.0 and np.percentile(err, 95) < 3.0
    # irises: ours come from the iris model, Holistic's from the attention mesh model
    refined = holistic_reference[("astronaut", True)]["face"]
    iris_err = np.linalg.norm(p.face_2d[468:] - refined[468:, :2], axis=1)
    assert iris_err.max() < 2.0, iris_err


def test_hands_match_mediapipe_holistic(full_detector, basketball1, holistic_reference):
    (p,) = full_detector(basketball1)  # mediapipe's single view sees the left man only
    ref = holistic_reference[("basketball1", True)]
    err = np.linalg.norm(p.body_2d - ref["pose"][:, :2], axis=1)
    assert np.median(err) < 1.0
    for side in ("left_hand", "right_hand"):
        ours, theirs = getattr(p, f"{side}_2d"), ref[side]
        assert (ours is None) == (theirs is None), side
        if theirs is not None:
            hand_err = np.linalg.norm(ours - theirs[:, :2], axis=1)
            assert np.median(hand_err) < 2.0 and hand_err.max() < 5.0, hand_err


def test_sides_and_world_axes(detector, astronaut):
    """The astronaut faces the camera: her own left is on the image's right."""
    (p,) = detector(astronaut)
    left_sh, right_sh, nose = 11, 12, 0
    assert p.body_2d[left_sh, 0] > p.body_2d[right_sh, 0]
    world = p.body_world
    assert world[left_sh, 0] > world[right_sh, 0]  # x: image right
    assert world[nose, 1] < -0.3  # y: down (the nose is ~0.6 m above the hips)
    assert world[nose, 2] < 0  # z: away from the camera (the face is nearer than the hips)
    np.testing.assert_allclose((world[23] + world[24]) / 2, 0.0, atol=0.03)  # hip-centred


def test_given_boxes(detector, basketball1):
    people = detector(basketball1)
    boxes = np.stack([p.bbox_xywh for p in people])
    found = detector.detect(basketball1, boxes)
    assert sorted(p.extras["box_index"] for p in found) == [0, 1]
    for p in found:
        ref = people[p.extras["box_index"]]
        if ref.bbox_xywh[0] < 300:  # the fully visible man: the same landmarks
            seen = (ref.body_conf > 0.5) & (p.body_conf > 0.5)
            assert np.median(np.linalg.norm(p.body_2d - ref.body_2d, axis=1)[seen]) < 5.0
    assert detector.detect(basketball1, np.array([[250.0, 40.0, 120.0, 300.0]])) == []
    with pytest.raises(InputError, match="boxes_xywh"):
        detector.detect(basketball1, np.array([[1.0, 2.0, -3.0, 4.0]]))


def test_detect_people_boxes(detector, basketball1):
    boxes, scores = detector.detect_people(basketball1)
    assert boxes.shape == (2, 4) and scores.shape == (2,) and boxes.dtype == np.float32
    full = sorted((p.bbox_xywh for p in detector(basketball1)), key=lambda b: b[0])
    for got, want in zip(sorted(boxes, key=lambda b: b[0]), full, strict=True):
        x0, y0 = np.maximum(got[:2], want[:2])
        x1, y1 = np.minimum(got[:2] + got[2:], want[:2] + want[2:])
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        assert inter / (got[2] * got[3] + want[2] * want[3] - inter) > 0.9


def test_bad_input(detector, basketball1):
    with pytest.raises(InputError, match="uint8"):
        detector(basketball1.astype(np.float32))
    with pytest.raises(InputError, match="numpy array"):
        detector(basketball1.tolist())
    with pytest.raises(InputError, match="shape"):
        detector(np.zeros((10, 10, 2), np.uint8))
    gray = basketball1[:, :, 0]
    assert len(detector(gray)) == 2


_HUGE = textwrap.dedent(
    """
    import json, sys
    import cv2, numpy as np
    from ehps.detection import MediapipeDetector
    from ehps.io.image import load_image
    person = load_image(sys.argv[1])[40:480, 0:200]
    person = cv2.resize(person, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    image = np.full((9000, 12000, 3), 180, np.uint8)
    image[5000:5000 + person.shape[0], 7000:7000 + person.shape[1]] = person
    people = MediapipeDetector()(image)
    # VmHWM belongs to this process image; ru_maxrss would carry over the forking parent's peak
    with open("/proc/self/status") as f:
        hwm = next(line for line in f if line.startswith("VmHWM:"))
    peak_mb = int(hwm.split()[1]) / 1024
    print(json.dumps({"boxes": [p.bbox_xywh.tolist() for p in people], "peak_mb": peak_mb}))
    """
)


def test_huge_image_runs_within_memory(assets_dir):
    pytest.importorskip("ai_edge_litert")
    out = subprocess.run([sys.executable, "-c", _HUGE, str(assets_dir / "basketball1.png")],
                         capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["boxes"]) == 1
    x, y, w, h = result["boxes"][0]
    assert 7000 <= x < 7300 and 5000 <= y < 5300 and 1400 < h < 1800
    # the 12000x9000 RGB image alone is 309 MiB; the pyramid adds a third of it
    assert result["peak_mb"] < 1500


#: Visible pedestrians (torso centres, counted by eye) in frames of ../shared/data/vtest.avi.
VTEST_PEOPLE = {
    300: [(200, 195), (255, 188), (310, 190), (328, 255), (597, 195), (630, 200)],
    700: [(197, 200), (293, 250), (380, 210), (413, 180), (485, 165), (532, 195), (705, 260),
          (120, 335)],
}


def test_surveillance_recall(detector, shared_data):
    cv2 = pytest.importorskip("cv2")
    video = shared_data / "vtest.avi"
    if not video.is_file():
        pytest.skip(f"{video} (OpenCV's sample video) is not present")
    cap = cv2.VideoCapture(str(video))
    tp = fp = total = 0
    for index, truth in VTEST_PEOPLE.items():
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok
        t, f = match_torso_centres(detector(np.ascontiguousarray(frame[:, :, ::-1])), truth)
        tp, fp, total = tp + t, fp + f, total + len(truth)
    cap.release()
    assert tp / total >= 0.7 and fp <= 1, (tp, fp, total)
