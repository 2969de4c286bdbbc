"""The :class:`Predictor`: detection, cropping, batching and un-cropping around an estimator.

Two estimators sit behind one interface and give the same :class:`~ehps.structures.FrameResult`:

- a SMPLer-X / SMPLest-X **network** (an official ``.pth.tar`` or an ehps ``.safetensors``):
  people are found by the detector (or given as boxes), each box is processed exactly as the
  official models expect (official-spec a.0: clip, aspect 0.75, ratio 1.2, affine warp to 512x384,
  values in [0, 1]), crops of many people and frames go through the network together in batches
  of ``batch_size`` (inference mode, optional bf16 autocast), and the SMPL-X layer then runs
  batched too. Each person keeps the official per-person camera (``transl``, intrinsics of
  official-spec a.5) and gets a translation in the shared image camera (``transl_full``, see
  :mod:`ehps.inference.camera`). Meshes need the licensed SMPL-X files; without them parameters
  and cameras are still produced (the shared-camera anchor is then the model origin instead of the
  root joint) and a warning says so once.
- the **embedded** estimator (:class:`ehps.fitting.EmbeddedEstimator`: mediapipe landmarks + a body
  model fit, Anny by default), used when no weights are given. Its camera is the shared one.

The network module stays free of I/O: everything here happens around ``model(images)``.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ehps.errors import BodyModelError, InputError
from ehps.geometry.camera import CROP_INPUT_HW, Intrinsics
from ehps.geometry.crop import crop_person, process_bbox
from ehps.inference.camera import from_shared_camera, person_intrinsics, project, to_shared_camera
from ehps.inference.compiled import StaticBatchNetwork
from ehps.structures import SMPLX_PARAM_KEYS, FrameResult, PersonEstimate

__all__ = ["Predictor", "resolve_device", "normalize_params", "ROTATION_PARAM_KEYS"]

log = logging.getLogger(__name__)

#: Parameter keys holding axis-angle rotations, with their joint counts.
ROTATION_PARAM_KEYS: dict[str, int] = {
    "global_orient": 1, "body_pose": 21, "left_hand_pose": 15, "right_hand_pose": 15,
    "jaw_pose": 1, "leye_pose": 1, "reye_pose": 1,
}
_EMBEDDED_NAMES = {"embedded", "fit", "default", "fit-anny", "fit-smplx"}
_POSE_CHUNK = 64


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> CUDA, else MPS, else CPU; other names are checked for availability.

    Raises:
        InputError: the requested device is not available here.
    """
    name = "auto" if device is None else str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device here; "
                         "use --device cpu (or auto)")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError("--device mps was asked for but MPS is not available; use cpu")
    return dev


def normalize_params(params: dict[str, Any]) -> dict[str, np.ndarray]:
    """float32 copies of a parameter dict with the SMPL-X keys in the shapes of
    :data:`~ehps.structures.SMPLX_PARAM_KEYS` (other keys: leading singleton axes dropped to
    ``(1, n)``)."""
    out: dict[str, np.ndarray] = {}
    for key, value in params.items():
        arr = np.asarray(value, np.float32)
        shape = SMPLX_PARAM_KEYS.get(key)
        if shape is not None and arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        elif shape is None and arr.ndim > 2 and all(s == 1 for s in arr.shape[:-1]):
            arr = arr.reshape(1, -1)
        out[key] = arr.copy()
    return out


