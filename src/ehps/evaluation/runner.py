"""Drive a model (or any ``predict_fn``) over a benchmark, the way the official test scripts do:
crop every ground-truth person box, run the network on the 512x384 crop, build the neutral SMPL-X
mesh from the predicted parameters, add the crop-camera translation, and hand the batch to the
evaluator.

A ``predict_fn`` maps ``(images, samples)`` to SMPL-X parameters:

- ``images``: (B, 3, 512, 384) float32 RGB in [0, 1] (no mean / std normalisation);
- ``samples``: the :class:`~ehps.evaluation.benchmarks.base.EvalSample` of each image (networks
  ignore it; oracles and analyses may use it);
- returns a mapping with ``global_orient`` (B, 3), ``body_pose`` (B, 21, 3), ``left_hand_pose`` /
  ``right_hand_pose`` (B, 15, 3) (``flat_hand_mean=False``), ``jaw_pose`` (B, 3), ``betas``
  (B, 10), ``expression`` (B, 10) and ``cam_trans`` (B, 3) metres in the crop camera.

:func:`network_predict_fn` wraps an ehps SMPLer-X / SMPLest-X network; :func:`oracle_predict_fn`
returns known parameters per sample (feeding the ground truth through the same pipeline must give
zero error).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ehps.errors import EhpsError, InputError
from ehps.evaluation.benchmarks.base import (
    PARAM_SHAPES,
    EvalSample,
    Evaluator,
    PredictionBatch,
    stack_params,
)
from ehps.evaluation.report import EvalReport
from ehps.geometry.camera import CROP_INPUT_HW
from ehps.geometry.crop import crop_person

__all__ = [
    "PredictFn",
    "load_image_rgb",
    "crop_sample",
    "network_predict_fn",
    "oracle_predict_fn",
    "run_evaluation",
]

log = logging.getLogger(__name__)

PredictFn = Callable[[torch.Tensor, Sequence[EvalSample]], Mapping[str, torch.Tensor]]


def load_image_rgb(path: str) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 255], read like the official ``load_img`` (EXIF orientation
    ignored).

    Raises:
        InputError: the file is missing or not an image.
    """
    from ehps.io.image import decode_image_file

    if not Path(path).is_file():
        raise InputError(f"cannot read image {path}: the file does not exist")
    img = decode_image_file(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return img[:, :, ::-1].astype(np.float32)


def crop_sample(sample: EvalSample) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The network input of one sample: (3, 512, 384) float32 in [0, 1], plus the (2, 3)
    image -> crop and crop -> image affines."""
    image = load_image_rgb(str(sample.image_path))
    crop = crop_person(image, np.asarray(sample.crop_bbox_xywh, np.float32), CROP_INPUT_HW)
    patch = torch.from_numpy(np.ascontiguousarray(crop.image.transpose(2, 0, 1))) / 255.0
    return patch, crop.img2crop, crop.crop2img


def network_predict_fn(model: torch.nn.Module) -> PredictFn:
    """``predict_fn`` of an ehps network (``model(images) -> Prediction``), run under
    ``torch.inference_mode`` on the model's device."""
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")

    def predict(images: torch.Tensor, samples: Sequence[EvalSample]) -> dict[str, torch.Tensor]:
        with torch.inference_mode():
            pred = model(images.to(device))
        return {
            "global_orient": pred.global_orient,
            "body_pose": pred.body_pose,
            "left_hand_pose": pred.left_hand_pose,
            "right_hand_pose": pred.right_hand_pose,
            "jaw_pose": pred.jaw_pose,
            "betas": pred.betas,
            "expression": pred.expression,
            "cam_trans": pred.cam_trans,
        }

    return predict


def oracle_predict_fn(params_by_key: Mapping[str, Mapping[str, np.ndarray]]) -> PredictFn:
    """``predict_fn`` that ignores the images and returns ``params_by_key[sample.key]``
    (unbatched arrays with :data:`~ehps.evaluation.benchmarks.base.PARAM_SHAPES` keys)."""

    def predict(images: torch.Tensor, samples: Sequence[EvalSample]) -> dict[str, torch.Tensor]:
        missing = [s.key for s in samples if s.key not in params_by_key]
        if missing:
            raise InputError(f"oracle has no parameters for samples {missing[:5]}")
        return stack_params([params_by_key[s.key] for s in samples])

    return predict


def _batches(items: Sequence[EvalSample], size: int) -> Iterator[list[EvalSample]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _check_params(params: Mapping[str, torch.Tensor], b: int) -> dict[str, torch.Tensor]:
    out = {}
    for k, shape in PARAM_SHAPES.items():
        if k not in params:
            raise InputError(f"predict_fn must return {k!r} (got {sorted(params)})")
        t = torch.as_tensor(params[k]).detach().to(device="cpu", dtype=torch.float32)
        if t.numel() != b * int(np.prod(shape)):
            raise InputError(f"predict_fn: {k!r} must hold (B, {shape}) values for B = {b}, "
                             f"got {tuple(t.shape)}")
        out[k] = t.reshape(b, *shape)
    return out


def run_evaluation(
    evaluator: Evaluator,
    predict_fn: PredictFn,
    batch_size: int = 8,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    samples: Sequence[EvalSample] | None = None,
) -> EvalReport:
    """Evaluate ``predict_fn`` on every sample of ``evaluator`` (the first ``limit`` only, if
    given) and return its report.

    Args:
        evaluator: a benchmark evaluator (its context supplies the SMPL-X layer).
        predict_fn: see the module docstring.
        batch_size: images per forward pass.
        limit: evaluate only the first ``limit`` samples (a quick check; the report says so).
        progress: called with (done, total) after each batch.
        samples: the evaluator's samples when already listed (saves reading the annotations
            twice).
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    samples = list(evaluator.samples() if samples is None else samples)
    if limit is not None:
        samples = samples[: max(0, int(limit))]
    if not samples:
        raise InputError(f"{evaluator.name}: no samples to evaluate under {evaluator.data_root}")
    evaluator.reset()
    ctx = evaluator.context
    t0 = time.perf_counter()
    done = 0
    skipped: list[tuple[str, str]] = []
    for batch_all in _batches(samples, batch_size):
        batch, crops = [], []
        for s in batch_all:  # one unreadable image never stops the benchmark: it is named
            try:
                crops.append(crop_sample(s))
            except EhpsError as exc:
                skipped.append((str(s.image_path), exc.one_line()))
                log.warning("%s: skipped sample %s: %s", evaluator.name, s.key, exc.one_line())
                continue
            batch.append(s)
        if not batch:
            if progress is not None:
                progress(done + len(skipped), len(samples))
            continue
        images = torch.stack([c[0] for c in crops])
        params = _check_params(predict_fn(images, batch), len(batch))
        verts, joints = ctx.smplx_meshes(params)
        pred = PredictionBatch(
            params=params,
            vertices=verts,
            joints=joints,
            img2crop=np.stack([c[1] for c in crops]),
            crop2img=np.stack([c[2] for c in crops]),
        )
        evaluator.process(batch, pred)
        done += len(batch)
        if progress is not None:
            progress(done + len(skipped), len(samples))
    if not done:
        raise InputError(f"{evaluator.name}: none of the {len(samples)} samples could be read "
                         f"(first: {skipped[0][1] if skipped else '?'})")
    report = evaluator.summarize()
    report.counts.setdefault("samples_evaluated", done)
    if skipped:
        report.counts["samples_skipped"] = len(skipped)
        report.extra["skipped"] = [{"image": path, "reason": why} for path, why in skipped]
        report.notes.append(f"{len(skipped)} of {len(samples)} samples were skipped because "
                            "their image could not be read (listed under extra.skipped): the "
                            "metrics are over the others and not comparable with published "
                            "numbers.")
    if limit is not None:
        report.notes.append(f"Only the first {done} samples were evaluated (--limit): not the "
                            "full benchmark; do not compare with published numbers.")
    report.extra["seconds"] = round(time.perf_counter() - t0, 2)
    log.info("%s: %d samples in %.1f s", evaluator.name, done, report.extra["seconds"])
    return report
