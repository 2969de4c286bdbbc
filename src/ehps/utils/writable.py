"""Checking an output path before the expensive work: one clear line instead of a traceback at
the end.

:func:`check_writable` answers, before anything is computed, the questions a failed write would
raise later: is the output a file where a folder is wanted (or the reverse), does the path run
under a file, can the folder be written (a real probe file, created and removed at once: a
permission check says nothing about read-only mounts or the root user), and is there room for
``need_bytes``.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from ehps.errors import OutputError, os_error_reason
from ehps.utils.untrusted import format_size

__all__ = ["check_writable", "nearest_existing"]


def nearest_existing(path: Path) -> Path:
    """The deepest ancestor of ``path`` (or ``path`` itself) that exists."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(
    path: str | os.PathLike[str], *, folder: bool = False, need_bytes: int = 0,
    what: str = "output",
) -> Path:
    """Check that ``path`` can be created or replaced, without leaving anything behind.

    Args:
        path: the output file (or folder with ``folder=True``); it need not exist yet.
        folder: ``path`` is a folder to write into (else a file to write).
        need_bytes: bytes the output will take (0: do not check the free space).
        what: how the path is called in messages (``"--out"``, ``"output"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path` (``~`` expanded).

    Raises:
        OutputError: one line naming the path, the reason and the fix.
    """
    p = Path(path).expanduser()
    if folder and p.exists() and not p.is_dir():
        raise OutputError(path=p, cause=f"{what} is a file, not a folder",
                          fix="give a folder path (it is created if needed)")
    if not folder and p.is_dir():
        raise OutputError(path=p, cause=f"{what} is a folder", fix="give a file name")
    parent = p if folder else p.parent
    anchor = nearest_existing(parent)
    if not anchor.is_dir():
        raise OutputError(path=p, cause=f"'{anchor}' is a file, so nothing can be created under "
                          "it", fix=f"choose another {what} path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ehps-write-check-", dir=anchor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        fix = ("write somewhere else" if exc.errno == errno.EROFS
               else f"check its permissions or choose another {what} path")
        raise OutputError(path=p, cause=f"the folder '{anchor}' cannot be written "
                          f"({os_error_reason(exc)})", fix=fix) from exc
    if need_bytes > 0:
        free = shutil.disk_usage(anchor).free
        if free < need_bytes:
            raise OutputError(path=p, cause=f"needs {format_size(need_bytes)} but only "
                              f"{format_size(free)} is free there",
                              fix="free some space or write somewhere else")
    return p
