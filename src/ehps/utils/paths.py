"""User directories for caches and data, following the platform's conventions.

Every location comes from (1) an explicit argument, (2) an environment variable, (3) a
``platformdirs`` default. Nothing is ever relative to the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["cache_dir", "data_dir"]

_APP = "ehps"


def cache_dir(subdir: str = "", explicit: str | os.PathLike[str] | None = None) -> Path:
    """Directory for rebuildable caches (e.g. the Anny model build), created on demand.

    Order: ``explicit``, then ``$EHPS_CACHE_DIR``, then the platform user cache dir
    (``~/.cache/ehps`` on Linux). ``subdir`` is appended in the last two cases.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
    else:
        env = os.environ.get("EHPS_CACHE_DIR")
        base = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir(_APP))
        path = base / subdir if subdir else base
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def data_dir() -> Path:
    """Per-user data directory (``~/.local/share/ehps`` on Linux); not created here."""
    env = os.environ.get("EHPS_DATA_DIR")
    return Path(env).expanduser().resolve() if env else Path(platformdirs.user_data_dir(_APP))
