"""The :class:`Predictor`: the public face of the inference pipeline for Python users.

It holds an estimator (:mod:`ehps.inference.estimators`) and its detect stage, and runs images
through the same stage loop as ``ehps infer`` (:mod:`ehps.inference.loop`), keeping the results in
memory::

    from ehps.inference import Predictor
    predictor = Predictor.from_pretrained()             # embedded: no weights needed
    result = predictor("photo.jpg")                     # a path, a numpy array or a PIL image
    for person in result.people:
        person.params["body_pose"], person.vertices_cam, person.transl_full

Options are the fields of :class:`ehps.config.InferConfig`'s ``estimator`` and ``detection``
sections, checked like everywhere else: an unknown keyword is an error naming the closest one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np

from ehps.config.infer import DetectionConfig, EstimatorConfig, InferConfig
from ehps.config.loader import check_keys
from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import PeopleFinder
from ehps.inference.estimators import Estimator, pose_people
from ehps.inference.front import FrontStages, SequenceStats
from ehps.inference.loop import BackStages, StageLoop
from ehps.inference.sources import Frame
from ehps.io.records import FrameRecord
from ehps.structures import FrameResult, PersonEstimate

__all__ = ["Predictor", "ResultCollector", "ImageLike"]

log = logging.getLogger(__name__)

ImageLike = Any  # str | os.PathLike | np.ndarray | PIL.Image.Image
_EMBEDDED_NAMES = {"embedded", "fit", "default", "fit-anny", "fit-smplx"}
_OPTIONS = ([f.name for f in fields(EstimatorConfig) if f.name != "checkpoint"]
            + [f.name for f in fields(DetectionConfig) if f.name != "boxes"])


class ResultCollector:
    """A :class:`ehps.inference.loop.Sink` that keeps the results in memory (by frame index)."""

    video = False

    def __init__(self) -> None:
        self.results: dict[int, FrameResult] = {}

    def is_done(self, index: int) -> bool:
        return False

    def load_record(self, index: int) -> FrameRecord:  # pragma: no cover - never done
        raise KeyError(index)

    def write(self, frame: Frame, result: FrameResult, raw: list[dict[str, np.ndarray]],
              tracker_boxes: np.ndarray, overlay: np.ndarray | None, smoothed: bool) -> None:
        if not result.people:
            result.warnings.append("no person found")
        self.results[frame.index] = result

    def replay(self, frame: Frame, record: FrameRecord, overlay: np.ndarray | None) -> None:
        pass  # pragma: no cover - never done

    def fail(self, frame: Frame, message: str) -> None:
        h, w = frame.image.shape[:2] if frame.image is not None else (0, 0)
        res = FrameResult(frame.source, frame.index, (h, w),
                          Intrinsics.from_image_size(max(w, 1), max(h, 1)))
        res.warnings.append(message)
        self.results[frame.index] = res

    def checkpoint(self) -> None:
        pass


def as_image(image: ImageLike, name: str = "image") -> np.ndarray:
    """A path, PIL image or array -> (H, W, 3) uint8 RGB (:func:`ehps.io.image.load_image`,
    :func:`~ehps.io.image.as_rgb_uint8`)."""
    from ehps.io.image import as_rgb_uint8, load_image

    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if type(image).__module__.startswith("PIL."):
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected a file path, a numpy array or a PIL image, got "
                         f"{type(image).__name__}")
    return as_rgb_uint8(image, name=name)


class Predictor:
    """Whole-body 3D people from images (see the module docstring).

    Args:
        estimator: what estimates the people (:class:`~ehps.inference.estimators.Estimator`).
        detection: who is estimated (score threshold, most people, crop ratio).
        finder: the detect stage (default: the one the estimator asks for).
    """

    def __init__(self, estimator: Estimator, detection: DetectionConfig | None = None,
                 finder: PeopleFinder | None = None) -> None:
        self.estimator = estimator
        self.detection = detection or DetectionConfig()
        self.finder = finder or estimator.make_finder(self.detection.min_score,
                                                      self.detection.max_people)

    # ------------------------------------------------------------------------- building
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str] | None = None, *,
                        config: InferConfig | None = None, fit_config: Any = None,
                        detector: Any = None, require_body_model: bool = False,
                        model_overrides: dict[str, Any] | None = None,
                        **options: Any) -> Predictor:
        """A predictor for an official ``.pth.tar``, an ehps ``.safetensors``, or nothing.

        Args:
            name_or_path: weight file, or a weight name in the local cache (``"smplestx_h"``;
                ``ehps weights list``; resolved offline, never downloaded); ``None`` (or
                ``"embedded"``) uses the embedded estimator (mediapipe landmarks + fitting of
                ``body_model``).
            config: the full inference config (its ``estimator`` and ``detection`` sections).
            fit_config: embedded estimator only: a :class:`ehps.fitting.FitConfig`.
            detector: the person / landmark detector (default: mediapipe's bundled models).
            require_body_model: raise :class:`~ehps.errors.BodyModelError` now when meshes
                cannot be made (network without the SMPL-X files).
            model_overrides: :class:`ehps.modeling.ModelConfig` overrides (tiny test files).
            **options: fields of :class:`~ehps.config.EstimatorConfig` and
                :class:`~ehps.config.DetectionConfig` (``device``, ``batch_size``, ``bf16``,
                ``compile``, ``body_model``, ``smplx_path``, ``variant``, ``min_score``,
                ``max_people``, ``bbox_ratio``, ...); they override ``config``.

        Raises:
            InputError: an unknown option (the message names the closest one) or a bad value.
            CheckpointError: the weight file is missing, unreadable or does not fit.
        """
        check_keys(options, _OPTIONS, "Predictor.from_pretrained")
        cfg = config or InferConfig()
        body_instance = options.pop("body_model", None)
        if isinstance(body_instance, str):
            options["body_model"], body_instance = body_instance, None
        est_opts = {k: v for k, v in options.items() if k in EstimatorConfig.__annotations__}
        det_opts = {k: v for k, v in options.items() if k in DetectionConfig.__annotations__}
        checkpoint = None if name_or_path is None else os.fspath(name_or_path)
        est_cfg = replace(cfg.estimator, **est_opts, checkpoint=checkpoint
                          if name_or_path is not None else cfg.estimator.checkpoint)
        det_cfg = replace(cfg.detection, **det_opts)
        return cls.from_config(est_cfg, det_cfg, fit_config=fit_config, detector=detector,
                               require_body_model=require_body_model,
                               model_overrides=model_overrides, body_model=body_instance)

    @classmethod
    def from_config(cls, estimator: EstimatorConfig, detection: DetectionConfig, *,
                    fit_config: Any = None, detector: Any = None,
                    require_body_model: bool = False,
                    model_overrides: dict[str, Any] | None = None,
                    body_model: Any = None) -> Predictor:
        """The predictor of two config sections (see :meth:`from_pretrained`)."""
        path = estimator.checkpoint
        if path is None or str(path).lower() in _EMBEDDED_NAMES:
            from ehps.inference.fit_estimator import FittingEstimator

            if estimator.device not in ("auto", "cpu"):
                log.warning("the embedded estimator runs on the CPU; --device %s is ignored",
                            estimator.device)
            if estimator.compile:
                log.warning("--compile applies to networks; the embedded estimator ignores it")
            fit = FittingEstimator(body_model if body_model is not None else estimator.body_model,
                                   fit_config=fit_config, smplx_path=estimator.smplx_path,
                                   detector=detector)
            finder = fit.make_finder(detection.min_score, detection.max_people)
            return cls(fit, detection, finder)
        from ehps.inference.network import NetworkEstimator
        from ehps.modeling import load_model
        from ehps.weights import resolve_weights

        weights = resolve_weights(path)  # a file, or a cached weight name (offline)

        model = load_model(weights, variant=estimator.variant, **(model_overrides or {}))
        net = NetworkEstimator(model, device=estimator.device, bf16=estimator.bf16,
                               batch_size=estimator.batch_size, compile=estimator.compile,
                               bbox_ratio=detection.bbox_ratio,
                               smplx_path=estimator.smplx_path, weights=str(weights))
        if require_body_model:
            net.body_model(required=True)
        finder = None
        if detector is not None:
            from ehps.inference.detect import BoxFinder

            finder = BoxFinder(detection.min_score, detection.max_people, detector)
        return cls(net, detection, finder)

    # ------------------------------------------------------------------------ what it is
    @property
    def name(self) -> str:
        return self.estimator.name

    @property
    def weights(self) -> str:
        return self.estimator.weights

    def body_model(self, required: bool = False) -> Any:
        """The body model meshes come from (``None`` without its files, see
        :meth:`Estimator.body_model <ehps.inference.estimators.Estimator.body_model>`)."""
        return self.estimator.body_model(required)

    @property
    def faces(self) -> np.ndarray | None:
        """(F, 3) int64 triangles of the body model, or ``None`` without one."""
        bm = self.body_model()
        return None if bm is None else bm.faces.detach().cpu().numpy().astype(np.int64)

    def pose(self, people: Sequence[PersonEstimate]) -> None:
        """Fill the meshes and joints of ``people`` from their parameters (batched)."""
        pose_people(self.body_model(), people, self.estimator.device)

    # ----------------------------------------------------------------------- estimation
    def predict(
        self,
        images: Sequence[ImageLike],
        boxes: Sequence[np.ndarray | None] | None = None,
        intrinsics: Sequence[Intrinsics | None] | None = None,
        sources: Sequence[str] | None = None,
        scores: Sequence[np.ndarray | None] | None = None,
    ) -> list[FrameResult]:
        """Every person in each image (independent images; networks batch all their crops).

        Args:
            images: file paths, (H, W, 3) uint8 RGB arrays or PIL images.
            boxes: per image (N, 4) xywh person boxes to use instead of the detector, or
                ``None`` entries (detect).
            intrinsics: per image shared camera (default :meth:`Intrinsics.from_image_size`).
            sources: per image names recorded in the results (default: the path, or "").
            scores: per image (N,) scores of the given boxes (default 1).

        Returns:
            one :class:`FrameResult` per image, with meshes when the body model is available
            (``warnings`` says when nobody was found or the image could not be used).

        Raises:
            InputError: an image cannot be read or is not an image.
        """
        n = len(images)
        boxes = list(boxes) if boxes is not None else [None] * n
        intr = list(intrinsics) if intrinsics is not None else [None] * n
        names = list(sources) if sources is not None else [
            os.fspath(im) if isinstance(im, (str, os.PathLike)) else "" for im in images]
        given_scores = list(scores) if scores is not None else [None] * n
        if not len(boxes) == len(intr) == len(names) == len(given_scores) == n:
            raise InputError("boxes, intrinsics, sources and scores need one entry per image")
        arrays = [as_image(im, names[i] or f"image {i}") for i, im in enumerate(images)]
        given: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, b in enumerate(boxes):
            if b is not None:
                b = np.asarray(b, np.float32).reshape(-1, 4)
                given[i] = (b, np.ones(len(b), np.float32) if given_scores[i] is None
                            else np.asarray(given_scores[i], np.float32).reshape(-1))
        frames = [Frame(i, names[i], image, 0.0) for i, image in enumerate(arrays)]
        return self._run(frames, lambda f: intr[f.index], lambda f: given.get(f.index))

    def __call__(self, image: ImageLike, boxes: np.ndarray | None = None,
                 intrinsics: Intrinsics | None = None, source: str | None = None) -> FrameResult:
        """Every person in one image (see :meth:`predict`)."""
        return self.predict([image], [boxes], [intrinsics],
                            None if source is None else [source])[0]

    def _run(self, frames: list[Frame], camera: Any, given_boxes: Any) -> list[FrameResult]:
        sink = ResultCollector()
        stats = SequenceStats()
        front = FrontStages(self.estimator, self.finder, camera=camera, given_boxes=given_boxes,
                            timings=stats.timings)
        back = BackStages(self.estimator, sink, stats, faces=self.faces)
        loop = StageLoop(front, back, sink)
        for frame in frames:
            loop.push(frame)
        loop.finish()
        return [sink.results[f.index] for f in frames]

