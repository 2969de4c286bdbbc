"""Hand-crafted hostile pickles: what a careful attacker writes, not what random edits find.

Each function returns pickle bytes (protocol 2, the format of official SMPL-X and HumanData files)
that the standard library writes or that are spelled opcode by opcode. They are used by the fuzz
targets of :mod:`ehps.testing.fuzz_targets` and by the robustness tests.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

__all__ = [
    "ForgedArray",
    "forged_array_pickle",
    "shared_list_bomb",
    "deep_list_pickle",
    "forged_sparse",
]

_core = getattr(np, "_core", None) or np.core
_RECONSTRUCT = _core.multiarray._reconstruct


class ForgedArray:
    """Pickles as a numpy array with any declared state (shape, dtype, raw data)."""

    def __init__(self, shape: tuple[int, ...], dtype: str, raw: Any) -> None:
        self.state = (1, tuple(shape), np.dtype(dtype), False, raw)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RECONSTRUCT, (np.ndarray, (0,), b"b"), self.state)


def forged_array_pickle(shape: tuple[int, ...], dtype: str = "f8", raw: Any = b"\0" * 8) -> bytes:
    """A pickle of one array whose declared shape does not match its data (e.g. 2 TiB of f8, or
    an object array of 2**40 items holding two)."""
    return pickle.dumps(ForgedArray(shape, dtype, raw), protocol=2)


def shared_list_bomb(levels: int = 60, wrap_dict: str | None = None) -> bytes:
    """A few hundred bytes of nested lists that share each level twice: 2**levels leaves when
    walked (``np.asarray`` or a JSON dump never finishes)."""
    node: Any = [0]
    for _ in range(levels):
        node = [node, node]
    return pickle.dumps({wrap_dict: node} if wrap_dict else node, protocol=2)


def deep_list_pickle(depth: int = 100_000) -> bytes:
    """Lists nested ``depth`` levels deep, spelled opcode by opcode (``pickle.dumps`` itself
    would hit the recursion limit)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def forged_sparse(fmt: str, shape: tuple[int, int], **arrays: Any) -> Any:
    """A scipy ``<fmt>_matrix`` whose fields are set without any check, e.g.
    ``forged_sparse("csc", (55, 100), indices=..., indptr=..., data=...)``: it pickles as the
    real class with these fields (what scipy would trust on unpickling)."""
    import scipy.sparse

    cls = getattr(scipy.sparse, f"{fmt}_matrix")
    obj = cls.__new__(cls)
    obj.__dict__.update({"_shape": tuple(shape), "maxprint": 50, **arrays})
    return obj
