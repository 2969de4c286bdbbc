"""Progress bars of the long commands (``infer``, ``eval``, ``synth``, ``annotate``, ``train``).

One policy everywhere: a bar is shown when asked for (no ``--quiet``) *and* the standard error
is a terminal; in a pipe, a log file or CI it stays silent. Bars are tqdm's, with items/s and an
ETA when the total is known.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["show_progress", "progress_bar", "progress_iter", "NullBar"]


def show_progress(enabled: bool = True) -> bool:
    """Whether a progress bar should be drawn: ``enabled`` and stderr is a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(enabled) and bool(isatty and isatty())


class NullBar:
    """The do-nothing bar (same methods as tqdm's)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True) -> Any:
    """A tqdm bar (``total`` items of ``unit``; ``None``: unknown) when :func:`show_progress`,
    else a :class:`NullBar`."""
    if not show_progress(enabled):
        return NullBar()
    from tqdm import tqdm

    return tqdm(total=total or None, desc=desc, unit=unit, dynamic_ncols=True, leave=True)


def progress_iter(items: Sequence[T], desc: str, unit: str = "it", enabled: bool = True
                  ) -> Iterator[T]:
    """Iterate ``items`` with a :func:`progress_bar` (closed at the end, or when the loop stops
    early)."""
    bar = progress_bar(len(items), desc, unit, enabled)
    try:
        for item in items:
            yield item
            bar.update(1)
    finally:
        bar.close()
