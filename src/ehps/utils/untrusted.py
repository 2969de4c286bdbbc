"""Reading pickles from files a user gave us: nothing runs, nothing is built unchecked.

Some formats force pickles on us (official SMPL-X ``.pkl`` files, the dicts inside HumanData
``.npz`` files, AGORA parameter files). :func:`load_pickle` reads them with one restricted
unpickler shared by every loader, and it does not let numpy or scipy parse what the file says:

- **Arrays, dtypes, scalars.** numpy's reconstructors are replaced by inert stand-ins that only
  record what the pickle declares; after loading, each array is rebuilt from its raw bytes once its
  declared shape, dtype and byte count have been checked (``ndarray.__setstate__`` allocates an
  object array of the *declared* shape before looking at the data, and accepts structured dtypes;
  neither reaches numpy here).
- **Sparse matrices.** scipy's classes are replaced by a stand-in; the CSR / CSC / COO arrays are
  checked (index ranges, ``indptr`` monotone, lengths vs. shape) and become a
  :class:`CheckedSparse` (COO triplets, ``toarray`` with numpy under a size cap). scipy's C++
  kernels trust these arrays and write out of bounds on a crafted file (a segmentation fault),
  so they never see them.
- **Structure.** The result is walked once with a node budget and a depth limit before anyone
  touches it: a pickle that shares one list many times (a few hundred bytes that expand to
  billions of nodes) or nests containers hundreds of levels deep is refused at once instead of
  hanging a later ``np.asarray``. The budget is the pickle's size: every node of a tree without
  shared references costs at least one opcode byte, so real files always fit.

Every failure is raised as the caller's error class (``InputError``, ``BodyModelError``...) with
the file named.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from ehps.errors import EhpsError, InputError

__all__ = [
    "ErrorType",
    "MAX_NDIM",
    "MAX_DEPTH",
    "declared_nbytes",
    "format_size",
    "check_declared_array",
    "checked_array",
    "CheckedSparse",
    "sparse_from_state",
    "Inert",
    "SparseStandIn",
    "sparse_stand_in",
    "NUMPY_GLOBALS",
    "TORCH_NUMPY_GLOBALS",
    "resolve_inert",
    "load_pickle",
]

ErrorType = type[EhpsError]

#: Most dimensions an array read from a file may declare (numpy's own limit is 64).
MAX_NDIM = 32
#: Deepest container nesting accepted in a pickle (real files: fewer than 10 levels).
MAX_DEPTH = 100
#: Dense matrices made from a sparse one may hold at most this many elements (8 GiB of f8).
MAX_DENSE_ELEMENTS = 1 << 30
_DTYPE_CODE = re.compile(r"^[<>|=]?([biufcUSO?])(\d{0,9})$")
_ALLOWED_KINDS = frozenset("biufcUSO")


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
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
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


# --------------------------------------------------------------------------- stand-ins


class Inert:
    """Base of the stand-ins a restricted unpickler builds instead of foreign classes: it only
    records its constructor arguments and state. :meth:`resolve` turns it into plain data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def resolve(self, walk: Callable[[Any], Any], where: str, error: ErrorType) -> Any:
        """Plain data for this object (``walk`` resolves nested values)."""
        raise error(f"{where}: holds a {type(self).__name__.lstrip('_')} object, which is not "
                    "read from this kind of file")


class SparseStandIn(Inert):
    """What a pickled scipy sparse matrix becomes; subclasses set :attr:`fmt`."""

    fmt = ""

    def resolve(self, walk: Callable[[Any], Any], where: str, error: ErrorType) -> CheckedSparse:
        state = walk(getattr(self, "_state", None))
        return sparse_from_state(self.fmt, state, where, error)


_SPARSE: dict[str, type[SparseStandIn]] = {
    f: type(f"SparseMatrix_{f}", (SparseStandIn,), {"fmt": f}) for f in ("csr", "csc", "coo")
}


def sparse_stand_in(name: str) -> type[SparseStandIn] | None:
    """The stand-in class for a scipy sparse class name (``csc_matrix``...), or ``None``."""
    fmt = name.split("_")[0]
    if fmt not in _SPARSE or name not in (f"{fmt}_matrix", f"{fmt}_array"):
        return None
    return _SPARSE[fmt]


class _DType(Inert):
    """A pickled ``numpy.dtype``: only simple codes (``'<f8'``, ``'U12'``, ``'O8'``...)."""

    def dtype(self, where: str, error: ErrorType) -> np.dtype:
        cached = getattr(self, "_dtype", None)
        if cached is not None:
            return cached
        code = self._args[0] if self._args else None
        m = _DTYPE_CODE.match(code) if isinstance(code, str) else None
        state = getattr(self, "_state", None)
        order: str | None = "="
        if isinstance(state, tuple) and len(state) >= 2:
            if any(s is not None for s in state[2:5]):
                raise error(f"{where}: a structured or sub-array dtype, which is not read")
            order = state[1] if state[1] in ("<", ">", "|", "=") else None
        if m is None or order is None or int(m.group(2) or 0) > 1 << 24:
            raise error(f"{where}: unsupported dtype {str(code)[:40]}; the file is corrupt")
        try:
            dt = np.dtype(code)
        except (TypeError, ValueError) as exc:
            raise error(f"{where}: unsupported dtype {code[:40]}; the file is corrupt") from exc
        self._dtype = dt.newbyteorder(order) if order in ("<", ">") and dt.itemsize > 1 else dt
        return self._dtype


