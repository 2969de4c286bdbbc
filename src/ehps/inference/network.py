"""The network estimator: a SMPLer-X / SMPLest-X network on official person crops.

Each person box is processed exactly as the official models expect (official-spec a.0: clip,
aspect 0.75, ratio ``bbox_ratio``, affine warp to 512x384, values in [0, 1]); crops of many people
and frames go through the network together in batches (inference mode, optional bf16 autocast,
optional ``torch.compile``). Each person keeps the official per-person camera (``transl``,
intrinsics of official-spec a.5) and gets a translation in the frame's shared camera
(``transl_full``, :mod:`ehps.inference.camera`). Meshes need the licensed SMPL-X files; without
them parameters and cameras are still produced (the shared-camera anchor is then the model origin
instead of the root joint) and a warning says so once.

The network module stays free of I/O: everything here happens around ``model(images)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ehps.errors import BodyModelError, InputError
from ehps.geometry.camera import Intrinsics
from ehps.geometry.crop import DEFAULT_BBOX_RATIO, crop_person, process_bbox
from ehps.inference.camera import from_shared_camera, person_intrinsics, to_shared_camera
from ehps.inference.compiled import StaticBatchNetwork
from ehps.inference.detect import BoxFinder, Detection
from ehps.inference.estimators import PersonInput, normalize_params
from ehps.structures import SMPLX_PARAM_KEYS, PersonEstimate

__all__ = ["NetworkEstimator", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> CUDA, else MPS, else CPU; other names are checked for availability.

    Raises:
        InputError: the requested device is not available here.
    """
    name = "auto" if device is None else str(device)
    mps = getattr(torch.backends, "mps", None)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device here; "
                         "use --device cpu (or auto)")
    if dev.type == "mps" and (mps is None or not mps.is_available()):
        raise InputError("--device mps was asked for but MPS is not available; use cpu")
    return dev


class NetworkEstimator:
    """A SMPLer-X / SMPLest-X network behind the :class:`~ehps.inference.estimators.Estimator`
    protocol (see the module docstring).

    Args:
        model: the network (any module returning a :class:`ehps.modeling.Prediction`).
        device: where the network and the SMPL-X layer run.
        bf16: bfloat16 autocast (CPU with AMX / AVX512-BF16, CUDA).
        batch_size: crops per network call.
        compile: ``torch.compile`` for ``batch_size`` crops (:class:`StaticBatchNetwork`).
        bbox_ratio: crop box enlargement.
        smplx_path: where to look for the SMPL-X files first.
        name: recorded in the outputs (default: the model config's name); ``weights``: the file.
    """

    body_model_name = "smplx"
    frame_batches = False

    def __init__(self, model: torch.nn.Module, *, device: str | torch.device = "auto",
                 bf16: bool = False, batch_size: int = 16, compile: bool = False,
                 bbox_ratio: float = DEFAULT_BBOX_RATIO, smplx_path: str | None = None,
                 name: str = "", weights: str = "") -> None:
        self.device = resolve_device(device)
        if bf16 and self.device.type == "mps":
            raise InputError("--bf16 is not supported on mps; run in float32 there")
        self.model = model.eval().to(self.device)
        self.network: Any = StaticBatchNetwork(self.model, batch_size) if compile else self.model
        self.bf16, self.batch_size = bool(bf16), int(batch_size)
        self.bbox_ratio, self.smplx_path = float(bbox_ratio), smplx_path
        cfg = getattr(model, "config", None)
        self.name = name or getattr(cfg, "name", "") or type(model).__name__.lower()
        self.weights = weights
        self.timings: dict[str, float] = {}
        self._body_model: Any = None
        self._body_model_error: BodyModelError | None = None
        self._anchor_basis: tuple[np.ndarray, np.ndarray] | None = None

    def _tick(self, key: str, t0: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - t0

    # ------------------------------------------------------------------------ the protocol
    def make_finder(self, min_score: float, max_people: int | None) -> BoxFinder:
        return BoxFinder(min_score, max_people)

    def prepare(self, image: np.ndarray, detections: Sequence[Detection], k_shared: Intrinsics,
                frame_index: int) -> list[PersonInput | None]:
        """The official crop of each person box (``payload``: ``(crop (512, 384, 3) float32
        0..255, crop box (4,) xywh pixels)``); ``None`` for a box with nothing inside the image."""
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        out: list[PersonInput | None] = []
        for det in detections:
            cb = process_bbox(np.asarray(det.box_xywh, np.float32), w, h, ratio=self.bbox_ratio)
            if cb is None:
                out.append(None)
                continue
            crop = crop_person(image, cb).image
            out.append(PersonInput(frame_index, det, k_shared, (h, w),
                                   (crop, np.asarray(cb, np.float32))))
        self._tick("crop", t0)
        return out

    def estimate(self, inputs: Sequence[PersonInput]) -> list[PersonEstimate]:
        if not inputs:
            return []
        outputs = self.run_network(np.stack([inp.payload[0] for inp in inputs]))
        people = []
        for i, inp in enumerate(inputs):
            params = normalize_params({k: outputs[k][i] for k in SMPLX_PARAM_KEYS})
            crop_box = inp.payload[1]
            k_person = person_intrinsics(crop_box)
            transl_full = to_shared_camera(params["transl"], self.anchor(params), k_person,
                                           inp.k_shared)
            people.append(PersonEstimate(
                bbox_xywh=np.asarray(inp.detection.box_xywh, np.float32),
                score=float(inp.detection.score), body_model="smplx", params=params,
                vertices_cam=np.zeros((0, 3), np.float32),
                joints_cam=np.zeros((0, 3), np.float32),
                joints_img=np.zeros((0, 2), np.float32), intrinsics=k_person,
                transl_full=transl_full, crop_bbox_xywh=np.asarray(crop_box, np.float32),
                track_id=inp.track_id, estimator=self.name,
                extras={"cam_param": outputs["cam_param"][i].copy()},
            ))
        return people

    def relocate(self, person: PersonEstimate, transl_full: np.ndarray,
                 k_shared: Intrinsics) -> None:
        """New shared-camera translation; the crop-camera ``transl`` follows by the exact inverse
        of the un-cropping map (with the person's current shape)."""
        t_full = np.asarray(transl_full, np.float32).reshape(3)
        person.transl_full = t_full
        person.params["transl"] = from_shared_camera(
            t_full, self.anchor(person.params), person.intrinsics, k_shared).reshape(1, 3)

    def body_model(self, required: bool = False) -> Any:
        """The SMPL-X layer (cached), or ``None`` without its files (warned once)."""
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
            raise BodyModelError("meshes and renders of network outputs need the SMPL-X model "
                                 f"files. {self._body_model_error}")
        return self._body_model

    # ------------------------------------------------------------------------ the network
    def run_network(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """The network on (N, 512, 384, 3) 0..255 crops, in batches of ``batch_size``.

        Returns:
            float32 arrays with a leading N: the SMPL-X parameters in the shapes of
            :data:`SMPLX_PARAM_KEYS` (``transl`` = the crop-camera translation) and ``cam_param``.
        """
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
                pred = self.network(x)
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
        out = {k: np.concatenate(v) for k, v in parts.items()}
        if n:
            zeros = np.zeros((n, 1, 3), np.float32)
            out["leye_pose"], out["reye_pose"] = zeros, zeros.copy()
        return out

    def anchor(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """(3,) the shared-camera anchor in the model frame: the SMPL-X root joint of the shaped
        rest mesh (``J_regressor[0] @ (template + shape and expression offsets)``, exact and
        pose-independent), or the origin without SMPL-X files."""
        bm = self.body_model()
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
