"""ONNX export of the SMPLer-X / SMPLest-X networks, checked against PyTorch in onnxruntime.

The graph takes ``images`` (B, 3, 512, 384) float32 RGB crops in [0, 1] (batch dimension dynamic
by default) and returns the contract fields of :class:`ehps.modeling.Prediction` as named outputs:
``global_orient`` (B, 3), ``body_pose`` (B, 21, 3), ``left_hand_pose`` (B, 15, 3),
``right_hand_pose`` (B, 15, 3), ``jaw_pose`` (B, 3), ``betas`` (B, 10), ``expression`` (B, 10),
``cam_trans`` (B, 3) and, for SMPLer-X, ``lhand_bbox``, ``rhand_bbox``, ``face_bbox`` (B, 4)
(crop pixels). Extra ``Prediction`` fields can be requested by name.

Uses the TorchScript-based exporter (``dynamo=False``, opset 17 by default), which works with the
pinned ``onnx==1.18`` (environment.md 5). Every part of the networks is export-friendly by design
(closed-form RoIAlign, no data-dependent shapes).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ehps.errors import EhpsError, InputError, require
from ehps.geometry.camera import CROP_INPUT_HW
from ehps.utils.io import atomic_write_bytes

__all__ = ["OnnxCheckError", "default_output_names", "export_onnx", "check_onnx"]

log = logging.getLogger(__name__)

COMMON_OUTPUTS: tuple[str, ...] = (
    "global_orient",
    "body_pose",
    "left_hand_pose",
    "right_hand_pose",
    "jaw_pose",
    "betas",
    "expression",
    "cam_trans",
)
SMPLERX_OUTPUTS: tuple[str, ...] = ("lhand_bbox", "rhand_bbox", "face_bbox")
#: Above this many parameter bytes the graph is written with external data (protobuf 2 GB limit).
_EXTERNAL_DATA_BYTES = 1_800_000_000


class OnnxCheckError(EhpsError):
    """The exported graph does not reproduce PyTorch within the tolerance."""


def default_output_names(model: nn.Module) -> tuple[str, ...]:
    """The contract outputs for ``model``'s family."""
    family = getattr(getattr(model, "config", None), "family", "")
    return COMMON_OUTPUTS + (SMPLERX_OUTPUTS if family == "smplerx" else ())


class _Outputs(nn.Module):
    """Wraps a network so that it returns a tuple of named Prediction fields."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pred = self.model(images)
        out = []
        for name in self.names:
            value = getattr(pred, name)
            if value is None:
                raise InputError(f"this network has no output {name!r}")
            out.append(value)
        return tuple(out)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    outputs: Sequence[str] | None = None,
    batch_size: int = 1,
    dynamic_batch: bool = True,
    opset: int = 17,
    check: bool = True,
    atol: float = 1e-4,
) -> dict[str, Any]:
    """Export ``model`` to an ONNX file and (by default) check it in onnxruntime.

    Args:
        model: an ehps network (put in eval mode here).
        path: output ``.onnx`` file (written atomically unless it needs external data).
        outputs: ``Prediction`` field names to export (default: :func:`default_output_names`).
        batch_size: batch size of the example input used for tracing and checking.
        dynamic_batch: make the batch dimension symbolic.
        opset: ONNX opset (17 needs onnx >= 1.12).
        check: run :func:`check_onnx` on a random batch and raise if it differs by > ``atol``.
        atol: tolerance of that check.

    Returns:
        ``{"path", "outputs", "opset", "max_abs_diff"}`` (``max_abs_diff`` is ``None`` without
        ``check``).
    """
    require("onnx", "export", "ONNX export")
    names = tuple(outputs) if outputs is not None else default_output_names(model)
    wrapper = _Outputs(model.eval(), names).eval()
    example = torch.rand(batch_size, 3, *CROP_INPUT_HW, generator=torch.Generator().manual_seed(0))
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {"images": {0: "batch"}, **{n: {0: "batch"} for n in names}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    kwargs: dict[str, Any] = dict(
        input_names=["images"],
        output_names=list(names),
        opset_version=opset,
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
        dynamo=False,
    )
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        if n_bytes < _EXTERNAL_DATA_BYTES:
            buffer = io.BytesIO()
            torch.onnx.export(wrapper, (example,), buffer, **kwargs)
            atomic_write_bytes(path, buffer.getvalue())
        else:
            log.info("model has %.1f GB of weights: writing ONNX with external data", n_bytes / 1e9)
            torch.onnx.export(wrapper, (example,), str(path), **kwargs)
    result: dict[str, Any] = {
        "path": str(path),
        "outputs": names,
        "opset": opset,
        "max_abs_diff": None,
    }
    if check:
        diffs = check_onnx(
            model,
            path,
            outputs=names,
            batch_size=max(batch_size, 2) if dynamic_batch else batch_size,
        )
        worst = max(diffs.values())
        result["max_abs_diff"] = worst
        result["per_output_diff"] = diffs
        if worst > atol:
            raise OnnxCheckError(
                f"ONNX outputs differ from PyTorch by {worst:.3g} (> {atol}): {diffs}; try another "
                "--opset, or report this with the model variant"
            )
    return result


def check_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    outputs: Sequence[str] | None = None,
    batch_size: int = 2,
    seed: int = 1,
) -> dict[str, float]:
    """Run the ONNX file in onnxruntime (CPU) and PyTorch on the same random batch.

    Returns:
        output name -> max absolute difference.
    """
    ort = require("onnxruntime", "export", "checking the ONNX export")
    names = tuple(outputs) if outputs is not None else default_output_names(model)
    images = torch.rand(
        batch_size, 3, *CROP_INPUT_HW, generator=torch.Generator().manual_seed(seed)
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(list(names), {"images": images.numpy()})
    with torch.no_grad():
        pred = model.eval()(images)
    return {
        name: float((torch.from_numpy(value) - getattr(pred, name)).abs().max())
        for name, value in zip(names, got)
    }
