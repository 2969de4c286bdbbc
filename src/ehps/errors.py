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
    "MissingDependencyError",
    "require",
]


class EhpsError(Exception):
    """Base class of every error ehps raises on purpose (bad input, missing files, bad weights)."""


class InputError(EhpsError, ValueError):
    """An input (image, video, array, argument) is unreadable or malformed."""


class BodyModelError(EhpsError):
    """Body-model files are missing or are not what they claim to be."""


class CheckpointError(EhpsError):
    """A weight file cannot be read or does not match the requested architecture."""


class DownloadError(EhpsError):
    """An explicit download (``ehps weights download``) failed or cannot run (offline mode, a
    source that needs a browser, an HTTP error, a checksum mismatch)."""


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
