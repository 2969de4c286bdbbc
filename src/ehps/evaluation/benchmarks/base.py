"""The evaluator protocol shared by all benchmarks, the evaluation context (body models and
regressors) and small helpers every benchmark reader uses.

An evaluator lists the samples of its split (:class:`EvalSample`: an image, the exact crop box the
official test code warps, a ground-truth payload), then receives predictions batch by batch
(:class:`PredictionBatch`) through ``process`` and returns an
:class:`~ehps.evaluation.report.EvalReport` from ``summarize`` (detectron2's reset / process /
evaluate). The runner (:mod:`ehps.evaluation.runner`) drives a network or any ``predict_fn``.
"""

from __future__ import annotations

import abc
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ehps.bodymodels.joint_sets import SMPLX_POSE_SHAPES
from ehps.bodymodels.paths import ENV_VAR, default_body_models_dir, find_smplx_dir
from ehps.errors import BodyModelError, InputError
from ehps.evaluation.benchmarks._io import coco_records, crop_box
from ehps.evaluation.metrics import nanmean_over_samples
from ehps.evaluation.regressors import SMPLXTopology, load_h36m_regressor, load_smplx_to_smpl
from ehps.evaluation.report import EvalReport
from ehps.utils.io import PathLike

__all__ = [
    "PARAM_SHAPES",
    "EvalSample",
    "PredictionBatch",
    "EvalContext",
    "Evaluator",
    "MetricAccumulator",
    "register_benchmark",
    "get_benchmark",
    "list_benchmarks",
    "resolve_root",
    "require_files",
    "stack_params",
    "coco_crop_samples",
]


#: The SMPL-X parameters a prediction (or a GT record) holds, unbatched shapes.
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    **SMPLX_POSE_SHAPES,
    "betas": (10,),
    "expression": (10,),
    "cam_trans": (3,),
}


@dataclass
class EvalSample:
    """One person crop to evaluate.

    Attributes:
        key: unique id within the benchmark (annotation id, row index...).
        image_path: the image file to load.
        crop_bbox_xywh: (4,) float32 box (pixels of the loaded image) that is warped to the
            384x512 network input: already processed exactly as the official test code does
            (aspect, ratio, clipping).
        gt: benchmark-specific ground truth or pointers to it.
        image_to_original: optional (2, 3) affine from loaded-image pixels to the benchmark's
            original frame (AGORA's pre-cropped 4K images).
        image_hw: (height, width) of the loaded image when the annotation gives it.
    """

    key: str
    image_path: Path
    crop_bbox_xywh: np.ndarray
    gt: dict[str, Any] = field(default_factory=dict)
    image_to_original: np.ndarray | None = None
    image_hw: tuple[int, int] | None = None


@dataclass
class PredictionBatch:
    """Network output for a batch of samples, with the SMPL-X mesh already computed.

    Attributes:
        params: SMPL-X parameters, batch-first, shapes of :data:`PARAM_SHAPES` (axis-angle,
            hands in ``flat_hand_mean=False``), ``cam_trans`` metres in the crop camera.
        vertices: (B, 10475, 3) neutral SMPL-X mesh + ``cam_trans`` (crop camera, metres).
        joints: (B, 144, 3) the 144 official joints + ``cam_trans``.
        img2crop: (B, 2, 3) affine loaded-image pixels -> 384x512 input pixels.
        crop2img: (B, 2, 3) its inverse.
    """

    params: dict[str, torch.Tensor]
    vertices: torch.Tensor
    joints: torch.Tensor
    img2crop: np.ndarray
    crop2img: np.ndarray

    @property
    def cam_trans(self) -> torch.Tensor:
        return self.params["cam_trans"]


def _first_file(candidates: Sequence[Path]) -> Path | None:
    for c in candidates:
        if c.is_file():
            return c
    return None


