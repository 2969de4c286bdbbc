"""Checking arrays that come out of files a user gave us, before anything uses them.

- :func:`check_declared_array`: what a file *declares* about an array (shape, dtype) is checked
  against what the file holds and a size cap before memory is allocated (a 200-byte header may
  declare 2 TiB).
- :func:`checked_array`: a value read from a file is a numeric array of the expected rank, or an
  error naming the file and key.
- :class:`CheckedSparse` / :func:`sparse_from_state`: a scipy sparse matrix's pickled fields,
  checked (index ranges, ``indptr`` monotone, lengths vs. shape) before anything trusts them:
  scipy's C++ kernels write out of bounds on a crafted file (a segmentation fault), so they never
  see these arrays; :meth:`CheckedSparse.toarray` densifies with numpy under a size cap.

Every failure is raised as the caller's error class (``InputError``, ``BodyModelError``...). The
restricted unpickler that produces these values is :mod:`ehps.utils.safe_pickle`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ehps.errors import EhpsError, InputError

__all__ = [
    "ErrorType",
    "MAX_NDIM",
    "MAX_DENSE_ELEMENTS",
    "declared_nbytes",
    "format_size",
    "check_declared_array",
    "checked_array",
    "CheckedSparse",
    "sparse_from_state",
]

ErrorType = type[EhpsError]

#: Most dimensions an array read from a file may declare (numpy's own limit is 64).
MAX_NDIM = 32
#: Dense matrices made from a sparse one may hold at most this many elements (8 GiB of f8).
MAX_DENSE_ELEMENTS = 1 << 30
#: dtype kinds an array read from a file may have (numbers, bools, strings, checked objects).
ALLOWED_KINDS = frozenset("biufcUSO")


def declared_nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` needs, computed without overflow."""
    return math.prod(int(d) for d in shape) * int(dtype.itemsize)


