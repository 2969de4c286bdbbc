"""Did-you-mean hints for names a user typed (config keys, options, body models)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest_hint"]


def closest_hint(name: str, valid: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest valid name, or ``""`` when none is close."""
    match = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
