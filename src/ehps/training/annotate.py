"""Pseudo-labels from the embedded estimator (landmarks + fitting), written as HumanData
(``ehps annotate IMAGES --out FILE.npz``).

Every person the estimator finds becomes one row:

- ``smplx``: ``global_orient`` / ``body_pose`` / ``left_hand_pose`` / ``right_hand_pose`` /
  ``transl`` (the fit's image camera, metres); with an SMPL-X body model also ``jaw_pose``,
  ``betas``, ``expression`` and hands in the official ``flat_hand_mean=False`` convention. With
  Anny (the default, no licensed files) there are no SMPL-X betas / expression: ``betas`` are
  written as zeros (the loaders treat all-zero betas as "no shape label"), the face is left out
  (no ``jaw_pose`` / ``expression`` keys, so it is unsupervised), and hand poses stay in the
  *flat-hand* convention, flagged by ``misc.flat_hand_mean = True`` (register the dataset with
  ``flat_hand_mean_in`` so that the loader subtracts the SMPL-X mean hand);
- ``keypoints3d_cam`` / ``keypoints2d``: the fit's joints in the image camera and their
  projections (144 SMPL-X joints; with Anny the 55 skeleton joints, the others masked out);
- ``bbox_xywh``: the detector box padded by 1.2 (HumanData convention), hand / face boxes from
  the projected hand / head joints;
- ``meta``: image size, focal length, principal point; ``fit_reproj_px`` (median 2D error);
  with Anny also ``anny_phenotype`` (N, 6) and ``anny_facial_actions`` (N, 52), so that every
  row can be re-posed exactly; ``misc``: generator name and body model.

Image paths are stored relative to ``image_root`` (default: the images' common folder).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ehps.bodymodels.joint_sets import SMPLX_POSE_SHAPES
from ehps.data.humandata_conventions import HUMANDATA_BOX_PADDING
from ehps.data.humandata_writer import keypoints_to_human_data, write_humandata
from ehps.errors import EhpsError, InputError
from ehps.structures import FrameResult, PersonEstimate
from ehps.utils.progress import progress_iter
from ehps.utils.scaleout import Ranks

__all__ = ["annotate_images", "persons_to_humandata"]

log = logging.getLogger(__name__)

_HAND = {"left": [20, *range(25, 40), *range(66, 71)],
         "right": [21, *range(40, 55), *range(71, 76)]}
_FACE = [15, 22, 23, 24, *range(76, 144)]
_POSE_SHAPES = {**SMPLX_POSE_SHAPES, "transl": (3,)}


def _box_of(points: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if points.size == 0:
        return np.zeros(5, np.float32)
    lo, hi = points.min(axis=0), points.max(axis=0)
    h, w = hw
    ok = lo[0] < w and lo[1] < h and hi[0] > 0 and hi[1] > 0 and np.isfinite(points).all()
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], float(ok)], np.float32)


def _pad(box: np.ndarray, ratio: float = HUMANDATA_BOX_PADDING) -> np.ndarray:
    x, y, w, h = (float(v) for v in box[:4])
    cx, cy = x + w / 2, y + h / 2
    return np.array([cx - w * ratio / 2, cy - h * ratio / 2, w * ratio, h * ratio, 1.0],
                    np.float32)


def persons_to_humandata(
    items: Sequence[tuple[str, FrameResult]], out: str | os.PathLike[str],
    hand_means: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write the people of several frames as one HumanData file.

    Args:
        items: ``(image path relative to the image root, result)`` per image.
        out: output ``.npz``.
        hand_means: the SMPL-X (15, 3) left / right mean hands, to convert flat-hand poses of
            a non-SMPL-X fit into the official convention; ``None`` keeps them flat (flagged).

    Returns:
        The written path.

    Raises:
        InputError: no person in any image.
    """
    rows: list[tuple[str, FrameResult, PersonEstimate]] = [
        (rel, fr, p) for rel, fr in items for p in fr.people]
    if not rows:
        raise InputError("no person was found in any image; nothing to write")
    n = len(rows)
    body_models = {p.body_model for _, _, p in rows}
    if len(body_models) != 1:
        raise InputError(f"mixed body models in one file: {sorted(body_models)}")
    is_smplx = body_models == {"smplx"}
    params: dict[str, list[np.ndarray]] = {k: [] for k in _POSE_SHAPES}
    betas, expr = [], []
    kp3 = np.zeros((n, 144, 4), np.float32)
    kp2 = np.zeros((n, 144, 3), np.float32)
    boxes = np.zeros((n, 5), np.float32)
    parts = {k: np.zeros((n, 5), np.float32) for k in ("lhand", "rhand", "face")}
    height, width, focal, princpt, reproj = [], [], [], [], []
    flat_hands = not is_smplx and hand_means is None
    for i, (_rel, fr, p) in enumerate(rows):
        for k, shape in _POSE_SHAPES.items():
            v = p.params.get(k)
            params[k].append(np.zeros(shape, np.float32) if v is None
                             else np.asarray(v, np.float32).reshape(shape))
        if not is_smplx and hand_means is not None:
            params["left_hand_pose"][-1] = params["left_hand_pose"][-1] - hand_means[0]
            params["right_hand_pose"][-1] = params["right_hand_pose"][-1] - hand_means[1]
        b = np.zeros(10, np.float32)
        e = np.zeros(10, np.float32)
        if is_smplx:
            raw = np.asarray(p.params["betas"]).reshape(-1)[:10]
            b[: raw.size] = raw
            e[: min(10, np.size(p.params["expression"]))] = np.asarray(
                p.params["expression"]).reshape(-1)[:10]
        betas.append(b)
        expr.append(e)
        j = min(144, p.joints_cam.shape[0])
        kp3[i, :j, :3] = p.joints_cam[:j]
        kp3[i, :j, 3] = 1.0
        kp2[i, :j, :2] = p.joints_img[:j]
        kp2[i, :j, 2] = 1.0
        hw = fr.image_hw
        boxes[i] = _pad(np.asarray(p.bbox_xywh, np.float32))
        for part, idx in (("lhand", _HAND["left"]), ("rhand", _HAND["right"]), ("face", _FACE)):
            sel = [k for k in idx if k < j]
            parts[part][i] = _box_of(p.joints_img[sel], hw)
        height.append(hw[0])
        width.append(hw[1])
        focal.append(p.intrinsics.focal)
        princpt.append(p.intrinsics.princpt)
        errs = p.extras.get("reproj_px", {})
        vals = [float(v) for v in errs.values() if np.isfinite(v)] if errs else []
        reproj.append(float(np.median(vals)) if vals else float("nan"))
    n_joints = min(144, min(p.joints_cam.shape[0] for _, _, p in rows))
    mask = np.zeros(144, np.float32)
    mask[:n_joints] = 1.0
    k3, m3 = keypoints_to_human_data(kp3)
    k2, m2 = keypoints_to_human_data(kp2)
    m3[:144], m2[:144] = mask, mask
    extra_meta: dict[str, np.ndarray] = {}
    if not is_smplx:  # the non-SMPL-X shape / face variables, so that a row can be re-posed
        for key in ("phenotype", "facial_actions"):
            vals = [p.params.get(key) for _, _, p in rows]
            if all(v is not None for v in vals):
                extra_meta[f"{next(iter(body_models))}_{key}"] = np.stack(
                    [np.asarray(v, np.float32).reshape(-1) for v in vals])
    smplx = {k: np.stack(v) for k, v in params.items()}
    smplx["betas"] = np.stack(betas)
    if is_smplx:
        smplx["expression"] = np.stack(expr)
    else:
        del smplx["jaw_pose"]
    return write_humandata(
        out, image_path=[r for r, _, _ in rows], bbox_xywh=boxes,
        keypoints2d=k2, keypoints2d_mask=m2, keypoints3d=k3, keypoints3d_mask=m3,
        keypoints3d_key="keypoints3d_cam",
        lhand_bbox_xywh=parts["lhand"], rhand_bbox_xywh=parts["rhand"],
        face_bbox_xywh=parts["face"], smplx=smplx,
        meta={"height": np.asarray(height), "width": np.asarray(width),
              "focal_length": np.asarray(focal, np.float32),
              "principal_point": np.asarray(princpt, np.float32),
              "fit_reproj_px": np.asarray(reproj, np.float32), **extra_meta},
        misc={"generator": np.asarray("ehps annotate"),
              "body_model": np.asarray(next(iter(body_models))),
              "flat_hand_mean": np.asarray(flat_hands)},
    )


