"""``ehps infer`` as a function: inputs -> sequences -> the stage loop -> files and a report.

:func:`run_inference` is the entry point every front end calls (the command line, ``ehps demo``,
a web app, an export tool): inputs and an :class:`~ehps.config.InferConfig` in, an
:class:`InferReport` out, with an optional progress callback.

Sequences: the image inputs of a run form one sequence written to the output folder itself
(independent photos by default; with ``input.sequence`` consecutive frames of one video: tracked,
smoothed, ``tracks.npz``); each video is its own sequence in a sub-folder named after it
(:func:`ehps.io.outdir.sequence_folder_name`), tracked and smoothed by default. The files:
:mod:`ehps.io.results`.

The output folder is checked and locked before any model is loaded (:mod:`ehps.io.outdir`).
Failures: an unreadable or unusable image, a video that cannot be opened or a broken frame is
named, skipped and counted; the run goes on and :attr:`InferReport.exit_code` is 3 at the end
(0 when everything was read). Images with nobody in them give an empty, valid result and a
warning. ``summary.json`` in the output folder lists everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ehps.config.infer import InferConfig, TrackingConfig
from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import PeopleFinder
from ehps.inference.front import FrontStages, SequenceStats
from ehps.inference.loop import BackStages, StageLoop
from ehps.inference.predictor import Predictor
from ehps.inference.render import render_frame
from ehps.inference.report import (
    EXIT_FAILURES,
    InferReport,
    ProgressCallback,
    ProgressEvent,
    SequenceReport,
)
from ehps.inference.shards import RunPlan, Share, merge_shares, plan_run
from ehps.inference.smoothing import TrackSmoothers
from ehps.inference.sources import (
    BoxesTable,
    Frame,
    expand_inputs,
    iter_images,
    iter_video,
    load_boxes_json,
    probe_video,
)
from ehps.inference.tracking import IoUTracker
from ehps.inference.video_timing import VideoStats
from ehps.inference.writer import SequenceWriter
from ehps.io.manifest import MANIFEST_NAME, merge_parts, part_name
from ehps.io.outdir import OutputFolder, check_out_dir
from ehps.structures import FrameResult
from ehps.utils.io import atomic_write_json
from ehps.utils.progress import progress_bar
from ehps.utils.scaleout import Ranks

__all__ = ["ProgressEvent", "SequenceReport", "InferReport", "SequenceRun", "run_inference",
           "EXIT_FAILURES", "video_finder"]

log = logging.getLogger(__name__)

_STAGES = ("decode", "detect", "crop", "network", "fit", "track", "smooth", "body_model",
           "render", "write")


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
    """What must match for ``--resume`` (recorded in each manifest)."""
    sm, det = config.smoothing, predictor.detection
    k = config.input.intrinsics
    return {
        "estimator": predictor.name,
        "weights": os.path.abspath(predictor.weights) if predictor.weights else "",
        "bbox_ratio": det.bbox_ratio,
        "max_people": det.max_people,
        "min_score": det.min_score,
        "boxes": os.path.abspath(config.detection.boxes) if config.detection.boxes else None,
        "intrinsics": None if k is None else list(k),
        "smoothing": [sm.enabled, sm.min_cutoff, sm.beta, sm.d_cutoff],
        # tracked sequences follow people by their landmarks unless --per-frame or --boxes
        # (recorded only then, so that the other manifests keep their earlier form)
        **({} if config.tracking.per_frame or config.detection.boxes else
           {"follow_every": config.tracking.search_every,
            "parts_every": config.tracking.parts_every}),
        **extra,
    }


class SequenceRun:
    """One sequence of a run: its writer, its stage loop and its progress bar.

    Args:
        name: the sequence's name (``"images"``, a video's folder name).
        folder: where its files go.
        total: its frame count (progress), or ``None``.
        predictor: estimator and detect stage.
        config: the run's options.
        boxes: given person boxes, or ``None`` (detect).
        video: a video (overlay video) rather than images (overlay PNGs).
        tracked: track (and smooth, when enabled) its people.
        fps: its frame rate.
        settings: what its manifest records for ``--resume``.
        progress, on_result: callbacks (see :func:`run_inference`).
        manifest_name: the manifest's name in ``folder`` (a scale-out rank's part).
    """

    def __init__(self, name: str, folder: Path, total: int | None, predictor: Predictor,
                 config: InferConfig, boxes: BoxesTable | None, video: bool, tracked: bool,
                 fps: float, settings: dict[str, Any], progress: ProgressCallback | None,
                 on_result: Callable[[FrameResult], None] | None = None, *,
                 manifest_name: str = MANIFEST_NAME) -> None:
        out = config.output
        est = predictor.estimator
        faces = predictor.faces if (out.render or out.save_mesh) else None
        self.writer = SequenceWriter(folder, settings, resume=out.resume, video=video,
                                     save_mesh=out.save_mesh, render=out.render, fps=fps,
                                     tracks=tracked, weights=predictor.weights, faces=faces,
                                     manifest_name=manifest_name)
        self.report = SequenceReport(name, folder, "video" if video else "images",
                                     SequenceStats())
        stats = self.report.stats
        k = Intrinsics(*config.input.intrinsics) if config.input.intrinsics else None
        max_misses = config.tracking.max_misses
        smooth = config.smoothing
        follow = tracked and not config.tracking.per_frame
        front = FrontStages(
            est, video_finder(predictor.finder, config.tracking) if follow else predictor.finder,
            camera=lambda f: k,
            given_boxes=None if boxes is None else lambda f: _lookup(boxes, f),
            tracker=IoUTracker(max_misses=max_misses) if tracked else None,
            timings=stats.timings)
        render = None
        if out.render:
            def render(image: Any, result: Any) -> Any:
                return render_frame(image, result, faces, out.side_view, out.render_backend,
                                    out.draw_boxes, out.overlay_alpha)
        back = BackStages(
            est, self.writer, stats,
            smoother=(TrackSmoothers(smooth.min_cutoff, smooth.beta, smooth.d_cutoff,
                                     max_misses + 1) if tracked and smooth.enabled else None),
            render=render, faces=faces, pose_batch=config.estimator.pose_batch,
            on_frame=self._on_frame, on_result=on_result, max_gap=max_misses + 1,
            contexts=follow)
        self.loop = StageLoop(front, back, self.writer)
        self.name, self.total, self.progress = name, total, progress
        self.bar = progress_bar(total, name, "frame", config.progress)
        self.done = self.people = 0

    def _on_frame(self, index: int, people: int, failed: bool) -> None:
        self.done += 1
        self.people += people
        self.bar.update(1)
        self.bar.set_postfix(people=self.people, refresh=False)
        if self.progress is not None:
            self.progress(ProgressEvent(self.name, index, self.done, self.total, people,
                                        failed))

    def run(self, frames: Iterator[Frame], report: InferReport) -> SequenceReport:
        stats = self.report.stats
        report.sequences.append(self.report)
        complete = False
        try:
            for frame in _timed(frames, stats.timings):
                self.loop.push(frame)
            self.loop.finish()
            complete = True
        finally:
            self.bar.close()
            t0 = time.perf_counter()
            try:
                self.report.files = self.writer.close(complete)
            finally:
                stats.timings["write"] = stats.timings.get("write", 0.0) + \
                    time.perf_counter() - t0
            if self.writer.tracks is not None:
                stats.tracks = len(self.writer.tracks.rows)
            report.failures.extend(stats.failures)
        return self.report


def video_finder(finder: PeopleFinder, tracking: TrackingConfig) -> PeopleFinder:
    """The detect stage of one tracked sequence: ``finder`` (a landmark or box finder) wrapped
    in a fresh :class:`~ehps.inference.track_finder.TrackingFinder` (people followed by their
    landmarks, the whole frame searched every ``tracking.search_every`` frames); other finders
    are used as they are."""
    from ehps.detection.landmark_tracking import TrackingSchedule
    from ehps.inference.detect import BoxFinder, LandmarkFinder
    from ehps.inference.track_finder import TrackingFinder

    if isinstance(finder, TrackingFinder):
        return finder.for_sequence(True)
    if not isinstance(finder, (LandmarkFinder, BoxFinder)):
        return finder
    return TrackingFinder(finder, TrackingSchedule(search_every=tracking.search_every,
                                                   parts_every=tracking.parts_every))


def _lookup(boxes: BoxesTable, frame: Frame) -> Any:
    import numpy as np

    found = boxes.lookup(frame.source, frame.index, frame.path)
    return found if found is not None else (np.zeros((0, 4), np.float32),
                                            np.zeros((0,), np.float32))


def run_inference(
    inputs: Sequence[str | os.PathLike[str]],
    config: InferConfig,
    predictor: Predictor | None = None,
    progress: ProgressCallback | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
    ranks: Ranks | None = None,
) -> InferReport:
    """Estimate every person in images, folders, globs and videos and write the results.

    Args:
        inputs: what to read (see :func:`ehps.inference.sources.expand_inputs`).
        config: options (:class:`~ehps.config.InferConfig`).
        predictor: the estimator and its detect stage; ``None``: built from ``config`` after the
            output folder was checked (:meth:`Predictor.from_config`).
        progress: called with a :class:`ProgressEvent` after every frame (besides the terminal
            progress bar, which ``config.progress`` controls).
        on_result: called with each newly estimated frame's
            :class:`~ehps.structures.FrameResult` (in memory: people with meshes, cameras and
            estimator extras such as fit errors), in frame order, after its files were queued.
        ranks: this process's place in a scale-out job (:mod:`ehps.utils.scaleout`); ``None``:
            the only process. Each rank runs its share of the run's units
            (:mod:`ehps.inference.shards`); rank 0 locks the output folder, merges the ranks'
            reports and writes ``summary.json``. A rank that stops on an error is named in the
            merged report's failures; the other ranks' results are kept.

    Returns:
        :class:`InferReport` (rank 0: the whole run's; other ranks: their share's);
        ``report.exit_code`` is 3 when something could not be used.

    Raises:
        InputError: nothing usable was given, the boxes file is malformed, or ``--resume``
            does not match the earlier run.
        OutputError: the output folder is unusable, in use, or holds an earlier run (without
            ``resume`` / ``overwrite``); or writing failed (the message names the path).
    """
    from ehps.utils.scaleout import SINGLE

    ranks = ranks or SINGLE
    t_start = time.perf_counter()
    items = expand_inputs(inputs)
    usable = [it for it in items if it.kind != "missing"]
    if not usable:
        raise InputError("nothing to read: " + "; ".join(it.error for it in items))
    boxes = load_boxes_json(config.detection.boxes) if config.detection.boxes else None
    out_cfg = config.output
    if out_cfg.export_anim:
        from ehps.world.animation import check_formats

        check_formats(out_cfg.export_anim)  # a missing extra (FBX: Blender) stops before work
    plan = plan_run(usable, config)
    with contextlib.ExitStack() as stack:
        def claim() -> Path:  # rank 0 locks the folder (and clears it with --overwrite)
            if ranks.rank == 0:
                return stack.enter_context(OutputFolder(
                    out_cfg.out_dir, resume=out_cfg.resume, overwrite=out_cfg.overwrite)).path
            return check_out_dir(out_cfg.out_dir)

        out = ranks.agree(claim)
        if ranks.distributed:  # every rank must see rank 0's folder (and lock file)
            ranks.agree(lambda: _check_shared(out, ranks))
        if predictor is None:
            predictor = ranks.agree(lambda: Predictor.from_config(
                config.estimator, config.detection,
                require_body_model=bool(out_cfg.save_mesh or out_cfg.render)))
        share = Share(InferReport(out_dir=out, estimator=predictor.name))
        if ranks.rank == 0:
            share.report.failures.extend((str(it.path), it.error) for it in items
                                         if it.kind == "missing")
            share.add_failures((0, 0))
        predictor.estimator.timings.clear()
        finished = False
        try:
            try:
                _run_share(plan, ranks, out, config, predictor, boxes, share, progress,
                           on_result)
            except Exception as exc:  # scale-out: this rank stops; the others' work is kept
                share.stopped = ranks.stop_here(exc, log)
            finished = True
        finally:
            share.timings = _stage_timings(share.report, predictor)
            if finished or not ranks.distributed:  # (no collectives while interrupted)
                report = _conclude(share, ranks, plan, config, finished, t_start)
    return report


def _check_shared(out: Path, ranks: Ranks) -> None:
    from ehps.errors import OutputError
    from ehps.io.outdir import LOCK_NAME

    try:
        import fcntl  # noqa: F401  (the lock file exists where folders are locked)
    except ImportError:  # pragma: no cover - Windows
        return
    if ranks.rank and not (out / LOCK_NAME).exists():
        raise OutputError(f"--out {out}: rank {ranks.rank} does not see the folder rank 0 "
                          "locked; with several nodes, put --out on a file system they share")


def _conclude(share: Share, ranks: Ranks, plan: RunPlan, config: InferConfig, finished: bool,
              t_start: float) -> InferReport:
    """Rank 0: merge every rank's share, then the animations and ``summary.json``; the other
    ranks return their own share's report."""
    shares = ranks.gather(share)
    if shares is None:
        return share.report
    out = share.report.out_dir
    images_manifest = None
    if ranks.distributed and plan.images:
        images_manifest = merge_parts(out, complete=not any(s.stopped for s in shares))
    report = merge_shares(shares, plan, out, share.report.estimator, images_manifest)
    try:
        if finished and config.output.export_anim:
            _export_animations(report, config)
    finally:
        report.seconds = time.perf_counter() - t_start
        with contextlib.suppress(OSError):
            report.summary_path = out / "summary.json"
            atomic_write_json(report.summary_path, report.to_json())
    return report


