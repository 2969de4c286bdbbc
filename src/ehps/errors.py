"""User-facing errors: each carries a message that says what went wrong and how to fix it.

The CLI prints these without a traceback; library users can catch :class:`EhpsError`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "EhpsError",
    "InputError",
    "BodyModelError",
    "CheckpointError",
    "DownloadError",
    "OutputError",
    "MissingDependencyError",
    "require",
    "describe_os_error",
    "os_error_reason",
]


class EhpsError(Exception):
    """Base class of every error ehps raises on purpose (bad input, missing files, bad weights).

    The message says what is wrong, with which file, and how to fix it. Either pass it whole
    (``InputError("cannot read 'a.png': the file is empty")``) or in parts, which are kept as
    attributes for programs that handle the error::

        raise OutputError(path=out, cause="the disk is full", fix="free space or pick --out")
        # str(): "<out>: the disk is full; free space or pick --out"

    Attributes:
        path: the file or folder concerned (``None`` when none is).
        cause: what went wrong.
        fix: what the user can do (``None`` when the message says it already).
    """

    def __init__(
        self, message: str = "", *, path: object = None, cause: str | None = None,
        fix: str | None = None,
    ) -> None:
        text = message or cause or ""
        if path is not None and str(path) not in text:
            text = f"{path}: {text}" if text else str(path)
        if fix:
            text = f"{text.rstrip('. ')}; {fix}" if text else fix
        super().__init__(text)
        self.text = text
        self.path = None if path is None else str(path)
        self.cause = cause or message
        self.fix = fix

    def __str__(self) -> str:
        # OSError.__str__ switches to "[Errno N] ..." once errno/filename are set; keep ours
        return self.text

    def one_line(self) -> str:
        """The message on one line (what the command line prints)."""
        return " ".join(line.strip() for line in str(self).splitlines() if line.strip())


class InputError(EhpsError, ValueError):
    """An input (image, video, array, argument) is unreadable or malformed."""


class BodyModelError(EhpsError):
    """Body-model files are missing or are not what they claim to be."""


class CheckpointError(EhpsError):
    """A weight file cannot be read or does not match the requested architecture."""


class DownloadError(EhpsError):
    """An explicit download (``ehps weights download``) failed or cannot run (offline mode, a
    source that needs a browser, an HTTP error, a checksum mismatch)."""


class OutputError(EhpsError, OSError):
    """Results cannot be written where asked (not a folder, read-only, full, in use, ...)."""


class MissingDependencyError(EhpsError, ImportError):
    """An optional dependency is not installed."""


_EXTRA_HINT = {
    "embedded": (
        "./setup.sh   (or: pip install 'ehps[embedded]' && "
        "pip install --no-deps mediapipe==0.10.21)"
    ),
}


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra to install.

    Args:
        module: importable module name, e.g. ``"av"``.
        extra: the ``ehps[...]`` extra that provides it, e.g. ``"video"``.
        purpose: what the caller needs it for, shown in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _EXTRA_HINT.get(extra, f"pip install 'ehps[{extra}]'")
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the optional package '{module}' is needed{what} but cannot be imported ({exc}). "
            f"Install it with: {hint}"
        ) from exc


_OS_FIXES = {
    "ENOSPC": "free some space or write somewhere else",
    "EDQUOT": "free some space or write somewhere else",
    "EACCES": "check the permissions or write somewhere else",
    "EPERM": "check the permissions or write somewhere else",
    "EROFS": "write somewhere else",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "EISDIR": "the path is a folder, not a file",
    "ENOENT": "check the path",
}


_OS_REASONS = {
    "EACCES": "permission denied", "EPERM": "permission denied",
    "EROFS": "read-only file system", "ENOSPC": "no space left on the disk",
    "EDQUOT": "disk quota exceeded", "ENOTDIR": "a part of the path is a file",
    "EEXIST": "it exists and is not a folder", "ENAMETOOLONG": "the name is too long",
}


def os_error_reason(exc: OSError) -> str:
    """A short reason for an :class:`OSError` (``"no space left on the disk"``, ...): the same
    words wherever ehps reports a failed read or write."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    return _OS_REASONS.get(name) or (exc.strerror or str(exc) or type(exc).__name__).lower()


def describe_os_error(exc: OSError) -> str:
    """One line for an :class:`OSError`: the path, the reason and the usual fix."""
    import errno

    fix = _OS_FIXES.get(errno.errorcode.get(exc.errno or 0, ""))
    where = f"'{exc.filename}': " if exc.filename else ""
    return f"{where}{os_error_reason(exc)}" + (f"; {fix}" if fix else "")
