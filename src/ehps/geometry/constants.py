"""Numbers of the official crop that the configs share (no torch, no OpenCV: the command line
reads them while building its flags)."""

from __future__ import annotations

__all__ = ["DEFAULT_BBOX_RATIO"]

#: Body crop enlargement of every released SMPLer-X / SMPLest-X config (``cfg.bbox_ratio``): the
#: one default of inference (``InferConfig.detection.bbox_ratio``) and training data
#: (``TrainConfig.data.bbox_ratio``), used by :func:`ehps.geometry.crop.process_bbox`.
DEFAULT_BBOX_RATIO: float = 1.2
