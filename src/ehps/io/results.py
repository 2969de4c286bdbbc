"""The result files of ``ehps infer`` and ``ehps demo``: one layout, written by one writer
(:class:`ehps.inference.writer.SequenceWriter`) and read back by :func:`load_person`.

Layout of a sequence folder (the images of a run: the output folder itself; each video: a
sub-folder named after it, see :func:`ehps.io.outdir.sequence_folder_name`)::

    smplx/{frame:06d}_{person:02d}.npz   parameters, camera, box, joints (PERSON_NPZ_KEYS)
    meta/{frame:06d}_{person:02d}.json   cameras, boxes, score, track id, estimator (meta keys)
    mesh/{frame:06d}_{person:02d}.obj|ply|glb   with --save-mesh: the mesh in the shared camera,
                                         metres (OBJ/PLY: OpenCV axes x right, y down, z forward;
                                         GLB: glTF axes, y up, looking down -z)
    overlay/{frame:06d}.png              with --render, images
    overlay.mp4                          with --render, videos
    tracks.npz                           tracked sequences: per-track arrays over time
                                         (:class:`ehps.io.records.TrackStore`)
    state/{frame:06d}.npz                per-frame record for --resume (:class:`FrameRecord`)
    manifest.json                        finished / failed frames and settings (:mod:`.manifest`)
    summary.json                         (output folder) what the run did

``person`` is the track id when people are tracked, else the detection order.

Per-person ``.npz`` (all float32 unless stated; shapes of :data:`PERSON_NPZ_KEYS`):
the SMPL-X parameter keys and shapes the official SMPLer-X demo wrote (axis-angle in radians;
hand poses in the official ``flat_hand_mean=False`` convention; ``transl`` in metres in the
person's own camera ``focal``/``princpt``), then the body model's own keys (Anny:
``phenotype`` (1, 6) and ``facial_actions`` (1, 52) in [0, 1]; its ``betas``/``expression`` are
zeros), ``body_model`` (str), ``focal`` (2,) and ``princpt`` (2,) pixels of that camera,
``bbox_xywh`` (4,) the detector box in pixels, ``score``, ``joints_cam`` (55, 3) the SMPL-X
skeleton joints in the person camera (metres; (0, 3) without a body model), ``transl_full``
(1, 3) the translation placing the same mesh in the frame's shared camera, and ``track_id``
(int64) for tracked people.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ehps.structures import SMPLX_PARAM_KEYS, FrameResult, PersonEstimate

__all__ = [
    "PERSON_NPZ_KEYS",
    "META_KEYS",
    "person_stem",
    "person_npz_arrays",
    "person_meta",
    "load_person",
]

#: The per-person npz keys every estimator writes, with their shapes ("*": model dependent).
PERSON_NPZ_KEYS: dict[str, tuple[int | str, ...]] = {
    **SMPLX_PARAM_KEYS,
    "body_model": (),
    "focal": (2,),
    "princpt": (2,),
    "bbox_xywh": (4,),
    "score": (),
    "joints_cam": (55, 3),
    "transl_full": (1, 3),
}
#: Keys of ``meta/*.json`` (pixels, metres, seconds).
META_KEYS: tuple[str, ...] = (
    "img_path", "frame", "time_s", "person", "track_id", "estimator", "weights", "body_model",
    "focal", "princpt", "bbox", "bbox_raw", "score", "transl", "transl_full", "focal_full",
    "princpt_full", "image_hw", "smoothed",
)


def person_stem(frame_index: int, person_id: int) -> str:
    """``"{frame:06d}_{person:02d}"``, the stem of a person's output files."""
    return f"{frame_index:06d}_{person_id:02d}"


def person_npz_arrays(person: PersonEstimate) -> dict[str, np.ndarray]:
    """The arrays of one person's ``smplx/*.npz`` (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    for key, shape in SMPLX_PARAM_KEYS.items():
        val = person.params.get(key)
        arr = np.zeros(shape, np.float32) if val is None else np.asarray(val, np.float32)
        arrays[key] = arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr
    for key, val in person.params.items():
        if key not in arrays:
            arrays[key] = np.asarray(val, np.float32)
    k = person.intrinsics
    arrays["body_model"] = np.array(person.body_model)
    arrays["focal"] = np.asarray(k.focal, np.float32)
    arrays["princpt"] = np.asarray(k.princpt, np.float32)
    arrays["bbox_xywh"] = np.asarray(person.bbox_xywh, np.float32)
    arrays["score"] = np.float32(person.score)
    arrays["joints_cam"] = np.asarray(person.joints_cam[:55], np.float32)
    if person.transl_full is not None:
        arrays["transl_full"] = np.asarray(person.transl_full, np.float32).reshape(1, 3)
    if person.track_id is not None:
        arrays["track_id"] = np.int64(person.track_id)
    return arrays


def person_meta(person: PersonEstimate, person_id: int, frame_index: int, time_s: float,
                result: FrameResult, source: str, weights: str, smoothed: bool
                ) -> dict[str, Any]:
    """The content of one person's ``meta/*.json`` (keys :data:`META_KEYS`): ``focal`` /
    ``princpt`` / ``bbox`` describe the person's own camera and crop box (the network's), the
    ``*_full`` keys the frame's shared camera; ``bbox_raw`` is the detector box."""
    k, ks = person.intrinsics, result.intrinsics
    crop = person.crop_bbox_xywh
    return {
        "img_path": source,
        "frame": int(frame_index),
        "time_s": round(float(time_s), 6),
        "person": int(person_id),
        "track_id": person.track_id,
        "estimator": person.estimator,
        "weights": weights,
        "body_model": person.body_model,
        "focal": [float(k.fx), float(k.fy)],
        "princpt": [float(k.cx), float(k.cy)],
        "bbox": [float(v) for v in (crop if crop is not None else person.bbox_xywh)],
        "bbox_raw": [float(v) for v in person.bbox_xywh],
        "score": float(person.score),
        "transl": [float(v) for v in np.asarray(person.params["transl"]).reshape(3)],
        "transl_full": [float(v) for v in np.asarray(person.transl_full).reshape(3)],
        "focal_full": [float(ks.fx), float(ks.fy)],
        "princpt_full": [float(ks.cx), float(ks.cy)],
        "image_hw": [int(result.image_hw[0]), int(result.image_hw[1])],
        "smoothed": bool(smoothed),
    }


def load_person(path: str | Path) -> dict[str, np.ndarray]:
    """Read one ``smplx/*.npz`` back (no pickles) as a dict of arrays."""
    with np.load(Path(path), allow_pickle=False) as z:
        return {key: z[key] for key in z.files}
