"""A network compiled once for one batch size (``ehps infer --compile``).

``torch.compile`` (Inductor) fuses the elementwise work around the matrix products (layer norms,
GELU, the bf16 casts of autocast) and, with *freezing*, folds the weights into constants that it
can pre-pack for the CPU's matrix kernels. On the 2-core AVX512-BF16 CPU this project is built on
that took the SMPLer-X-S network under bf16 autocast from about 90 to 67 ms per crop
(``benchmarks/infer_speed.py`` measures it against eager mode in one run).

Compiling costs tens of seconds per input shape, so this wrapper compiles exactly one shape: every
call is zero-padded to ``batch_size`` crops and the outputs are cut back. Padding is exact for these
networks in eval mode (BatchNorm uses running statistics, attention never mixes crops), so the real
rows are the eager results up to kernel rounding. It pays off on long videos and big folders, not
on one photo; that is why it is opt-in.

When compiling fails (no C++ compiler on the machine, an unsupported back-end), the wrapper says so
once and runs the network eagerly: the results stay the same, only slower.
"""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from typing import Any

import torch
from torch import nn

from ehps.modeling.prediction import Prediction

__all__ = ["StaticBatchNetwork"]

log = logging.getLogger(__name__)


def _take_rows(pred: Prediction, n: int) -> Prediction:
    """The first ``n`` rows of every batch-first tensor of ``pred``."""
    cut = {f.name: getattr(pred, f.name)[:n] for f in fields(pred)
           if isinstance(getattr(pred, f.name), torch.Tensor)}
    return replace(pred, **cut)


class StaticBatchNetwork:
    """``model`` compiled for inputs of exactly ``batch_size`` crops; shorter batches are padded.

    Args:
        model: a SMPLer-X / SMPLest-X network in eval mode (its weights must not change after
            the first call: freezing turns them into constants).
        batch_size: the one batch size that is compiled.
        freeze: let Inductor fold and pre-pack the weights (inference only).

    Call it inside ``torch.inference_mode()`` (and autocast if wanted) with (B, 3, 512, 384)
    images, ``B <= batch_size``; it returns the model's :class:`Prediction` for the B real crops.
    """

    def __init__(self, model: nn.Module, batch_size: int, *, freeze: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = int(batch_size)
        self._compiled: Any = torch.compile(model, dynamic=False,
                                            options={"freezing": bool(freeze)})
        self.failed: str | None = None

    def __call__(self, images: torch.Tensor) -> Prediction:
        b = int(images.shape[0])
        if b > self.batch_size:
            raise ValueError(f"{b} crops for a network compiled for batches of {self.batch_size}")
        if self.failed is not None:
            return self.model(images)
        x = images
        if b < self.batch_size:
            pad = images.new_zeros((self.batch_size - b, *images.shape[1:]))
            x = torch.cat((images, pad))
        try:
            pred = self._compiled(x)
        except Exception as err:  # any compiler failure: fall back to eager (same results)
            first_line = (str(err).splitlines() or [""])[0]
            self.failed = f"{type(err).__name__}: {first_line}"
            log.warning("torch.compile failed (%s); running the network without compiling",
                        self.failed)
            return self.model(images)
        return _take_rows(pred, b) if b < self.batch_size else pred