def _run_share(plan: RunPlan, ranks: Ranks, out: Path, config: InferConfig,
               predictor: Predictor, boxes: BoxesTable | None, share: Share,
               progress: ProgressCallback | None,
               on_result: Callable[[FrameResult], None] | None) -> None:
    """This rank's units (all of them in a one-process run): its images, then its videos."""
    inp = config.input
    report = share.report
    images, videos = plan.share(ranks.take(plan.units))
    if images:
        settings = _settings(predictor, config, {"kind": "images", "sequence": inp.sequence,
                                                 "fps": inp.fps})
        try:
            SequenceRun("images", out, len(images), predictor, config, boxes, False,
                        inp.sequence, inp.fps, settings, progress, on_result,
                        manifest_name=part_name(ranks.rank) if ranks.distributed
                        else MANIFEST_NAME).run(
                iter_images([p for _, p in images], fps=inp.fps,
                            indices=[i for i, _ in images]), report)
        finally:
            share.sequence_keys += [(1, 0, 0)] * (len(report.sequences) -
                                                  len(share.sequence_keys))
            share.add_failures((1, 0), plan.frame_of())
    for number, path, name in videos:
        try:
            info = probe_video(path)
        except InputError as exc:
            report.failures.append((str(path), str(exc)))
            share.add_failures((2, number))
            log.warning("%s", exc)
            continue
        track = config.tracking.enabled
        settings = _settings(predictor, config, {
            "kind": "video", "video": os.path.abspath(path), "track": track,
            "size": [info.width, info.height]})
        total = info.num_frames - inp.start if info.num_frames else None
        if total is not None and inp.max_frames is not None:
            total = min(total, inp.max_frames)
        vstats = VideoStats(str(path))
        frames = iter_video(path, inp.start, inp.max_frames, stats=vstats)
        run = SequenceRun(name, out / name, total, predictor, config, boxes, True, track,
                          info.fps, settings, progress, on_result)
        run.report.video = vstats
        try:
            run.run(frames, report)
            # frames the container lost (a gap, a truncated file) are reported like unreadable
            # ones: named in the summary and counted in the exit status
            report.failures.extend((str(path), w) for w in vstats.warnings)
        finally:
            share.sequence_keys += [(2, number, 0)] * (len(report.sequences) -
                                                       len(share.sequence_keys))
            share.add_failures((2, number))


