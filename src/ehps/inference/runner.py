"""The ``ehps infer`` loop: inputs -> sequences -> :class:`SequenceRunner` -> files and a report.

Sequences: the image inputs of a run form one sequence written to the output folder itself
(independent photos by default; with ``sequence=True`` consecutive frames of one video: tracked,
smoothed, ``tracks.npz``); each video is its own sequence in ``<out>/<video stem>/`` (tracked and
smoothed by default). See :mod:`ehps.inference.writer` for the files.

Failures: an unreadable image, a video that cannot be opened or a broken video frame is named,
skipped and counted; the run goes on and :attr:`InferReport.exit_code` is 3 at the end (0 when
everything was read). Images with nobody in them give an empty, valid result and a warning.
``summary.json`` in the output folder lists everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.inference.pipeline import SequenceRunner, SequenceStats, SmoothingConfig
from ehps.inference.predictor import Predictor
from ehps.inference.sources import (
    BoxesTable,
    Frame,
    InputItem,
    expand_inputs,
    iter_images,
    iter_video,
    load_boxes_json,
    probe_video,
)
from ehps.inference.writer import SequenceWriter
from ehps.utils.io import atomic_write_json

__all__ = ["InferConfig", "SequenceReport", "InferReport", "run_inference", "EXIT_FAILURES"]

log = logging.getLogger(__name__)

#: Exit status when some inputs or frames could not be read.
EXIT_FAILURES = 3
_RESERVED = {"smplx", "meta", "mesh", "overlay", "state"}
_STAGES = ("decode", "detect", "crop", "network", "fit", "track", "smooth", "body_model",
           "render", "write")


@dataclass
class InferConfig:
    """Options of :func:`run_inference` (the ``ehps infer`` flags).

    Attributes:
        out_dir: output folder.
        boxes: JSON file of person boxes to use instead of the detector.
        intrinsics: the shared camera of every frame (default from each image's size).
        save_mesh: mesh formats to write per person (``obj``, ``ply``, ``glb``).
        render, side_view, render_backend, draw_boxes: overlays (PNG per image, MP4 per video).
        smoothing: temporal smoothing (videos and sequences).
        track_video: track people in videos; ``sequence``: the images are consecutive frames.
        fps: frame rate of an image sequence (smoothing time base, tracks.npz).
        resume: skip the frames an interrupted run finished.
        start, max_frames: frame range of each video (and of the image list).
        progress: show a progress bar.
        max_misses: frames a track survives without a detection.
        pose_batch: people per body-model batch (finished frames wait for it).
    """

    out_dir: Path
    boxes: str | None = None
    intrinsics: Intrinsics | None = None
    save_mesh: tuple[str, ...] = ()
    render: bool = False
    side_view: bool = False
    render_backend: str = "auto"
    draw_boxes: bool = True
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    track_video: bool = True
    sequence: bool = False
    fps: float = 30.0
    resume: bool = False
    start: int = 0
    max_frames: int | None = None
    progress: bool = True
    max_misses: int = 15
    pose_batch: int = 64


@dataclass
class SequenceReport:
    """Result of one sequence (the images of the run, or one video)."""

    name: str
    folder: Path
    kind: str
    stats: SequenceStats
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class InferReport:
    """What :func:`run_inference` did.

    Attributes:
        sequences: one report per sequence.
        failures: ``(input or frame, message)`` for everything that could not be read.
        timings: seconds per stage over the run (decode, detect, crop, network, fit, track,
            smooth, body_model, render, write).
        seconds: wall time.
        summary_path: the ``summary.json`` written.
    """

    out_dir: Path
    estimator: str
    sequences: list[SequenceReport] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    summary_path: Path | None = None

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
                 "files": {k: str(v) for k, v in s.files.items()}}
                for s in self.sequences
            ],
        }

    def format(self) -> str:
        """A compact plain-text summary (what the CLI prints)."""
        lines = [f"ehps infer  ({self.estimator})  -> {self.out_dir}/"]
        for s in self.sequences:
            st = s.stats
            extra = f", {st.frames_resumed} resumed" if st.frames_resumed else ""
            extra += f", {st.tracks} tracks" if st.tracks else ""
            extra += f", {st.frames_without_people} without people" if \
                st.frames_without_people else ""
            lines.append(f"  {s.name}: {st.frames_done} frames{extra}, {st.people} people, "
                         f"{st.frames_failed} failed  [{s.folder}]")
        if self.seconds:
            fps = self.frames_done / self.seconds
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items() if v > 0.0005)
            lines.append(f"time {self.seconds:.1f}s ({fps:.2f} frames/s): {stages}")
        if self.failures:
            lines.append(f"{len(self.failures)} input(s)/frame(s) failed and were skipped:")
            lines += [f"  {src}: {err}" for src, err in self.failures[:50]]
            if len(self.failures) > 50:
                lines.append(f"  ... and {len(self.failures) - 50} more (see summary.json)")
        return "\n".join(lines)


def _folder_name(stem: str, used: set[str]) -> str:
    name = stem if stem and stem.lower() not in _RESERVED else f"{stem}_video"
    base, i = name, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def _timed(frames: Iterator[Frame], timings: dict[str, float]) -> Iterator[Frame]:
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            return
        finally:
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0
        yield frame


def _settings(predictor: Predictor, config: InferConfig, extra: dict[str, Any]) -> dict[str, Any]:
    sm = config.smoothing
    k = config.intrinsics
    return {
        "estimator": predictor.name,
        "weights": os.path.abspath(predictor.weights) if predictor.weights else "",
        "bbox_ratio": predictor.bbox_ratio,
        "max_people": predictor.max_people,
        "min_score": predictor.min_score,
        "boxes": os.path.abspath(config.boxes) if config.boxes else None,
        "intrinsics": None if k is None else [k.fx, k.fy, k.cx, k.cy],
        "smoothing": [sm.enabled, sm.min_cutoff, sm.beta, sm.d_cutoff],
        **extra,
    }


class _Progress:
    def __init__(self, enabled: bool, total: int | None, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, desc=desc, unit="frame", dynamic_ncols=True,
                            leave=True)
        self.people = 0

    def __call__(self, index: int, people: int) -> None:
        if self.bar is not None:
            self.people += people
            self.bar.update(1)
            self.bar.set_postfix(people=self.people, refresh=False)

    def fail(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_sequence(
    name: str,
    folder: Path,
    frames: Iterator[Frame],
    total: int | None,
    predictor: Predictor,
    config: InferConfig,
    boxes: BoxesTable | None,
    video: bool,
    tracked: bool,
    fps: float,
    settings: dict[str, Any],
    report: InferReport,
) -> SequenceReport:
    writer = SequenceWriter(
        folder, settings, resume=config.resume, video=video, save_mesh=config.save_mesh,
        render=config.render, fps=fps, tracks=tracked, weights=predictor.weights,
    )
    progress = _Progress(config.progress, total, name)
    runner = SequenceRunner(
        predictor, writer, intrinsics=config.intrinsics, boxes=boxes, track=tracked,
        smoothing=config.smoothing, render=config.render, side_view=config.side_view,
        render_backend=config.render_backend, draw_boxes=config.draw_boxes,
        max_misses=config.max_misses, pose_batch=config.pose_batch, on_frame=progress,
    )
    seq = SequenceReport(name, folder, "video" if video else "images", runner.stats)
    report.sequences.append(seq)
    complete = False
    try:
        for frame in _timed(frames, runner.stats.timings):
            runner.process(frame)
            if frame.error:
                progress.fail()
        runner.finish()
        complete = True
    finally:
        progress.close()
        t0 = time.perf_counter()
        try:
            seq.files = writer.close(complete)
        finally:
            runner.stats.timings["write"] = (runner.stats.timings.get("write", 0.0)
                                             + time.perf_counter() - t0)
        if writer.tracks is not None:
            runner.stats.tracks = len(writer.tracks.rows)
        report.failures.extend(runner.stats.failures)
    return seq


def run_inference(
    inputs: Sequence[str | os.PathLike[str]],
    config: InferConfig,
    predictor: Predictor,
) -> InferReport:
    """Run ``predictor`` on images, folders, globs and videos and write the results.

    Args:
        inputs: what to read (see :func:`ehps.inference.sources.expand_inputs`).
        config: options (:class:`InferConfig`).
        predictor: a :class:`Predictor` (network or embedded).

    Returns:
        :class:`InferReport`; ``report.exit_code`` is 3 when something could not be read.

    Raises:
        InputError: nothing usable was given, the boxes file is malformed, or ``--resume``
            does not match the earlier run.
    """
    t_start = time.perf_counter()
    items = expand_inputs(inputs)
    out = Path(config.out_dir).expanduser()
    report = InferReport(out_dir=out, estimator=predictor.name)
    usable = [it for it in items if it.kind != "missing"]
    if not usable:
        raise InputError("nothing to read: " + "; ".join(it.error for it in items))
    boxes = load_boxes_json(config.boxes) if config.boxes else None
    if config.start < 0 or (config.max_frames is not None and config.max_frames < 1):
        raise InputError("--start must be >= 0 and --max-frames >= 1")
    out.mkdir(parents=True, exist_ok=True)
    report.failures.extend((str(it.path), it.error) for it in items if it.kind == "missing")
    predictor.timings = {}
    images = [it.path for it in usable if it.kind == "image"]
    videos: list[InputItem] = [it for it in usable if it.kind == "video"]
    used: set[str] = set()
    try:
        if images:
            stop = None if config.max_frames is None else config.start + config.max_frames
            chosen = images[config.start : stop]
            frames = iter_images(chosen, fps=config.fps, start_index=config.start)
            settings = _settings(predictor, config, {"kind": "images",
                                                     "sequence": config.sequence,
                                                     "fps": config.fps})
            _run_sequence("images", out, frames, len(chosen), predictor, config, boxes,
                          video=False, tracked=config.sequence, fps=config.fps,
                          settings=settings, report=report)
        for item in videos:
            name = _folder_name(item.path.stem, used)
            try:
                info = probe_video(item.path)
            except InputError as exc:
                report.failures.append((str(item.path), str(exc)))
                log.warning("%s", exc)
                continue
            settings = _settings(predictor, config, {
                "kind": "video", "video": os.path.abspath(item.path),
                "track": config.track_video, "size": [info.width, info.height]})
            total = info.num_frames - config.start if info.num_frames else None
            if total is not None and config.max_frames is not None:
                total = min(total, config.max_frames)
            frames = iter_video(item.path, config.start, config.max_frames)
            _run_sequence(name, out / name, frames, total, predictor, config, boxes,
                          video=True, tracked=config.track_video, fps=info.fps,
                          settings=settings, report=report)
    finally:
        report.seconds = time.perf_counter() - t_start
        timings: dict[str, float] = dict.fromkeys(_STAGES, 0.0)
        for s in report.sequences:
            for k, v in s.stats.timings.items():
                timings[k] = timings.get(k, 0.0) + v
        for k, v in predictor.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        report.timings = {k: v for k, v in timings.items() if v > 0.0 or k in _STAGES}
        with contextlib.suppress(OSError):
            report.summary_path = out / "summary.json"
            atomic_write_json(report.summary_path, report.to_json())
    return report
