"""Video timing for :func:`ehps.inference.sources.iter_video`: frame indices true to the
container's timestamps, and a word whenever frames are lost.

- **Indices.** A frame's index is its presentation time times the frame rate (``round((pts -
  start) * time_base * fps)``), not a count of decoded frames: after a broken or missing packet
  the following frames keep their true index and time. Timestamp jitter of less than half a frame
  (variable-frame-rate phone videos) does not open a gap; indices stay strictly increasing.
- **Broken packets.** A packet the decoder rejects yields a :class:`Frame` with ``error`` set, at
  the index of its own timestamp, and decoding goes on.
- **Lost frames.** A jump in the timestamps of more than one and a half frame durations is a gap:
  the frames in it that were not reported as broken are *missing* (the demuxer skipped corrupt
  data). A video that stops before the frame count (or duration) its container declares *ended
  early* (a truncated file). A container that cannot be read further ends with an error frame.
  Each case is logged as a warning (how many frames, where) and recorded in a
  :class:`VideoStats` that the caller can put in its summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = ["VideoStats", "FrameClock", "frame_rate", "declared_frames", "check_length"]

log = logging.getLogger(__name__)


@dataclass
class VideoStats:
    """What :func:`ehps.inference.sources.iter_video` met while decoding one video (filled as it
    goes).

    Attributes:
        path: the video.
        declared_frames: frames the container declares (its frame count, else duration x rate;
            ``None`` when it declares neither).
        decoded: frames decoded and yielded with an image.
        broken: indices of frames whose packet the decoder rejected (yielded with ``error``).
        missing: ``(first index, count)`` of each run of frames absent from the stream (gaps in
            the timestamps, or the missing tail of a video that ended early).
        ended_early: the video stopped before its declared length (truncated or unreadable).
        warnings: one line per problem, as logged.
    """

    path: str
    declared_frames: int | None = None
    decoded: int = 0
    broken: list[int] = field(default_factory=list)
    missing: list[tuple[int, int]] = field(default_factory=list)
    ended_early: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def missing_frames(self) -> int:
        """Total number of missing frames."""
        return sum(n for _, n in self.missing)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"path": self.path, "declared_frames": self.declared_frames,
                "decoded": self.decoded, "broken": list(self.broken),
                "missing": [list(m) for m in self.missing], "ended_early": self.ended_early,
                "warnings": list(self.warnings)}

    def warn(self, message: str) -> None:
        """Record and log one warning."""
        self.warnings.append(message)
        log.warning("%s", message)


def frame_rate(stream: Any) -> Fraction:
    """The stream's frame rate (average, else guessed, else base; 25 when none is usable)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = Fraction(rate)
            if 0 < value < 10_000:
                return value
    return Fraction(25)


def declared_frames(container: Any, stream: Any, fps: Fraction) -> int | None:
    """Frames the container declares: its frame count, else its duration x the frame rate."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return round(stream.duration * Fraction(stream.time_base) * fps)
    if container.duration and container.duration > 0:  # in AV_TIME_BASE (microseconds)
        return round(Fraction(container.duration, 1_000_000) * fps)
    return None


class FrameClock:
    """Frame indices from timestamps (see the module docstring).

    Args:
        stream: the PyAV video stream (its ``time_base`` and ``start_time``).
        fps: its frame rate.
        stats: where gaps are recorded.
    """

    def __init__(self, stream: Any, fps: Fraction, stats: VideoStats) -> None:
        self.tb = Fraction(stream.time_base) if stream.time_base else None
        self.t0 = stream.start_time or 0
        self.fps, self.stats = fps, stats
        self.last = -1  # index of the last decoded frame
        self.last_time: Fraction | None = None

    def time_of(self, pts: int | None) -> Fraction | None:
        if pts is None or self.tb is None:
            return None
        return (pts - self.t0) * self.tb

    def seconds(self, pts: int | None, index: int) -> float:
        """Presentation time (s) of ``pts``, else of frame ``index`` at the nominal rate."""
        t = self.time_of(pts)
        return float(t) if t is not None else float(index / self.fps)

    def index_of(self, pts: int | None) -> int | None:
        t = self.time_of(pts)
        return None if t is None else max(0, round(t * self.fps))

    def next_index(self, pts: int | None) -> tuple[int, float]:
        """Index and time (s) of the next decoded frame; records a gap when one opens."""
        t = self.time_of(pts)
        index = self.last + 1
        if t is not None:
            true = max(0, round(t * self.fps))
            first = self.last_time is None
            gap = first or (t - self.last_time) * self.fps > Fraction(3, 2)
            if true > index and gap:
                lost = [i for i in range(index, true) if i not in self.stats.broken]
                if lost:
                    self.stats.missing.append((lost[0], len(lost)))
                    self.stats.warn(
                        f"video '{self.stats.path}': {len(lost)} frame(s) missing from frame "
                        f"{lost[0]} ({float(lost[0] / self.fps):.2f} s): the stream skips them "
                        "(corrupt data); later frames keep their true index")
                index = true
            self.last_time = t
        self.last = index
        return index, float(t) if t is not None else float(index / self.fps)


def check_length(stats: VideoStats, clock: FrameClock, start: int, end: int | None) -> None:
    """At the end of the stream: warn when it stopped before its declared length."""
    declared = stats.declared_frames
    if not declared:
        return
    target = declared if end is None else min(declared, end)
    seen = max([clock.last, *stats.broken]) + 1
    if seen < max(target, start):
        first = max(seen, start)
        count = target - first
        if count <= 0:
            return
        stats.ended_early = True
        stats.missing.append((first, count))
        stats.warn(
            f"video '{stats.path}' ends early: {count} of its {declared} declared frames are "
            f"missing from frame {first} ({float(first / clock.fps):.2f} s) on; the file is "
            "truncated or corrupt")