def _resolve_dtype(dt: Any, where: str, error: Any) -> np.dtype:
    if isinstance(dt, _DType):
        return dt.dtype(where, error)
    if isinstance(dt, np.dtype):  # torch's unpickler builds real dtypes
        return dt
    raise error(f"{where}: an array with an invalid dtype ({type(dt).__name__})")


class _Array(Inert):
    """A pickled ``numpy.ndarray`` (``_reconstruct`` + ``__setstate__``), rebuilt once checked."""

    def resolve(self, walk: Callable[[Any], Any], where: str, error: ErrorType) -> np.ndarray:
        state = getattr(self, "_state", None)
        if not (isinstance(state, tuple) and len(state) in (4, 5)):
            raise error(f"{where}: an array without a valid state; the file is corrupt")
        if len(state) == 4:  # very old numpy pickles have no version field
            state = (0, *state)
        _, shape, dt, fortran, raw = state
        dtype = _resolve_dtype(dt, where, error)
        shape, dtype, nbytes = check_declared_array(shape, dtype, where, error, allow_object=True)
        order = "F" if fortran else "C"
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != math.prod(shape):
                count = len(raw) if isinstance(raw, list) else "no"
                raise error(f"{where}: an object array of shape {shape} holds {count} items; "
                            "the file is corrupt")
            out = np.empty(len(raw), dtype=object)
            for i, item in enumerate(raw):
                out[i] = walk(item)
            return out.reshape(shape, order=order)
        if isinstance(raw, str):  # Python 2 byte strings arrive as latin1 text
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != nbytes:
            got = len(raw) if isinstance(raw, (bytes, bytearray)) else 0
            raise error(f"{where}: an array of shape {shape} {dtype} needs {nbytes} bytes, the "
                        f"file gives {got}; the file is corrupt")
        return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order=order).copy()


