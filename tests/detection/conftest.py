"""Fixtures for the embedded detector tests: the detector, test photos, and mediapipe's own
Holistic results on them as the reference (mediapipe is imported here only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _rgb(path: Path) -> np.ndarray:
    from ehps.io.image import load_image

    return load_image(path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared real test data (``../shared/data`` next to the repository)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def basketball1(assets_dir) -> np.ndarray:
    return _rgb(assets_dir / "basketball1.png")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def detector():
    pytest.importorskip("ai_edge_litert")
    from ehps.detection import MediapipeDetector

    return MediapipeDetector()


@pytest.fixture(scope="session")
def holistic_reference(astronaut, basketball1):
    """mediapipe Holistic (static images, model_complexity=1) on the astronaut and basketball1,
    with and without the refined (478-point) face; a fresh graph per image, since Holistic
    tracks hands and faces across calls even in static mode."""
    mp = pytest.importorskip("mediapipe")

    def points(lms, h, w):
        if lms is None:
            return None
        return np.array([[p.x * w, p.y * h, p.visibility, p.presence] for p in lms.landmark])

    out = {}
    for name, image in (("astronaut", astronaut), ("basketball1", basketball1)):
        h, w = image.shape[:2]
        for refine in (True, False):
            with mp.solutions.holistic.Holistic(
                static_image_mode=True, model_complexity=1, refine_face_landmarks=refine
            ) as holistic:
                res = holistic.process(image)
            key = (name, refine)
            out[key] = {
                "pose": points(res.pose_landmarks, h, w),
                "world": np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark]),
                "left_hand": points(res.left_hand_landmarks, h, w),
                "right_hand": points(res.right_hand_landmarks, h, w),
                "face": points(res.face_landmarks, h, w),
            }
    return out
