"""The detector plug-in point: bring your own person detector.

Everything in ehps that finds people takes a :class:`~ehps.detection.Detector` (the protocol in
:mod:`ehps.detection.base`): an object with ``__call__(image)``, ``detect(image, boxes=None)``
and ``detect_people(image)`` that returns :class:`~ehps.detection.PersonLandmarks`. The embedded
default is :class:`~ehps.detection.MediapipeDetector`. There are two ways to plug in another one:

1. **Boxes only** (the common case: a stronger person detector, e.g. a COCO-trained Faster
   R-CNN): write a *box proposer*, any callable ``image (H, W, 3) uint8 RGB -> (boxes_xywh (N, 4)
   float32 pixels, scores (N,) float32)``, and wrap it in :class:`BoxDetector`. The embedded
   landmark models then find each person's whole-body landmarks inside its box
   (``MediapipeDetector.detect(image, boxes)``), so everything downstream (fitting, tracking,
   exports) works unchanged. :class:`~ehps.detection.torchvision_plugin.TorchvisionPersonProposer`
   is a worked example wrapping torchvision's detection models.
2. **Full landmarks**: implement the :class:`~ehps.detection.Detector` protocol yourself and
   return ``PersonLandmarks`` (33 BlazePose body points, world landmarks, optional hands and
   face in mediapipe's layouts).

Use it::

    from ehps.fitting import EmbeddedEstimator
    from ehps.detection.plugins import BoxDetector, load_detector

    estimator = EmbeddedEstimator(detector=BoxDetector(my_proposer))
    # or by name: a factory "package.module:callable" (called with no arguments) or an entry
    # point of the group "ehps.detectors" registered by an installed package
    estimator = EmbeddedEstimator(detector=load_detector("my_package.detectors:make"))

Nothing is downloaded by any of this: a plug-in loads whatever weights its user points it at.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ehps.detection.base import Detector, PersonLandmarks
from ehps.errors import InputError

__all__ = ["BoxProposer", "BoxDetector", "load_detector", "ENTRY_POINT_GROUP"]

#: Entry-point group under which installed packages can register detector factories.
ENTRY_POINT_GROUP = "ehps.detectors"

#: A box proposer: ``image (H, W, 3) uint8 RGB -> (boxes_xywh (N, 4), scores (N,))``.
BoxProposer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _check_proposal(out: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise InputError(f"the box proposer {name} must return (boxes_xywh, scores), got "
                         f"{type(out).__name__}")
    boxes = np.asarray(out[0], np.float32)
    scores = np.asarray(out[1], np.float32).reshape(-1)
    if boxes.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] != scores.shape[0]:
        raise InputError(f"the box proposer {name} returned boxes of shape {boxes.shape} and "
                         f"scores of shape {scores.shape}; expected (N, 4) and (N,)")
    ok = np.isfinite(boxes).all(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & np.isfinite(scores)
    return boxes[ok], scores[ok]


class BoxDetector:
    """A :class:`~ehps.detection.Detector` from person boxes of any proposer, with whole-body
    landmarks found inside each box by the embedded models.

    Args:
        proposer: the box proposer (see the module docstring).
        landmarker: finds the landmarks inside boxes; default ``MediapipeDetector()``.
        min_score: boxes scoring below this are dropped.
        max_people: keep at most this many boxes (highest scores first); ``None``: all.
    """

    def __init__(self, proposer: BoxProposer, landmarker: Any = None, min_score: float = 0.5,
                 max_people: int | None = None) -> None:
        if not callable(proposer):
            raise TypeError(f"proposer must be callable, got {type(proposer).__name__}")
        self.proposer = proposer
        self._landmarker = landmarker
        self.min_score = float(min_score)
        self.max_people = max_people

    @property
    def landmarker(self) -> Any:
        if self._landmarker is None:
            from ehps.detection.mediapipe_detector import MediapipeDetector

            self._landmarker = MediapipeDetector()
        return self._landmarker

    def proposals(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The proposer's boxes above ``min_score``, highest score first."""
        boxes, scores = _check_proposal(self.proposer(image_rgb), repr(self.proposer))
        keep = scores >= self.min_score
        boxes, scores = boxes[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[: self.max_people]
        return boxes[order], scores[order]

    def __call__(self, image_rgb: np.ndarray) -> list[PersonLandmarks]:
        """Every person in an (H, W, 3) uint8 RGB image (see :meth:`detect`)."""
        return self.detect(image_rgb)

    def detect(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray | None = None
               ) -> list[PersonLandmarks]:
        """Landmarks inside the proposer's boxes (or inside ``boxes_xywh`` when given). Each
        person carries ``extras["box_index"]`` and, for proposed boxes, ``extras["box_score"]``;
        ``score`` is the box score times the pose presence."""
        scores = None
        if boxes_xywh is None:
            boxes_xywh, scores = self.proposals(image_rgb)
            if len(boxes_xywh) == 0:
                return []
        people = self.landmarker.detect(image_rgb, boxes_xywh)
        if scores is not None:
            for p in people:
                box_score = float(scores[int(p.extras["box_index"])])
                p.extras["box_score"] = box_score
                p.score = p.score * box_score
        return people

    def detect_people(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The proposer's boxes and scores (no landmarks)."""
        return self.proposals(image_rgb)


def load_detector(spec: str | None = None, **kwargs: Any) -> Detector:
    """A detector by name.

    Args:
        spec: ``None`` or ``"mediapipe"`` (the embedded default), ``"mediapipe:<search>"``
            (e.g. ``"mediapipe:dense"``), ``"package.module:factory"`` (imported and called with
            ``kwargs``), or the name of an entry point of :data:`ENTRY_POINT_GROUP`.
        kwargs: passed to the factory.

    Raises:
        InputError: an unknown name, or a factory that does not give a detector.
    """
    if spec is None or spec == "mediapipe" or spec.startswith("mediapipe:"):
        from ehps.detection.mediapipe_detector import MediapipeDetector

        search = spec.split(":", 1)[1] if spec and ":" in spec else "auto"
        return MediapipeDetector(search=search, **kwargs)
    factory: Any = None
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"cannot load detector {spec!r}: {exc}") from exc
    else:
        from importlib.metadata import entry_points

        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
        if not found:
            raise InputError(f"unknown detector {spec!r}: use 'mediapipe', "
                             "'mediapipe:<auto|full|wide|dense>', 'package.module:factory' or an "
                             f"entry point of the group {ENTRY_POINT_GROUP!r}")
        factory = found[0].load()
    detector = factory(**kwargs)
    if not isinstance(detector, Detector):
        raise InputError(f"detector {spec!r} gave a {type(detector).__name__}, which lacks the "
                         "Detector protocol's __call__ / detect / detect_people")
    return detector
