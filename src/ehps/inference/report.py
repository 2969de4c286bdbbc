"""What a run of ``ehps infer`` did: :class:`InferReport` (also written as ``summary.json``), one
:class:`SequenceReport` per sequence, and the :class:`ProgressEvent` given to progress callbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ehps.inference.front import SequenceStats
from ehps.inference.video_timing import VideoStats

__all__ = ["ProgressEvent", "ProgressCallback", "SequenceReport", "InferReport", "EXIT_FAILURES"]

#: Exit status when some inputs or frames could not be read.
EXIT_FAILURES = 3


@dataclass(frozen=True)
class ProgressEvent:
    """One finished (or failed) frame, for progress callbacks.

    Attributes:
        sequence: the sequence's name (``"images"`` or the video's folder name).
        frame_index: the frame.
        frames_done: frames of this sequence finished so far (written, resumed or failed).
        frames_total: the sequence's frame count, or ``None`` when unknown.
        people: people in this frame.
        failed: the frame could not be used.
    """

    sequence: str
    frame_index: int
    frames_done: int
    frames_total: int | None
    people: int
    failed: bool = False


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class SequenceReport:
    """Result of one sequence (the images of the run, or one video)."""

    name: str
    folder: Path
    kind: str
    stats: SequenceStats
    files: dict[str, Path] = field(default_factory=dict)
    video: VideoStats | None = None


@dataclass
class InferReport:
    """What :func:`run_inference` did.

    Attributes:
        sequences: one report per sequence.
        failures: ``(input or frame, message)`` for everything that could not be used.
        timings: seconds per stage over the run (decode, detect, crop, network, fit, track,
            smooth, body_model, render, write).
        seconds: wall time.
        summary_path: the ``summary.json`` written.
        animation: report lines of ``output.export_anim`` (floor, tracks, files; empty when
            not asked for).
        animation_seconds: wall time of the world step and the animation files.
    """

    out_dir: Path
    estimator: str
    sequences: list[SequenceReport] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    summary_path: Path | None = None
    animation: list[str] = field(default_factory=list)
    animation_seconds: float = 0.0

    @property
    def frames_done(self) -> int:
        return sum(s.stats.frames_done for s in self.sequences)

    @property
    def frames_resumed(self) -> int:
        return sum(s.stats.frames_resumed for s in self.sequences)

    @property
    def people(self) -> int:
        return sum(s.stats.people for s in self.sequences)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILURES if self.failures else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "estimator": self.estimator,
            "frames_done": self.frames_done,
            "frames_resumed": self.frames_resumed,
            "people": self.people,
            "frames_per_s": round(self.frames_done / self.seconds, 3) if self.seconds else None,
            "seconds": round(self.seconds, 3),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "failures": [{"input": s, "error": e} for s, e in self.failures],
            "sequences": [
                {"name": s.name, "folder": str(s.folder), "kind": s.kind,
                 **{k: v for k, v in asdict(s.stats).items() if k not in ("failures", "timings")},
                 "files": {k: str(v) for k, v in s.files.items()},
                 **({"video": s.video.to_json()} if s.video is not None else {})}
                for s in self.sequences
            ],
            **({"animation": {"lines": self.animation,
                              "seconds": round(self.animation_seconds, 3)}}
               if self.animation else {}),
        }

    def format(self) -> str:
        """A compact plain-text summary (what the CLI prints)."""
        lines = [f"ehps infer  ({self.estimator})  -> {self.out_dir}/"]
        for s in self.sequences:
            st = s.stats
            extra = f", {st.frames_resumed} resumed" if st.frames_resumed else ""
            extra += f", {st.tracks} tracks" if st.tracks else ""
            extra += (f", {st.frames_without_people} without people"
                      if st.frames_without_people else "")
            lines.append(f"  {s.name}: {st.frames_done} frames{extra}, {st.people} people, "
                         f"{st.frames_failed} failed  [{s.folder}]")
        if self.seconds:
            fps = self.frames_done / self.seconds
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items() if v > 0.0005)
            lines.append(f"time {self.seconds:.1f}s ({fps:.2f} frames/s): {stages}")
        if self.animation:
            lines.append(f"animation ({self.animation_seconds:.1f}s):")
            lines += ["  " + line for line in self.animation]
        if self.failures:
            lines.append(f"{len(self.failures)} input(s)/frame(s) failed and were skipped:")
            lines += [f"  {src}: {err}" for src, err in self.failures[:50]]
            if len(self.failures) > 50:
                lines.append(f"  ... and {len(self.failures) - 50} more (see summary.json)")
        return "\n".join(lines)