def _export_animations(report: InferReport, config: InferConfig) -> None:
    """``output.export_anim``: the world step and the animation files of every tracked sequence
    (:func:`ehps.world.animation.animate_sequence`); a sequence or track that cannot be animated
    is named in the report's failures, the others are still written."""
    from ehps.errors import EhpsError
    from ehps.world.animation import animate_sequence

    t0 = time.perf_counter()
    out = config.output
    for seq in report.sequences:
        if not (seq.folder / "tracks.npz").is_file():
            continue  # independent images or untracked video: nothing to animate
        try:
            lines, failures = animate_sequence(seq.folder, out.export_anim, up=out.anim_up,
                                               smplx_path=config.estimator.smplx_path)
        except EhpsError as exc:
            lines, failures = [f"{seq.folder}: no animation ({exc})"], [(str(seq.folder), str(exc))]
        report.animation += lines
        report.failures.extend(failures)
        world = seq.folder / "world.json"
        if world.is_file():
            seq.files["world.json"] = world
        if (seq.folder / "anim").is_dir():
            seq.files["anim"] = seq.folder / "anim"
    report.animation_seconds = time.perf_counter() - t0


def _stage_timings(report: InferReport, predictor: Predictor) -> dict[str, float]:
    timings: dict[str, float] = dict.fromkeys(_STAGES, 0.0)
    for s in report.sequences:
        for k, v in s.stats.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    for k, v in predictor.estimator.timings.items():
        timings[k] = timings.get(k, 0.0) + v
    return {k: v for k, v in timings.items() if v > 0.0 or k in _STAGES}
