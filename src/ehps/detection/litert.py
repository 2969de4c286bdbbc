"""Load the tflite models bundled in the installed ``mediapipe`` wheel and run them with LiteRT.

Nothing is downloaded: the models are read from the ``mediapipe/modules`` directory of the
installed package, which is located with :func:`importlib.util.find_spec` so that the (slow,
heavy) ``import mediapipe`` never happens. Only the model variants shipped in mediapipe 0.10.21
are named here; the ``lite``/``heavy`` pose landmark models that mediapipe fetches on demand are
deliberately absent.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from ehps.errors import MissingDependencyError, require

__all__ = ["BUNDLED_MODELS", "mediapipe_modules_dir", "bundled_model_path", "TfliteModel"]

#: Short names of the bundled models this package runs, relative to ``mediapipe/modules``.
BUNDLED_MODELS: dict[str, str] = {
    "pose_detection": "pose_detection/pose_detection.tflite",
    "pose_landmark_full": "pose_landmark/pose_landmark_full.tflite",
    "hand_landmark_full": "hand_landmark/hand_landmark_full.tflite",
    "hand_recrop": "holistic_landmark/hand_recrop.tflite",
    "face_detection_short_range": "face_detection/face_detection_short_range.tflite",
    "face_detection_full_range": "face_detection/face_detection_full_range_sparse.tflite",
    "face_landmark": "face_landmark/face_landmark.tflite",
    "iris_landmark": "iris_landmark/iris_landmark.tflite",
    "selfie_segmentation": "selfie_segmentation/selfie_segmentation.tflite",
}

_INSTALL_HINT = (
    "./setup.sh   (or: pip install 'ehps[embedded]' && pip install --no-deps mediapipe==0.10.21)"
)


@lru_cache(maxsize=1)
def mediapipe_modules_dir() -> Path:
    """``<site-packages>/mediapipe/modules`` of the installed mediapipe, without importing it.

    Raises:
        MissingDependencyError: mediapipe is not installed (or ships no models).
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the optional package 'mediapipe' (0.10.21, which bundles the pose, hand and face "
            f"landmark models ehps runs) is not installed. Install it with: {_INSTALL_HINT}"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "modules"
    if not (root / BUNDLED_MODELS["pose_detection"]).is_file():
        raise MissingDependencyError(
            f"the installed mediapipe ({root.parent}) ships no tflite models; ehps needs "
            f"mediapipe 0.10.21, which bundles them. Install it with: {_INSTALL_HINT}"
        )
    return root


def bundled_model_path(name: str) -> Path:
    """Path of one bundled model by short name (a key of :data:`BUNDLED_MODELS`)."""
    if name not in BUNDLED_MODELS:
        raise KeyError(f"unknown bundled model {name!r}; known: {sorted(BUNDLED_MODELS)}")
    path = mediapipe_modules_dir() / BUNDLED_MODELS[name]
    if not path.is_file():
        raise MissingDependencyError(
            f"the bundled model {path} is missing from the mediapipe install; reinstall it with: "
            f"{_INSTALL_HINT}"
        )
    return path


class TfliteModel:
    """One LiteRT interpreter over a bundled model, with a lock so calls are serialised.

    Args:
        name: key of :data:`BUNDLED_MODELS`.
        num_threads: CPU threads of the interpreter (XNNPACK).
    """

    def __init__(self, name: str, num_threads: int = 2) -> None:
        litert = require("ai_edge_litert.interpreter", "embedded", "running mediapipe's models")
        self.name = name
        self.path = bundled_model_path(name)
        self._interp = litert.Interpreter(model_path=str(self.path), num_threads=num_threads)
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()
        if len(inp) != 1:
            raise RuntimeError(f"{self.path} has {len(inp)} inputs; expected 1")
        self._input_index = inp[0]["index"]
        #: (1, H, W, C) input shape.
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in inp[0]["shape"])
        self._output_indices = [d["index"] for d in self._interp.get_output_details()]
        self._lock = threading.Lock()

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.input_shape[1], self.input_shape[2]

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Run on one (H, W, 3) or (1, H, W, 3) float32 tensor; outputs in the model's order."""
        x = np.ascontiguousarray(tensor, dtype=np.float32).reshape(self.input_shape)
        with self._lock:
            self._interp.set_tensor(self._input_index, x)
            self._interp.invoke()
            return [self._interp.get_tensor(i).copy() for i in self._output_indices]
