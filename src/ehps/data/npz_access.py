"""Low-level, safe access to the members of a ``.npz`` archive.

Three things ``np.load`` cannot do for multi-million-row HumanData files:

- **Memory-map members.** ``np.load(..., mmap_mode="r")`` ignores the mode for ``.npz``. A member
  that is *stored* (not deflated, as ``np.savez`` writes it) is one contiguous ``.npy`` inside the
  zip, so :func:`open_member` maps it directly with :class:`numpy.memmap`: every DataLoader worker
  shares the page cache and nothing is copied until a row is touched.
- **Read pickled members safely.** mmhuman3d stores the ``smplx`` / ``meta`` dicts as 0-d object
  arrays, i.e. pickles; ``np.load(allow_pickle=False)`` refuses them and ``allow_pickle=True`` would
  run arbitrary code from a downloaded file. :func:`restricted_loads` rebuilds only plain
  containers (dict / list / tuple / str / numbers) and checked numpy arrays, dtypes and scalars
  (the shared reader of :mod:`ehps.utils.untrusted`); any other global is refused with
  :class:`~ehps.errors.InputError`.
- **Cache deflated members.** ``np.savez_compressed`` archives cannot be mapped; :func:`open_member`
  then decompresses the member once into ``cache_dir`` as a plain ``.npy`` and maps that.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import shutil
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ehps.errors import EhpsError, InputError
from ehps.utils.io import atomic_open
from ehps.utils.safe_npz import (
    DEFAULT_MAX_BYTES,
    PARSE_ERRORS,
    NpyHeader,
    npz_members,
    read_npy_data,
    read_npy_header,
)
from ehps.utils.safe_pickle import NUMPY_GLOBALS, load_pickle
from ehps.utils.untrusted import format_size

__all__ = ["restricted_loads", "NpzArchive", "open_member"]

# What a HumanData pickle may reference besides numpy's (checked) array reconstruction.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
}


def _lookup(module: str, name: str) -> Any:
    found = NUMPY_GLOBALS.get((module, name), _ALLOWED_GLOBALS.get((module, name)))
    if found is None:
        raise InputError(
            f"refusing to unpickle '{module}.{name}': HumanData files may only contain dicts of "
            "numpy arrays, strings and numbers. If this file is trusted, re-save it with plain "
            "arrays (ehps.data.humandata.write_humandata)."
        )
    return found


def restricted_loads(data: bytes, where: str = "pickle") -> Any:
    """Unpickle plain containers (dict / list / tuple / set / str / numbers) and numpy arrays,
    every array checked, through :func:`ehps.utils.untrusted.load_pickle` (latin1 for Python-2
    era pickles).

    Raises:
        InputError: a disallowed global, a malformed stream or array, or a resource bomb
            (the message starts with ``where``).
    """
    return load_pickle(data, where, InputError, _lookup)


class NpzArchive:
    """Index of the members of one ``.npz`` file, opened read-only.

    Every member's ``.npy`` header is checked before its data is touched: the declared shape and
    dtype must fit in the bytes the member holds (a forged 2 TiB shape is refused at once), and
    members read into memory must fit under :data:`ehps.utils.safe_npz.DEFAULT_MAX_BYTES`. Any
    failure is an :class:`InputError` naming the file and the key.

    Args:
        path: the archive.
        cache_dir: where deflated members are decompressed once for memory mapping; ``None``
            loads deflated members into memory instead.
    """

    def __init__(
        self, path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"HumanData file not found: {self.path}")
        try:
            self._infos = npz_members(self.path, InputError)
        except InputError as exc:
            raise InputError(f"{exc}; HumanData files are numpy .npz files") from exc
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def keys(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, key: object) -> bool:
        return key in self._infos

    def is_stored(self, key: str) -> bool:
        return self._infos[key].compress_type == zipfile.ZIP_STORED

    def _where(self, key: str) -> str:
        return f"{self.path} key '{key}'"

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        with open(self.path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise InputError(f"{self.path}: corrupt zip local header for '{info.filename}'")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            return info.header_offset + 30 + name_len + extra_len

    def _header(self, key: str, max_bytes: int | None = None) -> NpyHeader:
        info = self._info(key)
        with self._open_member(info, self._where(key)) as fh:
            return read_npy_header(fh, self._where(key), InputError, size=info.file_size,
                                   max_bytes=max_bytes, allow_object=True)

    @contextlib.contextmanager
    def _open_member(self, info: zipfile.ZipInfo, where: str, verb: str = "read",
                     keep_file_errors: bool = False) -> Iterator[IO[bytes]]:
        """The member ``info`` opened for reading; a parse failure while the ``with`` block runs
        becomes an :class:`InputError` naming ``where`` (the file is corrupt or truncated).

        Args:
            info: the member. where: its name in messages. verb: ``"read"`` or
                ``"decompressed"``, for the message.
            keep_file_errors: let an ``OSError`` that names a file (e.g. the disk filling up
                while the block writes elsewhere) pass unchanged.
        """
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
                yield fh
        except EhpsError:
            raise
        except PARSE_ERRORS as exc:
            if keep_file_errors and isinstance(exc, OSError) and exc.filename:
                raise
            raise InputError(f"{where}: the member cannot be {verb} ({type(exc).__name__}: "
                             f"{str(exc)[:160]}); the file is corrupt or truncated") from exc

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of a member without reading its data (the declaration checked)."""
        h = self._header(key)
        return h.shape, h.dtype

    def _info(self, key: str) -> zipfile.ZipInfo:
        if key not in self._infos:
            raise InputError(
                f"{self.path}: key '{key}' is missing (present: {sorted(self._infos)[:40]})"
            )
        return self._infos[key]

    def load(self, key: str, mmap: bool = True) -> np.ndarray:
        """The member ``key`` as an array: memory-mapped when stored or cached, else in memory.

        Object (pickled) members are read through :func:`restricted_loads`.

        Raises:
            InputError: a corrupt, truncated or forged member (the message names the key).
        """
        info = self._info(key)
        if info.compress_type == zipfile.ZIP_STORED and mmap:
            return self._mapped(key, info)
        header = self._header(key)
        if header.dtype.hasobject:
            return self._load_object(key, info)
        if mmap and self.cache_dir is not None:
            return self._cached(key, info, header)
        header = self._header(key, max_bytes=DEFAULT_MAX_BYTES)
        with self._open_member(info, self._where(key)) as fh:
            read_npy_header(fh, self._where(key), InputError, size=info.file_size)
            return read_npy_data(fh, header, self._where(key), InputError)

    def _mapped(self, key: str, info: zipfile.ZipInfo) -> np.ndarray:
        offset = self._data_offset(info)
        where = self._where(key)
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            header = read_npy_header(fh, where, InputError, size=info.file_size,
                                     allow_object=True)
            data_start = fh.tell()
        if header.dtype.hasobject:
            return self._load_object(key, info)
        if header.nbytes == 0:
            return np.zeros(header.shape, header.dtype)
        if data_start + header.nbytes > self.path.stat().st_size:
            raise InputError(f"{where}: the data runs past the end of the file; the file is "
                             "truncated")
        try:
            return np.memmap(
                self.path, dtype=header.dtype, mode="r", offset=data_start, shape=header.shape,
                order="F" if header.fortran else "C",
            )
        except (ValueError, OSError, OverflowError) as exc:
            raise InputError(f"{where}: cannot be memory-mapped ({exc})") from exc

    def _load_object(self, key: str, info: zipfile.ZipInfo) -> np.ndarray:
        where = self._where(key)
        if info.file_size > DEFAULT_MAX_BYTES:
            raise InputError(f"{where}: a pickled member of {format_size(info.file_size)} is "
                             f"larger than the limit of {format_size(DEFAULT_MAX_BYTES)}")
        with self._open_member(info, where) as fh:
            read_npy_header(fh, where, InputError, size=info.file_size, allow_object=True)
            payload = fh.read(DEFAULT_MAX_BYTES + 1)
        value = restricted_loads(payload, where)
        if isinstance(value, np.ndarray):
            return value
        holder = np.empty((), dtype=object)  # never np.asarray: it would walk nested lists
        holder[()] = value
        return holder

    def _cached(self, key: str, info: zipfile.ZipInfo, header: NpyHeader) -> np.ndarray:
        assert self.cache_dir is not None
        stat = self.path.stat()
        tag = hashlib.sha1(
            f"{self.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{key}".encode()
        ).hexdigest()[:16]
        target = self.cache_dir / f"{tag}.npy"
        where = self._where(key)
        if not target.is_file():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.cache_dir).free
            if info.file_size > free:
                raise InputError(
                    f"{where}: decompressing it needs {format_size(info.file_size)} in the cache "
                    f"folder {self.cache_dir}, which has {format_size(free)} free; free space or "
                    "pick another cache_dir")
            with self._open_member(info, where, "decompressed", keep_file_errors=True) as src, \
                    atomic_open(target) as dst:
                left = info.file_size
                while left > 0 and (chunk := src.read(min(1 << 24, left))):
                    dst.write(chunk)
                    left -= len(chunk)
        size = target.stat().st_size
        with open(target, "rb") as fh:
            cached = read_npy_header(fh, where, InputError, size=size)
            data_start = fh.tell()
        if cached.nbytes == 0:
            return np.zeros(cached.shape, cached.dtype)
        if data_start + cached.nbytes > size:
            raise InputError(f"{where}: the member is truncated (its cache {target} ends early)")
        return np.memmap(target, dtype=cached.dtype, mode="r", offset=data_start,
                         shape=cached.shape, order="F" if cached.fortran else "C")


def open_member(
    path: str | os.PathLike[str], key: str, cache_dir: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Convenience: :meth:`NpzArchive.load` for one member."""
    return NpzArchive(path, cache_dir).load(key)