class Predictor:
    """Whole-body 3D people from images: detection, cropping, batching and un-cropping.

    Build it with :meth:`from_pretrained`. Call it on one image (``predictor(image)``) or on many
    (:meth:`predict`); the stage methods (:meth:`detect`, :meth:`crop`, :meth:`run_network`,
    :meth:`make_people`, :meth:`pose`) let a video loop batch across frames.

    Args:
        model: a SMPLer-X / SMPLest-X network (eval mode), or ``None`` for the embedded path.
        estimator: an :class:`ehps.fitting.EmbeddedEstimator` (embedded path).
        detector: person detector (default :class:`ehps.detection.MediapipeDetector`).
        device: where the network and the SMPL-X layer run (``"auto"``, ``"cpu"``, ``"cuda"``,
            ``"mps"``).
        bf16: run the network under bfloat16 autocast (fast on CPUs with AMX and on GPUs).
        batch_size: crops per network call.
        compile: compile the network with ``torch.compile`` for batches of ``batch_size``
            (:class:`ehps.inference.compiled.StaticBatchNetwork`): faster per crop after a
            one-off compile of tens of seconds; for long videos and big folders.
        bbox_ratio: crop box enlargement (official: 1.2).
        max_people: keep at most this many people per image (highest detector scores).
        min_score: detector score threshold.
        smplx_path: where to look for the SMPL-X files first (network path).
        require_body_model: raise :class:`BodyModelError` now if the SMPL-X files are missing
            (set when meshes or renders are asked for); else warn once and go on without meshes.
        name: estimator name recorded in the outputs; ``weights``: the weight file.
    """

    def __init__(
        self,
        model: torch.nn.Module | None = None,
        estimator: Any = None,
        detector: Any = None,
        *,
        device: str | torch.device = "auto",
        bf16: bool = False,
        batch_size: int = 16,
        compile: bool = False,
        bbox_ratio: float = 1.2,
        max_people: int | None = None,
        min_score: float = 0.5,
        smplx_path: str | os.PathLike[str] | None = None,
        require_body_model: bool = False,
        name: str = "",
        weights: str = "",
    ) -> None:
        if (model is None) == (estimator is None):
            raise InputError("give exactly one of model= (network) or estimator= (embedded)")
        if batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {batch_size}")
        if max_people is not None and max_people < 1:
            raise InputError(f"--max-people must be >= 1, got {max_people}")
        if bbox_ratio <= 0:
            raise InputError(f"--bbox-ratio must be > 0, got {bbox_ratio}")
        if estimator is not None:  # the fit runs on the CPU
            if str(device) not in ("auto", "cpu"):
                log.warning("the embedded estimator runs on the CPU; --device %s is ignored",
                            device)
            device = "cpu"
        self.device = resolve_device(device)
        if bf16 and self.device.type == "mps":
            raise InputError("--bf16 is not supported on mps; run in float32 there")
        self.model = model
        self.estimator = estimator
        self._detector = detector
        self.bf16 = bool(bf16)
        self.batch_size = int(batch_size)
        self.bbox_ratio = float(bbox_ratio)
        self.max_people = max_people
        self.min_score = float(min_score)
        self.smplx_path = smplx_path
        self.weights = weights
        self.timings: dict[str, float] = {}
        self._body_model: Any = None
        self._body_model_error: BodyModelError | None = None
        self._anchor_basis: tuple[np.ndarray, np.ndarray] | None = None
        self._forward_keys: frozenset[str] | None = None
        self._network: Any = None
        if model is not None:
            self.model = model.eval().to(self.device)
            self._network = (StaticBatchNetwork(self.model, self.batch_size) if compile
                             else self.model)
            cfg = getattr(model, "config", None)
            self.name = name or getattr(cfg, "name", "") or type(model).__name__.lower()
            if require_body_model:
                self.load_body_model(required=True)
        else:
            self.name = name or ""

    # ------------------------------------------------------------------------- building

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        *,
        variant: str | None = None,
        device: str | torch.device = "auto",
        bf16: bool = False,
        batch_size: int = 16,
        compile: bool = False,
        bbox_ratio: float = 1.2,
        max_people: int | None = None,
        min_score: float = 0.5,
        smplx_path: str | os.PathLike[str] | None = None,
        body_model: str = "anny",
        fit_config: Any = None,
        detector: Any = None,
        require_body_model: bool = False,
        **model_overrides: Any,
    ) -> Predictor:
        """A predictor for an official ``.pth.tar``, an ehps ``.safetensors``, or nothing.

        Args:
            name_or_path: weight file, or a weight name in the local cache (``"smplestx_h"``;
                ``ehps weights list``; resolved offline, never downloaded); ``None`` (or
                ``"embedded"``) uses the embedded estimator (mediapipe landmarks + fitting of
                ``body_model``).
            variant: zoo name of an official checkpoint (inferred from its shapes when omitted).
            body_model: embedded path only: ``"anny"`` (default) or ``"smplx"``.
            fit_config: embedded path only: a :class:`ehps.fitting.FitConfig`.
            **model_overrides: :class:`ehps.modeling.ModelConfig` overrides (tiny test files).
            Other arguments: see :class:`Predictor`.

        Raises:
            CheckpointError: the weight file is missing, unreadable or does not fit.
            BodyModelError: ``require_body_model`` and no SMPL-X files were found.
        """
        common = dict(device=device, bf16=bf16, batch_size=batch_size, bbox_ratio=bbox_ratio,
                      max_people=max_people, min_score=min_score, smplx_path=smplx_path)
        if name_or_path is None or str(name_or_path).lower() in _EMBEDDED_NAMES:
            from ehps.fitting.estimator import EmbeddedEstimator

            if detector is None:
                from ehps.detection import MediapipeDetector

                detector = MediapipeDetector(min_score=min_score, max_people=max_people)
            est = EmbeddedEstimator(body_model=body_model, detector=detector,
                                    fit_config=fit_config, smplx_path=smplx_path)
            if compile:
                log.warning("--compile applies to networks; the embedded estimator ignores it")
            return cls(estimator=est, detector=detector, name=f"fit-{body_model}", **common)
        from ehps.modeling import load_model
        from ehps.weights import resolve_weights

        path = resolve_weights(name_or_path)  # a file, or a cached weight name (offline)

        model = load_model(path, variant=variant, **model_overrides)
        return cls(model=model, detector=detector, require_body_model=require_body_model,
                   weights=str(path), compile=compile, **common)

    @property
    def kind(self) -> str:
        """``"network"`` or ``"embedded"``."""
        return "network" if self.model is not None else "embedded"

    @property
    def detector(self) -> Any:
        if self._detector is None:
            from ehps.detection import MediapipeDetector

            self._detector = MediapipeDetector(min_score=self.min_score,
                                               max_people=self.max_people, hands=False,
                                               face=False)
        return self._detector

    def load_body_model(self, required: bool = False) -> Any:
        """The body model meshes come from (SMPL-X for networks; the fit's model otherwise), or
        ``None`` when the SMPL-X files are missing (warned once; raised when ``required``)."""
        if self.estimator is not None:
            return self.estimator.body_model
        if self._body_model is None and self._body_model_error is None:
            try:
                from ehps.bodymodels.paths import find_smplx_dir
                from ehps.bodymodels.smplx import SMPLX, load_smplx

                folder = find_smplx_dir(self.smplx_path)
                if self.device.type == "cpu":
                    self._body_model = load_smplx(folder)
                else:  # a private copy: the cached CPU instance is shared
                    self._body_model = SMPLX.from_file(folder).to(self.device)
            except BodyModelError as exc:
                self._body_model_error = exc
                log.warning("SMPL-X model files not found: writing parameters and cameras only "
                            "(no meshes, joints or renders). %s", exc)
        if self._body_model is None and required:
            assert self._body_model_error is not None
            raise BodyModelError(
                "meshes and renders of network outputs need the SMPL-X model files. "
                + str(self._body_model_error)
            )
        return self._body_model

    @property
    def has_meshes(self) -> bool:
        return self.load_body_model() is not None

    @property
    def faces(self) -> np.ndarray | None:
        """(F, 3) int64 triangles of the body model, or ``None`` without one."""
        bm = self.load_body_model()
        return None if bm is None else bm.faces.detach().cpu().numpy().astype(np.int64)

    def _tick(self, key: str, t0: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - t0

    # ---------------------------------------------------------------------- network stages

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes of one (H, W, 3) uint8 RGB image: ``(boxes_xywh (N, 4), scores (N,))``
        float32, highest score first, at most ``max_people``."""
        t0 = time.perf_counter()
        boxes, scores = self.detector.detect_people(image)
        self._tick("detect", t0)
        return self.limit_people(boxes, scores)

    def limit_people(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep the ``max_people`` highest-scoring boxes (original order otherwise kept)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        if self.max_people is not None and len(boxes) > self.max_people:
            keep = np.sort(np.argsort(-scores, kind="stable")[: self.max_people])
            boxes, scores = boxes[keep], scores[keep]
        return boxes, scores

    def crop(self, image: np.ndarray, boxes_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
        """Official crops of the given person boxes.

        Returns:
            ``crops`` (N, 512, 384, 3) float32 RGB in 0..255, ``crop_boxes`` (N, 4) processed
            xywh boxes in image pixels, and ``keep`` (N0,) bool over the input boxes (boxes with
            nothing left inside the image are dropped).
        """
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        boxes = np.asarray(boxes_xywh, np.float32).reshape(-1, 4)
        keep = np.zeros(len(boxes), bool)
        crops, crop_boxes = [], []
        for i, box in enumerate(boxes):
            cb = process_bbox(box, w, h, ratio=self.bbox_ratio)
            if cb is None:
                continue
            keep[i] = True
            crops.append(crop_person(image, cb).image)
            crop_boxes.append(cb)
        self._tick("crop", t0)
        if not crops:
            return (np.zeros((0, *CROP_INPUT_HW, 3), np.float32), np.zeros((0, 4), np.float32),
                    keep)
        return np.stack(crops), np.asarray(crop_boxes, np.float32), keep

    def run_network(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """The network on (N, 512, 384, 3) 0..255 crops, in batches of ``batch_size``.

        Returns:
            float32 arrays with a leading N: the SMPL-X parameters in the shapes of
            :data:`SMPLX_PARAM_KEYS` (``transl`` = the crop-camera translation) and ``cam_param``.
        """
        if self.model is None:
            raise InputError("run_network needs a network predictor")
        n = int(crops.shape[0])
        parts: dict[str, list[np.ndarray]] = {}
        t0 = time.perf_counter()
        autocast = self.bf16 and self.device.type in ("cpu", "cuda")
        for s in range(0, n, self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[s : s + self.batch_size]))
            x = x.to(self.device).permute(0, 3, 1, 2).contiguous().div_(255.0)
            with torch.inference_mode(), torch.autocast(
                device_type=self.device.type, dtype=torch.bfloat16, enabled=autocast
            ):
                pred = self._network(x)
            b = x.shape[0]
            fields = {
                "global_orient": pred.global_orient.reshape(b, 1, 3),
                "body_pose": pred.body_pose.reshape(b, 21, 3),
                "left_hand_pose": pred.left_hand_pose.reshape(b, 15, 3),
                "right_hand_pose": pred.right_hand_pose.reshape(b, 15, 3),
                "jaw_pose": pred.jaw_pose.reshape(b, 1, 3),
                "betas": pred.betas.reshape(b, 1, -1),
                "expression": pred.expression.reshape(b, 1, -1),
                "transl": pred.cam_trans.reshape(b, 1, 3),
                "cam_param": pred.cam_param.reshape(b, 3),
            }
            for k, v in fields.items():
                parts.setdefault(k, []).append(v.float().cpu().numpy())
        self._tick("network", t0)
        out = {k: (np.concatenate(v) if v else np.zeros((0,), np.float32))
               for k, v in parts.items()}
        if n:
            zeros = np.zeros((n, 1, 3), np.float32)
            out["leye_pose"], out["reye_pose"] = zeros, zeros.copy()
        return out

    def anchor(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """(3,) the shared-camera anchor in the model frame: the SMPL-X root joint of the shaped
        rest mesh (``J_regressor[0] @ (template + shape and expression offsets)``, exact and
        pose-independent), or the origin without SMPL-X files."""
        bm = self.load_body_model() if self.model is not None else None
        if bm is None:
            return np.zeros(3, np.float32)
        if self._anchor_basis is None:
            with torch.no_grad():
                jr0 = bm.J_regressor[0].double().cpu()
                base = jr0 @ bm.v_template.double().cpu()
                dirs = torch.cat((bm.shapedirs, bm.expr_dirs), dim=-1).double().cpu()
                basis = torch.einsum("v,vck->ck", jr0, dirs)
            self._anchor_basis = (base.numpy(), basis.numpy())
        base, basis = self._anchor_basis
        nb, ne = int(bm.num_betas), int(bm.num_expression)
        coeffs = np.zeros(nb + ne, np.float64)
        betas = np.asarray(params.get("betas", np.zeros(nb)), np.float64).reshape(-1)[:nb]
        expr = np.asarray(params.get("expression", np.zeros(ne)), np.float64).reshape(-1)[:ne]
        coeffs[: len(betas)] = betas
        coeffs[nb : nb + len(expr)] = expr
        return (base + basis @ coeffs).astype(np.float32)

    def make_people(
        self,
        boxes_xywh: np.ndarray,
        scores: np.ndarray,
        crop_boxes: np.ndarray,
        outputs: dict[str, np.ndarray],
        k_shared: Intrinsics,
    ) -> list[PersonEstimate]:
        """One :class:`PersonEstimate` per crop from :meth:`run_network` outputs (rows in crop
        order); meshes are filled later by :meth:`pose`."""
        people = []
        keys = [*SMPLX_PARAM_KEYS]
        for i in range(len(crop_boxes)):
            params = normalize_params({k: outputs[k][i] for k in keys})
            k_person = person_intrinsics(crop_boxes[i])
            transl_full = to_shared_camera(params["transl"], self.anchor(params), k_person,
                                           k_shared)
            people.append(PersonEstimate(
                bbox_xywh=np.asarray(boxes_xywh[i], np.float32),
                score=float(scores[i]),
                body_model="smplx",
                params=params,
                vertices_cam=np.zeros((0, 3), np.float32),
                joints_cam=np.zeros((0, 3), np.float32),
                joints_img=np.zeros((0, 2), np.float32),
                intrinsics=k_person,
                transl_full=transl_full,
                crop_bbox_xywh=np.asarray(crop_boxes[i], np.float32),
                estimator=self.name,
                extras={"cam_param": outputs["cam_param"][i].copy()},
            ))
        return people

    def set_transl_full(self, person: PersonEstimate, transl_full: np.ndarray,
                        k_shared: Intrinsics) -> None:
        """Move a person to a new shared-camera translation, keeping its own camera's
        translation consistent (exact inverse of the un-cropping map for network people)."""
        t_full = np.asarray(transl_full, np.float32).reshape(3)
        person.transl_full = t_full
        if person.crop_bbox_xywh is None:  # the embedded fit lives in the shared camera
            person.params["transl"] = t_full.reshape(1, 3).copy()
        else:
            person.params["transl"] = from_shared_camera(
                t_full, self.anchor(person.params), person.intrinsics, k_shared
            ).reshape(1, 3)

    # -------------------------------------------------------------------------- meshes

    def _model_keys(self, bm: Any) -> frozenset[str]:
        if self._forward_keys is None:
            self._forward_keys = frozenset(inspect.signature(bm.forward).parameters)
        return self._forward_keys

    def pose(self, people: Sequence[PersonEstimate]) -> None:
        """Fill ``vertices_cam``, ``joints_cam`` and ``joints_img`` of ``people`` (from any
        frames) from their parameters with one batched body-model pass per chunk. Without a
        body model this does nothing."""
        bm = self.load_body_model()
        if bm is None or not people:
            return
        t0 = time.perf_counter()
        allowed = self._model_keys(bm)
        dev = self.device if self.model is not None else torch.device("cpu")
        dtype = getattr(bm, "dtype", None) or torch.float32
        if not isinstance(dtype, torch.dtype):
            dtype = torch.float32
        for s in range(0, len(people), _POSE_CHUNK):
            chunk = list(people[s : s + _POSE_CHUNK])
            keys = [k for k in chunk[0].params if k in allowed]
            inputs = {}
            for k in keys:
                arr = np.stack([np.asarray(p.params[k], np.float32).reshape(-1) for p in chunk])
                inputs[k] = torch.from_numpy(arr).to(device=dev, dtype=dtype)
            with torch.inference_mode():
                out = bm(**inputs)
            verts = out.vertices.float().cpu().numpy()
            joints = out.joints.float().cpu().numpy()
            for i, p in enumerate(chunk):
                p.vertices_cam = verts[i]
                p.joints_cam = joints[i]
                p.joints_img = project(joints[i], p.intrinsics).astype(np.float32)
        self._tick("body_model", t0)

    # ------------------------------------------------------------------------ whole images

    def predict(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray | None] | None = None,
        intrinsics: Sequence[Intrinsics | None] | None = None,
        sources: Sequence[str] | None = None,
        scores: Sequence[np.ndarray | None] | None = None,
    ) -> list[FrameResult]:
        """Every person in each image; network crops of all images are batched together.

        Args:
            images: (H, W, 3) uint8 RGB images.
            boxes: per image (N, 4) xywh person boxes to use instead of the detector, or
                ``None`` entries (detect).
            intrinsics: per image shared camera (default :meth:`Intrinsics.from_image_size`).
            sources: per image names recorded in the results.
            scores: per image (N,) scores of the given boxes (default 1).

        Returns:
            one :class:`FrameResult` per image (``warnings`` says when nobody was found).
        """
        n = len(images)
        boxes = list(boxes) if boxes is not None else [None] * n
        intr = list(intrinsics) if intrinsics is not None else [None] * n
        names = list(sources) if sources is not None else [""] * n
        given_scores = list(scores) if scores is not None else [None] * n
        if not len(boxes) == len(intr) == len(names) == len(given_scores) == n:
            raise InputError("boxes, intrinsics, sources and scores need one entry per image")
        images = [_check_image(im) for im in images]
        ks = [k or Intrinsics.from_image_size(im.shape[1], im.shape[0])
              for k, im in zip(intr, images)]
        if self.estimator is not None:
            return [self.estimate_embedded(im, ks[i], boxes[i], names[i], i)
                    for i, im in enumerate(images)]
        per_image = []
        for i, im in enumerate(images):
            if boxes[i] is None:
                b, sc = self.detect(im)
            else:
                b = np.asarray(boxes[i], np.float32).reshape(-1, 4)
                sc = (np.ones(len(b), np.float32) if given_scores[i] is None
                      else np.asarray(given_scores[i], np.float32).reshape(-1))
                b, sc = self.limit_people(b, sc)
            crops, crop_boxes, keep = self.crop(im, b)
            per_image.append((b[keep], sc[keep], crops, crop_boxes))
        all_crops = [c for *_, c, _ in per_image]
        outputs = self.run_network(np.concatenate(all_crops)) if all_crops else {}
        results, start = [], 0
        for i, (b, sc, crops, crop_boxes) in enumerate(per_image):
            rows = {k: v[start : start + len(crops)] for k, v in outputs.items()}
            start += len(crops)
            res = FrameResult(names[i], i, images[i].shape[:2], ks[i], faces=self.faces)
            res.people = self.make_people(b, sc, crop_boxes, rows, ks[i]) if len(crops) else []
            if not res.people:
                res.warnings.append("no person found")
            results.append(res)
        self.pose([p for r in results for p in r.people])
        return results

    def __call__(
        self,
        image: np.ndarray,
        boxes: np.ndarray | None = None,
        intrinsics: Intrinsics | None = None,
        source: str = "",
    ) -> FrameResult:
        """Every person in one (H, W, 3) uint8 RGB image (see :meth:`predict`)."""
        return self.predict([image], [boxes], [intrinsics], [source])[0]

    def estimate_embedded(
        self,
        image: np.ndarray,
        k_shared: Intrinsics,
        boxes: np.ndarray | None = None,
        source: str = "",
        frame_index: int = 0,
        scores: np.ndarray | None = None,
    ) -> FrameResult:
        """The embedded estimator on one image, results normalised to the network layout."""
        t0 = time.perf_counter()
        if boxes is not None:
            sc = np.ones(len(boxes), np.float32) if scores is None else scores
            boxes, _ = self.limit_people(boxes, sc)
        res = self.estimator(image, intrinsics=k_shared, boxes_xywh=boxes, source=source,
                             frame_index=frame_index)
        timings = dict(getattr(self.estimator, "timings", {}))
        det = float(timings.get("detect", 0.0))
        self.timings["detect"] = self.timings.get("detect", 0.0) + det
        self.timings["fit"] = self.timings.get("fit", 0.0) + time.perf_counter() - t0 - det
        if self.max_people is not None and len(res.people) > self.max_people:
            order = np.argsort([-p.score for p in res.people], kind="stable")
            res.people = [res.people[j] for j in sorted(order[: self.max_people])]
        for p in res.people:
            p.params = normalize_params(p.params)
            if p.transl_full is None:
                p.transl_full = p.params["transl"].reshape(3).copy()
            p.transl_full = np.asarray(p.transl_full, np.float32).reshape(3)
            p.estimator = p.estimator or self.name
        self.name = self.name if not res.people else res.people[0].estimator or self.name
        return res


def _check_image(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {arr.shape} dtype {arr.dtype}; "
            "read files with ehps.detection.load_image"
        )
    return arr
