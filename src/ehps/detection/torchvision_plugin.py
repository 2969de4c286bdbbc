"""Example detector plug-in: person boxes from a torchvision detection model whose weights the user
already has (:mod:`ehps.detection.plugins` explains the plug-in point).

torchvision's detection models (Faster R-CNN, RetinaNet, FCOS, SSD, Keypoint / Mask R-CNN) take a
list of (3, H, W) float images in [0, 1] and return, per image, a dict with ``"boxes"`` (N, 4)
xyxy pixels, ``"labels"`` (N,) int64 and ``"scores"`` (N,). COCO-trained models call a person
label 1. This module turns such a model into a box proposer for :class:`BoxDetector`::

    from ehps.detection.plugins import BoxDetector
    from ehps.detection.torchvision_plugin import TorchvisionPersonProposer

    proposer = TorchvisionPersonProposer(arch="fasterrcnn_resnet50_fpn_v2",
                                         weights_path="~/models/fasterrcnn_v2_coco.pth")
    detector = BoxDetector(proposer)           # landmarks by the embedded models in each box
    people = detector(image_rgb)

Nothing is downloaded: the model is built with ``weights=None, weights_backbone=None`` and the
state dict is read from ``weights_path`` with ``torch.load(..., weights_only=True)``. An already
built model (any module with torchvision's detection call convention) can be passed instead.
``import torchvision`` happens only when an architecture name is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ehps.errors import InputError, MissingDependencyError

__all__ = ["TorchvisionPersonProposer", "COCO_PERSON_LABEL"]

#: The person class of torchvision's COCO-trained detection models.
COCO_PERSON_LABEL = 1


def _build(arch: str, weights_path: str | Path) -> torch.nn.Module:
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise InputError(f"detector weights '{path}' do not exist (nothing is downloaded: "
                         "point weights_path at a state dict you have)")
    try:
        import torchvision.models.detection as tvd
    except Exception as exc:  # torchvision missing, or built for another torch
        raise MissingDependencyError(
            f"the torchvision plug-in needs a torchvision that imports beside this torch "
            f"({torch.__version__}): {exc}"
        ) from exc
    builder = getattr(tvd, arch, None)
    if builder is None or not callable(builder):
        raise InputError(f"torchvision has no detection architecture {arch!r}")
    model = builder(weights=None, weights_backbone=None)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # torchvision's reference training scripts save {"model": ...}
    model.load_state_dict(state)
    return model


class TorchvisionPersonProposer:
    """Person boxes from a torchvision detection model.

    Args:
        model: a built detection model (torchvision's call convention), or ``None`` to build
            ``arch`` and load ``weights_path``.
        arch: a constructor name of ``torchvision.models.detection``.
        weights_path: the model's state dict (``.pth``), read with ``weights_only=True``.
        person_label: the label id of "person" (1 for COCO-trained models).
        min_score: boxes scoring below this are dropped.
        device: where the model runs.
    """

    def __init__(self, model: torch.nn.Module | None = None, *,
                 arch: str = "fasterrcnn_resnet50_fpn_v2",
                 weights_path: str | Path | None = None, person_label: int = COCO_PERSON_LABEL,
                 min_score: float = 0.5, device: str | torch.device = "cpu") -> None:
        if model is None:
            if weights_path is None:
                raise InputError("TorchvisionPersonProposer needs a model or a weights_path "
                                 "(nothing is downloaded)")
            model = _build(arch, weights_path)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.person_label = int(person_label)
        self.min_score = float(min_score)

    @torch.no_grad()
    def __call__(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes_xywh (N, 4) float32, scores (N,) float32)`` of the people in an (H, W, 3)
        uint8 RGB image, highest score first."""
        image = np.asarray(image_rgb)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} "
                             f"{image.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        tensor = tensor.to(self.device, torch.float32) / 255.0
        out: Any = self.model([tensor])[0]
        boxes = out["boxes"].detach().float().cpu().numpy().reshape(-1, 4)
        labels = out["labels"].detach().cpu().numpy().reshape(-1)
        scores = out["scores"].detach().float().cpu().numpy().reshape(-1)
        keep = (labels == self.person_label) & (scores >= self.min_score)
        boxes, scores = boxes[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")
        xyxy = boxes[order]
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        return xywh.astype(np.float32), scores[order].astype(np.float32)
