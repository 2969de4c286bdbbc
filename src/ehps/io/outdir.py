"""The output folder of a run: checked before any work, locked while in use, never mixed.

- :func:`check_out_dir`: ``--out`` must be (or become) a writable folder with some free space:
  a path that is a file, lies under a file, is read-only, or sits on a full disk is refused with
  one line naming the path and the reason, before models are loaded (no temporary file is left).
- :class:`OutputFolder`: an exclusive lock (``.ehps.lock``, POSIX ``flock``, released by the
  kernel when the process dies) so that two runs never write into one folder; the second gets
  "in use by PID ...". An earlier run's results are never silently mixed with new ones: without
  ``resume`` or ``overwrite`` such a folder is refused; ``overwrite`` removes exactly the files
  and folders ehps writes (nothing else); ``resume`` continues it (the manifests check that the
  settings match).
- :func:`sequence_folder_name`: the folder of a video's results comes from its file name, made
  safe (never ``.``/``..``, never hidden, never one of the names ehps writes itself, never outside
  the output folder) and unique within the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ehps.errors import OutputError, os_error_reason
from ehps.io.manifest import MANIFEST_FORMAT, MANIFEST_NAME
from ehps.utils.io import temp_sibling

__all__ = [
    "LOCK_NAME",
    "RESULT_NAMES",
    "MIN_FREE_BYTES",
    "check_out_dir",
    "OutputFolder",
    "sequence_folder_name",
    "earlier_results",
]

LOCK_NAME = ".ehps.lock"
#: Every name ehps writes into an output (or sequence) folder.
RESULT_NAMES: frozenset[str] = frozenset({
    "smplx", "meta", "mesh", "overlay", "state", MANIFEST_NAME, "summary.json", "tracks.npz",
    "overlay.mp4", "scene.glb", "world.json", "anim",
})
#: Less free space than this on the output disk is refused up front.
MIN_FREE_BYTES = 16 * 1024 * 1024
def reason(exc: OSError) -> str:
    """A short reason for an OS error (``"read-only file system"``, ...; see
    :func:`ehps.errors.os_error_reason`)."""
    return os_error_reason(exc)


def _file_above(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def check_out_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Create ``path`` if needed and check that files can be written there.

    Returns:
        the folder as an absolute path.

    Raises:
        OutputError: one line naming the path and why it cannot hold the results.
    """
    out = Path(path).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out}: it is a file, not a folder; choose a folder")
    above = _file_above(out)
    if above is not None:
        raise OutputError(f"{flag} {out}: {above} is a file, so no folder can be made under it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{flag} {out}: cannot create the folder ({reason(exc)})") from None
    tmp: Path | None = None
    try:  # a real write: permissions, read-only mounts and full disks all show here
        fd, tmp = temp_sibling(out / ".ehps_write_check")
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"{flag} {out}: cannot write there ({reason(exc)})") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"{flag} {out}: the disk is full ({free // 1024} KiB free); free some "
                          "space or choose another folder")
    return out


def earlier_results(out: Path) -> list[str]:
    """Names in ``out`` that ehps wrote in an earlier run (its own names, and sequence folders
    that hold an ehps manifest)."""
    found = []
    for child in sorted(out.iterdir()) if out.is_dir() else []:
        if child.name in RESULT_NAMES:
            found.append(child.name)
        elif child.is_dir() and _is_ehps_manifest(child / MANIFEST_NAME):
            found.append(child.name + "/")
    return found


def _is_ehps_manifest(path: Path) -> bool:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _remove_results(folder: Path) -> None:
    for name in RESULT_NAMES:
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


class OutputFolder:
    """The locked output folder of one run (a context manager).

    Args:
        path: the folder (checked by :func:`check_out_dir`).
        resume: continue an earlier run's results.
        overwrite: remove an earlier run's results first.

    Raises (on enter):
        OutputError: the folder is unusable, in use by another run, or holds an earlier run's
            results and neither ``resume`` nor ``overwrite`` was given.
    """

    def __init__(self, path: str | os.PathLike[str], *, resume: bool = False,
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.resume, self.overwrite = resume, overwrite
        self._fh: Any = None

    def __enter__(self) -> OutputFolder:
        self.path = check_out_dir(self.path)
        self._lock()
        try:
            self._claim()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._unlock()

    def _claim(self) -> None:
        earlier = earlier_results(self.path)
        if not earlier or self.resume:
            return
        if not self.overwrite:
            shown = ", ".join(earlier[:5]) + (" ..." if len(earlier) > 5 else "")
            raise OutputError(
                f"--out {self.path} holds the results of an earlier run ({shown}); use --resume "
                "to continue it, --overwrite to replace it, or choose another --out")
        for name in earlier:
            target = self.path / name.rstrip("/")
            if name.endswith("/"):
                _remove_results(target)
                with contextlib.suppress(OSError):
                    target.rmdir()  # only when nothing else was in it
            elif target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            return
        path = self.path / LOCK_NAME
        for _ in range(5):
            fh = open(path, "a+")  # held until _unlock
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                fh.close()
                raise OutputError(
                    f"--out {self.path} is in use by another ehps run (PID {holder}); wait for "
                    "it to finish or choose another --out") from None
            # the lock must be on the file that is still at the path (not one removed by a
            # run that just finished)
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                fh.seek(0)
                fh.truncate()
                fh.write(str(os.getpid()))
                fh.flush()
                self._fh = fh
                return
            fh.close()
        raise OutputError(f"--out {self.path}: could not take the folder's lock")

    def _unlock(self) -> None:
        if self._fh is None:
            return
        with contextlib.suppress(OSError):
            (self.path / LOCK_NAME).unlink()
        self._fh.close()  # closing releases the flock
        self._fh = None


_UNSAFE = re.compile(r"[^\w.\-]+")


def sequence_folder_name(stem: str, used: set[str]) -> str:
    """A safe, unique folder name for a video's results (see the module docstring); records the
    name in ``used`` (names compared without case, for case-insensitive file systems)."""
    name = _UNSAFE.sub("_", stem).strip(". _-")[:100]
    if not name:
        name = "video"
    reserved = {n.lower() for n in RESULT_NAMES} | {LOCK_NAME}
    if name.lower() in reserved:
        name = f"{name}_video"
    taken = {u.lower() for u in used} | reserved
    base, i = name, 2
    while name.lower() in taken:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name
