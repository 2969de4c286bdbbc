"""Reading ``.npy`` / ``.npz`` files a user gave us, with every declaration checked first.

``np.load(allow_pickle=False)`` is safe against code execution but not against lies: a 200-byte
``.npy`` header may declare a 2 TiB array (numpy allocates it before reading), a truncated member
surfaces as one of a dozen exception types from ``zipfile``, ``zlib`` or ``numpy.lib.format``, and a
compressed member may inflate far beyond its file. Here every header is parsed with a size limit,
the declared shape and dtype are checked against what the archive really holds and against a cap
(:func:`ehps.utils.untrusted.check_declared_array`), and only then is the data read, in bounded
chunks. Every failure becomes the caller's error class, naming the file and the member.
"""

from __future__ import annotations

import lzma
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import numpy.lib.format as npy_format

from ehps.errors import EhpsError
from ehps.utils.untrusted import ErrorType, check_declared_array

__all__ = [
    "PARSE_ERRORS",
    "DEFAULT_MAX_BYTES",
    "NpyHeader",
    "read_npy_header",
    "read_npy_data",
    "load_npy",
    "load_npz",
    "npz_members",
]

#: Exceptions the standard readers raise on a corrupt zip / npy / compressed stream (fuzzing
#: found each of them); callers turn them into their own error with the file named.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, KeyError, IndexError, EOFError, OverflowError, SyntaxError,
    MemoryError, RecursionError, UnicodeDecodeError, NotImplementedError, RuntimeError,
    AttributeError, struct.error, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
    zipfile.LargeZipFile, OSError, tokenize.TokenError,
)

#: Default cap on one array read into memory: the larger of 1 GiB and half the physical memory.
DEFAULT_MAX_BYTES: int = max(1 << 30, (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                       if hasattr(os, "sysconf") else 8 << 30) // 2)
_MAX_HEADER = 1 << 16
_CHUNK = 1 << 24


class NpyHeader:
    """A checked ``.npy`` header: ``shape``, ``dtype``, ``fortran``, ``nbytes`` of the data and
    the header length ``offset`` (bytes before the data)."""

    __slots__ = ("shape", "dtype", "fortran", "nbytes", "offset")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, fortran: bool, nbytes: int,
                 offset: int) -> None:
        self.shape, self.dtype, self.fortran = shape, dtype, fortran
        self.nbytes, self.offset = nbytes, offset


def read_npy_header(
    fh: IO[bytes], where: str, error: ErrorType, *, size: int | None,
    max_bytes: int | None = None, allow_object: bool = False,
) -> NpyHeader:
    """Parse and check the ``.npy`` header at the current position of ``fh``.

    Args:
        fh: a binary stream positioned at the ``\\x93NUMPY`` magic.
        where: names the file and member in messages.
        error: exception class to raise.
        size: total bytes of this ``.npy`` (header + data), to check the declaration against;
            ``None`` skips that check.
        max_bytes: cap on the declared data size.
        allow_object: accept object (pickled) arrays; their size is not checked here.
    """
    try:
        start = fh.tell()
    except (OSError, AttributeError):
        start = None
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fh, _MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fh, _MAX_HEADER)
        else:
            raise error(f"{where}: unsupported .npy format version {version}")
        offset = fh.tell() - start if start is not None else None
    except EhpsError:
        raise
    except PARSE_ERRORS as exc:
        raise error(f"{where}: not a valid .npy array ({type(exc).__name__}: "
                    f"{str(exc)[:160]}); the file is corrupt or truncated") from exc
    available = None if size is None or offset is None else max(size - offset, 0)
    if dtype.hasobject and allow_object:
        _, dtype, _ = check_declared_array(shape, dtype, where, error, allow_object=True)
        return NpyHeader(tuple(shape), dtype, bool(fortran), 0, offset or 0)
    shape, dtype, nbytes = check_declared_array(shape, dtype, where, error, available=available,
                                                max_bytes=max_bytes)
    return NpyHeader(shape, dtype, bool(fortran), nbytes, offset or 0)


def read_npy_data(fh: IO[bytes], header: NpyHeader, where: str, error: ErrorType) -> np.ndarray:
    """Read the data of a checked header from ``fh`` in chunks (never more than declared)."""
    out = np.empty(header.nbytes, dtype=np.uint8)
    view = memoryview(out)
    pos = 0
    try:
        while pos < header.nbytes:
            chunk = fh.read(min(_CHUNK, header.nbytes - pos))
            if not chunk:
                break
            view[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
    except EhpsError:
        raise
    except PARSE_ERRORS as exc:
        raise error(f"{where}: the array data cannot be read ({type(exc).__name__}: "
                    f"{str(exc)[:160]}); the file is corrupt or truncated") from exc
    if pos != header.nbytes:
        raise error(f"{where}: the array data ends after {pos} of {header.nbytes} bytes; the "
                    "file is truncated")
    arr = out.view(header.dtype)
    return arr.reshape(header.shape[::-1]).T if header.fortran else arr.reshape(header.shape)


def load_npy(
    path: str | os.PathLike[str], error: ErrorType, *, max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """A plain ``.npy`` file as an array (no pickles), every declaration checked."""
    path = Path(path)
    where = str(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = read_npy_header(fh, where, error, size=size, max_bytes=max_bytes)
            return read_npy_data(fh, header, where, error)
    except EhpsError:
        raise
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from exc


def npz_members(path: Path, error: ErrorType) -> dict[str, zipfile.ZipInfo]:
    """``{key: ZipInfo}`` of an ``.npz`` (key = member name without ``.npy``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except PARSE_ERRORS as exc:
        raise error(f"cannot read {path}: not a .npz (zip) archive ({type(exc).__name__}: "
                    f"{str(exc)[:160]})") from exc
    return {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i for i in infos}


def load_npz(
    path: str | os.PathLike[str], error: ErrorType, keys: tuple[str, ...] | None = None, *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> dict[str, np.ndarray]:
    """The plain (non-pickled) arrays of an ``.npz``, every declaration checked.

    Args:
        path: the archive.
        error: exception class to raise.
        keys: members to read (missing ones are left out; the caller names what it needs);
            ``None`` reads every member that is not an object array.
        max_bytes: cap on each array.

    Returns:
        ``{key: array}``; object (pickled) members are never read.
    """
    path = Path(path)
    infos = npz_members(path, error)
    wanted = [k for k in (infos if keys is None else keys) if k in infos]
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for key in wanted:
                info = infos[key]
                where = f"{path} member '{key}'"
                with zf.open(info) as fh:
                    header = read_npy_header(fh, where, error, size=info.file_size,
                                             max_bytes=max_bytes, allow_object=keys is None)
                    if header.dtype.hasobject:
                        continue  # keys=None: skip pickled members
                    out[key] = read_npy_data(fh, header, where, error)
    except EhpsError:
        raise
    except PARSE_ERRORS as exc:
        raise error(f"cannot read {path} as an .npz archive ({type(exc).__name__}: "
                    f"{str(exc)[:160]}); the file is corrupt or truncated") from exc
    return out
