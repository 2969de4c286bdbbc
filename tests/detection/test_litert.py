"""The bundled models: found inside the installed mediapipe (never downloaded), with the tensor
shapes the pipeline assumes; a clear error when mediapipe is missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ehps.detection import litert
from ehps.errors import MissingDependencyError

EXPECTED_IO = {
    "pose_detection": ((1, 224, 224, 3), [(1, 2254, 12), (1, 2254, 1)]),
    "pose_landmark_full": ((1, 256, 256, 3),
                           [(1, 195), (1, 1), (1, 256, 256, 1), (1, 64, 64, 39), (1, 117)]),
    "hand_landmark_full": ((1, 224, 224, 3), [(1, 63), (1, 1), (1, 1), (1, 63)]),
    "hand_recrop": ((1, 256, 256, 3), [(1, 1, 1, 4)]),
    "face_detection_short_range": ((1, 128, 128, 3), [(1, 896, 16), (1, 896, 1)]),
    "face_landmark": ((1, 192, 192, 3), [(1, 1, 1, 1404), (1, 1, 1, 1)]),
    "iris_landmark": ((1, 64, 64, 3), [(1, 213), (1, 15)]),
}


@pytest.mark.embedded
@pytest.mark.parametrize("name", sorted(EXPECTED_IO))
def test_bundled_models_load_with_expected_shapes(name):
    pytest.importorskip("ai_edge_litert")
    path = litert.bundled_model_path(name)
    assert path.is_file() and litert.mediapipe_modules_dir() in path.parents
    model = litert.TfliteModel(name, num_threads=1)
    in_shape, out_shapes = EXPECTED_IO[name]
    assert model.input_shape == in_shape
    outs = model(np.zeros(in_shape, np.float32))
    assert [o.shape for o in outs] == out_shapes


def test_only_shipped_variants_are_named():
    # pose_landmark_lite/heavy are downloaded by mediapipe on demand: never used here
    names = litert.BUNDLED_MODELS.values()
    assert not any(p.endswith(("_lite.tflite", "_heavy.tflite")) for p in names)
    with pytest.raises(KeyError, match="unknown bundled model"):
        litert.bundled_model_path("pose_landmark_heavy")


def test_missing_mediapipe_names_the_fix(monkeypatch):
    real = importlib.util.find_spec

    def no_mediapipe(name, *args, **kwargs):
        return None if name == "mediapipe" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_mediapipe)
    litert.mediapipe_modules_dir.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"'mediapipe'.*mediapipe==0\.10\.21"):
            litert.mediapipe_modules_dir()
    finally:
        litert.mediapipe_modules_dir.cache_clear()