def _common_root(paths: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))


def annotate_images(
    images: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    estimator: Callable[..., FrameResult] | None = None,
    image_root: str | os.PathLike[str] | None = None,
    body_model: str = "anny",
    smplx_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    ranks: Ranks | None = None,
) -> dict[str, Any] | None:
    """Run the embedded estimator over ``images`` and write the pseudo-labels as HumanData.

    Args:
        images: image files (folders are expanded to their ``.jpg`` / ``.jpeg`` / ``.png``).
        out: output ``.npz``.
        estimator: anything with ``predict_path(path) -> FrameResult`` or called as
            ``estimator(rgb, source=...)``; default :class:`ehps.fitting.EmbeddedEstimator`.
        image_root: folder the stored image paths are relative to (default: common folder).
        progress: a progress bar (images/s, ETA) when stderr is a terminal.
        body_model: ``"anny"`` (embedded) or ``"smplx"`` (licensed files) for the default
            estimator.
        smplx_dir: SMPL-X folder (``body_model="smplx"``).
        ranks: this process's place in a scale-out job (:mod:`ehps.utils.scaleout`); ``None``:
            the only process. Rank ``r`` of ``W`` estimates images ``r, r + W, ...`` of the
            list; rank 0 gathers the rows and writes the one file, in the order of the list
            (the same file as one process writes). A rank that stops on an error is named in
            ``failed``; the other ranks' rows are written.

    Returns:
        rank 0: ``{"path", "images", "people", "skipped", "failed", "image_root"}``:
        ``skipped`` lists the images without a person, ``failed`` the ``(image, reason)`` pairs
        of images that could not be read or estimated (missing, corrupt, too small); the others
        are written. Other ranks: ``None``.
    """
    from ehps.detection import load_image
    from ehps.utils.scaleout import SINGLE

    ranks = ranks or SINGLE
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    for item in images:
        p = Path(item)
        if p.is_dir():
            files += sorted(q for q in p.iterdir()
                            if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
        elif p.is_file():
            files.append(p)
        else:
            failed.append((str(p), f"image not found: {p}"))
    if not files:
        raise InputError("no images given (folders are searched for .jpg / .jpeg / .png)"
                         + "".join(f"; {why}" for _, why in failed))
    root = Path(image_root).resolve() if image_root else _common_root(files)
    rels = []
    for f in files:  # every image is checked before the (long) estimation
        try:
            rels.append(f.resolve().relative_to(root).as_posix())
        except ValueError as exc:
            raise InputError(f"{f} is not inside the image root {root}") from exc
    if estimator is None:
        from ehps.fitting import EmbeddedEstimator

        estimator = ranks.agree(lambda: EmbeddedEstimator(body_model=body_model,
                                                          smplx_path=smplx_dir))
    share = _Share()
    mine = list(ranks.take(len(files)))
    try:
        for i in progress_iter(mine, "annotate", "image", progress):
            f = files[i]
            try:  # one bad image never stops the others: it is named in the summary
                rgb = load_image(f)
                result = estimator(rgb, source=str(f))
            except EhpsError as exc:
                share.failed.append((i, (str(f), exc.one_line())))
                log.warning("annotate: skipped %s: %s", f, exc.one_line())
                continue
            if not result.people:
                share.skipped.append((i, str(f)))
                log.info("annotate: nobody found in %s", f)
                continue
            share.items.append((i, rels[i], _compact(result) if ranks.distributed else result))
    except Exception as exc:  # scale-out: this rank stops; the others' rows are kept
        share.stopped = ranks.stop_here(exc, log, "annotate: ")
    shares = ranks.gather(share)
    if shares is None:
        return None
    items = [(rel, r) for _, rel, r in sorted((t for s in shares for t in s.items),
                                               key=lambda t: t[0])]
    skipped = [f for _, f in sorted(t for s in shares for t in s.skipped)]
    failed += [f for _, f in sorted(t for s in shares for t in s.failed)]
    failed += [(f"rank {r} of {len(shares)}", f"stopped: {s.stopped}")
               for r, s in enumerate(shares) if s.stopped]
    path = persons_to_humandata(items, out)
    return {"path": path, "images": len(files), "people": sum(len(r.people) for _, r in items),
            "skipped": skipped, "failed": failed, "image_root": root}


@dataclass
class _Share:
    """One rank's rows (``(image number, relative path, result)``), images without people and
    failures (keyed by image number), and why it stopped (``""``: it did not)."""

    items: list[tuple[int, str, FrameResult]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, tuple[str, str]]] = field(default_factory=list)
    stopped: str = ""


def _compact(result: FrameResult) -> FrameResult:
    """What :func:`persons_to_humandata` reads of a result (no meshes), to send to rank 0."""
    people = [dataclasses.replace(p, vertices_cam=np.zeros((0, 3), np.float32),
                                  extras={"reproj_px": p.extras.get("reproj_px", {})})
              for p in result.people]
    return dataclasses.replace(result, people=people, faces=None)