def format_size(n: int) -> str:
    """``n`` bytes as a short human string (``"2.0 TiB"``)."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_declared_array(
    shape: Any, dtype: Any, where: str, error: ErrorType, *,
    available: int | None = None, max_bytes: int | None = None, allow_object: bool = False,
) -> tuple[tuple[int, ...], np.dtype, int]:
    """Validate what a file *declares* about an array before any memory is allocated.

    Args:
        shape: the declared shape (must be a tuple of non-negative ints, at most 32 of them).
        dtype: the declared dtype (plain numbers, bools, strings; object only if allowed; no
            structured, void or sub-array types).
        where: names the file and member in the error message.
        error: the exception class to raise.
        available: bytes the file actually holds for the data; a larger declaration means a
            truncated or forged file.
        max_bytes: a size cap (memory that would be allocated).
        allow_object: accept dtype object (pickled items, checked by the caller).

    Returns:
        ``(shape, dtype, nbytes)``.
    """
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise error(f"{where}: invalid array shape {str(shape)[:80]} (needs up to {MAX_NDIM} "
                    "non-negative sizes); the file is corrupt")
    if not isinstance(dtype, np.dtype):
        raise error(f"{where}: invalid array dtype {str(dtype)[:80]}; the file is corrupt")
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{where}: unsupported array dtype {dtype} (only numbers, booleans and "
                    "strings are read); the file was not written by a numpy array writer")
    if dtype.hasobject and not allow_object:
        raise error(f"{where}: holds Python objects (dtype object), which are not read from "
                    "this kind of file; re-save it with plain numeric arrays")
    nbytes = declared_nbytes(shape, dtype)
    if available is not None and nbytes > available:
        raise error(f"{where}: declares shape {shape} {dtype} ({format_size(nbytes)}) but holds "
                    f"only {format_size(available)}; the file is truncated or corrupt")
    if max_bytes is not None and nbytes > max_bytes:
        raise error(f"{where}: declares shape {shape} {dtype} ({format_size(nbytes)}), more than "
                    f"the limit of {format_size(max_bytes)} for this file; it is not a valid "
                    "file of its kind")
    return shape, dtype, nbytes


def checked_array(
    value: Any, where: str, error: ErrorType, *, kinds: str = "biuf",
    ndim: int | tuple[int, ...] | None = None, max_bytes: int | None = None,
) -> np.ndarray:
    """``value`` as a numeric array, or ``error``: for arrays that come out of a file.

    Args:
        value: an array, or a (walked, bounded) list / number.
        where: names the file and key in the error message.
        error: the exception class to raise.
        kinds: accepted numpy dtype kinds (default: bool, signed, unsigned, float).
        ndim: accepted number(s) of dimensions.
        max_bytes: a size cap.
    """
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (list, tuple, int, float, bool, np.generic)):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise error(f"{where}: not a numeric array ({exc})") from exc
    else:
        raise error(f"{where}: expected a numeric array, got {type(value).__name__}")
    if arr.dtype.kind not in kinds or arr.dtype.hasobject:
        raise error(f"{where}: expected a numeric array, got dtype {arr.dtype}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and arr.ndim not in dims:
        raise error(f"{where}: expected {' or '.join(map(str, dims))} dimension(s), got shape "
                    f"{arr.shape}")
    if max_bytes is not None and arr.nbytes > max_bytes:
        raise error(f"{where}: {arr.shape} {arr.dtype} is larger than {format_size(max_bytes)}")
    return arr


# --------------------------------------------------------------------------- sparse matrices


def _sparse_index(value: Any, name: str, where: str, error: ErrorType) -> np.ndarray:
    arr = checked_array(value, f"{where}: sparse '{name}'", error, kinds="iu", ndim=1)
    return arr.astype(np.int64)


@dataclass(frozen=True)
class CheckedSparse:
    """A sparse matrix from a file, in COO form, with every index checked against ``shape``.

    It offers the two scipy methods the loaders use: :meth:`tocoo` (itself: ``row``, ``col``,
    ``data``, ``shape``) and :meth:`toarray` (dense, duplicates summed as scipy does).
    """

    shape: tuple[int, int]
    row: np.ndarray
    col: np.ndarray
    data: np.ndarray

    def tocoo(self) -> CheckedSparse:
        return self

    def toarray(self, max_elements: int = MAX_DENSE_ELEMENTS) -> np.ndarray:
        n_rows, n_cols = self.shape
        if n_rows * n_cols > max_elements:
            raise InputError(f"a {n_rows} x {n_cols} sparse matrix is too large to make dense "
                             f"(limit {max_elements} elements)")
        acc = np.float64 if self.data.dtype.kind in "bf" else self.data.dtype
        dense = np.zeros(self.shape, dtype=acc)
        np.add.at(dense, (self.row, self.col), self.data)
        return dense.astype(self.data.dtype, copy=False)


def sparse_from_state(fmt: str, state: Any, where: str, error: ErrorType) -> CheckedSparse:
    """A :class:`CheckedSparse` from the pickled state of a scipy CSR / CSC / COO matrix.

    Checked: two sizes below 2**31, ``indptr`` of the right length, from 0 and non-decreasing,
    ending within ``indices`` and ``data``; every index inside the shape; numeric ``data``.

    Args:
        fmt: ``"csr"``, ``"csc"`` or ``"coo"``.
        state: the instance dict the pickle holds (``_shape`` or ``shape``, ``data`` and
            ``indices`` / ``indptr`` or ``row`` / ``col`` / ``coords``).
        where: names the file and key in the error message.
        error: the exception class to raise.
    """
    if not isinstance(state, Mapping):
        raise error(f"{where}: a sparse matrix without its arrays; the file is corrupt")
    shape = state.get("_shape", state.get("shape"))
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d < 1 << 31
            for d in shape)):
        raise error(f"{where}: sparse matrix shape {str(shape)[:60]} is not two sizes")
    n_rows, n_cols = int(shape[0]), int(shape[1])
    data = checked_array(state.get("data"), f"{where}: sparse 'data'", error, ndim=1)
    if fmt in ("csr", "csc"):
        major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
        indptr = _sparse_index(state.get("indptr"), "indptr", where, error)
        indices = _sparse_index(state.get("indices"), "indices", where, error)
        if indptr.size != major + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise error(f"{where}: sparse 'indptr' must be {major + 1} non-decreasing offsets "
                        "from 0; the file is corrupt")
        nnz = int(indptr[-1])
        if nnz > indices.size or nnz > data.size:
            raise error(f"{where}: sparse 'indptr' ends at {nnz} but there are {indices.size} "
                        f"indices and {data.size} values; the file is corrupt")
        indices, data = indices[:nnz], data[:nnz]
        if nnz and (indices.min() < 0 or indices.max() >= minor):
            raise error(f"{where}: sparse 'indices' out of range [0, {minor}); the file is "
                        "corrupt or crafted")
        major_idx = np.repeat(np.arange(major), np.diff(indptr))
        rows, cols = (major_idx, indices) if fmt == "csr" else (indices, major_idx)
    else:
        coords = state.get("coords")
        if coords is not None:
            if not (isinstance(coords, tuple) and len(coords) == 2):
                raise error(f"{where}: sparse 'coords' must be (row, col)")
            row_v, col_v = coords
        else:
            row_v, col_v = state.get("row"), state.get("col")
        rows = _sparse_index(row_v, "row", where, error)
        cols = _sparse_index(col_v, "col", where, error)
        if not rows.size == cols.size == data.size:
            raise error(f"{where}: sparse 'row', 'col', 'data' lengths differ "
                        f"({rows.size}, {cols.size}, {data.size}); the file is corrupt")
        if rows.size and (rows.min() < 0 or rows.max() >= n_rows or cols.min() < 0
                          or cols.max() >= n_cols):
            raise error(f"{where}: sparse coordinates out of range for shape {shape}; the file "
                        "is corrupt or crafted")
    return CheckedSparse((n_rows, n_cols), rows, cols, data)
