"""Where the person detector looks: the windows of one image, per search mode.

BlazePose's detector sees a 224x224 letterboxed view. On the whole image it finds people who
fill a good part of the frame; it misses (a) people cut by the image border, who become visible
to it once that border sits inside a zero-padded window, and (b) small people (under ~1/4 of the
frame's long side), who need zoomed-in windows (tiles). Measured on the bundled photos and
``vtest.avi`` (``benchmarks/detection_speed.py`` prints the figures):

- ``"full"``: the whole image only (mediapipe's own behaviour; 1 window).
- ``"wide"``: the whole image plus two zero-padded squares of the long side, shifted by a quarter
  of it towards each end of the long axis (3 windows). This recovers the half-visible person of
  ``basketball1.png``.
- ``"dense"``: ``"wide"`` plus tiles of 1/2 and 1/4 of the long side with 50% overlap (44
  windows on a 4:3 frame): surveillance views, people ~60-150 px tall in a 768x576 frame.
- ``"auto"`` (the detector's default): ``"wide"``, then the tiles of ``"dense"`` that the people
  found so far do not cover (:class:`ehps.detection.person_search.SearchConfig`'s
  ``auto_policy="uncovered"``; before issue 19: only when the wide pass found nobody whose body
  spans at least :data:`AUTO_LARGE_PERSON` of the long side, ``auto_policy="large_person"``).

Detections from a tile count only if their full-body circle fits in that tile (enforced by the
detector), so a tile that shows part of a larger person or a person-like texture adds nothing.
"""

from __future__ import annotations

import numpy as np

from ehps.detection.roi import Roi

__all__ = [
    "SEARCH_MODES",
    "AUTO_LARGE_PERSON",
    "search_windows",
    "tile_windows",
    "tile_grid",
    "is_tile",
]

SEARCH_MODES: tuple[str, ...] = ("auto", "full", "wide", "dense")

#: "auto" skips the tiles once someone at least this fraction of the long side tall is found.
AUTO_LARGE_PERSON: float = 1.0 / 3.0


def tile_grid(height: int, width: int, side: float, overlap: float = 0.5,
              border: float = 0.0) -> list[Roi]:
    """Square windows of ``side`` pixels covering the image with at least ``overlap`` (fraction
    of ``side``) between neighbours. Along an axis longer than ``side`` the windows span exactly
    the image (with ``border`` > 0, they reach ``border`` x ``side`` beyond it, zero-padded, so
    that people cut by the image border fit in a window); along a shorter one they are centred
    on it."""
    step = side * (1.0 - overlap)

    def centres(extent: int) -> np.ndarray:
        if extent <= side:
            return np.array([extent / 2.0])
        lo, hi = side / 2.0 - border * side, extent - side / 2.0 + border * side
        n = int(np.ceil((hi - lo) / step - 1e-9)) + 1
        return np.linspace(lo, hi, n)

    return [Roi(float(x), float(y), side, side) for y in centres(height) for x in centres(width)]


def tile_windows(height: int, width: int, sides: tuple[float, ...] = (0.5, 0.25),
                 overlap: float = 0.5, border: float = 0.0) -> list[Roi]:
    """The zoomed-in windows of ``"dense"``: tiles of ``sides`` (fractions of the long side;
    default 1/2 and 1/4), neighbours overlapping by ``overlap`` of their side, reaching
    ``border`` of their side beyond the image (:func:`tile_grid`)."""
    long_side = float(max(height, width))
    out: list[Roi] = []
    for frac in sides:
        out += tile_grid(height, width, long_side * frac, overlap=overlap, border=border)
    return out


def search_windows(height: int, width: int, mode: str = "wide",
                   sides: tuple[float, ...] = (0.5, 0.25), overlap: float = 0.5,
                   border: float = 0.0) -> list[Roi]:
    """Detector windows (image pixels) for an image of ``height`` x ``width``.

    Args:
        height, width: image size in pixels.
        mode: one of :data:`SEARCH_MODES`; ``"auto"`` gives its first pass (``"wide"``).
        sides, overlap, border: the tiles of ``"dense"`` (:func:`tile_windows`).
    """
    if mode not in SEARCH_MODES:
        raise ValueError(f"search mode must be one of {SEARCH_MODES}, got {mode!r}")
    windows = [Roi(width / 2.0, height / 2.0, float(width), float(height))]
    if mode == "full":
        return windows
    long_side = float(max(height, width))
    for d in (-long_side / 4.0, long_side / 4.0):
        if width >= height:
            windows.append(Roi(width / 2.0 + d, height / 2.0, long_side, long_side))
        else:
            windows.append(Roi(width / 2.0, height / 2.0 + d, long_side, long_side))
    if mode == "dense":
        windows += tile_windows(height, width, sides, overlap, border)
    return windows


def is_tile(window: Roi, height: int, width: int) -> bool:
    """True for a zoomed-in window (smaller than the image's long side)."""
    return max(window.w, window.h) < max(height, width) - 0.5
