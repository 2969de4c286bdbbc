"""The embedded estimator behind the :class:`~ehps.inference.estimators.Estimator` protocol:
whole-body landmarks (mediapipe 0.10.21's bundled models, found by the detect stage) and a fit of
a body model to them (:func:`ehps.fitting.fit_people`), one frame per call, batched over the
frame's people. It needs no weights and runs on the CPU. The fit's camera is the frame's shared
camera, so ``transl_full`` is ``transl``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ehps.fitting.estimator import EmbeddedEstimator
from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import Detection, LandmarkFinder
from ehps.inference.estimators import PersonInput, normalize_params
from ehps.structures import PersonEstimate

__all__ = ["FittingEstimator"]


class FittingEstimator:
    """Landmark fitting (see the module docstring).

    Args:
        body_model: a registered body-model name (``"anny"``, ``"smplx"``) or an instance.
        fit_config: options of the fit (:class:`ehps.fitting.FitConfig`).
        smplx_path: where to look for SMPL-X files first (``body_model="smplx"``).
        detector: the landmark detector (default :class:`ehps.detection.MediapipeDetector`).
        embedded: reuse an :class:`ehps.fitting.EmbeddedEstimator`'s body model, detector and
            fit options instead of the arguments above.
    """

    frame_batches = True
    batch_size = 64
    weights = ""

    def __init__(self, body_model: str | Any = "anny", fit_config: Any = None,
                 smplx_path: str | None = None, detector: Any = None,
                 embedded: EmbeddedEstimator | None = None) -> None:
        self.embedded = embedded or EmbeddedEstimator(body_model=body_model, detector=detector,
                                                      fit_config=fit_config,
                                                      smplx_path=smplx_path)
        self._detector = detector
        self.device = torch.device("cpu")
        self.timings: dict[str, float] = {}

    @property
    def body_model_name(self) -> str:
        return str(self.embedded.body_model.name)

    @property
    def name(self) -> str:
        return self.embedded.name

    def make_finder(self, min_score: float, max_people: int | None) -> LandmarkFinder:
        return LandmarkFinder(min_score, max_people, detector=self._detector)

    def prepare(self, image: np.ndarray, detections: Sequence[Detection], k_shared: Intrinsics,
                frame_index: int) -> list[PersonInput | None]:
        """The detections' landmarks are the fit's input (``payload``)."""
        h, w = image.shape[:2]
        return [PersonInput(frame_index, d, k_shared, (h, w), d.landmarks) for d in detections]

    def estimate(self, inputs: Sequence[PersonInput]) -> list[PersonEstimate]:
        """One batched fit of the people of one frame; meshes are left to the pose stage."""
        from ehps.fitting.fitter import fit_people

        if not inputs:
            return []
        t0 = time.perf_counter()
        first = inputs[0]
        steps: dict[str, float] = {}
        people = fit_people(first.image_hw, [inp.payload for inp in inputs],
                            self.embedded.body_model, first.k_shared, self.embedded.fit_config,
                            steps, meshes=False)
        for person, inp in zip(people, inputs):
            person.params = normalize_params(person.params)
            person.transl_full = person.params["transl"].reshape(3).copy()
            person.track_id = inp.track_id
            person.extras["landmarks"] = inp.payload
        self.timings["fit"] = self.timings.get("fit", 0.0) + time.perf_counter() - t0
        return people

    def relocate(self, person: PersonEstimate, transl_full: np.ndarray,
                 k_shared: Intrinsics) -> None:
        """The fit lives in the shared camera: both translations are the same."""
        t_full = np.asarray(transl_full, np.float32).reshape(3)
        person.transl_full = t_full
        person.params["transl"] = t_full.reshape(1, 3).copy()

    def body_model(self, required: bool = False) -> Any:
        return self.embedded.body_model
