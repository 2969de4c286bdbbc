"""Stack :class:`~ehps.data.types.Sample` objects into a :class:`~ehps.data.types.Batch`.

Use as ``DataLoader(dataset, collate_fn=collate_samples, ...)``. Each field is stacked with one
``np.stack`` (no per-element Python work); inside a DataLoader worker the stack is written straight
into shared memory, so sending the batch to the main process copies nothing (as torch's
``default_collate`` does). ``sample_seed`` (uint64) is reinterpreted as int64 bits because torch has
no full uint64 support.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import torch
from torch.utils.data import get_worker_info

from ehps.data.types import Batch, Sample
from ehps.errors import InputError

__all__ = ["collate_samples"]

_FIELDS = tuple(f.name for f in fields(Sample))
_TORCH_DTYPES = {
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
    np.dtype(np.int64): torch.int64,
    np.dtype(np.int32): torch.int32,
    np.dtype(np.uint8): torch.uint8,
    np.dtype(np.bool_): torch.bool,
}


def collate_samples(samples: Sequence[Sample]) -> Batch:
    """Stack samples into a batch (leading axis B)."""
    if not samples:
        raise InputError("cannot collate an empty list of samples")
    shared = get_worker_info() is not None
    out: dict[str, torch.Tensor] = {}
    for name in _FIELDS:
        parts = [np.asarray(getattr(s, name)) for s in samples]
        first = parts[0]
        dtype = np.int64 if first.dtype == np.uint64 else first.dtype
        parts = [p.view(np.int64) if p.dtype == np.uint64 else p for p in parts]
        tdtype = _TORCH_DTYPES[np.dtype(dtype)]
        shape = (len(parts), *first.shape)
        if shared:  # allocate straight in shared memory (no copy when sent to the main process)
            numel = int(np.prod(shape))
            storage = torch.empty(0, dtype=tdtype)._typed_storage()._new_shared(numel)
            target = torch.empty(0, dtype=tdtype).new(storage).resize_(shape)
        else:
            target = torch.empty(shape, dtype=tdtype)
        np.stack(parts, out=target.numpy())
        out[name] = target
    return Batch(**out)
