"""Low-level, safe access to the members of a ``.npz`` archive.

Three things ``np.load`` cannot do for multi-million-row HumanData files:

- **Memory-map members.** ``np.load(..., mmap_mode="r")`` ignores the mode for ``.npz``. A member
  that is *stored* (not deflated, as ``np.savez`` writes it) is one contiguous ``.npy`` inside the
  zip, so :func:`open_member` maps it directly with :class:`numpy.memmap`: every DataLoader worker
  shares the page cache and nothing is copied until a row is touched.
- **Read pickled members safely.** mmhuman3d stores the ``smplx`` / ``meta`` dicts as 0-d object
  arrays, i.e. pickles; ``np.load(allow_pickle=False)`` refuses them and ``allow_pickle=True`` would
  run arbitrary code from a downloaded file. :class:`RestrictedUnpickler` rebuilds only plain
  containers (dict / list / tuple / str / numbers) and numpy arrays, dtypes and scalars; any other
  global is refused with :class:`~ehps.errors.InputError`.
- **Cache deflated members.** ``np.savez_compressed`` archives cannot be mapped; :func:`open_member`
  then decompresses the member once into ``cache_dir`` as a plain ``.npy`` and maps that.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npy_format

from ehps.errors import InputError
from ehps.utils.io import atomic_open

__all__ = ["RestrictedUnpickler", "restricted_loads", "NpzArchive", "open_member"]

# (module, name) pairs a HumanData pickle may reference: numpy array reconstruction only.
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell raw bytes
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds plain Python containers and numpy arrays.

    Why a pickle at all: official HumanData files keep ``smplx``, ``smpl``, ``meta`` and ``misc`` as
    pickled dicts inside the ``.npz``; there is no other way to read them. Anything that is not a
    numpy array, dtype, scalar or builtin container is rejected before it can be constructed.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise InputError(
            f"refusing to unpickle '{module}.{name}': HumanData files may only contain dicts of "
            "numpy arrays, strings and numbers. If this file is trusted, re-save it with plain "
            "arrays (ehps.data.humandata.write_humandata)."
        )


def restricted_loads(data: bytes) -> Any:
    """``pickle.loads`` through :class:`RestrictedUnpickler` (latin1 for Python-2 era pickles)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _read_npy_header(fh: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = npy_format.read_magic(fh)
    if version == (1, 0):
        return npy_format.read_array_header_1_0(fh, max_header_size=1 << 20)
    if version in ((2, 0), (3, 0)):
        return npy_format.read_array_header_2_0(fh, max_header_size=1 << 20)
    raise InputError(f"unsupported .npy format version {version}")


class NpzArchive:
    """Index of the members of one ``.npz`` file, opened read-only.

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
            with zipfile.ZipFile(self.path) as zf:
                infos = zf.infolist()
        except zipfile.BadZipFile as exc:
            raise InputError(
                f"{self.path} is not a .npz archive ({exc}); HumanData files are numpy .npz files"
            ) from exc
        self._infos = {
            (i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i for i in infos
        }
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def keys(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, key: object) -> bool:
        return key in self._infos

    def is_stored(self, key: str) -> bool:
        return self._infos[key].compress_type == zipfile.ZIP_STORED

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        with open(self.path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise InputError(f"{self.path}: corrupt zip local header for '{info.filename}'")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            return info.header_offset + 30 + name_len + extra_len

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of a member without reading its data."""
        info = self._info(key)
        with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
            shape, _, dtype = _read_npy_header(fh)
        return shape, dtype

    def _info(self, key: str) -> zipfile.ZipInfo:
        if key not in self._infos:
            raise InputError(
                f"{self.path}: key '{key}' is missing (present: {sorted(self._infos)[:40]})"
            )
        return self._infos[key]

    def load(self, key: str, mmap: bool = True) -> np.ndarray:
        """The member ``key`` as an array: memory-mapped when stored or cached, else in memory.

        Object (pickled) members are read through :func:`restricted_loads`.
        """
        info = self._info(key)
        if info.compress_type == zipfile.ZIP_STORED and mmap:
            offset = self._data_offset(info)
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                shape, fortran, dtype = _read_npy_header(fh)
                data_start = fh.tell()
            if dtype.hasobject:
                return self._load_object(info)
            if int(np.prod(shape)) == 0 or dtype.itemsize == 0:
                return np.zeros(shape, dtype)
            return np.memmap(
                self.path, dtype=dtype, mode="r", offset=data_start, shape=shape,
                order="F" if fortran else "C",
            )
        with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
            shape, fortran, dtype = _read_npy_header(fh)
            if dtype.hasobject:
                return self._load_object(info)
        if mmap and self.cache_dir is not None:
            return self._cached(key, info)
        with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
            return npy_format.read_array(fh, allow_pickle=False)

    def _load_object(self, info: zipfile.ZipInfo) -> np.ndarray:
        with zipfile.ZipFile(self.path) as zf, zf.open(info) as fh:
            _read_npy_header(fh)
            payload = fh.read()
        try:
            value = restricted_loads(payload)
        except InputError:
            raise
        except Exception as exc:  # malformed pickle stream
            raise InputError(
                f"{self.path}: member '{info.filename}' is not readable ({exc})"
            ) from exc
        if not isinstance(value, np.ndarray):
            value = np.asarray(value, dtype=object)
        return value

    def _cached(self, key: str, info: zipfile.ZipInfo) -> np.ndarray:
        assert self.cache_dir is not None
        stat = self.path.stat()
        tag = hashlib.sha1(
            f"{self.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{key}".encode()
        ).hexdigest()[:16]
        target = self.cache_dir / f"{tag}.npy"
        if not target.is_file():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(self.path) as zf, zf.open(info) as src, atomic_open(target) as dst:
                while chunk := src.read(1 << 24):
                    dst.write(chunk)
        return np.load(target, mmap_mode="r", allow_pickle=False)


def open_member(
    path: str | os.PathLike[str], key: str, cache_dir: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Convenience: :meth:`NpzArchive.load` for one member."""
    return NpzArchive(path, cache_dir).load(key)
