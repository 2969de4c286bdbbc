"""A third, trivial estimator for the tests: a fixed SMPL-X pose 4 m in front of the camera on the
ray through each person box's centre (boxes given or detected by :class:`BoxFinder`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import BoxFinder, Detection
from ehps.inference.estimators import PersonInput
from ehps.structures import SMPLX_PARAM_KEYS, PersonEstimate

DEPTH_M = 4.0


class FixedPoseEstimator:
    """Every person: the same bent-elbow pose, facing the camera, 4 m away on its box's ray."""

    body_model_name = "smplx"
    batch_size = 3
    frame_batches = False
    weights = ""
    name = "fixed-pose"

    def __init__(self, smplx_dir: Path) -> None:
        from ehps.bodymodels.smplx import load_smplx

        self.model = load_smplx(smplx_dir)
        self.device = torch.device("cpu")
        self.timings: dict[str, float] = {}
        self.calls: list[int] = []
        self.contexts: list[int | None] = []

    def make_finder(self, min_score: float, max_people: int | None) -> BoxFinder:
        return BoxFinder(min_score, max_people)

    def prepare(self, image: np.ndarray, detections: Sequence[Detection], k_shared: Intrinsics,
                frame_index: int) -> list[PersonInput | None]:
        h, w = image.shape[:2]
        return [PersonInput(frame_index, d, k_shared, (h, w)) for d in detections]

    @staticmethod
    def params() -> dict[str, np.ndarray]:
        p = {k: np.zeros(s, np.float32) for k, s in SMPLX_PARAM_KEYS.items()}
        p["global_orient"][0] = [np.pi, 0.0, 0.0]  # upright in the OpenCV camera frame
        p["body_pose"][17, 1], p["body_pose"][18, 1] = -1.0, 1.0  # elbows
        return p

    def estimate(self, inputs: Sequence[PersonInput]) -> list[PersonEstimate]:
        self.calls.append(len(inputs))
        out = []
        for inp in inputs:
            self.contexts.append(None if inp.context is None else inp.context.frame_index)
            x, y, bw, bh = inp.detection.box_xywh
            k = inp.k_shared
            t = np.array([(x + bw / 2 - k.cx) / k.fx, (y + bh / 2 - k.cy) / k.fy, 1.0]) * DEPTH_M
            params = self.params()
            params["transl"] = t.astype(np.float32).reshape(1, 3)
            out.append(PersonEstimate(
                bbox_xywh=np.asarray(inp.detection.box_xywh, np.float32),
                score=inp.detection.score, body_model="smplx", params=params,
                vertices_cam=np.zeros((0, 3), np.float32),
                joints_cam=np.zeros((0, 3), np.float32), joints_img=np.zeros((0, 2), np.float32),
                intrinsics=k, transl_full=t.astype(np.float32), track_id=inp.track_id,
                estimator=self.name))
        return out

    def relocate(self, person: PersonEstimate, transl_full: np.ndarray,
                 k_shared: Intrinsics) -> None:
        person.transl_full = np.asarray(transl_full, np.float32).reshape(3)
        person.params["transl"] = person.transl_full.reshape(1, 3).copy()

    def body_model(self, required: bool = False):
        return self.model