@dataclass
class EvalContext:
    """Body models and regressors shared by the evaluators.

    Attributes:
        smplx: neutral SMPL-X layer (10 betas, 10 expression, no PCA, ``flat_hand_mean=False``,
            face contour: the official test configuration), float32.
        topology: SMPL-X evaluation regressors and subsets.
        smplx_dir: where the SMPL-X files were found.
        smpl_dir: explicit SMPL directory (or ``None`` = standard places).
        smplx2smpl_path, h36m_regressor_path: explicit files (or ``None`` = standard places).
    """

    smplx: Any
    topology: SMPLXTopology
    smplx_dir: Path
    smpl_dir: Path | None = None
    smplx2smpl_path: Path | None = None
    h36m_regressor_path: Path | None = None

    @classmethod
    def from_paths(
        cls,
        smplx_dir: PathLike | None = None,
        smpl_dir: PathLike | None = None,
        smplx2smpl: PathLike | None = None,
        h36m_regressor: PathLike | None = None,
    ) -> EvalContext:
        """Find and load SMPL-X (explicit path, ``$EHPS_BODY_MODELS``, user data dir) and its
        evaluation companions; SMPL-side files are only located when first used.

        Raises:
            BodyModelError: SMPL-X model or companion files missing (lists what and where).
        """
        from ehps.bodymodels.smplx import load_smplx

        d = find_smplx_dir(smplx_dir)
        model = load_smplx(d, "neutral", num_betas=10, num_expression=10, use_pca=False,
                           flat_hand_mean=False, use_face_contour=True)
        topo = SMPLXTopology.from_smplx_dir(d, model.J_regressor.detach().cpu().numpy())
        return cls(
            smplx=model,
            topology=topo,
            smplx_dir=d,
            smpl_dir=None if smpl_dir is None else Path(smpl_dir),
            smplx2smpl_path=None if smplx2smpl is None else Path(smplx2smpl),
            h36m_regressor_path=None if h36m_regressor is None else Path(h36m_regressor),
        )

    def _aux_dirs(self) -> list[Path]:
        dirs = []
        if self.smpl_dir is not None:
            dirs += [self.smpl_dir, self.smpl_dir.parent]
        dirs += [self.smplx_dir.parent, self.smplx_dir]
        env = os.environ.get(ENV_VAR)
        if env:
            dirs.append(Path(env).expanduser())
        dirs.append(default_body_models_dir())
        return dirs

    @functools.cached_property
    def _smpl_models(self) -> dict[str, Any]:
        return {}

    def smpl(self, gender: str = "neutral") -> Any:
        """The SMPL layer of ``gender`` (loaded once; see :mod:`ehps.evaluation.smpl`)."""
        from ehps.evaluation.smpl import load_smpl

        g = str(gender).lower()
        g = {"m": "male", "f": "female", "n": "neutral"}.get(g, g)
        if g not in self._smpl_models:
            self._smpl_models[g] = load_smpl(self.smpl_dir, g)
        return self._smpl_models[g]

    @functools.cached_property
    def smplx_to_smpl_matrix(self) -> torch.Tensor:
        """(6890, 10475) sparse SMPL-X -> SMPL vertex map (``smplx2smpl.pkl``)."""
        if self.smplx2smpl_path is not None:
            return load_smplx_to_smpl(self.smplx2smpl_path)
        dirs = self._aux_dirs()
        found = _first_file([d / n for d in dirs for n in ("smplx2smpl.pkl", "smplx2smpl.npz")])
        if found is None:
            raise BodyModelError(
                "smplx2smpl.pkl (SMPL-X -> SMPL vertex map, 6890 x 10475, from SMPLest-X's "
                "human_model_files) is needed for this protocol; pass --smplx2smpl or put it in "
                "one of: " + ", ".join(str(d) for d in dirs)
            )
        return load_smplx_to_smpl(found)

    @functools.cached_property
    def h36m_regressor(self) -> torch.Tensor:
        """(17, 6890) ``J_regressor_h36m.npy``."""
        if self.h36m_regressor_path is not None:
            return load_h36m_regressor(self.h36m_regressor_path)
        dirs = self._aux_dirs()
        found = _first_file([d / "J_regressor_h36m.npy" for d in dirs])
        if found is None:
            raise BodyModelError(
                "J_regressor_h36m.npy (17 x 6890, the community H36M regressor of SPIN / HMR 2.0) "
                "is needed for the h36m protocol; pass --h36m-regressor or put it in one of: "
                + ", ".join(str(d) for d in dirs)
            )
        return load_h36m_regressor(found)

    @torch.no_grad()
    def smplx_meshes(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Neutral SMPL-X (vertices (B, V, 3), joints (B, 144, 3)) of batched parameters
        (:data:`PARAM_SHAPES` keys; eye poses zero), with ``cam_trans`` added afterwards as in
        SMPLer-X's ``get_coord``."""
        b = params["global_orient"].shape[0]
        zeros = params["global_orient"].new_zeros(b, 3)
        out = self.smplx(
            global_orient=params["global_orient"].reshape(b, 3),
            body_pose=params["body_pose"].reshape(b, 21, 3),
            left_hand_pose=params["left_hand_pose"].reshape(b, 15, 3),
            right_hand_pose=params["right_hand_pose"].reshape(b, 15, 3),
            jaw_pose=params["jaw_pose"].reshape(b, 3),
            leye_pose=zeros,
            reye_pose=zeros,
            betas=params["betas"].reshape(b, -1)[:, :10],
            expression=params["expression"].reshape(b, -1)[:, :10],
        )
        t = params["cam_trans"].reshape(b, 1, 3).to(out.vertices.dtype)
        return out.vertices + t, out.joints + t


class MetricAccumulator:
    """Collects per-sample metric values (B,) batch after batch; NaN = not counted."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        self.reset()

    def reset(self) -> None:
        self._values: dict[str, list[torch.Tensor]] = {k: [] for k in self.keys}

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k in self.keys:
            if k in values:
                self._values[k].append(values[k].detach().to(torch.float64).cpu().reshape(-1))

    def means(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for k in self.keys:
            v = torch.cat(self._values[k]) if self._values[k] else torch.zeros(0)
            m = nanmean_over_samples(v)
            out[k] = None if m != m else m  # NaN -> None
        return out

    def counts(self) -> dict[str, int]:
        return {
            k: int(torch.cat(v).isfinite().sum()) if v else 0 for k, v in self._values.items()
        }

    def num_samples(self) -> int:
        """The largest per-metric count (0 before any batch)."""
        return max(self.counts().values(), default=0)

    def per_sample(self) -> dict[str, list[float]]:
        return {k: torch.cat(v).tolist() if v else [] for k, v in self._values.items()}


class Evaluator(abc.ABC):
    """Base class of a benchmark evaluator.

    Subclasses set ``name``, ``protocols`` (first = default) and ``description``, implement
    :meth:`samples`, :meth:`process` and :meth:`summarize`, and :meth:`expected_layout` (the
    files they read, for error messages and ``ehps eval --list``).
    """

    name: ClassVar[str] = ""
    protocols: ClassVar[tuple[str, ...]] = ("smplerx",)
    description: ClassVar[str] = ""

    def __init__(self, data_root: PathLike, context: EvalContext, protocol: str | None = None):
        self.data_root = Path(data_root).expanduser()
        self.context = context
        self.protocol = protocol or self.protocols[0]
        if self.protocol not in self.protocols:
            raise InputError(
                f"benchmark {self.name!r} has protocols {', '.join(self.protocols)}; "
                f"got {protocol!r}"
            )
        self.notes: list[str] = []

    @classmethod
    @abc.abstractmethod
    def expected_layout(cls) -> list[str]:
        """Human-readable lines naming the files read, relative to the data root."""

    @abc.abstractmethod
    def samples(self) -> list[EvalSample]:
        """All samples of the evaluated split, in the official order."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every processed batch."""

    @abc.abstractmethod
    def process(self, samples: Sequence[EvalSample], pred: PredictionBatch) -> None:
        """Score one batch."""

    @abc.abstractmethod
    def summarize(self) -> EvalReport:
        """Aggregate everything processed since the last :meth:`reset`."""

    # ------------------------------------------------------------------ helpers for subclasses
    def _find_root(self, marker: str, prefixes: Sequence[str]) -> Path:
        """The folder under the data root that holds ``marker`` (:func:`resolve_root`), or an
        :class:`InputError` listing :meth:`expected_layout`."""
        found = resolve_root(self.data_root, marker, prefixes)
        return require_files(self.name, self.data_root, self.expected_layout(), found)

    def _report(
        self,
        acc: MetricAccumulator,
        notes: Sequence[str],
        counts: dict[str, int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> EvalReport:
        """The report of ``acc``'s means; ``counts`` defaults to ``{"samples": the largest
        per-metric count}``; the protocol ``notes`` come before the run's own :attr:`notes`."""
        return EvalReport(
            self.name,
            self.protocol,
            acc.means(),
            counts={"samples": acc.num_samples()} if counts is None else counts,
            notes=[*notes, *self.notes],
            extra={} if extra is None else extra,
        )


_REGISTRY: dict[str, type[Evaluator]] = {}


def register_benchmark(cls: type[Evaluator]) -> type[Evaluator]:
    """Class decorator: register an evaluator under ``cls.name``."""
    if not cls.name:
        raise ValueError("an evaluator needs a name")
    _REGISTRY[cls.name] = cls
    return cls


def list_benchmarks() -> list[str]:
    """Registered benchmark names."""
    import ehps.evaluation.benchmarks  # noqa: F401  (registers the built-in evaluators)

    return sorted(_REGISTRY)


def get_benchmark(name: str) -> type[Evaluator]:
    """The evaluator class of ``name`` (case-insensitive, ``-`` = ``_``)."""
    import ehps.evaluation.benchmarks  # noqa: F401

    key = name.strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        raise InputError(f"unknown benchmark {name!r}; available: {', '.join(list_benchmarks())}")
    return _REGISTRY[key]


def resolve_root(data_root: Path, marker: str, prefixes: Sequence[str]) -> Path | None:
    """The first ``data_root / prefix`` that contains ``marker`` (prefixes may be ``""``)."""
    for prefix in prefixes:
        base = data_root / prefix if prefix else data_root
        if (base / marker).exists():
            return base
    return None


def require_files(
    benchmark: str, data_root: Path, layout: Sequence[str], found: Path | None
) -> Path:
    """``found`` or an :class:`InputError` that lists the expected layout under ``data_root``."""
    if found is not None:
        return found
    lines = "\n".join(f"  {line}" for line in layout)
    raise InputError(
        f"{benchmark}: the data root {data_root} does not hold the expected files. Expected "
        f"(relative to the data root, or to the parent folder named in the first path):\n{lines}"
    )


def stack_params(records: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack unbatched parameter records (:data:`PARAM_SHAPES` keys) into batched float32
    tensors."""
    return {
        k: torch.from_numpy(
            np.stack([np.asarray(r[k], np.float32).reshape(shape) for r in records])
        )
        for k, shape in PARAM_SHAPES.items()
    }


def coco_crop_samples(
    db: dict[str, Any],
    path: Path,
    box_key: str,
    ratio: float,
    describe: Callable[[dict, dict], tuple[Path, dict[str, Any]]],
) -> list[EvalSample]:
    """One :class:`EvalSample` per annotation of a COCO-style file whose box survives the
    official ``process_bbox``, in annotation order.

    Args:
        db: the parsed file (``images`` with ``width`` / ``height``, ``annotations``).
        path: the file, for error messages.
        box_key: the annotation's xywh box field (``"bbox"``, ``"body_bbox"``).
        ratio: the crop enlargement ratio.
        describe: ``(annotation, image) -> (image path, ground truth)`` of a kept annotation.

    Returns:
        Samples keyed by the annotation ``id`` (else their position), with the image size of the
        image record.
    """
    out: list[EvalSample] = []
    for ann, img in coco_records(db, path):
        box = crop_box(ann[box_key], img["width"], img["height"], ratio)
        if box is None:
            continue
        image_path, gt = describe(ann, img)
        out.append(
            EvalSample(
                key=str(ann.get("id", len(out))),
                image_path=image_path,
                crop_bbox_xywh=box,
                gt=gt,
                image_hw=(int(img["height"]), int(img["width"])),
            )
        )
    return out
