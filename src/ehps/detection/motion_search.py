"""Where to look for newcomers between two full person searches: the detector windows where
the frame changed and nobody followed explains the change.

Landmark tracking (:mod:`ehps.detection.landmark_tracking`) runs the full person search only
every few frames, so someone walking in would be found only at the next search. Between
searches, :class:`MotionWindows` compares each frame with the previous one on a coarse grid
(gray levels of every ``stride``-th pixel, about 192 cells along the long side), ignores the
changes inside the boxes of the people found in this frame, and returns the few square windows
of the search's smallest default tiles (a quarter of the long side; :func:`ehps.detection.search.
tile_grid`) with the most unexplained change, preferring windows not looked at for longest. The
person detector then runs only there (a few windows instead of a full search). A panning camera
changes the whole frame: the windows per frame are capped, so the cost stays bounded.
Deterministic: the result depends only on the two frames and the boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ehps.detection.roi import Roi
from ehps.detection.search import tile_grid

__all__ = ["MotionWindows"]


class MotionWindows:
    """Windows with unexplained frame-to-frame change (module docstring).

    Args:
        max_windows: windows returned per frame at most.
        tile_side: window side as a fraction of the image's long side.
        threshold: gray-level change (0-255) that counts as a change.
        min_fraction: fraction of a window's cells that must have changed.
        cells: grid cells along the image's long side.
    """

    def __init__(self, max_windows: int = 2, tile_side: float = 0.25, threshold: float = 25.0,
                 min_fraction: float = 0.01, cells: int = 192) -> None:
        self.max_windows = int(max_windows)
        self.tile_side = float(tile_side)
        self.threshold = float(threshold)
        self.min_fraction = float(min_fraction)
        self.cells = int(cells)
        self._previous: np.ndarray | None = None
        self._last_look: dict[int, int] = {}
        self._frame = 0

    def _gray(self, image: np.ndarray) -> tuple[np.ndarray, int]:
        stride = max(1, max(image.shape[:2]) // self.cells)
        small = image[::stride, ::stride].astype(np.float32)
        return (small.mean(-1) if small.ndim == 3 else small), stride

    def __call__(self, image: np.ndarray, boxes_xywh: Sequence[np.ndarray]) -> list[Roi]:
        """The windows to search in this frame.

        Args:
            image: (H, W, 3) uint8 RGB frame (every frame of the sequence, in order).
            boxes_xywh: boxes (pixels) of the people found in this frame: change inside them
                is explained.

        Returns:
            at most ``max_windows`` windows (image pixels), most changed and least recently
            looked at first; none on the first frame or after a change of frame size.
        """
        gray, stride = self._gray(image)
        previous, self._previous = self._previous, gray
        self._frame += 1
        if previous is None or previous.shape != gray.shape or self.max_windows <= 0:
            return []
        changed = np.abs(gray - previous) > self.threshold
        for x, y, w, h in boxes_xywh:
            grow = 0.1 * max(w, h)
            x0, y0 = int((x - grow) // stride), int((y - grow) // stride)
            x1, y1 = int(np.ceil((x + w + grow) / stride)), int(np.ceil((y + h + grow) / stride))
            changed[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
        if not changed.any():
            return []
        height, width = image.shape[:2]
        tiles = tile_grid(height, width, self.tile_side * max(height, width))
        scored = []
        for i, t in enumerate(tiles):
            x0, x1 = int(max(t.cx - t.w / 2, 0) // stride), int(np.ceil(min(t.cx + t.w / 2,
                                                                             width) / stride))
            y0, y1 = int(max(t.cy - t.h / 2, 0) // stride), int(np.ceil(min(t.cy + t.h / 2,
                                                                             height) / stride))
            cell = changed[y0:y1, x0:x1]
            frac = float(cell.mean()) if cell.size else 0.0
            if frac >= self.min_fraction:
                scored.append((self._last_look.get(i, -1), -frac, i))
        out = []
        for _, _, i in sorted(scored)[: self.max_windows]:
            self._last_look[i] = self._frame
            out.append(tiles[i])
        return out