class _Ready(Inert):
    """A value a checked reconstructor already built; a pickle cannot modify it afterwards."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("a numpy value was given a state a second time")

    def resolve(self, walk: Callable[[Any], Any], where: str, error: ErrorType) -> Any:
        return walk(self.value)


class _NdarrayClass(Inert):
    """Stands for ``numpy.ndarray``, which a pickle may only name as ``_reconstruct``'s first
    argument (calling the real class would allocate whatever shape the file asks for)."""


def _reconstruct(cls: Any, shape: Any = None, typecode: Any = None) -> _Array:
    if cls is not _NdarrayClass:
        raise pickle.UnpicklingError("numpy _reconstruct of a class other than ndarray")
    return _Array()


def _plain_dtype(dt: Any) -> np.dtype:
    return _resolve_dtype(dt, "a numpy value", pickle.UnpicklingError)


def _scalar(dt: Any, data: Any = None) -> _Ready:
    dtype = _plain_dtype(dt)
    if dtype.hasobject:
        return _Ready(data)
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"a numpy {dtype} scalar with invalid bytes")
    return _Ready(np.frombuffer(bytes(data), dtype=dtype)[0])


def _frombuffer(buf: Any, dt: Any, shape: Any, order: Any = "C") -> _Ready:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
    _, dtype, nbytes = check_declared_array(
        shape, _plain_dtype(dt), "a numpy array", pickle.UnpicklingError)  # type: ignore[arg-type]
    try:
        data = bytes(memoryview(buf))
    except TypeError as exc:
        raise pickle.UnpicklingError("a numpy array without a byte buffer") from exc
    if len(data) != nbytes:
        raise pickle.UnpicklingError(f"a numpy array of shape {shape} {dtype}: wrong byte count")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if order == "F" else "C")
    return _Ready(arr)


def _dtype(code: Any = None, align: Any = False, copy: Any = False) -> _DType:
    return _DType(code)


def _encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError("only latin1 byte strings may be encoded in this file")
    return text.encode("latin1")


def _bytes(*args: Any) -> bytes:
    """``bytes()`` as protocol-2 pickles spell an empty byte string (``bytes(n)`` would
    allocate ``n`` bytes: refused)."""
    if not args:
        return b""
    if len(args) == 2 and isinstance(args[0], str):
        return _encode(args[0], args[1])
    raise pickle.UnpicklingError("bytes() with arguments is not allowed in this file")


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, Inert)) or base is not object or (
            state is not None):
        raise pickle.UnpicklingError("copyreg._reconstructor of a class that is not allowed")
    return cls.__new__(cls)


#: numpy reconstruction globals (numpy 1 and 2 spellings) -> checked stand-ins; also the
#: helpers every protocol-2 pickle of them uses.
NUMPY_GLOBALS: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _reconstruct
       for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): _NdarrayClass,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
    ("__builtin__", "bytes"): _bytes,
    ("builtins", "bytes"): _bytes,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
}


#: The same checked array reconstruction for ``torch.serialization.safe_globals`` (torch's own
#: restricted unpickler would otherwise hand a declared state to ``ndarray.__setstate__``);
#: arrays come back as inert stand-ins that :func:`resolve_inert` turns into checked arrays.
TORCH_NUMPY_GLOBALS: list[tuple[Any, str]] = [
    (_reconstruct, "numpy.core.multiarray._reconstruct"),
    (_reconstruct, "numpy._core.multiarray._reconstruct"),
    (_NdarrayClass, "numpy.ndarray"),
    (_Array, f"{__name__}._Array"),
]


def resolve_inert(obj: Any, where: str, error: ErrorType, depth: int = 0) -> Any:
    """Replace the stand-ins in the containers of a loaded object (dicts, lists, tuples; other
    objects such as tensors are kept as they are) by checked plain data."""
    if isinstance(obj, Inert):
        return obj.resolve(_Walker(where, error, 1 << 24), where, error)
    if depth >= MAX_DEPTH:
        raise error(f"{where}: containers nested more than {MAX_DEPTH} levels deep")
    if type(obj) is dict or type(obj).__name__ == "OrderedDict":
        for k, v in obj.items():
            if isinstance(v, (Inert, dict, list, tuple)):
                obj[k] = resolve_inert(v, where, error, depth + 1)
        return obj
    if isinstance(obj, list):
        return [resolve_inert(v, where, error, depth + 1) for v in obj]
    if type(obj) is tuple:
        return tuple(resolve_inert(v, where, error, depth + 1) for v in obj)
    return obj


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh: IO[bytes], lookup: Callable[[str, str], Any]) -> None:
        super().__init__(fh, encoding="latin1")
        self._lookup = lookup

    def find_class(self, module: str, name: str) -> Any:
        return self._lookup(module, name)


_ATOMS = (str, bytes, int, float, bool, complex, type(None), np.generic)
_KEY_TYPES = (*_ATOMS, tuple)


class _Walker:
    """Resolves stand-ins and copies containers, counting every node visit (shared references
    count each time) against a budget and bounding the depth."""

    def __init__(self, where: str, error: ErrorType, budget: int) -> None:
        self.where, self.error, self.left, self.depth = where, error, budget, 0

    def __call__(self, obj: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise self.error(
                f"{self.where}: the pickle expands to more objects than it has bytes (shared "
                "references nested to blow up on reading); refusing it as a resource bomb")
        if isinstance(obj, _ATOMS) or (isinstance(obj, np.ndarray) and not obj.dtype.hasobject):
            return obj
        if self.depth >= MAX_DEPTH:
            raise self.error(f"{self.where}: containers nested more than {MAX_DEPTH} levels "
                             "deep; refusing it as a resource bomb")
        self.depth += 1
        try:
            return self._container(obj)
        finally:
            self.depth -= 1

    def _container(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                key = self(k)
                if not isinstance(key, _KEY_TYPES):
                    raise self.error(f"{self.where}: a dict key of type {type(key).__name__}")
                try:
                    hash(key)
                except TypeError as exc:  # a tuple holding an array
                    raise self.error(f"{self.where}: an unhashable dict key") from exc
                out[key] = self(v)
            return out
        if isinstance(obj, list):
            return [self(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self(v) for v in obj)
        if isinstance(obj, (set, frozenset)):
            try:
                return type(obj)(self(v) for v in obj)
            except TypeError as exc:  # an array inside a set
                raise self.error(f"{self.where}: a set of unhashable values") from exc
        if isinstance(obj, Inert):
            return obj.resolve(self, self.where, self.error)
        raise self.error(f"{self.where}: holds a {type(obj).__name__}, which is not read from "
                         "this kind of file")


def load_pickle(
    source: bytes | IO[bytes], where: str, error: ErrorType,
    lookup: Callable[[str, str], Any],
) -> Any:
    """Unpickle ``source`` with only the globals ``lookup`` allows, then resolve and check it.

    Args:
        source: the pickle bytes or a binary file (read whole).
        where: names the file (and member) in error messages.
        error: the exception class raised for every failure.
        lookup: ``(module, name) -> object``; it should try :data:`NUMPY_GLOBALS` and raise
            ``error`` for anything it does not allow.

    Returns:
        Plain data: dicts, lists, tuples, sets, strings, numbers, numpy scalars and numeric /
        string / checked-object numpy arrays (every stand-in resolved).
    """
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else source.read()
    try:
        raw = _Unpickler(io.BytesIO(data), lookup).load()
    except EhpsError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, OverflowError, UnicodeDecodeError, MemoryError, RecursionError,
            ImportError) as exc:
        raise error(f"{where}: not a readable pickle ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); the file is corrupt or truncated") from exc
    return _Walker(where, error, len(data) + 64)(raw)
