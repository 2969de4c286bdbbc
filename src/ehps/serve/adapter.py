"""The one place where ``ehps serve`` calls the inference pipeline.

A job is exactly ``ehps infer INPUT --save-mesh glb --render --out DIR`` (plus the job's frame
cap): :func:`run_job` builds the :class:`~ehps.inference.runner.InferConfig` and calls
:func:`~ehps.inference.runner.run_inference`; there is no second estimation path. When the
pipeline's entry point changes (a typed config tree, a progress callback), only this module
changes.

Progress comes from the pipeline's own callbacks: a progress event per finished frame, and each
frame's result (distinct people by track id).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ehps.serve.config import EstimatorChoice

__all__ = ["JobSpec", "JobFailed", "Progress", "clean_message", "load_predictor", "run_job"]


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run one job (picklable; paths are the server's own).

    Attributes:
        job_id: the job's random id.
        input_path: the uploaded file, saved under a name the server chose.
        kind: ``"image"`` or ``"video"``.
        out_dir: the job's output folder.
        display_name: the uploaded name, for messages only (never used as a path).
        estimator: which estimator to use.
        max_frames: hard cap on the frames read from a video.
        render_backend: overlay rasteriser.
    """

    job_id: str
    input_path: str
    kind: str
    out_dir: str
    display_name: str
    estimator: EstimatorChoice
    max_frames: int | None = None
    render_backend: str = "auto"


@dataclass
class Progress:
    """Frames finished (of ``frames_total``; 0 = unknown) and distinct people seen so far."""

    frames_done: int = 0
    frames_total: int = 0
    people: int = 0


class JobFailed(Exception):
    """A job ended without a usable result; ``code`` is machine-readable, the message is for
    the page (it names the cause and, where there is one, the fix)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_predictor(choice: EstimatorChoice) -> Any:
    """Build the :class:`~ehps.inference.predictor.Predictor` of an estimator choice.

    Meshes are not required: a network without SMPL-X files still gives parameters (the job
    then has no overlay or meshes, and says so).
    """
    from ehps.inference.predictor import Predictor

    if choice.weights:
        return Predictor.from_pretrained(choice.weights, smplx_path=choice.smplx_path,
                                         require_body_model=False)
    return Predictor.from_pretrained(None, body_model=choice.body_model,
                                     smplx_path=choice.smplx_path)


def clean_message(message: str, spec: JobSpec) -> str:
    """A pipeline message with the server's paths replaced by the uploaded name."""
    out = message.replace(spec.input_path, spec.display_name)
    out = out.replace(str(Path(spec.input_path).parent), "upload")
    return out.replace(spec.out_dir, "results")


def run_job(
    spec: JobSpec,
    predictor: Any,
    on_progress: Callable[[Progress], None] | None = None,
    frames_total: int = 0,
) -> dict[str, Any]:
    """Run the ``ehps infer`` pipeline on one uploaded file.

    Args:
        spec: the job.
        predictor: from :func:`load_predictor` (reused across jobs by a worker).
        on_progress: called after every finished frame (the pipeline's progress events).
        frames_total: frames the job will read (from the probe; 0 = unknown).

    Returns:
        The pipeline's report as JSON (``InferReport.to_json()``) plus ``has_meshes``.

    Raises:
        JobFailed: nothing could be read (``unreadable``), or nobody was found (``no_person``).
    """
    from ehps.config import InferConfig
    from ehps.config.infer import EstimatorConfig, InputConfig, OutputConfig
    from ehps.inference.runner import run_inference

    out = Path(spec.out_dir)
    meshes = predictor.body_model() is not None
    output = OutputConfig(out_dir=str(out), save_mesh=("glb",) if meshes else (), render=meshes,
                          render_backend=spec.render_backend)
    if meshes and spec.kind == "video":
        output = replace(output, export_anim=("glb", "bvh"))  # animations for a video
    config = InferConfig(input=InputConfig(max_frames=spec.max_frames),
                         estimator=EstimatorConfig(pose_batch=8), output=output, progress=False)
    people: set[tuple[str, int]] = set()
    state = Progress(0, frames_total, 0)

    def on_frame(event: Any) -> None:  # the pipeline's own progress events
        state.frames_done = event.frames_done
        if on_progress is not None:
            on_progress(Progress(state.frames_done, frames_total, len(people)))

    def on_result(result: Any) -> None:  # distinct people (track ids, else per-frame order)
        for i, person in enumerate(result.people):
            pid = person.track_id if person.track_id is not None else i
            people.add((result.source.split("#")[0], int(pid)))

    t0 = time.perf_counter()
    report = run_inference([spec.input_path], config, predictor, progress=on_frame,
                           on_result=on_result)
    summary = report.to_json()
    summary["has_meshes"] = meshes
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    failures = [clean_message(f"{e}", spec) for _, e in report.failures]
    if report.frames_done == 0:
        cause = failures[0] if failures else "no frame could be decoded"
        raise JobFailed("unreadable", f"{spec.display_name} could not be read: {cause}")
    if report.people == 0:
        what = "image" if spec.kind == "image" else f"any of the {report.frames_done} frames"
        raise JobFailed("no_person", f"No person was found in {what}. ehps needs people whose "
                        "body is visible (the detector's score threshold is 0.5); try another "
                        "photo or video.")
    summary["failures"] = [{"error": e} for e in failures]
    return summary
