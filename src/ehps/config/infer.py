"""The inference config: :class:`InferConfig`, one typed tree for ``ehps infer``, ``ehps demo``,
:class:`ehps.inference.Predictor` and :func:`ehps.inference.run_inference`.

Every field is declared once, here: its type, default, check and, in ``metadata``, its
command-line flag and help (:mod:`ehps.config.cli` builds the ``ehps infer`` flags from them).
The same tree is read from YAML (``ehps infer --config infer.yaml``) and from dotted overrides
(``--set detection.min_score=0.3``); unknown keys are errors everywhere (Python keyword arguments,
YAML, overrides, flags) and name the closest valid key.

Sections: ``input`` (which frames, their camera), ``detection`` (who is estimated), ``estimator``
(what estimates them, where it runs), ``tracking``, ``smoothing`` (videos and sequences) and
``output`` (what is written where).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ehps.errors import InputError
from ehps.geometry.constants import DEFAULT_BBOX_RATIO

__all__ = [
    "InputConfig",
    "DetectionConfig",
    "EstimatorConfig",
    "TrackingConfig",
    "SmoothingConfig",
    "OutputConfig",
    "InferConfig",
    "MESH_FORMATS",
    "SEARCH_MODES",
    "PRESETS",
    "ANIM_FORMATS",
    "RENDER_BACKENDS",
    "parse_intrinsics",
]

MESH_FORMATS: tuple[str, ...] = ("obj", "ply", "glb")
#: Person-search modes of the embedded detector (:data:`ehps.detection.search.SEARCH_MODES`).
SEARCH_MODES: tuple[str, ...] = ("auto", "full", "wide", "dense")
#: ``default``: today's person search / fitter; ``baseline``: as they were before issue 19 (for
#: comparison; ``benchmarks/detection_crowd.py``, ``benchmarks/fit_hard_poses.py``).
PRESETS: tuple[str, ...] = ("default", "baseline")
#: Rigged animation formats of tracked people (:mod:`ehps.world.animation`).
ANIM_FORMATS: tuple[str, ...] = ("glb", "bvh", "fbx")
RENDER_BACKENDS: tuple[str, ...] = ("auto", "torch", "moderngl")


def flag(*names: str, help: str, **argparse_kwargs: Any) -> dict[str, Any]:
    """Field metadata: the command-line flag(s) of a config field (see :mod:`ehps.config.cli`).

    ``invert=True`` makes a boolean flag store ``False`` (``--no-track`` for ``enabled``);
    ``parse`` is a callable that turns the flag's text into the field value.
    """
    return {"flags": names, "help": help, **argparse_kwargs}


def _positive(name: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise InputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _at_least_one(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise InputError(f"{name} must be >= 1, got {value}")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    """``"fx,fy,cx,cy"`` (pixels) -> a tuple, with a clear error for bad input."""
    parts = [s.strip() for s in str(text).replace(" ", ",").split(",") if s.strip()]
    try:
        vals = [float(s) for s in parts]
    except ValueError:
        vals = []
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals) or vals[0] <= 0 or vals[1] <= 0:
        raise InputError(
            f"--intrinsics must be four numbers 'fx,fy,cx,cy' in pixels with fx, fy > 0, got "
            f"{text!r} (e.g. --intrinsics 1000,1000,320,240)"
        )
    return vals[0], vals[1], vals[2], vals[3]


@dataclass
class InputConfig:
    """Which frames are read, and their camera.

    Attributes:
        sequence: the images are consecutive frames of one video (tracked and smoothed).
        fps: frame rate of ``sequence`` images (time base of smoothing and ``tracks.npz``).
        start: first frame of each video (and of the image list).
        max_frames: at most this many frames per video (and images); ``None``: all.
        intrinsics: the shared camera ``[fx, fy, cx, cy]`` in pixels of every frame; ``None``:
            focal = image diagonal, principal point at the centre.
    """

    sequence: bool = field(default=False, metadata=flag(
        "--sequence", help="images are consecutive frames of one video: track and smooth them"))
    fps: float = field(default=30.0, metadata=flag(
        "--fps", help="frame rate of --sequence images (default 30)"))
    start: int = field(default=0, metadata=flag("--start", help="first frame of each video"))
    max_frames: int | None = field(default=None, metadata=flag(
        "--max-frames", help="at most N frames per video (and images)"))
    intrinsics: tuple[float, float, float, float] | None = field(default=None, metadata=flag(
        "--intrinsics", metavar="FX,FY,CX,CY", parse=parse_intrinsics,
        help="shared camera in pixels (default: focal = image diagonal, centred)"))

    def __post_init__(self) -> None:
        _positive("input.fps (--fps)", self.fps)
        if self.start < 0:
            raise InputError(f"input.start (--start) must be >= 0, got {self.start}")
        _at_least_one("input.max_frames (--max-frames)", self.max_frames)
        if self.intrinsics is not None:
            fx, fy, *_ = self.intrinsics
            if not all(math.isfinite(v) for v in self.intrinsics) or fx <= 0 or fy <= 0:
                raise InputError(f"input.intrinsics must be finite with fx, fy > 0, got "
                                 f"{list(self.intrinsics)}")


@dataclass
class DetectionConfig:
    """Who is estimated.

    Attributes:
        boxes: JSON file of person boxes per image / frame, used instead of the detector
            (:func:`ehps.inference.sources.load_boxes_json`).
        max_people: keep at most this many people per frame (highest scores).
        min_score: person-detector score threshold.
        bbox_ratio: network crop enlargement around each person box (official 1.2, the same
            default as training data).
        search: where the embedded person detector looks (:mod:`ehps.detection.search`):
            ``auto`` (whole image and padded squares, then tiles wherever the people found do
            not cover the image), ``full``, ``wide`` or ``dense`` (every tile).
        search_preset: ``default`` (:class:`ehps.detection.person_search.SearchConfig`) or
            ``baseline`` (the person search before issue 19, for comparison).
        detector: a person detector plug-in instead of the embedded one
            (:func:`ehps.detection.plugins.load_detector`: ``package.module:factory`` or an
            entry-point name; ``docs/detectors.md``); ``None``: the embedded detector.
    """

    boxes: str | None = field(default=None, metadata=flag(
        "--boxes", metavar="JSON", help="person boxes per image/frame instead of the detector"))
    max_people: int | None = field(default=None, metadata=flag(
        "--max-people", help="keep at most N people per frame (highest scores)"))
    min_score: float = field(default=0.5, metadata=flag(
        "--min-score", help="detector score threshold (default 0.5)"))
    bbox_ratio: float = field(default=DEFAULT_BBOX_RATIO, metadata=flag(
        "--bbox-ratio", help=f"crop box enlargement (official: {DEFAULT_BBOX_RATIO})"))
    search: str = field(default="auto", metadata=flag(
        "--search", choices=SEARCH_MODES,
        help="where the person detector looks: auto (default; tiles only where the people "
             "found leave room), full, wide, dense (every tile: crowds, small people; slower)"))
    search_preset: str = field(default="default", metadata=flag(
        "--search-preset", choices=PRESETS,
        help="person search: default, or baseline (as before issue 19, for comparison)"))
    detector: str | None = field(default=None, metadata=flag(
        "--detector", metavar="SPEC",
        help="person detector plug-in: package.module:factory or an entry-point name of the "
             "group ehps.detectors (default: the embedded mediapipe search)"))

    def __post_init__(self) -> None:
        _at_least_one("detection.max_people (--max-people)", self.max_people)
        _one_of("detection.search (--search)", self.search, SEARCH_MODES)
        _one_of("detection.search_preset (--search-preset)", self.search_preset, PRESETS)
        if not 0.0 <= self.min_score <= 1.0:
            raise InputError(f"detection.min_score (--min-score) must be in [0, 1], got "
                             f"{self.min_score}")
        _positive("detection.bbox_ratio (--bbox-ratio)", self.bbox_ratio)


@dataclass
class EstimatorConfig:
    """What estimates the people, and where it runs.

    Attributes:
        checkpoint: official ``.pth.tar`` or ehps ``.safetensors`` weights; ``None``: the
            embedded estimator (landmarks + body-model fit, no weights needed).
        variant: zoo name of an official checkpoint (inferred from its shapes when omitted).
        body_model: embedded estimator only: the body model fitted (a name of
            :func:`ehps.bodymodels.registry.list_body_models`).
        smplx_path: SMPL-X model folder (else ``$EHPS_BODY_MODELS``, then the user data dir).
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps`` (networks; fitting runs on the CPU).
        batch_size: person crops per network call.
        bf16: bfloat16 autocast for the network.
        compile: ``torch.compile`` the network for ``batch_size`` crops.
        pose_batch: people per body-model batch (finished frames wait for it).
        fit_preset: embedded estimator only: ``default`` (:class:`ehps.fitting.FitConfig`) or
            ``baseline`` (the fitter before issue 19, for comparison).
    """

    checkpoint: str | None = field(default=None, metadata=flag(
        "--checkpoint", "--weights", metavar="PATH|NAME",
        help="official .pth.tar or ehps .safetensors weights, or a cached weight name "
             "(`ehps weights list`, e.g. smplestx_h); default: the embedded estimator (no "
             "weights needed)"))
    variant: str | None = field(default=None, metadata=flag(
        "--variant", "--model", help="zoo name of an official checkpoint (e.g. smplerx_b32); "
                                     "inferred from the weights when omitted"))
    body_model: str = field(default="anny", metadata=flag(
        "--body-model", choices="body_models",
        help="embedded estimator only: body model to fit (default anny)"))
    smplx_path: str | None = field(default=None, metadata=flag(
        "--smplx-path", "--smplx-dir",
        help="SMPL-X model folder (else $EHPS_BODY_MODELS, then the user data dir)"))
    device: str = field(default="auto", metadata=flag(
        "--device", help="auto (default), cpu, cuda or mps"))
    batch_size: int = field(default=16, metadata=flag(
        "--batch-size", help="person crops per network call (default 16)"))
    bf16: bool = field(default=False, metadata=flag(
        "--bf16", help="bfloat16 autocast for the network (fast on AMX CPUs and GPUs)"))
    compile: bool = field(default=False, metadata=flag(
        "--compile", help="torch.compile the network for --batch-size crops: faster per crop "
                          "after a one-off compile of about a minute (long videos, big folders)"))
    pose_batch: int = 64
    fit_preset: str = field(default="default", metadata=flag(
        "--fit-preset", choices=PRESETS,
        help="embedded estimator only: fitter options, default or baseline (as before issue "
             "19, for comparison)"))

    def __post_init__(self) -> None:
        _at_least_one("estimator.batch_size (--batch-size)", self.batch_size)
        _at_least_one("estimator.pose_batch", self.pose_batch)
        _one_of("estimator.fit_preset (--fit-preset)", self.fit_preset, PRESETS)


@dataclass
class TrackingConfig:
    """Identities over time (videos, and ``input.sequence`` images).

    Attributes:
        enabled: track the people of videos (``False``: person index = detection order, no
            smoothing).
        max_misses: frames a track survives without a detection.
        per_frame: treat a tracked sequence's frames like unrelated photos: search every frame
            for people and fit every person from a cold start (the behaviour before landmark
            tracking and warm-started fits; for comparison). ``False`` (default): tracked people
            are followed by their landmarks (:mod:`ehps.inference.track_finder`), the whole
            frame is searched only every ``search_every`` frames and when someone is lost, and
            estimators that can (the embedded fit) start from each track's previous estimate.
        search_every: frames between two full person searches when following landmarks.
        parts_every: when following landmarks, look for a followed person's hands and face at
            least every this many frames and carry them over in between (1: every frame; see
            :class:`ehps.detection.landmark_tracking.TrackingSchedule`).
    """

    enabled: bool = field(default=True, metadata=flag(
        "--no-track", invert=True,
        help="videos: no tracking (person index = detection order; no smoothing)"))
    max_misses: int = 15
    per_frame: bool = field(default=False, metadata=flag(
        "--per-frame",
        help="videos: detect every frame afresh and fit every person from a cold start (slow; "
             "the behaviour before landmark tracking and warm-started fits)"))
    search_every: int = field(default=8, metadata=flag(
        "--search-every",
        help="videos: frames between two full person searches while people are followed by "
             "their landmarks (default 8; 1 searches every frame)"))
    parts_every: int = field(default=4, metadata=flag(
        "--parts-every",
        help="videos: frames between two looks for a followed person's hands and face; in "
             "between they are carried over from the previous frame (default 4; 1: every "
             "frame)"))

    def __post_init__(self) -> None:
        if self.max_misses < 0:
            raise InputError(f"tracking.max_misses must be >= 0, got {self.max_misses}")
        _at_least_one("tracking.search_every (--search-every)", self.search_every)
        _at_least_one("tracking.parts_every (--parts-every)", self.parts_every)


@dataclass
class SmoothingConfig:
    """One-Euro smoothing of each track's parameters (:mod:`ehps.inference.smoothing`).

    Attributes:
        enabled: smooth tracked people (``False``: raw per-frame estimates).
        min_cutoff: minimum cut-off in Hz (lower: smoother at rest).
        beta: speed coefficient (higher: less lag when moving); 0 is a fixed low-pass.
        d_cutoff: cut-off of the speed estimate in Hz.
    """

    enabled: bool = field(default=True, metadata=flag(
        "--no-smooth", invert=True, help="no temporal smoothing"))
    min_cutoff: float = field(default=1.0, metadata=flag(
        "--smooth-min-cutoff",
        help="One-Euro min cut-off in Hz (lower: smoother at rest; default 1.0)"))
    beta: float = field(default=0.5, metadata=flag(
        "--smooth-beta", help="One-Euro speed coefficient (higher: less lag; default 0.5)"))
    d_cutoff: float = field(default=1.0, metadata=flag(
        "--smooth-d-cutoff", help="One-Euro cut-off of the speed estimate in Hz (default 1.0)"))

    def __post_init__(self) -> None:
        _positive("smoothing.min_cutoff (--smooth-min-cutoff)", self.min_cutoff)
        _positive("smoothing.beta (--smooth-beta)", self.beta, allow_zero=True)
        _positive("smoothing.d_cutoff (--smooth-d-cutoff)", self.d_cutoff)


@dataclass
class OutputConfig:
    """What is written where (the files: :mod:`ehps.io.results`).

    Attributes:
        out_dir: output folder (one run at a time; see :mod:`ehps.io.outdir`).
        save_mesh: mesh formats written per person (``obj``, ``ply``, ``glb``).
        render: overlays (a PNG per image, an MP4 per video).
        side_view: add a side view to the overlays.
        render_backend: rasteriser (``auto``: moderngl when it works here, else torch).
        draw_boxes: draw person boxes and ids on the overlays.
        overlay_alpha: mesh opacity on the overlays, in [0, 1].
        export_anim: after the run, for every tracked sequence: the world frame (floor fit,
            ``world.json``), foot-skate cleanup and rigged animation files in these formats
            (``glb``, ``bvh``, ``fbx``; :func:`ehps.world.animation.animate_sequence`).
        anim_up: up axis (``y`` or ``z``) of ``world.json``, the world arrays and BVH files.
        resume: continue an interrupted run in ``out_dir`` without redoing finished frames.
        overwrite: replace the results of an earlier run in ``out_dir``.
    """

    out_dir: str = field(default="ehps_infer", metadata=flag(
        "--out", help="output folder (default: ./ehps_infer)"))
    save_mesh: tuple[str, ...] = field(default=(), metadata=flag(
        "--save-mesh", nargs="+", choices=MESH_FORMATS,
        help="also write meshes (shared camera, metres)"))
    render: bool = field(default=False, metadata=flag(
        "--render", help="overlay PNG per image / MP4 per video"))
    side_view: bool = field(default=False, metadata=flag(
        "--side-view", help="add a side view to the overlays"))
    render_backend: str = field(default="auto", metadata=flag(
        "--render-backend", choices=RENDER_BACKENDS,
        help="rasteriser (auto: moderngl when installed and usable, else torch)"))
    draw_boxes: bool = field(default=True, metadata=flag(
        "--no-boxes", invert=True, help="do not draw boxes and ids"))
    overlay_alpha: float = field(default=0.85, metadata=flag(
        "--overlay-alpha", help="mesh opacity on the overlays, 0..1 (default 0.85)"))
    export_anim: tuple[str, ...] = field(default=(), metadata=flag(
        "--export-anim", nargs="+", choices=ANIM_FORMATS, metavar="FMT",
        help="videos and --sequence: world frame (floor at 0), foot-skate cleanup and rigged "
             "animations per track in <sequence>/anim/ (glb, bvh, fbx; fbx needs Blender)"))
    anim_up: str = field(default="y", metadata=flag(
        "--anim-up", choices=("y", "z"),
        help="up axis of world.json, the world arrays and BVH (GLB is always y up); default y"))
    resume: bool = field(default=False, metadata=flag(
        "--resume", help="continue an interrupted run in the same --out without redoing "
                         "finished frames"))
    overwrite: bool = field(default=False, metadata=flag(
        "--overwrite", help="replace the results of an earlier run in --out"))

    def __post_init__(self) -> None:
        bad = [f for f in self.save_mesh if f not in MESH_FORMATS]
        if bad:
            raise InputError(f"output.save_mesh: unknown mesh format(s) {bad}; use "
                             f"{', '.join(MESH_FORMATS)}")
        self.save_mesh = tuple(dict.fromkeys(self.save_mesh))
        bad = [f for f in self.export_anim if f not in ANIM_FORMATS]
        if bad:
            raise InputError(f"output.export_anim: unknown animation format(s) {bad}; use "
                             f"{', '.join(ANIM_FORMATS)}")
        self.export_anim = tuple(dict.fromkeys(self.export_anim))
        if self.anim_up not in ("y", "z"):
            raise InputError(f"output.anim_up (--anim-up) must be 'y' or 'z', got "
                             f"{self.anim_up!r}")
        if self.render_backend not in RENDER_BACKENDS:
            raise InputError(f"output.render_backend must be one of {list(RENDER_BACKENDS)}, "
                             f"got {self.render_backend!r}")
        if not 0.0 <= self.overlay_alpha <= 1.0:
            raise InputError(f"output.overlay_alpha (--overlay-alpha) must be in [0, 1], got "
                             f"{self.overlay_alpha}")
        if self.resume and self.overwrite:
            raise InputError("--resume and --overwrite exclude each other: continue the earlier "
                             "run, or replace it")


@dataclass
class InferConfig:
    """Everything ``ehps infer`` needs besides its inputs (see the module docstring).

    Attributes:
        input, detection, estimator, tracking, smoothing, output: the sections.
        progress: show progress bars (only on a terminal).
    """

    input: InputConfig = field(default_factory=InputConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    progress: bool = field(default=True, metadata=flag("--quiet", invert=True,
                                                       help="no progress bar"))
