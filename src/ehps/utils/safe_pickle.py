"""Reading pickles from files a user gave us: nothing runs, nothing is built unchecked.

Some formats force pickles on us (official SMPL-X ``.pkl`` files, the dicts inside HumanData
``.npz`` files, AGORA parameter files). :func:`load_pickle` reads them with one restricted
unpickler shared by every loader, and it does not let numpy or scipy parse what the file says:

- **Arrays, dtypes, scalars.** numpy's reconstructors are replaced by inert stand-ins that only
  record what the pickle declares; after loading, each array is rebuilt from its raw bytes once its
  declared shape, dtype and byte count have been checked (``ndarray.__setstate__`` allocates an
  object array of the *declared* shape before looking at the data, and accepts structured dtypes;
  neither reaches numpy here). :data:`TORCH_NUMPY_GLOBALS` gives ``torch.load`` the same checks.
- **Sparse matrices.** scipy's classes are replaced by a stand-in that becomes a
  :class:`~ehps.utils.untrusted.CheckedSparse` once every index is checked.
- **Structure.** The result is walked once with a node budget and a depth limit before anyone
  touches it: a pickle that shares one list many times (a few hundred bytes that expand to
  billions of nodes) or nests containers hundreds of levels deep is refused at once instead of
  hanging a later ``np.asarray``. The budget is the pickle's size: every node of a tree without
  shared references costs at least one opcode byte, so real files always fit.

Every failure is raised as the caller's error class, with the file named.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from ehps.errors import EhpsError
from ehps.utils.untrusted import (
    CheckedSparse,
    ErrorType,
    check_declared_array,
    sparse_from_state,
)

__all__ = [
    "MAX_DEPTH",
    "Inert",
    "SparseStandIn",
    "sparse_stand_in",
    "NUMPY_GLOBALS",
    "TORCH_NUMPY_GLOBALS",
    "resolve_inert",
    "load_pickle",
]

#: Deepest container nesting accepted in a pickle (real files: fewer than 10 levels).
MAX_DEPTH = 100
_DTYPE_CODE = re.compile(r"^[<>|=]?([biufcUSO?])(\d{0,9})$")


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
