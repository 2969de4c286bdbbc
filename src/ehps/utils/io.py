"""Atomic file output: a reader never sees a half-written file, and an interrupted run leaves
either the old file or the new one.

Each writer writes to a temporary file in the destination directory, flushes and fsyncs it, then
``os.replace``-s it over the target (atomic on POSIX and Windows within one filesystem). The file
gets the permissions an ordinary ``open`` would give it (``0o666`` minus the umask), not the
private ``0o600`` of temporary files, so that results can be shared as the user's umask says.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ehps.errors import EhpsError, OutputError, describe_os_error

__all__ = [
    "PathLike",
    "current_umask",
    "temp_sibling",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_npz",
    "atomic_write_image",
    "to_jsonable",
]

#: A file-system path argument: a string or any os.PathLike.
PathLike = str | os.PathLike[str]


_UMASK_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _umask_of(pid: int) -> int:
    try:  # Linux: read it without changing it (thread-safe)
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def current_umask() -> int:
    """The process umask (read once per process)."""
    return _umask_of(os.getpid())


def temp_sibling(path: PathLike, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new temporary file beside ``path`` (same folder, hidden name), with the permissions an
    ordinary new file gets (``0o666 & ~umask``). Returns ``(fd, tmp_path)``; the caller closes
    the descriptor and moves or removes the file."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except (AttributeError, OSError):  # pragma: no cover - platforms without fchmod
        pass
    return fd, Path(tmp)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; move it into place on success.

    On an exception the temporary file is removed and ``path`` is left untouched; an
    :class:`OSError` while writing (disk full...) becomes an :class:`~ehps.errors.OutputError`
    naming ``path``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_sibling(target)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, EhpsError):
            err = OutputError(path=target, cause=f"cannot be written ({describe_os_error(exc)})")
            err.errno, err.filename = exc.errno, str(target)  # callers may re-word it by errno
            raise err from exc
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy / torch scalars and arrays (recursively) into plain JSON types."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "detach"):  # torch.Tensor without importing torch here
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=indent) + "\n")


def atomic_save_npz(path: PathLike, compressed: bool = False, **arrays: Any) -> None:
    """``np.savez`` (or ``savez_compressed``) to ``path`` atomically. Tensors are converted."""
    arrays = {
        k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        for k, v in arrays.items()
    }
    with atomic_open(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def atomic_write_image(path: PathLike, image_rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB (or (H, W, 4) RGBA) image; format from the file suffix."""
    import cv2

    image = np.ascontiguousarray(image_rgb)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, [2, 1, 0, 3]]
    suffix = Path(path).suffix.lower() or ".png"
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"cannot encode an image as {suffix!r}")
    atomic_write_bytes(path, buf.tobytes())
